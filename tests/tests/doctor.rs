//! `swmon doctor` on the real kernel, as the binary: with audit on and an
//! audit daemon running (a private one) it exits 0 and its `--json` holds
//! every check; with audit off it fails the audit check, names the fix and
//! exits 1, and `--no-audit` makes that a fact again (exit 0); the output
//! path and the capabilities are judged as `swmon run` would meet them.
//! The enabled flag, backlog and test rules are put back by `HostAudit`,
//! even on a panic; the auditd started is ended by its own pid.

mod audit_common;

use std::{
    os::unix::fs::{symlink, PermissionsExt},
    process::Command,
};

use audit_common::{auditctl, key, Auditd, HostAudit};
use serde_json::Value;
use tests::{swmon_bin, TempDir};

/// Every check, in the documented order (swmon/src/doctor.rs).
const IDS: [&str; 12] = [
    "kernel",
    "tracepoints",
    "bpf-programs",
    "bpf-lsm-fentry",
    "capabilities",
    "audit-enabled",
    "auditd",
    "audit-backlog",
    "audit-failure-mode",
    "audit-rules",
    "output",
    "clock",
];

/// Runs `swmon doctor ARGS` (`prefix` first, e.g. `setpriv ...`); returns
/// the exit code and standard output.
fn doctor(prefix: &[&str], args: &[&str]) -> (i32, String) {
    let bin = swmon_bin();
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    let out = cmd.arg("doctor").args(args).output().expect("run swmon");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "swmon doctor ended by a signal: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, stdout)
}

fn json(prefix: &[&str], args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out) = doctor(prefix, &all);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    (code, v)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().expect("status")
}

fn failed(report: &Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().expect("id"))
        .collect()
}

#[test]
fn this_host_with_audit_on_can_run() {
    let host = HostAudit::save();
    host.enable();
    let auditd = Auditd::start();
    // A rule of this test's own that records dpkg's exec.
    let k = key("doctor");
    auditctl(&["-w", "/usr/bin/dpkg", "-p", "x", "-k", &k]);

    let (code, report) = json(&[], &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["doctor"], 1);
    assert_eq!(report["can_run"], true);
    assert_eq!(report["audit"], true);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, IDS);
    for c in report["checks"].as_array().expect("checks") {
        assert!(
            ["ok", "info", "warn", "skip", "fail"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        assert!(c["what"].as_str().is_some_and(|w| !w.is_empty()), "{c}");
        assert!(c["details"].is_object(), "{c}");
        // Whatever is not ok says what to do, or is a plain fact.
        if c["status"] == "warn" || c["status"] == "fail" {
            assert!(c["fix"].as_str().is_some_and(|f| !f.is_empty()), "{c}");
        }
    }
    // What this host is: a kernel swmon runs on, as root.
    for id in [
        "kernel",
        "tracepoints",
        "bpf-programs",
        "capabilities",
        "audit-enabled",
        "auditd",
        "output",
    ] {
        assert_eq!(status(&report, id), "ok", "{:#}", check(&report, id));
    }
    assert_eq!(check(&report, "audit-enabled")["details"]["enabled"], 1);
    assert_eq!(
        check(&report, "auditd")["details"]["pid"],
        auditd.pid(),
        "the daemon named is the one this test started"
    );
    // The verifier took every program (the count swmon run loads).
    assert!(
        check(&report, "bpf-programs")["details"]["loaded"]
            .as_u64()
            .is_some_and(|n| n >= 6),
        "{:#}",
        check(&report, "bpf-programs")
    );
    // LSM and fentry were asked about (loaded or refused), and are facts.
    let lsm = check(&report, "bpf-lsm-fentry");
    assert_eq!(lsm["status"], "info");
    assert!(lsm["details"]["lsm_loads"].is_boolean(), "{lsm:#}");
    assert!(lsm["details"]["fentry_loads"].is_boolean(), "{lsm:#}");
    // The rule this test loaded covers dpkg, and is seen doing so.
    let rules = check(&report, "audit-rules");
    let covered: Vec<&str> = rules["details"]["covered"]
        .as_array()
        .expect("covered")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(covered.contains(&"/usr/bin/dpkg"), "{rules:#}");
    // The kernel's own numbers, as auditctl -s shows them.
    let s = audit_common::status();
    let backlog = check(&report, "audit-backlog");
    assert_eq!(backlog["details"]["backlog_limit"], s.backlog_limit);

    // The text form: one line a check, then the summary.
    let (code, text) = doctor(&[], &[]);
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), IDS.len() + 1, "{text}");
    for (line, id) in lines.iter().zip(IDS) {
        let mut words = line.split_whitespace();
        let st = words.next().expect("status");
        assert!(["ok", "info", "warn", "skip"].contains(&st), "{line}");
        assert_eq!(words.next(), Some(id), "{line}");
    }
    assert!(
        lines[IDS.len()].starts_with("swmon can run with audit"),
        "{text}"
    );
    drop(auditd);
    drop(host);
}

#[test]
fn audit_off_fails_the_audit_check_with_its_fix() {
    let host = HostAudit::save();
    auditctl(&["-e", "0"]);

    let (code, report) = json(&[], &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["can_run"], false);
    // Audit, and only audit, is what stops it.
    assert_eq!(failed(&report), ["audit-enabled"], "{report:#}");
    let c = check(&report, "audit-enabled");
    assert_eq!(c["details"]["enabled"], 0);
    assert!(
        c["fix"]
            .as_str()
            .is_some_and(|f| f.starts_with("auditctl -e 1")),
        "{c:#}"
    );

    let (code, text) = doctor(&[], &[]);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("audit-enabled"))
        .unwrap_or_else(|| panic!("no audit-enabled line: {text}"));
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(line.contains("fix: auditctl -e 1"), "{line}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("swmon can't run with audit: 1 check failed")),
        "{text}"
    );

    // With --no-audit, audit's state is a fact and swmon can run.
    let (code, report) = json(&[], &["--no-audit"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["audit"], false);
    assert_eq!(status(&report, "audit-enabled"), "info");
    assert!(check(&report, "audit-enabled")["fix"].is_null());
    drop(host);
}

#[test]
fn the_output_path_is_judged_as_swmon_run_would_meet_it() {
    let dir = TempDir::new("doctor-output");
    let out = dir.path().join("events.json");
    let out_s = out.to_str().expect("utf-8");
    // A new file in a folder only root writes: fine, and not created.
    let (code, report) = json(&[], &["--no-audit", "--output", out_s]);
    assert_eq!(status(&report, "output"), "ok", "{report:#}");
    assert_eq!(code, 0, "{report:#}");
    assert!(!out.exists(), "doctor created the output");
    // There, readable by all: a warning with the chmod, and left as it is.
    std::fs::write(&out, b"").expect("write");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, report) = json(&[], &["--no-audit", "--output", out_s]);
    assert_eq!(code, 0, "{report:#}");
    let c = check(&report, "output");
    assert_eq!(c["status"], "warn", "{c:#}");
    assert!(c["fix"].as_str().unwrap().contains("chmod 600"), "{c:#}");
    assert_eq!(
        std::fs::metadata(&out).expect("stat").permissions().mode() & 0o7777,
        0o644
    );
    // A link at the path: refused, exit 1 (folders others may write are
    // refused the same way: safe_file's tests).
    let link = dir.path().join("link.json");
    symlink(&out, &link).expect("symlink");
    let (code, report) = json(&[], &["--no-audit", "--output", link.to_str().unwrap()]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(failed(&report), ["output"], "{report:#}");
    assert!(
        check(&report, "output")["what"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{report:#}"
    );
}

#[test]
fn missing_capabilities_are_named() {
    // Root without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (out of the
    // bounding set, so out of what the exec gets).
    let prefix = [
        "setpriv",
        "--bounding-set",
        "-bpf,-perfmon,-sys_admin",
        "--inh-caps",
        "-all",
        "--",
    ];
    let (code, report) = json(&prefix, &["--no-audit"]);
    assert_eq!(code, 1, "{report:#}");
    let c = check(&report, "capabilities");
    assert_eq!(c["status"], "fail", "{c:#}");
    let mut missing: Vec<&str> = c["details"]["missing_required"]
        .as_array()
        .expect("missing")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    missing.sort_unstable();
    assert_eq!(missing, ["CAP_BPF", "CAP_PERFMON"], "{c:#}");
    // And the kernel agrees: the programs can't be loaded.
    assert_eq!(status(&report, "bpf-programs"), "fail", "{report:#}");
}
