//! The audit stream on the real kernel, read as the run loop reads it:
//! assembled events with their argv, the same serial a real auditd logs,
//! health changes (audit disabled/enabled, auditd started/stopped), and the
//! alert when someone deletes a guarded rule.

mod audit_common;

use std::{path::Path, process::Command, time::Duration};

use audit_common::{add, auditctl, auditctl_rules, key, status, wait_for, Auditd, HostAudit};
use swmon::audit::{
    netlink::ControlSocket,
    parse_log_line,
    rules::{self, AuditRule},
    Assembler, AuditEvent, AuditItem, AuditOptions, AuditStream, Health,
};

const DPKG: &str = "/usr/bin/dpkg";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn is_exec_of(item: &AuditItem, k: &str, pid: u32) -> bool {
    match item {
        AuditItem::Event(e) => {
            e.keys().iter().any(|x| x == k.as_bytes())
                && e.syscall().and_then(|s| s.pid()) == Some(pid)
        }
        _ => false,
    }
}

fn event(items: &[AuditItem]) -> &AuditEvent {
    match items.last() {
        Some(AuditItem::Event(e)) => e,
        other => panic!("not an event: {other:?}"),
    }
}

fn argv(e: &AuditEvent) -> Vec<String> {
    e.argv()
        .expect("EXECVE records")
        .args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Runs `dpkg --version` by name, so argv[0] is `dpkg`.
fn dpkg_version() -> u32 {
    let child = Command::new("dpkg")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run dpkg");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for dpkg");
    assert!(out.status.success());
    pid
}

#[test]
fn dpkg_version_is_assembled_with_its_argv() {
    let host = HostAudit::save();
    host.enable();
    let k = key("dpkg");
    add(&AuditRule::exec_watch(Path::new(DPKG), &k));
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions::default()).expect("open the stream");
        assert!(stream.rcvbuf() >= 8 << 20, "rcvbuf {}", stream.rcvbuf());
        let pid = dpkg_version();
        let items = wait_for(&mut stream, "the dpkg exec", Duration::from_secs(10), |i| {
            is_exec_of(i, &k, pid)
        })
        .await;
        let e = event(&items);
        assert_eq!(argv(e), ["dpkg", "--version"]);
        assert!(e.has_eoe(), "complete: {:?}", e.records);
        let s = e.syscall().expect("SYSCALL");
        assert_eq!(s.syscall(), Some(59));
        assert_eq!(s.success(), Some(true));
        assert_eq!(
            s.exe().and_then(|t| t.as_bytes().map(<[u8]>::to_vec)),
            Some(DPKG.as_bytes().to_vec())
        );
        let c = stream.counters();
        assert_eq!(c.overruns, 0);
        assert_eq!(c.assembler.parse_errors, 0);
    });
}

#[test]
fn a_real_auditd_logs_the_same_event_with_the_same_serial() {
    let host = HostAudit::save();
    host.enable();
    let k = key("auditd");
    add(&AuditRule::exec_watch(Path::new(DPKG), &k));
    let mut auditd = Auditd::start();
    let (serial, our_argv) = rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions::default()).expect("open the stream");
        let pid = dpkg_version();
        let items = wait_for(&mut stream, "the dpkg exec", Duration::from_secs(10), |i| {
            is_exec_of(i, &k, pid)
        })
        .await;
        let e = event(&items);
        (e.serial, argv(e))
    });
    // auditd writes with flush=SYNC; wait for the EXECVE line of the serial.
    let needle = format!(":{serial}):");
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines: Vec<String> = auditd
            .log_lines()
            .into_iter()
            .filter(|l| l.contains(&needle))
            .collect();
        if lines.iter().any(|l| l.contains("type=EXECVE")) {
            break lines;
        }
        assert!(
            std::time::Instant::now() < end,
            "auditd's log has no EXECVE for serial {serial}: {:#?}",
            auditd.log_lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    auditd.stop(libc::SIGTERM);
    let mut asm = Assembler::default();
    for l in &lines {
        asm.push(
            parse_log_line(l.as_bytes()).expect("auditd's line parses"),
            0,
        );
    }
    asm.flush_all();
    let logged = asm.pop_ready().expect("one event");
    assert_eq!(logged.serial, serial);
    assert_eq!(argv(&logged), our_argv);
    assert!(logged.keys().iter().any(|x| x == k.as_bytes()));
    drop(host);
}

#[test]
fn disabling_and_enabling_audit_are_reported() {
    let host = HostAudit::save();
    host.enable();
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions {
            poll_interval: Duration::from_millis(100),
            ..AuditOptions::default()
        })
        .expect("open the stream");
        auditctl(&["-e", "0"]);
        let items = wait_for(&mut stream, "audit-disabled", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditDisabled { at_start: false })
        })
        .await;
        assert_eq!(items.last().and_then(AuditItem::action), Some("audit-disabled"));
        auditctl(&["-e", "1"]);
        wait_for(&mut stream, "audit-enabled", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditEnabled { locked: false })
        })
        .await;
    });
    drop(host);
}

#[test]
fn a_stream_opened_with_audit_off_says_so_at_once() {
    let host = HostAudit::save();
    host.enable();
    auditctl(&["-e", "0"]);
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions::default()).expect("open the stream");
        wait_for(&mut stream, "audit-disabled at start", Duration::from_secs(1), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditDisabled { at_start: true })
        })
        .await;
    });
    drop(host);
}

#[test]
fn auditd_starting_and_dying_are_reported() {
    let host = HostAudit::save();
    host.enable();
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions {
            poll_interval: Duration::from_millis(100),
            ..AuditOptions::default()
        })
        .expect("open the stream");
        let mut auditd = Auditd::start();
        let pid = auditd.pid();
        wait_for(&mut stream, "auditd-started", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditdStarted { pid })
        })
        .await;
        // SIGKILL: auditd cannot unregister, and the kernel keeps naming it
        // until a send to it fails; swmon notices the process is gone.
        auditd.stop(libc::SIGKILL);
        let items = wait_for(&mut stream, "auditd-stopped", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if matches!(h.change, Health::AuditdStopped { pid: p, .. } if p == pid))
        })
        .await;
        match items.last() {
            Some(AuditItem::Health(h)) => {
                // Which one depends on whether a record reached the kernel's
                // send path before our next poll.
                assert!(
                    matches!(
                        h.change,
                        Health::AuditdStopped { reason: "process-gone" | "unregistered", at_start: false, .. }
                    ),
                    "{h:?}"
                );
                eprintln!("after SIGKILL: {:?}", h.change);
            }
            other => panic!("{other:?}"),
        }
        // A record makes the kernel try the dead daemon and let go of it.
        auditctl(&["-e", "1"]);
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while status().pid != 0 {
            assert!(std::time::Instant::now() < end, "the kernel still names pid {pid}");
            let _ = dpkg_version();
            auditctl(&["-s"]);
            std::thread::sleep(Duration::from_millis(50));
        }

        let mut auditd = Auditd::start();
        let pid = auditd.pid();
        wait_for(&mut stream, "auditd-started again", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditdStarted { pid })
        })
        .await;
        // SIGTERM: auditd unregisters itself.
        auditd.stop(libc::SIGTERM);
        wait_for(&mut stream, "auditd-stopped (unregistered)", Duration::from_secs(5), |i| {
            matches!(i, AuditItem::Health(h) if h.change == Health::AuditdStopped { pid, at_start: false, reason: "unregistered" })
        })
        .await;
    });
    drop(host);
}

#[test]
fn deleting_a_guarded_rule_alerts_and_restore_puts_it_back() {
    let host = HostAudit::save();
    host.enable();
    let k = key("guarded");
    let ours = vec![
        AuditRule::exec_watch(Path::new(DPKG), &k),
        AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), &k),
    ];
    let mut ctl = ControlSocket::open().expect("control socket");
    let installed = rules::install(&mut ctl, &ours).expect("install");
    assert_eq!(installed.added.len(), 2);
    let guard = rules::RuleGuard::new(installed.added);
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions::default()).expect("open the stream");
        auditctl(&[
            "-d",
            "always,exit",
            "-F",
            "arch=b64",
            "-F",
            "perm=x",
            "-F",
            "path=/usr/bin/dpkg",
            "-F",
            &format!("key={k}"),
        ]);
        let mut alert = None;
        wait_for(
            &mut stream,
            "the rule removal",
            Duration::from_secs(10),
            |i| {
                if let AuditItem::Event(e) = i {
                    alert = guard.check(e, Some(&mut ctl));
                }
                alert.is_some()
            },
        )
        .await;
        let alert = alert.expect("alert");
        assert_eq!(alert.keys, vec![k.clone()]);
        assert_eq!(alert.op, "remove_rule");
        assert!(alert.auid.is_some());
        assert_eq!(
            alert.rules,
            vec![ours[0].clone()],
            "the dpkg rule is the one gone"
        );
        assert_eq!(
            AuditItem::RulesRemoved(alert).action(),
            Some("audit-rules-removed")
        );
    });
    let restored = guard.restore(&mut ctl).expect("restore");
    assert_eq!(restored, vec![ours[0].clone()]);
    let listed = auditctl_rules();
    for r in &ours {
        assert!(listed.contains(&r.to_string()), "{r} back in {listed:#?}");
    }
    let removed = guard.remove_ours(&mut ctl).expect("remove ours");
    assert_eq!(removed.removed.len(), 2);
    assert!(!auditctl_rules().iter().any(|l| l.contains(&k)));
    drop(host);
}
