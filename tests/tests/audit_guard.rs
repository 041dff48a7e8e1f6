//! Who owns swmon's audit rules, on the real kernel with the real binary:
//! a SIGKILLed run's rules are removed by the next run at its start (and
//! only those: a host rule identical to a seed rule, and a running
//! instance's rules, survive); an error exit (a full output filesystem, a
//! closed output pipe) and a panic unwinding remove them; and
//! `auditctl -e 0; auditctl -D; auditctl -e 1` in one shell line gives an
//! alert naming the rules, and `--restore-rules` puts them back.
//!
//! Run under the host lock, one at a time. Each test puts back the audit
//! enabled flag and backlog it found, deletes only its own rules (the seed
//! rule it loads as "the host's" is deleted only if the test added it), and
//! ends only processes it started, by pid.

mod audit_common;

use std::{
    collections::BTreeSet,
    fs,
    io::{BufRead, BufReader, Read, Write},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use audit_common::{auditctl, auditctl_rules, key, HostAudit};
use serde_json::Value;
use swmon::audit::{
    netlink::ControlSocket,
    rules::{AuditRule, RuleGuard},
};
use tests::{action, counters, swmon_bin, wait_within, Monitor, TempDir};

const STATE_DIR: &str = "/run/swmon";

/// The seed set on this host, as `auditctl -l` prints each rule.
fn seed_set() -> BTreeSet<String> {
    let out = Command::new(swmon_bin())
        .args(["rules", "show", "--set", "seed", "--json"])
        .output()
        .expect("run swmon rules show");
    assert!(out.status.success(), "swmon rules show failed");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let set: BTreeSet<String> = report["set"]
        .as_array()
        .expect("set")
        .iter()
        .map(|r| r["rule"].as_str().expect("rule").to_owned())
        .collect();
    assert!(
        set.len() >= 2,
        "the seed needs two installers here: {set:?}"
    );
    set
}

fn loaded() -> BTreeSet<String> {
    auditctl_rules().into_iter().collect()
}

/// Fails the test unless no seed-keyed rule is loaded: then every one the
/// tests see is theirs or swmon's.
fn need_no_seed_rules_loaded() {
    let there: Vec<String> = auditctl_rules()
        .into_iter()
        .filter(|r| r.contains("key=software-installer"))
        .collect();
    assert!(
        there.is_empty(),
        "rules with the seed key are already loaded on this host, so the test can't tell whose \
         they are; remove them first: {there:#?}"
    );
}

/// The `rules_added` of a `monitor-started` event.
fn rules_added(started: &Value) -> BTreeSet<String> {
    started["swmon"]["audit"]["rules_added"]
        .as_array()
        .expect("rules_added")
        .iter()
        .map(|r| r.as_str().expect("rule text").to_owned())
        .collect()
}

fn started(events: &[Value]) -> Value {
    events
        .iter()
        .find(|e| action(e) == "monitor-started")
        .cloned()
        .expect("monitor-started")
}

fn texts(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("want an array of rules: {v}"))
        .iter()
        .map(|r| r.as_str().expect("rule text").to_owned())
        .collect()
}

fn state_file(pid: u32) -> PathBuf {
    Path::new(STATE_DIR).join(format!("rules.{pid}.json"))
}

/// A seed rule loaded as the host's own, before swmon starts; deleted at
/// the end (the test checked none was loaded, so it is the test's).
struct HostRule(String);

impl HostRule {
    fn add(text: &str) -> HostRule {
        let args: Vec<&str> = text.split(' ').collect();
        assert_eq!(args[0], "-a", "{text}");
        auditctl(&args);
        assert!(loaded().contains(text), "{text} loaded");
        HostRule(text.to_owned())
    }
}

impl Drop for HostRule {
    fn drop(&mut self) {
        let mut args: Vec<&str> = self.0.split(' ').collect();
        args[0] = "-d";
        let _ = Command::new("auditctl")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A seed rule whose path needs no quoting, for auditctl's command line.
fn plain_seed_rule(seed: &BTreeSet<String>) -> String {
    seed.iter()
        .find(|r| r.contains("path=/usr/bin/dpkg "))
        .or_else(|| seed.iter().find(|r| !r.contains('"')))
        .expect("a seed rule with a plain path")
        .clone()
}

#[test]
fn a_killed_runs_rules_go_at_the_next_start_and_a_host_rule_survives_it_all() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let host_rule = plain_seed_rule(&seed);
    let _host_rule = HostRule::add(&host_rule);
    let ours: BTreeSet<String> = seed.iter().filter(|r| **r != host_rule).cloned().collect();

    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    let a_started = started(&a.events());
    assert_eq!(
        rules_added(&a_started),
        ours,
        "swmon adds the seed but the host's rule"
    );
    // The record: 0700 folder, 0600 file, swmon's pid, exactly what it added.
    let dir = fs::symlink_metadata(STATE_DIR).expect("state folder");
    assert!(dir.is_dir());
    assert_eq!(dir.mode() & 0o7777, 0o700);
    let file = state_file(a_pid);
    let meta = fs::symlink_metadata(&file).expect("state file of the run");
    assert!(meta.is_file());
    assert_eq!(meta.mode() & 0o7777, 0o600);
    let record: Value = serde_json::from_slice(&fs::read(&file).expect("read")).expect("json");
    assert_eq!(record["pid"], a_pid);
    let recorded: BTreeSet<String> = record["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(recorded, ours, "the record names exactly what was added");

    // SIGKILL (Monitor's drop kills its child by pid): nothing runs at exit.
    drop(a);
    let after_kill = loaded();
    assert!(
        ours.is_subset(&after_kill),
        "a SIGKILLed run cannot remove its rules: {after_kill:#?}"
    );
    assert!(file.exists(), "the record outlives the killed run");

    let b = Monitor::start(&["--audit-rules", "seed"]);
    let b_pid = b.pid();
    let b_started = started(&b.events());
    let leftovers = &b_started["swmon"]["audit"]["leftovers"];
    assert_eq!(
        texts(&leftovers["removed"]),
        ours,
        "the dead run's rules, and only those, were removed at start: {leftovers:#}"
    );
    assert!(
        leftovers["dead_pids"]
            .as_array()
            .expect("dead_pids")
            .contains(&Value::from(a_pid)),
        "{leftovers:#}"
    );
    assert_eq!(leftovers["errors"], serde_json::json!([]), "{leftovers:#}");
    assert!(!file.exists(), "the dead run's record is gone");
    assert_eq!(
        rules_added(&b_started),
        ours,
        "the new run added the seed afresh"
    );
    assert!(loaded().contains(&host_rule), "the host's rule survived");

    let events = b.stop();
    assert_eq!(
        counters(&events)["audit_rules_removed_at_stop"],
        ours.len(),
        "{:#}",
        counters(&events)
    );
    let after = loaded();
    assert!(
        ours.is_disjoint(&after),
        "nothing of swmon's is loaded after it stopped: {after:#?}"
    );
    assert!(
        after.contains(&host_rule),
        "the host's identical rule survived start, SIGKILL, restart and stop"
    );
    assert!(!state_file(b_pid).exists(), "a clean stop leaves no record");
}

#[test]
fn a_running_instances_rules_are_not_leftovers() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    assert_eq!(rules_added(&started(&a.events())), seed);

    let b = Monitor::start(&["--audit-rules", "seed"]);
    let b_started = started(&b.events());
    assert!(
        rules_added(&b_started).is_empty(),
        "all loaded already: the second run adds nothing"
    );
    let leftovers = &b_started["swmon"]["audit"]["leftovers"];
    assert!(
        leftovers["live_pids"]
            .as_array()
            .expect("live_pids")
            .contains(&Value::from(a_pid)),
        "{leftovers:#}"
    );
    assert_eq!(leftovers["removed"], serde_json::json!([]), "{leftovers:#}");
    let events = b.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], 0);
    assert!(
        seed.is_subset(&loaded()),
        "the second run's stop left the first one's rules alone"
    );
    assert!(state_file(a_pid).exists());

    let events = a.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], seed.len());
    assert!(seed.is_disjoint(&loaded()));
}

/// A tmpfs of a few pages mounted for the test, unmounted when dropped.
struct TinyFs(TempDir);

impl TinyFs {
    fn mount() -> TinyFs {
        let dir = TempDir::new("tinyfs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "swmon-test"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount a tmpfs on {}",
            dir.path().display()
        );
        TinyFs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    /// Fills it up: every later write fails with ENOSPC.
    fn fill(&self) {
        let mut f = fs::File::create(self.path().join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
        }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// Runs installer execs (each one an event to write) until `child` exits,
/// at most `limit`.
fn exec_until_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("swmon kept running {limit:?} with an output it cannot write");
        }
        let _ = Command::new("/usr/bin/dpkg")
            .arg("--version")
            .stdout(Stdio::null())
            .status();
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

#[test]
fn a_full_output_filesystem_ends_the_run_with_its_rules_removed() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let fs_ = TinyFs::mount();
    let output = fs_.path().join("events.jsonl");
    let mut child = Command::new(swmon_bin())
        .args(["run", "--audit-rules", "seed", "--output"])
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn swmon");
    let pid = child.id();
    let end = Instant::now() + tests::START_DEADLINE;
    while !tests::read_events(&output)
        .iter()
        .any(|e| action(e) == "monitor-started")
    {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!(
                "swmon exited at start ({status}): {}",
                stderr_of(&mut child)
            );
        }
        assert!(Instant::now() < end, "no monitor-started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rules_added(&started(&tests::read_events(&output))), seed);
    assert!(state_file(pid).exists());

    fs_.fill();
    let status = exec_until_exit(&mut child, Duration::from_secs(60));
    let err = stderr_of(&mut child);
    assert!(!status.success(), "a failed write is an error exit: {err}");
    assert!(
        err.contains("No space left on device"),
        "the error names the cause: {err}"
    );
    let after = loaded();
    assert!(seed.is_disjoint(&after), "rules left behind: {after:#?}");
    assert!(!state_file(pid).exists(), "no record left behind");
}

#[test]
fn a_closed_output_pipe_ends_the_run_with_its_rules_removed() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let mut child = Command::new(swmon_bin())
        .args(["run", "--audit-rules", "seed", "--output", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn swmon");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("read the first line");
    let started: Value = serde_json::from_str(&first).expect("json");
    assert_eq!(action(&started), "monitor-started", "{first}");
    assert_eq!(rules_added(&started), seed);
    // The reader goes away: the next write gets EPIPE.
    drop(out);
    let status = exec_until_exit(&mut child, Duration::from_secs(60));
    let err = stderr_of(&mut child);
    // swmon takes EPIPE as its reader gone (exit 0): the rules go either
    // way, at stop or with the guard on the error path.
    let after = loaded();
    assert!(
        seed.is_disjoint(&after),
        "rules left behind ({status}, {err}): {after:#?}"
    );
    assert!(!state_file(pid).exists(), "no record left behind");
}

#[test]
fn a_panic_unwinding_through_the_guard_removes_its_rules() {
    // The release binary unwinds too: swmon's unit test
    // `the_release_profile_unwinds_so_the_guard_drop_runs` pins it.
    let _host = HostAudit::save();
    let k = key("panic");
    let rules = vec![
        AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), &k),
        AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), &k),
    ];
    let dir = TempDir::new("guard-state");
    let state = dir.path().join("state");
    let mut ctl = ControlSocket::open().expect("control socket");
    let guard = RuleGuard::start_in(&state, &mut ctl, &rules).expect("start the guard");
    assert_eq!(guard.ours(), rules);
    let record = state.join(format!("rules.{}.json", std::process::id()));
    assert!(record.exists());
    assert_eq!(
        auditctl_rules().iter().filter(|r| r.contains(&k)).count(),
        2
    );
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _held = guard;
        panic!("a bug in the run loop");
    }));
    assert!(outcome.is_err());
    assert!(
        !auditctl_rules().iter().any(|r| r.contains(&k)),
        "the unwinding guard removed its rules"
    );
    assert!(!record.exists(), "and its record");
}

/// `auditctl -D` deletes every rule; the test runs only where every loaded
/// rule is its own or swmon's, and says so loudly otherwise.
fn need_no_rules_loaded() {
    let there = auditctl_rules();
    assert!(
        there.is_empty(),
        "this host has audit rules loaded that are not the test's: the tamper test runs \
         `auditctl -D`, which would delete them, so it refuses to run here. Remove them \
         (or run on a test host): {there:#?}"
    );
}

fn tamper_line() {
    let mut sh = Command::new("sh")
        .args(["-c", "auditctl -e 0 && auditctl -D && auditctl -e 1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("run sh");
    let status = wait_within(&mut sh, Duration::from_secs(30), "the tamper line");
    assert!(status.success(), "auditctl -e 0; -D; -e 1 failed");
}

/// Runs the line against a monitor and returns the alert, after checking
/// the flip was seen too.
fn tamper(m: &Monitor, ours: &BTreeSet<String>) -> Value {
    tamper_line();
    let alert = m.wait_for(
        "audit-rules-removed from the poll",
        Duration::from_secs(10),
        |e| {
            action(e) == "audit-rules-removed"
                && e["swmon"]["audit"]["detected_by"] == "status-poll"
        },
    );
    assert_eq!(alert["event"]["kind"], "alert");
    assert_eq!(
        texts(&alert["swmon"]["audit"]["rules"]),
        *ours,
        "the alert names the rules removed: {alert:#}"
    );
    // The flip: `-e 0` is multicast as a CONFIG_CHANGE record even as it
    // turns audit off; `-e 1` from 0 logs nothing, the next poll shows it.
    let disabled = m.wait_for("audit-disabled", Duration::from_secs(10), |e| {
        action(e) == "audit-disabled"
    });
    assert_eq!(disabled["event"]["kind"], "alert");
    m.wait_for("audit-enabled", Duration::from_secs(10), |e| {
        action(e) == "audit-enabled"
    });
    alert
}

#[test]
fn disable_flush_enable_in_one_line_is_an_alert_and_restore_puts_the_rules_back() {
    let host = HostAudit::save();
    need_no_rules_loaded();
    host.enable();
    let seed = seed_set();

    let m = Monitor::start(&["--audit-rules", "seed"]);
    assert_eq!(rules_added(&started(&m.events())), seed);
    tamper(&m, &seed);
    assert!(
        loaded().is_empty(),
        "without --restore-rules they stay gone"
    );
    let events = m.stop();
    assert_eq!(
        counters(&events)["audit_rules_removed_at_stop"],
        0,
        "what went is no longer swmon's to delete"
    );

    let m = Monitor::start(&["--audit-rules", "seed", "--restore-rules"]);
    assert_eq!(rules_added(&started(&m.events())), seed);
    tamper(&m, &seed);
    let restored = m.wait_for("audit-rules-restored", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-restored"
    });
    assert_eq!(
        texts(&restored["swmon"]["audit"]["rules"]),
        seed,
        "{restored:#}"
    );
    assert_eq!(loaded(), seed, "--restore-rules put them back");
    let events = m.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], seed.len());
    // swmon's own adds (at start, and the restore, logged while audit is
    // on) are in monitor-started and audit-rules-restored, not one line each.
    let own_adds: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "audit-rules-added")
        .collect();
    assert!(own_adds.is_empty(), "{own_adds:#?}");
    assert!(loaded().is_empty(), "and removed them at stop");
    drop(host);
}

#[test]
fn a_config_reload_turns_the_restore_on() {
    let host = HostAudit::save();
    need_no_rules_loaded();
    host.enable();
    let seed = seed_set();
    let dir = TempDir::new("guard-config");
    let config = dir.path().join("swmon.toml");
    let write = |text: &str| {
        use std::os::unix::fs::PermissionsExt;
        fs::write(&config, text).expect("write the config file");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    write("[run]\naudit-rules = \"seed\"\nrestore-rules = false\n");
    let m = Monitor::start(&["--config", config.to_str().expect("a UTF-8 temp path")]);
    assert_eq!(rules_added(&started(&m.events())), seed);
    write("[run]\naudit-rules = \"seed\"\nrestore-rules = true\n");
    // SAFETY: a signal to the child the test started, by its pid.
    assert_eq!(unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) }, 0);
    let reloaded = m.wait_for("config-reloaded", Duration::from_secs(10), |e| {
        action(e) == "config-reloaded"
    });
    assert_eq!(
        reloaded["swmon"]["config"]["applied"][0]["key"], "restore-rules",
        "{reloaded:#}"
    );
    // The rules stage restores from now on, as with --restore-rules.
    tamper(&m, &seed);
    let restored = m.wait_for("audit-rules-restored", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-restored"
    });
    assert_eq!(texts(&restored["swmon"]["audit"]["rules"]), seed);
    assert_eq!(loaded(), seed, "the reload's restore put them back");
    let events = m.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], seed.len());
    assert!(loaded().is_empty(), "and removed them at stop");
    drop(host);
}

/// Runs `dpkg --version` under the monitor; whether its run event carries
/// an audit record (the seed rule recorded it).
fn dpkg_recorded(m: &Monitor) -> bool {
    let (pid, _) = tests::run(Command::new("/usr/bin/dpkg").arg("--version"));
    let e = m.wait_for("the dpkg run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    e["swmon"]["audit"]["serial"].as_u64().is_some()
}

#[test]
fn a_never_rule_that_keeps_the_seed_from_recording_is_an_alert_and_one_that_does_not_is_none() {
    let host = HostAudit::save();
    host.enable();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let m = Monitor::start(&["--audit-rules", "seed", "--audit-wait-ms", "500"]);
    assert!(dpkg_recorded(&m), "the seed records dpkg");

    // A `never` rule for 32-bit execve, first in the exit list: a 64-bit
    // exec does not match it, the seed still records. No alert.
    let k1 = key("never-b32");
    let b32_never = [
        "never,exit",
        "-F",
        "arch=b32",
        "-S",
        "execve",
        "-F",
        &format!("key={k1}"),
    ];
    let mut add = vec!["-A"];
    add.extend(b32_never);
    auditctl(&add);
    assert!(
        dpkg_recorded(&m),
        "a b32 never rule does not stop a b64 exec"
    );

    // The same for b64: the first match of the exit list decides, so no
    // seed rule records, and the alert names them all.
    let k2 = key("never-b64");
    let b64_never = [
        "never,exit",
        "-F",
        "arch=b64",
        "-S",
        "execve",
        "-F",
        &format!("key={k2}"),
    ];
    let mut add = vec!["-A"];
    add.extend(b64_never);
    auditctl(&add);
    let alert = m.wait_for("audit-rules-suppressed", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-suppressed"
    });
    let recorded = dpkg_recorded(&m);
    for rule in [&b32_never[..], &b64_never[..]] {
        let mut del = vec!["-d"];
        del.extend(rule);
        auditctl(&del);
    }
    assert!(
        !recorded,
        "the b64 never rule keeps dpkg's exec from the trail"
    );
    assert_eq!(alert["event"]["kind"], "alert");
    assert_eq!(texts(&alert["swmon"]["audit"]["rules"]), seed, "{alert:#}");
    let by = texts(&alert["swmon"]["audit"]["suppressed_by"]);
    assert_eq!(by.len(), 1, "only the b64 rule suppresses: {alert:#}");
    assert!(by.iter().all(|r| r.contains(&k2)), "{alert:#}");
    let events = m.stop();
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "audit-rules-suppressed")
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "alerted once, never for the b32 rule: {alerts:#?}"
    );
    assert!(seed.is_disjoint(&loaded()));
    drop(host);
}

/// A file the test planted in swmon's state folder, removed when dropped.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn an_unreadable_record_of_a_running_pid_stops_leftover_removal_and_says_why() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    assert_eq!(rules_added(&started(&a.events())), seed);
    drop(a); // SIGKILL: its rules stay, recorded.

    // A record named for a running process (this test) that can't be read:
    // it may name that process's rules, so nothing may be deleted.
    let planted = Planted(state_file(std::process::id()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&planted.0)
            .expect("plant a record");
        f.write_all(b"{\"version\":1,\"pid\":\xff garbage")
            .expect("write");
    }
    let b = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&b.events())["swmon"]["audit"]["leftovers"].clone();
    assert_eq!(leftovers["removed"], serde_json::json!([]), "{leftovers:#}");
    let errors = leftovers["errors"].to_string();
    assert!(
        errors.contains(&planted.0.display().to_string()) && errors.contains("no leftover deleted"),
        "the error names the file and what was not done: {leftovers:#}"
    );
    let events = b.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], 0);
    assert!(
        seed.is_subset(&loaded()),
        "the dead run's rules are still loaded"
    );

    drop(planted);
    let c = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&c.events())["swmon"]["audit"]["leftovers"].clone();
    assert_eq!(texts(&leftovers["removed"]), seed, "{leftovers:#}");
    assert!(leftovers["dead_pids"]
        .as_array()
        .expect("dead_pids")
        .contains(&Value::from(a_pid)));
    c.stop();
    assert!(seed.is_disjoint(&loaded()));
}

/// `swmon rules ACTION --set seed`, checked to succeed; its stdout.
fn swmon_rules(verb: &str) -> String {
    let out = Command::new(swmon_bin())
        .args(["rules", verb, "--set", "seed"])
        .output()
        .expect("run swmon rules");
    assert!(
        out.status.success(),
        "swmon rules {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the seed set at the end (the test checked none was loaded
/// before, so every seed rule left is the test's).
struct SeedCleanup;

impl Drop for SeedCleanup {
    fn drop(&mut self) {
        let _ = Command::new(swmon_bin())
            .args(["rules", "remove", "--set", "seed"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn rules_an_admin_reinstalls_after_a_killed_run_are_not_its_leftovers() {
    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let _cleanup = SeedCleanup;
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    assert_eq!(rules_added(&started(&a.events())), seed);
    drop(a); // SIGKILL: the record stays
    assert!(state_file(a_pid).exists());

    // The admin takes the rules over: removed, then loaded again.
    let said = swmon_rules("remove");
    assert!(
        said.contains("recorded by a swmon run that died"),
        "swmon rules says it took them over: {said}"
    );
    assert!(seed.is_disjoint(&loaded()));
    swmon_rules("install");
    assert_eq!(seed, &loaded() & &seed, "installed by the admin");
    assert!(
        !state_file(a_pid).exists(),
        "the dead run's record no longer names them (and, empty, is gone)"
    );
    assert!(
        !Path::new(STATE_DIR)
            .join(format!("rules.{a_pid}.lock"))
            .exists(),
        "and its life lock with it"
    );

    let b = Monitor::start(&["--audit-rules", "seed"]);
    let b_started = started(&b.events());
    let leftovers = &b_started["swmon"]["audit"]["leftovers"];
    assert_eq!(leftovers["removed"], serde_json::json!([]), "{leftovers:#}");
    assert!(rules_added(&b_started).is_empty(), "all already loaded");
    let events = b.stop();
    assert_eq!(counters(&events)["audit_rules_removed_at_stop"], 0);
    assert_eq!(
        seed,
        &loaded() & &seed,
        "the admin's rules survived the next run's start and stop"
    );
}

#[test]
fn a_rule_removed_and_reloaded_at_once_is_no_longer_swmons_to_delete() {
    let host = HostAudit::save();
    host.enable();
    need_no_seed_rules_loaded();
    let _cleanup = SeedCleanup;
    let seed = seed_set();
    let m = Monitor::start(&["--audit-rules", "seed"]);
    assert_eq!(rules_added(&started(&m.events())), seed);
    // As `augenrules --load` does it: deleted and loaded again within
    // milliseconds, well inside one status poll.
    let rule = plain_seed_rule(&seed);
    let line = format!(
        "auditctl {} && auditctl {rule}",
        rule.replacen("-a ", "-d ", 1)
    );
    let mut sh = Command::new("sh")
        .args(["-c", &line])
        .stdout(Stdio::null())
        .spawn()
        .expect("run sh");
    assert!(wait_within(&mut sh, Duration::from_secs(30), "delete and reload").success());
    let alert = m.wait_for("the disowning alert", Duration::from_secs(10), |e| {
        action(e) == "audit-rules-removed" && e["swmon"]["audit"]["detected_by"] == "config-change"
    });
    assert_eq!(alert["event"]["kind"], "alert");
    // Either the list was read after the reload (more removals than rules
    // missing: every rule of the key disowned) or between the two (the
    // rule gone, so no longer swmon's): the rule is no longer swmon's.
    let list = |field: &str| {
        let v = &alert["swmon"]["audit"][field];
        if v.is_null() {
            BTreeSet::new()
        } else {
            texts(v)
        }
    };
    let disowned: BTreeSet<String> = &list("disowned") | &list("rules");
    assert!(
        disowned.contains(&rule),
        "the reloaded rule is no longer swmon's: {alert:#}"
    );
    let events = m.stop();
    assert_eq!(
        counters(&events)["audit_rules_removed_at_stop"],
        seed.len() - disowned.len(),
        "{:#}",
        counters(&events)
    );
    assert!(
        loaded().contains(&rule),
        "the rule someone else loaded survived swmon's stop"
    );
    let from_records = events
        .iter()
        .filter(|e| {
            action(e) == "audit-rules-removed"
                && e["swmon"]["audit"]["detected_by"] == "config-change"
        })
        .count();
    assert_eq!(from_records, 1, "one removal, one alert");
}

#[test]
fn a_second_instance_adopts_the_seed_when_the_first_stops() {
    let host = HostAudit::save();
    host.enable();
    need_no_seed_rules_loaded();
    let _cleanup = SeedCleanup;
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    assert_eq!(rules_added(&started(&a.events())), seed);
    let b = Monitor::start(&["--audit-rules", "seed"]);
    assert!(
        rules_added(&started(&b.events())).is_empty(),
        "B relies on A's rules"
    );
    let a_events = a.stop();
    assert_eq!(
        counters(&a_events)["audit_rules_removed_at_stop"],
        seed.len()
    );
    // B adds them back as its own (in one poll, or over two if it saw A
    // half-way through its deletes).
    let deadline = Instant::now() + Duration::from_secs(10);
    let adopted = loop {
        let got: BTreeSet<String> = b
            .events()
            .iter()
            .filter(|e| action(e) == "audit-rules-adopted")
            .flat_map(|e| texts(&e["swmon"]["audit"]["rules"]))
            .collect();
        if got == seed || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(adopted, seed, "B adopted the whole seed");
    assert_eq!(&loaded() & &seed, seed, "the seed is loaded again");
    let b_pid = b.pid();
    let record: Value =
        serde_json::from_slice(&fs::read(state_file(b_pid)).expect("B's record")).expect("json");
    assert_eq!(
        record["rules"].as_array().map(Vec::len),
        Some(seed.len()),
        "B's record names them"
    );
    let b_events = b.stop();
    let alerts: Vec<&Value> = b_events
        .iter()
        .filter(|e| action(e) == "audit-rules-removed")
        .collect();
    assert!(alerts.is_empty(), "A's stop is no tamper: {alerts:#?}");
    assert_eq!(
        counters(&b_events)["audit_rules_removed_at_stop"],
        seed.len()
    );
    assert!(seed.is_disjoint(&loaded()), "B removed them at its stop");
}

#[test]
fn a_record_whose_life_lock_is_held_is_a_live_instances_whatever_proc_says() {
    use std::os::fd::AsRawFd;

    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let _cleanup = SeedCleanup;
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    let lock_path = Path::new(STATE_DIR).join(format!("rules.{a_pid}.lock"));
    assert!(lock_path.exists(), "a running instance holds its life lock");
    drop(a); // SIGKILL: /proc no longer knows a_pid.

    // As if A lived on where this pid namespace can't see it: its life
    // lock is held (here by the test).
    let held = fs::File::open(&lock_path).expect("A's lock file");
    // SAFETY: flock on an fd the test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let b = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&b.events())["swmon"]["audit"]["leftovers"].clone();
    assert_eq!(leftovers["removed"], serde_json::json!([]), "{leftovers:#}");
    assert!(
        leftovers["live_pids"]
            .as_array()
            .expect("live_pids")
            .contains(&Value::from(a_pid)),
        "{leftovers:#}"
    );
    b.stop();
    assert!(seed.is_subset(&loaded()), "A's rules were left alone");

    // The lock released: A is dead, its rules are leftovers.
    drop(held);
    let c = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&c.events())["swmon"]["audit"]["leftovers"].clone();
    assert_eq!(texts(&leftovers["removed"]), seed, "{leftovers:#}");
    assert!(!lock_path.exists(), "the dead instance's lock file is gone");
    c.stop();
    assert!(seed.is_disjoint(&loaded()));
}

#[test]
fn without_the_folders_lock_no_leftover_is_removed() {
    use std::os::fd::AsRawFd;

    let _host = HostAudit::save();
    need_no_seed_rules_loaded();
    let _cleanup = SeedCleanup;
    let seed = seed_set();
    let a = Monitor::start(&["--audit-rules", "seed"]);
    let a_pid = a.pid();
    drop(a); // SIGKILL: leftovers.

    // Another swmon starting (here: the test) holds the folder's lock for
    // longer than B waits.
    let held = fs::File::open(Path::new(STATE_DIR).join("lock")).expect("the folder's lock");
    // SAFETY: flock on an fd the test owns.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let b = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&b.events())["swmon"]["audit"]["leftovers"].clone();
    drop(held);
    assert_eq!(leftovers["removed"], serde_json::json!([]), "{leftovers:#}");
    assert!(
        leftovers["errors"]
            .to_string()
            .contains("no leftover removed"),
        "{leftovers:#}"
    );
    b.stop();
    assert!(
        seed.is_subset(&loaded()),
        "the dead run's rules are untouched"
    );
    assert!(state_file(a_pid).exists(), "and its record");

    let c = Monitor::start(&["--audit-rules", "seed"]);
    let leftovers = started(&c.events())["swmon"]["audit"]["leftovers"].clone();
    assert_eq!(texts(&leftovers["removed"]), seed, "{leftovers:#}");
    c.stop();
    assert!(seed.is_disjoint(&loaded()));
}
