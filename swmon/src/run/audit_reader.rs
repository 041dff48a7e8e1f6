//! The audit reader: polls the audit stream (multicast records, status
//! polls) and hands what the decide stage needs to its bounded queue
//! without waiting: installer-relevant execs (argv cut to the cap), health
//! changes, losses. Rule changes (CONFIG_CHANGE) go to the rules stage,
//! which may have to ask the kernel for the rule list. A full queue drops
//! an exec and counts it (`audit_queue_dropped`, `rules_queue_dropped`);
//! health changes, losses and failures are few and are what a gap in
//! coverage is told by, so they are held back (in order, up to
//! [`HELD_MAX`]) and sent first once the queue has room, never dropped
//! behind an exec storm.

use std::{
    collections::VecDeque,
    sync::{mpsc::SyncSender, Arc, Mutex, PoisonError},
};

use serde_json::Value;
use tokio::sync::watch;

use super::{
    counters::Counters,
    queue::{Full, Tx},
    rules::RulesMsg,
};
use crate::{
    audit::{rules::RulesRemoved, status::Health, AuditItem, AuditStream, HealthChange, Loss},
    correlate::verdict::AuditExec,
};

/// The queue to the decide stage: items and bytes.
pub const QUEUE_ITEMS: usize = 8192;
pub const QUEUE_BYTES: usize = 4 << 20;

/// Control messages held back at most (past it, counted drops: a stream of
/// health changes this long means a queue that never drains).
pub const HELD_MAX: usize = 4096;

/// What the decide stage hears from the audit side.
#[derive(Debug)]
pub enum AuditMsg {
    Exec(Box<AuditExec>),
    Health(Box<HealthChange>),
    Loss(Loss),
    RulesRemoved(Box<RulesRemoved>),
    /// Whether any audit rule is loaded (from the rules stage).
    RulesLoaded(bool),
    /// The audit stream failed for good.
    Failed(String),
}

impl AuditMsg {
    pub fn size(&self) -> usize {
        match self {
            AuditMsg::Exec(e) => e.bytes(),
            _ => 1024,
        }
    }
}

/// The audit stream's counters, as last published (for heartbeats).
pub type AuditCountersCell = Arc<Mutex<Option<Value>>>;

pub struct AuditReader {
    pub stream: AuditStream,
    pub tx: Tx<AuditMsg>,
    /// CONFIG_CHANGE events for the rules stage (`None`: only refresh
    /// whether rules are loaded).
    pub rules: Option<SyncSender<RulesMsg>>,
    pub counters: Arc<Counters>,
    pub published: AuditCountersCell,
    /// An audit daemon is registered (its records reach the trail).
    pub daemon: bool,
    /// Control messages the full queue could not take yet (oldest first).
    pub held: VecDeque<AuditMsg>,
}

impl AuditReader {
    /// Reads until `stop` turns true or the stream fails; at stop, flushes
    /// the events still being assembled.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut publish = tokio::time::interval(std::time::Duration::from_millis(500));
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                _ = publish.tick() => {
                    self.release();
                    self.publish();
                    super::stages::mark(super::stages::Stage::AuditReader);
                }
                item = self.stream.next() => match item {
                    Ok(item) => {
                        self.forward(item);
                        super::stages::mark(super::stages::Stage::AuditReader);
                    }
                    Err(e) => {
                        self.publish();
                        for m in std::mem::take(&mut self.held) {
                            let size = m.size();
                            let _ = self.tx.send(m, size).await;
                        }
                        // Waits for room: this one must not be lost.
                        let _ = self.tx.send(AuditMsg::Failed(e.to_string()), 0).await;
                        return;
                    }
                },
            }
        }
        for item in self.stream.finish() {
            self.forward(item);
        }
        // At stop the decide stage drains its queue: what is held waits
        // for room (bounded by the stop's own deadline).
        for m in std::mem::take(&mut self.held) {
            let size = m.size();
            let _ = self.tx.send(m, size).await;
        }
        self.publish();
    }

    /// Sends what was held back, oldest first, while the queue has room.
    fn release(&mut self) {
        while let Some(m) = self.held.pop_front() {
            let size = m.size();
            match self.tx.try_send_or_return(m, size) {
                Ok(()) => {}
                Err((Full::Full, m)) => {
                    self.held.push_front(m);
                    return;
                }
                Err((Full::Closed, _)) => {
                    Counters::add(&self.counters.audit_queue_dropped, 1);
                }
            }
        }
    }

    /// A control message (health, loss, rules gone, failure): sent, or
    /// held back in order when the queue is full.
    fn send_control(&mut self, m: AuditMsg) {
        self.release();
        if !self.held.is_empty() {
            return self.hold(m);
        }
        let size = m.size();
        match self.tx.try_send_or_return(m, size) {
            Ok(()) => {}
            Err((Full::Full, m)) => self.hold(m),
            Err((Full::Closed, _)) => Counters::add(&self.counters.audit_queue_dropped, 1),
        }
    }

    fn hold(&mut self, m: AuditMsg) {
        if self.held.len() < HELD_MAX {
            self.held.push_back(m);
        } else {
            Counters::add(&self.counters.audit_queue_dropped, 1);
        }
    }

    fn publish(&self) {
        let counters = self.stream.counters();
        Counters::set(
            &self.counters.audit_events_evicted,
            counters.assembler.evicted,
        );
        Counters::set(
            &self.counters.audit_parse_errors,
            counters.assembler.parse_errors,
        );
        let v = serde_json::to_value(counters).unwrap_or_default();
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(v);
    }

    /// An exec: dropped and counted when the queue is full.
    fn send(&mut self, m: AuditMsg) {
        self.release();
        let size = m.size();
        if let Err(Full::Full | Full::Closed) = self.tx.try_send(m, size) {
            Counters::add(&self.counters.audit_queue_dropped, 1);
        }
    }

    fn forward(&mut self, item: AuditItem) {
        match item {
            AuditItem::Event(ev) => {
                if ev.config_change().is_some() {
                    if let Some(rules) = &self.rules {
                        if rules.try_send(Some(Box::new(ev.clone()))).is_err() {
                            Counters::add(&self.counters.rules_queue_dropped, 1);
                        }
                    }
                }
                if let Some(exec) = AuditExec::from_event(&ev, self.daemon) {
                    if exec.argv_truncated {
                        Counters::add(&self.counters.audit_argv_cut, 1);
                    }
                    self.send(AuditMsg::Exec(Box::new(exec)));
                }
            }
            AuditItem::Health(h) => {
                match h.change {
                    Health::AuditdStopped { .. } => self.daemon = false,
                    Health::AuditdStarted { .. } => self.daemon = true,
                    _ => {}
                }
                self.send_control(AuditMsg::Health(Box::new(h)));
            }
            AuditItem::Loss(loss) => self.send_control(AuditMsg::Loss(loss)),
            AuditItem::RulesRemoved(r) => {
                // The poll found guarded rules gone (or back): the rules
                // stage tells the cross-check whether any rule is loaded.
                if let Some(rules) = &self.rules {
                    if rules.try_send(None).is_err() {
                        Counters::add(&self.counters.rules_queue_dropped, 1);
                    }
                }
                self.send_control(AuditMsg::RulesRemoved(Box::new(r)));
            }
        }
    }
}
