//! `swmon doctor`: checks whether this host can run `swmon run` as asked,
//! and for each thing that is wrong says what to do about it. It changes
//! nothing on the host: it reads the kernel's BTF, loads swmon's BPF
//! programs through the verifier without attaching any (they are freed at
//! once), asks kernel audit for its status and rules (`AUDIT_GET`,
//! `AUDIT_LIST_RULES`), looks at the output path without opening it, and
//! reads the clock's state (`adjtimex` with no mode bits set).
//!
//! Each check has a stable id, a status, a sentence saying what was found,
//! and a fix when the status is not `ok`:
//!
//! | id | what | fails when |
//! |---|---|---|
//! | `kernel` | release, BTF at `/sys/kernel/btf/vmlinux`, the struct fields swmon reads | no BTF, or a field swmon reads is missing |
//! | `tracepoints` | the raw tracepoints swmon attaches to exist | one is missing |
//! | `bpf-programs` | every program `swmon run` loads passes the verifier (none attached) | one is refused, or swmon may not load programs |
//! | `bpf-lsm-fentry` | whether BPF LSM and fentry programs load (`info` only: swmon uses neither) | never |
//! | `capabilities` | the capabilities `swmon run` needs, in this process's effective set | one it cannot start (or, with audit, cross-check) without is missing |
//! | `audit-enabled` | kernel audit on (1), off (0) or locked (2) | audit is off, or its status can't be read (not with `--no-audit`) |
//! | `auditd` | the audit daemon the kernel names, and whether it is alive | never (warns) |
//! | `audit-backlog` | backlog limit, `lost`, rate limit | never (warns) |
//! | `audit-failure-mode` | what the kernel does when it can't log (`-f`) | never (warns) |
//! | `audit-rules` | which installers found on this host the loaded rules record, which they miss | never (warns) |
//! | `output` | the `--output` path: writable, safe folders, safe mode | `swmon run` would refuse it |
//! | `clock` | the kernel's clock synchronized (`STA_UNSYNC` clear) | never (warns) |
//!
//! Statuses: `ok`; `info` (a fact, nothing to do); `warn` (swmon runs, but
//! sees less or the host is at risk: the fix says what to change); `fail`
//! (swmon can't run as asked); `skip` (not checked, because something it
//! needs failed first, which has its own line).
//!
//! The exit rule: `swmon doctor` exits 0 when no check failed (warnings
//! allowed) and 1 when one did. Audit is judged for the mode asked for:
//! `swmon run` without `--no-audit` starts with audit off but then checks
//! nothing against audit records, so audit off is a failure (fix:
//! `auditctl -e 1`, or run with `--no-audit`); `swmon doctor --no-audit`
//! reports the audit checks as `info` and exits 0 with audit off.
//!
//! `--json` prints one object (see [`Report`]): `{"doctor": 1, "can_run":
//! bool, "audit": bool, "checks": [{"id", "status", "what", "fix",
//! "details"}]}`. `doctor` is the shape's version; every id in the table is
//! present, in that order; `fix` is `null` when there is nothing to do;
//! `details` is an object of the check's raw facts (for example
//! `audit-enabled`'s `enabled`, `auditd`'s `pid`).
//!
//! Never hangs: every check that touches a file system runs on a thread of
//! its own with a deadline ([`CHECK_DEADLINE`]); a check that does not
//! finish in time (a hung FUSE or network mount on the way) is reported as
//! such and left behind. The output path is not walked at all when it lies
//! on a FUSE or network file system. Audit requests have their own
//! timeouts.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use caps::{CapSet, Capability, CapsHashSet};
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit::{
    netlink::ControlSocket,
    rules::{self, Coverage, RulesReport},
    AuditStatus,
};

/// How long a check that touches a file system may take.
pub const CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// The backlog limit below which a burst of execs can overflow kernel
/// audit's queue (what auditd's own default rules set with `-b`).
pub const BACKLOG_MIN: u32 = 8192;

const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// The version of the `--json` shape.
pub const SHAPE_VERSION: u32 = 1;

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Skip,
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    pub what: String,
    pub fix: Option<String>,
    pub details: Value,
}

impl Check {
    fn new(id: &'static str, status: Status, what: impl Into<String>) -> Check {
        Check {
            id,
            status,
            what: what.into(),
            fix: None,
            details: json!({}),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn details(mut self, details: Value) -> Check {
        self.details = details;
        self
    }
}

/// What `swmon doctor` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SHAPE_VERSION`].
    pub doctor: u32,
    /// No check failed.
    pub can_run: bool,
    /// Judged for `swmon run` with audit (without `--no-audit`).
    pub audit: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn new(audit: bool, checks: Vec<Check>) -> Report {
        Report {
            doctor: SHAPE_VERSION,
            can_run: checks.iter().all(|c| c.status != Status::Fail),
            audit,
            checks,
        }
    }

    /// The exit status: 0 when swmon can run, 1 when it can't.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.can_run)
    }
}

/// One line a check: status, id, what was found, and the fix.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let safe = crate::sink::terminal_safe;
        for c in &self.checks {
            write!(
                f,
                "{:<4}  {:<18}  {}",
                c.status.label(),
                c.id,
                safe(&c.what)
            )?;
            if let Some(fix) = &c.fix {
                write!(f, "  fix: {}", safe(fix))?;
            }
            writeln!(f)?;
        }
        let count = |s| self.checks.iter().filter(|c| c.status == s).count();
        let (failed, warned) = (count(Status::Fail), count(Status::Warn));
        let mode = if self.audit {
            "with audit"
        } else {
            "with --no-audit"
        };
        if self.can_run {
            writeln!(
                f,
                "swmon can run {mode} ({warned} warning{})",
                if warned == 1 { "" } else { "s" }
            )
        } else {
            writeln!(
                f,
                "swmon can't run {mode}: {failed} check{} failed",
                if failed == 1 { "" } else { "s" }
            )
        }
    }
}

/// What to check for: the `swmon run` options that change the answer.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--output` (`-` is standard output).
    pub output: PathBuf,
    /// `--output-group`'s gid (the file's mode is then 0640).
    pub output_group: Option<u32>,
    /// Without `--no-audit`.
    pub audit: bool,
}

/// Runs every check, in the documented order.
pub fn run(options: &Options) -> Report {
    let mut checks = Vec::new();
    let btf = Path::new(BTF_PATH);
    let btf_present = btf.exists();
    let facts = btf_present.then(|| {
        crate::ebpf::btf::kernel_facts(btf)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    checks.push(judge_kernel(&kernel_release(), facts));
    let missing = btf_present.then(|| {
        crate::ebpf::btf::missing_tracepoints(btf, &crate::ebpf::tracepoints())
            .map_err(|e| e.to_string())
    });
    checks.push(judge_tracepoints(&crate::ebpf::tracepoints(), missing));
    let programs = crate::ebpf::check_programs(&crate::ebpf::LoadOptions::default())
        .map(|p| p.len())
        .map_err(|e| e.to_string());
    checks.push(judge_programs(programs, nix::unistd::geteuid().as_raw()));
    checks.push(judge_lsm_fentry(&probe_lsm_fentry()));
    checks.push(judge_capabilities(&effective_caps(), options.audit));
    checks.extend(audit_checks(options.audit));
    checks.push(output_check(options));
    checks.push(judge_clock(clock_state()));
    Report::new(options.audit, checks)
}

/// `uname -r`.
fn kernel_release() -> String {
    nix::sys::utsname::uname().map_or_else(
        |_| "unknown".to_owned(),
        |u| u.release().to_string_lossy().into_owned(),
    )
}

/// `facts`: `None` without BTF, else whether swmon's fields were found.
pub fn judge_kernel(release: &str, facts: Option<Result<(), String>>) -> Check {
    let details = json!({ "release": release, "btf": BTF_PATH });
    match facts {
        None => Check::new(
            "kernel",
            Status::Fail,
            format!("Linux {release}: no kernel BTF at {BTF_PATH}"),
        )
        .fix("boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions' kernels since 5.x are)"),
        Some(Err(e)) => Check::new(
            "kernel",
            Status::Fail,
            format!("Linux {release}: swmon can't use this kernel's BTF: {e}"),
        )
        .fix("swmon reads these kernel structs' fields; use a kernel that has them (a recent distribution kernel)"),
        Some(Ok(())) => Check::new(
            "kernel",
            Status::Ok,
            format!("Linux {release}, BTF at {BTF_PATH} with every field swmon reads"),
        ),
    }
    .details(details)
}

/// `missing`: `None` without BTF, else the tracepoints this kernel lacks.
pub fn judge_tracepoints(wanted: &[&str], missing: Option<Result<Vec<String>, String>>) -> Check {
    let c = match missing {
        None => Check::new(
            "tracepoints",
            Status::Skip,
            "not checked: no kernel BTF (see kernel)",
        ),
        Some(Err(e)) => Check::new("tracepoints", Status::Fail, format!("can't check: {e}"))
            .fix("see the kernel check"),
        Some(Ok(m)) if m.is_empty() => Check::new(
            "tracepoints",
            Status::Ok,
            format!("all {} raw tracepoints swmon attaches to exist", wanted.len()),
        )
        .details(json!({ "wanted": wanted, "missing": m })),
        Some(Ok(m)) => Check::new(
            "tracepoints",
            Status::Fail,
            format!("this kernel lacks the tracepoints {}", m.join(", ")),
        )
        .fix("use a kernel with these tracepoints (Linux 6.x; writeback_dirty_folio came with folios in 5.17)")
        .details(json!({ "wanted": wanted, "missing": m })),
    };
    c
}

/// `programs`: how many loaded, or why the load failed.
pub fn judge_programs(programs: Result<usize, String>, euid: u32) -> Check {
    match programs {
        Ok(n) => Check::new(
            "bpf-programs",
            Status::Ok,
            format!("the verifier took all {n} of swmon's programs (loaded, not attached, freed)"),
        )
        .details(json!({ "loaded": n })),
        Err(e) => {
            let fix = if euid != 0 {
                "run swmon (and swmon doctor) as root or with CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), as the package's unit does"
            } else {
                "swmon can't watch this kernel; report the error with the kernel release"
            };
            Check::new(
                "bpf-programs",
                Status::Fail,
                format!("swmon's programs can't be loaded: {e}"),
            )
            .fix(fix)
            .details(json!({ "error": e, "euid": euid }))
        }
    }
}

/// What the kernel said to a BPF LSM and an fentry program: `Ok(())` when
/// it loaded, else the error (and the verifier's last line).
#[derive(Clone, Debug, Default)]
pub struct LsmFentry {
    /// `/sys/kernel/security/lsm` (`None`: unreadable).
    pub lsms: Option<String>,
    pub lsm: Option<Result<(), String>>,
    pub fentry: Option<Result<(), String>>,
}

pub fn judge_lsm_fentry(p: &LsmFentry) -> Check {
    let say = |r: &Option<Result<(), String>>| match r {
        None => "not probed".to_owned(),
        Some(Ok(())) => "loads (attach not tried)".to_owned(),
        Some(Err(e)) => format!("refused ({e})"),
    };
    let active = p.lsms.as_deref().map(|l| l.split(',').any(|x| x == "bpf"));
    Check::new(
        "bpf-lsm-fentry",
        Status::Info,
        format!(
            "BPF LSM program {}; fentry program {}; bpf in the active LSMs: {}; swmon uses raw tracepoints only and needs neither",
            say(&p.lsm),
            say(&p.fentry),
            match active {
                None => "unknown".to_owned(),
                Some(a) => a.to_string(),
            }
        ),
    )
    .details(json!({
        "lsms": p.lsms,
        "lsm_loads": p.lsm.as_ref().map(Result::is_ok),
        "fentry_loads": p.fentry.as_ref().map(Result::is_ok),
    }))
}

/// `BPF_PROG_TYPE_TRACING`, `BPF_PROG_TYPE_LSM`, `BPF_TRACE_FENTRY`,
/// `BPF_LSM_MAC` (include/uapi/linux/bpf.h).
const PROG_TYPE_TRACING: u32 = 26;
const PROG_TYPE_LSM: u32 = 29;
const TRACE_FENTRY: u32 = 24;
const LSM_MAC: u32 = 27;

/// Loads (never attaches) a two-instruction program of each kind aimed at
/// the exec path's LSM hook, and closes it.
fn probe_lsm_fentry() -> LsmFentry {
    let lsms = read_bounded(Path::new("/sys/kernel/security/lsm"), 4096)
        .ok()
        .map(|s| s.trim().to_owned());
    let btf = Path::new(BTF_PATH);
    let probe = |func: &str, prog_type, attach| -> Option<Result<(), String>> {
        let id = match crate::ebpf::btf::function_id(btf, func) {
            Ok(Some(id)) => id,
            Ok(None) => return Some(Err(format!("no {func} in the kernel's BTF"))),
            Err(_) => return None,
        };
        Some(load_probe(prog_type, attach, id))
    };
    LsmFentry {
        lsms,
        lsm: probe("bpf_lsm_bprm_check_security", PROG_TYPE_LSM, LSM_MAC),
        fentry: probe("security_bprm_check", PROG_TYPE_TRACING, TRACE_FENTRY),
    }
}

/// `BPF_PROG_LOAD` of `r0 = 0; exit` with the given type, attach type and
/// target; the descriptor is closed at once.
fn load_probe(prog_type: u32, attach_type: u32, btf_id: u32) -> Result<(), String> {
    use std::os::fd::FromRawFd;
    // mov64 r0, 0; exit
    let insns: [u64; 2] = [
        u64::from_le_bytes([0xb7, 0, 0, 0, 0, 0, 0, 0]),
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = c"GPL";
    let mut log = vec![0u8; 4096];
    // union bpf_attr, BPF_PROG_LOAD's part: prog_type 0, insn_cnt 4,
    // insns 8, license 16, log_level 24, log_size 28, log_buf 32,
    // expected_attach_type 68, attach_btf_id 108.
    let mut attr = [0u8; 128];
    let put32 =
        |a: &mut [u8; 128], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 128], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    put32(&mut attr, 0, prog_type);
    put32(&mut attr, 4, 2);
    put64(&mut attr, 8, insns.as_ptr() as u64);
    put64(&mut attr, 16, license.as_ptr() as u64);
    put32(&mut attr, 24, 1);
    put32(&mut attr, 28, u32::try_from(log.len()).unwrap_or(0));
    put64(&mut attr, 32, log.as_mut_ptr() as u64);
    put32(&mut attr, 68, attach_type);
    put32(&mut attr, 108, btf_id);
    // SAFETY: `attr` is valid for its length, passed as the size; the
    // pointers in it (instructions, license, log) outlive the call, and
    // the kernel writes only into `log`, within its stated size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            5 as libc::c_long,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let text =
            String::from_utf8_lossy(log.split(|b| *b == 0).next().unwrap_or(&[])).into_owned();
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        return Err(match last {
            Some(l) => format!("{e}: {}", l.trim()),
            None => e.to_string(),
        });
    }
    // SAFETY: just returned by the kernel, owned only here; closed now.
    drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) });
    Ok(())
}

/// Whether a capability is needed, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// `swmon run` can't start (or, with audit, cross-check) without it.
    Required,
    /// `swmon run` runs without it but sees or guards less.
    Wanted,
}

/// The capabilities `swmon run` starts with, and why (see
/// [`crate::privilege`] for what it keeps after the start).
pub fn needed_caps(audit: bool) -> Vec<(Capability, Need, &'static str)> {
    use Capability::*;
    let mut v = vec![
        (
            CAP_BPF,
            Need::Required,
            "load the BPF programs and maps (CAP_SYS_ADMIN also does)",
        ),
        (
            CAP_PERFMON,
            Need::Required,
            "load tracing programs (CAP_SYS_ADMIN also does)",
        ),
    ];
    // What the run keeps after its start (audit's are required, below).
    let kept = crate::privilege::kept(crate::privilege::Needs {
        audit: false,
        output_group: None,
    });
    for cap in kept {
        let why = match cap {
            CAP_SYS_PTRACE => "read other users' /proc/PID/exe and cwd",
            CAP_DAC_READ_SEARCH => "hash a user's copy of an installer",
            _ => "kept after the start (see privilege.rs)",
        };
        v.push((cap, Need::Wanted, why));
    }
    for cap in crate::privilege::held() {
        v.push((
            cap,
            Need::Wanted,
            "open a package file an install names as the run's user",
        ));
    }
    if audit {
        v.push((
            CAP_AUDIT_CONTROL,
            Need::Required,
            "read audit status and rules",
        ));
        v.push((
            CAP_AUDIT_READ,
            Need::Required,
            "receive audit records (multicast)",
        ));
        v.push((
            CAP_NET_ADMIN,
            Need::Required,
            "size the audit socket's buffer (SO_RCVBUFFORCE)",
        ));
    }
    v.push((
        CAP_SYS_ADMIN,
        Need::Wanted,
        "watch PATH folders with fanotify",
    ));
    v.push((
        CAP_SETPCAP,
        Need::Wanted,
        "cut the bounding set after start",
    ));
    v.sort_by_key(|(c, _, _)| c.to_string());
    v
}

/// This process's effective set (`None`: unreadable).
fn effective_caps() -> Option<CapsHashSet> {
    caps::read(None, CapSet::Effective).ok()
}

/// `cap` is in `have`, or one the kernel takes in its place:
/// `CAP_SYS_ADMIN` for `CAP_BPF` and `CAP_PERFMON` (`bpf_capable()`,
/// `perfmon_capable()`).
fn has(have: &CapsHashSet, cap: Capability) -> bool {
    have.contains(&cap)
        || (matches!(cap, Capability::CAP_BPF | Capability::CAP_PERFMON)
            && have.contains(&Capability::CAP_SYS_ADMIN))
}

pub fn judge_capabilities(have: &Option<CapsHashSet>, audit: bool) -> Check {
    let Some(have) = have else {
        return Check::new(
            "capabilities",
            Status::Fail,
            "can't read this process's capabilities",
        )
        .fix("check /proc/self/status is readable");
    };
    let needed = needed_caps(audit);
    let missing = |n: Need| -> Vec<(String, &'static str)> {
        needed
            .iter()
            .filter(|(c, need, _)| *need == n && !has(have, *c))
            .map(|(c, _, why)| (c.to_string(), *why))
            .collect()
    };
    let (required, wanted) = (missing(Need::Required), missing(Need::Wanted));
    let list = |m: &[(String, &str)]| {
        m.iter()
            .map(|(c, why)| format!("{c} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = |m: &[(String, &str)]| m.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    let details = json!({
        "needed": needed.iter().map(|(c, n, _)| json!({"name": c.to_string(), "required": *n == Need::Required})).collect::<Vec<_>>(),
        "missing_required": names(&required),
        "missing_wanted": names(&wanted),
    });
    let grant = |m: &[(String, &str)]| {
        format!(
            "run as root, or grant {} (a unit's AmbientCapabilities=); doctor judges the capabilities it runs with, so run it as swmon runs",
            names(m).join(" ")
        )
    };
    if !required.is_empty() {
        let mut all = required.clone();
        all.extend(wanted.iter().cloned());
        Check::new(
            "capabilities",
            Status::Fail,
            format!("missing {}", list(&required)),
        )
        .fix(grant(&all))
        .details(details)
    } else if !wanted.is_empty() {
        Check::new(
            "capabilities",
            Status::Warn,
            format!("has what it needs to start; missing {}", list(&wanted)),
        )
        .fix(grant(&wanted))
        .details(details)
    } else {
        Check::new(
            "capabilities",
            Status::Ok,
            format!(
                "all {} capabilities swmon run uses are effective",
                needed.len()
            ),
        )
        .details(details)
    }
}

/// The audit checks' ids, in order.
pub const AUDIT_IDS: [&str; 5] = [
    "audit-enabled",
    "auditd",
    "audit-backlog",
    "audit-failure-mode",
    "audit-rules",
];

/// Reads the audit status and rules once, and judges them.
fn audit_checks(audit: bool) -> Vec<Check> {
    let report = ControlSocket::open()
        .map_err(|e| e.to_string())
        .and_then(|mut ctl| {
            // The installers as the eBPF filter finds them: a file system
            // walk, bounded like the output check.
            let found = bounded(rules::host_installers).ok_or_else(|| {
                format!(
                    "finding the host's installers took over {}s (a hung mount in PATH?)",
                    CHECK_DEADLINE.as_secs()
                )
            })?;
            RulesReport::build(&mut ctl, &found, None).map_err(|e| e.to_string())
        });
    let alive = |pid: u32| {
        (pid != 0)
            .then(|| read_bounded(&Path::new("/proc").join(pid.to_string()).join("comm"), 64))
            .and_then(Result::ok)
            .map(|c| c.trim().to_owned())
    };
    match report {
        Ok(r) => judge_audit(&r.status, alive(r.status.pid), &r.coverage, audit),
        Err(e) => judge_audit_unreadable(&e, audit),
    }
}

/// When neither status nor rules could be read.
pub fn judge_audit_unreadable(error: &str, audit: bool) -> Vec<Check> {
    let first = if audit {
        Check::new(
            "audit-enabled",
            Status::Fail,
            format!("can't read the audit status: {error}"),
        )
        .fix("run as root (CAP_AUDIT_CONTROL), or run swmon with --no-audit")
    } else {
        Check::new(
            "audit-enabled",
            Status::Info,
            format!("can't read the audit status ({error}); not used with --no-audit"),
        )
    };
    let mut v = vec![first.details(json!({ "error": error }))];
    for id in &AUDIT_IDS[1..] {
        v.push(Check::new(
            id,
            Status::Skip,
            "not checked: the audit status can't be read",
        ));
    }
    v
}

/// Judges a status snapshot and the rules' coverage. `daemon`: the
/// registered daemon's name when its process exists.
pub fn judge_audit(
    s: &AuditStatus,
    daemon: Option<String>,
    coverage: &[Coverage],
    audit: bool,
) -> Vec<Check> {
    // With --no-audit nothing here stops or weakens swmon: facts only.
    let soften = |c: Check| {
        if audit || c.status == Status::Ok {
            c
        } else {
            Check {
                status: Status::Info,
                what: format!("{} (not used with --no-audit)", c.what),
                fix: None,
                ..c
            }
        }
    };
    let enabled = match s.enabled {
        1 => Check::new("audit-enabled", Status::Ok, "kernel audit is enabled (1)"),
        0 => Check::new(
            "audit-enabled",
            Status::Fail,
            "kernel audit is disabled (0): it records nothing, so swmon can check no exec against audit",
        )
        .fix("auditctl -e 1 (keep it over reboots with -e 1 in the audit rules, or audit=1 on the kernel command line); or run swmon with --no-audit"),
        2 => Check::new(
            "audit-enabled",
            Status::Warn,
            "kernel audit is enabled and locked (-e 2): no rule can be added, removed or restored until reboot; swmon run --audit-rules seed, --restore-rules and swmon rules install are refused",
        )
        .fix("load swmon's rules (swmon rules show --set seed) before the -e 2 line of the audit rules, then reboot"),
        n => Check::new(
            "audit-enabled",
            Status::Fail,
            format!("kernel audit reports enabled = {n}, which swmon does not know"),
        )
        .fix("auditctl -e 1"),
    }
    .details(json!({ "enabled": s.enabled }));

    let auditd = match (s.pid, daemon) {
        (0, _) => Check::new(
            "auditd",
            Status::Warn,
            "no audit daemon registered: nothing writes the audit log (swmon reads records itself; swmon report needs auditd's log)",
        )
        .fix("systemctl enable --now auditd"),
        (pid, None) => Check::new(
            "auditd",
            Status::Warn,
            format!("the kernel names audit daemon pid {pid}, but no such process exists: nothing writes the audit log"),
        )
        .fix("systemctl restart auditd"),
        (pid, Some(name)) => Check::new(
            "auditd",
            Status::Ok,
            format!("audit daemon running: pid {pid} ({name})"),
        ),
    }
    .details(json!({ "pid": s.pid }));

    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    if s.backlog_limit < BACKLOG_MIN {
        problems.push(format!(
            "backlog limit {} is under {BACKLOG_MIN}: a burst of execs can overflow it",
            s.backlog_limit
        ));
        fixes.push(format!("auditctl -b {BACKLOG_MIN}"));
    }
    if s.lost > 0 {
        problems.push(format!(
            "the kernel lost {} records since boot (backlog full, rate limit or no memory)",
            s.lost
        ));
        if fixes.is_empty() {
            fixes.push("raise the backlog limit (auditctl -b) and watch lost".to_owned());
        }
    }
    if s.rate_limit != 0 {
        problems.push(format!(
            "a rate limit of {}/s drops records above it",
            s.rate_limit
        ));
        fixes.push("auditctl -r 0".to_owned());
    }
    let backlog_details = json!({
        "backlog_limit": s.backlog_limit,
        "backlog": s.backlog,
        "lost": s.lost,
        "rate_limit": s.rate_limit,
        "backlog_wait_time": s.backlog_wait_time,
    });
    let backlog = if problems.is_empty() {
        Check::new(
            "audit-backlog",
            Status::Ok,
            format!(
                "backlog {}/{}, none lost, no rate limit",
                s.backlog, s.backlog_limit
            ),
        )
    } else {
        Check::new("audit-backlog", Status::Warn, problems.join("; ")).fix(fixes.join("; "))
    }
    .details(backlog_details);

    let failure = match s.failure {
        1 => Check::new(
            "audit-failure-mode",
            Status::Ok,
            "a record the kernel can't deliver is reported in the kernel log (-f 1)",
        ),
        0 => Check::new(
            "audit-failure-mode",
            Status::Warn,
            "a record the kernel can't deliver is dropped silently (-f 0)",
        )
        .fix("auditctl -f 1"),
        2 => Check::new(
            "audit-failure-mode",
            Status::Warn,
            "a record the kernel can't deliver panics the host (-f 2): a full backlog during a burst of installs stops it",
        )
        .fix(format!("keep the backlog limit high (auditctl -b {BACKLOG_MIN} or more), or auditctl -f 1 if a panic is not wanted")),
        n => Check::new(
            "audit-failure-mode",
            Status::Warn,
            format!("failure mode {n}, which swmon does not know"),
        )
        .fix("auditctl -f 1"),
    }
    .details(json!({ "failure": s.failure }));

    let covered: Vec<String> = coverage
        .iter()
        .filter(|c| c.covered_by.is_some())
        .map(|c| c.path.display().to_string())
        .collect();
    let missed: Vec<String> = coverage
        .iter()
        .filter(|c| c.covered_by.is_none())
        .map(|c| c.path.display().to_string())
        .collect();
    let rules_details = json!({ "covered": covered, "missed": missed });
    let rules = if coverage.is_empty() {
        Check::new(
            "audit-rules",
            Status::Info,
            "no installer of swmon's catalogue found on this host",
        )
    } else if missed.is_empty() {
        Check::new(
            "audit-rules",
            Status::Ok,
            format!(
                "the loaded rules record the exec of all {} installers found",
                covered.len()
            ),
        )
    } else {
        Check::new(
            "audit-rules",
            Status::Warn,
            format!(
                "the loaded rules record {} of {} installers found; not {}: their runs get no audit record (ebpf_only)",
                covered.len(),
                coverage.len(),
                first_few(&missed)
            ),
        )
        .fix("swmon rules install (adds the seed rule, perm=x path=PATH key=software-installer, for each), or swmon run --audit-rules seed")
    }
    .details(rules_details);

    [enabled, auditd, backlog, failure, rules]
        .into_iter()
        .map(soften)
        .collect()
}

/// How many names a line lists before it says how many more there are
/// (`details` lists them all).
const LISTED: usize = 8;

fn first_few(names: &[String]) -> String {
    let mut s = names[..names.len().min(LISTED)].join(" ");
    if names.len() > LISTED {
        s.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    s
}

/// What [`crate::safe_file::check_output`] found, or why it refused.
fn output_check(options: &Options) -> Check {
    let path = &options.output;
    if path.as_os_str() == "-" {
        return Check::new("output", Status::Ok, "events go to standard output")
            .details(json!({ "path": "-" }));
    }
    if let Some(fs) = untrusted_mount(path) {
        return judge_output(path, OutputFound::Untrusted(fs));
    }
    let p = path.clone();
    let group = options.output_group;
    let found = match bounded(move || crate::safe_file::check_output(&p, group)) {
        None => OutputFound::TimedOut,
        Some(Ok(state)) => OutputFound::State(state),
        Some(Err(e)) => OutputFound::Refused(e.to_string()),
    };
    judge_output(path, found)
}

/// The type of a FUSE or network file system `path` lies on, judged from
/// the mount table by the path as given (a link into such a mount is
/// caught by the deadline instead).
fn untrusted_mount(path: &Path) -> Option<String> {
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let text = read_bounded_bytes(Path::new("/proc/self/mountinfo"), 16 << 20).ok()?;
    let mounts = crate::mounts::Mounts::parse(&text);
    let on_path = mounts
        .on_path(path.as_os_str().as_encoded_bytes())
        .find(|m| crate::mounts::untrusted_fs(&m.fs_type))
        .map(|m| m.fs_type.clone());
    on_path
}

/// What the output check found.
#[derive(Clone, Debug)]
pub enum OutputFound {
    State(crate::safe_file::OutputState),
    Refused(String),
    Untrusted(String),
    TimedOut,
}

pub fn judge_output(path: &Path, found: OutputFound) -> Check {
    let shown = path.display().to_string();
    let details = json!({ "path": shown });
    match found {
        OutputFound::Untrusted(fs) => Check::new(
            "output",
            Status::Fail,
            format!("{shown} is on a {fs} file system: a stalled server would stall swmon's writer, and doctor does not look there"),
        )
        .fix("write events to a local file system, such as /var/log/swmon/events.json"),
        OutputFound::TimedOut => Check::new(
            "output",
            Status::Fail,
            format!("looking at {shown} took over {}s (a hung mount on the way?)", CHECK_DEADLINE.as_secs()),
        )
        .fix("write events to a local file system, such as /var/log/swmon/events.json"),
        OutputFound::Refused(e) => Check::new("output", Status::Fail, e)
            .fix("use a file in a folder only root can write, such as /var/log/swmon/events.json"),
        OutputFound::State(s) if !s.writable => Check::new(
            "output",
            Status::Fail,
            format!("{shown}: {}", s.why_not.as_deref().unwrap_or("not writable")),
        )
        .fix("use a file in a writable local folder only root can write, such as /var/log/swmon/events.json"),
        OutputFound::State(s) => match s.mode {
            Some(mode) if mode & 0o7777 != s.wanted_mode => Check::new(
                "output",
                Status::Warn,
                format!(
                    "{shown} exists with mode {:o}: swmon tightens it to {:o} at start, but whoever has it open now keeps access",
                    mode & 0o7777,
                    s.wanted_mode
                ),
            )
            .fix(format!("chmod {:o} {shown} now, and create it {:o} in logrotate's create line", s.wanted_mode, s.wanted_mode)),
            Some(mode) => Check::new(
                "output",
                Status::Ok,
                format!("{shown} is writable, mode {:o}, in folders only root writes", mode & 0o7777),
            ),
            None => Check::new(
                "output",
                Status::Ok,
                format!(
                    "{shown} will be created mode {:o} in a writable folder only root writes",
                    s.wanted_mode
                ),
            ),
        },
    }
    .details(details)
}

/// The clock's state from `adjtimex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockState {
    /// `adjtimex`'s return: `TIME_ERROR` (5) when unsynchronized.
    pub state: i32,
    pub status: i32,
    /// Microseconds.
    pub max_error: i64,
    pub est_error: i64,
}

/// `adjtimex` with `modes` 0: a read, nothing is set.
fn clock_state() -> Result<ClockState, String> {
    // SAFETY: an all-zero timex is valid; modes 0 asks for a read only.
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid timex for the call.
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(ClockState {
        state,
        status: t.status,
        max_error: t.maxerror,
        est_error: t.esterror,
    })
}

pub fn judge_clock(c: Result<ClockState, String>) -> Check {
    let fix = "start a time sync service (systemd-timesyncd, chronyd or ntpd)";
    match c {
        Err(e) => Check::new(
            "clock",
            Status::Warn,
            format!("can't read the clock's state: {e}"),
        )
        .fix(fix),
        Ok(c) => {
            let details = json!({
                "state": c.state,
                "status": c.status,
                "max_error_us": c.max_error,
                "est_error_us": c.est_error,
            });
            if c.status & libc::STA_UNSYNC != 0 || c.state == libc::TIME_ERROR {
                Check::new(
                    "clock",
                    Status::Warn,
                    "the system clock is not synchronized (STA_UNSYNC): event times may be off, and this host's events may not line up with others'",
                )
                .fix(fix)
            } else {
                Check::new(
                    "clock",
                    Status::Ok,
                    format!("the system clock is synchronized (estimated error {} µs)", c.est_error),
                )
            }
            .details(details)
        }
    }
}

/// Runs `f` on a thread of its own and waits up to [`CHECK_DEADLINE`];
/// `None` when it did not finish (the thread is left behind, stuck where
/// it is, and ends with the process).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("doctor-check".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .ok()?;
    rx.recv_timeout(CHECK_DEADLINE).ok()
}

/// Reads at most `limit` bytes of `path` (a kernel file: procfs, sysfs).
fn read_bounded_bytes(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    read_bounded_bytes(path, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Every check's id, in order.
pub fn ids() -> Vec<&'static str> {
    let mut v = vec![
        "kernel",
        "tracepoints",
        "bpf-programs",
        "bpf-lsm-fentry",
        "capabilities",
    ];
    v.extend(AUDIT_IDS);
    v.extend(["output", "clock"]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(enabled: u32, pid: u32) -> AuditStatus {
        AuditStatus {
            enabled,
            pid,
            failure: 1,
            backlog_limit: 8192,
            ..AuditStatus::default()
        }
    }

    fn by_id<'a>(checks: &'a [Check], id: &str) -> &'a Check {
        checks.iter().find(|c| c.id == id).expect(id)
    }

    fn coverage(path: &str, covered: bool) -> Coverage {
        Coverage {
            path: path.into(),
            canonical: path.into(),
            covered_by: covered
                .then(|| rules::AuditRule::exec_watch(Path::new(path), rules::SEED_KEY)),
        }
    }

    fn all_caps() -> Option<CapsHashSet> {
        Some(caps::all())
    }

    #[test]
    fn one_line_a_check_with_its_fix_and_a_summary() {
        let report = Report::new(
            true,
            vec![
                Check::new("kernel", Status::Ok, "Linux 6.18"),
                Check::new("auditd", Status::Warn, "no daemon").fix("systemctl start auditd"),
                Check::new("audit-enabled", Status::Fail, "off").fix("auditctl -e 1"),
            ],
        );
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("ok    kernel "), "{}", lines[0]);
        assert!(lines[1].starts_with("warn  auditd "), "{}", lines[1]);
        assert!(lines[1].ends_with("no daemon  fix: systemctl start auditd"));
        assert!(lines[2].starts_with("FAIL  audit-enabled "));
        assert!(lines[2].ends_with("off  fix: auditctl -e 1"));
        assert_eq!(lines[3], "swmon can't run with audit: 1 check failed");
        assert_eq!(report.exit_code(), 1);
        assert!(!report.can_run);

        let ok = Report::new(
            false,
            vec![Check::new("auditd", Status::Warn, "no daemon").fix("start it")],
        );
        assert_eq!(ok.exit_code(), 0);
        assert!(ok
            .to_string()
            .ends_with("swmon can run with --no-audit (1 warning)\n"));
    }

    #[test]
    fn text_is_terminal_safe() {
        let report = Report::new(
            true,
            vec![Check::new("output", Status::Fail, "/tmp/a\u{1b}[2Jb\nc").fix("x\ry")],
        );
        let text = report.to_string();
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert_eq!(text.lines().count(), 2, "{text:?}");
    }

    #[test]
    fn the_json_shape_is_stable() {
        let report = Report::new(
            true,
            vec![
                Check::new("kernel", Status::Ok, "fine").details(json!({"release": "6.18"})),
                Check::new("clock", Status::Warn, "unsynced").fix("chrony"),
                Check::new("tracepoints", Status::Skip, "not checked"),
                Check::new("bpf-lsm-fentry", Status::Info, "refused"),
            ],
        );
        let v = serde_json::to_value(&report).expect("json");
        let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["audit", "can_run", "checks", "doctor"]);
        assert_eq!(v["doctor"], 1);
        assert_eq!(v["can_run"], true);
        let checks = v["checks"].as_array().expect("array");
        for c in checks {
            let mut keys: Vec<&String> = c.as_object().expect("object").keys().collect();
            keys.sort();
            assert_eq!(keys, ["details", "fix", "id", "status", "what"]);
            assert!(c["details"].is_object());
        }
        let statuses: Vec<&str> = checks
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["ok", "warn", "skip", "info"]);
        assert!(checks[0]["fix"].is_null());
        assert_eq!(checks[1]["fix"], "chrony");
        assert_eq!(checks[0]["details"]["release"], "6.18");
    }

    #[test]
    fn the_ids_are_unique_and_in_order() {
        let ids = ids();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert_eq!(ids.first(), Some(&"kernel"));
        assert_eq!(ids.last(), Some(&"clock"));
        // The audit checks come out in AUDIT_IDS's order, readable or not.
        let judged: Vec<&str> = judge_audit(&status(1, 0), None, &[], true)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(judged, AUDIT_IDS);
        let unreadable: Vec<&str> = judge_audit_unreadable("EPERM", true)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(unreadable, AUDIT_IDS);
    }

    #[test]
    fn kernel_and_tracepoints() {
        let c = judge_kernel("6.18.1", None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.as_deref().unwrap().contains("CONFIG_DEBUG_INFO_BTF"));
        let c = judge_kernel(
            "6.18.1",
            Some(Err("kernel BTF has no struct dentry".into())),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.what.contains("no struct dentry"), "{}", c.what);
        let c = judge_kernel("6.18.1", Some(Ok(())));
        assert_eq!((c.status, c.fix.is_none()), (Status::Ok, true));
        assert_eq!(c.details["release"], "6.18.1");

        let wanted = ["sched_process_exec", "writeback_dirty_folio"];
        assert_eq!(judge_tracepoints(&wanted, None).status, Status::Skip);
        let c = judge_tracepoints(&wanted, Some(Ok(vec!["writeback_dirty_folio".into()])));
        assert_eq!(c.status, Status::Fail);
        assert!(c.what.contains("writeback_dirty_folio"));
        assert!(c.fix.is_some());
        assert_eq!(
            judge_tracepoints(&wanted, Some(Ok(vec![]))).status,
            Status::Ok
        );
        assert_eq!(
            judge_tracepoints(&wanted, Some(Err("bad".into()))).status,
            Status::Fail
        );
    }

    #[test]
    fn programs_and_lsm() {
        assert_eq!(judge_programs(Ok(10), 0).status, Status::Ok);
        let c = judge_programs(Err("swmon must run as root".into()), 1000);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.as_deref().unwrap().contains("root"));
        let c = judge_programs(Err("the kernel rejected program x".into()), 0);
        assert!(c.what.contains("rejected program x"));

        // Refused or not, LSM and fentry are facts, never a failure.
        for p in [
            LsmFentry::default(),
            LsmFentry {
                lsms: Some("lockdown,capability,bpf".into()),
                lsm: Some(Err("Invalid argument".into())),
                fentry: Some(Ok(())),
            },
        ] {
            assert_eq!(judge_lsm_fentry(&p).status, Status::Info);
        }
        let c = judge_lsm_fentry(&LsmFentry {
            lsms: Some("capability,bpf".into()),
            lsm: Some(Err("Invalid argument".into())),
            fentry: Some(Ok(())),
        });
        assert!(
            c.what
                .contains("BPF LSM program refused (Invalid argument)"),
            "{}",
            c.what
        );
        assert!(c.what.contains("fentry program loads"), "{}", c.what);
        assert!(c.what.contains("active LSMs: true"), "{}", c.what);
        assert_eq!(c.details["lsm_loads"], false);
    }

    #[test]
    fn capabilities() {
        assert_eq!(judge_capabilities(&all_caps(), true).status, Status::Ok);
        assert_eq!(judge_capabilities(&None, true).status, Status::Fail);
        let without = |gone: &[Capability]| {
            let mut s = caps::all();
            for c in gone {
                s.remove(c);
            }
            Some(s)
        };
        // Loading programs needs CAP_BPF: a failure, whatever the mode...
        for audit in [true, false] {
            let c = judge_capabilities(
                &without(&[Capability::CAP_BPF, Capability::CAP_SYS_ADMIN]),
                audit,
            );
            assert_eq!(c.status, Status::Fail);
            assert_eq!(c.details["missing_required"], json!(["CAP_BPF"]));
            assert!(c.fix.as_deref().unwrap().contains("CAP_BPF"));
        }
        // ... unless CAP_SYS_ADMIN stands in for it, as the kernel lets it.
        assert_eq!(
            judge_capabilities(&without(&[Capability::CAP_BPF]), true).status,
            Status::Ok
        );
        // Audit's capabilities fail only when audit is asked for.
        let no_audit_caps = without(&[Capability::CAP_AUDIT_READ, Capability::CAP_AUDIT_CONTROL]);
        assert_eq!(
            judge_capabilities(&no_audit_caps, true).status,
            Status::Fail
        );
        assert_eq!(judge_capabilities(&no_audit_caps, false).status, Status::Ok);
        // What the run keeps after its start but can do without: a warning
        // naming it.
        let c = judge_capabilities(&without(&[Capability::CAP_SYS_PTRACE]), true);
        assert_eq!(c.status, Status::Warn);
        assert!(c.what.contains("CAP_SYS_PTRACE"), "{}", c.what);
        assert_eq!(c.details["missing_wanted"], json!(["CAP_SYS_PTRACE"]));
        // Every capability the privilege drop keeps is asked for.
        let needed: Vec<Capability> = needed_caps(true).iter().map(|(c, _, _)| *c).collect();
        let kept = crate::privilege::kept(crate::privilege::Needs {
            audit: true,
            output_group: None,
        });
        for c in kept.iter().chain(crate::privilege::held().iter()) {
            assert!(needed.contains(c), "{c}");
        }
    }

    #[test]
    fn audit_off_fails_with_its_fix_unless_no_audit() {
        let checks = judge_audit(&status(0, 0), None, &[], true);
        let c = by_id(&checks, "audit-enabled");
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.as_deref().unwrap().starts_with("auditctl -e 1"));
        assert!(c.fix.as_deref().unwrap().contains("--no-audit"));
        assert_eq!(c.details["enabled"], 0);
        // With --no-audit: facts, no fix, nothing fails.
        let checks = judge_audit(&status(0, 0), None, &[], false);
        for c in &checks {
            assert!(matches!(c.status, Status::Info | Status::Ok), "{c:?}");
            assert!(c.status == Status::Ok || c.what.ends_with("(not used with --no-audit)"));
            assert!(c.fix.is_none() || c.status == Status::Ok);
        }
        assert!(Report::new(false, checks).can_run);
    }

    #[test]
    fn audit_locked_is_a_warning_with_its_meaning() {
        let checks = judge_audit(&status(2, 0), None, &[], true);
        let c = by_id(&checks, "audit-enabled");
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.what.contains("-e 2") && c.what.contains("until reboot"),
            "{}",
            c.what
        );
        assert_eq!(
            by_id(
                &judge_audit(&status(7, 0), None, &[], true),
                "audit-enabled"
            )
            .status,
            Status::Fail
        );
    }

    #[test]
    fn auditd_running_gone_or_absent() {
        let c = by_id(&judge_audit(&status(1, 0), None, &[], true), "auditd").clone();
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.as_deref().unwrap().contains("auditd"));
        let c = by_id(&judge_audit(&status(1, 4242), None, &[], true), "auditd").clone();
        assert_eq!(c.status, Status::Warn);
        assert!(c.what.contains("4242") && c.what.contains("no such process"));
        let c = by_id(
            &judge_audit(&status(1, 4242), Some("auditd".into()), &[], true),
            "auditd",
        )
        .clone();
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.what, "audit daemon running: pid 4242 (auditd)");
        assert_eq!(c.details["pid"], 4242);
    }

    #[test]
    fn backlog_lost_rate_and_failure_mode() {
        let mut s = status(1, 0);
        assert_eq!(
            by_id(&judge_audit(&s, None, &[], true), "audit-backlog").status,
            Status::Ok
        );
        s.backlog_limit = 64;
        let c = by_id(&judge_audit(&s, None, &[], true), "audit-backlog").clone();
        assert_eq!(c.status, Status::Warn);
        assert_eq!(c.fix.as_deref(), Some("auditctl -b 8192"));
        s.backlog_limit = 8192;
        s.lost = 17;
        s.rate_limit = 100;
        let c = by_id(&judge_audit(&s, None, &[], true), "audit-backlog").clone();
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.what.contains("lost 17") && c.what.contains("100/s"),
            "{}",
            c.what
        );
        assert_eq!(c.details["lost"], 17);
        assert!(c.fix.as_deref().unwrap().contains("auditctl -r 0"));

        for (mode, status_, word) in [
            (1, Status::Ok, "kernel log"),
            (0, Status::Warn, "silently"),
            (2, Status::Warn, "panics"),
            (9, Status::Warn, "does not know"),
        ] {
            let mut s = status(1, 0);
            s.failure = mode;
            let c = by_id(&judge_audit(&s, None, &[], true), "audit-failure-mode").clone();
            assert_eq!(c.status, status_, "{mode}");
            assert!(c.what.contains(word), "{}", c.what);
        }
    }

    #[test]
    fn rule_coverage_names_what_is_missed() {
        let s = status(1, 0);
        let found = [
            coverage("/usr/bin/dpkg", true),
            coverage("/usr/bin/pip3", false),
        ];
        let c = by_id(&judge_audit(&s, None, &found, true), "audit-rules").clone();
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.what.contains("1 of 2") && c.what.contains("/usr/bin/pip3"),
            "{}",
            c.what
        );
        assert!(c.fix.as_deref().unwrap().starts_with("swmon rules install"));
        assert_eq!(c.details["missed"], json!(["/usr/bin/pip3"]));
        assert_eq!(c.details["covered"], json!(["/usr/bin/dpkg"]));
        // A long list is cut in the sentence, whole in the details.
        let many: Vec<Coverage> = (0..11)
            .map(|i| coverage(&format!("/usr/bin/i{i}"), false))
            .collect();
        let c = by_id(&judge_audit(&s, None, &many, true), "audit-rules").clone();
        assert!(c.what.contains("/usr/bin/i7 and 3 more:"), "{}", c.what);
        assert!(!c.what.contains("/usr/bin/i8"), "{}", c.what);
        assert_eq!(c.details["missed"].as_array().map(Vec::len), Some(11));
        let all = [coverage("/usr/bin/dpkg", true)];
        assert_eq!(
            by_id(&judge_audit(&s, None, &all, true), "audit-rules").status,
            Status::Ok
        );
        assert_eq!(
            by_id(&judge_audit(&s, None, &[], true), "audit-rules").status,
            Status::Info
        );
    }

    #[test]
    fn unreadable_audit_fails_only_with_audit() {
        let v = judge_audit_unreadable("Operation not permitted", true);
        assert_eq!(v[0].status, Status::Fail);
        assert!(v[0].what.contains("Operation not permitted"));
        assert!(v[1..].iter().all(|c| c.status == Status::Skip));
        let v = judge_audit_unreadable("Operation not permitted", false);
        assert_eq!(v[0].status, Status::Info);
        assert!(Report::new(false, v).can_run);
    }

    #[test]
    fn output_decisions() {
        use crate::safe_file::OutputState;
        let p = Path::new("/var/log/swmon/events.json");
        let state = |mode, writable| {
            OutputFound::State(OutputState {
                mode,
                wanted_mode: 0o600,
                writable,
                why_not: (!writable).then(|| "can't write it: Read-only file system".into()),
            })
        };
        assert_eq!(judge_output(p, state(None, true)).status, Status::Ok);
        assert_eq!(
            judge_output(p, state(Some(0o100600), true)).status,
            Status::Ok
        );
        let c = judge_output(p, state(Some(0o100644), true));
        assert_eq!(c.status, Status::Warn);
        assert!(c.what.contains("644") && c.fix.as_deref().unwrap().contains("chmod 600"));
        let c = judge_output(p, state(Some(0o100600), false));
        assert_eq!(c.status, Status::Fail);
        assert!(c.what.contains("Read-only file system"), "{}", c.what);
        for found in [
            OutputFound::Refused("refusing output x: it is a symbolic link".into()),
            OutputFound::Untrusted("fuse.sshfs".into()),
            OutputFound::TimedOut,
        ] {
            let c = judge_output(p, found);
            assert_eq!(c.status, Status::Fail, "{c:?}");
            assert!(c.fix.is_some());
        }
        assert_eq!(
            output_check(&Options {
                output: "-".into(),
                output_group: None,
                audit: true
            })
            .status,
            Status::Ok
        );
    }

    #[test]
    fn clock_decisions() {
        let synced = ClockState {
            state: libc::TIME_OK,
            status: 0,
            max_error: 10,
            est_error: 3,
        };
        assert_eq!(judge_clock(Ok(synced)).status, Status::Ok);
        let unsynced = ClockState {
            status: libc::STA_UNSYNC,
            ..synced
        };
        let c = judge_clock(Ok(unsynced));
        assert_eq!(c.status, Status::Warn);
        assert!(c.what.contains("STA_UNSYNC") && c.fix.is_some());
        let error = ClockState {
            state: libc::TIME_ERROR,
            ..synced
        };
        assert_eq!(judge_clock(Ok(error)).status, Status::Warn);
        assert_eq!(judge_clock(Err("EPERM".into())).status, Status::Warn);
        // This host's clock reads without error, whatever its state.
        assert!(clock_state().is_ok());
    }

    #[test]
    fn a_deadline_ends_the_wait_not_the_check() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let start = std::time::Instant::now();
        // Blocks until the sender is dropped: longer than the deadline.
        let got = bounded(move || rx.recv().is_ok());
        assert_eq!(got, None);
        assert!(start.elapsed() >= CHECK_DEADLINE);
        drop(tx);
        assert_eq!(bounded(|| 7), Some(7));
    }
}
