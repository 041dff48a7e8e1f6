//! `swmon report` on what `swmon run` wrote on the real kernel: apt-get
//! installing a local `.deb` is one install with its dpkg runs folded
//! under it, and an executable copied into `/usr/local/bin` by `cp` (no
//! installer ran) is an install only the state witness saw, shown with its
//! writer, its parents and the file's hash, and counted apart.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use tests::{build_deb, one_run, run, swmon_bin, Monitor, TempDir};

const PKG: &str = "swmon-report-e2e";

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = Command::new("/usr/bin/dpkg")
            .args(["--purge", PKG])
            .output();
    }
}

fn report(events: &Path, audit: &Path, format: &str) -> String {
    let out = Command::new(swmon_bin())
        .arg("report")
        .arg("--events")
        .arg(events)
        .arg("--audit-log")
        .arg(audit)
        .args(["--format", format])
        .output()
        .expect("swmon report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn rows_of(report: &Value) -> &Vec<Value> {
    report["runs"].as_array().expect("runs")
}

#[test]
fn the_report_folds_apt_s_dpkg_runs_and_lists_the_state_only_install() {
    let tmp = TempDir::new("report-witnesses");
    let deb = build_deb(tmp.path(), PKG, "2.0-1", "e2e.deb");
    let target = PathBuf::from(format!(
        "/usr/local/bin/swmon-report-{}",
        std::process::id()
    ));
    let _cleanup = Cleanup(target.clone());

    let m = Monitor::start(&[]);
    let (apt, code) = run(Command::new("/usr/bin/apt-get")
        .args(["install", "-y", "-q"])
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert_eq!(code, 0, "apt-get install");
    let (cp, code) = run(Command::new("/usr/bin/cp")
        .arg("/usr/bin/true")
        .arg(&target));
    assert_eq!(code, 0, "cp");
    m.wait_for("apt-get", Duration::from_secs(60), |e| {
        e["process"]["pid"] == apt
    });
    m.wait_for("cp's state-only event", Duration::from_secs(30), |e| {
        e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == cp
    });
    let events = m.stop();
    let apt_id = one_run(&events, apt)["swmon"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    // apt-get's runs: its dpkg runs, and any run under one of them.
    let mut nested_ids: Vec<&str> = Vec::new();
    let mut frontier = vec![apt_id.as_str()];
    while let Some(parent) = frontier.pop() {
        for e in events
            .iter()
            .filter(|e| e["swmon"]["parent_run_id"] == parent)
        {
            if let Some(id) = e["swmon"]["run_id"].as_str() {
                if !nested_ids.contains(&id) {
                    nested_ids.push(id);
                    frontier.push(id);
                }
            }
        }
    }
    assert!(!nested_ids.is_empty(), "apt-get ran dpkg: {events:#?}");

    let jsonl = tmp.path().join("events.jsonl");
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    fs::write(&jsonl, text).expect("events");
    let audit = tmp.path().join("audit.log");
    fs::write(&audit, "").expect("audit log");
    let json: Value = serde_json::from_str(&report(&jsonl, &audit, "json")).expect("JSON");

    // apt-get: one root install with its dpkg runs under it.
    let rows = rows_of(&json);
    let apt_row = rows
        .iter()
        .find(|r| r["pid"] == apt)
        .expect("apt-get's row");
    assert_eq!(apt_row["nested_in"], Value::Null);
    assert_eq!(apt_row["nested_runs"], nested_ids.len(), "{apt_row:#}");
    for id in &nested_ids {
        let r = rows
            .iter()
            .find(|r| r["swmon"]["run_id"] == *id)
            .expect("nested row");
        assert_eq!(r["nested_in"], apt_id.as_str(), "{r:#}");
    }
    // (Other runs of the host may be nested in runs of their own.)
    let nested = rows.iter().filter(|r| !r["nested_in"].is_null()).count();
    assert!(nested >= nested_ids.len());
    assert_eq!(json["summary"]["nested_runs"], nested);
    let changed: Vec<&Value> = apt_row["swmon"]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["name"] == PKG)
        .collect();
    assert_eq!(changed.len(), 1, "{apt_row:#}");
    assert_eq!(changed[0]["version"], "2.0-1");
    assert_eq!(changed[0]["action"], "install");

    // cp: installed by no installer, seen by the state witness alone.
    let cp_row = rows.iter().find(|r| r["pid"] == cp).expect("cp's row");
    assert_eq!(cp_row["swmon"]["state_only"], true, "{cp_row:#}");
    assert_eq!(cp_row["swmon"]["detected_by"], serde_json::json!(["state"]));
    assert_eq!(cp_row["executable"], "/usr/bin/cp");
    assert_eq!(
        cp_row["swmon"]["ancestors"][0]["pid"],
        std::process::id(),
        "the test is cp's parent: {cp_row:#}"
    );
    let change = &cp_row["swmon"]["changes"][0];
    assert_eq!(change["path"], target.display().to_string());
    let sha = change["sha256"].as_str().expect("sha256");
    assert_eq!(sha.len(), 64, "{change:#}");
    let state_only = rows
        .iter()
        .filter(|r| r["swmon"]["state_only"] == true)
        .count();
    assert!(state_only >= 1);
    assert_eq!(json["summary"]["state_only"], state_only);
    // Counted once: the summary's runs are the root installer runs.
    let roots = rows
        .iter()
        .filter(|r| r["nested_in"].is_null() && r["swmon"]["state_only"] == false)
        .count();
    assert_eq!(json["summary"]["runs"], roots);

    // Markdown: the dpkg runs under apt-get, cp in its own section.
    let md = report(&jsonl, &audit, "md");
    let section = md
        .split("## Installs only the state witness saw")
        .nth(1)
        .expect("the state-only section");
    let cp_line = section
        .lines()
        .find(|l| l.contains(&format!("| {cp} |")))
        .unwrap_or_else(|| panic!("cp in the state-only section: {md}"));
    assert!(cp_line.contains(&format!("sha256:{sha}")), "{cp_line}");
    let runs = md
        .split("## Runs")
        .nth(1)
        .and_then(|s| s.split("## Installs only").next())
        .expect("runs");
    let lines: Vec<&str> = runs.lines().filter(|l| l.starts_with("| ")).collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&format!("| {apt} |")))
        .expect("apt-get's line");
    for l in &lines[at + 1..=at + nested_ids.len()] {
        assert!(l.starts_with("| ↳ ") && l.contains("nested in "), "{l}");
    }
}
