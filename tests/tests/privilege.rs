//! Least privilege end to end: the real `swmon run` on the real kernel keeps
//! only the capabilities it needs after loading (and still does its job with
//! them), opens its output safely, and trusts only root's folders for
//! installer discovery, which it redoes when an installer run ends.

mod audit_common;

use std::{
    fs,
    os::unix::fs::{symlink, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use audit_common::{auditctl_rules, Auditd, HostAudit};
use serde_json::Value;
use tests::{action, counters, one_run, run, runs_of, swmon_bin, wait_within, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";

/// CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_AUDIT_CONTROL (30).
const KEPT_MASK: u64 = (1 << 2) | (1 << 19) | (1 << 30);
/// CAP_SETGID and CAP_SETUID, held in the permitted set only.
const HELD_MASK: u64 = (1 << 6) | (1 << 7);

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

/// A folder discovery may trust: under /run (root's, 0755; /tmp is open to
/// everyone and so never trusted), removed when dropped.
struct RootDir(PathBuf);

impl RootDir {
    fn new(tag: &str) -> RootDir {
        let p = PathBuf::from(format!("/run/swmon-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("mkdir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        RootDir(p)
    }
}

impl Drop for RootDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A field of `/proc/PID/status`, hex or decimal.
fn status_field(pid: u32, name: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("swmon's status");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .trim();
    if name.starts_with("Cap") {
        u64::from_str_radix(value, 16).expect("hex")
    } else {
        value.parse().expect("number")
    }
}

/// A copy of /usr/bin/true with `tail` appended: still runs, and its size
/// and hash are its own.
fn true_with(path: &Path, tail: &[u8]) {
    program_with("/usr/bin/true", path, tail);
}

/// A copy of `program` with `tail` appended (its ELF key and build ID
/// are `program`'s: a near-copy of it).
fn program_with(program: &str, path: &Path, tail: &[u8]) {
    let mut bytes = fs::read(program).expect("read the program");
    bytes.extend_from_slice(tail);
    let tmp = path.with_extension("new");
    fs::write(&tmp, &bytes).expect("write");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).expect("chmod");
    // Renamed into place, as dpkg does: a new inode.
    fs::rename(&tmp, path).expect("rename");
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("hash")
        .to_owned()
}

fn started(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| action(e) == "monitor-started")
        .cloned()
        .expect("monitor-started")
}

#[test]
fn a_running_swmon_keeps_only_what_it_needs_and_still_works() {
    let host = HostAudit::save();
    host.enable();
    let _seed = SeedGuard;
    let _auditd = Auditd::start();
    let m = Monitor::start(&["--audit-rules", "seed"]);
    let pid = m.pid();

    // The drop as the kernel sees it.
    assert_eq!(status_field(pid, "CapEff"), KEPT_MASK, "CapEff of swmon");
    // CAP_SETUID and CAP_SETGID: permitted only, for the package-file
    // reader's switch to a run's credentials.
    for set in ["CapPrm", "CapBnd"] {
        assert_eq!(
            status_field(pid, set),
            KEPT_MASK | HELD_MASK,
            "{set} of swmon"
        );
    }
    assert_eq!(status_field(pid, "CapInh"), 0);
    assert_eq!(status_field(pid, "CapAmb"), 0);
    assert_eq!(status_field(pid, "NoNewPrivs"), 1);
    // The seccomp filter (ptrace, process_vm_*, pidfd_getfd refused).
    assert_eq!(status_field(pid, "Seccomp"), 2);
    // Every thread of it (the drop came before any thread).
    for task in fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .flatten()
    {
        let tid: u32 = task
            .file_name()
            .to_str()
            .expect("tid")
            .parse()
            .expect("tid");
        if let Ok(text) = fs::read_to_string(task.path().join("status")) {
            let eff = text
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex"));
            assert_eq!(eff, Some(KEPT_MASK), "CapEff of thread {tid}");
        }
    }
    let s = started(&m.events());
    assert_eq!(
        s["swmon"]["privileges"]["kept"],
        serde_json::json!(["CAP_AUDIT_CONTROL", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"])
    );
    assert_eq!(
        s["swmon"]["privileges"]["held"],
        serde_json::json!(["CAP_SETGID", "CAP_SETUID"])
    );
    assert_eq!(s["swmon"]["privileges"]["no_new_privs"], true);
    assert_eq!(s["swmon"]["privileges"]["bounding_reduced"], true);
    assert_eq!(s["swmon"]["privileges"]["seccomp"], true);
    assert_eq!(s["swmon"]["privileges"]["bpf_kept"], false);
    let added: Vec<String> = s["swmon"]["audit"]["rules_added"]
        .as_array()
        .expect("rules_added")
        .iter()
        .map(|r| r.as_str().expect("rule").to_owned())
        .collect();
    assert!(!added.is_empty(), "{s}");

    // A root run: caught, and confirmed by the audit record that arrived on
    // the multicast socket bound before the drop (CAP_AUDIT_READ is gone).
    let (root_run, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    // Another user's run under a shell that lives until the event is out:
    // its /proc/PID/exe is read with CAP_SYS_PTRACE.
    let mut shell = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([
            "/bin/sh",
            "-c",
            "cd / && /usr/bin/dpkg --version >/dev/null; read x",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("setpriv");
    let shell_pid = shell.id();
    let theirs = m.wait_for("nobody's dpkg run", Duration::from_secs(15), |e| {
        e["process"]["parent"]["pid"] == shell_pid
    });
    drop(shell.stdin.take());
    wait_within(&mut shell, Duration::from_secs(10), "nobody's shell");
    m.wait_for("root's dpkg run", Duration::from_secs(15), |e| {
        e["process"]["pid"] == root_run
    });
    let events = m.stop();

    let e = one_run(&events, root_run);
    assert_eq!(e["swmon"]["manager"], "dpkg");
    assert_eq!(e["swmon"]["verdict"], "confirmed", "{e:#}");
    assert_eq!(theirs["process"]["user"]["id"], "65534");
    // /bin/sh is dash on Debian, bash elsewhere: whatever it resolves to.
    let sh = fs::canonicalize("/bin/sh").expect("/bin/sh");
    assert_eq!(
        theirs["swmon"]["ancestors"][0]["executable"],
        sh.to_str().expect("utf-8"),
        "nobody's shell: {theirs:#}"
    );

    // Counters at stop come from the BPF map, read after the drop.
    let c = counters(&events);
    assert!(c["seen"].as_u64().expect("seen") >= 2, "{c}");
    assert!(c["passed"].as_u64().expect("passed") >= 2, "{c}");
    // The rules it added are gone (AUDIT_DEL_RULE after the drop).
    assert_eq!(c["audit_rules_removed_at_stop"], added.len(), "{c}");
    let loaded = auditctl_rules();
    for r in &added {
        assert!(!loaded.contains(r), "{r} still loaded: {loaded:#?}");
    }
}

#[test]
fn the_output_is_0600_and_a_symlink_is_refused() {
    let m = Monitor::start(&["--no-audit"]);
    let meta = fs::metadata(&m.output).expect("output");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), 0);
    m.stop();

    let dir = TempDir::new("privilege-link");
    let target = dir.path().join("target");
    fs::write(&target, b"").expect("target");
    let link = dir.path().join("events.jsonl");
    symlink(&target, &link).expect("symlink");
    let dangling = dir.path().join("dangling.jsonl");
    let nowhere = dir.path().join("nowhere");
    symlink(&nowhere, &dangling).expect("symlink");
    for path in [&link, &dangling] {
        let mut child = Command::new(swmon_bin())
            .args(["run", "--no-audit", "--output"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("swmon");
        let status = wait_within(&mut child, Duration::from_secs(30), "swmon on a link");
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .expect("read");
        assert!(!status.success(), "swmon wrote through {}", path.display());
        assert!(
            err.contains(&path.display().to_string()) && err.contains("symbolic link"),
            "stderr: {err}"
        );
    }
    assert_eq!(
        fs::read(&target).expect("target"),
        b"",
        "written through the link"
    );
    assert!(!nowhere.exists(), "created through a dangling link");

    // `swmon report --output` replaces a link at its path, never follows it.
    let events = dir.path().join("events-real.jsonl");
    fs::write(&events, b"").expect("events");
    let audit_log = dir.path().join("audit.log");
    fs::write(&audit_log, b"").expect("audit log");
    let report = dir.path().join("report.md");
    symlink(&target, &report).expect("symlink");
    let out = Command::new(swmon_bin())
        .args(["report", "--events"])
        .arg(&events)
        .arg("--audit-log")
        .arg(&audit_log)
        .arg("--output")
        .arg(&report)
        .output()
        .expect("swmon report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(&target).expect("target"),
        b"",
        "report written through the link"
    );
    let meta = fs::symlink_metadata(&report).expect("report");
    assert!(meta.is_file() && meta.len() > 0);
    assert_eq!(meta.mode() & 0o7777, 0o600);
    let left: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("swmon-tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn an_output_group_file_is_0640_and_survives_a_reopen_without_cap_chown() {
    // A group root is not a member of: swmon joins it before the drop, so
    // the reopened file gets it with no CAP_CHOWN.
    let gid = 4243u32;
    let m = Monitor::start(&["--no-audit", "--output-group", &gid.to_string()]);
    let pid = m.pid();
    let meta = fs::metadata(&m.output).expect("output");
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o640, gid));
    assert_eq!(status_field(pid, "CapEff") & (1 << 0), 0, "CAP_CHOWN kept");
    let s = started(&m.events());
    assert_eq!(
        s["swmon"]["privileges"]["kept"],
        serde_json::json!(["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"])
    );
    // logrotate's `create`: move the file away, then SIGHUP.
    let moved = m.output.with_extension("jsonl.1");
    fs::rename(&m.output, &moved).expect("rename");
    // SAFETY: a signal to the swmon this test started, by its pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGHUP) }, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !m.output.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no new file after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (first, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("the run in the new file", Duration::from_secs(15), |e| {
        e["process"]["pid"] == first
    });
    let meta = fs::metadata(&m.output).expect("new output");
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o640, gid));
    let events = m.stop();
    assert_eq!(counters(&events)["reopened"], 1, "{:?}", counters(&events));
}

#[test]
fn a_replaced_installer_is_rediscovered_when_a_run_ends() {
    let dir = RootDir::new("rediscover");
    let bin = dir.0.join("bin");
    fs::create_dir(&bin).expect("mkdir");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    let installer = bin.join("dpkg");
    // The old dpkg is another program than the new, with another ELF key
    // (`env`; not `false`, whose key is `true`'s: a copy of `true` would be
    // reported as an unverified near-copy of it, build IDs differing), so
    // the copy of the new is not its near-copy.
    program_with("/usr/bin/env", &installer, b"swmon test: the old dpkg");
    // The new binary and a renamed copy of it elsewhere.
    let renamed = TempDir::new("privilege-renamed");
    let copy = renamed.path().join("not-an-installer");
    true_with(&copy, b"swmon test: the upgraded dpkg, a little longer");

    let m = Monitor::start(&[
        "--no-audit",
        "--installer-dir",
        bin.to_str().expect("utf-8"),
    ]);
    let s = started(&m.events());
    assert!(
        s["swmon"]["installers_found"]
            .as_array()
            .expect("found")
            .iter()
            .any(|p| p == installer.to_str().expect("utf-8")),
        "{s}"
    );
    // Before the upgrade the copy is no installer's.
    let (before, code) = run(&mut Command::new(&copy));
    assert_eq!(code, 0);
    // The upgrade, then an installer run that ends.
    fs::copy(&copy, bin.join("dpkg.new")).expect("copy");
    fs::set_permissions(bin.join("dpkg.new"), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::rename(bin.join("dpkg.new"), &installer).expect("rename");
    let (_, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    let re = m.wait_for("installers-rediscovered", Duration::from_secs(15), |e| {
        action(e) == "installers-rediscovered"
    });
    // What discovery left out is listed again, as at start.
    assert!(
        re["swmon"]["privileges"]["untrusted_installer_dirs"].is_array(),
        "{re:#}"
    );
    let (after, code) = run(&mut Command::new(&copy));
    assert_eq!(code, 0);
    m.wait_for("the renamed new dpkg", Duration::from_secs(15), |e| {
        e["process"]["pid"] == after
    });
    let events = m.stop();

    let e = one_run(&events, after);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["executable_sha256"], sha256(&copy), "{e:#}");
    assert!(
        runs_of(&events, before).is_empty(),
        "caught before the upgrade"
    );
}

#[test]
fn untrusted_folders_and_fifos_are_left_out_without_hanging() {
    // A world-writable folder (its dpkg is a copy a user could have swapped).
    let open = RootDir::new("open");
    fs::set_permissions(&open.0, fs::Permissions::from_mode(0o777)).expect("chmod");
    true_with(&open.0.join("dpkg"), b"swmon test: a user's fake dpkg");
    let renamed = TempDir::new("privilege-open");
    let copy = renamed.path().join("renamed");
    fs::copy(open.0.join("dpkg"), &copy).expect("copy");
    // A trusted folder whose dpkg is a FIFO: opening it plainly would block.
    let fifo_dir = RootDir::new("fifo");
    let fifo = fifo_dir.0.join("dpkg");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());

    let m = Monitor::start(&[
        "--no-audit",
        "--installer-dir",
        open.0.to_str().expect("utf-8"),
        "--installer-dir",
        fifo_dir.0.to_str().expect("utf-8"),
    ]);
    let s = started(&m.events());
    let untrusted: Vec<String> = s["swmon"]["privileges"]["untrusted_installer_dirs"]
        .as_array()
        .expect("untrusted")
        .iter()
        .map(|u| u.as_str().expect("str").to_owned())
        .collect();
    let open_name = open.0.display().to_string();
    assert!(
        untrusted
            .iter()
            .any(|u| u.contains(&open_name) && u.contains("writable")),
        "{untrusted:?}"
    );
    let fifo_name = fifo.display().to_string();
    assert!(
        untrusted
            .iter()
            .any(|u| u.contains(&fifo_name) && u.contains("not a regular file")),
        "{untrusted:?}"
    );
    let found = s["swmon"]["installers_found"].as_array().expect("found");
    assert!(
        !found
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with(&open_name))),
        "{found:?}"
    );

    let (renamed_run, code) = run(&mut Command::new(&copy));
    assert_eq!(code, 0);
    // A run that is caught, so everything before it has been read.
    let (dpkg_run, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("dpkg --version", Duration::from_secs(15), |e| {
        e["process"]["pid"] == dpkg_run
    });
    // Rediscovery after that run hangs on the FIFO no more than start did:
    // the monitor still stops at once.
    let events = m.stop();
    assert!(
        runs_of(&events, renamed_run).is_empty(),
        "the untrusted copy passed"
    );
}

#[test]
fn without_cap_setpcap_it_still_drops_what_it_can() {
    // A systemd unit's CapabilityBoundingSet= may have taken CAP_SETPCAP
    // (needed to cut the bounding set): swmon still starts, drops its
    // effective and permitted sets, and says the bounding set stayed.
    let dir = TempDir::new("privilege-setpcap");
    let output = dir.path().join("events.jsonl");
    let mut child = Command::new("setpriv")
        .args(["--bounding-set", "-setpcap", "--"])
        .arg(swmon_bin())
        .args(["run", "--no-audit", "--output"])
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("setpriv swmon");
    let pid = child.id();
    let deadline = std::time::Instant::now() + tests::START_DEADLINE;
    let started = loop {
        if let Some(s) = tests::read_events(&output)
            .into_iter()
            .find(|e| action(e) == "monitor-started")
        {
            break s;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("swmon exited before monitor-started: {status}");
        }
        assert!(std::time::Instant::now() < deadline, "no monitor-started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let eff = status_field(pid, "CapEff");
    let bnd = status_field(pid, "CapBnd");
    // SAFETY: a signal to the child we started, by its pid.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(30), "swmon after SIGINT");
    assert!(status.success(), "{status}");
    assert_eq!(eff, (1 << 2) | (1 << 19), "CapEff without audit");
    assert_eq!(bnd & (1 << 8), 0, "CAP_SETPCAP is out of the bounding set");
    assert_ne!(bnd, eff, "the bounding set could not be cut");
    assert_eq!(started["swmon"]["privileges"]["bounding_reduced"], false);
    assert_eq!(started["swmon"]["privileges"]["no_new_privs"], true);
    assert_eq!(
        started["swmon"]["privileges"]["kept"],
        serde_json::json!(["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"])
    );
}

/// Deletes every loaded rule naming `dir` (a test that fails before swmon's
/// stop leaves none behind).
struct RulesUnder(PathBuf);

impl Drop for RulesUnder {
    fn drop(&mut self) {
        let dir = self.0.to_string_lossy().into_owned();
        for rule in auditctl_rules().iter().filter(|r| r.contains(&dir)) {
            let Some(rest) = rule.strip_prefix("-a ") else {
                continue;
            };
            let mut args = vec!["-d"];
            args.extend(rest.split(' '));
            let _ = Command::new("auditctl").args(&args).output();
        }
    }
}

#[test]
fn the_seed_rules_watch_the_installers_of_installer_dir_too() {
    let dir = RootDir::new("seed-dir");
    let bin = dir.0.join("bin");
    fs::create_dir(&bin).expect("mkdir");
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).expect("chmod");
    let installer = bin.join("dpkg");
    true_with(&installer, b"swmon test: a dpkg in an extra folder");
    let path = installer.to_str().expect("utf-8").to_owned();
    let _cleanup = RulesUnder(bin.clone());
    let _seed = SeedGuard;
    let m = Monitor::start(&[
        "--audit-rules",
        "seed",
        "--installer-dir",
        bin.to_str().expect("utf-8"),
    ]);
    let installed = m.wait_for("audit-rules-installed", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-installed"
    });
    let named = installed["swmon"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .any(|r| r.as_str().is_some_and(|r| r.contains(&path)));
    assert!(named, "no seed rule for {path}: {installed:#}");
    assert!(
        auditctl_rules().iter().any(|r| r.contains(&path)),
        "not loaded: {:?}",
        auditctl_rules()
    );
    m.stop();
    assert!(
        !auditctl_rules().iter().any(|r| r.contains(&path)),
        "left loaded after the stop: {:?}",
        auditctl_rules()
    );
}
