//! The Debian package and its service, end to end: `cargo xtask dist`'s
//! `.deb` (`SWMON_DEB`, built once by `cargo xtask test`) installed with
//! dpkg on this host, its `/usr/bin/swmon` catching a `dpkg -i`, its man
//! page, unit and conffile, and its removal leaving no file, process or
//! audit rule behind; and `swmon run` started as a non-root user holding
//! exactly the unit's capability set (read from the unit file, the one
//! source) catching a `dpkg -i`.
//!
//! The host has no swmon package: the package test refuses to start when
//! one is installed, and its guard purges what it installed however the
//! test ends.

mod audit_common;

use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use audit_common::{add, auditctl_rules, key, Auditd, HostAudit};
use serde_json::Value;
use swmon::audit::rules::AuditRule;
use tests::{action, build_deb, one_run, run, swmon_bin, wait_within, Monitor, TempDir};

/// The package's name, and its binary.
const PACKAGE: &str = "swmon";
const BIN: &str = "/usr/bin/swmon";
/// The local package each test installs under the monitor.
const TEST_PKG: &str = "swmon-e2e-pkg";

/// The unit as it is in the repository (the one the package ships).
fn unit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../swmon/dist/swmon.service")
}

/// The `.deb` under test.
fn deb() -> PathBuf {
    let p = PathBuf::from(
        std::env::var_os("SWMON_DEB")
            .expect("SWMON_DEB is not set: build the package with `cargo xtask dist` and set SWMON_DEB to the .deb it prints (`cargo xtask test` does both)"),
    );
    assert!(p.is_file(), "SWMON_DEB={} is not a file", p.display());
    p
}

fn dpkg(args: &[&str]) -> std::process::Output {
    let out = Command::new("dpkg").args(args).output().expect("run dpkg");
    assert!(
        out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// dpkg's status of a package ("install ok installed", "deinstall ok
/// config-files", or empty when dpkg does not know it).
fn status(package: &str) -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The pids whose executable is the package's binary.
fn packaged_pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // A process gone meanwhile has no link: not ours to count.
            fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|t| t == Path::new(BIN))
        })
        .collect()
}

/// Puts the host back however the package test ends: the package and the
/// test package purged, the seed rules of a swmon that did not stop
/// removed (by the tests' own binary).
struct HostGuard;

impl HostGuard {
    fn new() -> HostGuard {
        assert!(
            status(PACKAGE).is_empty() && !Path::new(BIN).exists(),
            "this host has a swmon package ({:?}) or {BIN}: the package test installs and purges its own, so it runs only on a host without",
            status(PACKAGE)
        );
        HostGuard
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        for p in [PACKAGE, TEST_PKG] {
            if !status(p).is_empty() {
                let _ = Command::new("dpkg").args(["--purge", p]).output();
            }
        }
        let _ = Command::new(swmon_bin())
            .args(["rules", "remove", "--set", "seed"])
            .output();
    }
}

/// Purges the test package when dropped.
struct PurgeTestPkg;

impl Drop for PurgeTestPkg {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", TEST_PKG]).output();
    }
}

/// `dpkg -i` of a fresh local package while `m` runs; its run event.
fn install_test_package(m: &Monitor, version: &str) -> Value {
    let tmp = TempDir::new("pkg-deb");
    let file = build_deb(tmp.path(), TEST_PKG, version, "local.deb");
    let (pid, code) = run(Command::new("/usr/bin/dpkg").arg("-i").arg(&file));
    assert_eq!(code, 0, "dpkg -i of the test package");
    let e = m.wait_for("the dpkg -i", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid && e.get("swmon").is_some_and(|s| s["run_id"].is_string())
    });
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    assert_eq!(
        e["swmon"]["packages"],
        serde_json::json!([{"name": TEST_PKG, "version": version}]),
        "{e:#}"
    );
    e
}

/// The `output` of the packaged config's `[run]` table.
fn packaged_output() -> PathBuf {
    let text = fs::read_to_string("/etc/swmon/swmon.toml").expect("the packaged config");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("output = "))
        .expect("an output line in /etc/swmon/swmon.toml");
    PathBuf::from(line.trim_matches('"'))
}

#[test]
fn the_package_installs_catches_an_install_and_removes_cleanly() {
    let deb = deb();
    let _host = HostGuard::new();
    let audit = HostAudit::save();
    audit.enable();
    let rules_before = auditctl_rules();

    // Installing starts nothing here (no systemd as pid 1).
    dpkg(&["-i", deb.to_str().expect("a UTF-8 path")]);
    assert_eq!(status(PACKAGE), "install ok installed");
    assert!(
        packaged_pids().is_empty(),
        "installing started swmon: {:?}",
        packaged_pids()
    );
    let files: Vec<PathBuf> = String::from_utf8(dpkg(&["-L", PACKAGE]).stdout)
        .expect("dpkg -L")
        .lines()
        .map(PathBuf::from)
        .collect();
    for want in [
        BIN,
        "/etc/swmon/swmon.toml",
        "/etc/logrotate.d/swmon",
        "/usr/share/man/man1/swmon.1.gz",
        "/usr/share/man/man1/swmon-run.1.gz",
        "/usr/share/bash-completion/completions/swmon",
    ] {
        assert!(
            files.iter().any(|f| f == Path::new(want)),
            "{want} not in {files:?}"
        );
    }
    let unit = files
        .iter()
        .find(|f| f.ends_with("systemd/system/swmon.service"))
        .unwrap_or_else(|| panic!("no unit in {files:?}"))
        .clone();
    assert_eq!(
        fs::read_to_string(&unit).expect("the installed unit"),
        fs::read_to_string(unit_file()).expect("the repository's unit"),
        "the package's unit is the repository's"
    );
    let conffiles = String::from_utf8(
        Command::new("dpkg-query")
            .args(["-W", "-f=${Conffiles}", PACKAGE])
            .output()
            .expect("dpkg-query")
            .stdout,
    )
    .expect("utf-8");
    assert!(
        conffiles.contains("/etc/swmon/swmon.toml"),
        "not a conffile: {conffiles}"
    );

    // The binary, its man page, its unit.
    let help = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("swmon --help");
    assert!(help.status.success(), "{help:?}");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("run"),
        "{help:?}"
    );
    let man = Command::new("man")
        .args(["-P", "cat", "swmon-run"])
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C")
        .output()
        .expect("man (man-db is in xtask's test set-up)");
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(man.status.success(), "man swmon-run: {man:?}");
    assert!(
        page.contains("--output") && page.contains("--audit-rules"),
        "{page}"
    );
    let man = Command::new("man")
        .args(["-P", "cat", "swmon"])
        .env("LC_ALL", "C")
        .output()
        .expect("man");
    assert!(man.status.success(), "man swmon: {man:?}");
    assert!(
        String::from_utf8_lossy(&man.stdout).contains("swmon-run(1)"),
        "{man:?}"
    );
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify {}: {}",
        unit.display(),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The exposure systemd rates the unit at (0 best, 10 worst): no worse
    // than when the unit was written (4.0).
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for swmon.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    eprintln!("systemd-analyze security: exposure {exposure}");
    assert!(exposure <= 4.5, "the unit's exposure rose to {exposure}");

    // /usr/bin/swmon with the packaged config's output, the seed rules
    // added so that the removal has rules to leave behind, or not; beside
    // an auditd, so the run is confirmed.
    let _auditd = Auditd::start();
    let output = packaged_output();
    assert_eq!(output, Path::new("/var/log/swmon/events.json"));
    assert!(!output.exists(), "installing wrote {}", output.display());
    // The output from the packaged config file itself, as the unit runs it.
    let mut cmd = Command::new(BIN);
    cmd.arg("run").args(["--audit-rules", "seed"]);
    let mut m = Monitor::spawn(cmd, output.clone(), None);
    let _purge = PurgeTestPkg;
    let e = install_test_package(&m, "1.0-1");
    assert_eq!(e["swmon"]["verdict"], "confirmed", "{e:#}");
    let with_swmon = auditctl_rules();
    assert!(
        with_swmon.len() > rules_before.len(),
        "swmon added no rule: {with_swmon:?}"
    );

    // The package's logrotate snippet: the file moved away, swmon told
    // (SIGHUP) and writing the next run's event to a new file.
    let state = TempDir::new("pkg-logrotate");
    let rotate = Command::new("logrotate")
        .arg("--force")
        .arg("--state")
        .arg(state.path().join("status"))
        .arg("/etc/logrotate.d/swmon")
        .output()
        .expect("logrotate (in xtask's test set-up)");
    assert!(rotate.status.success(), "logrotate: {rotate:?}");
    let rotated = output.with_extension("json.1");
    assert!(
        tests::read_all_events(&rotated)
            .iter()
            .any(|e| action(e) == "monitor-started"),
        "{} holds the events before the rotation",
        rotated.display()
    );
    install_test_package(&m, "1.1-1");
    assert_eq!(
        fs::metadata(&output).expect("the new file").mode() & 0o777,
        0o600
    );

    // Removing stops it (prerm: SIGTERM, then waits), and it removes its
    // rules as it stops.
    dpkg(&["-r", PACKAGE]);
    let mut child = m.take_child().expect("running");
    let stopped = wait_within(&mut child, Duration::from_secs(5), "swmon after dpkg -r");
    assert!(stopped.success(), "swmon stopped with {stopped}");
    assert_eq!(
        tests::read_all_events(&output).last().map(action),
        Some("monitor-stopped")
    );
    assert!(
        packaged_pids().is_empty(),
        "{:?} left running",
        packaged_pids()
    );
    assert_eq!(auditctl_rules(), rules_before, "rules left behind");
    assert_eq!(status(PACKAGE), "deinstall ok config-files");
    // The package's own files and folders (a path naming swmon; shared
    // folders such as /usr/bin stay).
    let own: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("swmon"))
        .collect();
    for f in own.iter().filter(|f| !f.starts_with("/etc")) {
        assert!(!f.exists(), "{} left after dpkg -r", f.display());
    }

    // Purging takes the conffile, the log folder and the unit's state.
    dpkg(&["--purge", PACKAGE]);
    assert_eq!(status(PACKAGE), "");
    for f in &own {
        assert!(!f.exists(), "{} left after the purge", f.display());
    }
    for gone in ["/etc/swmon", "/var/log/swmon"] {
        assert!(!Path::new(gone).exists(), "{gone} left after the purge");
    }
    let leftovers = Command::new("sh")
        .args([
            "-c",
            "ls -d /etc/systemd/system/swmon.service /etc/systemd/system/*/swmon.service \
             /var/lib/systemd/deb-systemd-helper-*/swmon.service \
             /var/lib/systemd/deb-systemd-helper-*/*/swmon.service 2>/dev/null",
        ])
        .output()
        .expect("sh");
    assert!(
        leftovers.stdout.is_empty(),
        "the unit's state left: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
}

/// The capabilities of one `NAME=CAP_A CAP_B` line of the unit.
fn unit_capabilities(unit: &str, key: &str) -> Vec<String> {
    let mut lines = unit
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")));
    let line = lines
        .next()
        .unwrap_or_else(|| panic!("no {key}= in the unit"));
    assert!(lines.next().is_none(), "{key}= twice in the unit");
    let mut caps: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    caps.sort();
    caps
}

/// Capability numbers (`include/uapi/linux/capability.h`).
fn capability_bit(name: &str) -> u32 {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("{name} is no capability"))
        .try_into()
        .expect("small")
}

/// A hex capability mask of `/proc/PID/status`.
fn status_caps(pid: u32, field: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("swmon's status");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    u64::from_str_radix(value.trim(), 16).expect("hex")
}

/// The non-root user the capability test runs swmon as.
const NOBODY: u32 = 65534;

#[test]
fn the_units_capability_set_suffices_for_a_non_root_user() {
    let unit = fs::read_to_string(unit_file()).expect("the unit");
    let bounding = unit_capabilities(&unit, "CapabilityBoundingSet");
    let ambient = unit_capabilities(&unit, "AmbientCapabilities");
    assert_eq!(bounding, ambient, "the unit's two capability lines differ");
    let mask = bounding
        .iter()
        .fold(0u64, |m, c| m | (1 << capability_bit(c)));
    // setpriv's names: lower case, without CAP_.
    let list = bounding
        .iter()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect::<Vec<_>>()
        .join(",");

    let audit = HostAudit::save();
    audit.enable();
    // A rule of the host's (swmon keeps the host's rules as they are) and
    // an auditd: the run is confirmed through the audit trail, which the
    // set must let swmon read.
    let rule_key = key("caps");
    add(&AuditRule::exec_watch(
        Path::new("/usr/bin/dpkg"),
        &rule_key,
    ));
    let _auditd = Auditd::start();
    let rules_before = auditctl_rules();
    // The output folder is the user's own (swmon creates its file there).
    let dir = TempDir::new("pkg-caps");
    std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    let output = dir.path().join("events.json");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--init-groups")
        .arg(format!("--inh-caps=-all,{list}"))
        .arg(format!("--ambient-caps=-all,{list}"))
        .arg(format!("--bounding-set=-all,{list}"))
        .arg("--")
        .arg(swmon_bin())
        .arg("run")
        .arg("--output")
        .arg(&output);
    let m = Monitor::spawn(cmd, output.clone(), Some(dir));
    let pid = m.pid();
    // What it runs as: the user, and nothing outside the unit's set.
    let uids = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = uids.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    let nobody = NOBODY.to_string();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        [nobody.as_str(); 4],
        "{uid_line}"
    );
    assert_eq!(status_caps(pid, "CapBnd"), mask, "the bounding set");
    assert_eq!(
        status_caps(pid, "CapPrm") & !mask,
        0,
        "beyond the unit's set"
    );

    let started = m
        .events()
        .into_iter()
        .find(|e| action(e) == "monitor-started")
        .expect("monitor-started");
    let _purge = PurgeTestPkg;
    let e = install_test_package(&m, "2.0-1");
    let events = m.stop();
    let e = one_run(&events, e["process"]["pid"].as_u64().expect("pid") as u32);
    assert_eq!(e["swmon"]["verdict"], "confirmed", "{e:#}");
    assert_eq!(e["swmon"]["audit"]["key"], rule_key.as_str(), "{e:#}");
    assert_eq!(auditctl_rules(), rules_before, "swmon changed the rules");
    assert_eq!(
        started["swmon"]["privileges"]["kept"],
        serde_json::json!(["CAP_AUDIT_CONTROL", "CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]),
        "{started:#}"
    );
}

/// Every key the packaged config sets or shows commented out is a long
/// option of `swmon run` (the contract: the file's keys are the options'
/// names), and `output` is set.
#[test]
fn the_packaged_config_names_run_options() {
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../swmon/dist/swmon.toml"))
            .expect("swmon/dist/swmon.toml");
    let help = Command::new(swmon_bin())
        .args(["run", "--help"])
        .stdout(Stdio::piped())
        .output()
        .expect("swmon run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let mut tables = text.lines().filter(|l| l.starts_with('['));
    assert_eq!(tables.next(), Some("[run]"));
    assert_eq!(tables.next(), None, "one table");
    let keys: Vec<(&str, bool)> = text
        .lines()
        .filter_map(|l| {
            let (set, rest) = match l.strip_prefix("# ") {
                Some(r) => (false, r),
                None => (true, l),
            };
            let (key, _) = rest.split_once(" = ")?;
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
                .then_some((key, set))
        })
        .collect();
    assert!(keys.len() >= 10, "{keys:?}");
    for (key, _) in &keys {
        assert!(
            help.contains(&format!("--{key}")),
            "--{key} is no option of swmon run"
        );
    }
    assert_eq!(
        keys.iter()
            .filter(|(_, set)| *set)
            .map(|(k, _)| *k)
            .collect::<Vec<_>>(),
        ["output"]
    );
    // And the other way: every option `swmon run --help` shows is in the
    // file (`--config` names the file, `--help` is clap's).
    for word in help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let Some(option) = word.strip_prefix("--") else {
            continue;
        };
        if option.is_empty() || ["help", "config"].contains(&option) {
            continue;
        }
        assert!(
            keys.iter().any(|(k, _)| *k == option),
            "--{option} is not in swmon/dist/swmon.toml"
        );
    }
}
