//! The state witness on the real kernel: writes to package state seen
//! where the page cache dirties a page, given to the installer run whose
//! process (or a process under it) wrote them, or reported on their own
//! when no installer ran: a wheel unzipped into a venv's `site-packages`,
//! an executable copied into `/usr/local/bin`. Ordinary writes (a tree
//! under `/tmp`, a `bin` folder of a build, a file in `/etc`) are none.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use tests::{
    action, build_deb, build_deb_with, build_wheel, counters, one_run, run, Monitor, TempDir,
};

const PYTHON: &str = "/usr/bin/python3";

/// The state-only events (no installer run) of process `pid`.
fn state_only(events: &[Value], pid: u32) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid)
        .cloned()
        .collect()
}

/// Starts swmon, runs `cmd` (which must exit 0), waits for its state-only
/// event, stops swmon and returns that one event and every event.
fn one_state_only(what: &str, cmd: &mut Command) -> (Value, Vec<Value>) {
    let m = Monitor::start(&[]);
    let (pid, code) = run(cmd);
    assert_eq!(code, 0, "{what}");
    m.wait_for(
        &format!("the {what}'s state-only event"),
        Duration::from_secs(20),
        |e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid,
    );
    let events = m.stop();
    let found = state_only(&events, pid);
    assert_eq!(found.len(), 1, "{found:#?}");
    (found[0].clone(), events)
}

/// Every state-only event.
fn all_state_only(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["swmon"]["reason"] == "no-installer-exec")
        .cloned()
        .collect()
}

/// `swmon.state.writes` of an event as (rule, path) pairs.
fn writes(e: &Value) -> Vec<(String, String)> {
    e["swmon"]["state"]["writes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| {
                    (
                        w["rule"].as_str().unwrap_or("").to_owned(),
                        w["path"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn venv_without_pip(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    let out = Command::new(PYTHON)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    venv
}

fn site_packages(venv: &Path) -> PathBuf {
    let lib = venv.join("lib");
    let py = fs::read_dir(&lib)
        .expect("venv lib")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .expect("lib/python3.X");
    py.path().join("site-packages")
}

#[test]
fn a_wheel_unzipped_into_a_venv_is_an_install_no_installer_ran() {
    let tmp = TempDir::new("state-unzip");
    let wheel = build_wheel(PYTHON, tmp.path(), "swmon-state-unzip", "2.5");
    let venv = venv_without_pip(tmp.path());
    let site = site_packages(&venv);

    let (e, events) = one_state_only(
        "unzip",
        Command::new(PYTHON).arg("-c").arg(format!(
            "import zipfile; zipfile.ZipFile({:?}).extractall({:?})",
            wheel.display().to_string(),
            site.display().to_string()
        )),
    );
    let e = &e;
    assert_eq!(e["event"]["kind"], "alert");
    assert_eq!(action(e), "package-install");
    assert_eq!(e["swmon"]["detected_by"], serde_json::json!(["state"]));
    assert_eq!(e["swmon"]["manager"], "pip");
    let dist_info = site.join("swmon_state_unzip-2.5.dist-info");
    let mut w = writes(e);
    w.sort();
    assert_eq!(
        w,
        [
            ("dist-info".to_owned(), dist_info.display().to_string()),
            (
                "site-package".to_owned(),
                site.join("swmon_state_unzip").display().to_string()
            ),
        ],
        "{e:#}"
    );
    // What changed, read from the folder: the package's own name and
    // version (METADATA's, not the folder's spelling).
    assert_eq!(
        e["swmon"]["changes"],
        serde_json::json!([{
            "manager": "pip",
            "name": "swmon-state-unzip",
            "version": "2.5",
            "action": "install",
            // No INSTALLER file: no installer wrote it.
            "flags": ["no-installer"],
            "path": dist_info.display().to_string(),
        }]),
        "{e:#}"
    );
    assert_eq!(e["package"]["name"], "swmon-state-unzip");
    assert_eq!(e["package"]["version"], "2.5");
    // The writer, as the kernel saw it at the write; its command line
    // only while it still ran when swmon read it (not waited for here).
    assert_eq!(
        e["process"]["executable"],
        fs::canonicalize(PYTHON).unwrap().display().to_string()
    );
    if let Some(args) = e["process"]["args"].as_array().filter(|a| !a.is_empty()) {
        assert_eq!(args[1], "-c", "{e:#}");
    }
    assert_eq!(e["process"]["parent"]["pid"], std::process::id());
    assert_eq!(e["swmon"]["ancestors"][0]["pid"], std::process::id());
    let c = counters(&events);
    assert!(c["state_sent"].as_u64() >= Some(1), "{c:#}");
    assert_eq!(c["state_reserve_failed"], 0);
}

/// Names of 40 bytes and more (on 6.18) are not kept in the dentry
/// itself but in a buffer of their own, which the kernel reads through the name's pointer
/// (a shorter one comes with the read of the dentry's head): a package
/// folder and a `.dist-info` folder with such names are matched alike.
#[test]
fn long_folder_names_are_matched_like_short_ones() {
    let tmp = TempDir::new("state-long");
    let dist = "swmon-state-a-distribution-name-past-forty-bytes";
    let wheel = build_wheel(PYTHON, tmp.path(), dist, "1.0");
    let venv = venv_without_pip(tmp.path());
    let site = site_packages(&venv);

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new(PYTHON).arg("-c").arg(format!(
        "import zipfile; zipfile.ZipFile({:?}).extractall({:?})",
        wheel.display().to_string(),
        site.display().to_string()
    )));
    assert_eq!(code, 0, "unzip");
    m.wait_for(
        "the unzip's state-only event",
        Duration::from_secs(20),
        |e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid,
    );
    let events = m.stop();

    let found = state_only(&events, pid);
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = &found[0];
    let module = dist.replace('-', "_");
    let dist_info = site.join(format!("{module}-1.0.dist-info"));
    assert!(dist_info.file_name().unwrap().len() >= 40);
    assert!(module.len() >= 40);
    let mut w = writes(e);
    w.sort();
    assert_eq!(
        w,
        [
            ("dist-info".to_owned(), dist_info.display().to_string()),
            (
                "site-package".to_owned(),
                site.join(&module).display().to_string()
            ),
        ],
        "{e:#}"
    );
    assert_eq!(e["package"]["name"], dist);
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn an_executable_copied_into_usr_local_bin_is_unmanaged_software() {
    let target = PathBuf::from(format!("/usr/local/bin/swmon-state-{}", std::process::id()));
    let _gone = RemoveOnDrop(target.clone());

    let m = Monitor::start(&[]);
    let started = m
        .events()
        .into_iter()
        .find(|e| action(e) == "monitor-started")
        .expect("monitor-started");
    let watched = &started["swmon"]["ebpf"]["state_witness"]["watched_dirs"];
    assert!(
        watched
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d == "/usr/local/bin")),
        "{watched:#}"
    );
    let (pid, code) = run(Command::new("/usr/bin/cp")
        .arg("/usr/bin/true")
        .arg(&target));
    assert_eq!(code, 0, "cp");
    m.wait_for(
        "the copy's state-only event",
        Duration::from_secs(20),
        |e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid,
    );
    let events = m.stop();

    let found = state_only(&events, pid);
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = &found[0];
    assert_eq!(e["swmon"]["manager"], "unmanaged");
    assert_eq!(e["process"]["name"], "cp");
    assert_eq!(e["process"]["executable"], "/usr/bin/cp");
    assert_eq!(
        writes(e),
        [("path-dir".to_owned(), target.display().to_string())],
        "{e:#}"
    );
    // The file as it is: its hash, size, mode, owner.
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(ch["manager"], "unmanaged");
    assert_eq!(ch["name"], target.file_name().unwrap().to_str().unwrap());
    assert_eq!(ch["path"], target.display().to_string());
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/true")), "{e:#}");
    assert_eq!(ch["size"], fs::metadata("/usr/bin/true").unwrap().len());
    assert_eq!(ch["executable"], true);
    assert_eq!(ch["uid"], 0);
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn an_executable_untarred_into_usr_local_bin_is_unmanaged_software() {
    let tmp = TempDir::new("state-tar");
    let name = format!("swmon-state-tar-{}", std::process::id());
    let target = Path::new("/usr/local/bin").join(&name);
    let _gone = RemoveOnDrop(target.clone());
    fs::copy("/usr/bin/true", tmp.path().join(&name)).expect("copy");
    let tarball = tmp.path().join("t.tar");
    let (_, code) = run(Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(tmp.path())
        .arg(&name));
    assert_eq!(code, 0, "tar -c");

    let (e, _) = one_state_only(
        "tar -x",
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .args(["-C", "/usr/local/bin"]),
    );
    let e = &e;
    assert_eq!(e["process"]["name"], "tar");
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(ch["manager"], "unmanaged", "{e:#}");
    assert_eq!(ch["name"], name.as_str());
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/true")));
    assert_eq!(ch["executable"], true);
}

#[test]
fn a_file_made_executable_in_usr_local_bin_is_unmanaged_software() {
    // Put there before swmon starts (as a rename would, unseen), not
    // executable; then made executable under swmon by another process.
    let target = PathBuf::from(format!(
        "/usr/local/bin/swmon-state-chmod-{}",
        std::process::id()
    ));
    let _gone = RemoveOnDrop(target.clone());
    fs::copy("/usr/bin/true", &target).expect("copy");
    let (_, code) = run(Command::new("chmod").arg("0644").arg(&target));
    assert_eq!(code, 0);
    let (e, _) = one_state_only("chmod", Command::new("chmod").arg("0755").arg(&target));
    let e = &e;
    assert_eq!(e["process"]["name"], "chmod");
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(ch["manager"], "unmanaged", "{e:#}");
    assert_eq!(ch["path"], target.display().to_string());
    assert_eq!(ch["mode"], "755");
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/true")));
}

#[test]
fn a_file_moved_or_linked_into_usr_local_bin_is_unmanaged_software() {
    // Written under /tmp (the same filesystem here: `mv` is a rename, no
    // page is written in /usr/local/bin), then moved in; and a symbolic
    // link to a file under /tmp.
    let tmp = TempDir::new("state-mv");
    let me = std::process::id();
    let moved = PathBuf::from(format!("/usr/local/bin/swmon-state-mv-{me}"));
    let link = PathBuf::from(format!("/usr/local/bin/swmon-state-ln-{me}"));
    let hard = PathBuf::from(format!("/usr/local/bin/swmon-state-hard-{me}"));
    let _gone = (
        RemoveOnDrop(moved.clone()),
        RemoveOnDrop(link.clone()),
        RemoveOnDrop(hard.clone()),
    );
    let other = tmp.path().join("other");
    fs::copy("/usr/bin/env", &other).expect("copy");
    let staged = tmp.path().join("tool");
    fs::copy("/usr/bin/true", &staged).expect("copy");
    let target = tmp.path().join("linked");
    fs::copy("/usr/bin/false", &target).expect("copy");
    assert_eq!(
        fs::metadata(tmp.path()).unwrap().dev(),
        fs::metadata("/usr/local/bin").unwrap().dev(),
        "the test needs /tmp and /usr/local/bin on one filesystem (a rename)"
    );

    let m = Monitor::start(&[]);
    let started = m
        .events()
        .into_iter()
        .find(|e| action(e) == "monitor-started")
        .expect("monitor-started");
    let watch = &started["swmon"]["ebpf"]["state_witness"]["folder_watch"];
    assert!(
        watch["dirs"]
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d == "/usr/local/bin")),
        "{watch:#}"
    );
    let (mv, code) = run(Command::new("/usr/bin/mv").arg(&staged).arg(&moved));
    assert_eq!(code, 0, "mv");
    let (ln, code) = run(Command::new("/usr/bin/ln")
        .arg("-s")
        .arg(&target)
        .arg(&link));
    assert_eq!(code, 0, "ln -s");
    // A hard link, its other name removed at once.
    let (hard_ln, code) = run(Command::new("/usr/bin/ln").arg(&other).arg(&hard));
    assert_eq!(code, 0, "ln");
    fs::remove_file(&other).expect("rm");
    for pid in [mv, ln, hard_ln] {
        m.wait_for("the state-only event", Duration::from_secs(20), |e| {
            e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid
        });
    }
    let events = m.stop();

    let e = &state_only(&events, mv)[0];
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(ch["manager"], "unmanaged", "{e:#}");
    assert_eq!(ch["path"], moved.display().to_string());
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/true")));

    let e = &state_only(&events, ln)[0];
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(
        ch["name"],
        link.file_name().unwrap().to_str().unwrap(),
        "{e:#}"
    );
    assert_eq!(ch["symlink"], target.display().to_string());
    assert_eq!(
        ch["target"],
        fs::canonicalize(&target).unwrap().display().to_string()
    );
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/false")));

    let e = &state_only(&events, hard_ln)[0];
    let ch = &e["swmon"]["changes"][0];
    assert_eq!(ch["path"], hard.display().to_string(), "{e:#}");
    assert_eq!(ch["sha256"], sha256_of(Path::new("/usr/bin/env")));
}

#[test]
fn a_pth_file_dropped_into_site_packages_is_python_code_without_metadata() {
    let tmp = TempDir::new("state-pth");
    let venv = venv_without_pip(tmp.path());
    let pth = site_packages(&venv).join("zz-swmon.pth");
    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("echo 'import os' > {}", pth.display())));
    assert_eq!(code, 0);
    m.wait_for(
        "the .pth's state-only event",
        Duration::from_secs(20),
        |e| e["swmon"]["reason"] == "no-installer-exec" && e["process"]["pid"] == pid,
    );
    let events = m.stop();
    let found = state_only(&events, pid);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0]["swmon"]["changes"],
        serde_json::json!([{
            "manager": "unmanaged",
            "name": "zz-swmon.pth",
            "action": "install",
            "flags": ["python-code", "no-metadata"],
            "path": pth.display().to_string(),
        }])
    );
}

/// Two wheels, `top` requiring `dep`, in `dir`.
fn wheels_with_a_dependency(dir: &Path, top: &str, dep: &str) {
    let script = r#"
import sys, zipfile
d, top, dep = sys.argv[1:4]
for name, req in ((top, dep), (dep, None)):
    mod = name.replace("-", "_")
    info = f"{mod}-1.0.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    if req:
        meta += f"Requires-Dist: {req}\n"
    files = {f"{mod}/__init__.py": "X = 1\n", f"{info}/METADATA": meta,
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(f"{d}/{mod}-1.0-py3-none-any.whl", "w") as z:
        for p, t in files.items():
            z.writestr(p, t)
        z.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n")
"#;
    let out = Command::new(PYTHON)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .args([top, dep])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pip_install_lists_each_package_it_installed() {
    let tmp = TempDir::new("state-pip");
    let wheels = tmp.path().join("wheels");
    fs::create_dir_all(&wheels).expect("mkdir");
    wheels_with_a_dependency(&wheels, "swmon-state-top", "swmon-state-dep");
    let venv = tmp.path().join("venv");
    let out = Command::new(PYTHON)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .expect("venv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new(venv.join("bin/pip"))
        .args(["install", "--no-index", "--find-links"])
        .arg(&wheels)
        .arg("swmon-state-top"));
    assert_eq!(code, 0, "pip install");
    m.wait_for("pip install", Duration::from_secs(30), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    let mut got: Vec<(String, String, String)> = e["swmon"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_owned(),
                c["version"].as_str().unwrap_or("").to_owned(),
                c["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "swmon-state-dep".to_owned(),
                "1.0".to_owned(),
                "install".to_owned()
            ),
            (
                "swmon-state-top".to_owned(),
                "1.0".to_owned(),
                "install".to_owned()
            ),
        ],
        "{e:#}"
    );
    assert_eq!(all_state_only(&events), Vec::<Value>::new());
}

struct DpkgGuard(&'static str);

impl Drop for DpkgGuard {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/dpkg")
            .args(["--purge", self.0])
            .output();
    }
}

#[test]
fn an_installer_s_state_writes_are_its_run_s() {
    const PKG: &str = "swmon-state-deb";
    let tmp = TempDir::new("state-dpkg");
    let deb = build_deb(tmp.path(), PKG, "3.1-1", "x.deb");
    let newer = build_deb(tmp.path(), PKG, "3.10-1", "y.deb");
    let _guard = DpkgGuard(PKG);

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("/usr/bin/dpkg").arg("-i").arg(&deb));
    assert_eq!(code, 0, "dpkg -i");
    let (upgrade, code) = run(Command::new("/usr/bin/dpkg").arg("-i").arg(&newer));
    assert_eq!(code, 0, "dpkg -i newer");
    let (remove, code) = run(Command::new("/usr/bin/dpkg").args(["-r", PKG]));
    assert_eq!(code, 0, "dpkg -r");
    m.wait_for("dpkg -r", Duration::from_secs(20), |e| {
        e["process"]["pid"] == remove
    });
    let events = m.stop();

    // What changed, from dpkg's own status: the package inside the file
    // (not the file's name), its version, and the one it replaced.
    let change = |pid: u32| -> Vec<Value> {
        let e = one_run(&events, pid);
        e["swmon"]["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c["name"] == PKG)
            .collect()
    };
    let status = "/var/lib/dpkg/status";
    assert_eq!(
        change(pid),
        [
            serde_json::json!({"manager": "dpkg", "name": PKG, "version": "3.1-1", "action": "install", "path": status})
        ]
    );
    assert_eq!(
        change(upgrade),
        [
            serde_json::json!({"manager": "dpkg", "name": PKG, "version": "3.10-1", "previous_version": "3.1-1", "action": "upgrade", "path": status})
        ]
    );
    let removed = change(remove);
    assert_eq!(removed.len(), 1, "{removed:#?}");
    assert_eq!(removed[0]["action"], "remove");
    assert_eq!(removed[0]["previous_version"], "3.10-1");

    let e = one_run(&events, pid);
    let by = e["swmon"]["detected_by"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        by.contains(&"exec".into()) && by.contains(&"state".into()),
        "{e:#}"
    );
    let w = writes(&e);
    assert!(
        w.contains(&(
            "dpkg-status".to_owned(),
            "/var/lib/dpkg/status-new".to_owned()
        )),
        "{w:#?}"
    );
    assert!(
        w.contains(&(
            "dpkg-updates".to_owned(),
            "/var/lib/dpkg/updates".to_owned()
        )),
        "{w:#?}"
    );
    // dpkg's writes belong to its run: none is reported on its own.
    assert_eq!(all_state_only(&events), Vec::<Value>::new());
}

struct DpkgPurge(&'static [&'static str]);

impl Drop for DpkgPurge {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/dpkg")
            .arg("--purge")
            .args(self.0)
            .output();
    }
}

#[test]
fn apt_s_dpkg_runs_are_nested_in_its_one_install() {
    const TOP: &str = "swmon-state-apt-top";
    const DEP: &str = "swmon-state-apt-dep";
    let tmp = TempDir::new("state-apt");
    let top = build_deb_with(
        tmp.path(),
        TOP,
        "1.2-1",
        "top.deb",
        &format!("Depends: {DEP}\n"),
        None,
    );
    let dep = build_deb(tmp.path(), DEP, "0.9-3", "dep.deb");
    let _purge = DpkgPurge(&[TOP, DEP]);

    let m = Monitor::start(&[]);
    let (apt, code) = run(Command::new("/usr/bin/apt-get")
        .args(["install", "-y", "-q"])
        .arg(&top)
        .arg(&dep)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert_eq!(code, 0, "apt-get install");
    m.wait_for("apt-get", Duration::from_secs(60), |e| {
        e["process"]["pid"] == apt
    });
    let events = m.stop();
    let e = one_run(&events, apt);
    let id = e["swmon"]["run_id"].as_str().expect("run id").to_owned();
    // The state its dpkg runs wrote is a witness of apt's install.
    assert!(
        e["swmon"]["detected_by"]
            .as_array()
            .is_some_and(|d| d.iter().any(|w| w == "state")),
        "{e:#}"
    );
    // apt's dpkg runs name it as their parent.
    let nested: Vec<&Value> = events
        .iter()
        .filter(|x| x["swmon"]["parent_run_id"] == id.as_str())
        .collect();
    assert!(!nested.is_empty(), "{events:#?}");
    assert!(
        nested.iter().all(|x| x["swmon"]["manager"] == "dpkg"),
        "{nested:#?}"
    );
    // One install, apt's, whose changes list both packages with their
    // versions, each from the dpkg run that made it.
    let mut got: Vec<(String, String, String)> = e["swmon"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["name"] == TOP || c["name"] == DEP)
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_owned(),
                c["version"].as_str().unwrap_or("").to_owned(),
                c["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (DEP.to_owned(), "0.9-3".to_owned(), "install".to_owned()),
            (TOP.to_owned(), "1.2-1".to_owned(), "install".to_owned()),
        ],
        "{e:#}"
    );
    assert_eq!(all_state_only(&events), Vec::<Value>::new());
}

#[test]
fn ordinary_writes_are_no_install() {
    let tmp = TempDir::new("state-benign");
    let etc = PathBuf::from(format!("/etc/swmon-state-{}.conf", std::process::id()));
    let _gone = RemoveOnDrop(etc.clone());
    let m = Monitor::start(&[]);
    // A build's output in a `bin` folder, a tree of files, a source tree
    // with a setuptools `.egg-info` and a wheel build's `.dist-info`, a
    // tarball of it unpacked in /tmp, a file edited in /etc.
    let script = format!(
        "set -e; cd {dir}; mkdir -p build/bin src/pkg src/pkg.egg-info \
         build/bdist.linux-x86_64/wheel/pkg-1.0.dist-info; \
         for i in $(seq 50); do echo $i > src/pkg/f$i.py; done; \
         echo 'Name: pkg' > src/pkg.egg-info/PKG-INFO; \
         echo 'Name: pkg' > build/bdist.linux-x86_64/wheel/pkg-1.0.dist-info/METADATA; \
         printf '\\177ELF' > build/bin/tool; chmod +x build/bin/tool; \
         tar -cf t.tar src build; mkdir un; tar -xf t.tar -C un; \
         echo 'a = 1' > {etc}",
        dir = tmp.path().display(),
        etc = etc.display()
    );
    let (_, code) = run(Command::new("/bin/sh").arg("-c").arg(&script));
    assert_eq!(code, 0, "{script}");
    // A marker write that is state, after the benign ones: once its
    // event is out, everything before it has been through the pipeline.
    let marker_venv = venv_without_pip(tmp.path());
    let marker = site_packages(&marker_venv).join("marker-1.dist-info");
    let (marker_pid, code) = run(Command::new("/bin/sh").arg("-c").arg(format!(
        "mkdir -p {0} && echo 'Name: marker' > {0}/METADATA",
        marker.display()
    )));
    assert_eq!(code, 0, "marker");
    let _ = marker_pid;
    m.wait_for("the marker", Duration::from_secs(20), |e| {
        writes(e)
            .iter()
            .any(|(_, p)| p == &marker.display().to_string())
    });
    let events = m.stop();
    let found = all_state_only(&events);
    assert_eq!(found.len(), 1, "only the marker: {found:#?}");
    assert_eq!(
        writes(&found[0]),
        [("dist-info".to_owned(), marker.display().to_string())]
    );
}
