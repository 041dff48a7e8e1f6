//! The kernel stream end to end: the real eBPF program on the real kernel,
//! driven through `swmon run`, asserting what a user reads in its output.

use std::{
    fs,
    os::unix::{ffi::OsStrExt, fs::symlink},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use tests::{
    action, cgroup2_root, counters, descendants, one_run, run, runs_of, swmon_bin, wait_within,
    Monitor, TempDir,
};

const PYTHON: &str = "/usr/bin/python3";
const DPKG: &str = "/usr/bin/dpkg";

fn args(e: &Value) -> Vec<String> {
    e["process"]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("str").to_owned())
        .collect()
}

#[test]
fn dpkg_version_is_one_event() {
    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new(DPKG).arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("dpkg --version", Duration::from_secs(5), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "installer-exec");
    assert_eq!(e["swmon"]["operation"], "query");
    assert_eq!(e["process"]["executable"], DPKG);
    assert_eq!(e["process"]["name"], "dpkg");
    assert_eq!(args(&e), [DPKG, "--version"]);
    assert_eq!(e["process"]["exit_code"], 0);
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["process"]["parent"]["pid"], std::process::id());
    assert_eq!(e["process"]["user"]["id"], "0");
    assert_eq!(e["swmon"]["manager"], "dpkg");
    assert_eq!(e["swmon"]["via"], "direct");
    assert_eq!(e["swmon"]["verdict"], "ebpf_only");
    assert!(e["swmon"]["duration_ns"].as_u64().expect("duration") > 0);
    // Read by the kernel at the exec: a run this short is gone before /proc
    // could be read.
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(
        e["process"]["working_directory"],
        cwd.to_str().expect("utf-8")
    );
    assert!(e["host"]["name"].as_str().is_some_and(|h| !h.is_empty()));
}

#[test]
fn ordinary_execs_stay_in_the_kernel() {
    let m = Monitor::start(&[]);
    let mut pids = Vec::new();
    for _ in 0..2000 {
        let (pid, code) = run(&mut Command::new("/bin/true"));
        assert_eq!(code, 0);
        pids.push(pid);
    }
    // A marker run proves the monitor read everything up to here.
    let (marker, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("marker", Duration::from_secs(5), |e| {
        e["process"]["pid"] == marker
    });
    let events = m.stop();
    for pid in &pids {
        assert!(
            runs_of(&events, *pid).is_empty(),
            "/bin/true (pid {pid}) was reported"
        );
    }
    let c = counters(&events);
    assert!(c["seen"].as_u64().expect("seen") >= 2001, "{c}");
    // Everything that passed is accounted for: as an event, or rejected
    // by user space with a counter. Nothing near 2,000 crossed.
    let passed = c["passed"].as_u64().expect("passed");
    assert!(passed < 100, "{c}");
    assert_eq!(c["lost"], 0, "{c}");
}

/// The same folder as /usr/bin when it can hold a hard link of dpkg there,
/// else a folder beside it (a hard link cannot cross file systems).
fn link_dir(tmp: &TempDir) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| fs::metadata(p).expect("stat").dev();
    if dev(tmp.path()) == dev(Path::new(DPKG)) {
        tmp.path().to_owned()
    } else {
        let d = PathBuf::from(format!("/usr/local/lib/swmon-test-{}", std::process::id()));
        fs::create_dir_all(&d).expect("mkdir");
        d
    }
}

#[test]
fn evasions_are_caught_with_how() {
    let tmp = TempDir::new("evasion");
    let links = link_dir(&tmp);
    let hard = links.join("notdpkg");
    fs::hard_link(DPKG, &hard).expect("hard link dpkg");
    let soft = tmp.path().join("alsonotdpkg");
    symlink(DPKG, &soft).expect("symlink dpkg");
    let fexec = tmp.path().join("fexec.py");
    fs::write(
        &fexec,
        "import os\nfd = os.open('/usr/bin/dpkg', os.O_RDONLY)\nos.dup2(fd, 9)\nos.execve(9, ['dpkg', '--version'], dict(os.environ))\n",
    )
    .expect("write");
    let npm_cli = [
        "/usr/lib/node_modules/npm/bin/npm-cli.js",
        "/usr/share/nodejs/npm/bin/npm-cli.js",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("npm-cli.js (npm) is installed");

    let m = Monitor::start(&[]);
    let cases: Vec<(&str, u32, &str, &str)> = vec![
        (
            "python -m pip",
            run(Command::new(PYTHON).args(["-m", "pip", "--version"])).0,
            "python -m",
            "pip",
        ),
        (
            "node npm-cli.js",
            run(Command::new("node").args([npm_cli, "--version"])).0,
            "interpreter-script",
            "npm",
        ),
        (
            "loader",
            run(Command::new("/lib64/ld-linux-x86-64.so.2").args([DPKG, "--version"])).0,
            "loader",
            "dpkg",
        ),
        (
            "hard link",
            run(Command::new(&hard).arg("--version")).0,
            "renamed",
            "dpkg",
        ),
        (
            "symlink",
            run(Command::new(&soft).arg("--version")).0,
            "renamed",
            "dpkg",
        ),
        (
            "fexecve",
            run(Command::new(PYTHON).arg(&fexec)).0,
            "fexecve",
            "dpkg",
        ),
    ];
    let last = cases.last().expect("cases").1;
    m.wait_for("the last case", Duration::from_secs(5), |e| {
        e["process"]["pid"] == last
    });
    let events = m.stop();
    for (what, pid, via, manager) in &cases {
        let e = one_run(&events, *pid);
        assert_eq!(e["swmon"]["via"], *via, "{what}: {e:#}");
        assert_eq!(e["swmon"]["manager"], *manager, "{what}: {e:#}");
        assert_eq!(e["process"]["exit_code"], 0, "{what}: {e:#}");
    }
    let exe = |i: usize| {
        one_run(&events, cases[i].1)["process"]["executable"]
            .as_str()
            .expect("exe")
            .to_owned()
    };
    assert!(exe(0).starts_with("/usr/bin/python3"), "{}", exe(0));
    assert_eq!(exe(1), "/usr/bin/node");
    assert!(exe(2).ends_with("/ld-linux-x86-64.so.2"), "{}", exe(2));
    assert_eq!(
        exe(3),
        hard.to_str().expect("utf-8"),
        "a hard link is its own path"
    );
    assert_eq!(exe(4), DPKG, "a symlink resolves to the file");
    assert_eq!(exe(5), DPKG, "fexecve shows the real file, not /dev/fd/N");
    assert_eq!(
        one_run(&events, cases[5].1)["swmon"]["exec_filename"],
        "/dev/fd/9",
        "the fd the script chose, whatever fds the test inherited"
    );
    let _ = fs::remove_file(&hard);
    if links != tmp.path() {
        let _ = fs::remove_dir_all(&links);
    }
}

#[test]
fn copies_and_memfds_are_confirmed_by_content() {
    let tmp = TempDir::new("copy");
    let copy = tmp.path().join("mypkg");
    fs::copy(DPKG, &copy).expect("copy dpkg");
    let memfd = tmp.path().join("memfd.py");
    fs::write(
        &memfd,
        "import os\ndata = open('/usr/bin/dpkg', 'rb').read()\nfd = os.memfd_create('pkg', 0)\n\
         os.write(fd, data)\nos.execve(fd, ['pkg', '--version'], dict(os.environ))\n",
    )
    .expect("write");
    let m = Monitor::start(&[]);
    let (copied, _) = run(Command::new(&copy).arg("--version"));
    let (fileless, _) = run(Command::new(PYTHON).arg(&memfd));
    m.wait_for("memfd", Duration::from_secs(5), |e| {
        e["process"]["pid"] == fileless
    });
    let events = m.stop();
    let e = one_run(&events, copied);
    assert_eq!(e["swmon"]["via"], "renamed");
    assert_eq!(e["swmon"]["manager"], "dpkg");
    assert!(e["swmon"]["executable_sha256"]
        .as_str()
        .is_some_and(|h| h.len() == 64));
    let e = one_run(&events, fileless);
    assert_eq!(e["swmon"]["via"], "memfd");
    assert_eq!(e["process"]["executable"], "/memfd:pkg (deleted)");
}

#[test]
fn hostile_argv_is_exact_and_escaped() {
    let m = Monitor::start(&[]);
    let hostile: Vec<&[u8]> = vec![
        b"--version",
        b"two words",
        b"new\nline",
        b"\x1b[31mred",
        b"bad\xff\xfe",
        b"back\\slash\xff",
        b"",
    ];
    let (pid, _) =
        run(Command::new(DPKG).args(hostile.iter().map(|a| std::ffi::OsStr::from_bytes(a))));
    let many: Vec<String> = (0..10_000).map(|i| format!("arg{i}")).collect();
    let (big, _) = run(Command::new(DPKG).arg("--version").args(&many));
    m.wait_for("10,000 args", Duration::from_secs(5), |e| {
        e["process"]["pid"] == big
    });
    let events = m.stop();

    let e = one_run(&events, pid);
    let got = args(&e);
    let escaped: Vec<u64> = e["swmon"]["args_escaped"]
        .as_array()
        .expect("escaped list")
        .iter()
        .map(|v| v.as_u64().expect("index"))
        .collect();
    assert_eq!(escaped, [5, 6], "{e:#}");
    assert_eq!(got[0], DPKG);
    for (i, want) in hostile.iter().enumerate() {
        let have = &got[i + 1];
        let bytes = if escaped.contains(&(i as u64 + 1)) {
            unescape(have)
        } else {
            have.as_bytes().to_vec()
        };
        assert_eq!(&bytes, want, "arg {}", i + 1);
    }
    assert_eq!(e["swmon"]["args_truncated"], Value::Null, "not truncated");

    let e = one_run(&events, big);
    assert_eq!(e["swmon"]["args_truncated"], true);
    let n = e["process"]["args_count"].as_u64().expect("count");
    assert!((128..10_002).contains(&n), "{n} args kept");
    let total: u64 = std::iter::once(DPKG.len() + 1)
        .chain(std::iter::once(10))
        .chain(many.iter().map(|a| a.len() + 1))
        .map(|n| n as u64)
        .sum();
    assert_eq!(e["swmon"]["args_bytes"], total);
    let kept = args(&e);
    assert_eq!(kept[2], "arg0");
    assert!(kept.len() as u64 == n);
}

/// The inverse of swmon's escaping for arguments that are not UTF-8.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) => {
                out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).expect("hex"));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[test]
fn text_format_escapes_the_terminal() {
    let dir = TempDir::new("text");
    let out = dir.path().join("events.txt");
    let mut child = Command::new(swmon_bin())
        .args(["run", "--format", "text", "--output"])
        .arg(&out)
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + tests::START_DEADLINE;
    while !fs::read_to_string(&out).is_ok_and(|t| t.contains("monitor-started")) {
        assert!(std::time::Instant::now() < deadline, "no monitor-started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (pid, _) =
        run(Command::new(DPKG).args(["--version", "evil\n2026-01-01 forged line", "\x1b[2J"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !fs::read_to_string(&out).is_ok_and(|t| t.contains(&format!("pid={pid}"))) {
        assert!(
            std::time::Instant::now() < deadline,
            "no line for pid {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to the child we started, by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(wait_within(&mut child, Duration::from_secs(30), "swmon after SIGINT").success());
    let text = fs::read_to_string(&out).expect("read");
    let line = text
        .lines()
        .find(|l| l.contains(&format!("pid={pid}")))
        .expect("line");
    assert!(
        line.contains("'evil\\n2026-01-01 forged line' \\x1b[2J"),
        "{line}"
    );
    assert!(!text.contains('\x1b'));
    assert_eq!(text.lines().filter(|l| l.contains("forged")).count(), 1);
    assert!(text
        .lines()
        .last()
        .expect("last")
        .contains("monitor-stopped"));
}

#[test]
fn clear_errors() {
    // Not root.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(swmon_bin())
        .args(["run", "--output", "-"])
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // Capabilities, not uid 0: the message names the ones it lacks.
    assert!(err.contains("needs CAP_BPF and CAP_PERFMON"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // An output path that cannot be written.
    let out = Command::new(swmon_bin())
        .args(["run", "--output", "/nonexistent/dir/events.jsonl"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("can't open output /nonexistent/dir/events.jsonl"),
        "{err}"
    );

    // A bad ring-buffer size.
    let out = Command::new(swmon_bin())
        .args(["run", "--ring-buffer-size", "5000"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a power of two"));
}

/// Puts tracefs back as it was however the test ends: mounted again if it
/// was mounted before, unmounted (lazily) if swmon mounted it.
struct TracefsGuard(bool);

impl Drop for TracefsGuard {
    fn drop(&mut self) {
        let mounted = Path::new("/sys/kernel/tracing/events").exists();
        if self.0 && !mounted {
            let _ = Command::new("mount")
                .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
                .status();
        } else if !self.0 && mounted {
            let _ = Command::new("umount")
                .arg("-l")
                .arg("/sys/kernel/tracing")
                .status();
        }
    }
}

#[test]
fn swmon_needs_no_tracefs() {
    // Every program attaches to a raw tracepoint, by name (the module-load
    // witness too, on the page cache's read path): with tracefs unmounted
    // swmon starts, watches, and leaves it unmounted.
    let tracing = Path::new("/sys/kernel/tracing");
    let _guard = TracefsGuard(tracing.join("events").exists());
    if tracing.join("events").exists() {
        // Lazily: a tracer that has it open keeps working.
        let status = Command::new("umount")
            .arg("-l")
            .arg(tracing)
            .status()
            .expect("umount");
        assert!(status.success(), "umount tracefs");
    }
    assert!(!tracing.join("events").exists());
    let m = Monitor::start(&[]);
    let (pid, _) = run(Command::new(DPKG).arg("--version"));
    m.wait_for("dpkg", Duration::from_secs(5), |e| {
        e["process"]["pid"] == pid
    });
    m.stop();
    assert!(
        !tracing.join("events").exists(),
        "swmon mounted tracefs, which it does not need"
    );
}

/// Purges the test package however the test ends.
struct DebGuard(&'static str);

impl Drop for DebGuard {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", self.0]).output();
    }
}

#[test]
fn a_real_deb_install_and_removal_are_classified() {
    const PKG: &str = "swmon-e2e-test-pkg";
    let tmp = TempDir::new("deb");
    let root = tmp.path().join("pkg");
    fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    fs::create_dir_all(root.join("usr/share/swmon-e2e-test-pkg")).expect("mkdir");
    fs::write(root.join("usr/share/swmon-e2e-test-pkg/hello"), "hello\n").expect("write");
    fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PKG}\nVersion: 1.2-3\nArchitecture: all\nMaintainer: swmon tests <t@example.invalid>\n\
             Description: a package swmon's tests install and remove\n"
        ),
    )
    .expect("write control");
    let deb = tmp.path().join("pkg.deb");
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
    let _guard = DebGuard(PKG);

    let m = Monitor::start(&[]);
    let (install, code) = run(Command::new(DPKG).arg("-i").arg(&deb));
    assert_eq!(code, 0);
    let (remove, code) = run(Command::new(DPKG).args(["-r", PKG]));
    assert_eq!(code, 0);
    m.wait_for("dpkg -r", Duration::from_secs(5), |e| {
        e["process"]["pid"] == remove
    });
    let events = m.stop();

    let e = one_run(&events, install);
    assert_eq!(action(&e), "package-install");
    assert_eq!(e["swmon"]["operation"], "install");
    assert_eq!(e["swmon"]["scope"], "system");
    assert_eq!(e["process"]["exit_code"], 0);
    // The package inside the file, not the file's name (issue 10); what
    // was typed is kept as swmon.requested.
    let pkgs = e["swmon"]["packages"].as_array().expect("packages");
    assert_eq!(pkgs.len(), 1, "{e:#}");
    assert_eq!(pkgs[0]["name"], PKG, "{e:#}");
    assert_eq!(pkgs[0]["version"], "1.2-3", "{e:#}");
    assert_eq!(e["swmon"]["requested"][0].as_str(), deb.to_str(), "{e:#}");

    let e = one_run(&events, remove);
    assert_eq!(action(&e), "package-remove");
    assert_eq!(e["package"]["name"], PKG);
    assert_eq!(e["swmon"]["manager"], "dpkg");
}

/// The cgroup v2 mount (`/sys/fs/cgroup` or a hybrid host's `unified`).
/// Removes the test's cgroups however the test ends (they are empty by then).
struct CgroupGuard(Vec<PathBuf>);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for d in &self.0 {
            // A cgroup is busy for a moment after its last task is reaped.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while fs::remove_dir(d).is_err() && d.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn runs_carry_their_parents_and_container() {
    // Container ids are trusted only where users cannot make cgroups
    // (system.slice here); the levels this test makes are removed after.
    let id = format!("{:08x}", std::process::id()) + &"5ca1ab1e".repeat(7);
    let slice = cgroup2_root().join("system.slice");
    let scope = slice.join(format!("docker-{id}.scope"));
    let mut made = vec![scope.clone()];
    if !slice.exists() {
        made.push(slice.clone());
    }
    fs::create_dir_all(&scope).expect("create a container-like cgroup");
    let _guard = CgroupGuard(made);

    let m = Monitor::start(&[]);
    // A shell moves itself into the cgroup, then runs dpkg as its child.
    // The kernel captures both at the exec: the shell having exited by the
    // time swmon reads the record changes nothing.
    let script = format!(
        "echo $$ > {}/cgroup.procs && {DPKG} --version >/dev/null && echo done",
        scope.display()
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("done"),
        "{out:?}"
    );
    let e = m.wait_for("dpkg in the container", Duration::from_secs(5), |e| {
        e["swmon"]["container"]["id"] == id.as_str()
    });
    m.stop();
    assert_eq!(e["swmon"]["container"]["runtime"], "docker");
    assert_eq!(
        e["swmon"]["cgroup"],
        format!("/system.slice/docker-{id}.scope")
    );
    let ancestors = e["swmon"]["ancestors"].as_array().expect("ancestors");
    let sh = fs::canonicalize("/bin/sh").expect("/bin/sh");
    let sh_name = sh.file_name().expect("name").to_string_lossy();
    assert_eq!(ancestors[0]["name"], &*sh_name, "{e:#}");
    assert_eq!(ancestors[0]["comm"], "sh", "{e:#}");
    // Read from /proc only while the shell was still the same process.
    if let Some(args) = ancestors[0]["args"].as_array() {
        assert_eq!(args[0], "/bin/sh");
        assert_eq!(ancestors[0]["executable"], sh.to_string_lossy().as_ref());
    }
    assert_eq!(ancestors[1]["pid"], std::process::id(), "then this test");
}

#[test]
fn a_full_ring_buffer_is_counted_and_reported() {
    // One page cannot hold an exec event (about 9.6 KiB): every installer
    // exec is lost in the kernel, and that must show.
    let m = Monitor::start(&["--ring-buffer-size", "4096"]);
    let (pid, _) = run(Command::new(DPKG).arg("--version"));
    let alert = m.wait_for("ebpf-events-lost", Duration::from_secs(5), |e| {
        action(e) == "ebpf-events-lost"
    });
    let events = m.stop();
    assert!(runs_of(&events, pid).is_empty());
    assert_eq!(alert["event"]["kind"], "alert");
    assert!(
        alert["swmon"]["lost"]["count"].as_u64().expect("count") >= 1,
        "{alert:#}"
    );
    assert!(
        alert["swmon"]["lost"]["exec_reserve_failed"]
            .as_u64()
            .expect("count")
            >= 1
    );
    let c = counters(&events);
    assert!(c["lost"].as_u64().expect("lost") >= 1, "{c}");
    assert!(c["exec_reserve_failed"].as_u64().expect("lost") >= 1, "{c}");
}

#[test]
fn text_on_a_terminal_is_coloured() {
    // `script` runs swmon on a pseudo-terminal, so its standard output is one.
    // `exec`: whatever shell `script` picks (dash when $SHELL is unset, as
    // under CI) must not stay between it and swmon.
    let dir = TempDir::new("tty");
    let typescript = dir.path().join("typescript");
    let command = format!(
        "exec {} run --format text --no-audit",
        swmon_bin().display()
    );
    let script = Command::new("script")
        .args(["-q", "-f", "-e", "-c", &command])
        .arg(&typescript)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("script");
    let mut script = Script(script);
    let read = || {
        fs::read(&typescript)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + tests::START_DEADLINE;
    while !read().contains("monitor-started") {
        assert!(
            std::time::Instant::now() < deadline,
            "no monitor-started: {}",
            read()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (pid, _) = run(Command::new(DPKG).arg("--version"));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !read().contains(&format!("pid={pid}")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no line for pid {pid}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let swmon = script.swmon();
    // SAFETY: a signal to the swmon this test started, by its pid.
    unsafe { libc::kill(swmon as i32, libc::SIGINT) };
    assert!(wait_within(
        &mut script.0,
        Duration::from_secs(30),
        "script after SIGINT"
    )
    .success());
    let text = read();
    let line = text
        .lines()
        .find(|l| l.contains(&format!("pid={pid}")))
        .expect("line");
    // Without audit every run slipped past the trail: red, and reset at the end.
    assert!(line.starts_with("\x1b[31m"), "{line:?}");
    assert!(line.trim_end().ends_with("\x1b[0m"), "{line:?}");
    assert_eq!(
        line.matches('\x1b').count(),
        2,
        "no other escape in the line: {line:?}"
    );
}

/// A `script` this test started; dropping it kills it and the swmon under
/// it, by their pids, so a failed assertion leaves nothing running.
struct Script(std::process::Child);

impl Script {
    /// The swmon process under `script`: the descendant running our binary.
    fn swmon(&self) -> u32 {
        let bin = fs::canonicalize(swmon_bin()).expect("swmon binary");
        descendants(self.0.id())
            .into_iter()
            .find(|p| fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|exe| exe == bin))
            .unwrap_or_else(|| panic!("no swmon under script {}", self.0.id()))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        for p in descendants(self.0.id()) {
            // SAFETY: a signal to a process under the `script` we started.
            unsafe { libc::kill(p as i32, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
