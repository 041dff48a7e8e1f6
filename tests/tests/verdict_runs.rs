//! One run, one decision, on the real kernel with the real binary: a run
//! that execs several times under a rule recording every execve is one
//! `confirmed` run, each exec joined with its own record, and no
//! `audit_only`; a record held back (the audit reader's test-only hold)
//! past its run's decision amends it (`verdict-amended`, exactly once) and
//! `swmon report` shows the final verdict; a shell's record does not
//! confirm the copy of dpkg it execs; a run the kernel stream missed (a
//! ring buffer too small for any exec record) is `audit_only`; runs of a
//! deleted executable and inside a chroot join their records by (dev,
//! inode); the rule judge tells a record gone missing from one a chroot's
//! copy, an exclusion or a watch on a symbolic link never promised;
//! records the kernel lost before a run's decision are counted on its
//! verdict; with swmon stopped (SIGSTOP to its own pid, so nothing drains
//! its ring buffer) the kernel loses records for real: an exit record
//! (the ring filled to exactly less than one exit's room), after which a
//! new process on the same pid (clone3 with `set_tid`) is a run of its own
//! and the old one ends `exit-not-seen`; and an installer exec inside a
//! run, whose record is then `audit_only`. A record well ahead of its
//! kernel exec (held in the facts stage by a long package file read)
//! waits for the kernel watermark and is never called `audit_only`.
//!
//! Host rules: each test adds only rules with its own key (`swmon-test-
//! PID-...`, deleted by `HostAudit`; the one exclude rule, which has no
//! key, by its own guard), puts back the enabled flag, the backlog limit
//! and the rate limit, and stops only the auditd it started (by pid). Run them under
//! the host lock, one at a time.

mod audit_common;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use audit_common::{add, key, Auditd, HostAudit};
use serde_json::Value;
use swmon::audit::rules::{op, AuditRule, FieldValue, RuleField};
use tests::{action, counters, run, runs_of, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";
const NPM: &str = "/usr/bin/npm";
const PYTHON: &str = "/usr/bin/python3";
/// `AUDIT_PPID`.
const AUDIT_PPID: u32 = 18;

/// An execve/execveat rule with this test's key; with `ppid`, only for
/// children of this test process (the host's other execs stay out of the
/// trail and of swmon's queue).
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
    // env's exec of the script is joined by the interpreter's identity and
    // the script's name (PATH item 0 is the script, item 1 env).
    assert_eq!(audit["join"], "script", "{e:#}");
    assert_eq!(audit["joined"], 2, "env's and node's own records: {e:#}");
    assert!(audit.get("unrecorded").is_none(), "{e:#}");
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

/// The test-only hold: `--test-hold-audit-while FILE` with
/// `SWMON_TEST_ONLY=hold-audit`.
const HOLD_ENV: (&str, &str) = ("SWMON_TEST_ONLY", "hold-audit");

/// A record held by the audit reader (the test-only hold, while a file
/// exists) past its run's decision (`--audit-wait-ms 0`: at its exit)
/// arrives after it and amends it: exactly one `verdict-amended`, never an
/// opposite `audit_only`; `swmon report` shows the run's final verdict and
/// that it was amended.
#[test]
fn a_record_that_comes_after_the_decision_amends_the_run_once() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-hold");
    let hold = tmp.path().join("hold");
    fs::write(&hold, "").expect("the hold file");
    let auditd = Auditd::start();
    add(&exec_rule("late", true));
    let m = Monitor::start_env(
        &[
            "--audit-wait-ms",
            "0",
            "--heartbeat-secs",
            "1",
            "--test-hold-audit-while",
            hold.to_str().expect("a UTF-8 path"),
        ],
        &[HOLD_ENV],
    );
    let started = m.wait_for("monitor-started", Duration::from_secs(30), |e| {
        action(e) == "monitor-started"
    });
    let said = |e: &Value| e["swmon"]["audit"]["test_hold_audit_while"].as_str() == hold.to_str();
    assert!(said(&started), "the hold is said: {started:#}");
    let (pid, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    let first = m.wait_for("the dpkg run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let beat = m.wait_for("a heartbeat", Duration::from_secs(30), |e| {
        action(e) == "heartbeat"
    });
    assert!(said(&beat), "the hold is said: {beat:#}");
    // Held: the run was decided without it. The rule has a field only the
    // process answers (ppid), so the judge makes no promise.
    assert_eq!(
        verdict(&first),
        ("ebpf_only", "audit-rule-unknown"),
        "{first:#}"
    );
    let run_id = first["swmon"]["run_id"]
        .as_str()
        .expect("run_id")
        .to_owned();
    assert!(
        !m.events().iter().any(|e| action(e) == "verdict-amended"),
        "nothing can amend it while its record is held"
    );
    fs::remove_file(&hold).expect("let the records go");
    let amended = m.wait_for("verdict-amended", Duration::from_secs(30), |e| {
        action(e) == "verdict-amended" && e["swmon"]["run_id"] == run_id.as_str()
    });
    heartbeat_after(
        &m,
        amended["@timestamp"].as_str().expect("time"),
        Duration::from_secs(2),
    );
    let events = m.stop();
    let log = auditd.log.clone();
    assert_eq!(verdict(&amended), ("confirmed", ""), "{amended:#}");
    assert_eq!(amended["swmon"]["previous_verdict"], "ebpf_only");
    assert_eq!(amended["swmon"]["previous_reason"], "audit-rule-unknown");
    assert_eq!(amended["swmon"]["audit"]["pid"], pid);
    assert_eq!(amended["swmon"]["audit"]["key"], key("late"));
    assert_eq!(amended["swmon"]["audit"]["join"], "inode");
    assert!(
        amended.get("process").is_none(),
        "no second run: {amended:#}"
    );
    let corrections = events
        .iter()
        .filter(|e| action(e) == "verdict-amended")
        .count();
    assert_eq!(corrections, 1, "exactly one correction");
    assert_eq!(runs_of(&events, pid).len(), 1, "reported once");
    assert!(
        audit_only_of(&events, pid).is_empty(),
        "never an opposite audit_only"
    );
    assert_eq!(counters(&events)["verdicts_amended"], 1);

    // `swmon report` applies the correction to the run.
    let jsonl = tmp.path().join("events.jsonl");
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    fs::write(&jsonl, text).expect("events");
    let out = Command::new(tests::swmon_bin())
        .args(["report", "--format", "json", "--key", &key("late")])
        .arg("--events")
        .arg(&jsonl)
        .arg("--audit-log")
        .arg(&log)
        .output()
        .expect("swmon report");
    drop(auditd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let row = report["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|r| r["pid"] == pid)
        .cloned()
        .expect("the dpkg run");
    assert_eq!(row["swmon"]["verdict"], "confirmed", "{row:#}");
    assert_eq!(row["swmon"]["amended"], 1, "{row:#}");
    assert_eq!(row["swmon"]["first_verdict"], "ebpf_only", "{row:#}");
    assert_eq!(row["auditd"]["recorded"], true, "{row:#}");
    assert_eq!(report["summary"]["verdict_disagreements"], 0);
}

/// The hold is for tests: hidden from `--help`, and refused without its
/// variable.
#[test]
fn the_test_hold_is_hidden_and_needs_its_variable() {
    let help = Command::new(tests::swmon_bin())
        .args(["run", "--help"])
        .output()
        .expect("swmon run --help");
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--audit-wait-ms"), "{help}");
    assert!(!help.contains("--test-hold"), "{help}");
    let tmp = TempDir::new("verdict-hold-refused");
    let out = Command::new(tests::swmon_bin())
        .args(["run", "--test-hold-audit-while"])
        .arg(tmp.path().join("hold"))
        .arg("--output")
        .arg(tmp.path().join("events.jsonl"))
        .env_remove(HOLD_ENV.0)
        .output()
        .expect("swmon run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SWMON_TEST_ONLY=hold-audit"), "{err}");
    assert!(
        !tmp.path().join("events.jsonl").exists(),
        "refused before anything started"
    );
    let out = Command::new(tests::swmon_bin())
        .args(["run", "--test-hold-audit-while"])
        .arg(tmp.path().join("hold"))
        .arg("--output")
        .arg(tmp.path().join("events.jsonl"))
        .env(HOLD_ENV.0, "1")
        .output()
        .expect("swmon run");
    assert!(!out.status.success(), "any other value is refused too");
    // A folder others may write (the sticky /tmp): anyone could start or
    // end the hold.
    let out = Command::new(tests::swmon_bin())
        .args(["run", "--test-hold-audit-while", "/tmp/swmon-hold"])
        .arg("--output")
        .arg(tmp.path().join("events.jsonl"))
        .env(HOLD_ENV.0, HOLD_ENV.1)
        .output()
        .expect("swmon run");
    assert!(!out.status.success(), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("writable by its group or others"), "{err}");
    assert!(!tmp.path().join("events.jsonl").exists());
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

/// A shell script named like an installer (recorded by a watch on it)
/// execs a copy of dpkg in the same process (no rule): the script's record
/// is not the copy's, and the run is not `confirmed`.
#[test]
fn a_record_of_one_exec_does_not_confirm_a_later_exec_of_the_process() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-shell-copy");
    let copy = tmp.path().join("mydpkg");
    fs::copy(DPKG, &copy).expect("copy dpkg");
    let script = tmp.path().join("pip");
    fs::write(
        &script,
        format!("#!/bin/sh\nexec {} --version\n", copy.display()),
    )
    .expect("write");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    let auditd = Auditd::start();
    add(&AuditRule::exec_watch(&script, &key("shell")));
    let m = Monitor::start(&["--audit-wait-ms", "2000"]);
    let (pid, code) = run(&mut Command::new(&script));
    assert_eq!(code, 0);
    let e = m.wait_for("the run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    drop(auditd);
    assert_eq!(
        e["process"]["executable"],
        copy.to_str().expect("path"),
        "{e:#}"
    );
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(
        e["swmon"]["exec_chain"].as_array().map(Vec::len),
        Some(1),
        "the script's exec, then the copy: {e:#}"
    );
    assert_eq!(verdict(&e), ("ebpf_only", "no-audit-rule"), "{e:#}");
    let audit = &e["swmon"]["audit"];
    assert_eq!(audit["joined"], 1, "the script's own record: {e:#}");
    assert_eq!(audit["join"], "script", "{e:#}");
    assert_eq!(audit["key"], key("shell"), "{e:#}");
    assert_eq!(
        audit["unrecorded"],
        serde_json::json!([copy.to_str().expect("path")]),
        "{e:#}"
    );
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(audit_only_of(&events, pid).is_empty());
}

/// `chroot ROOT /usr/bin/dpkg` with a copy of dpkg in ROOT: the host's
/// watch on /usr/bin/dpkg is on another inode, so no record is promised
/// (the judge no longer reads the chroot-relative name as the host's).
#[test]
fn a_hosts_watch_does_not_cover_a_chroots_copy() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-chroot-copy");
    let root = tmp.path().join("target");
    copy_with_libs(DPKG, &root);
    let auditd = Auditd::start();
    add(&AuditRule::exec_watch(Path::new(DPKG), &key("hostwatch")));
    let m = Monitor::start(&["--audit-wait-ms", "500"]);
    let (pid, code) = run(Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/dpkg", "--version"]));
    assert_eq!(code, 0);
    let e = m.wait_for("the chroot run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    let log = auditd.log_lines();
    drop(auditd);
    let want = format!("{}/usr/bin/dpkg", root.display());
    assert_eq!(e["process"]["executable"], want.as_str(), "{e:#}");
    assert_eq!(verdict(&e), ("ebpf_only", "no-audit-rule"), "{e:#}");
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(
        !log.iter()
            .any(|l| l.contains("type=SYSCALL") && l.contains(&format!(" pid={pid} "))),
        "the host's watch recorded the chroot's copy after all"
    );
}

/// A watch on a symbolic link to dpkg: the kernel marks the link itself,
/// which no exec runs, so running dpkg through the link is not recorded
/// and the judge promises no record (`no-audit-rule`, never
/// `audit-record-missing`).
#[test]
fn a_watch_on_a_symbolic_link_records_no_exec() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-link-watch");
    let link = tmp.path().join("dpkg-link");
    std::os::unix::fs::symlink(DPKG, &link).expect("symlink");
    let auditd = Auditd::start();
    add(&AuditRule::exec_watch(&link, &key("linkwatch")));
    let m = Monitor::start(&["--audit-wait-ms", "500"]);
    let (pid, code) = run(Command::new(&link).arg("--version"));
    assert_eq!(code, 0);
    let e = m.wait_for("the run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    let log = auditd.log_lines();
    drop(auditd);
    assert_eq!(e["process"]["executable"], DPKG, "{e:#}");
    assert!(
        !log.iter()
            .any(|l| l.contains("type=SYSCALL") && l.contains(&format!(" pid={pid} "))),
        "the kernel recorded an exec through a watched link after all"
    );
    assert_eq!(verdict(&e), ("ebpf_only", "no-audit-rule"), "{e:#}");
    assert_eq!(runs_of(&events, pid).len(), 1);
}

/// Deletes one rule however the test ends (an exclude-list rule carries no
/// key for [`HostAudit`] to find it by).
struct RuleGuard(AuditRule);

impl Drop for RuleGuard {
    fn drop(&mut self) {
        if let Ok(mut ctl) = swmon::audit::netlink::ControlSocket::open() {
            let _ = swmon::audit::rules::delete_rule(&mut ctl, &self.0);
        }
    }
}

/// A watch covers dpkg, but an exclude rule (listed after the exit list,
/// evaluated on every record) drops the SYSCALL records of one login uid:
/// dpkg run under it has no record, and the judge says it can't promise
/// one (`audit-rule-unknown`), not that the record went missing.
#[test]
fn an_exclusion_makes_a_watched_exec_without_a_record_unknown() {
    use std::io::{BufRead, BufReader, Write};
    let host = HostAudit::save();
    host.enable();
    const AUID: &str = "73738";
    let exclude = AuditRule {
        list: 5, // AUDIT_FILTER_EXCLUDE
        prepend: false,
        action: 2, // AUDIT_ALWAYS
        mask: vec![u32::MAX; 64],
        fields: vec![
            RuleField {
                field: 12, // AUDIT_MSGTYPE
                op: op::EQUAL,
                value: FieldValue::Num(1300), // SYSCALL
            },
            RuleField {
                field: 9, // AUDIT_LOGINUID
                op: op::EQUAL,
                value: FieldValue::Num(AUID.parse().expect("a uid")),
            },
        ],
    };
    let auditd = Auditd::start();
    add(&AuditRule::exec_watch(Path::new(DPKG), &key("excluded")));
    add(&exclude);
    let _exclude = RuleGuard(exclude);
    let m = Monitor::start(&["--audit-wait-ms", "500"]);
    let mut sh = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo {AUID} > /proc/self/loginuid || exit 9\n\
             echo ready; read x; exec {DPKG} --version >/dev/null"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let mut line = String::new();
    BufReader::new(sh.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready");
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
    assert_eq!(verdict(&e), ("ebpf_only", "audit-rule-unknown"), "{e:#}");
    let pid = e["process"]["pid"].as_u64().expect("pid") as u32;
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(
        !log.iter()
            .any(|l| l.contains("type=SYSCALL") && l.contains(&format!(" pid={pid} "))),
        "the exclusion let the record through"
    );
}

/// Puts the kernel's audit rate limit back however the test ends.
struct RateLimit(u32);

impl Drop for RateLimit {
    fn drop(&mut self) {
        let _ = Command::new("auditctl")
            .args(["-r", &self.0.to_string()])
            .stdout(std::process::Stdio::null())
            .status();
    }
}

/// Audit records lost between a run's start and its decision are said on
/// its verdict: dpkg's record is held by the reader (the test-only hold)
/// while the kernel drops records over a rate limit of 1 a second; once
/// the record comes the run is `confirmed` (its record is in hand) and
/// carries the count (`swmon.audit.lost`).
#[test]
fn records_lost_before_the_decision_are_counted_on_the_verdict() {
    let host = HostAudit::save();
    host.enable();
    let _rate = RateLimit(audit_common::status().rate_limit);
    let tmp = TempDir::new("verdict-lost");
    let hold = tmp.path().join("hold");
    let auditd = Auditd::start();
    add(&AuditRule::exec_watch(Path::new(DPKG), &key("lost")));
    add(&AuditRule::exec_watch(
        Path::new("/usr/bin/true"),
        &key("storm"),
    ));
    let m = Monitor::start_env(
        &[
            "--audit-wait-ms",
            "10000",
            "--test-hold-audit-while",
            hold.to_str().expect("a UTF-8 path"),
        ],
        &[HOLD_ENV],
    );
    fs::write(&hold, "").expect("the hold file");
    let (pid, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    // The kernel drops what passes 1 record a second: lost grows.
    let lost_before = m
        .events()
        .iter()
        .filter(|e| action(e) == "audit-records-lost")
        .count();
    audit_common::auditctl(&["-r", "1"]);
    for _ in 0..30 {
        let (_, code) = run(&mut Command::new("/usr/bin/true"));
        assert_eq!(code, 0);
    }
    m.wait_for("audit-records-lost", Duration::from_secs(30), |_| {
        m.events()
            .iter()
            .filter(|e| action(e) == "audit-records-lost")
            .count()
            > lost_before
    });
    drop(_rate);
    assert!(
        !m.events()
            .iter()
            .any(|e| e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()),
        "the run was decided before the loss was seen (its 10 s wait ran out: \
         a machine this slow cannot show it)"
    );
    fs::remove_file(&hold).expect("let the records go");
    let e = m.wait_for("the dpkg run", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    drop(auditd);
    assert_eq!(verdict(&e), ("confirmed", ""), "{e:#}");
    assert_eq!(e["swmon"]["audit"]["key"], key("lost"), "{e:#}");
    assert!(
        e["swmon"]["audit"]["lost"].as_u64() >= Some(1),
        "the loss is on the verdict: {e:#}"
    );
    assert_eq!(runs_of(&events, pid).len(), 1);
    assert!(audit_only_of(&events, pid).is_empty());
}

/// Stops swmon (SIGSTOP, by its pid) so nothing drains the kernel's ring
/// buffer; continues it (SIGCONT) however the test ends.
struct Paused(u32);

impl Paused {
    fn new(m: &Monitor) -> Paused {
        let pid = m.pid();
        assert_ne!(pid, 0, "swmon runs");
        // SAFETY: a signal to the swmon we started, by its pid.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
        // Stopped once /proc says so: nothing of it runs from then on.
        let stat = format!("/proc/{pid}/stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let s = fs::read_to_string(&stat).expect("swmon's stat");
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().as_bytes()[0]);
            if state == Some(b'T') {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "swmon never stopped");
            std::thread::yield_now();
        }
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: a signal to the swmon we started, by its pid.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// The bytes one record of `size` takes in a BPF ring buffer (an 8-byte
/// header, rounded up to 8).
fn ring_slot(size: usize) -> usize {
    (size + 8).div_ceil(8) * 8
}

/// An inline-code pip run (the kernel's argv scan passes it) that execs
/// itself `times` more times (one passed exec record each), then says
/// `ready` and waits for a line on standard input; then execs `then`, if
/// given, else exits.
fn pip_code(times: usize, then: Option<&str>) -> Command {
    let then = match then {
        Some(p) => format!("os.execv({p:?}, [{p:?}, '--version'])"),
        None => "sys.exit(0)".to_owned(),
    };
    let code = format!(
        "import os, sys\n\
         n = int(sys.argv[1])\n\
         if n > 0:\n    os.execv({PYTHON:?}, [{PYTHON:?}, '-c', open('/proc/self/cmdline', 'rb').read().split(b'\\0')[2].decode(), str(n - 1)])\n\
         print('ready', flush=True)\n\
         sys.stdin.readline()\n\
         {then}\n\
         import pip\n"
    );
    let mut c = Command::new(PYTHON);
    c.arg("-c").arg(code).arg(times.to_string());
    c
}

/// `struct clone_args` (clone3(2)) up to `set_tid_size`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// Starts `argv` as a child of this process on exactly `pid` (clone3(2)
/// with `set_tid`: the kernel gives that pid or fails, no race with the
/// host's other forks); the child waits for a byte on a pipe before it
/// execs. Returns the write end: writing to (or closing) it lets the
/// child exec.
fn spawn_on_pid(pid: u32, argv: &[&str]) -> std::os::fd::OwnedFd {
    use std::{
        ffi::CString,
        os::fd::{FromRawFd, OwnedFd},
    };
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(*a).expect("no NUL"))
        .collect();
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let env: [*const libc::c_char; 1] = [std::ptr::null()];
    let null = CString::new("/dev/null").expect("path");
    let mut fds = [0; 2];
    // SAFETY: a plain system call filling two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let tid = [libc::pid_t::try_from(pid).expect("a pid")];
    let args3 = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM is a fork; the child only makes
    // async-signal-safe system calls on memory prepared before it, then
    // execs or exits.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args3 as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        // SAFETY: the child: raw system calls only, then exec or _exit.
        unsafe {
            // Our copy of the write end would keep the read from ending.
            libc::close(fds[1]);
            let mut b = 0u8;
            libc::read(fds[0], (&mut b as *mut u8).cast(), 1);
            let fd = libc::open(null.as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), env.as_ptr());
            libc::_exit(127);
        }
    }
    let err = std::io::Error::last_os_error();
    // SAFETY: our own descriptors, each closed or owned once.
    unsafe { libc::close(fds[0]) };
    let write = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    assert_eq!(r, i64::from(pid), "clone3 on pid {pid}: {err}");
    write
}

/// Reaps a child started by [`spawn_on_pid`]; its wait status.
fn reap(pid: u32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child, by its pid.
    let r = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert_eq!(r, pid as i32, "waitpid");
    status
}

/// A pid reused after its process's exit was lost: the kernel's exit
/// record is made to fail for real (swmon stopped, so nothing drains its
/// ring buffer, filled so exactly that no exit record fits), then a new
/// process is started on the same pid (clone3 with `set_tid`) and runs
/// dpkg. The new process is a run of its own; the old run ends
/// `exit-not-seen` with its own execs only. (Two mechanisms enforce this:
/// the exec's process start time against the open run's, and the
/// `/proc` sweep of runs older than 2 s; which one acts first depends on
/// how long the test took, the outcome does not.)
#[test]
fn a_reused_pid_after_a_lost_exit_is_a_new_run() {
    use std::io::{BufRead, BufReader, Write};
    // The ring's room: every record, with its header, rounded to 8; a
    // reservation fails once it would take more than the size - 1.
    let exec = ring_slot(std::mem::size_of::<swmon_common::ExecEvent>());
    let exit = ring_slot(std::mem::size_of::<swmon_common::ExitEvent>());
    let size: usize = 256 << 10;
    let room = size - 1;
    // m exec records (A's, its re-execs, p dpkg runs) and p dpkg exits
    // fit; then no exit does.
    let (execs, p) = (1..=room / exec)
        .find_map(|n| {
            let p = (room - n * exec) / exit;
            (p < n).then_some((n, p))
        })
        .expect("a ring size where exit records run out");
    let reexecs = execs - 1 - p;
    let m = Monitor::start(&[
        "--ring-buffer-size",
        &size.to_string(),
        "--audit-wait-ms",
        "0",
        "--heartbeat-secs",
        "1",
    ]);
    let pause = Paused::new(&m);
    let mut a = pip_code(reexecs, None)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let a_pid = a.id();
    let mut line = String::new();
    BufReader::new(a.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready");
    let mut dpkgs = Vec::new();
    for _ in 0..p {
        let (pid, code) = run(Command::new(DPKG).arg("--version"));
        assert_eq!(code, 0);
        dpkgs.push(pid);
    }
    // The ring holds fewer free bytes than one exit record: A's is lost.
    a.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write");
    let status = tests::wait_within(&mut a, Duration::from_secs(60), "python3");
    assert!(status.success(), "{status}");
    // A new process on A's pid, waiting to exec dpkg.
    let go = spawn_on_pid(a_pid, &[DPKG, "--version"]);
    drop(pause);
    // Every record in the ring is read once the last dpkg exit in it is:
    // B's exec has room.
    for pid in &dpkgs {
        m.wait_for("a dpkg run", Duration::from_secs(60), |e| {
            e["process"]["pid"] == *pid && e["swmon"]["verdict"].is_string()
        });
    }
    drop(go);
    let code = reap(a_pid);
    assert_eq!(code, 0, "dpkg --version on the reused pid");
    let new = m.wait_for("the new process's run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == a_pid && e["process"]["executable"] == DPKG
    });
    let old = m.wait_for("the old run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == a_pid && is_python(e)
    });
    let events = m.stop();
    let c = counters(&events);
    assert!(
        c["exit_reserve_failed"].as_u64() >= Some(1),
        "an exit record was lost: {c}"
    );
    assert_eq!(
        c["exec_reserve_failed"], 0,
        "every exec record fit, as counted: {c}"
    );
    assert_eq!(old["swmon"]["end"], "exit-not-seen", "{old:#}");
    assert_eq!(
        old["swmon"]["exec_chain"].as_array().map_or(0, Vec::len),
        reexecs,
        "A's own execs only: {old:#}"
    );
    assert_ne!(old["swmon"]["run_id"], new["swmon"]["run_id"]);
    assert_eq!(
        new["swmon"]["exec_chain"].as_array().map_or(0, Vec::len),
        0,
        "{new:#}"
    );
    assert!(
        new["swmon"].get("end").is_none(),
        "its exit was seen: {new:#}"
    );
    assert_eq!(new["swmon"]["manager"], "dpkg", "{new:#}");
    assert_eq!(runs_of(&events, a_pid).len(), 2, "two runs on the pid");
}

/// An installer exec the kernel stream missed inside a run: a pip run
/// (inline code, recorded by both sides) execs dpkg while swmon is
/// stopped and its ring buffer full (no exec record fits: that exec is
/// lost for real, counted), under a rule recording it. dpkg's record is
/// of the same process within the run's life but joins none of its execs:
/// it is `audit_only`, and the run stays the pip run, `confirmed` by its
/// own record.
#[test]
fn an_installer_exec_the_kernel_missed_inside_a_run_is_audit_only() {
    use std::io::{BufRead, BufReader, Write};
    let host = HostAudit::save();
    host.enable();
    let auditd = Auditd::start();
    add(&exec_rule("inrun", true));
    let size: usize = 64 << 10;
    let exec = ring_slot(std::mem::size_of::<swmon_common::ExecEvent>());
    let m = Monitor::start(&[
        "--ring-buffer-size",
        &size.to_string(),
        "--audit-wait-ms",
        "300",
    ]);
    let mut p = pip_code(0, Some(DPKG))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let pid = p.id();
    let mut line = String::new();
    BufReader::new(p.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready");
    let pause = Paused::new(&m);
    // More exec records than the ring holds: once one fails none fits
    // again (nothing drains it; exits only take room).
    for _ in 0..size / exec + 2 {
        let (_, code) = run(Command::new(DPKG).arg("--version"));
        assert_eq!(code, 0);
    }
    p.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write");
    let status = tests::wait_within(&mut p, Duration::from_secs(60), "the pip run");
    assert!(status.success(), "{status}");
    drop(pause);
    let only = m.wait_for("dpkg's audit_only", Duration::from_secs(60), |e| {
        e["swmon"]["verdict"] == "audit_only" && e["process"]["pid"] == pid
    });
    let run = m.wait_for("the pip run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == pid && is_python(e) && e["swmon"]["verdict"].is_string()
    });
    let events = m.stop();
    drop(auditd);
    assert_eq!(only["process"]["executable"], DPKG, "{only:#}");
    assert_eq!(only["swmon"]["manager"], "dpkg", "{only:#}");
    assert_eq!(only["swmon"]["audit"]["key"], key("inrun"), "{only:#}");
    assert_eq!(verdict(&run), ("confirmed", ""), "{run:#}");
    assert_eq!(run["swmon"]["manager"], "pip", "{run:#}");
    assert_eq!(
        run["swmon"]["exec_chain"].as_array().map_or(0, Vec::len),
        0,
        "the kernel saw only the pip exec: {run:#}"
    );
    assert_eq!(run["swmon"]["audit"]["joined"], 1, "{run:#}");
    assert_eq!(
        run["swmon"]["audit"]["records"], 1,
        "dpkg's is not attached: {run:#}"
    );
    // The run and dpkg's audit_only, nothing else.
    assert_eq!(runs_of(&events, pid).len(), 2);
    assert_eq!(audit_only_of(&events, pid).len(), 1);
    let c = counters(&events);
    assert!(c["exec_reserve_failed"].as_u64() >= Some(1), "{c}");
}

/// A run whose executable is python3 (`/usr/bin/python3` is a link to
/// the versioned one, which the kernel names).
fn is_python(e: &Value) -> bool {
    e["process"]["executable"]
        .as_str()
        .is_some_and(|x| x.starts_with(PYTHON))
}

/// A record that reaches decide well before its kernel exec is not called
/// `audit_only`: with `--audit-wait-ms 0` (an audit record is otherwise
/// due at the next tick) the kernel exec of `dpkg -i` with two 60 MiB
/// package files is held in the facts stage while they are read and
/// hashed (about 120 MiB), its watermark behind it, while its audit
/// record goes straight to decide. The run is `confirmed`, with no
/// `audit_only`. The order is not forced (no knob holds the kernel side
/// alone): this passes whatever the order; with the watermark rule
/// broken it fails whenever the record comes first, which a read this
/// long makes the usual case.
#[test]
fn a_record_ahead_of_its_slow_kernel_exec_waits_for_the_watermark() {
    let host = HostAudit::save();
    host.enable();
    let tmp = TempDir::new("verdict-lag");
    let root = tmp.path().join("root");
    for d in ["var/lib/dpkg/updates", "var/lib/dpkg/info"] {
        fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        fs::write(root.join(f), "").expect("dpkg database");
    }
    let mut debs = Vec::new();
    for name in ["a.deb", "b.deb"] {
        let p = tmp.path().join(name);
        let f = fs::File::create(&p).expect("create");
        f.set_len(60 << 20).expect("size");
        debs.push(p);
    }
    let auditd = Auditd::start();
    add(&exec_rule("lag", true));
    let m = Monitor::start(&["--audit-wait-ms", "0", "--heartbeat-secs", "1"]);
    let (pid, _) = run(Command::new(DPKG)
        .arg("--root")
        .arg(&root)
        .arg("-i")
        .args(&debs));
    let e = m.wait_for("the dpkg run", Duration::from_secs(60), |e| {
        e["process"]["pid"] == pid
            && e["swmon"]["verdict"].is_string()
            && e["swmon"]["verdict"] != "audit_only"
    });
    heartbeat_after(
        &m,
        e["@timestamp"].as_str().expect("time"),
        Duration::from_secs(2),
    );
    let events = m.stop();
    drop(auditd);
    assert!(
        audit_only_of(&events, pid).is_empty(),
        "no audit_only: {:#?}",
        audit_only_of(&events, pid)
    );
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    let files = e["swmon"]["package_files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        files.iter().filter(|f| f["sha256"].is_string()).count(),
        2,
        "both files read and hashed by the facts stage: {e:#}"
    );
    assert_eq!(verdict(&e), ("confirmed", ""), "{e:#}");
    assert_eq!(e["swmon"]["audit"]["key"], key("lag"), "{e:#}");
    assert_eq!(runs_of(&events, pid).len(), 1);
}
