//! `swmon run`'s stages and life cycle end to end: the real binary on the
//! real kernel. SIGHUP reopens the output (logrotate's `create`), a stalled
//! standard output loses nothing silently and does not keep SIGTERM from
//! stopping swmon with its rules removed, heartbeats carry the counters,
//! SIGQUIT stops cleanly, and an unprivileged user's hostile workload can
//! not blow up swmon's memory or its output lines.

mod audit_common;

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    os::unix::{fs::symlink, process::CommandExt},
    path::Path,
    process::{Child, ChildStdout, Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use audit_common::{auditctl_rules, HostAudit};
use serde_json::Value;
use tests::{action, counters, runs_of, swmon_bin, wait_within, Monitor, TempDir};

const DPKG: &str = "/usr/bin/dpkg";

/// Deletes, when dropped, the software-installer rules loaded since it was
/// made: a test that fails while swmon runs with `--audit-rules seed` ends
/// it with SIGKILL (the helpers' drop), which leaves its rules behind.
struct SeedLeftovers(Vec<String>);

impl SeedLeftovers {
    fn save() -> SeedLeftovers {
        SeedLeftovers(auditctl_rules())
    }
}

impl Drop for SeedLeftovers {
    fn drop(&mut self) {
        for rule in auditctl_rules() {
            if self.0.contains(&rule) || !rule.contains("key=software-installer") {
                continue;
            }
            let Some(args) = rule.strip_prefix("-a ") else {
                continue;
            };
            let _ = Command::new("auditctl")
                .arg("-d")
                .args(args.split_whitespace())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: a signal to a process this test started, by its pid.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0, "kill {pid}");
}

/// A workload that is killed when dropped.
struct Storm(Child);

impl Drop for Storm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `dpkg --version` `n` times; their pids.
fn dpkg_runs(n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let (pid, code) = tests::run(Command::new(DPKG).arg("--version"));
            assert_eq!(code, 0);
            pid
        })
        .collect()
}

#[test]
fn sighup_reopens_the_output_and_the_moved_file_keeps_its_lines() {
    let m = Monitor::start(&["--no-audit"]);
    let first = dpkg_runs(1)[0];
    m.wait_for("the first run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == first
    });
    // logrotate's `create`: move the file away, then SIGHUP.
    let moved = m.output.with_extension("jsonl.1");
    fs::rename(&m.output, &moved).expect("rename");
    signal(m.pid(), libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !m.output.exists() {
        assert!(Instant::now() < deadline, "no new file after SIGHUP");
        thread::sleep(Duration::from_millis(20));
    }
    let second = dpkg_runs(1)[0];
    m.wait_for(
        "the second run in the new file",
        Duration::from_secs(10),
        |e| e["process"]["pid"] == second,
    );
    let old = tests::read_events(&moved);
    assert_eq!(action(&old[0]), "monitor-started");
    assert_eq!(runs_of(&old, first).len(), 1);
    assert!(runs_of(&old, second).is_empty(), "the moved file is done");
    let new = m.stop();
    assert_eq!(runs_of(&new, second).len(), 1);
    assert!(runs_of(&new, first).is_empty());
    assert_eq!(counters(&new)["reopened"], 1);
}

#[test]
fn heartbeats_carry_the_counters_and_sigquit_stops_cleanly() {
    let m = Monitor::start(&["--no-audit", "--heartbeat-secs", "1"]);
    let pid = dpkg_runs(1)[0];
    m.wait_for("the run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let beat = m.wait_for("a heartbeat after the run", Duration::from_secs(10), |e| {
        action(e) == "heartbeat" && e["swmon"]["counters"]["runs_finished"].as_u64() >= Some(1)
    });
    let c = &beat["swmon"]["counters"];
    for name in [
        "seen",
        "passed",
        "lost",
        "written",
        "writer_dropped",
        "kernel_queue_dropped",
    ] {
        assert!(c[name].is_u64(), "{name} in {c}");
    }
    assert!(c["seen"].as_u64() >= Some(1));
    // Each stage's liveness: its input queue and how long since it moved.
    let stages = &beat["swmon"]["stages"];
    for stage in ["kernel-reader", "facts", "decide", "writer"] {
        assert!(stages[stage]["idle_ms"].is_u64(), "{stage} in {stages}");
    }
    for stage in ["facts", "decide", "writer"] {
        assert!(stages[stage]["queued"].is_u64(), "{stage} in {stages}");
    }
    let child_pid = m.pid();
    // Signals swmon gives no meaning are ignored (their default action
    // would kill it with its rules loaded): it still writes heartbeats.
    signal(child_pid, libc::SIGUSR1);
    signal(child_pid, libc::SIGUSR2);
    let after = m.events().len();
    m.wait_for(
        "a heartbeat after SIGUSR1 and SIGUSR2",
        Duration::from_secs(10),
        |e| action(e) == "heartbeat",
    );
    let later = Instant::now() + Duration::from_secs(10);
    while m.events().len() <= after + 1 {
        assert!(
            Instant::now() < later,
            "swmon stopped writing after SIGUSR1"
        );
        thread::sleep(Duration::from_millis(50));
    }
    signal(child_pid, libc::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = m.events();
        if events
            .last()
            .is_some_and(|e| action(e) == "monitor-stopped")
        {
            let last = events.last().expect("last");
            assert_eq!(last["swmon"]["reason"], "SIGQUIT");
            assert!(last["swmon"]["counters"]["runs_finished"].as_u64() >= Some(1));
            assert!(last["swmon"]["stages"]["writer"]["queued"].is_u64());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no monitor-stopped after SIGQUIT"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// `swmon run` writing to a pipe the test holds; killed when dropped (a
/// failing test leaves nothing running).
struct PipedMonitor {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Drop for PipedMonitor {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl PipedMonitor {
    fn start(extra: &[&str]) -> PipedMonitor {
        let mut child = Command::new(swmon_bin())
            .args(["run", "--output", "-"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn swmon");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        assert!(line.contains("monitor-started"), "first line: {line:?}");
        PipedMonitor {
            child,
            stdout: Some(stdout),
        }
    }

    /// Waits until swmon's writer thread is blocked writing to the pipe
    /// (`/proc/PID/task/TID/syscall` says `write`).
    fn wait_writer_blocked(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if writer_in_write(self.child.id()) {
                return;
            }
            assert!(Instant::now() < deadline, "the writer never blocked");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn writer_in_write(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|t| {
        let comm = fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let sys = fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
        comm.trim() == "swmon-writer" && sys.split_whitespace().next() == Some("1")
    })
}

/// Reads lines to the end on a thread.
fn collect(mut stdout: BufReader<ChildStdout>) -> (Arc<Mutex<Vec<Value>>>, thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let h = thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
            let v: Value = serde_json::from_str(&line).expect("a JSON line");
            l.lock().expect("lock").push(v);
            line.clear();
        }
    });
    (lines, h)
}

#[test]
fn a_stalled_stdout_loses_no_run_silently() {
    let host = HostAudit::save();
    host.enable();
    let _leftovers = SeedLeftovers::save();
    let mut m = PipedMonitor::start(&["--audit-rules", "seed"]);
    // The test reads nothing for 20 s (the stall is the scenario, not a
    // wait for something): 100 installer runs happen meanwhile.
    let stall_end = Instant::now() + Duration::from_secs(20);
    let pids = dpkg_runs(100);
    m.wait_writer_blocked();
    // A storm of passing execs (each an installer run swmon reports, with
    // its audit records) during the stall: more lines than the writer's
    // queue holds, so the drop path is taken.
    let storm: Vec<Storm> = (0..2)
        .map(|_| {
            Storm(
                Command::new("sh")
                    .args([
                        "-c",
                        "i=0; while [ $i -lt 3000 ]; do /usr/bin/dpkg --version >/dev/null; \
                         i=$((i+1)); done",
                    ])
                    .spawn()
                    .expect("storm"),
            )
        })
        .collect();
    while Instant::now() < stall_end {
        thread::sleep(Duration::from_millis(100));
    }
    drop(storm);
    let (lines, reader) = collect(m.stdout.take().expect("stdout"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = lines.lock().expect("lock").clone();
        let seen = pids
            .iter()
            .filter(|p| !runs_of(&events, **p).is_empty())
            .count();
        if seen == pids.len() {
            break;
        }
        let dropped: u64 = events
            .iter()
            .filter(|e| action(e) == "events-lost")
            .filter_map(|e| e["swmon"]["lost"]["count"].as_u64())
            .sum();
        if seen as u64 + dropped >= pids.len() as u64 && dropped > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{seen} of {} runs reported, {dropped} alerted as lost",
            pids.len()
        );
        thread::sleep(Duration::from_millis(50));
    }
    signal(m.child.id(), libc::SIGINT);
    let status = wait_within(&mut m.child, Duration::from_secs(10), "swmon after SIGINT");
    reader.join().expect("reader");
    assert!(status.success(), "{status}");
    let events = lines.lock().expect("lock").clone();
    let c = counters(&events);
    let missing = pids
        .iter()
        .filter(|p| runs_of(&events, **p).is_empty())
        .count() as u64;
    let counted = c["writer_dropped"].as_u64().expect("writer_dropped")
        + c["kernel_queue_dropped"]
            .as_u64()
            .expect("kernel_queue_dropped")
        + c["lost"].as_u64().expect("lost");
    assert!(
        missing <= counted,
        "{missing} runs missing, {counted} counted: {c}"
    );
    let writer_dropped = c["writer_dropped"].as_u64().expect("writer_dropped");
    assert!(writer_dropped > 0, "the storm overflowed the writer: {c}");
    assert!(
        missing <= writer_dropped,
        "{missing} runs missing, {writer_dropped} dropped by the writer"
    );
    assert!(
        events.iter().any(
            |e| action(e) == "events-lost" && e["swmon"]["lost"]["counter"] == "writer_dropped"
        ),
        "the writer's drops are alerted"
    );
    // swmon's own rule additions are one state event with the rule texts,
    // not one `audit-rules-added` line per rule.
    let installed: Vec<&Value> = events
        .iter()
        .filter(|e| action(e) == "audit-rules-installed")
        .collect();
    assert_eq!(installed.len(), 1);
    let texts = installed[0]["swmon"]["rules"].as_array().expect("rules");
    assert!(!texts.is_empty());
    assert!(texts.iter().all(|t| t
        .as_str()
        .is_some_and(|t| t.starts_with("-a always,exit") && t.contains("key=software-installer"))));
    assert!(!events.iter().any(|e| action(e) == "audit-rules-added"));
    drop(host);
}

#[test]
fn sigterm_during_a_stall_stops_within_5_s_with_the_rules_removed() {
    let host = HostAudit::save();
    host.enable();
    let before = auditctl_rules();
    let _leftovers = SeedLeftovers::save();
    let mut m = PipedMonitor::start(&["--audit-rules", "seed"]);
    assert!(
        auditctl_rules().len() > before.len(),
        "the seed rules are loaded"
    );
    dpkg_runs(100);
    m.wait_writer_blocked();
    let t = Instant::now();
    signal(m.child.id(), libc::SIGTERM);
    let status = wait_within(&mut m.child, Duration::from_secs(30), "swmon after SIGTERM");
    let took = t.elapsed();
    let mut err = String::new();
    if let Some(mut e) = m.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!status.success(), "lines were not written: a failure");
    assert!(err.contains("stalled"), "says so: {err}");
    assert_eq!(auditctl_rules(), before, "none of swmon's rules are left");
    drop(m.stdout.take());
    drop(host);
}

#[test]
fn a_second_sigterm_during_a_stalled_stop_exits_at_once_with_the_rules_removed() {
    let host = HostAudit::save();
    host.enable();
    let before = auditctl_rules();
    let _leftovers = SeedLeftovers::save();
    let mut m = PipedMonitor::start(&["--audit-rules", "seed"]);
    dpkg_runs(100);
    m.wait_writer_blocked();
    let t = Instant::now();
    signal(m.child.id(), libc::SIGTERM);
    // The stop has begun once the rules are gone (removed before the
    // writer is waited for); the second signal ends the wait.
    let deadline = Instant::now() + Duration::from_secs(5);
    while auditctl_rules() != before {
        assert!(Instant::now() < deadline, "the rules were not removed");
        thread::sleep(Duration::from_millis(10));
    }
    signal(m.child.id(), libc::SIGTERM);
    let status = wait_within(
        &mut m.child,
        Duration::from_secs(10),
        "swmon after 2 SIGTERMs",
    );
    let took = t.elapsed();
    let mut err = String::new();
    if let Some(mut e) = m.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(!status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(auditctl_rules(), before, "none of swmon's rules are left");
    drop(m.stdout.take());
    drop(host);
}

#[test]
fn a_hostile_workload_keeps_memory_and_lines_bounded() {
    const NOBODY: u32 = 65534;
    let host = HostAudit::save();
    host.enable();
    let dir = TempDir::new("hostile");
    let apt = dir.path().join("apt");
    symlink("/bin/sleep", &apt).expect("symlink");
    let _leftovers = SeedLeftovers::save();
    let m = Monitor::start(&["--audit-rules", "seed", "--heartbeat-secs", "1"]);
    // 200 long-lived children named apt, each with a 16 KB argv, under a
    // shell whose own argv is 2 MiB, which also execs dpkg with that argv.
    let script = format!(
        "z=$(printf '0 %.0s' $(seq 8000)); i=0; while [ $i -lt 200 ]; do {} 600 $z & i=$((i+1)); done; \
         {DPKG} --version \"$@\" >/dev/null 2>&1; wait",
        apt.display()
    );
    let pad: Vec<String> = (0..32).map(|_| "p".repeat(65_535)).collect();
    let mut shell = Command::new("/bin/sh");
    shell.arg("-c").arg(&script).arg("sh").args(&pad);
    shell.stdout(Stdio::null()).stderr(Stdio::null());
    // Its own process group, so one signal ends the shell and every child,
    // even one it forks while the signal is sent (a walk of
    // `/proc/PID/task/TID/children` can miss those: the shell then waited
    // 600 s on a missed `sleep`, seen once on a clean CI machine).
    shell.process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        shell.pre_exec(|| {
            let stack = libc::rlimit {
                rlim_cur: 64 << 20,
                rlim_max: 64 << 20,
            };
            libc::setrlimit(libc::RLIMIT_STACK, &stack);
            if libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut sh = shell.spawn().expect("spawn the hostile shell");
    let beat = m.wait_for("200 apt runs open", Duration::from_secs(60), |e| {
        action(e) == "heartbeat" && e["swmon"]["counters"]["runs_started"].as_u64() >= Some(201)
    });
    let hwm = vm_hwm_kib(m.pid());
    // SAFETY: the process group of the shell this test started, by its pid.
    assert_eq!(unsafe { libc::kill(-(sh.id() as i32), libc::SIGKILL) }, 0);
    wait_within(&mut sh, Duration::from_secs(60), "the hostile shell");
    m.wait_for("the apt runs decided", Duration::from_secs(30), |e| {
        action(e) == "heartbeat" && e["swmon"]["counters"]["runs_finished"].as_u64() >= Some(201)
    });
    let hwm_end = vm_hwm_kib(m.pid());
    let output = m.output.clone();
    let raw = fs::read(&output).expect("read the output");
    let events = m.stop();
    let longest = raw
        .split(|b| *b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    let apt_runs = events
        .iter()
        .filter(|e| e["process"]["name"] == "apt" || e["swmon"]["installer"] == "apt")
        .count();
    eprintln!(
        "hostile: VmHWM {hwm} KiB with the runs open, {hwm_end} KiB after; longest line {longest} \
         bytes; {apt_runs} apt runs reported; counters {}",
        beat["swmon"]["counters"]
    );
    assert!(
        apt_runs >= 200,
        "{apt_runs} apt runs reported; {}",
        beat["swmon"]["counters"]
    );
    assert!(longest < 64 * 1024, "a line of {longest} bytes");
    assert!(
        hwm.max(hwm_end) <= 64 * 1024,
        "VmHWM {hwm} KiB, then {hwm_end} KiB"
    );
    drop(host);
}

/// `VmHWM` of a live process, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .expect("swmon is alive");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}
