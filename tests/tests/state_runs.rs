//! A run's events with the state witness, on the real kernel with the real
//! binary: a long install's early event (`event.type: start`, the verdict
//! so far) before its decision; what a run asked for against what changed
//! (`swmon.mismatches`); and a state-only install's verdict against the
//! audit trail (does the trail hold the writer's exec?), with a private
//! auditd and a rule of this test's own.

mod audit_common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use audit_common::{auditctl, key, Auditd, HostAudit};
use serde_json::Value;
use tests::{
    build_deb_with, build_wheel, is_early, one_run, run, wait_within, Monitor, TempDir,
    RUN_DEADLINE,
};

const PYTHON: &str = "/usr/bin/python3";

struct DpkgPurge(&'static str);

impl Drop for DpkgPurge {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/dpkg")
            .args(["--purge", self.0])
            .output();
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A `.deb` whose `postinst` waits until `release` exists (at most 300 s),
/// so the install is still going for as long as the test needs.
fn waiting_deb(dir: &Path, name: &str, release: &Path) -> PathBuf {
    let postinst = format!(
        "#!/bin/sh\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 6000 ]; do sleep 0.05; i=$((i+1)); done\nexit 0\n",
        release.display()
    );
    build_deb_with(dir, name, "2.5-1", "waiting.deb", "", Some(&postinst))
}

#[test]
fn a_long_install_gets_an_early_event_then_its_decision() {
    const PKG: &str = "swmon-runs-long";
    let tmp = TempDir::new("runs-long");
    let release = tmp.path().join("release");
    let deb = waiting_deb(tmp.path(), PKG, &release);
    let _purge = DpkgPurge(PKG);

    let m = Monitor::start(&["--audit-wait-ms", "200"]);
    let mut child = Command::new("/usr/bin/dpkg")
        .arg("-i")
        .arg(&deb)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dpkg");
    let pid = child.id();
    // The early event comes while dpkg waits in its postinst: the test
    // lets it go only once the event is there.
    let early = {
        let end = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(e) = m
                .all_events()
                .into_iter()
                .find(|e| is_early(e) && e["process"]["pid"] == pid)
            {
                break e;
            }
            assert!(
                std::time::Instant::now() < end,
                "no early event for dpkg: {:#?}",
                m.all_events()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    fs::write(&release, b"").expect("release");
    let status = wait_within(&mut child, RUN_DEADLINE, "dpkg -i");
    assert!(status.success(), "dpkg -i: {status}");
    m.wait_for("dpkg's decision", Duration::from_secs(60), |e| {
        e["process"]["pid"] == pid
    });
    let all = m.stop_all();
    let events: Vec<Value> = all.iter().filter(|e| !is_early(e)).cloned().collect();
    let last = one_run(&events, pid);
    // One early event for the run, the one seen.
    let early_all: Vec<&Value> = all
        .iter()
        .filter(|e| is_early(e) && e["swmon"]["run_id"] == last["swmon"]["run_id"])
        .collect();
    assert_eq!(early_all, [&early], "{all:#?}");

    // The early event: the run so far, no end.
    assert_eq!(early["swmon"]["run_id"], last["swmon"]["run_id"]);
    assert_eq!(early["swmon"]["manager"], "dpkg");
    assert_eq!(early["swmon"]["operation"], "install");
    assert_eq!(early["event"]["action"], "package-install");
    // Its verdict so far is the one the run's end gives (nothing about the
    // audit trail changed in between).
    assert!(early["swmon"]["verdict"].is_string(), "{early:#}");
    assert_eq!(
        early["swmon"]["verdict"], last["swmon"]["verdict"],
        "{early:#}"
    );
    assert_eq!(
        early["swmon"]["reason"], last["swmon"]["reason"],
        "{early:#}"
    );
    assert!(early["process"].get("exit_code").is_none(), "{early:#}");
    assert!(early["event"].get("outcome").is_none(), "{early:#}");
    assert!(early["swmon"].get("changes").is_none(), "{early:#}");
    assert!(early["swmon"].get("mismatches").is_none(), "{early:#}");
    // The decision: outcome, duration and what changed.
    assert!(!is_early(&last));
    assert_eq!(last["process"]["exit_code"], 0);
    assert_eq!(last["event"]["outcome"], "success");
    assert!(last["swmon"]["duration_ns"].as_u64().is_some(), "{last:#}");
    let changes = last["swmon"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        changes
            .iter()
            .any(|c| c["name"] == PKG && c["version"] == "2.5-1" && c["action"] == "install"),
        "{last:#}"
    );
    assert_eq!(
        last["swmon"]["mismatches"],
        serde_json::json!([]),
        "{last:#}"
    );
}

/// A venv with pip under `dir`.
fn venv(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    let out = Command::new(PYTHON)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("venv");
    assert!(out.status.success());
    venv
}

#[test]
fn a_package_asked_for_that_did_not_change_is_flagged() {
    const NAME: &str = "swmon-runs-mm";
    let tmp = TempDir::new("runs-mismatch");
    let dir = tmp.path().join("wheels");
    fs::create_dir_all(&dir).expect("mkdir");
    build_wheel(PYTHON, &dir, NAME, "1.0");
    let venv = venv(tmp.path());
    let pip = |m: &Monitor| {
        let (pid, code) = run(Command::new(venv.join("bin/pip"))
            .args(["install", "--no-index", "--find-links"])
            .arg(&dir)
            .arg(format!("{NAME}==1.0")));
        assert_eq!(code, 0, "pip install");
        m.wait_for("pip install", Duration::from_secs(60), |e| {
            e["process"]["pid"] == pid
        });
        pid
    };
    let m = Monitor::start(&[]);
    // The first install changes what it asked for; the second finds it
    // there ("Requirement already satisfied") and changes nothing.
    let first = pip(&m);
    let second = pip(&m);
    let events = m.stop();
    let a = one_run(&events, first);
    assert_eq!(a["swmon"]["mismatches"], serde_json::json!([]), "{a:#}");
    let b = one_run(&events, second);
    assert_eq!(
        b["swmon"]["mismatches"],
        serde_json::json!([{ "kind": "not-changed", "name": NAME }]),
        "{b:#}"
    );
    assert!(b["swmon"].get("changes").is_none(), "{b:#}");
}

/// (name, version, previous_version, action) of each change of `name`.
fn changes_of(e: &Value, name: &str) -> Vec<(String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    e["swmon"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["name"] == name)
        .map(|c| {
            (
                s(&c["name"]),
                s(&c["version"]),
                s(&c["previous_version"]),
                s(&c["action"]),
            )
        })
        .collect()
}

#[test]
fn a_pip_upgrade_has_its_previous_version_and_an_uninstall_its_removal() {
    const NAME: &str = "swmon-runs-up";
    let tmp = TempDir::new("runs-upgrade");
    let dir = tmp.path().join("wheels");
    fs::create_dir_all(&dir).expect("mkdir");
    build_wheel(PYTHON, &dir, NAME, "1.0");
    build_wheel(PYTHON, &dir, NAME, "2.0");
    let venv = venv(tmp.path());
    let pip = |m: &Monitor, args: &[&str]| {
        let (pid, code) = run(Command::new(venv.join("bin/pip"))
            .args(args)
            .args(["--no-index", "--find-links"])
            .arg(&dir)
            .arg(NAME));
        assert_eq!(code, 0, "pip {args:?}");
        m.wait_for("pip", Duration::from_secs(60), |e| {
            e["process"]["pid"] == pid
        });
        pid
    };
    // 1.0 is there before swmon starts: listed at the venv pip's exec.
    let (_, code) = run(Command::new(venv.join("bin/pip"))
        .args(["install", "--no-index", "--find-links"])
        .arg(&dir)
        .arg(format!("{NAME}==1.0")));
    assert_eq!(code, 0);
    let m = Monitor::start(&[]);
    let up = pip(&m, &["install", "--upgrade"]);
    let (rm, code) = run(Command::new(venv.join("bin/pip")).args(["uninstall", "-y", NAME]));
    assert_eq!(code, 0, "pip uninstall");
    m.wait_for("pip uninstall", Duration::from_secs(60), |e| {
        e["process"]["pid"] == rm
    });
    let events = m.stop();
    let a = one_run(&events, up);
    assert_eq!(
        changes_of(&a, NAME),
        [(NAME.into(), "2.0".into(), "1.0".into(), "upgrade".into())],
        "{a:#}"
    );
    let b = one_run(&events, rm);
    assert_eq!(
        changes_of(&b, NAME),
        [(NAME.into(), String::new(), "2.0".into(), "remove".into())],
        "{b:#}"
    );
    assert!(
        b["swmon"]["detected_by"]
            .as_array()
            .is_some_and(|d| d.iter().any(|w| w == "state")),
        "{b:#}"
    );
    assert_eq!(b["swmon"]["mismatches"], serde_json::json!([]), "{b:#}");
}

#[test]
fn a_state_only_install_is_judged_against_the_audit_trail() {
    let host = HostAudit::save();
    host.enable();
    let k = key("writer");
    let recorded = PathBuf::from(format!(
        "/usr/local/bin/swmon-runs-rec-{}",
        std::process::id()
    ));
    let unrecorded = PathBuf::from(format!(
        "/usr/local/bin/swmon-runs-unrec-{}",
        std::process::id()
    ));
    let _gone = (
        RemoveOnDrop(recorded.clone()),
        RemoveOnDrop(unrecorded.clone()),
    );
    let _auditd = Auditd::start();
    // This test's rule: every exec of /usr/bin/cp is recorded (HostAudit
    // removes it by its key).
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "execve",
        "-F",
        "path=/usr/bin/cp",
        "-k",
        &k,
    ]);
    let m = Monitor::start(&[]);
    let (cp, code) = run(Command::new("/usr/bin/cp")
        .arg("/usr/bin/true")
        .arg(&recorded));
    assert_eq!(code, 0, "cp");
    let (install, code) = run(Command::new("/usr/bin/install")
        .args(["-m", "0755", "/usr/bin/true"])
        .arg(&unrecorded));
    assert_eq!(code, 0, "install");
    for pid in [cp, install] {
        m.wait_for("the state-only event", Duration::from_secs(30), |e| {
            e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid
        });
    }
    let events = m.stop();
    let of = |pid: u32| -> Value {
        let found: Vec<&Value> = events
            .iter()
            .filter(|e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid)
            .collect();
        assert_eq!(found.len(), 1, "{found:#?}");
        found[0].clone()
    };
    // cp's exec is in the trail (this test's rule): confirmed, with the
    // record's serial.
    let a = of(cp);
    assert_eq!(a["swmon"]["verdict"], "confirmed", "{a:#}");
    assert!(a["swmon"]["audit"]["serial"].as_u64().is_some(), "{a:#}");
    assert!(a["swmon"]["audit"].get("reason").is_none(), "{a:#}");
    assert_eq!(a["swmon"]["detected_by"], serde_json::json!(["state"]));
    // install's is in no rule: it slipped past the audit trail.
    let b = of(install);
    assert_eq!(b["swmon"]["verdict"], "ebpf_only", "{b:#}");
    assert_eq!(b["swmon"]["audit"]["reason"], "no-audit-rule", "{b:#}");
    // Both changes are the files, with their hashes.
    for (e, path) in [(&a, &recorded), (&b, &unrecorded)] {
        assert_eq!(
            e["swmon"]["changes"][0]["path"],
            path.display().to_string(),
            "{e:#}"
        );
    }
}
