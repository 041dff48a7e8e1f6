//! What the audit tests share: `auditctl` (installed from Debian's `auditd`
//! package if missing), a guard that puts the host's audit state back, a
//! private auditd, and waiting on the audit stream with a deadline.
//!
//! Host rules: the tests add and delete only rules tagged with their own key
//! (`swmon-test-<pid>-...`), never flush, never take the audit daemon slot
//! themselves (the auditd they start does, and they stop it by pid), and
//! put back the enabled flag and backlog limit they change.

#![allow(dead_code, reason = "each test file uses a part of this module")]

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Once,
    time::{Duration, Instant},
};

use swmon::audit::{
    netlink::ControlSocket,
    rules::{self, AuditRule},
    AuditItem, AuditStatus, AuditStream,
};
use tests::TempDir;

pub const REQUEST: Duration = Duration::from_secs(2);

/// A key unique to this test process and `tag`.
pub fn key(tag: &str) -> String {
    format!("swmon-test-{}-{tag}", std::process::id())
}

/// Makes sure this is root and `auditctl` exists, installing Debian's
/// `auditd` package once if it does not (its service is not started: the
/// image's policy-rc.d forbids it, and there is no init to start it).
pub fn need_auditctl() {
    assert!(
        nix_is_root(),
        "the audit tests need root (CAP_AUDIT_CONTROL, CAP_AUDIT_READ)"
    );
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if Path::new("/usr/sbin/auditctl").exists() && Path::new("/usr/sbin/auditd").exists() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-q", "auditd"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-q"]).status();
            assert!(install(), "can't install auditd (auditctl) with apt-get");
        }
    });
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `auditctl ARGS`, asserting success; returns its standard output.
pub fn auditctl(args: &[&str]) -> String {
    need_auditctl();
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("run auditctl");
    assert!(
        out.status.success(),
        "auditctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `auditctl -l`, one rule a line (none when it says "No rules").
pub fn auditctl_rules() -> Vec<String> {
    auditctl(&["-l"])
        .lines()
        .filter(|l| !l.is_empty() && *l != "No rules")
        .map(str::to_owned)
        .collect()
}

pub fn status() -> AuditStatus {
    let mut ctl = ControlSocket::open().expect("open the audit control socket");
    AuditStatus::get(&mut ctl, REQUEST).expect("AUDIT_GET")
}

/// Restores, when dropped, the enabled flag and backlog limit as they were
/// when it was made, and deletes every rule carrying a key that starts with
/// this process's test prefix.
pub struct HostAudit {
    enabled: u32,
    backlog_limit: u32,
}

impl HostAudit {
    pub fn save() -> HostAudit {
        need_auditctl();
        let s = status();
        assert_ne!(
            s.enabled, 2,
            "audit is locked (-e 2) on this host: the tests can't change rules"
        );
        HostAudit {
            enabled: s.enabled,
            backlog_limit: s.backlog_limit,
        }
    }

    /// Turns audit on for the test (off means nothing arrives at all).
    pub fn enable(&self) {
        if status().enabled != 1 {
            auditctl(&["-e", "1"]);
        }
    }

    pub fn set_backlog_limit(&self, n: u32) {
        auditctl(&["-b", &n.to_string()]);
    }
}

impl Drop for HostAudit {
    fn drop(&mut self) {
        let prefix = format!("swmon-test-{}-", std::process::id());
        if let Ok(mut ctl) = ControlSocket::open() {
            if let Ok(loaded) = rules::list_rules(&mut ctl) {
                for r in loaded
                    .iter()
                    .filter(|r| r.keys().iter().any(|k| k.starts_with(prefix.as_bytes())))
                {
                    let _ = rules::delete_rule(&mut ctl, r);
                }
            }
        }
        let s = status();
        if s.backlog_limit != self.backlog_limit {
            let _ = Command::new("auditctl")
                .args(["-b", &self.backlog_limit.to_string()])
                .stdout(Stdio::null())
                .status();
        }
        if s.enabled != self.enabled {
            let _ = Command::new("auditctl")
                .args(["-e", &self.enabled.to_string()])
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// Adds a rule through the library (deleted by [`HostAudit`]'s drop).
pub fn add(rule: &AuditRule) {
    let mut ctl = ControlSocket::open().expect("open the audit control socket");
    rules::add_rule(&mut ctl, rule).expect("add a test rule");
}

/// Reads the stream until `pred` matches an item, or fails at the deadline
/// with what did arrive. Returns every item read, the match last.
pub async fn wait_for(
    stream: &mut AuditStream,
    what: &str,
    deadline: Duration,
    mut pred: impl FnMut(&AuditItem) -> bool,
) -> Vec<AuditItem> {
    let end = Instant::now() + deadline;
    let mut seen = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let item = tokio::time::timeout(left, stream.next()).await;
        match item {
            Ok(Ok(item)) => {
                let hit = pred(&item);
                seen.push(item);
                if hit {
                    return seen;
                }
            }
            Ok(Err(e)) => panic!("the audit stream failed waiting for {what}: {e}"),
            Err(_) => panic!(
                "no {what} within {deadline:?}; got {} items, the last ones: {:#?}",
                seen.len(),
                seen.iter()
                    .rev()
                    .take(10)
                    .map(|i| i
                        .to_json()
                        .to_string()
                        .chars()
                        .take(300)
                        .collect::<String>())
                    .collect::<Vec<_>>()
            ),
        }
    }
}

/// A private auditd: its own config, log and plugin folder in a temp
/// folder, `-s nochange` so it leaves the enabled flag alone, stopped by pid.
pub struct Auditd {
    child: Option<Child>,
    pub dir: TempDir,
    pub log: PathBuf,
}

impl Auditd {
    /// Starts it and waits until the kernel names it as the audit daemon.
    pub fn start() -> Auditd {
        need_auditctl();
        let before = status();
        assert_eq!(
            before.pid, 0,
            "another audit daemon (pid {}) is registered: the auditd tests need the slot free",
            before.pid
        );
        let dir = TempDir::new("auditd");
        let log = dir.path().join("audit.log");
        let plugins = dir.path().join("plugins.d");
        fs::create_dir_all(&plugins).expect("plugin folder");
        let conf = dir.path().join("auditd.conf");
        fs::write(
            &conf,
            format!(
                "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_group = root\n\
                 log_format = ENRICHED\nflush = SYNC\nfreq = 0\nmax_log_file = 64\nnum_logs = 2\n\
                 priority_boost = 0\nname_format = NONE\nmax_log_file_action = ROTATE\n\
                 space_left = 10\nspace_left_action = IGNORE\nverify_email = no\n\
                 action_mail_acct = root\nadmin_space_left = 5\n\
                 admin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
                 disk_error_action = IGNORE\nuse_libwrap = no\ntcp_listen_queue = 5\n\
                 tcp_max_per_addr = 1\ntcp_client_max_idle = 0\ntransport = TCP\n\
                 distribute_network = no\nq_depth = 2000\noverflow_action = SYSLOG\n\
                 max_restarts = 0\nplugin_dir = {}\nend_of_event_timeout = 2\n",
                log.display(),
                plugins.display()
            ),
        )
        .expect("write auditd.conf");
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o640)).expect("chmod");
        let stderr = fs::File::create(dir.path().join("auditd.err")).expect("stderr file");
        let child = Command::new("auditd")
            .arg("-n")
            .arg("-s")
            .arg("nochange")
            .arg("-c")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start auditd");
        let mut d = Auditd {
            child: Some(child),
            dir,
            log,
        };
        let pid = d.pid();
        let end = Instant::now() + Duration::from_secs(15);
        while status().pid != pid {
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(exit)) = c.try_wait() {
                    d.child = None;
                    panic!(
                        "auditd exited ({exit}) before registering: {}",
                        fs::read_to_string(d.dir.path().join("auditd.err")).unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < end,
                "auditd (pid {pid}) did not register with the kernel within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops it with `signal` and reaps it.
    pub fn stop(&mut self, signal: i32) {
        if let Some(mut c) = self.child.take() {
            let pid = libc::pid_t::try_from(c.id()).expect("pid");
            // SAFETY: signalling our own child by its pid.
            unsafe { libc::kill(pid, signal) };
            let _ = c.wait();
        }
    }

    /// The log's lines.
    pub fn log_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        self.stop(libc::SIGTERM);
    }
}
