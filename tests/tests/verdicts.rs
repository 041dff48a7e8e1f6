//! The cross-check end to end: `swmon run --audit-rules seed` beside a real
//! auditd, on real installs, and what each run's verdict says about the
//! host's audit trail. Also the gaps: auditd stopped, audit disabled, the
//! seed rules removed (and put back with `--restore-rules`).

mod audit_common;

use std::{fs, path::Path, process::Command, time::Duration};

use audit_common::{auditctl, auditctl_rules, Auditd, HostAudit};
use serde_json::Value;
use tests::{action, counters, one_run, run, swmon_bin, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";
const PYTHON: &str = "/usr/bin/python3";
const PKG: &str = "swmon-verdict-test-pkg";

/// Removes the seed rules however the test ends (swmon removes what it
/// added at stop; this covers a test that fails before that).
struct SeedGuard;

impl Drop for SeedGuard {
    fn drop(&mut self) {
        let _ = Command::new(swmon_bin())
            .args(["rules", "remove", "--set", "seed"])
            .output();
    }
}

struct DebGuard;

impl Drop for DebGuard {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PKG]).output();
    }
}

fn build_deb(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("pkg");
    fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PKG}\nVersion: 2.0-1\nArchitecture: all\nMaintainer: swmon tests <t@example.invalid>\n\
             Description: a package swmon's verdict tests install\n"
        ),
    )
    .expect("control");
    let deb = dir.join(format!("{PKG}.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

fn verdict(e: &Value) -> (String, String) {
    (
        e["swmon"]["verdict"].as_str().unwrap_or("").to_owned(),
        e["swmon"]["reason"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn installs_are_confirmed_and_evasions_slip_past_auditd() {
    let host = HostAudit::save();
    host.enable();
    let _seed = SeedGuard;
    let _deb_guard = DebGuard;
    let tmp = TempDir::new("verdict");
    let deb = build_deb(tmp.path());
    let copy = tmp.path().join("mydpkg");
    fs::copy(DPKG, &copy).expect("copy dpkg");
    let fexec = tmp.path().join("fexec.py");
    fs::write(
        &fexec,
        "import os, sys\nfd = os.open('/usr/bin/dpkg', os.O_RDONLY)\nos.execve(fd, ['dpkg'] + sys.argv[1:], dict(os.environ))\n",
    )
    .expect("write");
    let memfd = tmp.path().join("memfd.py");
    fs::write(
        &memfd,
        "import os, sys\nfd = os.memfd_create('pkg', 0)\nos.write(fd, open('/usr/bin/dpkg', 'rb').read())\n\
         os.execve(fd, ['pkg'] + sys.argv[1:], dict(os.environ))\n",
    )
    .expect("write");

    let auditd = Auditd::start();
    let m = Monitor::start(&["--audit-rules", "seed"]);
    let loaded = auditctl_rules();
    assert!(
        loaded
            .iter()
            .any(|r| r.contains("path=/usr/bin/dpkg") && r.contains("key=software-installer")),
        "{loaded:?}"
    );
    let installed = run(Command::new(DPKG).arg("-i").arg(&deb));
    let removed = run(Command::new(DPKG).args(["-r", PKG]));
    let copied = run(Command::new(&copy).arg("-i").arg(&deb));
    let _ = run(Command::new(DPKG).args(["-r", PKG]));
    let loader = run(Command::new("/lib64/ld-linux-x86-64.so.2")
        .arg(DPKG)
        .arg("-i")
        .arg(&deb));
    let _ = run(Command::new(DPKG).args(["-r", PKG]));
    let module = run(Command::new(PYTHON).args(["-m", "pip", "--version"]));
    let fexecve = run(Command::new(PYTHON).arg(&fexec).arg("--version"));
    let fileless = run(Command::new(PYTHON).arg(&memfd).arg("--version"));
    for (what, (_, code)) in [
        ("dpkg -i", installed),
        ("dpkg -r", removed),
        ("copy -i", copied),
        ("loader -i", loader),
    ] {
        assert_eq!(code, 0, "{what}");
    }
    m.wait_for("the memfd run's verdict", Duration::from_secs(10), |e| {
        e["process"]["pid"] == fileless.0
    });
    let events = m.stop();
    let log = auditd.log_lines();
    drop(auditd);

    let e = one_run(&events, installed.0);
    assert_eq!(action(&e), "package-install");
    assert_eq!(verdict(&e), ("confirmed".into(), String::new()), "{e:#}");
    assert_eq!(e["swmon"]["audit"]["key"], "software-installer");
    assert_eq!(e["event"]["kind"], "event");
    let e = one_run(&events, removed.0);
    assert_eq!(
        (action(&e), verdict(&e).0.as_str()),
        ("package-remove", "confirmed")
    );

    // What slips past the seed's path rules on this kernel.
    for (what, pid, via) in [
        ("renamed copy", copied.0, "renamed"),
        ("loader", loader.0, "loader"),
        ("python -m pip", module.0, "python -m"),
        ("memfd", fileless.0, "memfd"),
    ] {
        let e = one_run(&events, pid);
        assert_eq!(
            verdict(&e),
            ("ebpf_only".into(), "no-audit-rule".into()),
            "{what}: {e:#}"
        );
        assert_eq!(e["swmon"]["via"], via, "{what}");
        assert_eq!(e["event"]["kind"], "alert", "{what}");
    }
    assert_eq!(action(&one_run(&events, copied.0)), "package-install");
    // A path rule watches the inode: fexecve of the watched file is in the
    // trail (once expected otherwise; this kernel records it).
    let e = one_run(&events, fexecve.0);
    assert_eq!(
        (e["swmon"]["via"].as_str(), verdict(&e).0.as_str()),
        (Some("fexecve"), "confirmed"),
        "{e:#}"
    );

    // The confirmed run's serial is in auditd's own log, with the seed's key.
    let serial = one_run(&events, installed.0)["swmon"]["audit"]["serial"]
        .as_u64()
        .expect("serial");
    let tag = format!(":{serial}):");
    assert!(
        log.iter().any(|l| l.contains(&tag)
            && l.contains("type=SYSCALL")
            && l.contains("software-installer")),
        "serial {serial} not in auditd's log"
    );
    // A run that slipped past is not in it.
    let comm = "comm=\"mydpkg\"";
    assert!(
        !log.iter().any(|l| l.contains(comm)),
        "the copy was logged after all"
    );
    let c = counters(&events);
    assert!(c["confirmed"].as_u64().expect("confirmed") >= 3, "{c}");
    assert_eq!(c["audit"]["overruns"], 0, "{c}");
    assert!(
        auditctl_rules()
            .iter()
            .all(|r| !r.contains("key=software-installer")),
        "seed rules removed at stop"
    );
}

#[test]
fn gaps_in_the_trail_are_events_and_reasons() {
    let host = HostAudit::save();
    host.enable();
    let _seed = SeedGuard;
    let mut auditd = Auditd::start();
    let m = Monitor::start(&[
        "--audit-rules",
        "seed",
        "--restore-rules",
        "--audit-wait-ms",
        "500",
    ]);

    // auditd stopped: the kernel still emits the record to our listener,
    // but nothing writes it to the trail.
    auditd.stop(libc::SIGTERM);
    m.wait_for("auditd-stopped", Duration::from_secs(10), |e| {
        action(e) == "auditd-stopped"
    });
    let (unlogged, _) = run(Command::new(DPKG).arg("--version"));
    let e = m.wait_for("the unlogged run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == unlogged
    });
    assert_eq!(
        verdict(&e),
        ("ebpf_only".into(), "auditd-stopped".into()),
        "{e:#}"
    );
    assert!(
        e["swmon"]["audit"]["serial"].as_u64().is_some(),
        "the record reached swmon: {e:#}"
    );

    // A seed rule deleted by hand: an alert, and --restore-rules puts it back.
    auditctl(&[
        "-d",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "all",
        "-F",
        "perm=x",
        "-F",
        &format!("path={DPKG}"),
        "-F",
        "key=software-installer",
    ]);
    let alert = m.wait_for("audit-rules-removed", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-removed"
    });
    assert_eq!(alert["event"]["kind"], "alert");
    m.wait_for("audit-rules-restored", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-restored"
    });
    assert!(
        auditctl_rules()
            .iter()
            .any(|r| r.contains(&format!("path={DPKG}"))),
        "restored"
    );

    // Audit disabled: nothing is recorded at all.
    auditctl(&["-e", "0"]);
    m.wait_for("audit-disabled", Duration::from_secs(10), |e| {
        action(e) == "audit-disabled"
    });
    let (dark, _) = run(Command::new(DPKG).arg("--version"));
    let e = m.wait_for("the run while disabled", Duration::from_secs(10), |e| {
        e["process"]["pid"] == dark
    });
    assert_eq!(
        verdict(&e),
        ("ebpf_only".into(), "audit-disabled".into()),
        "{e:#}"
    );
    auditctl(&["-e", "1"]);
    m.wait_for("audit-enabled", Duration::from_secs(10), |e| {
        action(e) == "audit-enabled"
    });
    let events = m.stop();
    let stopped = events
        .iter()
        .find(|e| action(e) == "auditd-stopped")
        .expect("auditd-stopped");
    assert_eq!(stopped["event"]["kind"], "alert");
}
