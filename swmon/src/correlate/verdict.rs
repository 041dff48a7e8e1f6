//! The cross-check: each installer run the kernel stream saw is joined with
//! the audit records of its execs, and each installer exec the audit stream
//! saw with a run, to say whether the host's audit trail has it.
//!
//! - `confirmed`: an audit record of one of the run's execs reached us while
//!   an audit daemon was registered to write it to the trail.
//! - `ebpf_only`: no record, or a record while no daemon was there: the run
//!   slipped past the audit trail. `reason` says why, from the audit
//!   stream's health at the exec: `audit-disabled`, `audit-records-lost`,
//!   `auditd-stopped`; `audit-record-missing` when the loaded rules
//!   promise a record of one of its execs ([`crate::audit::rules::records_exec_of`])
//!   and none came; else `no-audit-rule`.
//! - `audit_only`: an audit record of an installer exec that no run matched
//!   within the wait: the kernel stream missed it.
//!
//! **One run, one decision.** A run is decided once and reported once. A
//! run may carry several audit records (a process that execs several
//! times: `/usr/bin/npm` runs `env` then `node`; a pyenv shim; a host rule
//! that records every execve): every record of the same process within
//! the run's life is attached to it (`swmon.audit.serials`), none becomes
//! `audit_only`. A record that arrives after its run was decided (a
//! backlog longer than the wait) is attached to the decided run, which is
//! remembered for [`KEEP_DECIDED_NS`] (at most [`MAX_DECIDED`] runs and
//! [`MAX_DECIDED_BYTES`], the oldest forgotten first, counted in
//! `decided_forgotten`); if it changes the verdict, the change is reported
//! as a `verdict-amended` event of the same run id with the old and new
//! verdict ([`Decided::Amended`]), never as an opposite `audit_only`.
//!
//! **A join is on identity, not spelling**: the same pid (audit's `pid=` is
//! the tgid), exec times within [`MATCH_WINDOW_NS`] (boot-time ns converted
//! to wall clock, against audit's millisecond wall clock), and the same
//! file: the kernel's (dev, inode) of the executable among the PATH
//! records' (dev, inode) (the script, then its interpreter), the path only
//! as a fallback ([`same_path`]: ` (deleted)` dropped on both sides, a
//! chroot's relative `exe=` matching the tail of the kernel's walk, a walk
//! the kernel cut matching by its kept components). A record of the same
//! process that joins none of the kept execs (an exec the kernel filter
//! let go, or one trimmed from a long chain) is attached to the run but
//! does not confirm it.
//!
//! A run without a record is decided after a bounded wait (default 2 s
//! after its exec), since the record may still be in flight. Memory is
//! bounded: audit execs are kept [`KEEP_NS`], at most [`MAX_AUDIT_EXECS`]
//! and [`MAX_AUDIT_EXEC_BYTES`] (the oldest dropped first, counted), each
//! with its argv cut to [`ARGV_MAX`] bytes (flagged, with the real size);
//! runs waiting for a decision at most [`MAX_DECIDING`] and
//! [`MAX_DECIDING_BYTES`] (the oldest decided early, counted).

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use swmon_common::flag;

use super::Run;
use crate::{
    audit::{rules::AuditRule, AuditEvent},
    catalogue::{self, Role},
    ebpf::{decode::ExecRecord, filter::basename},
    event::Clock,
};

/// How far apart an exec's two clocks may put it.
pub const MATCH_WINDOW_NS: u64 = 2_000_000_000;
/// How far past a run's exit a record of its process may be stamped
/// (audit stamps at syscall entry, in ms; the clocks' conversion errs).
pub const END_SLACK_NS: u64 = 50_000_000;
/// How long audit execs are kept for a run to match.
pub const KEEP_NS: u64 = 30_000_000_000;
pub const MAX_AUDIT_EXECS: usize = 65_536;
pub const MAX_AUDIT_EXEC_BYTES: usize = 4 << 20;
pub const MAX_DECIDING: usize = 65_536;
pub const MAX_DECIDING_BYTES: usize = 8 << 20;
/// How long a decided run is remembered for a late audit record.
pub const KEEP_DECIDED_NS: u64 = 120_000_000_000;
pub const MAX_DECIDED: usize = 16_384;
pub const MAX_DECIDED_BYTES: usize = 4 << 20;
/// Most serials listed per run (`swmon.audit.serials`); `records` counts
/// them all.
pub const MAX_SERIALS: usize = 16;
/// Most PATH records' identities kept per audit exec (the file named, a
/// script's interpreter, the loader).
pub const MAX_FILES: usize = 4;
/// An audit exec's argv is kept up to this many bytes, like the kernel
/// side's.
pub const ARGV_MAX: usize = swmon_common::ARGV_MAX;

const EXECVE: u32 = 59;
const EXECVEAT: u32 = 322;
const DELETED: &[u8] = b" (deleted)";

/// What a run learned from the audit records attached to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditMatch {
    /// The first record joined with one of the run's execs (0: none).
    pub serial: u64,
    pub key: Option<String>,
    /// How that record joined: `inode` or `path`.
    pub join: Option<&'static str>,
    /// Records joined with one of the run's execs.
    pub joined: u32,
    /// A joined record arrived while an audit daemon was registered.
    pub logged: bool,
    /// Every record attached (joined or of the same process), at most
    /// [`MAX_SERIALS`].
    pub serials: Vec<u64>,
    /// All records attached.
    pub records: u32,
}

impl AuditMatch {
    /// Adds a record: `join` when it joined one of the run's execs.
    fn add(&mut self, exec: &AuditExec, join: Option<Join>) {
        self.records = self.records.saturating_add(1);
        if self.serials.len() < MAX_SERIALS && !self.serials.contains(&exec.serial) {
            self.serials.push(exec.serial);
        }
        if let Some(j) = join {
            if self.joined == 0 {
                self.serial = exec.serial;
                self.key = exec.key.clone();
                self.join = Some(j.as_str());
            }
            self.joined = self.joined.saturating_add(1);
            self.logged |= exec.logged;
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<AuditMatch>()
            + self.serials.len() * 8
            + self.key.as_ref().map_or(0, String::len)
    }
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

/// How an audit exec joined a kernel exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Join {
    /// The kernel's (dev, inode) is one of the PATH records'.
    Inode,
    /// By the executable's path ([`same_path`]).
    Path,
}

impl Join {
    pub fn as_str(self) -> &'static str {
        match self {
            Join::Inode => "inode",
            Join::Path => "path",
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
    /// The PATH records' (dev, inode), the kernel's `dev` encoding (see
    /// [`crate::audit::views::kernel_dev`]), in item order, at most
    /// [`MAX_FILES`].
    pub files: Vec<(u32, u64)>,
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
        let files = e
            .paths()
            .filter_map(|p| p.file_id())
            .take(MAX_FILES)
            .collect();
        Some(AuditExec {
            serial: e.serial,
            wall_ns: e.timestamp.as_nanos(),
            pid: sc.pid()?,
            ppid: sc.ppid().unwrap_or(0),
            uid: sc.uid(),
            auid: sc.auid(),
            exe,
            files,
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
            + self.files.len() * 16
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
    // An interpreter or the loader runs what its own options say: an
    // installer's name among a script's arguments is no run of it.
    match catalogue::lookup(basename(exe)).map(|(_, p)| p.role) {
        Some(role @ (Role::Interpreter(_) | Role::Loader)) => {
            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            crate::classify::command::through(role, &args).map(|t| t.installer_id)
        }
        _ => None,
    }
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
    /// Decided runs whose verdict a late audit record changed
    /// (`verdict-amended` events).
    pub verdicts_amended: u64,
    /// Decided runs forgotten at the cap before [`KEEP_DECIDED_NS`]: a
    /// record of theirs arriving later could be taken for `audit_only`.
    pub decided_forgotten: u64,
}

/// A correction of a run already reported: a late audit record changed
/// its verdict.
#[derive(Clone, Debug)]
pub struct Amended {
    pub run_id: String,
    pub pid: u32,
    pub executable: Vec<u8>,
    /// The run's first exec (boot-time ns).
    pub boot_ns: u64,
    pub previous: Verdict,
    pub verdict: Verdict,
    pub audit: AuditMatch,
}

/// A decided run, an audit-only exec, or a correction.
#[derive(Clone, Debug)]
pub enum Decided {
    Run(Box<Run>, Verdict),
    AuditOnly(AuditExec),
    Amended(Box<Amended>),
}

/// What a join needs of one kernel exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecKey {
    pub wall_ns: u64,
    pub dev: u32,
    pub ino: u64,
    /// The kernel's path walk was cut ([`flag::PATH_TRUNCATED`]).
    pub cut: bool,
    pub executable: Vec<u8>,
}

impl ExecKey {
    fn of(rec: &ExecRecord, clock: &Clock) -> ExecKey {
        ExecKey {
            wall_ns: wall_of(rec.boot_ns, clock),
            dev: rec.dev,
            ino: rec.ino,
            cut: rec.flags & flag::PATH_TRUNCATED != 0,
            executable: rec.executable.clone(),
        }
    }
}

/// How an audit exec (its PATH identities and `exe=`) joins a kernel exec,
/// time and pid aside: by (dev, inode) first, by path as a fallback.
pub fn join(files: &[(u32, u64)], exe: &[u8], k: &ExecKey) -> Option<Join> {
    if k.ino != 0 && files.contains(&(k.dev, k.ino)) {
        return Some(Join::Inode);
    }
    // A record with neither (a bare SYSCALL): pid and time only, as ever.
    if (files.is_empty() && exe.is_empty()) || same_path(exe, &k.executable, k.cut) {
        return Some(Join::Path);
    }
    None
}

/// Whether audit's `exe=` and the kernel's path walk name one file:
/// ` (deleted)` (a memfd, an unlinked file) dropped on both sides; in a
/// chroot audit's path is relative to the process's root and the kernel's
/// from the namespace's, so audit's components must be the tail of the
/// kernel's; a walk the kernel cut (`cut`: past its depth, or a long
/// component cut to its slot) keeps leaf-side components, each the start
/// of audit's.
pub fn same_path(audit: &[u8], kernel: &[u8], cut: bool) -> bool {
    let audit = audit.strip_suffix(DELETED).unwrap_or(audit);
    let kernel = kernel.strip_suffix(DELETED).unwrap_or(kernel);
    if audit.is_empty() || kernel.is_empty() {
        return false;
    }
    if audit == kernel {
        return true;
    }
    let parts = |p: &'_ [u8]| -> Vec<Vec<u8>> {
        p.split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(<[u8]>::to_vec)
            .collect()
    };
    let (a, k) = (parts(audit), parts(kernel));
    if a.is_empty() || k.is_empty() {
        return false;
    }
    if cut {
        k.len() <= a.len()
            && k.iter()
                .zip(&a)
                .all(|(k, a)| !k.is_empty() && a.starts_with(k))
    } else {
        a.len() <= k.len() && a.iter().zip(&k).all(|(a, k)| a == k)
    }
}

/// A run already reported, kept for a late record.
#[derive(Clone, Debug)]
struct Reported {
    run_id: String,
    tgid: u32,
    execs: Vec<ExecKey>,
    first_wall: u64,
    /// Its exit, else when it was decided.
    end_wall: u64,
    boot_ns: u64,
    verdict: Verdict,
    audit: AuditMatch,
    forget_at: u64,
}

impl Reported {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Reported>()
            + self.run_id.len()
            + self
                .execs
                .iter()
                .map(|e| std::mem::size_of::<ExecKey>() + super::vec_cost(e.executable.len()))
                .sum::<usize>()
            + self.audit.bytes()
    }
}

pub struct CrossCheck {
    wait_ns: u64,
    execs: VecDeque<AuditExec>,
    execs_bytes: usize,
    deciding: VecDeque<(u64, Run)>,
    deciding_bytes: usize,
    /// Decided runs, oldest first.
    reported: VecDeque<Reported>,
    reported_bytes: usize,
    /// How many decided runs each pid has (most audit execs have none, and
    /// skip the scan).
    reported_pids: HashMap<u32, u32>,
    /// Health transitions: (wall ns, state from then on), oldest first.
    timeline: VecDeque<(u64, AuditState)>,
    /// Wall times of audit losses.
    losses: VecDeque<u64>,
    /// The loaded rules as last listed (by the rules stage), in order.
    rules: Option<Arc<Vec<AuditRule>>>,
    /// The latest wall time seen.
    now: u64,
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
            reported: VecDeque::new(),
            reported_bytes: 0,
            reported_pids: HashMap::new(),
            timeline: VecDeque::from([(0, initial)]),
            losses: VecDeque::new(),
            rules: None,
            now: 0,
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

    /// The loaded rule list (a fresh listing replaces the last).
    pub fn set_rules(&mut self, rules: Arc<Vec<AuditRule>>) {
        self.rules = Some(rules);
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

    /// Adds an audit exec; returns what it decides: a waiting run it joins
    /// (decided now), or a correction of a decided run. A record of the
    /// same process as a waiting or decided run is attached to it. The
    /// caller then offers it to open runs with [`Self::attach`].
    pub fn on_audit_exec(&mut self, mut exec: AuditExec, clock: &Clock) -> Vec<Decided> {
        self.counters.audit_execs += 1;
        self.now = self.now.max(exec.wall_ns);
        let mut decided = Vec::new();
        let joined = self
            .deciding
            .iter()
            .position(|(_, run)| run_join(&exec, run, clock).is_some_and(|j| j.is_some()));
        let same = joined.or_else(|| {
            self.deciding
                .iter()
                .position(|(_, run)| run_join(&exec, run, clock).is_some())
        });
        if let Some(i) = same {
            exec.matched = true;
            let run = &mut self.deciding[i].1;
            let j = run_join(&exec, run, clock).flatten();
            let before = run.audit.as_ref().map_or(0, AuditMatch::bytes);
            let m = run.audit.get_or_insert_with(AuditMatch::default);
            m.add(&exec, j);
            let grown = m.bytes().saturating_sub(before);
            self.deciding_bytes += grown;
            if j.is_some() {
                // Its record: decided now.
                if let Some((_, run)) = self.deciding.remove(i) {
                    self.deciding_bytes = self.deciding_bytes.saturating_sub(run_bytes(&run));
                    decided.push(self.decide(run, clock));
                }
            }
        } else if let Some(a) = self.amend(&exec) {
            exec.matched = true;
            decided.extend(a);
        }
        self.push_exec(exec);
        decided
    }

    /// Offers a record to the decided runs: attached to the one it joins
    /// (else to one of its process), `Some` then; with a correction when
    /// it changes that run's verdict.
    fn amend(&mut self, exec: &AuditExec) -> Option<Option<Decided>> {
        if !self.reported_pids.contains_key(&exec.pid) {
            return None;
        }
        let joins = |r: &Reported| reported_join(exec, r);
        let i = self
            .reported
            .iter()
            .rposition(|r| joins(r).is_some_and(|j| j.is_some()))
            .or_else(|| self.reported.iter().rposition(|r| joins(r).is_some()))?;
        let j = joins(&self.reported[i]).flatten();
        let r = &mut self.reported[i];
        let before = r.audit.bytes();
        r.audit.add(exec, j);
        self.reported_bytes = (self.reported_bytes + r.audit.bytes()).saturating_sub(before);
        if j.is_none() {
            return Some(None);
        }
        let verdict = if r.audit.logged {
            Verdict::Confirmed
        } else {
            Verdict::EbpfOnly("auditd-stopped")
        };
        if verdict == r.verdict || r.verdict == Verdict::Confirmed {
            return Some(None);
        }
        let previous = r.verdict;
        r.verdict = verdict;
        self.counters.verdicts_amended += 1;
        Some(Some(Decided::Amended(Box::new(Amended {
            run_id: r.run_id.clone(),
            pid: r.tgid,
            executable: r
                .execs
                .last()
                .map(|e| e.executable.clone())
                .unwrap_or_default(),
            boot_ns: r.boot_ns,
            previous,
            verdict,
            audit: r.audit.clone(),
        }))))
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

    /// Bytes held by kept audit execs, waiting runs and decided runs.
    pub fn bytes(&self) -> (usize, usize, usize) {
        (self.execs_bytes, self.deciding_bytes, self.reported_bytes)
    }

    /// Attaches to `run` every kept audit record of its process not yet
    /// attached to a run (records of its execs, and of the same process
    /// within its life).
    pub fn attach(&mut self, run: &mut Run, clock: &Clock) {
        let tgid = run.primary().tgid;
        for exec in self
            .execs
            .iter_mut()
            .filter(|e| !e.matched && e.pid == tgid)
        {
            if let Some(j) = run_join(exec, run, clock) {
                exec.matched = true;
                run.audit
                    .get_or_insert_with(AuditMatch::default)
                    .add(exec, j);
            }
        }
    }

    /// A finished run: decided now if it has its record or cannot get one,
    /// else held until its wait is over.
    pub fn on_run(&mut self, mut run: Run, now_wall_ns: u64, clock: &Clock) -> Vec<Decided> {
        self.now = self.now.max(now_wall_ns);
        self.attach(&mut run, clock);
        let exec_ns = wall(&run, clock);
        let state = self.state_at(exec_ns);
        let may_come = state.available && state.enabled && state.rules;
        let deadline = exec_ns.saturating_add(self.wait_ns);
        let joined = run.audit.as_ref().is_some_and(|m| m.joined > 0);
        if joined || !may_come || now_wall_ns >= deadline {
            return vec![self.decide(run, clock)];
        }
        let mut out = Vec::new();
        let size = run_bytes(&run);
        while self.deciding.len() >= MAX_DECIDING
            || (!self.deciding.is_empty() && self.deciding_bytes + size > MAX_DECIDING_BYTES)
        {
            let Some((_, early)) = self.deciding.pop_front() else {
                break;
            };
            self.deciding_bytes = self.deciding_bytes.saturating_sub(run_bytes(&early));
            self.counters.decided_early += 1;
            out.push(self.decide(early, clock));
        }
        self.deciding_bytes += size;
        self.deciding.push_back((deadline, run));
        out
    }

    /// Decides waiting runs whose wait is over, reports audit execs of
    /// installers that no run matched within the wait, and forgets decided
    /// runs past their keep.
    pub fn tick(
        &mut self,
        now_wall_ns: u64,
        clock: &Clock,
        open_tgids: impl Fn(u32) -> bool,
    ) -> Vec<Decided> {
        self.now = self.now.max(now_wall_ns);
        let mut out = Vec::new();
        let mut keep = VecDeque::with_capacity(self.deciding.len());
        let mut due = Vec::new();
        while let Some((deadline, run)) = self.deciding.pop_front() {
            if now_wall_ns >= deadline {
                self.deciding_bytes = self.deciding_bytes.saturating_sub(run_bytes(&run));
                due.push(run);
            } else {
                keep.push_back((deadline, run));
            }
        }
        self.deciding = keep;
        for run in due {
            out.push(self.decide(run, clock));
        }
        for exec in self.execs.iter_mut() {
            let ripe = now_wall_ns >= exec.wall_ns.saturating_add(self.wait_ns);
            if ripe && !exec.matched && exec.installer.is_some() && !open_tgids(exec.pid) {
                // Not a run's, open, waiting or decided: the kernel stream
                // missed it.
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
        while self
            .reported
            .front()
            .is_some_and(|r| now_wall_ns >= r.forget_at)
        {
            self.forget_front();
        }
        out
    }

    /// Decides everything still waiting (at shutdown).
    pub fn drain(&mut self, clock: &Clock) -> Vec<Decided> {
        let runs: Vec<_> = self.deciding.drain(..).collect();
        self.deciding_bytes = 0;
        runs.into_iter()
            .map(|(_, run)| self.decide(run, clock))
            .collect()
    }

    /// Decides a run and remembers it for a late record.
    fn decide(&mut self, run: Run, clock: &Clock) -> Decided {
        let v = self.verdict(&run, clock);
        let execs: Vec<ExecKey> = run.execs.iter().map(|r| ExecKey::of(r, clock)).collect();
        let first_wall = execs.first().map_or(0, |e| e.wall_ns);
        let last_exec = execs.last().map_or(0, |e| e.wall_ns);
        let end_wall = match run.exit {
            Some(e) => wall_of(e.boot_ns, clock),
            None => self.now.max(last_exec),
        };
        let r = Reported {
            run_id: run.id(),
            tgid: run.primary().tgid,
            execs,
            first_wall,
            end_wall,
            boot_ns: run.execs[0].boot_ns,
            verdict: v,
            audit: run.audit.clone().unwrap_or_default(),
            forget_at: self.now.max(end_wall).saturating_add(KEEP_DECIDED_NS),
        };
        let size = r.bytes();
        while self.reported.len() >= MAX_DECIDED
            || (!self.reported.is_empty() && self.reported_bytes + size > MAX_DECIDED_BYTES)
        {
            if !self.forget_front() {
                break;
            }
            self.counters.decided_forgotten += 1;
        }
        self.reported_bytes += size;
        *self.reported_pids.entry(r.tgid).or_default() += 1;
        self.reported.push_back(r);
        Decided::Run(Box::new(run), v)
    }

    /// Forgets the oldest decided run; false when there is none.
    fn forget_front(&mut self) -> bool {
        let Some(r) = self.reported.pop_front() else {
            return false;
        };
        self.reported_bytes = self.reported_bytes.saturating_sub(r.bytes());
        if let Some(n) = self.reported_pids.get_mut(&r.tgid) {
            *n -= 1;
            if *n == 0 {
                self.reported_pids.remove(&r.tgid);
            }
        }
        true
    }

    /// Whether the loaded rules promise a record of one of the run's
    /// execs (its executable, or the script it named).
    fn covered(&self, run: &Run) -> bool {
        let Some(rules) = &self.rules else {
            return false;
        };
        run.execs.iter().any(|rec| {
            let exe = rec
                .executable
                .strip_suffix(DELETED)
                .unwrap_or(&rec.executable);
            let cut = rec.flags & flag::PATH_TRUNCATED != 0;
            (!cut && crate::audit::rules::records_exec_of(rules, exe))
                || (rec.filename.starts_with(b"/")
                    && rec.flags & flag::FILENAME_TRUNCATED == 0
                    && crate::audit::rules::records_exec_of(rules, &rec.filename))
        })
    }

    fn verdict(&mut self, run: &Run, clock: &Clock) -> Verdict {
        let exec_ns = wall(run, clock);
        let state = self.state_at(exec_ns);
        let v = match run.audit.as_ref().filter(|m| m.joined > 0) {
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
            None if self.covered(run) => Verdict::EbpfOnly("audit-record-missing"),
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

fn run_bytes(run: &Run) -> usize {
    run.bytes() + run.audit.as_ref().map_or(0, AuditMatch::bytes)
}

fn wall_of(boot_ns: u64, clock: &Clock) -> u64 {
    clock
        .wall(boot_ns)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The wall-clock time of a run's first exec.
fn wall(run: &Run, clock: &Clock) -> u64 {
    wall_of(run.execs[0].boot_ns, clock)
}

/// Whether an audit exec belongs to the process of `tgid` whose life
/// (as far as we know it) spans `first..=end`; and, if so, how it joins
/// one of its execs (`Some(None)`: of the process, but none of its execs).
fn process_join(
    exec: &AuditExec,
    tgid: u32,
    execs: &[ExecKey],
    first: u64,
    end: Option<u64>,
) -> Option<Option<Join>> {
    if exec.pid != tgid {
        return None;
    }
    let joined = execs.iter().find_map(|k| {
        if k.wall_ns.abs_diff(exec.wall_ns) > MATCH_WINDOW_NS {
            return None;
        }
        join(&exec.files, &exec.exe, k)
    });
    if joined.is_some() {
        return Some(joined);
    }
    let after_start = exec.wall_ns.saturating_add(MATCH_WINDOW_NS) >= first;
    let before_end = end.is_none_or(|e| exec.wall_ns <= e.saturating_add(END_SLACK_NS));
    (after_start && before_end).then_some(None)
}

/// [`process_join`] for a run (open, or ended and waiting).
fn run_join(exec: &AuditExec, run: &Run, clock: &Clock) -> Option<Option<Join>> {
    if exec.pid != run.primary().tgid {
        return None;
    }
    let execs: Vec<ExecKey> = run.execs.iter().map(|r| ExecKey::of(r, clock)).collect();
    let first = execs.first().map_or(0, |e| e.wall_ns);
    let end = run.exit.map(|e| wall_of(e.boot_ns, clock));
    process_join(exec, run.primary().tgid, &execs, first, end)
}

/// [`process_join`] for a decided run.
fn reported_join(exec: &AuditExec, r: &Reported) -> Option<Option<Join>> {
    process_join(exec, r.tgid, &r.execs, r.first_wall, Some(r.end_wall))
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
            files: vec![],
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
                Decided::Amended(a) => a.verdict,
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
        assert!(
            installer_of(
                b"/usr/bin/python3.11",
                &argv(&["python3", "tool.py", "npm", "install", "x"])
            )
            .is_none(),
            "an installer's name among a script's arguments"
        );
        assert!(installer_of(b"/usr/bin/node", &argv(&["node", "-c", "/usr/bin/npm"])).is_none());
    }

    fn key(exe: &str, dev: u32, ino: u64, cut: bool) -> ExecKey {
        ExecKey {
            wall_ns: 0,
            dev,
            ino,
            cut,
            executable: exe.into(),
        }
    }

    #[test]
    fn a_join_is_on_the_inode_first_and_the_path_as_a_fallback() {
        let dpkg = key("/usr/bin/dpkg", 254 << 20, 247_111, false);
        // The identity joins whatever the names say (a chroot, a rename).
        assert_eq!(
            join(&[(254 << 20, 247_111)], b"/elsewhere/dpkg", &dpkg),
            Some(Join::Inode)
        );
        // A script: the kernel's executable is the interpreter, PATH item 1.
        assert_eq!(
            join(&[(254 << 20, 1), (254 << 20, 247_111)], b"/x", &dpkg),
            Some(Join::Inode)
        );
        // st_dev's encoding (0xfe00) is not the kernel's: no inode join.
        assert_eq!(join(&[(0xfe00, 247_111)], b"/x", &dpkg), None);
        assert_eq!(
            join(&[(0xfe00, 247_111)], b"/usr/bin/dpkg", &dpkg),
            Some(Join::Path)
        );
        assert_eq!(join(&[(254 << 20, 5)], b"/usr/bin/rpm", &dpkg), None);
    }

    #[test]
    fn paths_join_across_deleted_chroots_and_cut_walks() {
        // ` (deleted)` on either side or both (memfd, an unlinked file).
        assert!(same_path(
            b"/memfd:x (deleted)",
            b"/memfd:x (deleted)",
            false
        ));
        assert!(same_path(b"/tmp/d/dpkg", b"/tmp/d/dpkg (deleted)", false));
        assert!(same_path(b"/tmp/d/dpkg (deleted)", b"/tmp/d/dpkg", false));
        // A chroot: audit's path from the process's root, the kernel's from
        // the namespace's.
        assert!(same_path(
            b"/usr/bin/dpkg",
            b"/srv/target/usr/bin/dpkg",
            false
        ));
        assert!(!same_path(
            b"/srv/target/usr/bin/dpkg",
            b"/usr/bin/dpkg",
            false
        ));
        assert!(!same_path(
            b"/usr/bin/dpkg",
            b"/srv/target/usr/sbin/dpkg",
            false
        ));
        assert!(!same_path(b"/usr/bin/dpkg", b"/usr/bin/dpkg-deb", false));
        // A walk the kernel cut keeps the leaf side, a long name cut to
        // its slot.
        let deep = b"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/dpkg";
        assert!(same_path(deep, b"/j/k/l/m/n/o/p/q/dpkg", true));
        assert!(same_path(
            b"/opt/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/dpkg",
            b"/opt/aaaa/dpkg",
            true
        ));
        assert!(!same_path(deep, b"/j/k/l/m/n/o/p/q/rpm", true));
        assert!(!same_path(b"", b"/usr/bin/dpkg", false));
        assert!(!same_path(b"/", b"/usr/bin/dpkg", false));
    }

    fn exec_at(pid: u32, exe: &str, wall_ns: u64, serial: u64) -> AuditExec {
        let mut e = exec(pid, exe, wall_ns, true);
        e.serial = serial;
        e
    }

    #[test]
    fn every_record_of_a_run_is_attached_and_none_is_audit_only() {
        // /usr/bin/npm: `env` (filename npm), then `node npm-cli.js`; a
        // rule records every execve, and the kernel passed both.
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let mut npm = run(7, "/usr/bin/env", t);
        npm.execs[0].dev = 254 << 20;
        npm.execs[0].ino = 11;
        let mut node = ExecRecord::sample(7, "/usr/bin/node", t + 1_000_000);
        node.dev = 254 << 20;
        node.ino = 12;
        npm.execs.push(node);
        let mut env = exec_at(7, "/usr/bin/env", w, 100);
        env.files = vec![(254 << 20, 99), (254 << 20, 11)];
        env.installer = None;
        let mut node = exec_at(7, "/usr/bin/node", w + 1_000_000, 101);
        node.argv = vec![b"node".to_vec(), b"/usr/bin/npm".to_vec()];
        node.installer = installer_of(b"/usr/bin/node", &node.argv);
        assert!(node.installer.is_some(), "audit alone would call it npm");
        node.files = vec![(254 << 20, 12)];
        // A third exec of the process the kernel let go (a shim's bash).
        let mut bash = exec_at(7, "/usr/bin/bash", w + 2_000_000, 102);
        bash.installer = installer_of(b"/usr/bin/dpkg", &[]);
        for e in [env, node, bash] {
            assert!(c.on_audit_exec(e, &clock).is_empty());
        }
        let d = c.on_run(npm, w + 5_000_000, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        let Decided::Run(r, _) = &d[0] else {
            panic!("a run")
        };
        let m = r.audit.as_ref().expect("attached");
        assert_eq!((m.serial, m.joined, m.records), (100, 2, 3));
        assert_eq!(m.join, Some("inode"));
        assert_eq!(m.serials, [100, 101, 102]);
        assert!(
            c.tick(w + 10 * WAIT, &clock, |_| false).is_empty(),
            "no audit_only"
        );
        assert_eq!(c.counters.audit_only, 0);
    }

    #[test]
    fn a_late_record_amends_the_decided_run_once() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let mut r = run(7, "/usr/bin/dpkg", t);
        r.execs[0].start_ns = 5;
        assert!(c.on_run(r, w, &clock).is_empty());
        let d = c.tick(w + WAIT, &clock, |_| false);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        // The backlog drains: its record, then a second one of the process.
        let d = c.on_audit_exec(exec_at(7, "/usr/bin/dpkg", w, 200), &clock);
        assert_eq!(d.len(), 1);
        let Decided::Amended(a) = &d[0] else {
            panic!("a correction: {d:?}")
        };
        assert_eq!(a.run_id, "7-5");
        assert_eq!(a.previous, Verdict::EbpfOnly("no-audit-rule"));
        assert_eq!(a.verdict, Verdict::Confirmed);
        assert_eq!(a.audit.serial, 200);
        assert!(c
            .on_audit_exec(exec_at(7, "/usr/bin/dpkg", w + 1000, 201), &clock)
            .is_empty());
        assert!(
            c.tick(w + 10 * WAIT, &clock, |_| false).is_empty(),
            "never an audit_only beside it"
        );
        assert_eq!(c.counters.verdicts_amended, 1);
        assert_eq!(c.counters.audit_only, 0);
        // Past the keep, the run is forgotten (and its memory given back).
        c.tick(w + KEEP_DECIDED_NS + 10 * WAIT, &clock, |_| false);
        assert_eq!(c.bytes(), (0, 0, 0));
        assert!(c.reported_pids.is_empty());
    }

    #[test]
    fn decided_runs_are_bounded_and_forgetting_early_is_counted() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, AuditState { rules: false, ..ON });
        for i in 0..(MAX_DECIDED as u32 + 10) {
            c.on_run(run(1000 + i, "/usr/bin/dpkg", t), w, &clock);
        }
        assert!(c.bytes().2 <= MAX_DECIDED_BYTES);
        assert!(c.reported.len() <= MAX_DECIDED);
        assert_eq!(
            c.counters.decided_forgotten,
            MAX_DECIDED as u64 + 10 - c.reported.len() as u64,
            "every run forgotten early is counted"
        );
        assert!(c.counters.decided_forgotten >= 10);
        assert_eq!(
            c.reported_pids.values().map(|n| *n as usize).sum::<usize>(),
            c.reported.len()
        );
    }

    #[test]
    fn a_rule_that_covers_the_executable_makes_a_missing_record_say_so() {
        use crate::audit::rules::AuditRule;
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        c.set_rules(Arc::new(vec![AuditRule::exec_watch(
            std::path::Path::new("/usr/bin/dpkg"),
            "software-installer",
        )]));
        c.on_run(run(7, "/usr/bin/dpkg", t), w, &clock);
        c.on_run(run(8, "/tmp/mydpkg (deleted)", t), w, &clock);
        let d = c.tick(w + WAIT, &clock, |_| false);
        assert_eq!(
            verdicts(&d),
            [
                Verdict::EbpfOnly("audit-record-missing"),
                Verdict::EbpfOnly("no-audit-rule")
            ]
        );
    }

    #[test]
    fn a_recorded_exec_carries_its_files_in_the_kernels_dev_encoding() {
        // auditd's own log of `dpkg --version` under the seed (dev=fe:00).
        let log = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/audit/auditd-log-seed-rules.log"
        ))
        .expect("fixture");
        let mut a = crate::audit::Assembler::default();
        for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            a.push_log_line(line, 0).expect("a record");
        }
        a.flush_all();
        let exec = a
            .drain_ready()
            .find_map(|e| AuditExec::from_event(&e, true))
            .expect("an exec");
        assert_eq!(exec.exe, b"/usr/bin/dpkg");
        // Item 0 the file named, item 1 its loader; major 0xfe is 254 << 20
        // in the kernel's s_dev, as swmon's eBPF side reads it.
        assert_eq!(exec.files, [(254 << 20, 247_111), (254 << 20, 325_843)]);
        let kernel = key("/srv/chroot/usr/bin/dpkg", 254 << 20, 247_111, false);
        assert_eq!(join(&exec.files, b"/elsewhere", &kernel), Some(Join::Inode));
        let st_dev = key("/srv/x", 0xfe00, 247_111, false);
        assert_eq!(join(&exec.files, b"/elsewhere", &st_dev), None);
    }
}
