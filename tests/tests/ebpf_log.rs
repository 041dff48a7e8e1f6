//! `swmon run --ebpf-log` end to end: the real binary on the real kernel.
//! With the flag, the eBPF programs say why they passed a candidate exec (a
//! renamed installer copy: by size; `python3 -m pip`: by the argv scan) or
//! dropped it (`python3 -c pass`: interpreter scanned, no installer), as
//! `ebpf-log` events naming the process; an ordinary exec (`/bin/true`)
//! never logs. Without the flag the kernel writes no record at all (its
//! own count stays 0), and `--ebpf-log=warn` leaves out the decisions.
//!
//! No sleeps: each check waits for the record it expects, and the absent
//! ones are checked over everything written once the monitor has stopped
//! (the stop drains the log ring).

use std::{fs, path::PathBuf, process::Command, time::Duration};

use serde_json::Value;
use tests::{action, counters, run, Monitor, TempDir};

const PYTHON: &str = "/usr/bin/python3";
const DPKG: &str = "/usr/bin/dpkg";
const WAIT: Duration = Duration::from_secs(20);

/// The `ebpf-log` records about process `tgid`.
fn logs_of(events: &[Value], tgid: u32) -> Vec<Value> {
    events
        .iter()
        .filter(|e| action(e) == "ebpf-log" && e["swmon"]["ebpf"]["tgid"] == tgid)
        .map(|e| e["swmon"]["ebpf"].clone())
        .collect()
}

fn message(log: &Value) -> &str {
    log["message"].as_str().unwrap_or("")
}

/// A copy of dpkg under another name: passed by its size (and ELF key),
/// never by its name.
fn renamed_dpkg(dir: &TempDir) -> PathBuf {
    let copy = dir.path().join("renamed-thing");
    fs::copy(DPKG, &copy).expect("copy dpkg");
    copy
}

/// The three candidates and an ordinary exec; returns their pids:
/// (true, python3 -c pass, python3 -m pip --version, renamed copy).
fn run_candidates(copy: &PathBuf) -> (u32, u32, u32, u32) {
    let (t, _) = run(&mut Command::new("/bin/true"));
    let (c, code) = run(Command::new(PYTHON).args(["-c", "pass"]));
    assert_eq!(code, 0, "python3 -c pass");
    let (m, _) = run(Command::new(PYTHON).args(["-m", "pip", "--version"]));
    let (r, code) = run(Command::new(copy).arg("--version"));
    assert_eq!(code, 0, "the renamed dpkg --version");
    (t, c, m, r)
}

#[test]
fn with_the_flag_the_kernel_says_why_it_passed_or_dropped_each_candidate() {
    let dir = TempDir::new("ebpf-log");
    let copy = renamed_dpkg(&dir);
    let m = Monitor::start(&["--no-audit", "--ebpf-log=debug"]);
    let (t, c, p, r) = run_candidates(&copy);
    let is = |pid: u32, start: &'static str| {
        move |e: &Value| {
            action(e) == "ebpf-log"
                && e["swmon"]["ebpf"]["tgid"] == pid
                && e["swmon"]["ebpf"]["message"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(start))
        }
    };
    m.wait_for("python3 -c pass dropped", WAIT, is(c, "dropped:"));
    m.wait_for("python3 -m pip passed", WAIT, is(p, "passed:"));
    m.wait_for("the renamed copy passed", WAIT, is(r, "passed:"));
    let events = m.stop();

    let dropped = logs_of(&events, c);
    let d = dropped
        .iter()
        .find(|l| message(l).starts_with("dropped:"))
        .expect("dropped");
    assert_eq!(d["level"], "info", "{d}");
    assert_eq!(d["pid"], c, "{d}");
    assert_eq!(d["comm"], "python3", "{d}");
    assert_eq!(d["interpreter"], "python", "{d}");
    assert!(message(d).contains("no installer in argv"), "{d}");
    assert!(d.get("filter").is_none(), "{d}");
    // At debug, the scan's start too, before the decision.
    assert!(
        message(&dropped[0]).contains("scanning"),
        "the first record of python3 -c pass: {dropped:#?}"
    );
    assert_eq!(dropped[0]["level"], "debug");

    let pip = logs_of(&events, p);
    let passed = pip
        .iter()
        .find(|l| message(l).starts_with("passed:"))
        .expect("passed");
    assert_eq!(passed["installer"], "pip", "{passed}");
    assert_eq!(passed["interpreter"], "python", "{passed}");
    assert!(
        passed["filter"]
            .as_array()
            .is_some_and(|f| f.contains(&"interpreter-arg".into())),
        "{passed}"
    );

    let copy_logs = logs_of(&events, r);
    let passed = copy_logs
        .iter()
        .find(|l| message(l).starts_with("passed:"))
        .expect("passed");
    assert_eq!(passed["comm"], "renamed-thing", "{passed}");
    assert_eq!(passed["installer"], "dpkg", "{passed}");
    let filter = passed["filter"].as_array().expect("filter");
    assert!(filter.contains(&"size".into()), "{passed}");
    assert!(!filter.contains(&"filename".into()), "{passed}");

    // The ordinary exec reached no log point.
    assert_eq!(logs_of(&events, t), Vec::<Value>::new(), "/bin/true logged");
    let k = counters(&events);
    assert_eq!(k["ebpf_log_lost"], 0, "{k}");
    let read = k["ebpf_log_read"].as_u64().expect("ebpf_log_read");
    assert!(read >= 5, "{k}");
    assert_eq!(
        events.iter().filter(|e| action(e) == "ebpf-log").count() as u64,
        read,
        "every record read was written"
    );
}

#[test]
fn without_the_flag_the_kernel_writes_no_record() {
    let dir = TempDir::new("ebpf-log-off");
    let copy = renamed_dpkg(&dir);
    let m = Monitor::start(&["--no-audit"]);
    let (_, _, _, r) = run_candidates(&copy);
    // The copy's run event: the kernel passed it, with its log points
    // behind the flag.
    m.wait_for("the renamed copy's run", WAIT, |e| {
        e.get("process").is_some() && e["process"]["pid"] == r
    });
    let events = m.stop();
    assert!(
        events.iter().all(|e| action(e) != "ebpf-log"),
        "ebpf-log events without the flag"
    );
    let k = counters(&events);
    assert_eq!(k["ebpf_log_records"], 0, "{k}");
    assert_eq!(k["ebpf_log_read"], 0, "{k}");
}

#[test]
fn at_warn_the_decisions_are_left_out_in_the_kernel() {
    let dir = TempDir::new("ebpf-log-warn");
    let copy = renamed_dpkg(&dir);
    let m = Monitor::start(&["--no-audit", "--ebpf-log=warn"]);
    let (t, c, p, r) = run_candidates(&copy);
    m.wait_for("the renamed copy's run", WAIT, |e| {
        e.get("process").is_some() && e["process"]["pid"] == r
    });
    let events = m.stop();
    for pid in [t, c, p, r] {
        let logs = logs_of(&events, pid);
        assert!(
            logs.iter().all(|l| l["level"] == "warn"),
            "pid {pid}: {logs:#?}"
        );
    }
}

#[test]
fn a_bad_level_is_refused() {
    let out = Command::new(tests::swmon_bin())
        .args(["run", "--ebpf-log=loud", "--no-audit"])
        .output()
        .expect("swmon");
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--ebpf-log"), "{err}");
    assert!(err.contains("warn") && err.contains("debug"), "{err}");
}
