//! The cross-check: each installer run the kernel stream saw is joined with
//! the audit record of the same exec, and each installer exec the audit
//! stream saw with a run, to say whether the host's audit trail has it.
//!
//! - `confirmed`: an audit record of one of the run's execs reached us while
//!   an audit daemon was registered to write it to the trail.
//! - `ebpf_only`: no record, or a record while no daemon was there: the run
//!   slipped past the audit trail. `reason` says why, from the audit
//!   stream's health at the exec: `audit-disabled`, `auditd-stopped`,
//!   `audit-records-lost`, else `no-audit-rule`.
//! - `audit_only`: an audit record of an installer exec that no run matched
//!   within the wait: the kernel stream missed it.
//!
//! A join is: the same pid (audit's `pid=` is the tgid), exec times within
//! [`MATCH_WINDOW_NS`] (boot-time ns converted to wall clock, against
//! audit's millisecond wall clock), and the same executable when both name
//! one. A run without a record is decided after a bounded wait (default 2 s
//! after its exec), since the record may still be in flight. Memory is
//! bounded: audit execs are kept [`KEEP_NS`], at most [`MAX_AUDIT_EXECS`]
//! and [`MAX_AUDIT_EXEC_BYTES`] (the oldest dropped first, counted), each
//! with its argv cut to [`ARGV_MAX`] bytes (flagged, with the real size);
//! runs waiting for a decision at most [`MAX_DECIDING`] and
//! [`MAX_DECIDING_BYTES`] (the oldest decided early, counted).

use std::collections::VecDeque;

use super::Run;
use crate::{
    audit::AuditEvent,
    catalogue::{self, Role},
    ebpf::filter::basename,
    event::Clock,
};

/// How far apart an exec's two clocks may put it.
pub const MATCH_WINDOW_NS: u64 = 2_000_000_000;
/// How long audit execs are kept for a run to match.
pub const KEEP_NS: u64 = 30_000_000_000;
pub const MAX_AUDIT_EXECS: usize = 65_536;
pub const MAX_AUDIT_EXEC_BYTES: usize = 4 << 20;
pub const MAX_DECIDING: usize = 65_536;
pub const MAX_DECIDING_BYTES: usize = 8 << 20;
/// An audit exec's argv is kept up to this many bytes, like the kernel
/// side's.
pub const ARGV_MAX: usize = swmon_common::ARGV_MAX;

const EXECVE: u32 = 59;
const EXECVEAT: u32 = 322;

/// What a run learned from its audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditMatch {
    pub serial: u64,
    pub key: Option<String>,
    /// An audit daemon was registered when the record arrived.
    pub logged: bool,
}

/// The cross-check's answer for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Confirmed,
    EbpfOnly(&'static str),
    AuditOnly,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::EbpfOnly(_) => "ebpf_only",
            Verdict::AuditOnly => "audit_only",
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Verdict::EbpfOnly(r) => Some(r),
            _ => None,
        }
    }
}

/// One successful exec as the audit stream saw it.
#[derive(Clone, Debug)]
pub struct AuditExec {
    pub serial: u64,
    pub wall_ns: u64,
    pub pid: u32,
    pub ppid: u32,
    pub uid: Option<u32>,
    pub auid: Option<u32>,
    pub exe: Vec<u8>,
    /// The arguments, cut to [`ARGV_MAX`] bytes.
    pub argv: Vec<Vec<u8>>,
    /// `argv` was cut; `argv_bytes` is the real size (NULs counted).
    pub argv_truncated: bool,
    pub argv_bytes: usize,
    pub cwd: Option<Vec<u8>>,
    pub key: Option<String>,
    /// An audit daemon was registered when the record arrived.
    pub logged: bool,
    /// The catalogue's installer, if the exec looks like one.
    pub installer: Option<u16>,
    pub(crate) matched: bool,
}

impl AuditExec {
    /// The exec in an assembled audit event, if it is a successful execve.
    pub fn from_event(e: &AuditEvent, logged: bool) -> Option<AuditExec> {
        let sc = e.syscall()?;
        let nr = sc.syscall()?;
        if nr != EXECVE && nr != EXECVEAT || sc.success() != Some(true) {
            return None;
        }
        let text = |t: Option<crate::audit::Text<'_>>| {
            t.and_then(|t| t.lossless_bytes().map(<[u8]>::to_vec))
        };
        let exe = text(sc.exe()).unwrap_or_default();
        let mut argv = e.argv().map(|a| a.args).unwrap_or_default();
        // Which installer is judged on the whole argv; what is kept is cut.
        let installer = installer_of(&exe, &argv);
        let real = cap_argv(&mut argv, ARGV_MAX);
        let key = e.keys().first().map(|k| crate::event::lossless(k));
        Some(AuditExec {
            serial: e.serial,
            wall_ns: e.timestamp.as_nanos(),
            pid: sc.pid()?,
            ppid: sc.ppid().unwrap_or(0),
            uid: sc.uid(),
            auid: sc.auid(),
            exe,
            argv_truncated: real.is_some(),
            argv_bytes: real.unwrap_or_else(|| argv.iter().map(|a| a.len() + 1).sum()),
            argv,
            cwd: text(e.cwd()),
            key,
            logged,
            installer,
            matched: false,
        })
    }
}

impl AuditExec {
    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        super::list_cost(&self.argv)
            + self.exe.len()
            + self.cwd.as_ref().map_or(0, Vec::len)
            + self.key.as_ref().map_or(0, String::len)
            + std::mem::size_of::<AuditExec>()
    }
}

/// Cuts argv to `max` bytes (NULs counted); the real size when it was cut.
pub fn cap_argv(args: &mut Vec<Vec<u8>>, max: usize) -> Option<usize> {
    let real: usize = args.iter().map(|a| a.len() + 1).sum();
    if real <= max {
        return None;
    }
    let mut left = max;
    let mut keep = 0;
    for a in args.iter_mut() {
        if left == 0 {
            break;
        }
        if a.len() + 1 > left {
            a.truncate(left.saturating_sub(1));
            a.shrink_to_fit();
            left = 0;
        } else {
            left -= a.len() + 1;
        }
        keep += 1;
    }
    args.truncate(keep);
    args.shrink_to_fit();
    Some(real)
}

/// The installer an audit exec ran: by the executable's name, or an
/// argument's (an interpreter's script, `-m pip`, the loader's program).
pub fn installer_of(exe: &[u8], argv: &[Vec<u8>]) -> Option<u16> {
    let installer = |name: &[u8]| match catalogue::lookup(name) {
        Some((id, p)) if matches!(p.role, Role::Installer(_)) => Some(id),
        _ => None,
    };
    if let Some(id) = installer(basename(exe)) {
        return Some(id);
    }
    let runs_others = matches!(
        catalogue::lookup(basename(exe)).map(|(_, p)| p.role),
        Some(Role::Interpreter(_) | Role::Loader)
    );
    if runs_others {
        return argv.iter().skip(1).find_map(|a| installer(basename(a)));
    }
    None
}

/// The audit side's state over time, for the reason of an `ebpf_only`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditState {
    /// The audit stream is open at all.
    pub available: bool,
    pub enabled: bool,
    pub daemon: bool,
    /// Any audit rule is loaded: without one no exec record can come, so
    /// nothing is worth waiting for.
    pub rules: bool,
}

/// Counters of the cross-check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounters {
    pub confirmed: u64,
    pub ebpf_only: u64,
    pub audit_only: u64,
    pub audit_execs: u64,
    /// Audit execs dropped unmatched at the cap (their runs, if any, come
    /// out `ebpf_only`; non-installer ones are not reported anyway).
    pub audit_execs_dropped: u64,
    /// Runs decided before their wait was over, at the cap.
    pub decided_early: u64,
}

/// A decided run, or an audit-only exec.
#[derive(Clone, Debug)]
pub enum Decided {
    Run(Box<Run>, Verdict),
    AuditOnly(AuditExec),
}

pub struct CrossCheck {
    wait_ns: u64,
    execs: VecDeque<AuditExec>,
    execs_bytes: usize,
    deciding: VecDeque<(u64, Run)>,
    deciding_bytes: usize,
    /// Health transitions: (wall ns, state from then on), oldest first.
    timeline: VecDeque<(u64, AuditState)>,
    /// Wall times of audit losses.
    losses: VecDeque<u64>,
    pub counters: VerdictCounters,
}

impl CrossCheck {
    pub fn new(wait_ns: u64, initial: AuditState) -> CrossCheck {
        CrossCheck {
            wait_ns,
            execs: VecDeque::new(),
            execs_bytes: 0,
            deciding: VecDeque::new(),
            deciding_bytes: 0,
            timeline: VecDeque::from([(0, initial)]),
            losses: VecDeque::new(),
            counters: VerdictCounters::default(),
        }
    }

    /// The audit state from `wall_ns` on.
    pub fn set_state(&mut self, wall_ns: u64, state: AuditState) {
        if self.timeline.back().is_some_and(|(_, s)| *s == state) {
            return;
        }
        self.timeline.push_back((wall_ns, state));
        while self.timeline.len() > 1024 {
            self.timeline.pop_front();
        }
    }

    pub fn state(&self) -> AuditState {
        self.timeline.back().map(|(_, s)| *s).unwrap_or_default()
    }

    fn state_at(&self, wall_ns: u64) -> AuditState {
        self.timeline
            .iter()
            .rev()
            .find(|(t, _)| *t <= wall_ns)
            .or(self.timeline.front())
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    pub fn note_loss(&mut self, wall_ns: u64) {
        self.losses.push_back(wall_ns);
        while self.losses.len() > 1024 {
            self.losses.pop_front();
        }
    }

    /// Adds an audit exec; returns runs this decides (a waiting run it
    /// matches). The caller first offers it to open runs with [`Self::attach`].
    pub fn on_audit_exec(&mut self, exec: AuditExec, clock: &Clock) -> Vec<Decided> {
        self.counters.audit_execs += 1;
        let mut decided = Vec::new();
        if let Some(i) = self
            .deciding
            .iter()
            .position(|(_, run)| matches(&exec, run, clock))
        {
            if let Some((_, mut run)) = self.deciding.remove(i) {
                self.deciding_bytes = self.deciding_bytes.saturating_sub(run.bytes());
                run.audit = Some(AuditMatch {
                    serial: exec.serial,
                    key: exec.key.clone(),
                    logged: exec.logged,
                });
                let v = self.verdict(&run, clock);
                decided.push(Decided::Run(Box::new(run), v));
            }
            let mut exec = exec;
            exec.matched = true;
            self.push_exec(exec);
        } else {
            self.push_exec(exec);
        }
        decided
    }

    fn push_exec(&mut self, exec: AuditExec) {
        let size = exec.bytes();
        while self.execs.len() >= MAX_AUDIT_EXECS
            || (!self.execs.is_empty() && self.execs_bytes + size > MAX_AUDIT_EXEC_BYTES)
        {
            let Some(old) = self.pop_exec() else { break };
            if !old.matched && old.installer.is_some() {
                self.counters.audit_execs_dropped += 1;
            }
        }
        self.execs_bytes += size;
        self.execs.push_back(exec);
    }

    fn pop_exec(&mut self) -> Option<AuditExec> {
        let old = self.execs.pop_front()?;
        self.execs_bytes = self.execs_bytes.saturating_sub(old.bytes());
        Some(old)
    }

    /// Runs waiting for their audit record.
    pub fn deciding(&self) -> usize {
        self.deciding.len()
    }

    /// Bytes held by kept audit execs and waiting runs.
    pub fn bytes(&self) -> (usize, usize) {
        (self.execs_bytes, self.deciding_bytes)
    }

    /// Gives `run` the audit record of one of its execs, if one is kept.
    pub fn attach(&mut self, run: &mut Run, clock: &Clock) {
        if run.audit.is_some() {
            return;
        }
        if let Some(exec) = self
            .execs
            .iter_mut()
            .rev()
            .find(|e| !e.matched && matches(e, run, clock))
        {
            exec.matched = true;
            run.audit = Some(AuditMatch {
                serial: exec.serial,
                key: exec.key.clone(),
                logged: exec.logged,
            });
        }
    }

    /// A finished run: decided now if it has its record or cannot get one,
    /// else held until its wait is over.
    pub fn on_run(&mut self, mut run: Run, now_wall_ns: u64, clock: &Clock) -> Vec<Decided> {
        self.attach(&mut run, clock);
        let exec_ns = wall(&run, clock);
        let state = self.state_at(exec_ns);
        let may_come = state.available && state.enabled && state.rules;
        let deadline = exec_ns.saturating_add(self.wait_ns);
        if run.audit.is_some() || !may_come || now_wall_ns >= deadline {
            let v = self.verdict(&run, clock);
            return vec![Decided::Run(Box::new(run), v)];
        }
        let mut out = Vec::new();
        let size = run.bytes();
        while self.deciding.len() >= MAX_DECIDING
            || (!self.deciding.is_empty() && self.deciding_bytes + size > MAX_DECIDING_BYTES)
        {
            let Some((_, early)) = self.deciding.pop_front() else {
                break;
            };
            self.deciding_bytes = self.deciding_bytes.saturating_sub(early.bytes());
            self.counters.decided_early += 1;
            let v = self.verdict(&early, clock);
            out.push(Decided::Run(Box::new(early), v));
        }
        self.deciding_bytes += size;
        self.deciding.push_back((deadline, run));
        out
    }

    /// Decides waiting runs whose wait is over, and reports audit execs of
    /// installers that no run matched within the wait.
    pub fn tick(
        &mut self,
        now_wall_ns: u64,
        clock: &Clock,
        open_tgids: impl Fn(u32) -> bool,
    ) -> Vec<Decided> {
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.deciding.len());
        while let Some((deadline, run)) = self.deciding.pop_front() {
            if now_wall_ns >= deadline {
                self.deciding_bytes = self.deciding_bytes.saturating_sub(run.bytes());
                let v = self.verdict(&run, clock);
                out.push(Decided::Run(Box::new(run), v));
            } else {
                keep.push_back((deadline, run));
            }
        }
        self.deciding = keep;
        for exec in self.execs.iter_mut() {
            let ripe = now_wall_ns >= exec.wall_ns.saturating_add(self.wait_ns);
            if ripe && !exec.matched && exec.installer.is_some() && !open_tgids(exec.pid) {
                // Not a run's, open or finished: the kernel stream missed it.
                exec.matched = true;
                self.counters.audit_only += 1;
                out.push(Decided::AuditOnly(exec.clone()));
            }
        }
        while self
            .execs
            .front()
            .is_some_and(|e| now_wall_ns >= e.wall_ns.saturating_add(KEEP_NS))
        {
            self.pop_exec();
        }
        out
    }

    /// Decides everything still waiting (at shutdown).
    pub fn drain(&mut self, clock: &Clock) -> Vec<Decided> {
        let runs: Vec<_> = self.deciding.drain(..).collect();
        self.deciding_bytes = 0;
        runs.into_iter()
            .map(|(_, run)| {
                let v = self.verdict(&run, clock);
                Decided::Run(Box::new(run), v)
            })
            .collect()
    }

    fn verdict(&mut self, run: &Run, clock: &Clock) -> Verdict {
        let exec_ns = wall(run, clock);
        let state = self.state_at(exec_ns);
        let v = match &run.audit {
            Some(m) if m.logged => Verdict::Confirmed,
            Some(_) => Verdict::EbpfOnly("auditd-stopped"),
            None if !state.available => Verdict::EbpfOnly("audit-unavailable"),
            None if !state.enabled => Verdict::EbpfOnly("audit-disabled"),
            None if self
                .losses
                .iter()
                .any(|t| t.abs_diff(exec_ns) <= MATCH_WINDOW_NS) =>
            {
                Verdict::EbpfOnly("audit-records-lost")
            }
            None if !state.daemon => Verdict::EbpfOnly("auditd-stopped"),
            None => Verdict::EbpfOnly("no-audit-rule"),
        };
        match v {
            Verdict::Confirmed => self.counters.confirmed += 1,
            Verdict::EbpfOnly(_) => self.counters.ebpf_only += 1,
            Verdict::AuditOnly => self.counters.audit_only += 1,
        }
        v
    }
}

/// The wall-clock time of a run's first exec.
fn wall(run: &Run, clock: &Clock) -> u64 {
    let t = clock.wall(run.execs[0].boot_ns);
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether an audit exec is one of the run's execs.
fn matches(exec: &AuditExec, run: &Run, clock: &Clock) -> bool {
    if exec.pid != run.primary().tgid {
        return false;
    }
    run.execs.iter().any(|rec| {
        let t = clock.wall(rec.boot_ns);
        let ns = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
        let exe = rec
            .executable
            .strip_suffix(b" (deleted)")
            .unwrap_or(&rec.executable);
        ns.abs_diff(exec.wall_ns) <= MATCH_WINDOW_NS && (exec.exe.is_empty() || exec.exe == exe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        correlate::Facts,
        ebpf::decode::ExecRecord,
        event::{boot_ns_now, Clock},
    };

    const WAIT: u64 = 2_000_000_000;

    fn run(tgid: u32, exe: &str, boot_ns: u64) -> Run {
        let rec = ExecRecord::sample(tgid, exe, boot_ns);
        Run {
            execs: vec![rec],
            facts: Facts::default(),
            exit: None,
            end: None,
            audit: None,
        }
    }

    fn wall(clock: &Clock, boot_ns: u64) -> u64 {
        clock
            .wall(boot_ns)
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    fn exec(pid: u32, exe: &str, wall_ns: u64, logged: bool) -> AuditExec {
        AuditExec {
            serial: 42,
            wall_ns,
            pid,
            ppid: 1,
            uid: Some(0),
            auid: Some(1000),
            exe: exe.into(),
            argv: vec![exe.into(), b"-i".to_vec()],
            argv_truncated: false,
            argv_bytes: 0,
            cwd: None,
            key: Some("software-installer".into()),
            logged,
            installer: installer_of(exe.as_bytes(), &[]),
            matched: false,
        }
    }

    const ON: AuditState = AuditState {
        available: true,
        enabled: true,
        daemon: true,
        rules: true,
    };

    fn verdicts(d: &[Decided]) -> Vec<Verdict> {
        d.iter()
            .map(|d| match d {
                Decided::Run(_, v) => *v,
                Decided::AuditOnly(_) => Verdict::AuditOnly,
            })
            .collect()
    }

    #[test]
    fn a_record_before_the_run_ends_confirms_it() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c
            .on_audit_exec(exec(7, "/usr/bin/dpkg", wall(&clock, t), true), &clock)
            .is_empty());
        let d = c.on_run(run(7, "/usr/bin/dpkg", t), wall(&clock, t), &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        assert_eq!(c.counters.confirmed, 1);
    }

    #[test]
    fn a_record_while_the_run_waits_decides_it() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(
            c.on_run(run(7, "/usr/bin/dpkg", t), wall(&clock, t), &clock)
                .is_empty(),
            "it waits"
        );
        let d = c.on_audit_exec(exec(7, "/usr/bin/dpkg", wall(&clock, t), false), &clock);
        assert_eq!(
            verdicts(&d),
            [Verdict::EbpfOnly("auditd-stopped")],
            "seen, but no daemon logged it"
        );
    }

    #[test]
    fn no_record_within_the_wait_is_ebpf_only() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c
            .on_run(run(7, "/tmp/mydpkg", t), wall(&clock, t), &clock)
            .is_empty());
        assert!(c
            .tick(wall(&clock, t) + WAIT - 1, &clock, |_| false)
            .is_empty());
        let d = c.tick(wall(&clock, t) + WAIT, &clock, |_| false);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        // A record of another process, or of another time, does not match.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(8, "/usr/bin/dpkg", wall(&clock, t), true), &clock);
        c.on_audit_exec(
            exec(
                7,
                "/usr/bin/dpkg",
                wall(&clock, t) + 3 * MATCH_WINDOW_NS,
                true,
            ),
            &clock,
        );
        assert!(c
            .on_run(run(7, "/usr/bin/dpkg", t), wall(&clock, t), &clock)
            .is_empty());
    }

    #[test]
    fn nothing_to_wait_for_decides_at_once_with_the_reason() {
        let clock = Clock::now();
        let t = boot_ns_now();
        for (state, reason) in [
            (AuditState { rules: false, ..ON }, "no-audit-rule"),
            (
                AuditState {
                    enabled: false,
                    ..ON
                },
                "audit-disabled",
            ),
            (AuditState::default(), "audit-unavailable"),
        ] {
            let mut c = CrossCheck::new(WAIT, state);
            let d = c.on_run(run(7, "/usr/bin/dpkg", t), wall(&clock, t), &clock);
            assert_eq!(verdicts(&d), [Verdict::EbpfOnly(reason)], "{state:?}");
        }
        let mut c = CrossCheck::new(WAIT, ON);
        c.note_loss(wall(&clock, t));
        c.on_run(run(7, "/usr/bin/dpkg", t), wall(&clock, t), &clock);
        let d = c.tick(wall(&clock, t) + WAIT, &clock, |_| false);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("audit-records-lost")]);
    }

    #[test]
    fn an_installer_only_audit_saw_is_audit_only() {
        let clock = Clock::now();
        let t = wall(&clock, boot_ns_now());
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(9, "/usr/bin/dpkg", t, true), &clock);
        c.on_audit_exec(exec(10, "/usr/bin/true", t, true), &clock);
        assert!(c.tick(t + WAIT - 1, &clock, |_| false).is_empty());
        assert!(
            c.tick(t + WAIT, &clock, |pid| pid == 9).is_empty(),
            "its run is still open"
        );
        let d = c.tick(t + WAIT, &clock, |_| false);
        assert_eq!(
            verdicts(&d),
            [Verdict::AuditOnly],
            "dpkg only; /usr/bin/true is no installer"
        );
        assert!(
            c.tick(t + 2 * WAIT, &clock, |_| false).is_empty(),
            "reported once"
        );
    }

    #[test]
    fn audit_argv_is_capped_and_execs_are_bounded_in_bytes() {
        let mut argv = vec![vec![b'a'; 5000], vec![b'b'; 5000], vec![b'c'; 10]];
        assert_eq!(cap_argv(&mut argv, ARGV_MAX), Some(10_013));
        assert!(argv.iter().map(|a| a.len() + 1).sum::<usize>() <= ARGV_MAX);
        let clock = Clock::now();
        let t = wall(&clock, boot_ns_now());
        let mut c = CrossCheck::new(WAIT, ON);
        let mut n = 0;
        while c.bytes().0 + 20_000 < MAX_AUDIT_EXEC_BYTES {
            let mut e = exec(1000 + n, "/usr/bin/dpkg", t, true);
            e.argv = vec![vec![b'x'; 8000]];
            c.on_audit_exec(e, &clock);
            n += 1;
        }
        for i in 0..100 {
            let mut e = exec(9000 + i, "/usr/bin/dpkg", t, true);
            e.argv = vec![vec![b'x'; 8000]];
            c.on_audit_exec(e, &clock);
        }
        assert!(c.bytes().0 <= MAX_AUDIT_EXEC_BYTES);
        assert!(c.counters.audit_execs_dropped >= 90, "{:?}", c.counters);
    }

    #[test]
    fn installers_in_audit_records() {
        let argv = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(installer_of(b"/usr/bin/dpkg", &[]).is_some());
        assert!(installer_of(b"/usr/bin/python3.11", &argv(&["python3", "-m", "pip"])).is_some());
        assert!(
            installer_of(b"/usr/bin/python3.11", &argv(&["pip", "x.py"])).is_none(),
            "argv[0] is not trusted"
        );
        assert!(installer_of(b"/usr/bin/true", &argv(&["true", "dpkg"])).is_none());
    }
}
