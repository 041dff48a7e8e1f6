//! The rules stage: the audit control socket and the [`RuleGuard`] of the
//! rules swmon added. On its own thread it answers each rule change the
//! audit reader saw (CONFIG_CHANGE): is any rule still loaded (for the
//! cross-check), were guarded rules removed (an alert, and a restore with
//! `--restore-rules`), was an installer-keyed rule added by someone else.
//! Every poll interval it also diffs the guarded rules against the
//! kernel's list ([`RuleGuard::poll`]), so a removal the kernel does not
//! log (`auditctl -D` while audit is disabled) is an alert within one poll.
//! Those answers need a rule-list request (up to 2 s), which must never
//! hold up a reader. What it tells the decide stage (rules loaded or gone)
//! waits for room in the queue rather than being dropped: this stage is no
//! reader, and those messages are few.
//!
//! The control socket and the guard live behind a mutex that the run's
//! start-stop code holds on to: whatever happens to this thread, the rules
//! swmon added are removed when `run` returns ([`RulesOnExit`]).

use std::{
    io::Write,
    sync::{
        mpsc::{Receiver, RecvTimeoutError},
        Arc, Mutex, MutexGuard, PoisonError,
    },
    time::{Duration, Instant},
};

use serde_json::json;

use super::{
    audit_reader::AuditMsg,
    counters::Counters,
    stages::{self, Stage},
    state_event,
    writer::Writer,
    Ended,
};
use crate::{
    audit::{
        netlink::ControlSocket,
        rules::{self, Removed, RuleGuard, RulesRemoved},
        AuditError, AuditEvent,
    },
    event,
};

/// The audit control socket, and the rules swmon added for the run.
pub struct AuditControl {
    pub ctl: ControlSocket,
    pub guard: RuleGuard,
    /// Put swmon's rules back when someone removes them.
    pub restore: bool,
    /// The rules were removed at stop (so not again).
    removed: bool,
}

impl AuditControl {
    pub fn new(ctl: ControlSocket, guard: RuleGuard, restore: bool) -> AuditControl {
        AuditControl {
            ctl,
            guard,
            restore,
            removed: false,
        }
    }

    /// Whether any audit rule is loaded (a failed request counts as yes:
    /// then runs wait for a record that may come).
    pub fn rules_loaded(&mut self) -> bool {
        rules::list_rules(&mut self.ctl).map_or(true, |r| !r.is_empty())
    }

    /// Removes swmon's rules (once).
    pub fn remove_ours(&mut self) -> Option<Result<Removed, AuditError>> {
        if self.removed {
            return None;
        }
        self.removed = true;
        Some(self.guard.remove_ours(&mut self.ctl))
    }
}

pub type Shared = Arc<Mutex<AuditControl>>;

pub fn lock(c: &Shared) -> MutexGuard<'_, AuditControl> {
    // A panic while it was held leaves the socket and the guard as good
    // as they were: the rules must still be removed.
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes swmon's rules when dropped: on every way out of `run` (a
/// normal stop, an error returned with `?`, a panic unwinding through
/// it). The stop sequence removes them earlier, to report it in
/// `monitor-stopped`; then this does nothing.
pub struct RulesOnExit(pub Option<Shared>);

impl Drop for RulesOnExit {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            if let Some(Err(e)) = lock(c).remove_ours() {
                let _ = writeln!(
                    std::io::stderr(),
                    "swmon: can't remove the audit rules swmon added: {e}"
                );
            }
        }
    }
}

/// What the rules stage is asked: a rule change the audit reader saw, or
/// (`None`) only whether any rule is still loaded, after the stream's poll
/// found guarded rules gone or back.
pub type RulesMsg = Option<Box<AuditEvent>>;

/// The rule-list diffs of the stage, and whether the list could be read:
/// a failure is alerted when it starts (`audit-rules-unverifiable`) and
/// when it ends, and counted every time.
#[derive(Debug, Default)]
pub struct RulePoll {
    /// Rule-list reads failed in a row since the last that worked.
    failing: Option<u64>,
}

impl RulePoll {
    /// Takes one diff's result; returns what to tell.
    pub fn polled(
        &mut self,
        result: Result<Vec<RulesRemoved>, AuditError>,
        counters: &Counters,
    ) -> Vec<RulesRemoved> {
        Counters::add(&counters.rule_polls, 1);
        match result {
            Ok(mut items) => {
                if let Some(failures) = self.failing.take() {
                    items.insert(0, RulesRemoved::list_back(failures));
                }
                items
            }
            Err(e) => {
                Counters::add(&counters.rule_poll_errors, 1);
                match &mut self.failing {
                    Some(n) => {
                        *n += 1;
                        Vec::new()
                    }
                    None => {
                        self.failing = Some(1);
                        vec![RulesRemoved::list_failed(e.to_string())]
                    }
                }
            }
        }
    }
}

/// What the rules stage tells the decide stage, through the audit reader.
pub type ToDecide = tokio::sync::mpsc::Sender<AuditMsg>;

/// Tells the decide stage, waiting for room (see the module doc). Only a
/// reader that is gone refuses (the stop, or an audit stream that failed
/// for good): counted (`rules_told_dropped`), never silent.
fn tell(decide: &ToDecide, m: AuditMsg, counters: &Counters) {
    if decide.blocking_send(m).is_err() {
        Counters::add(&counters.rules_told_dropped, 1);
    }
}

/// Tells the decide stage whether any rule is loaded (a failed request
/// counts as yes: runs then wait for a record that may come), and the list
/// itself, for the cross-check's `audit-record-missing`.
fn tell_rules(control: &Shared, decide: &ToDecide, counters: &Counters) {
    let listed = rules::list_rules(&mut lock(control).ctl).ok();
    let at = crate::event::boot_ns_now();
    let loaded = listed.as_ref().is_none_or(|r| !r.is_empty());
    tell(decide, AuditMsg::RulesLoaded(loaded, at), counters);
    if let Some(list) = listed {
        // The files the rules name, resolved here (off decide, which
        // stats nothing).
        let list = rules::LoadedRules::resolve(list);
        tell(decide, AuditMsg::RuleList(Arc::new(list)), counters);
    }
}

/// The stage's loop: one rule change at a time, and a rule-list diff every
/// `every`, until the audit reader is gone.
#[allow(clippy::too_many_arguments)]
pub fn run(
    input: Receiver<RulesMsg>,
    control: Shared,
    every: Duration,
    writer: Writer,
    decide: ToDecide,
    host: String,
    counters: Arc<Counters>,
    alive: Arc<std::sync::atomic::AtomicBool>,
    _ended: Ended,
) {
    // Not watched for stalls once it has ended (with the audit reader).
    struct Alive(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let _alive = Alive(alive);
    let guard = lock(&control).guard.clone();
    let mut poll = RulePoll::default();
    let mut next = Instant::now() + every;
    loop {
        match input.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(ev) => on_change(ev, &control, &writer, &decide, &host, &counters),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        stages::mark(Stage::Rules);
        if Instant::now() >= next {
            next = Instant::now() + every;
            // Read at each poll: a config reload may change it.
            let restore = lock(&control).restore;
            let items = poll.polled(guard.poll(restore), &counters);
            if items.is_empty() {
                continue;
            }
            // Guarded rules gone or back: whether any rule is still loaded
            // (for the cross-check), then the changes themselves.
            tell_rules(&control, &decide, &counters);
            for r in items {
                tell(&decide, AuditMsg::RulesRemoved(Box::new(r)), &counters);
            }
            stages::mark(Stage::Rules);
        }
    }
}

/// One rule change the audit reader saw (`None`: only whether any rule is
/// still loaded).
fn on_change(
    ev: RulesMsg,
    control: &Shared,
    writer: &Writer,
    decide: &ToDecide,
    host: &str,
    counters: &Counters,
) {
    let me = std::process::id();
    tell_rules(control, decide, counters);
    let Some(ev) = ev else { return };
    let mut c = lock(control);
    if let Some(cc) = ev.config_change() {
        let added = cc.op() == Some(b"add_rule".as_slice()) && cc.res() != Some(false);
        let keys = cc.keys();
        // The change was made in the context of the process that sent
        // the request: its SYSCALL record (or the record) names it.
        let by_us = cc
            .get("pid")
            .and_then(|v| v.to_u32())
            .or_else(|| ev.syscall().and_then(|s| s.pid()))
            .is_some_and(|pid| pid == me);
        // A rule with the installer key (back) in place: the end of an
        // `audit-rules-removed` gap, whoever added it. swmon's own
        // additions at start are one `audit-rules-installed` event.
        if added && !by_us && keys.iter().any(|k| k == rules::SEED_KEY.as_bytes()) {
            let mut e = state_event(host, "audit-rules-added");
            e.event.kind_type = vec!["change"];
            e.swmon.audit = Some(json!({
                "serial": ev.serial,
                "keys": keys.iter().map(|k| event::lossless(k)).collect::<Vec<_>>(),
                "auid": cc.auid(),
            }));
            writer.push_priority(&e);
        }
    }
    let c = &mut *c;
    if let Some(removed) = c.guard.check(&ev, Some(&mut c.ctl)) {
        let mut e = state_event(host, removed.action());
        if removed.is_alert() {
            e.event.kind = "alert";
        }
        e.swmon.audit = Some(serde_json::to_value(&removed).unwrap_or_default());
        writer.push_priority(&e);
        // Not once the stop has removed them (checked under the lock):
        // a restore then would leave them loaded after exit.
        if c.restore && !c.removed {
            let (action, detail) = match c.guard.restore(&mut c.ctl) {
                // Nothing of swmon's to put back (the alert named only
                // disowned rules): no empty `audit-rules-restored`.
                Ok(put_back) if put_back.is_empty() => return,
                Ok(put_back) => (
                    "audit-rules-restored",
                    json!({ "rules": put_back.iter().map(ToString::to_string).collect::<Vec<_>>() }),
                ),
                Err(err) => (
                    "audit-rules-restore-failed",
                    json!({ "error": err.to_string() }),
                ),
            };
            let mut e = state_event(host, action);
            e.swmon.audit = Some(detail);
            writer.push_priority(&e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_rule_list_is_alerted_once_and_its_recovery_too() {
        let counters = Counters::default();
        let mut p = RulePoll::default();
        let fail = || {
            Err(AuditError::Timeout {
                request: "AUDIT_LIST_RULES".into(),
                ms: 1000,
            })
        };
        assert!(p.polled(Ok(Vec::new()), &counters).is_empty());
        let mut items = Vec::new();
        for _ in 0..3 {
            items.extend(p.polled(fail(), &counters));
        }
        assert_eq!(Counters::get(&counters.rule_polls), 4);
        assert_eq!(Counters::get(&counters.rule_poll_errors), 3);
        let [r] = items.as_slice() else {
            panic!("alerted once: {items:?}");
        };
        assert_eq!(r.action(), "audit-rules-unverifiable");
        assert!(r.is_alert());
        assert!(r
            .list_error
            .as_deref()
            .unwrap()
            .contains("AUDIT_LIST_RULES"));
        let items = p.polled(Ok(Vec::new()), &counters);
        let [r] = items.as_slice() else {
            panic!("{items:?}");
        };
        assert_eq!(r.action(), "audit-rules-verifiable");
        assert!(!r.is_alert());
        assert_eq!(r.list_failures, Some(3));
        assert!(p.polled(Ok(Vec::new()), &counters).is_empty(), "said once");
    }
}
