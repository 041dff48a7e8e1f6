//! The audit reader: polls the audit stream (multicast records, status
//! polls) and hands what the decide stage needs to its bounded queue
//! without waiting: installer-relevant execs (argv cut to the cap), health
//! changes, losses. Rule changes (CONFIG_CHANGE) go to the rules stage,
//! which may have to ask the kernel for the rule list. A full queue drops
//! an exec and counts it (`audit_queue_dropped`, `rules_queue_dropped`);
//! health changes, losses and failures are few and are what a gap in
//! coverage is told by, so they are held back (in order, up to
//! [`HELD_MAX`]) and sent first once the queue has room, never dropped
//! behind an exec storm. Execs dropped at the queue are told to decide as
//! an audit loss (`queue`, coalesced, sent first once there is room), so
//! the runs they may have been records of say so.
//!
//! Control messages are stamped with the boot time this reader saw them,
//! not the time decide takes them from the queue (which an exec backlog
//! can delay by seconds): a run's reason is judged by the audit state at
//! its exec.
//!
//! **Test only:** `swmon run --test-hold-audit-while PATH` (hidden, and
//! refused unless `SWMON_TEST_ONLY=hold-audit` is set too) holds every exec
//! record, in order, while PATH exists, and lets them go once it is gone:
//! the end-to-end tests make a record late on purpose with it.

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{mpsc::SyncSender, Arc, Mutex, PoisonError},
    time::Duration,
};

use serde_json::Value;
use tokio::sync::watch;

use super::{
    counters::Counters,
    queue::{Full, Tx},
    rules::RulesMsg,
};
use crate::{
    audit::{
        rules::{LoadedRules, RulesRemoved},
        status::Health,
        AuditItem, AuditStream, HealthChange, Loss, LossSource,
    },
    correlate::verdict::AuditExec,
    event::boot_ns_now,
};

/// The queue to the decide stage: items and bytes.
pub const QUEUE_ITEMS: usize = 8192;
pub const QUEUE_BYTES: usize = 4 << 20;

/// Control messages held back at most (past it, counted drops: a stream of
/// health changes this long means a queue that never drains).
pub const HELD_MAX: usize = 4096;

/// Most exec records held by the test-only hold, and their bytes.
pub const TEST_HOLD_MAX: usize = 4096;
pub const TEST_HOLD_BYTES: usize = 4 << 20;

/// What the decide stage hears from the audit side. The `u64`s are the
/// boot time (ns) the change was seen: by this reader, or by the rules
/// stage for what it lists.
#[derive(Debug)]
pub enum AuditMsg {
    Exec(Box<AuditExec>),
    Health(Box<HealthChange>, u64),
    Loss(Loss, u64),
    RulesRemoved(Box<RulesRemoved>),
    /// Whether any audit rule is loaded (from the rules stage).
    RulesLoaded(bool, u64),
    /// The loaded rules, in the kernel's order, with the files they name
    /// (from the rules stage, each time it lists them), for the
    /// cross-check's rule judge.
    RuleList(Arc<LoadedRules>),
    /// The audit stream failed for good.
    Failed(String, u64),
}

impl AuditMsg {
    pub fn size(&self) -> usize {
        match self {
            AuditMsg::Exec(e) => e.bytes(),
            _ => 1024,
        }
    }
}

/// The reader's side of the queue to decide: control messages (health,
/// loss, rules, failure) are held back in order when the queue is full and
/// go first once it has room; execs are dropped and counted when it is
/// full, and while anything is held (an exec taking the room a held message
/// waits for would hold it back for a whole storm).
#[derive(Debug, Default)]
pub struct Outbox {
    held: VecDeque<AuditMsg>,
    /// Execs dropped at the queue since the last `queue` loss was told.
    dropped: u64,
    /// When the first of them was dropped (boot ns): the loss's stamp.
    first_drop: u64,
}

impl Outbox {
    /// Sends what was held back, oldest first, while the queue has room;
    /// then execs dropped since the last time, as a loss.
    pub fn release(&mut self, tx: &Tx<AuditMsg>, c: &Counters) {
        while let Some(m) = self.held.pop_front() {
            let size = m.size();
            match tx.try_send_or_return(m, size) {
                Ok(()) => {}
                Err((Full::Full, m)) => {
                    self.held.push_front(m);
                    return;
                }
                Err((Full::Closed, _)) => Counters::add(&c.audit_queue_dropped, 1),
            }
        }
        if self.dropped > 0 {
            let loss = Loss {
                source: LossSource::Queue,
                count: self.dropped,
            };
            match tx.try_send_or_return(AuditMsg::Loss(loss, self.first_drop), 1024) {
                Ok(()) | Err((Full::Closed, _)) => self.dropped = 0,
                Err((Full::Full, _)) => {}
            }
        }
    }

    /// A control message: sent, or held back behind those already held.
    pub fn control(&mut self, tx: &Tx<AuditMsg>, m: AuditMsg, c: &Counters) {
        self.release(tx, c);
        if !self.held.is_empty() {
            return self.hold(m, c);
        }
        let size = m.size();
        match tx.try_send_or_return(m, size) {
            Ok(()) => {}
            Err((Full::Full, m)) => self.hold(m, c),
            Err((Full::Closed, _)) => Counters::add(&c.audit_queue_dropped, 1),
        }
    }

    /// An exec: sent when nothing is held and the queue has room.
    pub fn exec(&mut self, tx: &Tx<AuditMsg>, m: AuditMsg, c: &Counters) {
        self.release(tx, c);
        if !self.held.is_empty() || self.dropped > 0 {
            self.drop_exec(c);
            return;
        }
        let size = m.size();
        if tx.try_send(m, size).is_err() {
            self.drop_exec(c);
        }
    }

    fn drop_exec(&mut self, c: &Counters) {
        Counters::add(&c.audit_queue_dropped, 1);
        if self.dropped == 0 {
            // The loss is stamped at its first drop, not at its release:
            // the runs whose window it falls in are the ones it may cost.
            self.first_drop = boot_ns_now();
        }
        self.dropped = self.dropped.saturating_add(1);
    }

    fn hold(&mut self, m: AuditMsg, c: &Counters) {
        if self.held.len() < HELD_MAX {
            self.held.push_back(m);
        } else {
            Counters::add(&c.audit_queue_dropped, 1);
        }
    }

    /// What is held, for a last send that may wait (then a loss of
    /// dropped execs).
    pub fn take(&mut self) -> VecDeque<AuditMsg> {
        let mut held = std::mem::take(&mut self.held);
        if self.dropped > 0 {
            let loss = Loss {
                source: LossSource::Queue,
                count: std::mem::take(&mut self.dropped),
            };
            held.push_back(AuditMsg::Loss(loss, self.first_drop));
        }
        held
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
    /// What goes to the decide stage, control messages first.
    pub out: Outbox,
    /// What the rules stage tells the decide stage (rules loaded, rules
    /// gone): through this reader, so decide's queue has one sender (it
    /// closes when this reader ends) and those messages go in order with
    /// the other control messages.
    pub from_rules: tokio::sync::mpsc::Receiver<AuditMsg>,
    /// Test only: exec records are held while this file exists.
    pub test_hold: Option<TestHold>,
}

/// The test-only hold of exec records (see the module doc).
#[derive(Debug)]
pub struct TestHold {
    pub path: PathBuf,
    held: VecDeque<AuditMsg>,
    bytes: usize,
}

impl TestHold {
    pub fn new(path: PathBuf) -> TestHold {
        TestHold {
            path,
            held: VecDeque::new(),
            bytes: 0,
        }
    }

    fn holding(&self) -> bool {
        !self.held.is_empty() || std::fs::symlink_metadata(&self.path).is_ok()
    }
}

impl AuditReader {
    /// Reads until `stop` turns true or the stream fails; at stop, flushes
    /// the events still being assembled.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut publish = tokio::time::interval(Duration::from_millis(500));
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hold_check = tokio::time::interval(Duration::from_millis(20));
        hold_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(m) = self.from_rules.recv() => self.send_control(m),
                _ = hold_check.tick(), if self.test_hold.is_some() => self.release_test_hold(),
                _ = publish.tick() => {
                    self.out.release(&self.tx, &self.counters);
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
                        self.flush_at_end().await;
                        // Waits for room: this one must not be lost.
                        let failed = AuditMsg::Failed(e.to_string(), boot_ns_now());
                        let _ = self.tx.send(failed, 0).await;
                        return;
                    }
                },
            }
        }
        for item in self.stream.finish() {
            self.forward(item);
        }
        self.flush_at_end().await;
        self.publish();
    }

    /// At the reader's end: the rules stage can tell no more (its sends
    /// fail, counted), and what it told already is taken in.
    /// At the reader's end (stop or failure): what the rules stage told,
    /// then everything held, each waiting for room in decide's queue (which
    /// decide drains at stop; bounded by the stop's own deadline).
    async fn flush_at_end(&mut self) {
        if let Some(h) = self.test_hold.as_mut() {
            // At the end the hold lets everything go.
            for m in std::mem::take(&mut h.held) {
                self.out.exec(&self.tx, m, &self.counters);
            }
        }
        self.take_from_rules().await;
        for m in self.out.take() {
            let size = m.size();
            let _ = self.tx.send(m, size).await;
        }
    }

    async fn take_from_rules(&mut self) {
        self.from_rules.close();
        while let Some(m) = self.from_rules.recv().await {
            self.send_control(m);
        }
    }

    fn send_control(&mut self, m: AuditMsg) {
        self.out.control(&self.tx, m, &self.counters);
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

    fn send(&mut self, m: AuditMsg) {
        if let Some(h) = self.test_hold.as_mut() {
            if h.holding() {
                let size = m.size();
                if h.held.len() >= TEST_HOLD_MAX || h.bytes + size > TEST_HOLD_BYTES {
                    self.out.exec(&self.tx, m, &self.counters);
                    return;
                }
                h.bytes += size;
                h.held.push_back(m);
                return;
            }
        }
        self.out.exec(&self.tx, m, &self.counters);
    }

    /// Test only: once the hold's file is gone, the held records go, in
    /// order.
    fn release_test_hold(&mut self) {
        let Some(h) = self.test_hold.as_mut() else {
            return;
        };
        if h.held.is_empty() || std::fs::symlink_metadata(&h.path).is_ok() {
            return;
        }
        h.bytes = 0;
        for m in std::mem::take(&mut h.held) {
            self.out.exec(&self.tx, m, &self.counters);
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
                if crate::correlate::verdict::foreign_arch(&ev) {
                    Counters::add(&self.counters.audit_foreign_arch, 1);
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
                self.send_control(AuditMsg::Health(Box::new(h), boot_ns_now()));
            }
            AuditItem::Loss(loss) => self.send_control(AuditMsg::Loss(loss, boot_ns_now())),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::queue;

    fn exec(pid: u32) -> AuditMsg {
        AuditMsg::Exec(Box::new(AuditExec {
            serial: u64::from(pid),
            wall_ns: 0,
            pid,
            ppid: 1,
            uid: None,
            auid: None,
            ses: None,
            exe: b"/usr/bin/dpkg".to_vec(),
            named: None,
            name: None,
            interpreter: None,
            argv: Vec::new(),
            argv_truncated: false,
            argv_bytes: 0,
            cwd: None,
            key: None,
            logged: false,
            installer: None,
            matched: false,
            held: false,
            arrived_ns: 0,
        }))
    }

    #[test]
    fn control_messages_wait_in_order_and_go_before_execs() {
        let c = Counters::default();
        let (tx, mut rx) = queue::bounded(2, 1 << 20);
        let mut out = Outbox::default();
        out.exec(&tx, exec(1), &c);
        out.exec(&tx, exec(2), &c);
        // Full: the control messages wait, in order; execs are dropped.
        out.control(&tx, AuditMsg::RulesLoaded(false, 0), &c);
        out.control(&tx, AuditMsg::Failed("x".into(), 0), &c);
        let before = boot_ns_now();
        out.exec(&tx, exec(3), &c);
        let first = boot_ns_now();
        assert_eq!(Counters::get(&c.audit_queue_dropped), 1);
        assert!(matches!(rx.blocking_recv(), Some(AuditMsg::Exec(e)) if e.pid == 1));
        // Room for one: the first held goes, an exec still does not.
        out.exec(&tx, exec(4), &c);
        assert_eq!(Counters::get(&c.audit_queue_dropped), 2);
        assert!(matches!(rx.blocking_recv(), Some(AuditMsg::Exec(e)) if e.pid == 2));
        assert!(matches!(
            rx.blocking_recv(),
            Some(AuditMsg::RulesLoaded(false, 0))
        ));
        out.release(&tx, &c);
        assert!(matches!(rx.blocking_recv(), Some(AuditMsg::Failed(..))));
        // Nothing held: the two execs dropped are told as one loss, before
        // execs flow again, stamped at the first drop.
        out.exec(&tx, exec(5), &c);
        let Some(AuditMsg::Loss(
            Loss {
                source: LossSource::Queue,
                count: 2,
            },
            at,
        )) = rx.blocking_recv()
        else {
            panic!("a queue loss of 2");
        };
        // Not the release's time: at the first drop, before the second.
        assert!((before..=first).contains(&at), "{at}");
        assert!(matches!(rx.blocking_recv(), Some(AuditMsg::Exec(e)) if e.pid == 5));
        assert_eq!(Counters::get(&c.audit_queue_dropped), 2);
    }
}
