//! One run, one decision, on the real kernel with the real binary: a run
//! that execs several times under a rule recording every execve is one
//! `confirmed` run with all its records and no `audit_only`; a record held
//! back by a stopped auditd (the kernel's audit queue blocked behind it)
//! arrives after its run was decided and amends it (`verdict-amended`,
//! once); a run the kernel stream missed (a ring buffer too small for any
//! exec record) is `audit_only`; runs of a deleted executable and inside a
//! chroot join their records by (dev, inode).
//!
//! Host rules: each test adds only rules with its own key (`swmon-test-
//! PID-...`, deleted by `HostAudit`), puts back the enabled flag and the
//! backlog limit, and stops only the auditd it started (by pid). Run them
//! under the host lock, one at a time.

mod audit_common;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use audit_common::{add, key, status, Auditd, HostAudit};
use serde_json::Value;
use swmon::audit::rules::{op, AuditRule, FieldValue, RuleField};
use tests::{action, counters, run, runs_of, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";
const NPM: &str = "/usr/bin/npm";
const PYTHON: &str = "/usr/bin/python3";
/// `AUDIT_PPID`.
const AUDIT_PPID: u32 = 18;

/// An execve/execveat rule with this test's key; with `ppid`, only for
/// children of this test process (the late-record test blocks the audit
/// queue and must not hold up the host's other processes' records).
fn exec_rule(tag: &str, ppid: bool) -> AuditRule {
    let mut r = AuditRule::syscalls(&[59, 322], &key(tag));
    if ppid {
        r.fields.insert(
            1,
            RuleField {
                field: AUDIT_PPID,
                op: op::EQUAL,
                value: FieldValue::Num(std::process::id()),
            },
        );
    }
    r
}

fn verdict(e: &Value) -> (&str, &str) {
    (
        e["swmon"]["verdict"].as_str().unwrap_or(""),
        e["swmon"]["reason"].as_str().unwrap_or(""),
    )
}

fn audit_only_of(events: &[Value], pid: u32) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["swmon"]["verdict"] == "audit_only" && e["process"]["pid"] == pid)
        .cloned()
        .collect()
}

/// Waits for a heartbeat written at least `after` past `since` (an RFC 3339
/// time of an event): by then every tick that could report an `audit_only`
/// (or a second correction) for what came before has run.
fn heartbeat_after(m: &Monitor, since: &str, after: Duration) {
    let micros = |t: &str| swmon::report::time_bound(t).expect("an RFC 3339 time");
    let since = micros(since);
    let after = i64::try_from(after.as_micros()).expect("a short wait");
    m.wait_for("a later heartbeat", Duration::from_secs(30), |e| {
        action(e) == "heartbeat"
            && e["@timestamp"]
                .as_str()
                .is_some_and(|t| micros(t) >= since + after)
    });
}

#[test]
fn a_run_with_several_records_under_an_execve_all_rule_is_one_confirmed_run() {
    assert!(
        Path::new(NPM).exists(),
        "{NPM} is missing: install Debian's npm"
    );
    let host = HostAudit::save();
    host.enable();
    // Every exec on the host is recorded while the rule is loaded: room in
    // the kernel's queue (put back by HostAudit).
    host.set_backlog_limit(8192);
    let auditd = Auditd::start();
    add(&exec_rule("all", false));
    let m = Monitor::start(&["--audit-wait-ms", "300", "--heartbeat-secs", "1"]);
    // /usr/bin/npm is `#!/usr/bin/env node`: one process execs env, then
    // node; the rule records both.
    let (pid, code) = run(Command::new(NPM).arg("--version"));
    assert_eq!(code, 0, "npm --version");
    let e = m.wait_for("the npm run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    heartbeat_after(
        &m,
        e["@timestamp"].as_str().expect("time"),
        Duration::from_secs(3),
    );
    let events = m.stop();
    drop(auditd);

    let runs = runs_of(&events, pid);
    assert_eq!(runs.len(), 1, "one run, one event: {runs:#?}");
    let e = &runs[0];
    assert_eq!(verdict(e), ("confirmed", ""), "{e:#}");
    assert_eq!(e["swmon"]["manager"], "npm", "{e:#}");
    let audit = &e["swmon"]["audit"];
    assert_eq!(audit["key"], key("all"), "{e:#}");
    assert_eq!(audit["join"], "inode", "{e:#}");
    assert!(
        audit["records"].as_u64().unwrap_or(0) >= 2,
        "env's and node's records both attached: {e:#}"
    );
    assert!(
        audit["serials"].as_array().is_some_and(|s| s.len() >= 2),
        "{e:#}"
    );
    assert!(
        e["swmon"]["run_id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("{pid}-"))),
        "{e:#}"
    );
    assert!(
        audit_only_of(&events, pid).is_empty(),
        "no audit_only for a record of the run"
    );
    assert_eq!(counters(&events)["audit_only"], 0);
}

/// Sends SIGCONT to the stopped auditd however the test ends (its drop
/// sends SIGTERM and waits, which a stopped process would never answer).
struct Cont(u32);

impl Drop for Cont {
    fn drop(&mut self) {
        // SAFETY: a signal to the auditd this test started, by its pid.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// How a record is made late: auditd is stopped and its socket filled, so
/// kauditd blocks sending it the next record (about 100 ms here: the
/// kernel's audit socket has a send timeout), and the multicast copies
/// (swmon's) of the records queued behind wait in the kernel meanwhile. An installer that runs and exits
/// inside that window is decided (`--audit-wait-ms 0`: at its exit) before
/// its record arrives. Whether a run falls inside the window is not up to
/// the test, so it tries a few times; every attempt is checked (one event
/// per run, no `audit_only`, a correction exactly when the first verdict
/// missed the record), and at least one must have been amended.
#[test]
fn a_record_that_comes_after_the_decision_amends_the_run_once() {
    let host = HostAudit::save();
    host.enable();
    host.set_backlog_limit(8192);
    add(&exec_rule("late", true));
    let m = Monitor::start(&["--audit-wait-ms", "0", "--heartbeat-secs", "1"]);
    let mut attempts = Vec::new();
    for n in 1..=5 {
        let auditd = Auditd::start();
        // swmon knows a daemon logs what it gets (each attempt has its
        // own auditd, stopped at the end of the attempt).
        m.wait_for("auditd-started", Duration::from_secs(10), |_| {
            m.events()
                .iter()
                .filter(|e| action(e) == "auditd-started")
                .count()
                >= n
        });
        let stopped = Cont(auditd.pid());
        // SAFETY: a signal to the auditd this test started, by its pid.
        unsafe { libc::kill(auditd.pid() as i32, libc::SIGSTOP) };
        let end = Instant::now() + Duration::from_secs(60);
        // The queue grows: kauditd is blocked on auditd right now.
        while status().backlog < 8 {
            assert!(Instant::now() < end, "the audit queue never backed up");
            let (_, code) = run(&mut Command::new("/bin/true"));
            assert_eq!(code, 0);
        }
        let (pid, code) = run(Command::new(DPKG).arg("--version"));
        assert_eq!(code, 0);
        let first = m.wait_for("the dpkg run", Duration::from_secs(30), |e| {
            e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
        });
        drop(stopped);
        drop(auditd);
        let late = verdict(&first).0 == "ebpf_only";
        attempts.push((pid, first));
        if late {
            break;
        }
    }
    eprintln!("late after {} attempt(s)", attempts.len());
    let (pid, first) = attempts.last().cloned().expect("an attempt");
    assert_eq!(
        verdict(&first).0,
        "ebpf_only",
        "no record came late in {} attempts",
        attempts.len()
    );
    let run_id = first["swmon"]["run_id"]
        .as_str()
        .expect("run_id")
        .to_owned();
    let amended = m.wait_for("verdict-amended", Duration::from_secs(60), |e| {
        action(e) == "verdict-amended" && e["swmon"]["run_id"] == run_id.as_str()
    });
    heartbeat_after(
        &m,
        amended["@timestamp"].as_str().expect("time"),
        Duration::from_secs(2),
    );
    let events = m.stop();

    // The record was logged by the daemon, or came as the kernel reset it.
    assert!(
        matches!(
            verdict(&amended),
            ("confirmed", "") | ("ebpf_only", "auditd-stopped")
        ),
        "{amended:#}"
    );
    assert_eq!(amended["swmon"]["previous_verdict"], "ebpf_only");
    assert_eq!(
        amended["swmon"]["previous_reason"], first["swmon"]["reason"],
        "{amended:#}"
    );
    assert_eq!(amended["swmon"]["audit"]["pid"], pid);
    assert_eq!(amended["swmon"]["audit"]["key"], key("late"));
    assert!(
        amended.get("process").is_none(),
        "no second run: {amended:#}"
    );
    for (pid, first) in &attempts {
        let id = first["swmon"]["run_id"].as_str().expect("run_id");
        let corrections = events
            .iter()
            .filter(|e| action(e) == "verdict-amended" && e["swmon"]["run_id"] == id)
            .count();
        let want = usize::from(verdict(first).0 == "ebpf_only");
        assert_eq!(corrections, want, "pid {pid}: {first:#}");
        assert_eq!(runs_of(&events, *pid).len(), 1, "pid {pid} reported once");
        assert!(
            audit_only_of(&events, *pid).is_empty(),
            "never an opposite audit_only"
        );
    }
    assert!(counters(&events)["verdicts_amended"].as_u64() >= Some(1));
}

#[test]
fn an_installer_the_kernel_stream_missed_is_audit_only() {
    let host = HostAudit::save();
    host.enable();
    let auditd = Auditd::start();
    add(&exec_rule("missed", true));
    // A ring buffer smaller than one exec record: every exec reservation
    // fails (counted), while audit records them.
    let m = Monitor::start(&["--ring-buffer-size", "4096", "--audit-wait-ms", "200"]);
    let (pid, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    let e = m.wait_for("the audit_only event", Duration::from_secs(30), |e| {
        e["swmon"]["verdict"] == "audit_only" && e["process"]["pid"] == pid
    });
    let events = m.stop();
    drop(auditd);
    assert_eq!(e["event"]["kind"], "alert");
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["process"]["executable"], DPKG);
    assert_eq!(e["swmon"]["audit"]["key"], key("missed"));
    assert_eq!(
        events.iter().filter(|e| e["process"]["pid"] == pid).count(),
        1,
        "one event"
    );
    let c = counters(&events);
    assert!(c["exec_reserve_failed"].as_u64() >= Some(1), "{c}");
    assert!(c["audit_only"].as_u64() >= Some(1), "{c}");
}

#[test]
fn a_deleted_executable_joins_its_record() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-deleted");
    let copy = tmp.path().join("dpkg");
    fs::copy(DPKG, &copy).expect("copy dpkg");
    // Opened, unlinked, then executed through its fd: both sides name it
    // `... (deleted)`.
    let script = tmp.path().join("deleted.py");
    fs::write(
        &script,
        format!(
            "import os\nfd = os.open({:?}, os.O_RDONLY)\nos.unlink({:?})\n\
             os.execve(fd, ['dpkg', '--version'], dict(os.environ))\n",
            copy.display().to_string(),
            copy.display().to_string()
        ),
    )
    .expect("write");
    let auditd = Auditd::start();
    add(&exec_rule("deleted", true));
    let m = Monitor::start(&["--audit-wait-ms", "2000"]);
    let (pid, code) = run(Command::new(PYTHON).arg(&script));
    assert_eq!(code, 0);
    let e = m.wait_for("the deleted run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    drop(auditd);
    assert!(!copy.exists());
    assert!(
        e["process"]["executable"]
            .as_str()
            .is_some_and(|x| x.ends_with("/dpkg (deleted)")),
        "{e:#}"
    );
    assert_eq!(verdict(&e), ("confirmed", ""), "{e:#}");
    assert_eq!(e["swmon"]["audit"]["join"], "inode", "{e:#}");
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(audit_only_of(&events, pid).is_empty());
}

/// Copies `bin` and the libraries `ldd` names into `root`, same paths.
fn copy_with_libs(bin: &str, root: &Path) {
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    assert!(out.status.success(), "ldd {bin}");
    let mut files: Vec<PathBuf> = vec![bin.into()];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        files.extend(path);
    }
    for f in files {
        let real = fs::canonicalize(&f).expect("canonicalize");
        let to = root.join(f.strip_prefix("/").expect("absolute"));
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(&real, &to).unwrap_or_else(|e| panic!("copy {}: {e}", real.display()));
        fs::set_permissions(&to, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}

#[test]
fn a_chroot_install_joins_its_record() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-chroot");
    let root = tmp.path().join("target");
    copy_with_libs(DPKG, &root);
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "tmp", "etc"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        fs::write(root.join(f), "").expect("dpkg database");
    }
    let auditd = Auditd::start();
    add(&exec_rule("chroot", true));
    let m = Monitor::start(&["--audit-wait-ms", "2000"]);
    // chroot(8) execs dpkg inside the chroot, in its own process: audit's
    // exe= is /usr/bin/dpkg, the kernel's walk /tmp/.../target/usr/bin/dpkg.
    let (pid, _) = run(Command::new("chroot").arg(&root).args([
        "/usr/bin/dpkg",
        "-i",
        "/tmp/swmon-chroot-pkg.deb",
    ]));
    let e = m.wait_for("the chroot run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    drop(auditd);
    let want = format!("{}/usr/bin/dpkg", root.display());
    assert_eq!(e["process"]["executable"], want.as_str(), "{e:#}");
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    assert_eq!(verdict(&e), ("confirmed", ""), "{e:#}");
    assert_eq!(e["swmon"]["audit"]["join"], "inode", "{e:#}");
    assert_eq!(e["swmon"]["audit"]["key"], key("chroot"));
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(audit_only_of(&events, pid).is_empty());
}

#[test]
fn a_covered_exec_without_its_record_is_audit_record_missing() {
    use std::io::{BufRead, BufReader, Write};
    let host = HostAudit::save();
    host.enable();
    let auditd = Auditd::start();
    // A process forked while a `never,task` rule matches it gets no audit
    // context: none of its syscalls is ever recorded, whatever rules come
    // later. The rule matches a login uid only this test's shell takes.
    const AUID: &str = "73737";
    let task_rule = AuditRule {
        list: 1, // AUDIT_FILTER_TASK
        prepend: false,
        action: 0, // AUDIT_NEVER
        mask: vec![u32::MAX; 64],
        fields: vec![
            RuleField {
                field: 9, // AUDIT_LOGINUID
                op: op::EQUAL,
                value: FieldValue::Num(AUID.parse().expect("a uid")),
            },
            RuleField {
                field: 210, // AUDIT_FILTERKEY
                op: op::EQUAL,
                value: FieldValue::Str(key("task").into_bytes()),
            },
        ],
    };
    add(&task_rule);
    let mut sh = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo {AUID} > /proc/self/loginuid || exit 9\n\
             (echo ready; read x; exec {DPKG} --version >/dev/null)"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let mut line = String::new();
    BufReader::new(sh.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready", "the subshell forked under the rule");
    // The rule is gone; a watch covers dpkg: its exec should be recorded.
    let mut ctl = swmon::audit::netlink::ControlSocket::open().expect("control socket");
    swmon::audit::rules::delete_rule(&mut ctl, &task_rule).expect("delete the task rule");
    add(&AuditRule::exec_watch(Path::new(DPKG), &key("missing")));
    let m = Monitor::start(&["--audit-wait-ms", "300"]);
    sh.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write");
    let status = tests::wait_within(&mut sh, Duration::from_secs(60), "sh");
    assert!(status.success(), "{status}");
    let e = m.wait_for("the dpkg run", Duration::from_secs(30), |e| {
        e["process"]["executable"] == DPKG
            && e["user"]["audit"]["id"] == AUID
            && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    let log = auditd.log_lines();
    drop(auditd);
    assert_eq!(verdict(&e), ("ebpf_only", "audit-record-missing"), "{e:#}");
    let pid = e["process"]["pid"].as_u64().expect("pid") as u32;
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(
        !log.iter()
            .any(|l| l.contains("type=SYSCALL") && l.contains(&format!(" pid={pid} "))),
        "the kernel did record it after all"
    );
}
