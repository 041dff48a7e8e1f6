//! The cross-check: each installer run the kernel stream saw is joined with
//! the audit records of its execs, and each installer exec the audit stream
//! saw with a run, to say whether the host's audit trail has it.
//!
//! - `confirmed`: every exec of the run has its own audit record (or
//!   continues one that has: see below), each reached us while an audit
//!   daemon was registered to write it to the trail.
//! - `ebpf_only`: an exec of the run has no record, or a record came while
//!   no daemon was there: the run slipped past the audit trail. `reason`
//!   says why, from the audit stream's health at that exec:
//!   `audit-unavailable`, `audit-disabled`, `audit-records-lost` (audit
//!   lost records between the run's start and its decision),
//!   `auditd-stopped`; then what the loaded rules promise for the execs
//!   without a record ([`crate::audit::rules::judge_exec`]):
//!   `audit-record-missing` (a rule records it for sure), `audit-rule-unknown`
//!   (a rule may or may not: an exclusion, a `never` rule, a field only the
//!   process answers, a name from another root), else `no-audit-rule`.
//! - `audit_only`: an audit record of an installer exec that joined no exec
//!   of a run by the time the kernel stream got past it (its watermark, see
//!   [`CrossCheck::kernel_watermark`]; at [`AUDIT_ONLY_CAP_NS`] without
//!   one): the kernel stream missed it (also inside a run of the same
//!   process: an installer exec of it the kernel stream did not report).
//!
//! **One exec, one record.** A record confirms only the exec it is of:
//! the same pid (audit's `pid=` is the tgid), agreeing parent, login uid
//! and session where both sides know them, stamped within the run's life
//! (the process's start .. its exit + [`JOIN_SLACK_NS`]) and not after
//! its exec (audit stamps at the syscall's entry; the kernel stream at
//! its end), and the same file: PATH item 0, the file exec named, by
//! (dev, inode) against the kernel's executable; for a script (item 0 the
//! script, item 1 its interpreter) the interpreter's identity against the
//! kernel's executable and item 0's name against the name the kernel saw
//! exec given (`script`); the path (`exe=` against the kernel's walk,
//! [`same_path`]) only when the record has no PATH identity. Each exec
//! takes at most one record. An exec without its own record is still
//! covered by an earlier one of the same run that has its own when it
//! continues it: the recorded one is a dispatcher (`env`, a `#!` script),
//! the same manager runs with the same installer arguments, and the
//! continuing exec's file is root's and writable by nobody else
//! (`/usr/bin/npm`, a `#!/usr/bin/env node` script: env's exec is
//! recorded, node's continues it; a pyenv shim and the pip it runs;
//! listed in `continued`). Any other exec without a record (a shell that
//! execs a copy of dpkg, a `node` of the user's early in `PATH`) keeps the
//! run from `confirmed`.
//!
//! **One run, one decision.** A run is decided once and reported once. A
//! record of the same process within the run's life that is of no exec of
//! it is attached (`swmon.audit.serials`) when it is no installer's (a
//! shell the filter let go); an installer's is an `audit_only`. A record
//! that arrives after its run was decided (a backlog longer than the
//! wait) is attached to the decided run, which is remembered for
//! [`KEEP_DECIDED_NS`] (at most [`MAX_DECIDED`] runs and
//! [`MAX_DECIDED_BYTES`], the oldest forgotten first, counted in
//! `decided_forgotten`); if it changes the verdict, the change is reported
//! as a `verdict-amended` event of the same run id with the old and new
//! verdict ([`Decided::Amended`]), never as an opposite `audit_only`.
//!
//! **Loss.** Audit losses (the kernel's `lost`, serial gaps, overruns of
//! our socket, unparsable records, execs dropped at swmon's own audit
//! queue) are kept with the boot time the audit reader saw them. A run's
//! window runs from its first exec ([`MATCH_WINDOW_NS`] before) to its
//! decision: an `ebpf_only` with a loss in it says `audit-records-lost`;
//! every verdict counts the records lost in it (`swmon.audit.lost`). A
//! `confirmed` keeps its verdict (each of its execs has its record in
//! hand) and carries the count; a loss told after it was decided writes
//! no correction (a received record cannot be lost afterwards).
//!
//! **Clocks.** Deadlines and keep-times are on the boot-time clock
//! (monotonic, counting suspend), never the wall clock, which may be
//! stepped; only the join compares audit's wall-clock stamps with the
//! kernel's boot times converted at their own moment ([`Clock`]).
//!
//! A run without a record is decided after a bounded wait (default 2 s
//! after its last exec), since the record may still be in flight. Memory
//! is bounded: audit execs are kept [`KEEP_NS`], at most
//! [`MAX_AUDIT_EXECS`] and [`MAX_AUDIT_EXEC_BYTES`] (the oldest dropped
//! first, counted), each with its argv cut to [`ARGV_MAX`] bytes
//! (flagged, with the real size); runs waiting for a decision at most
//! [`MAX_DECIDING`] and [`MAX_DECIDING_BYTES`] (the oldest decided early,
//! counted). Audit execs, waiting runs and decided runs are indexed by
//! pid.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
};

use sha2::{Digest, Sha256};
use swmon_common::flag;

use super::Run;
use crate::{
    audit::{
        rules::{judge_exec, ExecFile, LoadedRules, Promise},
        AuditEvent,
    },
    catalogue::{self, Role},
    ebpf::{decode::ExecRecord, filter::basename},
    event::Clock,
};

/// Before a run's first exec, how far back audit losses count for it; and
/// how far before it a record may be stamped when the process's start is
/// unknown.
pub const MATCH_WINDOW_NS: u64 = 2_000_000_000;
/// How far a record's stamp may stray past the exec it is of, or past the
/// process's exit, or before the process's start (audit stamps with the
/// coarse wall clock in ms; the clocks' conversion errs).
pub const JOIN_SLACK_NS: u64 = 50_000_000;

/// How far before a state writer's start its exec's record may be
/// stamped: audit stamps with the coarse clock (a tick behind, 4 ms at
/// `HZ=250`) cut to the millisecond, and the clocks' conversion errs; no
/// more (a wider window lets a process that had the pid just before the
/// writer confirm it).
pub const WRITER_START_SLACK_NS: u64 = 10_000_000;
/// How long an installer's record that joined no exec waits for the
/// kernel stream's watermark before it is `audit_only` anyway (a stuck or
/// absent kernel stream; counted in `audit_only_capped`).
pub const AUDIT_ONLY_CAP_NS: u64 = 10_000_000_000;
/// How long audit execs are kept for a run to match (from their arrival).
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
/// An audit exec's argv is kept up to this many bytes, like the kernel
/// side's.
pub const ARGV_MAX: usize = swmon_common::ARGV_MAX;
/// Most audit losses remembered (each with its time and count).
const MAX_LOSSES: usize = 1024;

/// `AUDIT_ARCH_X86_64` and `AUDIT_ARCH_I386`, and their exec calls.
const ARCH_X86_64: u32 = 0xc000_003e;
const ARCH_I386: u32 = 0x4000_0003;
const EXECS_X86_64: [u32; 2] = [59, 322];
const EXECS_I386: [u32; 2] = [11, 358];
const DELETED: &[u8] = b" (deleted)";

/// What a run learned from the audit records attached to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditMatch {
    /// The first record joined with one of the run's execs (0: none).
    pub serial: u64,
    pub key: Option<String>,
    /// How that record joined: `inode`, `script` or `path`.
    pub join: Option<&'static str>,
    /// Records joined with one of the run's execs.
    pub joined: u32,
    /// Every joined record arrived while an audit daemon was registered.
    pub logged: bool,
    /// The execs with their own record: (the exec's boot time, the
    /// record's serial, logged).
    pub own: Vec<(u64, u64, bool)>,
    /// Every record attached (joined or of the same process), at most
    /// [`MAX_SERIALS`].
    pub serials: Vec<u64>,
    /// All records attached.
    pub records: u32,
    /// The executables of the execs neither recorded nor continuing a
    /// recorded one (set at the decision).
    pub unrecorded: Vec<Vec<u8>>,
    /// The executables of the execs without a record of their own that
    /// continue a recorded one (set at the decision).
    pub continued: Vec<Vec<u8>>,
    /// Audit records lost (as the loss counters count them) between the
    /// run's start and its decision.
    pub lost: u64,
    /// Execs trimmed from the run's chain without a record of their own
    /// (set by the correlator): the run cannot be `confirmed`.
    pub trimmed_unrecorded: u32,
}

impl AuditMatch {
    /// Adds a record: `own` when it joined the exec of that boot time.
    /// A record already attached as the process's (`held`) that now
    /// joins an exec is counted once.
    fn add(&mut self, exec: &AuditExec, own: Option<(u64, Join)>) {
        if !exec.held {
            self.records = self.records.saturating_add(1);
        }
        if self.serials.len() < MAX_SERIALS && !self.serials.contains(&exec.serial) {
            self.serials.push(exec.serial);
        }
        if let Some((boot_ns, j)) = own {
            if self.joined == 0 {
                self.serial = exec.serial;
                self.key = exec.key.clone();
                self.join = Some(j.as_str());
                self.logged = true;
            }
            self.joined = self.joined.saturating_add(1);
            self.logged &= exec.logged;
            self.own.push((boot_ns, exec.serial, exec.logged));
        }
    }

    pub(crate) fn has_own(&self, boot_ns: u64) -> bool {
        self.own.iter().any(|(b, _, _)| *b == boot_ns)
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<AuditMatch>()
            + self.serials.len() * 8
            + self.own.len() * 24
            + self
                .unrecorded
                .iter()
                .chain(&self.continued)
                .map(|e| super::vec_cost(e.len()))
                .sum::<usize>()
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
    /// PATH item 0 (the file exec named) is the kernel's executable.
    Inode,
    /// A script: PATH item 1 (its interpreter) is the kernel's executable
    /// and item 0's name the one exec was given.
    Script,
    /// By the executable's path ([`same_path`]): the record has no PATH
    /// identity.
    Path,
}

impl Join {
    pub fn as_str(self) -> &'static str {
        match self {
            Join::Inode => "inode",
            Join::Script => "script",
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
    pub ses: Option<u32>,
    pub exe: Vec<u8>,
    /// PATH item 0, the file exec named: its (dev, inode) in the kernel's
    /// `dev` encoding (see [`crate::audit::views::kernel_dev`]) and its
    /// name as exec was given it.
    pub named: Option<(u32, u64)>,
    pub name: Option<Vec<u8>>,
    /// PATH item 1: a script's interpreter, an ELF's loader.
    pub interpreter: Option<(u32, u64)>,
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
    /// Taken by an exec it joined, or decided (`audit_only`, or attached
    /// to a run that can have no more execs).
    pub(crate) matched: bool,
    /// Attached to an open run as its process's record, of none of its
    /// execs yet: an exec of the run that comes later (a copy the facts
    /// stage was still hashing) may still join it.
    pub(crate) held: bool,
    /// When it reached the cross-check (boot ns).
    pub(crate) arrived_ns: u64,
}

impl AuditExec {
    /// The exec in an assembled audit event, if it is a successful execve.
    pub fn from_event(e: &AuditEvent, logged: bool) -> Option<AuditExec> {
        let sc = e.syscall()?;
        let nr = sc.syscall()?;
        let execs = match sc.arch()? {
            ARCH_X86_64 => EXECS_X86_64,
            ARCH_I386 => EXECS_I386,
            // Another arch's numbers mean other calls ([`foreign_arch`]).
            _ => return None,
        };
        if !execs.contains(&nr) || sc.success() != Some(true) {
            return None;
        }
        let text = |t: Option<crate::audit::Text<'_>>| {
            t.and_then(|t| t.lossless_bytes().map(<[u8]>::to_vec))
        };
        let exe = text(sc.exe()).unwrap_or_default();
        let mut argv = e.argv().map(|a| a.args).unwrap_or_default();
        let item = |n: u32| e.paths().find(|p| p.item() == Some(n));
        let name = item(0).and_then(|p| text(p.name()));
        // Which installer is judged on the whole argv; what is kept is cut.
        let installer = installer_of(&exe, name.as_deref(), &argv);
        let real = cap_argv(&mut argv, ARGV_MAX);
        let key = e.keys().first().map(|k| crate::event::lossless(k));
        Some(AuditExec {
            serial: e.serial,
            wall_ns: e.timestamp.as_nanos(),
            pid: sc.pid()?,
            ppid: sc.ppid().unwrap_or(0),
            uid: sc.uid(),
            auid: sc.auid(),
            ses: sc.ses(),
            exe,
            named: item(0).and_then(|p| p.file_id()),
            name,
            interpreter: item(1).and_then(|p| p.file_id()),
            argv_truncated: real.is_some(),
            argv_bytes: real.unwrap_or_else(|| argv.iter().map(|a| a.len() + 1).sum()),
            argv,
            cwd: text(e.cwd()),
            key,
            logged,
            installer,
            matched: false,
            held: false,
            arrived_ns: 0,
        })
    }

    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        super::list_cost(&self.argv)
            + self.exe.len()
            + self.name.as_ref().map_or(0, Vec::len)
            + self.cwd.as_ref().map_or(0, Vec::len)
            + self.key.as_ref().map_or(0, String::len)
            + std::mem::size_of::<AuditExec>()
    }
}

/// A syscall record of an arch other than x86_64 and i386 (whose call
/// numbers swmon does not know): ignored, the audit reader counts it
/// (`audit_foreign_arch`).
pub fn foreign_arch(e: &AuditEvent) -> bool {
    e.syscall()
        .and_then(|sc| sc.arch())
        .is_some_and(|a| a != ARCH_X86_64 && a != ARCH_I386)
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

/// The installer an audit exec ran: by the executable's name or the name
/// of the file exec named (PATH item 0: a script), else the program an
/// interpreter or the loader runs (its script, `-m pip`, the loader's
/// program: [`crate::classify::command::through`], the same reading as
/// the kernel side's; an installer's name among a script's own arguments
/// is none).
pub fn installer_of(exe: &[u8], named: Option<&[u8]>, argv: &[Vec<u8>]) -> Option<u16> {
    let installer = |name: &[u8]| match catalogue::lookup(name) {
        Some((id, p)) if matches!(p.role, Role::Installer(_)) => Some(id),
        _ => None,
    };
    let exe = exe.strip_suffix(DELETED).unwrap_or(exe);
    if let Some(id) =
        installer(basename(exe)).or_else(|| named.and_then(|n| installer(basename(n))))
    {
        return Some(id);
    }
    let role = catalogue::lookup(basename(exe)).map(|(_, p)| p.role)?;
    let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    crate::classify::command::through(role, &args).map(|t| t.installer_id)
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
    /// `audit_only` declared at [`AUDIT_ONLY_CAP_NS`] before the kernel
    /// stream's watermark passed the record (its exec may yet come).
    pub audit_only_capped: u64,
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
    AuditOnly(Box<AuditExec>),
    Amended(Box<Amended>),
}

/// What a join and a verdict need of one kernel exec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecKey {
    pub boot_ns: u64,
    pub wall_ns: u64,
    pub dev: u32,
    pub ino: u64,
    /// The kernel's path walk was cut ([`flag::PATH_TRUNCATED`]).
    pub cut: bool,
    pub executable: Vec<u8>,
    /// The name exec was given (relative to the process's root and cwd).
    pub filename: Vec<u8>,
    pub filename_cut: bool,
    /// The exec named a script (the kernel's executable is its
    /// interpreter): argv holds the name after the interpreter.
    pub script: bool,
    pub ppid: u32,
    /// `u32::MAX`: unset or unknown (not compared).
    pub auid: u32,
    pub ses: u32,
    /// The process's names are from swmon's root: the name exec was given
    /// is the kernel's walk (or a script's `#!` interpreter is), and no
    /// container holds it.
    pub same_root: bool,
    /// The manager and a digest of its arguments, when the exec runs an
    /// installer: an exec without its own record continues an earlier one
    /// with the same lineage (see [`cover`]).
    pub lineage: Option<(&'static str, [u8; 16])>,
    /// The file exec'd is owned by root and writable by nobody else (the
    /// facts stage's stat, checked against the kernel's dev and inode).
    pub root_owned: bool,
    /// The exec runs `env` or a script (`#!`): a dispatcher, whose
    /// recorded exec a later exec of the same lineage may continue.
    pub dispatcher: bool,
}

impl ExecKey {
    pub fn of(
        rec: &ExecRecord,
        clock: &Clock,
        in_container: bool,
        owner: Option<(u32, u32)>,
    ) -> ExecKey {
        let exe = rec
            .executable
            .strip_suffix(DELETED)
            .unwrap_or(&rec.executable);
        let cut = rec.flags & flag::PATH_TRUNCATED != 0;
        let filename_cut = rec.flags & flag::FILENAME_TRUNCATED != 0;
        let name = rec.filename.strip_suffix(DELETED).unwrap_or(&rec.filename);
        // binfmt_script's argv: the interpreter (as `#!` names it), its
        // optional argument, then the script as exec was given it.
        let script = rec.argv.first().is_some_and(|a| a != name)
            && rec.argv.iter().skip(1).take(2).any(|a| a == name);
        let same_root = !in_container
            && !cut
            && exe.starts_with(b"/")
            && if script {
                rec.argv.first().is_some_and(|a| a == exe)
            } else {
                name == exe
            };
        ExecKey {
            boot_ns: rec.boot_ns,
            wall_ns: wall_of(rec.boot_ns, clock),
            dev: rec.dev,
            ino: rec.ino,
            cut,
            executable: rec.executable.clone(),
            filename: rec.filename.clone(),
            filename_cut,
            script,
            ppid: rec.ppid,
            auid: rec.loginuid,
            ses: rec.sessionid,
            same_root,
            lineage: lineage(rec),
            root_owned: owner.is_some_and(|(uid, mode)| uid == 0 && mode & 0o022 == 0),
            dispatcher: script || basename(exe) == b"env",
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<ExecKey>()
            + super::vec_cost(self.executable.len())
            + super::vec_cost(self.filename.len())
    }

    /// What the rule judge is asked about this exec.
    fn file(&self) -> ExecFile<'_> {
        let exe = self
            .executable
            .strip_suffix(DELETED)
            .unwrap_or(&self.executable);
        let script = (self.script && self.filename.starts_with(b"/") && !self.filename_cut)
            .then_some(self.filename.as_slice());
        ExecFile {
            path: (!self.cut && exe.starts_with(b"/")).then_some(exe),
            id: (self.dev, self.ino),
            script,
            same_root: self.same_root,
        }
    }
}

/// The manager an exec runs and a digest of the installer's arguments.
fn lineage(rec: &ExecRecord) -> Option<(&'static str, [u8; 16])> {
    let id = crate::enrich::identify(rec)?;
    let manager = match catalogue::program(id.installer_id)?.role {
        Role::Installer(m) => m.as_str(),
        _ => return None,
    };
    let reading = crate::enrich::installer_args(rec, id.via);
    let args = reading.args(&rec.argv);
    let mut h = Sha256::new();
    h.update(manager.as_bytes());
    for a in args.iter() {
        h.update((a.len() as u64).to_le_bytes());
        h.update(a);
    }
    let mut out = [0; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    Some((manager, out))
}

/// How an audit exec joins a kernel exec, time and process aside: PATH
/// item 0 by (dev, inode); a script by its interpreter's identity and
/// item 0's name; by path only when the record has no PATH identity (or
/// the kernel read no inode).
pub fn join(rec: &AuditExec, k: &ExecKey) -> Option<Join> {
    if k.ino != 0 {
        if rec.named == Some((k.dev, k.ino)) {
            return Some(Join::Inode);
        }
        let named_as =
            |n: &[u8]| n == k.filename.as_slice() || (k.filename_cut && n.starts_with(&k.filename));
        if rec.interpreter == Some((k.dev, k.ino))
            && rec.name.as_deref().is_some_and(named_as)
            && !k.filename.is_empty()
        {
            return Some(Join::Script);
        }
    }
    let identified = rec.named.is_some() || rec.interpreter.is_some();
    if identified && k.ino != 0 {
        return None;
    }
    // A record with neither (a bare SYSCALL): pid and time only, as ever.
    if (rec.exe.is_empty() && rec.name.is_none()) || same_path(&rec.exe, &k.executable, k.cut) {
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

/// A process's life as a join bounds it (wall ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Life {
    /// The process's start (its fork), when the kernel read it.
    start: Option<u64>,
    /// Its exit, once known.
    end: Option<u64>,
}

/// Where a record fits a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// It is the record of the exec at this index.
    Exec(usize, Join),
    /// Of the process within the run's life, of none of its execs.
    Process,
}

fn ids_agree(rec: &AuditExec, k: &ExecKey) -> bool {
    let agree =
        |kernel: u32, audit: Option<u32>| kernel == u32::MAX || audit.is_none_or(|a| a == kernel);
    (k.ppid == 0 || rec.ppid == 0 || rec.ppid == k.ppid)
        && agree(k.auid, rec.auid)
        && agree(k.ses, rec.ses)
}

/// Where `rec` fits the run of `tgid` with `keys` (oldest first), `own`
/// telling the execs that already have their record.
fn fit(
    rec: &AuditExec,
    tgid: u32,
    keys: &[ExecKey],
    life: Life,
    own: impl Fn(u64) -> bool,
) -> Option<Fit> {
    let first = keys.first()?;
    if rec.pid != tgid {
        return None;
    }
    let lo = life
        .start
        .map_or(first.wall_ns.saturating_sub(MATCH_WINDOW_NS), |s| {
            s.saturating_sub(JOIN_SLACK_NS)
        });
    if rec.wall_ns < lo
        || life
            .end
            .is_some_and(|e| rec.wall_ns > e.saturating_add(JOIN_SLACK_NS))
    {
        return None;
    }
    for (i, k) in keys.iter().enumerate() {
        // Stamped at the syscall's entry: not after its exec, and not
        // before the exec ahead of it was done.
        if rec.wall_ns > k.wall_ns.saturating_add(JOIN_SLACK_NS) {
            continue;
        }
        if i > 0 && rec.wall_ns.saturating_add(JOIN_SLACK_NS) < keys[i - 1].wall_ns {
            break;
        }
        if own(k.boot_ns) || !ids_agree(rec, k) {
            continue;
        }
        if let Some(j) = join(rec, k) {
            return Some(Fit::Exec(i, j));
        }
    }
    let near = keys
        .iter()
        .find(|k| rec.wall_ns <= k.wall_ns.saturating_add(JOIN_SLACK_NS))
        .unwrap_or(&keys[keys.len() - 1]);
    ids_agree(rec, near).then_some(Fit::Process)
}

/// How a run's execs stand: each with its own record, continuing one
/// (`continued`, indices), or neither (`missing`, indices).
struct Cover {
    missing: Vec<usize>,
    continued: Vec<usize>,
    /// Every record relied on arrived while a daemon was registered.
    logged: bool,
}

/// An exec without its own record continues an earlier exec of the run
/// only when that one has its own record, is a dispatcher (`env`, a `#!`
/// script: `/usr/bin/npm`'s env then node, a pyenv shim then the pip it
/// runs), runs the same manager with the same installer arguments, and
/// the continuing exec's file is root's and writable by nobody else (a
/// `node` early in `PATH`, a user's copy of python, continue nothing).
fn cover(keys: &[ExecKey], m: &AuditMatch) -> Cover {
    let mut missing = Vec::new();
    let mut continued = Vec::new();
    let mut logged = true;
    for (i, k) in keys.iter().enumerate() {
        if let Some((_, _, l)) = m.own.iter().find(|(b, _, _)| *b == k.boot_ns) {
            logged &= *l;
            continue;
        }
        let continues = k.lineage.filter(|_| k.root_owned).and_then(|lin| {
            keys[..i].iter().rev().find_map(|e| {
                if e.lineage != Some(lin) || !e.dispatcher {
                    return None;
                }
                m.own
                    .iter()
                    .find(|(b, _, _)| *b == e.boot_ns)
                    .map(|(_, _, l)| *l)
            })
        });
        match continues {
            Some(l) => {
                logged &= l;
                continued.push(i);
            }
            None => missing.push(i),
        }
    }
    Cover {
        missing,
        continued,
        logged,
    }
}

/// A run waiting for its records.
#[derive(Debug)]
struct Waiting {
    /// Boot ns.
    deadline: u64,
    run: Run,
    keys: Vec<ExecKey>,
    life: Life,
}

/// A run already reported, kept for a late record.
#[derive(Clone, Debug)]
struct Reported {
    run_id: String,
    tgid: u32,
    keys: Vec<ExecKey>,
    life: Life,
    /// Boot ns of its first exec.
    boot_ns: u64,
    /// When it was decided (boot ns): the end of its loss window.
    decided: u64,
    /// Execs were trimmed from its chain.
    trimmed: bool,
    verdict: Verdict,
    audit: AuditMatch,
    /// Boot ns.
    forget_at: u64,
}

impl Reported {
    fn bytes(&self) -> usize {
        std::mem::size_of::<Reported>()
            + self.run_id.len()
            + self.keys.iter().map(ExecKey::bytes).sum::<usize>()
            + self.audit.bytes()
    }
}

/// Items of a map kept oldest first, indexed by pid.
#[derive(Debug)]
struct ByPid<T> {
    items: BTreeMap<u64, T>,
    pids: HashMap<u32, Vec<u64>>,
    next: u64,
}

impl<T> Default for ByPid<T> {
    fn default() -> Self {
        ByPid {
            items: BTreeMap::new(),
            pids: HashMap::new(),
            next: 0,
        }
    }
}

impl<T> ByPid<T> {
    fn insert(&mut self, pid: u32, item: T) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.items.insert(seq, item);
        self.pids.entry(pid).or_default().push(seq);
        seq
    }

    fn remove(&mut self, pid: u32, seq: u64) -> Option<T> {
        let item = self.items.remove(&seq)?;
        if let Some(v) = self.pids.get_mut(&pid) {
            v.retain(|s| *s != seq);
            if v.is_empty() {
                self.pids.remove(&pid);
            }
        }
        Some(item)
    }

    /// The items of a pid, newest first.
    fn of(&self, pid: u32) -> Vec<u64> {
        self.pids
            .get(&pid)
            .map(|v| v.iter().rev().copied().collect())
            .unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}

pub struct CrossCheck {
    wait_ns: u64,
    /// Audit execs, oldest first; `execs_first` is the front's sequence.
    execs: VecDeque<AuditExec>,
    execs_first: u64,
    /// Each pid's audit execs (sequences), oldest first: they leave in
    /// that order ([`Self::pop_exec`] takes the front).
    execs_pids: HashMap<u32, VecDeque<u64>>,
    execs_bytes: usize,
    deciding: ByPid<Waiting>,
    deciding_bytes: usize,
    /// Decided runs, oldest first.
    reported: ByPid<Reported>,
    reported_bytes: usize,
    /// Health transitions: (boot ns, state from then on), oldest first.
    timeline: VecDeque<(u64, AuditState)>,
    /// Audit losses: (boot ns, records), oldest first.
    losses: VecDeque<(u64, u64)>,
    /// The loaded rules as last listed (by the rules stage), in order.
    rules: Option<Arc<LoadedRules>>,
    /// The latest boot time seen.
    now: u64,
    /// The kernel stream's watermark (boot ns): every kernel record
    /// submitted before it has reached decide.
    watermark: Option<u64>,
    /// Every audit exec that arrived after this (boot ns) is still kept:
    /// when the cross-check started, then the last one let go.
    kept_since: u64,
    pub counters: VerdictCounters,
}

fn run_bytes(run: &Run) -> usize {
    run.bytes() + run.audit.as_ref().map_or(0, AuditMatch::bytes)
}

fn waiting_bytes(w: &Waiting) -> usize {
    run_bytes(&w.run) + w.keys.iter().map(ExecKey::bytes).sum::<usize>()
}

fn wall_of(boot_ns: u64, clock: &Clock) -> u64 {
    clock
        .wall(boot_ns)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The join keys of a run's execs, kept on the run ([`Run::keys`]) and
/// brought up to date here: a key is made once per exec (its lineage
/// reads argv and hashes the installer's arguments), not at every record
/// offered to the run. A key stays while its exec is at the same place in
/// the chain with the same owner and the run's container placement is
/// unchanged (a later exec's facts may change it); its wall time is taken
/// again each time, since the boot-to-wall clock is re-measured.
fn keys_of<'a>(run: &'a mut Run, clock: &Clock) -> &'a [ExecKey] {
    let container = run.facts.placement.container_id.is_some();
    let cache = &mut run.keys;
    if cache.container != container {
        cache.keys.clear();
        cache.owners.clear();
        cache.container = container;
    }
    let owner = |i: usize| run.owners.get(i).copied().flatten();
    let same = cache
        .keys
        .iter()
        .zip(&cache.owners)
        .zip(&run.execs)
        .enumerate()
        .take_while(|(i, ((k, o), r))| {
            k.boot_ns == r.boot_ns && k.dev == r.dev && k.ino == r.ino && **o == owner(*i)
        })
        .count();
    cache.keys.truncate(same);
    cache.owners.truncate(same);
    for k in &mut cache.keys {
        k.wall_ns = wall_of(k.boot_ns, clock);
    }
    for (i, r) in run.execs.iter().enumerate().skip(same) {
        cache.keys.push(ExecKey::of(r, clock, container, owner(i)));
        cache.owners.push(owner(i));
    }
    &cache.keys
}

/// [`ExecKey`]s of a run's execs, made once per exec (see [`keys_of`]).
#[derive(Clone, Debug, Default)]
pub struct KeyCache {
    keys: Vec<ExecKey>,
    /// The owner each key was made with (`Run::owners`).
    owners: Vec<Option<(u32, u32)>>,
    /// The run's container placement the keys were made with.
    container: bool,
}

impl KeyCache {
    pub fn bytes(&self) -> usize {
        self.keys.iter().map(ExecKey::bytes).sum::<usize>()
            + super::vec_cost(self.owners.len() * std::mem::size_of::<Option<(u32, u32)>>())
    }
}

fn life_of(run: &Run, clock: &Clock) -> Life {
    let start = run.execs[0].start_ns;
    Life {
        start: (start != 0).then(|| wall_of(start, clock)),
        end: run.exit.map(|e| wall_of(e.boot_ns, clock)),
    }
}

impl CrossCheck {
    pub fn new(wait_ns: u64, initial: AuditState) -> CrossCheck {
        CrossCheck {
            wait_ns,
            execs: VecDeque::new(),
            execs_first: 0,
            execs_pids: HashMap::new(),
            execs_bytes: 0,
            deciding: ByPid::default(),
            deciding_bytes: 0,
            reported: ByPid::default(),
            reported_bytes: 0,
            timeline: VecDeque::from([(0, initial)]),
            losses: VecDeque::new(),
            rules: None,
            now: 0,
            watermark: None,
            kept_since: crate::event::boot_ns_now(),
            counters: VerdictCounters::default(),
        }
    }

    /// The audit state from `boot_ns` on (when the audit reader saw the
    /// change).
    pub fn set_state(&mut self, boot_ns: u64, state: AuditState) {
        let Some(&(last, now)) = self.timeline.back() else {
            self.timeline.push_back((boot_ns, state));
            return;
        };
        if now == state {
            return;
        }
        // Seen by two stages, stamps may cross: the timeline stays in order.
        self.timeline.push_back((boot_ns.max(last), state));
        while self.timeline.len() > 1024 {
            self.timeline.pop_front();
        }
    }

    /// Every kernel record submitted before `boot_ns` has reached decide
    /// (the kernel reader's watermark, passed on in order by the facts
    /// stage).
    pub fn kernel_watermark(&mut self, boot_ns: u64) {
        self.watermark = Some(self.watermark.map_or(boot_ns, |w| w.max(boot_ns)));
    }

    /// The loaded rule list (a fresh listing replaces the last).
    pub fn set_rules(&mut self, rules: Arc<LoadedRules>) {
        self.rules = Some(rules);
    }

    pub fn state(&self) -> AuditState {
        self.timeline.back().map(|(_, s)| *s).unwrap_or_default()
    }

    fn state_at(&self, boot_ns: u64) -> AuditState {
        self.timeline
            .iter()
            .rev()
            .find(|(t, _)| *t <= boot_ns)
            .or(self.timeline.front())
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// Audit lost `count` records, as the audit reader saw at `boot_ns`.
    /// A decided run whose window (its first exec, [`MATCH_WINDOW_NS`]
    /// before, to its decision) holds it counts it, and gets a
    /// `verdict-amended` when that changes its verdict (an `ebpf_only`
    /// now `audit-records-lost`; a `confirmed` stays).
    pub fn note_loss(&mut self, boot_ns: u64, count: u64) -> Vec<Decided> {
        self.losses.push_back((boot_ns, count.max(1)));
        while self.losses.len() > MAX_LOSSES {
            self.losses.pop_front();
        }
        // Decided in order: only the newest can have decided after it.
        let seqs: Vec<u64> = self
            .reported
            .items
            .iter()
            .rev()
            .take_while(|(_, r)| r.decided >= boot_ns)
            .filter(|(_, r)| r.boot_ns.saturating_sub(MATCH_WINDOW_NS) <= boot_ns)
            .map(|(seq, _)| *seq)
            .collect();
        let mut out = Vec::new();
        for seq in seqs {
            let Some(r) = self.reported.items.get_mut(&seq) else {
                continue;
            };
            let before = r.bytes();
            let (keys, decided) = (std::mem::take(&mut r.keys), r.decided);
            let mut m = std::mem::take(&mut r.audit);
            let v = self.verdict_of(&keys, &mut m, decided);
            let Some(r) = self.reported.items.get_mut(&seq) else {
                continue;
            };
            r.keys = keys;
            r.audit = m;
            self.reported_bytes = (self.reported_bytes + r.bytes()).saturating_sub(before);
            if v == r.verdict || r.verdict == Verdict::Confirmed {
                continue;
            }
            let previous = r.verdict;
            r.verdict = v;
            self.counters.verdicts_amended += 1;
            out.push(Decided::Amended(Box::new(Amended {
                run_id: r.run_id.clone(),
                pid: r.tgid,
                executable: r
                    .keys
                    .last()
                    .map(|e| e.executable.clone())
                    .unwrap_or_default(),
                boot_ns: r.boot_ns,
                previous,
                verdict: v,
                audit: r.audit.clone(),
            })));
        }
        out
    }

    /// Records lost within `from..=until` (boot ns).
    fn lost_in(&self, from: u64, until: u64) -> u64 {
        self.losses
            .iter()
            .filter(|(t, _)| (from..=until).contains(t))
            .map(|(_, n)| *n)
            .fold(0u64, u64::saturating_add)
    }

    fn exec_at(&mut self, seq: u64) -> Option<&mut AuditExec> {
        let i = usize::try_from(seq.checked_sub(self.execs_first)?).ok()?;
        self.execs.get_mut(i)
    }

    /// Adds an audit exec that reached decide at `now_boot_ns`; returns
    /// what it decides: a waiting run it completes (decided now), or a
    /// correction of a decided run. The caller then offers it to its
    /// process's open run with [`Self::attach`].
    pub fn on_audit_exec(
        &mut self,
        mut exec: AuditExec,
        now_boot_ns: u64,
        clock: &Clock,
    ) -> Vec<Decided> {
        self.counters.audit_execs += 1;
        self.now = self.now.max(now_boot_ns);
        exec.arrived_ns = now_boot_ns;
        let mut decided = Vec::new();
        if let Some(d) = self.offer_waiting(&mut exec, clock) {
            decided.push(d);
        } else if !exec.matched {
            decided.extend(self.amend(&mut exec));
        }
        self.push_exec(exec);
        decided
    }

    /// Offers a record to the waiting runs of its process: attached to the
    /// one it fits; the run is decided now when every exec is accounted
    /// for.
    fn offer_waiting(&mut self, exec: &mut AuditExec, clock: &Clock) -> Option<Decided> {
        let mut process = None;
        for seq in self.deciding.of(exec.pid) {
            let w = self.deciding.items.get(&seq)?;
            let m = w.run.audit.as_ref();
            let f = fit(exec, exec.pid, &w.keys, w.life, |b| {
                m.is_some_and(|m| m.has_own(b))
            });
            match f {
                Some(Fit::Exec(i, j)) => {
                    exec.matched = true;
                    let w = self.deciding.items.get_mut(&seq)?;
                    let before = run_bytes(&w.run);
                    let boot = w.keys[i].boot_ns;
                    w.run
                        .audit
                        .get_or_insert_with(AuditMatch::default)
                        .add(exec, Some((boot, j)));
                    self.deciding_bytes =
                        (self.deciding_bytes + run_bytes(&w.run)).saturating_sub(before);
                    let done = w
                        .run
                        .audit
                        .as_ref()
                        .is_some_and(|m| cover(&w.keys, m).missing.is_empty());
                    if done {
                        let w = self.deciding.remove(exec.pid, seq)?;
                        self.deciding_bytes = self.deciding_bytes.saturating_sub(waiting_bytes(&w));
                        return Some(self.decide(w, clock));
                    }
                    return None;
                }
                Some(Fit::Process) if process.is_none() => process = Some(seq),
                _ => {}
            }
        }
        let seq = process?;
        let w = self.deciding.items.get_mut(&seq)?;
        if !exec.held && (exec.installer.is_none() || w.run.trimmed > 0) {
            let before = run_bytes(&w.run);
            w.run
                .audit
                .get_or_insert_with(AuditMatch::default)
                .add(exec, None);
            // A run ended without its exit (evicted, its exit lost) may
            // be the process's earlier part: a later exec of it may still
            // join the record.
            if w.run.exit.is_some() {
                exec.matched = true;
            } else {
                exec.held = true;
            }
            self.deciding_bytes = (self.deciding_bytes + run_bytes(&w.run)).saturating_sub(before);
        }
        None
    }

    /// Offers a record to the decided runs of its process: attached to the
    /// one it fits, with a correction when it changes that run's verdict.
    fn amend(&mut self, exec: &mut AuditExec) -> Option<Decided> {
        let mut target = None;
        for seq in self.reported.of(exec.pid) {
            let r = self.reported.items.get(&seq)?;
            match fit(exec, r.tgid, &r.keys, r.life, |b| r.audit.has_own(b)) {
                Some(Fit::Exec(i, j)) => {
                    target = Some((seq, Some((r.keys[i].boot_ns, j))));
                    break;
                }
                Some(Fit::Process) if target.is_none() => target = Some((seq, None)),
                _ => {}
            }
        }
        let (seq, own) = target?;
        let trimmed = self.reported.items.get(&seq).is_some_and(|r| r.trimmed);
        if own.is_none() && exec.installer.is_some() && !trimmed {
            // An installer's exec the kernel stream did not report: left
            // for `audit_only`.
            return None;
        }
        exec.matched = true;
        let r = self.reported.items.get_mut(&seq)?;
        let before = r.bytes();
        r.audit.add(exec, own);
        let verdict = match own {
            Some(_) => {
                let (keys, decided) = (r.keys.clone(), r.decided);
                let mut m = std::mem::take(&mut r.audit);
                let v = self.verdict_of(&keys, &mut m, decided);
                let r = self.reported.items.get_mut(&seq)?;
                r.audit = m;
                Some(v)
            }
            None => None,
        };
        let r = self.reported.items.get_mut(&seq)?;
        self.reported_bytes = (self.reported_bytes + r.bytes()).saturating_sub(before);
        let verdict = verdict?;
        // A record only adds to a run: a `confirmed` one stays.
        if verdict == r.verdict || r.verdict == Verdict::Confirmed {
            return None;
        }
        let previous = r.verdict;
        r.verdict = verdict;
        self.counters.verdicts_amended += 1;
        Some(Decided::Amended(Box::new(Amended {
            run_id: r.run_id.clone(),
            pid: r.tgid,
            executable: r
                .keys
                .last()
                .map(|e| e.executable.clone())
                .unwrap_or_default(),
            boot_ns: r.boot_ns,
            previous,
            verdict,
            audit: r.audit.clone(),
        })))
    }

    fn push_exec(&mut self, exec: AuditExec) {
        let size = exec.bytes();
        while self.execs.len() >= MAX_AUDIT_EXECS
            || (!self.execs.is_empty() && self.execs_bytes + size > MAX_AUDIT_EXEC_BYTES)
        {
            let Some(old) = self.pop_exec() else { break };
            if !old.matched && !old.held && old.installer.is_some() {
                self.counters.audit_execs_dropped += 1;
            }
        }
        self.execs_bytes += size;
        let seq = self.execs_first + self.execs.len() as u64;
        self.execs_pids.entry(exec.pid).or_default().push_back(seq);
        self.execs.push_back(exec);
    }

    fn pop_exec(&mut self) -> Option<AuditExec> {
        let old = self.execs.pop_front()?;
        self.kept_since = self.kept_since.max(old.arrived_ns);
        let seq = self.execs_first;
        self.execs_first += 1;
        self.execs_bytes = self.execs_bytes.saturating_sub(old.bytes());
        if let Some(v) = self.execs_pids.get_mut(&old.pid) {
            // The oldest of all is the oldest of its pid.
            if v.front() == Some(&seq) {
                v.pop_front();
            } else {
                debug_assert!(false, "audit exec {seq} not first of pid {}", old.pid);
                v.retain(|s| *s != seq);
            }
            if v.is_empty() {
                self.execs_pids.remove(&old.pid);
            }
        }
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
    /// attached that fits it: the record of one of its execs, or one of
    /// the process within its life that is no installer's (an installer's
    /// waits: another exec of the run may still come from the kernel
    /// stream, else it is `audit_only`).
    pub fn attach(&mut self, run: &mut Run, clock: &Clock) {
        let tgid = run.primary().tgid;
        let Some(seqs) = self.execs_pids.get(&tgid).cloned() else {
            return;
        };
        let life = life_of(run, clock);
        let trimmed = run.trimmed > 0;
        keys_of(run, clock);
        let keys = &run.keys.keys;
        for seq in seqs {
            let m = run.audit.get_or_insert_with(AuditMatch::default);
            let Some(exec) = self.exec_at(seq) else {
                continue;
            };
            if exec.matched {
                continue;
            }
            match fit(exec, tgid, keys, life, |b| m.has_own(b)) {
                Some(Fit::Exec(i, j)) => {
                    m.add(exec, Some((keys[i].boot_ns, j)));
                    exec.matched = true;
                    exec.held = false;
                }
                // Held, not taken: an exec of the run may still come for
                // it (this is re-run at each exec the run gets).
                Some(Fit::Process) if !exec.held && (exec.installer.is_none() || trimmed) => {
                    m.add(exec, None);
                    exec.held = true;
                }
                _ => {}
            }
        }
        if run
            .audit
            .as_ref()
            .is_some_and(|m| m.records == 0 && m.trimmed_unrecorded == 0)
        {
            run.audit = None;
        }
    }

    /// A finished run at `now_boot_ns`: decided now if every exec is
    /// accounted for or no record can come, else held until its wait
    /// (from its last exec) is over.
    pub fn on_run(&mut self, mut run: Run, now_boot_ns: u64, clock: &Clock) -> Vec<Decided> {
        self.now = self.now.max(now_boot_ns);
        self.attach(&mut run, clock);
        keys_of(&mut run, clock);
        let keys = std::mem::take(&mut run.keys.keys);
        let life = life_of(&run, clock);
        let state = self.state_at(run.primary().boot_ns);
        let may_come = state.available && state.enabled && state.rules;
        let deadline = run.primary().boot_ns.saturating_add(self.wait_ns);
        let done = run
            .audit
            .as_ref()
            .is_some_and(|m| cover(&keys, m).missing.is_empty());
        let w = Waiting {
            deadline,
            run,
            keys,
            life,
        };
        if done || !may_come || now_boot_ns >= deadline {
            return vec![self.decide(w, clock)];
        }
        let mut out = Vec::new();
        let size = waiting_bytes(&w);
        while self.deciding.len() >= MAX_DECIDING
            || (self.deciding.len() > 0 && self.deciding_bytes + size > MAX_DECIDING_BYTES)
        {
            let Some((&seq, early)) = self.deciding.items.iter().next() else {
                break;
            };
            let pid = early.run.primary().tgid;
            let Some(early) = self.deciding.remove(pid, seq) else {
                break;
            };
            self.deciding_bytes = self.deciding_bytes.saturating_sub(waiting_bytes(&early));
            self.counters.decided_early += 1;
            out.push(self.decide(early, clock));
        }
        self.deciding_bytes += size;
        let pid = w.run.primary().tgid;
        self.deciding.insert(pid, w);
        out
    }

    /// Decides waiting runs whose wait is over, reports audit execs of
    /// installers that joined no run's exec once the kernel stream got
    /// past them (its watermark is later than the record's arrival: the
    /// kernel exec, submitted before the record was, would have come), or
    /// at [`AUDIT_ONLY_CAP_NS`] (counted), and forgets what is past its
    /// keep. `now_boot_ns` is the boot-time clock.
    pub fn tick(&mut self, now_boot_ns: u64, clock: &Clock) -> Vec<Decided> {
        self.now = self.now.max(now_boot_ns);
        let mut out = Vec::new();
        let due: Vec<(u64, u32)> = self
            .deciding
            .items
            .iter()
            .filter(|(_, w)| now_boot_ns >= w.deadline)
            .map(|(seq, w)| (*seq, w.run.primary().tgid))
            .collect();
        for (seq, pid) in due {
            if let Some(w) = self.deciding.remove(pid, seq) {
                self.deciding_bytes = self.deciding_bytes.saturating_sub(waiting_bytes(&w));
                out.push(self.decide(w, clock));
            }
        }
        let cap = self.wait_ns.max(AUDIT_ONLY_CAP_NS);
        for exec in self.execs.iter_mut() {
            if exec.matched || exec.held || exec.installer.is_none() {
                continue;
            }
            let passed = self.watermark.is_some_and(|w| w >= exec.arrived_ns);
            let capped = now_boot_ns.saturating_sub(exec.arrived_ns) >= cap;
            if passed || capped {
                // No exec of a run, open, waiting or decided, is its: the
                // kernel stream missed it.
                exec.matched = true;
                self.counters.audit_only += 1;
                if !passed {
                    self.counters.audit_only_capped += 1;
                }
                out.push(Decided::AuditOnly(Box::new(exec.clone())));
            }
        }
        while self
            .execs
            .front()
            .is_some_and(|e| now_boot_ns >= e.arrived_ns.saturating_add(KEEP_NS))
        {
            self.pop_exec();
        }
        while self
            .reported
            .items
            .values()
            .next()
            .is_some_and(|r| now_boot_ns >= r.forget_at)
        {
            self.forget_front();
        }
        out
    }

    /// The verdict of a run still going, for its execs so far (its early
    /// event): what [`Self::on_run`] would decide if it ended now. Records
    /// that came are attached, as at each exec; nothing is remembered as
    /// decided (the run's end decides it).
    pub fn so_far(
        &mut self,
        run: &mut Run,
        now_boot_ns: u64,
        clock: &Clock,
    ) -> (Verdict, AuditMatch) {
        self.now = self.now.max(now_boot_ns);
        self.attach(run, clock);
        keys_of(run, clock);
        let mut m = run.audit.clone().unwrap_or_default();
        let v = self.verdict_of(&run.keys.keys, &mut m, self.now);
        (v, m)
    }

    /// The audit wait (ns): how long after an exec its record may come.
    pub fn wait_ns(&self) -> u64 {
        self.wait_ns
    }

    /// Whether every kernel record submitted before `boot_ns` has reached
    /// the decide stage (see [`Self::kernel_watermark`]).
    pub fn kernel_past(&self, boot_ns: u64) -> bool {
        self.watermark.is_some_and(|w| w >= boot_ns)
    }

    /// The verdict of a state-only install (a writer no installer run
    /// owns) against the audit trail: `confirmed` when the trail holds the
    /// exec of the program that wrote: an audit exec record of the
    /// writer's process (`pid`, in its audit session `ses`) whose `exe=`
    /// is the writer's executable (`exe`, the kernel's walk, compared
    /// whole: a copy at `/tmp/a/usr/bin/python3` is not the audited
    /// `/usr/bin/python3`; a writer in a chroot, whose `exe=` audit writes
    /// from the chroot, is not confirmed), stamped from its start
    /// (`start_boot_ns`, less [`WRITER_START_SLACK_NS`]) to its last write
    /// (`last_boot_ns`, plus [`JOIN_SLACK_NS`]), that reached a registered
    /// daemon (the newest such record). A process that exec'd an audited
    /// program, then one no rule records, which wrote, is not confirmed
    /// by the first record; nor is an earlier or later process that reused
    /// the pid; nor a writer whose start is not known (0: the folder
    /// watch's mover gone before `/proc` was read). Else `ebpf_only` with the reason, from the audit stream's
    /// health at the writer's start and the losses since, and what the
    /// loaded rules promise for the writer's executable by path (`None`:
    /// cut, or from another root). A writer that started before the
    /// records kept ([`KEEP_NS`]) cannot have its record looked up: at
    /// best `audit-rule-unknown`.
    pub fn writer_verdict(
        &self,
        pid: u32,
        start_boot_ns: u64,
        last_boot_ns: u64,
        exe: Option<&[u8]>,
        ses: u32,
        clock: &Clock,
    ) -> (Verdict, Option<AuditMatch>) {
        let from = wall_of(start_boot_ns, clock).saturating_sub(WRITER_START_SLACK_NS);
        let until = wall_of(last_boot_ns, clock).saturating_add(JOIN_SLACK_NS);
        let whole = |audit: &[u8], kernel: &[u8]| {
            let audit = audit.strip_suffix(DELETED).unwrap_or(audit);
            let kernel = kernel.strip_suffix(DELETED).unwrap_or(kernel);
            !audit.is_empty() && audit == kernel
        };
        let found = (start_boot_ns != 0)
            .then(|| {
                self.execs.iter().rev().find(|e| {
                    e.pid == pid
                        && e.ses.is_none_or(|s| s == ses)
                        && (from..=until).contains(&e.wall_ns)
                        && exe.is_some_and(|x| whole(&e.exe, x))
                })
            })
            .flatten();
        let mut m = AuditMatch::default();
        if let Some(e) = found {
            m.add(e, None);
            if e.logged {
                return (Verdict::Confirmed, Some(m));
            }
        }
        let since = if start_boot_ns == 0 {
            last_boot_ns
        } else {
            start_boot_ns.min(last_boot_ns)
        };
        m.lost = self.lost_in(
            since.saturating_sub(MATCH_WINDOW_NS),
            self.now.max(last_boot_ns),
        );
        let state = self.state_at(since);
        let reason = if !state.available {
            "audit-unavailable"
        } else if !state.enabled {
            "audit-disabled"
        } else if m.lost > 0 {
            "audit-records-lost"
        } else if !state.daemon || found.is_some() {
            "auditd-stopped"
        } else {
            let file = ExecFile {
                path: exe.filter(|p| p.starts_with(b"/")),
                id: (0, 0),
                script: None,
                same_root: exe.is_some(),
            };
            let promise = match &self.rules {
                Some(rules) => judge_exec(rules, &file),
                None => Promise::None,
            };
            match promise {
                // Records kept since before the writer started: its
                // exec's would be among them.
                Promise::Records if start_boot_ns != 0 && self.kept_since <= start_boot_ns => {
                    "audit-record-missing"
                }
                Promise::Records | Promise::Unknown => "audit-rule-unknown",
                Promise::None => "no-audit-rule",
            }
        };
        let has = m.records > 0 || m.lost > 0;
        (Verdict::EbpfOnly(reason), has.then_some(m))
    }

    /// Decides everything still waiting (at shutdown).
    pub fn drain(&mut self, clock: &Clock) -> Vec<Decided> {
        let items = std::mem::take(&mut self.deciding);
        self.deciding_bytes = 0;
        items
            .items
            .into_values()
            .map(|w| self.decide(w, clock))
            .collect()
    }

    /// Decides a run and remembers it for a late record.
    fn decide(&mut self, w: Waiting, clock: &Clock) -> Decided {
        let Waiting {
            mut run,
            keys,
            life,
            ..
        } = w;
        let mut m = run.audit.take().unwrap_or_default();
        let v = self.verdict_of(&keys, &mut m, self.now);
        match v {
            Verdict::Confirmed => self.counters.confirmed += 1,
            Verdict::EbpfOnly(_) => self.counters.ebpf_only += 1,
            Verdict::AuditOnly => self.counters.audit_only += 1,
        }
        let end = run.exit.map_or(self.now, |e| e.boot_ns);
        let r = Reported {
            run_id: run.id(),
            tgid: run.primary().tgid,
            keys,
            // A run without an exit (evicted, its exit lost, still
            // running at stop) ends, for a late record, at its decision.
            life: Life {
                end: life.end.or(Some(wall_of(self.now, clock))),
                ..life
            },
            boot_ns: run.execs[0].boot_ns,
            decided: self.now,
            trimmed: run.trimmed > 0,
            verdict: v,
            audit: m.clone(),
            forget_at: self.now.max(end).saturating_add(KEEP_DECIDED_NS),
        };
        let size = r.bytes();
        while self.reported.len() >= MAX_DECIDED
            || (self.reported.len() > 0 && self.reported_bytes + size > MAX_DECIDED_BYTES)
        {
            if !self.forget_front() {
                break;
            }
            self.counters.decided_forgotten += 1;
        }
        self.reported_bytes += size;
        let pid = r.tgid;
        self.reported.insert(pid, r);
        let has_any = m.records > 0 || m.lost > 0 || m.trimmed_unrecorded > 0;
        run.audit = has_any.then_some(m);
        Decided::Run(Box::new(run), v)
    }

    /// Forgets the oldest decided run; false when there is none.
    fn forget_front(&mut self) -> bool {
        let Some((&seq, r)) = self.reported.items.iter().next() else {
            return false;
        };
        let pid = r.tgid;
        if let Some(r) = self.reported.remove(pid, seq) {
            self.reported_bytes = self.reported_bytes.saturating_sub(r.bytes());
        }
        true
    }

    /// What the loaded rules promise for the exec (see [`judge_exec`]);
    /// nothing before the rules stage's first listing.
    fn promise(&self, k: &ExecKey) -> Promise {
        match &self.rules {
            Some(rules) => judge_exec(rules, &k.file()),
            None => Promise::None,
        }
    }

    /// The verdict of a run's execs with the records in `m`; sets `m`'s
    /// `unrecorded` and `lost` (losses from its first exec to `until`).
    fn verdict_of(&self, keys: &[ExecKey], m: &mut AuditMatch, until: u64) -> Verdict {
        let c = cover(keys, m);
        let from = keys
            .first()
            .map_or(0, |k| k.boot_ns.saturating_sub(MATCH_WINDOW_NS));
        m.lost = self.lost_in(from, until.max(from));
        m.unrecorded = c
            .missing
            .iter()
            .map(|i| keys[*i].executable.clone())
            .collect();
        m.continued = c
            .continued
            .iter()
            .map(|i| keys[*i].executable.clone())
            .collect();
        if c.missing.is_empty() && m.trimmed_unrecorded > 0 {
            // An exec without a record was trimmed from the chain: what
            // the rules promise for it is not known any more.
            return self.unrecorded_reason(keys[0].boot_ns, m, &c, Promise::Unknown);
        }
        let Some(&first) = c.missing.first() else {
            return if c.logged {
                Verdict::Confirmed
            } else {
                Verdict::EbpfOnly("auditd-stopped")
            };
        };
        let mut worst = Promise::None;
        for i in &c.missing {
            match self.promise(&keys[*i]) {
                Promise::Records => worst = Promise::Records,
                Promise::Unknown if worst == Promise::None => worst = Promise::Unknown,
                _ => {}
            }
        }
        if m.trimmed_unrecorded > 0 && worst == Promise::None {
            worst = Promise::Unknown;
        }
        self.unrecorded_reason(keys[first].boot_ns, m, &c, worst)
    }

    /// The reason of an `ebpf_only` whose first exec without a record is
    /// at `boot_ns`, `promise` the most the rules promise for those execs.
    fn unrecorded_reason(
        &self,
        boot_ns: u64,
        m: &AuditMatch,
        c: &Cover,
        promise: Promise,
    ) -> Verdict {
        let state = self.state_at(boot_ns);
        if !state.available {
            return Verdict::EbpfOnly("audit-unavailable");
        }
        if !state.enabled {
            return Verdict::EbpfOnly("audit-disabled");
        }
        if m.lost > 0 {
            return Verdict::EbpfOnly("audit-records-lost");
        }
        if !state.daemon || !c.logged {
            return Verdict::EbpfOnly("auditd-stopped");
        }
        match promise {
            Promise::Records => Verdict::EbpfOnly("audit-record-missing"),
            Promise::Unknown => Verdict::EbpfOnly("audit-rule-unknown"),
            Promise::None => Verdict::EbpfOnly("no-audit-rule"),
        }
    }
}

#[cfg(test)]
mod tests {
    use swmon_common::reason;

    use super::*;
    use crate::{
        audit::rules::AuditRule,
        correlate::Facts,
        ebpf::decode::{ExecRecord, ExitRecord},
        event::{boot_ns_now, Clock},
    };

    const WAIT: u64 = 2_000_000_000;
    const MS: u64 = 1_000_000;

    fn run(tgid: u32, exe: &str, boot_ns: u64) -> Run {
        let rec = ExecRecord::sample(tgid, exe, boot_ns);
        Run {
            execs: vec![rec],
            facts: Facts::default(),
            exit: None,
            end: None,
            audit: None,
            trimmed: 0,
            owners: vec![],
            part: 0,
            keys: Default::default(),
            state: Default::default(),
            state_read: None,
            parent_run: None,
            nested_changes: Vec::new(),
            nested_unread: 0,
            role: None,
            started_event: false,
        }
    }

    fn wall(clock: &Clock, boot_ns: u64) -> u64 {
        wall_of(boot_ns, clock)
    }

    fn exec(pid: u32, exe: &str, wall_ns: u64, logged: bool) -> AuditExec {
        AuditExec {
            serial: 42,
            wall_ns,
            pid,
            ppid: 1,
            uid: Some(0),
            auid: Some(u32::MAX),
            ses: Some(u32::MAX),
            exe: exe.into(),
            named: None,
            name: None,
            interpreter: None,
            argv: vec![exe.into(), b"-i".to_vec()],
            argv_truncated: false,
            argv_bytes: 0,
            cwd: None,
            key: Some("software-installer".into()),
            logged,
            installer: installer_of(exe.as_bytes(), None, &[]),
            matched: false,
            held: false,
            arrived_ns: 0,
        }
    }

    fn exec_at(pid: u32, exe: &str, wall_ns: u64, serial: u64) -> AuditExec {
        let mut e = exec(pid, exe, wall_ns, true);
        e.serial = serial;
        e
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

    fn the_run(d: &[Decided]) -> &Run {
        match d {
            [Decided::Run(r, _)] => r,
            _ => panic!("one run: {d:?}"),
        }
    }

    fn id_of(name: &str) -> u16 {
        catalogue::lookup(name.as_bytes()).expect("catalogued").0
    }

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_state_only_writer_is_confirmed_only_by_its_own_program_s_record_within_its_life() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let (start, last) = (t, t + 3 * MS);
        let tar = Some(b"/usr/bin/tar".as_slice());
        // The writer's own exec, recorded and logged: confirmed.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, start + MS), 5),
            t,
            &clock,
        );
        let (v, m) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::Confirmed);
        assert_eq!(m.expect("the record").serials, [5]);
        // The process exec'd an audited program (sh), then tar, which no
        // rule records: sh's record is no record of the writer.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/bin/sh", wall(&clock, start + MS), 6),
            t,
            &clock,
        );
        let (v, _) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        // A record of the pid after the writer's last write (a process
        // that reused it) or before its start: none.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, last + 500 * MS), 7),
            t,
            &clock,
        );
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, start - 500 * MS), 8),
            t,
            &clock,
        );
        let (v, _) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        // A writer whose start is not known is never confirmed.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, start + MS), 9),
            t,
            &clock,
        );
        let (v, _) = c.writer_verdict(7, 0, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        // A copy whose path ends like the audited program's, a record of
        // another session, one stamped 20 ms before the writer started (a
        // process that had the pid then): none is the writer's.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, start + MS), 10),
            t,
            &clock,
        );
        let copy = Some(b"/tmp/a/usr/bin/tar".as_slice());
        let (v, _) = c.writer_verdict(7, start, last, copy, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        let (v, _) = c.writer_verdict(7, start, last, tar, 3, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/tar", wall(&clock, start - 20 * MS), 11),
            t,
            &clock,
        );
        let (v, _) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("no-audit-rule"));
        // A record no daemon logged: the trail does not have it.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec(7, "/usr/bin/tar", wall(&clock, start + MS), false),
            t,
            &clock,
        );
        let (v, _) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("auditd-stopped"));
        // Audit off at the writer's start.
        let c = CrossCheck::new(
            WAIT,
            AuditState {
                enabled: false,
                ..ON
            },
        );
        let (v, _) = c.writer_verdict(7, start, last, tar, u32::MAX, &clock);
        assert_eq!(v, Verdict::EbpfOnly("audit-disabled"));
    }

    #[test]
    fn a_record_before_the_run_ends_confirms_it() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c
            .on_audit_exec(exec(7, "/usr/bin/dpkg", wall(&clock, t), true), t, &clock)
            .is_empty());
        let d = c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        assert_eq!(c.counters.confirmed, 1);
    }

    #[test]
    fn a_record_while_the_run_waits_decides_it() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(
            c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock).is_empty(),
            "it waits"
        );
        let d = c.on_audit_exec(exec(7, "/usr/bin/dpkg", wall(&clock, t), false), t, &clock);
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
        assert!(c.on_run(run(7, "/tmp/mydpkg", t), t, &clock).is_empty());
        assert!(c.tick(t + WAIT - 1, &clock).is_empty());
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        // A record of another process, or of another time, does not match.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(8, "/usr/bin/dpkg", wall(&clock, t), true), t, &clock);
        c.on_audit_exec(
            exec(
                7,
                "/usr/bin/dpkg",
                wall(&clock, t) + 3 * MATCH_WINDOW_NS,
                true,
            ),
            t,
            &clock,
        );
        assert!(c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock).is_empty());
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
            let d = c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock);
            assert_eq!(verdicts(&d), [Verdict::EbpfOnly(reason)], "{state:?}");
        }
        let mut c = CrossCheck::new(WAIT, ON);
        c.note_loss(t, 3);
        c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock);
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("audit-records-lost")]);
        assert_eq!(the_run(&d).audit.as_ref().map(|m| m.lost), Some(3));
    }

    #[test]
    fn an_installer_only_audit_saw_is_audit_only() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(9, "/usr/bin/dpkg", w, true), t, &clock);
        c.on_audit_exec(exec(10, "/usr/bin/true", w, true), t, &clock);
        assert!(
            c.tick(t + WAIT, &clock).is_empty(),
            "the kernel stream has not got past it: its exec may still come"
        );
        c.kernel_watermark(t - 1);
        assert!(c.tick(t + WAIT, &clock).is_empty(), "not past it yet");
        c.kernel_watermark(t);
        let d = c.tick(t + 1, &clock);
        assert_eq!(
            verdicts(&d),
            [Verdict::AuditOnly],
            "dpkg only; /usr/bin/true is no installer"
        );
        assert!(c.tick(t + 2 * WAIT, &clock).is_empty(), "reported once");
        assert_eq!(c.counters.audit_only_capped, 0);
        // A kernel stream that never gets past it: at the cap, counted.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(9, "/usr/bin/dpkg", w, true), t, &clock);
        assert!(c.tick(t + AUDIT_ONLY_CAP_NS - 1, &clock).is_empty());
        let d = c.tick(t + AUDIT_ONLY_CAP_NS, &clock);
        assert_eq!(verdicts(&d), [Verdict::AuditOnly]);
        assert_eq!(c.counters.audit_only_capped, 1);
    }

    #[test]
    fn a_kernel_stream_that_lags_past_the_wait_gets_no_audit_only() {
        // The facts stage holds the kernel exec (hashing, reading package
        // files) past the wait: the record waits for the watermark, and
        // the run, when it comes, takes it.
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec(9, "/usr/bin/dpkg", w, true), t + MS, &clock);
        c.kernel_watermark(t);
        assert!(c.tick(t + 3 * WAIT, &clock).is_empty(), "no audit_only");
        let d = c.on_run(run(9, "/usr/bin/dpkg", t), t + 3 * WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        c.kernel_watermark(t + 3 * WAIT);
        assert!(c.tick(t + 3 * WAIT + MS, &clock).is_empty());
        assert_eq!(c.counters.audit_only, 0);
    }

    #[test]
    fn audit_argv_is_capped_and_execs_are_bounded_in_bytes() {
        let mut argv = vec![vec![b'a'; 5000], vec![b'b'; 5000], vec![b'c'; 10]];
        assert_eq!(cap_argv(&mut argv, ARGV_MAX), Some(10_013));
        assert!(argv.iter().map(|a| a.len() + 1).sum::<usize>() <= ARGV_MAX);
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let mut n = 0;
        while c.bytes().0 + 20_000 < MAX_AUDIT_EXEC_BYTES {
            let mut e = exec(1000 + n, "/usr/bin/dpkg", w, true);
            e.argv = vec![vec![b'x'; 8000]];
            c.on_audit_exec(e, t, &clock);
            n += 1;
        }
        for i in 0..100 {
            let mut e = exec(9000 + i, "/usr/bin/dpkg", w, true);
            e.argv = vec![vec![b'x'; 8000]];
            c.on_audit_exec(e, t, &clock);
        }
        assert!(c.bytes().0 <= MAX_AUDIT_EXEC_BYTES);
        assert!(c.counters.audit_execs_dropped >= 90, "{:?}", c.counters);
        // The pid index follows what is kept.
        assert_eq!(
            c.execs_pids.values().map(VecDeque::len).sum::<usize>(),
            c.execs.len()
        );
    }

    #[test]
    fn installers_in_audit_records() {
        assert!(installer_of(b"/usr/bin/dpkg", None, &[]).is_some());
        assert!(installer_of(
            b"/usr/bin/python3.11",
            None,
            &args(&["python3", "-m", "pip"])
        )
        .is_some());
        assert!(installer_of(
            b"/usr/bin/python3.11",
            Some(b"/usr/bin/pip3"),
            &args(&["/usr/bin/python3", "/usr/bin/pip3", "install"])
        )
        .is_some());
        // A `#!/usr/bin/env node` script: env is no interpreter, item 0 is npm.
        assert!(installer_of(
            b"/usr/bin/env",
            Some(b"/usr/bin/npm"),
            &args(&["/usr/bin/env", "node", "/usr/bin/npm"])
        )
        .is_some());
        assert!(
            installer_of(b"/usr/bin/python3.11", None, &args(&["pip", "x.py"])).is_none(),
            "argv[0] is not trusted"
        );
        assert!(installer_of(b"/usr/bin/true", None, &args(&["true", "dpkg"])).is_none());
        // An installer's name among a script's own arguments is none (a
        // shell running pyenv, which runs pip in another exec).
        assert!(installer_of(
            b"/usr/bin/python3.11",
            Some(b"/usr/bin/python3"),
            &args(&["python3", "tool.py", "npm", "install", "x"])
        )
        .is_none());
        assert!(
            installer_of(
                b"/usr/bin/python3.11",
                None,
                &args(&["python3", "tool.py", "npm", "install", "x"])
            )
            .is_none(),
            "an installer's name among a script's arguments"
        );
        assert!(installer_of(
            b"/usr/bin/node",
            None,
            &args(&["node", "-c", "/usr/bin/npm"])
        )
        .is_none());
    }

    fn key(exe: &str, dev: u32, ino: u64, cut: bool) -> ExecKey {
        ExecKey {
            boot_ns: 0,
            wall_ns: 0,
            dev,
            ino,
            cut,
            executable: exe.into(),
            filename: exe.into(),
            filename_cut: false,
            script: false,
            ppid: 1,
            auid: u32::MAX,
            ses: u32::MAX,
            same_root: true,
            lineage: None,
            root_owned: false,
            dispatcher: false,
        }
    }

    fn with_files(
        mut e: AuditExec,
        named: Option<(u32, u64)>,
        name: &str,
        interpreter: Option<(u32, u64)>,
    ) -> AuditExec {
        e.named = named;
        e.name = Some(name.into());
        e.interpreter = interpreter;
        e
    }

    #[test]
    fn a_join_is_on_the_file_exec_named_not_its_interpreter_or_loader() {
        const D: u32 = 254 << 20;
        let dpkg = key("/usr/bin/dpkg", D, 247_111, false);
        let base = exec(7, "/elsewhere/dpkg", 0, true);
        // The identity joins whatever the names say (a chroot, a rename).
        let rec = with_files(base.clone(), Some((D, 247_111)), "dpkg", Some((D, 9)));
        assert_eq!(join(&rec, &dpkg), Some(Join::Inode));
        // A record of another ELF whose loader is the kernel's executable
        // (the kernel ran `ld.so PROGRAM`): its item 1 does not join.
        let ld = key("/usr/lib64/ld-linux-x86-64.so.2", D, 9, false);
        assert_eq!(join(&rec, &ld), None);
        // A script: item 0 the script as named, item 1 the interpreter the
        // kernel's record runs.
        let mut env = key("/usr/bin/env", D, 11, false);
        env.filename = b"/usr/bin/npm".to_vec();
        let npm = with_files(base.clone(), Some((D, 99)), "/usr/bin/npm", Some((D, 11)));
        assert_eq!(join(&npm, &env), Some(Join::Script));
        // The same interpreter running another script: no join.
        let other = with_files(base.clone(), Some((D, 98)), "/tmp/tool", Some((D, 11)));
        assert_eq!(join(&other, &env), None);
        // st_dev's encoding (0xfe00) is not the kernel's: no join, and no
        // fallback to the path while the record has identities.
        let st_dev = with_files(
            exec(7, "/usr/bin/dpkg", 0, true),
            Some((0xfe00, 247_111)),
            "/usr/bin/dpkg",
            None,
        );
        assert_eq!(join(&st_dev, &dpkg), None);
        // No PATH identity at all: the path is the fallback.
        assert_eq!(
            join(&exec(7, "/usr/bin/dpkg", 0, true), &dpkg),
            Some(Join::Path)
        );
        assert_eq!(join(&exec(7, "/usr/bin/rpm", 0, true), &dpkg), None);
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

    const D: u32 = 254 << 20;

    /// `/usr/bin/npm` (`#!/usr/bin/env node`) as the kernel reports it: env
    /// (named /usr/bin/npm), then node running the script, 1 ms apart.
    fn npm_run(tgid: u32, t: u64) -> Run {
        let mut r = run(tgid, "/usr/bin/env", t);
        let env = &mut r.execs[0];
        env.filename = b"/usr/bin/npm".to_vec();
        env.argv = args(&["/usr/bin/env", "node", "/usr/bin/npm", "install", "x"]);
        env.dev = D;
        env.ino = 11;
        env.reasons = reason::FILENAME;
        let mut node = ExecRecord::sample(tgid, "/usr/bin/node", t + MS);
        node.argv = args(&["node", "/usr/bin/npm", "install", "x"]);
        node.reasons = reason::INTERPRETER_ARG;
        node.interpreter_id = Some(id_of("node"));
        node.dev = D;
        node.ino = 12;
        r.execs.push(node);
        r.owners = vec![Some((0, 0o100755)), Some((0, 0o100755))];
        r
    }

    fn env_record(pid: u32, w: u64, serial: u64) -> AuditExec {
        let mut e = exec_at(pid, "/usr/bin/env", w, serial);
        e.argv = args(&["/usr/bin/env", "node", "/usr/bin/npm", "install", "x"]);
        e.installer = installer_of(&e.exe, Some(b"/usr/bin/npm"), &e.argv);
        with_files(e, Some((D, 99)), "/usr/bin/npm", Some((D, 11)))
    }

    #[test]
    fn every_record_of_a_run_is_attached_and_none_is_audit_only() {
        // /usr/bin/npm under a rule recording every execve: both execs
        // have their own record; a third exec of the process the kernel
        // filter let go (a shell) is attached without confirming.
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let env = env_record(7, w, 100);
        let mut node = exec_at(7, "/usr/bin/node", w + MS, 101);
        node.argv = args(&["node", "/usr/bin/npm", "install", "x"]);
        node.installer = installer_of(&node.exe, Some(b"/usr/bin/node"), &node.argv);
        assert!(node.installer.is_some(), "audit alone would call it npm");
        let node = with_files(node, Some((D, 12)), "/usr/bin/node", Some((D, 13)));
        let mut bash = exec_at(7, "/usr/bin/bash", w + MS / 2, 102);
        bash.installer = None;
        for e in [env, node, bash] {
            assert!(c.on_audit_exec(e, t, &clock).is_empty());
        }
        let d = c.on_run(npm_run(7, t), t + 5 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!((m.serial, m.joined, m.records), (100, 2, 3));
        assert_eq!(m.join, Some("script"));
        let mut serials = m.serials.clone();
        serials.sort_unstable();
        assert_eq!(serials, [100, 101, 102]);
        assert!(m.unrecorded.is_empty());
        assert!(c.tick(t + 10 * WAIT, &clock).is_empty(), "no audit_only");
        assert_eq!(c.counters.audit_only, 0);
    }

    #[test]
    fn an_exec_continuing_a_recorded_one_needs_no_record_of_its_own() {
        // Under a watch on the npm script only env's exec is recorded; node
        // runs the same script with the same arguments.
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(env_record(7, w, 100), t, &clock);
        let d = c.on_run(npm_run(7, t), t + 5 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        // node with other arguments than the recorded command: not the same.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(env_record(8, w, 200), t, &clock);
        let mut r = npm_run(8, t);
        r.execs[1].argv = args(&["node", "/usr/bin/npm", "install", "evil"]);
        assert!(c.on_run(r, t + 5 * MS, &clock).is_empty(), "it waits");
        let d = c.tick(t + MS + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!(m.unrecorded, [b"/usr/bin/node".to_vec()]);
    }

    #[test]
    fn only_a_dispatcher_is_continued_and_only_into_roots_files() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        // The recorded npm: node continues env, and is listed.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(env_record(7, w, 100), t, &clock);
        let d = c.on_run(npm_run(7, t), t + 5 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!(m.continued, [b"/usr/bin/node".to_vec()]);
        // `PATH=~/bin:$PATH npm install x`: env runs a fake node, the
        // user's (or root's but writable by others, or not known).
        for owner in [
            Some((1000, 0o100755)),
            Some((0, 0o100775)),
            Some((0, 0o100757)),
            None,
        ] {
            let mut c = CrossCheck::new(WAIT, ON);
            c.on_audit_exec(env_record(8, w, 200), t, &clock);
            let mut r = npm_run(8, t);
            r.execs[1].executable = b"/home/u/bin/node".to_vec();
            r.owners[1] = owner;
            assert!(
                c.on_run(r, t + 5 * MS, &clock).is_empty(),
                "{owner:?} waits"
            );
            let d = c.tick(t + MS + WAIT, &clock);
            assert_eq!(
                verdicts(&d),
                [Verdict::EbpfOnly("no-audit-rule")],
                "{owner:?}"
            );
            let m = the_run(&d).audit.as_ref().expect("attached");
            assert_eq!(m.unrecorded, [b"/home/u/bin/node".to_vec()]);
            assert!(m.continued.is_empty());
        }
        // A `.pth` in the user's site-packages: the recorded `python3 -m
        // pip install x` execs another python with the same arguments.
        // python3 is no dispatcher: even a root-owned file continues
        // nothing.
        let mut c = CrossCheck::new(WAIT, ON);
        let mut pip = exec_at(9, "/usr/bin/python3", w, 300);
        pip.argv = args(&["python3", "-m", "pip", "install", "x"]);
        pip.installer = installer_of(&pip.exe, None, &pip.argv);
        assert!(pip.installer.is_some());
        c.on_audit_exec(
            with_files(pip, Some((D, 21)), "/usr/bin/python3", None),
            t,
            &clock,
        );
        let mut r = run(9, "/usr/bin/python3", t);
        r.execs[0].argv = args(&["python3", "-m", "pip", "install", "x"]);
        r.execs[0].reasons = reason::INTERPRETER_ARG;
        r.execs[0].interpreter_id = Some(id_of("python3"));
        r.execs[0].dev = D;
        r.execs[0].ino = 21;
        let mut evil = r.execs[0].clone();
        evil.boot_ns = t + MS;
        evil.executable = b"/home/u/x/python3".to_vec();
        evil.filename = evil.executable.clone();
        evil.ino = 22;
        r.execs.push(evil);
        r.owners = vec![Some((0, 0o100755)), Some((0, 0o100755))];
        let k = keys_of(&mut r, &clock).to_vec();
        assert!(
            k[1].lineage.is_some() && k[0].lineage == k[1].lineage,
            "same lineage"
        );
        assert!(c.on_run(r, t + 5 * MS, &clock).is_empty(), "it waits");
        let d = c.tick(t + MS + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!(m.unrecorded, [b"/home/u/x/python3".to_vec()]);
    }

    #[test]
    fn a_record_of_one_exec_does_not_confirm_another_exec_of_the_process() {
        // A shell (recorded) execs a renamed copy of dpkg (no rule): the
        // shell's record is not the copy's.
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let mut r = run(7, "/usr/bin/dash", t);
        r.execs[0].filename = b"/usr/local/bin/pip".to_vec();
        r.execs[0].argv = args(&["/bin/sh", "/usr/local/bin/pip", "install", "x"]);
        r.execs[0].reasons = reason::FILENAME;
        r.execs[0].dev = D;
        r.execs[0].ino = 20;
        let mut copy = ExecRecord::sample(7, "/tmp/x/mydpkg", t + 3 * MS);
        copy.argv = args(&["mydpkg", "-i", "x.deb"]);
        copy.reasons = reason::INODE;
        copy.installer_id = Some(id_of("dpkg"));
        copy.dev = D;
        copy.ino = 21;
        r.execs.push(copy);
        let mut sh = exec_at(7, "/usr/bin/dash", w, 300);
        sh.installer = installer_of(&sh.exe, Some(b"/usr/local/bin/pip"), &sh.argv);
        let sh = with_files(sh, Some((D, 30)), "/usr/local/bin/pip", Some((D, 20)));
        c.on_audit_exec(sh, t, &clock);
        assert!(c.on_run(r, t + 5 * MS, &clock).is_empty(), "it waits");
        let d = c.tick(t + 3 * MS + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!((m.joined, m.serial), (1, 300));
        assert_eq!(m.unrecorded, [b"/tmp/x/mydpkg".to_vec()]);
        // The same for a bare record (no PATH, no exe): it is the first
        // exec's, never the second's too.
        let mut c = CrossCheck::new(WAIT, ON);
        let mut bare = exec_at(9, "", w, 301);
        bare.installer = None;
        c.on_audit_exec(bare, t, &clock);
        let mut r = run(9, "/usr/bin/dpkg", t);
        let mut second = ExecRecord::sample(9, "/usr/bin/dpkg", t + 3 * MS);
        second.argv = args(&["dpkg", "-i", "x.deb"]);
        r.execs.push(second);
        assert!(c.on_run(r, t + 5 * MS, &clock).is_empty());
        let d = c.tick(t + 3 * MS + WAIT, &clock);
        assert_eq!(the_run(&d).audit.as_ref().map(|m| m.joined), Some(1));
        assert_ne!(verdicts(&d), [Verdict::Confirmed]);
    }

    #[test]
    fn a_join_is_bounded_by_the_runs_life_and_its_process_identity() {
        let clock = Clock::now();
        let t = boot_ns_now() + 10 * WAIT;
        let w = wall(&clock, t);
        let life_run = |pid| {
            let mut r = run(pid, "/usr/bin/dpkg", t);
            r.execs[0].start_ns = t - 5 * MS;
            r.execs[0].ppid = 50;
            r.execs[0].loginuid = 1000;
            r.execs[0].sessionid = 3;
            r.exit = Some(ExitRecord {
                tgid: pid,
                pid,
                status: 0,
                boot_ns: t + 10 * MS,
            });
            r
        };
        let good = |pid| {
            let mut e = exec(pid, "/usr/bin/dpkg", w, true);
            e.ppid = 50;
            e.auid = Some(1000);
            e.ses = Some(3);
            e
        };
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(good(1), t, &clock);
        assert_eq!(
            verdicts(&c.on_run(life_run(1), t + 20 * MS, &clock)),
            [Verdict::Confirmed]
        );
        // A reused pid: another parent, login uid or session, or a record
        // stamped before the process began or after it ended.
        type Change = Box<dyn Fn(&mut AuditExec)>;
        let other: [(&str, Change); 5] = [
            ("ppid", Box::new(|e| e.ppid = 51)),
            ("auid", Box::new(|e| e.auid = Some(0))),
            ("ses", Box::new(|e| e.ses = Some(4))),
            ("before", Box::new(move |e| e.wall_ns = w - 100 * MS)),
            ("after", Box::new(move |e| e.wall_ns = w + 100 * MS)),
        ];
        for (pid, (what, change)) in (10..).zip(other) {
            let mut c = CrossCheck::new(WAIT, ON);
            let mut e = good(pid);
            change(&mut e);
            c.on_audit_exec(e, t, &clock);
            let d = c.on_run(life_run(pid), t + 20 * MS, &clock);
            assert!(d.is_empty(), "{what}: waits, nothing joined: {d:?}");
            c.kernel_watermark(t);
            let d = c.tick(t + WAIT, &clock);
            assert_eq!(
                verdicts(&d),
                [Verdict::EbpfOnly("no-audit-rule"), Verdict::AuditOnly],
                "{what}"
            );
        }
    }

    #[test]
    fn an_installer_record_inside_a_run_that_joins_none_of_its_execs_is_audit_only() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        // A run of dpkg; the same process also ran rpm, which the kernel
        // stream did not report (a full ring buffer).
        let mut c = CrossCheck::new(WAIT, ON);
        let mut open = run(7, "/usr/bin/dpkg", t);
        c.on_audit_exec(exec_at(7, "/usr/bin/dpkg", w, 1), t, &clock);
        c.on_audit_exec(
            exec_at(7, "/usr/bin/rpm", w + 10 * MS, 2),
            t + 10 * MS,
            &clock,
        );
        c.attach(&mut open, &clock);
        let m = open.audit.as_ref().expect("dpkg's record");
        assert_eq!((m.joined, m.records), (1, 1), "rpm's is not attached");
        // Until the kernel stream got past it a late kernel exec may
        // still take it.
        assert!(c.tick(t + 10 * MS + WAIT, &clock).is_empty());
        c.kernel_watermark(t + 10 * MS);
        let d = c.tick(t + 10 * MS + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::AuditOnly]);
        let Decided::AuditOnly(e) = &d[0] else {
            unreachable!()
        };
        assert_eq!(e.serial, 2);
        // Once the run ended, at the record's own wait.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(exec_at(8, "/usr/bin/dpkg", w, 1), t, &clock);
        c.on_audit_exec(
            exec_at(8, "/usr/bin/rpm", w + 10 * MS, 2),
            t + 10 * MS,
            &clock,
        );
        let d = c.on_run(run(8, "/usr/bin/dpkg", t), t + 20 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        c.kernel_watermark(t + 20 * MS);
        let d = c.tick(t + 20 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::AuditOnly]);
        // A record of no installer (a shell the filter let go) is attached.
        let mut c = CrossCheck::new(WAIT, ON);
        let mut sh = exec_at(9, "/usr/bin/dash", w + 5 * MS, 3);
        sh.installer = None;
        c.on_audit_exec(exec_at(9, "/usr/bin/dpkg", w, 1), t, &clock);
        c.on_audit_exec(sh, t, &clock);
        let d = c.on_run(run(9, "/usr/bin/dpkg", t), t + 20 * MS, &clock);
        assert_eq!(the_run(&d).audit.as_ref().map(|m| m.records), Some(2));
        assert!(c.tick(t + KEEP_NS, &clock).is_empty());
    }

    #[test]
    fn audit_loss_between_a_runs_start_and_its_decision_is_said() {
        let clock = Clock::now();
        let t = boot_ns_now() + 10 * WAIT;
        let w = wall(&clock, t);
        // A loss after the exec, before the wait ended: the record may be
        // among what was lost.
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock);
        c.note_loss(t + WAIT / 2, 5);
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("audit-records-lost")]);
        // A confirmed run keeps its verdict (its record is in hand) and
        // says how many were lost beside it.
        let mut c = CrossCheck::new(WAIT, ON);
        c.note_loss(t - MS, 2);
        c.on_audit_exec(exec(8, "/usr/bin/dpkg", w, true), t, &clock);
        let d = c.on_run(run(8, "/usr/bin/dpkg", t), t + MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        assert_eq!(the_run(&d).audit.as_ref().map(|m| m.lost), Some(2));
        // A loss long before the run, or after its decision, is not its.
        let mut c = CrossCheck::new(WAIT, ON);
        c.note_loss(t - 2 * MATCH_WINDOW_NS, 1);
        c.on_run(run(9, "/usr/bin/dpkg", t), t, &clock);
        let d = c.tick(t + WAIT, &clock);
        c.note_loss(t + WAIT + 1, 1);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        assert!(the_run(&d).audit.is_none());
    }

    #[test]
    fn a_late_record_amends_the_decided_run_once() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        let mut r = run(7, "/usr/bin/dpkg", t);
        r.execs[0].start_ns = t - 5;
        assert!(c.on_run(r, t, &clock).is_empty());
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        // The backlog drains: its record, then another of the process (a
        // shell the filter let go).
        let d = c.on_audit_exec(exec_at(7, "/usr/bin/dpkg", w, 200), t + WAIT, &clock);
        assert_eq!(d.len(), 1);
        let Decided::Amended(a) = &d[0] else {
            panic!("a correction: {d:?}")
        };
        assert_eq!(a.run_id, format!("7-{}", t - 5));
        assert_eq!(a.previous, Verdict::EbpfOnly("no-audit-rule"));
        assert_eq!(a.verdict, Verdict::Confirmed);
        assert_eq!(a.audit.serial, 200);
        let mut sh = exec_at(7, "/usr/bin/dash", w + 1000, 201);
        sh.installer = None;
        assert!(c.on_audit_exec(sh, t + WAIT, &clock).is_empty());
        assert!(
            c.tick(t + 10 * WAIT, &clock).is_empty(),
            "never an audit_only beside it"
        );
        assert_eq!(c.counters.verdicts_amended, 1);
        assert_eq!(c.counters.audit_only, 0);
        // Past the keep, the run is forgotten (and its memory given back).
        c.tick(t + KEEP_DECIDED_NS + 10 * WAIT, &clock);
        assert_eq!(c.bytes(), (0, 0, 0));
        assert!(c.reported.pids.is_empty());
        assert!(c.execs_pids.is_empty());
    }

    #[test]
    fn decided_runs_are_bounded_and_forgetting_early_is_counted() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, AuditState { rules: false, ..ON });
        for i in 0..(MAX_DECIDED as u32 + 10) {
            c.on_run(run(1000 + i, "/usr/bin/dpkg", t), t, &clock);
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
            c.reported.pids.values().map(Vec::len).sum::<usize>(),
            c.reported.len()
        );
    }

    #[test]
    fn waiting_runs_are_found_by_pid() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let w = wall(&clock, t);
        let mut c = CrossCheck::new(WAIT, ON);
        for pid in 1..=1000 {
            assert!(c.on_run(run(pid, "/usr/bin/dpkg", t), t, &clock).is_empty());
        }
        assert_eq!(c.deciding(), 1000);
        let d = c.on_audit_exec(exec(500, "/usr/bin/dpkg", w, true), t, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        let Decided::Run(r, _) = &d[0] else {
            unreachable!()
        };
        assert_eq!(r.primary().tgid, 500);
        assert_eq!(c.deciding(), 999);
        assert!(!c.deciding.pids.contains_key(&500));
        assert_eq!(c.deciding.pids.len(), 999);
    }

    #[test]
    fn join_keys_are_made_once_per_exec_and_follow_the_chain_and_the_clock() {
        let t = 1_000 * MS;
        let clock = Clock::with_offsets(&[(0, 5_000_000_000)]);
        let mut r = run(7, "/usr/bin/dpkg", t);
        let mut second = ExecRecord::sample(7, "/usr/bin/rpm", t + MS);
        second.ino = 2;
        r.execs.push(second);
        let k = keys_of(&mut r, &clock).to_vec();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].wall_ns, t + 5_000_000_000);
        // Kept: the same keys (a marker set on the cache stays).
        r.keys.keys[1].lineage = Some(("marker", [0; 16]));
        assert_eq!(
            keys_of(&mut r, &clock)[1].lineage,
            Some(("marker", [0; 16]))
        );
        // The clock re-measured with another offset for their time: the
        // keys keep their identity, with the new wall time.
        let stepped = Clock::with_offsets(&[(0, 7_000_000_000)]);
        let k = keys_of(&mut r, &stepped);
        assert_eq!(k[0].wall_ns, t + 7_000_000_000);
        assert_eq!(k[1].wall_ns, t + MS + 7_000_000_000);
        assert_eq!(k[1].lineage, Some(("marker", [0; 16])));
        // An exec trimmed from the middle, one appended: made again from
        // where the chain changed.
        let mut third = ExecRecord::sample(7, "/usr/bin/apt", t + 2 * MS);
        third.ino = 3;
        r.execs.push(third);
        r.execs.remove(1);
        let first = r.execs[0].ino;
        let k = keys_of(&mut r, &clock);
        assert_eq!(k.len(), 2);
        assert_eq!((k[0].ino, k[1].ino), (first, 3));
        assert!(k.iter().all(|k| k.lineage != Some(("marker", [0; 16]))));
        // An owner learnt, a container placement changed: made again.
        r.owners = vec![Some((0, 0o100755)), Some((0, 0o100755))];
        assert!(keys_of(&mut r, &clock).iter().all(|k| k.root_owned));
        r.keys.keys[0].lineage = Some(("marker", [0; 16]));
        r.facts.placement.container_id = Some("c0ffee".into());
        let k = keys_of(&mut r, &clock).to_vec();
        assert!(k
            .iter()
            .all(|k| !k.same_root && k.lineage != Some(("marker", [0; 16]))));
        // What a kept key weighs is counted on the run.
        assert!(r.keys.bytes() >= k.iter().map(ExecKey::bytes).sum::<usize>());
    }

    #[test]
    fn deadlines_are_on_the_boot_clock_whatever_the_wall_clock_does() {
        // The wall clock is stepped an hour ahead right after the exec: the
        // run still waits its 2 s of boot time.
        let t = boot_ns_now();
        let clock = Clock::with_offsets(&[
            (0, 1_700_000_000_000_000_000),
            (t + 1, 1_700_003_600_000_000_000),
        ]);
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c
            .on_run(run(7, "/usr/bin/dpkg", t), t + 2, &clock)
            .is_empty());
        assert!(c.tick(t + WAIT - 1, &clock).is_empty());
        assert_eq!(c.tick(t + WAIT, &clock).len(), 1);
        // A record stamped before the step joins its exec (converted at its
        // own moment).
        let mut c = CrossCheck::new(WAIT, ON);
        c.on_audit_exec(
            exec(8, "/usr/bin/dpkg", wall(&clock, t), true),
            t + 5,
            &clock,
        );
        let d = c.on_run(run(8, "/usr/bin/dpkg", t), t + 6, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
    }

    #[test]
    fn a_rule_that_covers_the_executable_makes_a_missing_record_say_so() {
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut c = CrossCheck::new(WAIT, ON);
        let watch =
            AuditRule::exec_watch(std::path::Path::new("/usr/bin/dpkg"), "software-installer");
        c.set_rules(Arc::new(LoadedRules::with_files(
            vec![watch],
            vec![Some((D, 247_111))],
        )));
        let mut dpkg = run(7, "/usr/bin/dpkg", t);
        dpkg.execs[0].dev = D;
        dpkg.execs[0].ino = 247_111;
        c.on_run(dpkg, t, &clock);
        let mut copy = run(8, "/tmp/mydpkg (deleted)", t);
        copy.execs[0].dev = D;
        copy.execs[0].ino = 5;
        c.on_run(copy, t, &clock);
        // chroot /target dpkg: the host's watch is not on its file.
        let mut chroot = run(9, "/target/usr/bin/dpkg", t);
        chroot.execs[0].filename = b"/usr/bin/dpkg".to_vec();
        chroot.execs[0].dev = D;
        chroot.execs[0].ino = 880;
        c.on_run(chroot, t, &clock);
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(
            verdicts(&d),
            [
                Verdict::EbpfOnly("audit-record-missing"),
                Verdict::EbpfOnly("no-audit-rule"),
                Verdict::EbpfOnly("no-audit-rule"),
            ]
        );
    }

    #[test]
    fn a_recorded_exec_carries_its_files_in_the_kernels_dev_encoding() {
        // auditd's own log of `dpkg --version` and `npm --version` under the
        // seed (dev=fe:00).
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
        let execs: Vec<AuditExec> = a
            .drain_ready()
            .filter_map(|e| AuditExec::from_event(&e, true))
            .collect();
        let dpkg = execs
            .iter()
            .find(|e| e.exe == b"/usr/bin/dpkg")
            .expect("dpkg");
        // Item 0 the file named, item 1 its loader; major 0xfe is 254 << 20
        // in the kernel's s_dev, as swmon's eBPF side reads it.
        assert_eq!(dpkg.named, Some((D, 247_111)));
        assert_eq!(dpkg.interpreter, Some((D, 325_843)));
        assert_eq!(dpkg.name.as_deref(), Some(&b"/usr/bin/dpkg"[..]));
        let kernel = key("/srv/chroot/usr/bin/dpkg", D, 247_111, false);
        assert_eq!(join(dpkg, &kernel), Some(Join::Inode));
        let st_dev = key("/srv/x", 0xfe00, 247_111, false);
        assert_eq!(join(dpkg, &st_dev), None);
        // npm: item 0 the script as named, item 1 env, the kernel's
        // executable for that exec.
        let npm = execs
            .iter()
            .find(|e| e.exe == b"/usr/bin/env")
            .expect("npm");
        assert_eq!(npm.named, Some((D, 734_300)));
        assert_eq!(npm.interpreter, Some((D, 247_153)));
        assert!(npm.installer.is_some(), "npm by item 0's name");
        let mut env = key("/usr/bin/env", D, 247_153, false);
        env.filename = b"/usr/bin/npm".to_vec();
        assert_eq!(join(npm, &env), Some(Join::Script));
        let node = key("/usr/bin/node", D, 5, false);
        assert_eq!(join(npm, &node), None);
    }

    #[test]
    fn an_unrecorded_exec_cannot_be_hidden_by_padding_the_chain() {
        // A process execs ten times; each exec's record comes first (as
        // decide attaches it) except the seventh's. The chain keeps 8: the
        // recorded ones go first, and an unrecorded one trimmed keeps the
        // run from `confirmed`.
        let clock = Clock::now();
        let t = boot_ns_now();
        for hidden in [6usize, 1, 9] {
            let mut corr = crate::correlate::Correlator::new(16, usize::MAX);
            let mut c = CrossCheck::new(WAIT, ON);
            for i in 0..10usize {
                let b = t + i as u64 * 100 * MS;
                let exe = format!("/usr/bin/e{i}");
                if i != hidden {
                    let mut e = exec_at(7, &exe, wall(&clock, b), 100 + i as u64);
                    e.installer = None;
                    assert!(c.on_audit_exec(e, b, &clock).is_empty());
                }
                corr.on_exec(ExecRecord::sample(7, &exe, b), Facts::default());
                let r = corr.open_run_mut(7).expect("open");
                c.attach(r, &clock);
            }
            let run = corr.drain().pop().expect("run");
            assert_eq!(run.execs.len(), crate::correlate::CHAIN_MAX);
            let end = t + 10 * 100 * MS;
            let mut d = c.on_run(run, end, &clock);
            d.extend(c.tick(end + 10 * WAIT, &clock));
            let v = verdicts(&d);
            assert_eq!(v.len(), 1, "hidden {hidden}: {d:?}");
            assert!(
                matches!(v[0], Verdict::EbpfOnly(_)),
                "hidden {hidden}: {v:?}"
            );
            let m = the_run(&d).audit.as_ref().expect("attached");
            let hidden_exe = format!("/usr/bin/e{hidden}").into_bytes();
            assert!(
                m.unrecorded.contains(&hidden_exe) || m.trimmed_unrecorded > 0,
                "hidden {hidden}: {m:?}"
            );
        }
        // All recorded: confirmed, though two were trimmed.
        let mut corr = crate::correlate::Correlator::new(16, usize::MAX);
        let mut c = CrossCheck::new(WAIT, ON);
        for i in 0..10usize {
            let b = t + i as u64 * 100 * MS;
            let exe = format!("/usr/bin/e{i}");
            let mut e = exec_at(7, &exe, wall(&clock, b), 100 + i as u64);
            e.installer = None;
            c.on_audit_exec(e, b, &clock);
            corr.on_exec(ExecRecord::sample(7, &exe, b), Facts::default());
            c.attach(corr.open_run_mut(7).expect("open"), &clock);
        }
        let run = corr.drain().pop().expect("run");
        let d = c.on_run(run, t + 10 * 100 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
    }

    #[test]
    fn a_record_that_comes_before_its_exec_still_joins_it() {
        // A process runs dpkg, then a renamed copy of it (identified by
        // content: its kernel exec reaches decide late). The copy's record
        // comes first and is of no installer by name: attached to the
        // open run as the process's, it stays open to the exec's join.
        let clock = Clock::now();
        let t = boot_ns_now();
        let mut corr = crate::correlate::Correlator::new(16, usize::MAX);
        let mut c = CrossCheck::new(WAIT, ON);
        let dpkg = exec_at(7, "/usr/bin/dpkg", wall(&clock, t), 100);
        assert!(c.on_audit_exec(dpkg, t, &clock).is_empty());
        corr.on_exec(ExecRecord::sample(7, "/usr/bin/dpkg", t), Facts::default());
        c.attach(corr.open_run_mut(7).expect("open"), &clock);
        let b = t + 100 * MS;
        let mut copy = exec_at(7, "/tmp/x/helper", wall(&clock, b), 101);
        copy.installer = installer_of(&copy.exe, None, &copy.argv);
        assert!(copy.installer.is_none(), "renamed");
        assert!(c.on_audit_exec(copy, b, &clock).is_empty());
        c.attach(corr.open_run_mut(7).expect("open"), &clock);
        // The facts stage hashed it: the kernel exec arrives.
        corr.on_exec(ExecRecord::sample(7, "/tmp/x/helper", b), Facts::default());
        c.attach(corr.open_run_mut(7).expect("open"), &clock);
        let run = corr.drain().pop().expect("run");
        let d = c.on_run(run, b + 10 * MS, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed], "{d:?}");
        let m = the_run(&d).audit.as_ref().expect("attached");
        assert_eq!((m.joined, m.records), (2, 2));
        assert!(c.tick(b + 10 * WAIT, &clock).is_empty());
    }

    #[test]
    fn an_exec_record_is_one_of_the_arch_it_names() {
        let events = |lines: &[&str]| -> Vec<crate::audit::AuditEvent> {
            let mut a = crate::audit::Assembler::default();
            for l in lines {
                a.push_log_line(l.as_bytes(), 0).expect("a record");
            }
            a.flush_all();
            a.drain_ready().collect()
        };
        let line = |serial: u32, arch: &str, nr: u32| {
            format!(
                "type=SYSCALL msg=audit(1795679932.534:{serial}): arch={arch} syscall={nr} success=yes exit=0 items=0 ppid=1 pid=7 auid=4294967295 comm=\"dpkg\" exe=\"/usr/bin/dpkg\" key=\"k\""
            )
        };
        let cases = [
            ("c000003e", 59, Some(true)),
            ("c000003e", 322, Some(true)),
            ("c000003e", 11, Some(false)),
            ("40000003", 11, Some(true)),
            ("40000003", 358, Some(true)),
            // i386's 59 is oldolduname, not exec.
            ("40000003", 59, Some(false)),
            // aarch64's execve: no arch of this host's, ignored, counted.
            ("c00000b7", 221, None),
            ("c00000b7", 59, None),
        ];
        for (i, (arch, nr, want)) in cases.into_iter().enumerate() {
            let ev = events(&[&line(100 + i as u32, arch, nr)]);
            assert_eq!(ev.len(), 1);
            let got = AuditExec::from_event(&ev[0], true).is_some();
            assert_eq!(got, want == Some(true), "{arch} {nr}");
            assert_eq!(foreign_arch(&ev[0]), want.is_none(), "{arch} {nr}");
        }
    }

    #[test]
    fn a_loss_told_after_a_runs_decision_amends_it() {
        // The audit reader tells a loss stamped inside a run's window only
        // after the run was decided (its queue was full): the run is
        // corrected, once.
        let clock = Clock::now();
        let t = boot_ns_now() + 10 * WAIT;
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock).is_empty());
        let d = c.tick(t + WAIT, &clock);
        assert_eq!(verdicts(&d), [Verdict::EbpfOnly("no-audit-rule")]);
        let run_id = the_run(&d).id();
        // A loss before the window, then one inside it.
        assert!(c.note_loss(t - MATCH_WINDOW_NS - 1, 4).is_empty());
        let d = c.note_loss(t + MS, 2);
        let [Decided::Amended(a)] = d.as_slice() else {
            panic!("one correction: {d:?}");
        };
        assert_eq!(a.run_id, run_id);
        assert_eq!(a.previous, Verdict::EbpfOnly("no-audit-rule"));
        assert_eq!(a.verdict, Verdict::EbpfOnly("audit-records-lost"));
        assert_eq!(a.audit.lost, 2);
        assert!(c.note_loss(t + 2 * MS, 1).is_empty(), "once");
        // After its decision: not in its window.
        assert!(c.note_loss(t + 2 * WAIT, 1).is_empty());
        assert_eq!(c.counters.verdicts_amended, 1);
    }

    #[test]
    fn a_loss_told_after_a_confirmed_decision_leaves_it_confirmed() {
        // Its record is in hand: a loss inside its window, told late,
        // cannot take it away, so no correction is written (the loss is
        // its own `audit-records-lost` alert).
        let clock = Clock::now();
        let t = boot_ns_now() + 10 * WAIT;
        let mut c = CrossCheck::new(WAIT, ON);
        assert!(c
            .on_audit_exec(exec(7, "/usr/bin/dpkg", wall(&clock, t), true), t, &clock)
            .is_empty());
        let d = c.on_run(run(7, "/usr/bin/dpkg", t), t, &clock);
        assert_eq!(verdicts(&d), [Verdict::Confirmed]);
        assert!(c.note_loss(t + MS, 3).is_empty());
        assert!(c.note_loss(t - MS, 3).is_empty());
        assert_eq!(c.counters.verdicts_amended, 0);
    }
}
