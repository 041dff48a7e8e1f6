//! What the kernel captures at the exec, end to end (issue 9): the cgroup
//! (so the container) and the parent chain of a short-lived installer stay
//! right when every process involved has exited before swmon reads its
//! record; a container name where a user can create cgroups is not a
//! container; an ancestor's command line is capped; and a change to swmon's
//! kernel side made from outside is an alert within one poll.
//!
//! Worst case, not a race: swmon is stopped (SIGSTOP) while the scenarios
//! run, so every shell and installer has exited before it reads one record.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{action, cgroup2_root, run, wait_within, Monitor};

const DPKG: &str = "/usr/bin/dpkg";
const ROUNDS: usize = 100;

/// Cgroups a test made (only those it made, deepest first), removed when
/// dropped once they are empty.
struct Cgroups {
    root: PathBuf,
    made: Vec<PathBuf>,
}

impl Cgroups {
    fn new() -> Cgroups {
        Cgroups {
            root: cgroup2_root(),
            made: Vec::new(),
        }
    }

    /// Makes `rel` under the cgroup2 root, each missing level recorded.
    fn make(&mut self, rel: &str) -> PathBuf {
        let mut p = self.root.clone();
        for part in rel.split('/') {
            p.push(part);
            if !p.exists() {
                fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
                self.made.push(p.clone());
            }
        }
        p
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for d in self.made.iter().rev() {
            // A cgroup is busy for a moment after its last task is reaped.
            let deadline = Instant::now() + Duration::from_secs(10);
            while fs::remove_dir(d).is_err() && Instant::now() < deadline && d.exists() {
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A 64-hex-digit id unique to this test process.
fn container_id(tag: u32) -> String {
    format!("{:08x}{:08x}", std::process::id(), tag) + &"c0ffee00".repeat(6)
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: a signal to the monitor this test started, by its pid.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// A shell that moves itself into `cgroup`, runs dpkg as its child, and
/// exits as soon as dpkg has; returns the shell's pid.
fn installer_in(cgroup: &Path) -> u32 {
    let script = format!(
        "echo $$ > {}/cgroup.procs && {DPKG} --version >/dev/null; exit 0",
        cgroup.display()
    );
    let (pid, code) = run(Command::new("/bin/sh").args(["-c", &script]));
    assert_eq!(code, 0);
    pid
}

/// The dpkg event of each shell, by the shell's pid (its first ancestor).
fn runs_by_parent(events: &[Value], shells: &HashSet<u32>) -> HashMap<u32, Value> {
    events
        .iter()
        .filter(|e| e["process"]["name"] == "dpkg")
        .filter_map(|e| {
            let parent = e["swmon"]["ancestors"][0]["pid"].as_u64()? as u32;
            shells.contains(&parent).then(|| (parent, e.clone()))
        })
        .collect()
}

/// The name the kernel gives `/bin/sh`'s executable (`dash` on Debian).
fn sh_name() -> String {
    fs::canonicalize("/bin/sh")
        .expect("/bin/sh")
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn container_and_parent_survive_their_exit_100_of_100_and_a_user_slice_is_no_container() {
    let id = container_id(1);
    let spoof_id = container_id(2);
    let mut cgroups = Cgroups::new();
    let scope = cgroups.make(&format!("system.slice/docker-{id}.scope"));
    // What a user can make in the subtree systemd delegates to them.
    let spoof_rel = format!("user.slice/user-4242.slice/user@4242.service/docker-{spoof_id}.scope");
    let spoof = cgroups.make(&spoof_rel);

    let m = Monitor::start(&["--no-audit"]);
    signal(m.pid(), libc::SIGSTOP);
    let shells: Vec<u32> = (0..ROUNDS).map(|_| installer_in(&scope)).collect();
    let spoofers: Vec<u32> = (0..10).map(|_| installer_in(&spoof)).collect();
    signal(m.pid(), libc::SIGCONT);

    let all: HashSet<u32> = shells.iter().chain(&spoofers).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = runs_by_parent(&m.events(), &all);
    while found.len() < all.len() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        found = runs_by_parent(&m.events(), &all);
    }
    m.stop();

    let sh = sh_name();
    let mut right = 0;
    for shell in &shells {
        let e = found
            .get(shell)
            .unwrap_or_else(|| panic!("no dpkg run under shell {shell}"));
        let s = &e["swmon"];
        assert_eq!(s["container"]["id"], id.as_str(), "{e:#}");
        assert_eq!(s["container"]["runtime"], "docker");
        assert_eq!(s["cgroup"], format!("/system.slice/docker-{id}.scope"));
        let parent = &s["ancestors"][0];
        assert_eq!(parent["pid"], *shell);
        assert_eq!(parent["name"], sh.as_str(), "{e:#}");
        assert_eq!(parent["comm"], "sh");
        assert_eq!(parent["uid"], 0);
        // Gone before swmon looked: no arguments, and never another's.
        assert!(parent.get("args").is_none(), "{e:#}");
        assert!(parent.get("executable").is_none(), "{e:#}");
        assert_eq!(
            s["ancestors"][1]["pid"],
            std::process::id(),
            "then this test"
        );
        right += 1;
    }
    assert_eq!(right, ROUNDS);
    for shell in &spoofers {
        let e = found
            .get(shell)
            .unwrap_or_else(|| panic!("no dpkg run under spoofing shell {shell}"));
        assert!(e["swmon"].get("container").is_none(), "{e:#}");
        assert_eq!(e["swmon"]["cgroup"], format!("/{spoof_rel}"));
        // The unit by position: the user's manager, never a name the user
        // made below it.
        assert_eq!(e["swmon"]["systemd_unit"], "user@4242.service", "{e:#}");
    }
}

#[test]
fn a_parent_with_a_2_mib_argv_is_capped_and_flagged() {
    const ARG: usize = 126 * 1024; // under MAX_ARG_STRLEN (128 KiB)
    let big: Vec<String> = (0..17)
        .map(|i| format!("{i:02}") + &"a".repeat(ARG - 2))
        .collect();
    let total: usize = big.iter().map(|a| a.len() + 1).sum();
    assert!(total > 2 << 20);

    let m = Monitor::start(&["--no-audit"]);
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &format!("{DPKG} --version >/dev/null; read x"), "sh"])
        .args(&big)
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    // SAFETY: setrlimit only, between fork and exec. A larger stack limit
    // lets exec take more than 2 MiB of arguments.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256 << 20,
                rlim_max: 256 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_STACK, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let mut shell = cmd.spawn().expect("spawn the shell");
    let pid = shell.id();
    // The shell waits on its stdin, alive, until the event is written.
    let e = m.wait_for("dpkg under the 2 MiB shell", Duration::from_secs(10), |e| {
        e["swmon"]["ancestors"][0]["pid"] == pid
    });
    let _ = shell.stdin.take().expect("stdin").write_all(b"\n");
    wait_within(&mut shell, Duration::from_secs(10), "the shell");
    // The lines as written are what a shipper reads: they stay small.
    let text = fs::read_to_string(&m.output).expect("output");
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 64 * 1024, "longest line {longest} bytes");
    m.stop();

    let parent = &e["swmon"]["ancestors"][0];
    assert_eq!(parent["args_truncated"], true, "{parent:#}");
    assert!(
        parent["args_bytes"].as_u64().expect("args_bytes") >= total as u64,
        "{parent:#}"
    );
    let kept: usize = parent["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("str").len() + 1)
        .sum();
    assert!(kept <= 8192 + 1, "{kept} bytes kept");
    assert_eq!(parent["args"][0], "/bin/sh");
    assert_eq!(parent["args"][1], "-c");
}

fn bpftool(args: &[&str]) -> std::process::Output {
    Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool (cargo xtask setup installs it)")
}

#[test]
fn a_detached_kernel_side_is_an_alert_within_one_poll() {
    let m = Monitor::start(&["--no-audit"]);
    let started = m
        .events()
        .into_iter()
        .find(|e| action(e) == "monitor-started")
        .expect("started");
    let ebpf = &started["swmon"]["ebpf"];
    let link = ebpf["links"]["sched_process_exec"]["link_id"]
        .as_u64()
        .expect("link id");
    let map = ebpf["stages_map_id"].as_u64().expect("stages map id");
    let emit = ebpf["stages"]["swmon_emit"].as_u64().expect("emit id");
    assert!(link > 0 && map > 0 && emit > 0, "{ebpf:#}");

    // A raw-tracepoint link cannot be detached from outside on this
    // kernel; if one day it can, that must be an alert too.
    let out = bpftool(&["link", "detach", "id", &link.to_string()]);
    if out.status.success() {
        m.wait_for("link alert", Duration::from_millis(1500), |e| {
            action(e) == "ebpf-detached" && e["swmon"]["ebpf"]["kind"] == "link"
        });
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Operation not supported"), "{err}");
    }

    // Take the emitter out of the tail-call chain: every installer exec
    // would be lost from here on.
    let t0 = Instant::now();
    let out = bpftool(&[
        "map",
        "delete",
        "id",
        &map.to_string(),
        "key",
        "1",
        "0",
        "0",
        "0",
    ]);
    assert!(out.status.success(), "{out:?}");
    let alert = m.wait_for("ebpf-detached", Duration::from_secs(5), |e| {
        action(e) == "ebpf-detached" && e["swmon"]["ebpf"]["program"] == "swmon_emit"
    });
    let latency = t0.elapsed();
    eprintln!("ebpf-detached {} ms after the delete", latency.as_millis());
    // One poll is 500 ms; the rest is slack for a loaded machine.
    assert!(latency < Duration::from_millis(1500), "{latency:?}");
    assert_eq!(alert["event"]["kind"], "alert");
    let d = &alert["swmon"]["ebpf"];
    assert_eq!(d["kind"], "stage");
    assert_eq!(d["expected_program_id"], emit);
    assert_eq!(d["found_program_id"], Value::Null);
    // swmon put the stage back and keeps running: installers are seen again.
    assert_eq!(d["restored"], true, "{alert:#}");
    let (pid, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("dpkg after the repair", Duration::from_secs(5), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let alerts = events
        .iter()
        .filter(|e| action(e) == "ebpf-detached")
        .count();
    assert_eq!(alerts, 1, "one change, one alert");
}

#[test]
fn a_container_deeper_than_the_capture_keeps_its_trusted_id() {
    let id = container_id(3);
    let mut cgroups = Cgroups::new();
    // Ten levels: two more than the kernel keeps; the cut is at the leaf.
    let rel = format!("system.slice/docker-{id}.scope/l3/l4/l5/l6/l7/l8/l9/l10");
    let deep = cgroups.make(&rel);

    let m = Monitor::start(&["--no-audit"]);
    let shell = installer_in(&deep);
    let shells = HashSet::from([shell]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = runs_by_parent(&m.events(), &shells);
    while found.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        found = runs_by_parent(&m.events(), &shells);
    }
    m.stop();
    let e = found
        .remove(&shell)
        .expect("the dpkg run in the deep container");

    let s = &e["swmon"];
    assert_eq!(s["container"]["id"], id.as_str(), "{e:#}");
    assert_eq!(s["container"]["runtime"], "docker");
    assert_eq!(
        s["cgroup"],
        format!("/system.slice/docker-{id}.scope/l3/l4/l5/l6/l7/l8")
    );
    assert_eq!(s["cgroup_truncated"], true, "{e:#}");
}

/// The id of swmon's map named `name`, from its exec program's map ids.
fn swmon_map_id(program_id: u64, name: &str) -> u64 {
    let out = bpftool(&["-j", "prog", "show", "id", &program_id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let prog: Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
    prog["map_ids"]
        .as_array()
        .expect("map ids")
        .iter()
        .filter_map(Value::as_u64)
        .find(|id| {
            let out = bpftool(&["-j", "map", "show", "id", &id.to_string()]);
            let map: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            map["name"] == name
        })
        .unwrap_or_else(|| panic!("no map {name} on program {program_id}"))
}

/// The raw key bytes of every entry of a map (`0x..` strings, as bpftool
/// prints and takes them).
fn map_keys(map_id: u64) -> Vec<Vec<String>> {
    let out = bpftool(&["-j", "map", "dump", "id", &map_id.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let entries: Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
    entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["key"]
                .as_array()
                .expect("raw key")
                .iter()
                .map(|b| b.as_str().expect("key byte").to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn a_filter_map_entry_deleted_from_outside_is_an_alert_and_put_back() {
    let m = Monitor::start(&["--no-audit"]);
    let started = m
        .events()
        .into_iter()
        .find(|e| action(e) == "monitor-started")
        .expect("started");
    let prog = started["swmon"]["ebpf"]["links"]["sched_process_exec"]["program_id"]
        .as_u64()
        .expect("program id");
    for name in ["INODES", "NAMES"] {
        let map = swmon_map_id(prog, name);
        let before = map_keys(map);
        let key = before.first().unwrap_or_else(|| panic!("{name} is empty"));
        let mut args = vec!["map", "delete", "id"];
        let id = map.to_string();
        args.push(&id);
        args.push("key");
        args.extend(key.iter().map(String::as_str));
        let out = bpftool(&args);
        assert!(out.status.success(), "{out:?}");
        assert!(!map_keys(map).contains(key), "deleted");
        // The maps are compared every 4 polls of 500 ms.
        let alert = m.wait_for("ebpf-tampered", Duration::from_secs(6), |e| {
            action(e) == "ebpf-tampered" && e["swmon"]["ebpf"]["map"] == name
        });
        let d = &alert["swmon"]["ebpf"];
        assert_eq!(d["missing"], 1, "{alert:#}");
        assert_eq!(d["restored"], true, "{alert:#}");
        let mut after = map_keys(map);
        let mut want = before.clone();
        after.sort();
        want.sort();
        assert_eq!(after, want, "{name} put back as it was");
    }
    // Still filtering after the repair.
    let (pid, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("dpkg after the repair", Duration::from_secs(5), |e| {
        e["process"]["pid"] == pid
    });
    m.stop();
}
