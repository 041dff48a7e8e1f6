//! Bad input never aborts `swmon report` (issue 9, the fuzz package): the
//! real binary reads the recorded seed-rules fixture with one crafted audit
//! line whose time is past year 9999 (`audit(300000000000.000:N)` on a keyed
//! exec, which used to panic the time formatter and lose the whole report),
//! and must give the full report with exactly one warning naming that line.
//!
//! These tests touch no kernel state: they only run `swmon report` on files.

use std::{fs, path::Path, process::Command};

use serde_json::Value;
use tests::{swmon_bin, TempDir};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../swmon/tests/data/report")
        .join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The dpkg exec of the seed-rules log (serial 176439, lines 5 to 11), with
/// the stamp of the given lines replaced by one past year 9999.
fn crafted_log(lines: std::ops::RangeInclusive<usize>) -> Vec<u8> {
    let log = String::from_utf8(fixture("seed-rules.audit.log")).unwrap();
    let mut out = String::new();
    for (i, line) in log.split_inclusive('\n').enumerate() {
        let n = i + 1;
        if lines.contains(&n) {
            assert!(
                line.contains("audit(1795680698.722:176439)"),
                "line {n}: {line}"
            );
            out.push_str(&line.replace("1795680698.722:176439", "300000000000.000:176439"));
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// Runs `swmon report --format json` on the seed-rules events and `log`.
fn report(tag: &str, log: &[u8]) -> (Value, String, String) {
    let dir = TempDir::new(tag);
    let events = dir.path().join("events.jsonl");
    let audit = dir.path().join("audit.log");
    fs::write(&events, fixture("seed-rules.events.jsonl")).unwrap();
    fs::write(&audit, log).unwrap();
    let out = Command::new(swmon_bin())
        .arg("report")
        .arg("--events")
        .arg(&events)
        .arg("--audit-log")
        .arg(&audit)
        .args(["--format", "json"])
        .output()
        .expect("run swmon report");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "swmon report failed: {stderr}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("the report is JSON");
    (json, stderr, audit.display().to_string())
}

fn recorded_by_auditd(r: &Value) -> Vec<u64> {
    let mut pids: Vec<u64> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["auditd"]["recorded"] == true)
        .map(|row| row["pid"].as_u64().unwrap())
        .collect();
    pids.sort();
    pids
}

#[test]
fn the_untouched_fixture_reports_four_audited_runs_and_no_warning() {
    let (r, _, _) = report("fuzz-clean", &fixture("seed-rules.audit.log"));
    assert_eq!(r["warnings"], serde_json::json!([]));
    assert_eq!(recorded_by_auditd(&r), [6831, 6833, 6835, 6841]);
}

#[test]
fn a_time_past_year_9999_is_one_warning_naming_its_line() {
    // The crafted SYSCALL line alone, then the whole event crafted: either
    // way one warning, at line 5, and the other runs are still reported.
    for (tag, lines) in [("fuzz-line", 5..=5), ("fuzz-event", 5..=11)] {
        let (r, stderr, path) = report(tag, &crafted_log(lines));
        let warnings = r["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{tag}: {warnings:#?}");
        assert_eq!(warnings[0]["file"], path.as_str());
        assert_eq!(warnings[0]["line"], 5);
        let message = warnings[0]["message"].as_str().unwrap();
        assert!(
            message.contains("300000000000.000") && message.contains("9999"),
            "{message}"
        );
        assert_eq!(r["warnings_suppressed"], 0);
        assert!(
            stderr.contains(&format!("{path}:5")),
            "stderr names the line: {stderr}"
        );
        // dpkg (6831) lost its audit record with the bad line; the rest stand.
        assert_eq!(recorded_by_auditd(&r), [6833, 6835, 6841], "{tag}");
        assert_eq!(
            r["runs"].as_array().unwrap().len(),
            7,
            "{tag}: every run is still reported"
        );
    }
}
