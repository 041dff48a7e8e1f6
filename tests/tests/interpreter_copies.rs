//! Interpreters the kernel knows by their file, not their name, and
//! interpreter command lines longer than the kernel's copy, with the real
//! binary on the real kernel: a renamed copy of python3.11 (its ELF key and
//! build ID) and a hard link to it under another name (its inode) running
//! `-m pip install` of a local wheel are each one install event with the
//! wheel's real name and version; `python3 -W <9,000 bytes> -m pip
//! install` (the module past the 8 KiB the kernel scans) is passed as
//! `argv-unscanned` and read whole from `/proc` while it runs.

use std::{
    fs,
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::{action, build_wheel, counters, one_run, run, runs_of, wait_within, Monitor, TempDir};

const PYTHON: &str = "/usr/bin/python3.11";
const PKG: &str = "swmon-interp-copy";
const VERSION: &str = "1.7";

/// pip's arguments installing `wheel` into a fresh `target` folder.
fn pip_install(wheel: &Path, target: &Path) -> Vec<String> {
    [
        "-m",
        "pip",
        "install",
        "-q",
        "--break-system-packages",
        "--no-index",
        "--target",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        target.to_str().expect("utf-8").to_owned(),
        wheel.to_str().expect("utf-8").to_owned(),
    ])
    .collect()
}

fn filter(e: &Value) -> Vec<String> {
    e["swmon"]["filter"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn build_id(path: &str) -> String {
    let out = Command::new("readelf")
        .args(["-n", path])
        .output()
        .expect("readelf (binutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_owned))
        .expect("a GNU build ID")
}

fn assert_pip_install(e: &Value, what: &str) {
    assert_eq!(action(e), "package-install", "{what}: {e:#}");
    assert_eq!(e["swmon"]["manager"], "pip", "{what}: {e:#}");
    assert_eq!(e["swmon"]["via"], "python -m", "{what}: {e:#}");
    assert_eq!(e["package"]["name"], PKG, "{what}: {e:#}");
    assert_eq!(e["package"]["version"], VERSION, "{what}: {e:#}");
}

#[test]
fn renamed_copies_and_links_of_python_get_the_argv_scan() {
    let tmp = TempDir::new("interp-copy");
    let wheel = build_wheel(PYTHON, tmp.path(), PKG, VERSION);
    let copy = tmp.path().join("p");
    fs::copy(PYTHON, &copy).expect("copy python");
    // The test folder is on the root file system here, with /usr/bin.
    let link = tmp.path().join("q");
    fs::hard_link(PYTHON, &link).expect("hard link python (same file system)");
    let want_id = build_id(PYTHON);

    let m = Monitor::start(&[]);
    let (by_key, code) = run(Command::new(&copy)
        .args(pip_install(&wheel, &tmp.path().join("t1")))
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "the copy's pip install");
    let (by_inode, code) = run(Command::new(&link)
        .args(pip_install(&wheel, &tmp.path().join("t2")))
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "the link's pip install");
    // A renamed copy running something else: no event.
    let (plain, code) = run(Command::new(&copy).args(["-c", "pass"]));
    assert_eq!(code, 0);
    m.wait_for("the link's run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == by_inode
    });
    let events = m.stop();

    let e = one_run(&events, by_key);
    assert_pip_install(&e, "renamed copy");
    let f = filter(&e);
    assert!(f.iter().any(|r| r == "interpreter-elf"), "{f:?}");
    assert!(f.iter().any(|r| r == "interpreter-arg"), "{f:?}");
    assert_eq!(e["swmon"]["executable_build_id"], want_id.as_str(), "{e:#}");
    assert_eq!(e["swmon"]["unverified"], Value::Null, "{e:#}");
    assert_eq!(e["process"]["executable"], copy.to_str().expect("utf-8"));

    let e = one_run(&events, by_inode);
    assert_pip_install(&e, "hard link");
    let f = filter(&e);
    assert!(f.iter().any(|r| r == "interpreter-inode"), "{f:?}");
    assert!(runs_of(&events, plain).is_empty(), "{events:#?}");
    let c = counters(&events);
    assert_eq!(c["near_copy_mismatch"], 0, "{c}");
}

#[test]
fn an_interpreter_argv_longer_than_the_kernel_scans_is_read_whole() {
    let tmp = TempDir::new("interp-long");
    let wheel = build_wheel(PYTHON, tmp.path(), PKG, VERSION);
    // Holds the python at its start (before pip runs) until the test
    // writes to the FIFO: the run is seen open by swmon first, so its
    // argv is read from /proc while it is the same process, whatever the
    // machine's load. Only the first python waits (the variable is gone
    // for any child).
    let hold = tmp.path().join("hold");
    let fifo = tmp.path().join("go");
    fs::create_dir_all(&hold).expect("mkdir");
    fs::write(
        hold.join("sitecustomize.py"),
        "import os\nf = os.environ.pop('SWMON_TEST_HOLD', None)\n\
         if f:\n    open(f).read(1)\n",
    )
    .expect("write");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let long_w = format!("ignore:{}", "x".repeat(9000));

    let m = Monitor::start(&["--heartbeat-secs", "1"]);
    let mut child = Command::new("/usr/bin/python3")
        .arg("-W")
        .arg(&long_w)
        .args(pip_install(&wheel, &tmp.path().join("t")))
        .current_dir(tmp.path())
        .env("PYTHONPATH", &hold)
        .env("SWMON_TEST_HOLD", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn python");
    let pid = child.id();
    // The decide stage has the run open: the facts stage is done with it.
    m.wait_for("the held run open", Duration::from_secs(30), |e| {
        action(e) == "heartbeat" && e["swmon"]["counters"]["runs_started"].as_u64() >= Some(1)
    });
    fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .and_then(|mut f| f.write_all(b"x"))
        .expect("release the python");
    let status = wait_within(&mut child, Duration::from_secs(120), "pip");
    assert!(status.success(), "pip install: {status}");
    // A long command line that runs no installer: passed, read, rejected.
    let (other, code) = run(Command::new("/usr/bin/python3")
        .arg("-W")
        .arg(&long_w)
        .args(["-c", "pass"]));
    assert_eq!(code, 0);
    m.wait_for("the long run", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();

    let e = one_run(&events, pid);
    assert_pip_install(&e, "long argv");
    assert!(filter(&e).iter().any(|r| r == "argv-unscanned"), "{e:#}");
    assert_eq!(e["swmon"]["reading"], Value::Null, "read whole: {e:#}");
    assert_eq!(e["swmon"]["args_truncated"], Value::Null, "{e:#}");
    assert!(runs_of(&events, other).is_empty(), "{events:#?}");
    let c = counters(&events);
    // The other one was read whole and rejected, or gone before it could
    // be read (counted): never dropped unseen.
    assert!(
        c["rejected"].as_u64().unwrap_or(0) + c["interpreter_argv_unread"].as_u64().unwrap_or(0)
            >= 1,
        "{c}"
    );
    assert_eq!(c["argv_unreadable"], 0, "{c}");
}
