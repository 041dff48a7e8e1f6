//! `swmon classify` and local package identity, with the real binary on the
//! real kernel: what swmon makes of a command line without running it
//! (text and `--json`, exit codes, hostile bytes), and installs of local
//! package files whose names differ from the package inside (`dpkg -i`,
//! `rpm -i`, `pip install ./x.whl`, `npm install ./x.tgz`) reported with
//! the real name and version, what was typed kept as `swmon.requested`.
//! An installer's name among a script's arguments is no install.

use std::{
    fs,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use serde_json::{json, Value};
use tests::{action, build_deb, counters, one_run, run, runs_of, swmon_bin, Monitor, TempDir};

fn classify(args: &[&std::ffi::OsStr], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(swmon_bin());
    cmd.arg("classify").args(args);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    cmd.output().expect("swmon classify")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn words(line: &str) -> Vec<&std::ffi::OsStr> {
    line.split(' ').map(os).collect()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn classify_prints_text_and_json_and_says_when_nothing_installs() {
    // A path or a name, an interpreter running pip as a module.
    let out = classify(
        &words("-- /usr/bin/python3 -m pip install requests==2.31.0 flask"),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("manager:    pip (installer pip, via python -m)"),
        "{text}"
    );
    assert!(text.contains("operation:  install"), "{text}");
    assert!(text.contains("requests 2.31.0"), "{text}");
    assert!(text.contains("scope:      system"), "{text}");

    let out = classify(&words("--json -- npm i -g left-pad@1.3.0"), None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json_of(&out);
    assert_eq!(j["manager"], "npm");
    assert_eq!(j["operation"], "install");
    assert_eq!(
        j["packages"],
        json!([{"name": "left-pad", "version": "1.3.0"}])
    );
    assert_eq!(j["scope"], "global");

    // No installer runs: an installer's word among a script's arguments.
    for line in [
        "--json -- python3 tool.py npm install x",
        "--json -- node build.js pip install x",
        "--json -- ls -l",
    ] {
        let out = classify(&words(line), None);
        assert_eq!(out.status.code(), Some(3), "{line}: {out:?}");
        let j = json_of(&out);
        assert_eq!(j["manager"], Value::Null, "{line}: {j}");
        assert_eq!(j["packages"], json!([]), "{line}");
    }
    let out = classify(&words("-- python3 tool.py npm install x"), None);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("runs no installer"));

    // Hostile bytes: invalid UTF-8 and control characters come out escaped.
    let hostile = std::ffi::OsStr::from_bytes(b"evil\n\x1b[31m\xff");
    let out = classify(&[os("--"), os("apt-get"), os("install"), hostile], None);
    assert_eq!(out.status.code(), Some(0));
    let text = &out.stdout;
    assert!(!text.contains(&0x1b) && !text.contains(&0xff), "{text:?}");
    assert_eq!(text.iter().filter(|&&c| c == b'\n').count(), 4, "{text:?}");
    let out = classify(
        &[
            os("--json"),
            os("--"),
            os("apt-get"),
            os("install"),
            hostile,
        ],
        None,
    );
    let j = json_of(&out);
    assert_eq!(j["packages"][0]["name"], "evil\n\u{1b}[31m\\xff");
    assert_eq!(out.stdout.iter().filter(|&&c| c == b'\n').count(), 1);

    // A local file is read for its real name and version.
    let tmp = TempDir::new("classify-cli");
    build_deb(tmp.path(), "swmon-e2e-cli", "4.2-1", "other_1_all.deb");
    let out = classify(
        &words("--json -- dpkg -i ./other_1_all.deb"),
        Some(tmp.path()),
    );
    let j = json_of(&out);
    assert_eq!(
        j["packages"],
        json!([{"name": "swmon-e2e-cli", "version": "4.2-1"}]),
        "{j}"
    );
    assert_eq!(j["requested"], json!(["./other_1_all.deb"]));
}

struct DpkgGuard(&'static str);

impl Drop for DpkgGuard {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", self.0]).output();
    }
}

#[test]
fn dpkg_install_of_a_renamed_deb_reports_the_package_inside() {
    const PKG: &str = "swmon-e2e-alpha";
    let tmp = TempDir::new("classify-deb");
    build_deb(tmp.path(), PKG, "2.5-1", "zeta.deb");
    let _guard = DpkgGuard(PKG);

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("dpkg")
        .args(["-i", "zeta.deb"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "dpkg -i");
    m.wait_for("dpkg -i", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(e["swmon"]["manager"], "dpkg");
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": PKG, "version": "2.5-1"}]),
        "{e:#}"
    );
    assert_eq!(e["package"]["name"], PKG);
    assert_eq!(e["swmon"]["requested"], json!(["zeta.deb"]));
    assert_eq!(e["swmon"]["package_files"][0]["format"], "deb");
    assert_eq!(e["swmon"]["package_files"][0]["file"], "zeta.deb");
}

/// Builds an empty noarch rpm with `rpmbuild` and renames it `file`.
fn build_rpm(dir: &Path, name: &str, version: &str, release: &str, file: &str) -> PathBuf {
    let top = dir.join("rpmbuild");
    fs::create_dir_all(top.join("SPECS")).expect("mkdir");
    let spec = top.join("SPECS/e2e.spec");
    fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\nSummary: swmon e2e\n\
             License: MIT\nBuildArch: noarch\n\n%description\nswmon e2e\n\n%files\n"
        ),
    )
    .expect("spec");
    let out = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("_dbpath {}", dir.join("builddb").display()))
        .args(["--quiet", "-bb"])
        .arg(&spec)
        .output()
        .expect("rpmbuild");
    assert!(
        out.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = top.join(format!("RPMS/noarch/{name}-{version}-{release}.noarch.rpm"));
    let renamed = dir.join(file);
    fs::rename(&built, &renamed).expect("rename");
    renamed
}

#[test]
fn rpm_install_of_a_renamed_rpm_reports_the_package_inside() {
    let tmp = TempDir::new("classify-rpm");
    build_rpm(tmp.path(), "swmon-e2e-beta", "3.1", "2", "q.rpm");
    // A private database: nothing of the host's rpm state is touched.
    let db = tmp.path().join("db");
    fs::create_dir_all(&db).expect("mkdir");
    let dbpath = db.to_str().expect("utf-8");
    let out = Command::new("rpm")
        .args(["--initdb", "--dbpath", dbpath])
        .output()
        .expect("rpm --initdb");
    assert!(out.status.success(), "{out:?}");

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("rpm")
        .args(["-i", "--nodeps", "--dbpath", dbpath, "q.rpm"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "rpm -i");
    m.wait_for("rpm -i", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(e["swmon"]["manager"], "rpm");
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": "swmon-e2e-beta", "version": "3.1-2"}]),
        "{e:#}"
    );
    assert_eq!(e["swmon"]["requested"], json!(["q.rpm"]));
    // A database folder is no root: the files would go under /.
    assert_eq!(e["swmon"]["scope"], "system");
}

struct PipGuard;

impl Drop for PipGuard {
    fn drop(&mut self) {
        let _ = Command::new("/usr/bin/python3")
            .args([
                "-m",
                "pip",
                "uninstall",
                "-y",
                "--break-system-packages",
                "swmon-e2e-gamma",
            ])
            .output();
    }
}

/// Builds a pure wheel `{module}-{version}-py3-none-any.whl` in `dir`
/// whose METADATA names `name`.
fn build_wheel(dir: &Path, module: &str, name: &str, version: &str) -> PathBuf {
    let script = r#"
import zipfile, sys
folder, module, name, version = sys.argv[1:5]
path = f"{folder}/{module}-{version}-py3-none-any.whl"
info = f"{module}-{version}.dist-info"
files = {
    module + "/__init__.py": "",
    info + "/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(p + ",,\n" for p in files) + info + "/RECORD,,\n"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    for p, t in files.items():
        z.writestr(p, t)
    z.writestr(info + "/RECORD", record)
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .args([module, name, version])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{out:?}");
    dir.join(format!("{module}-{version}-py3-none-any.whl"))
}

#[test]
fn pip_install_of_a_wheel_reports_the_metadata_inside() {
    // pip refuses a wheel whose file name names another project or
    // version than its METADATA; it accepts one whose name is only
    // spelled differently (`swmon_e2e_gamma` for `swmon-e2e-gamma`). The
    // event reports the name as METADATA spells it and the version read
    // there, not what the file name says.
    let tmp = TempDir::new("classify-whl");
    build_wheel(tmp.path(), "swmon_e2e_gamma", "swmon-e2e-gamma", "0.7");
    let _guard = PipGuard;

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("/usr/bin/python3")
        .args([
            "-m",
            "pip",
            "install",
            "--no-index",
            "--break-system-packages",
            "./swmon_e2e_gamma-0.7-py3-none-any.whl",
        ])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "pip install ./x.whl");
    m.wait_for("pip install", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(e["swmon"]["via"], "python -m");
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": "swmon-e2e-gamma", "version": "0.7"}]),
        "{e:#}"
    );
    assert_eq!(
        e["swmon"]["requested"],
        json!(["./swmon_e2e_gamma-0.7-py3-none-any.whl"])
    );
}

#[test]
fn npm_install_of_a_renamed_tarball_reports_the_package_inside() {
    let tmp = TempDir::new("classify-npm");
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).expect("mkdir");
    fs::write(
        src.join("package.json"),
        r#"{"name":"swmon-e2e-delta","version":"5.6.7","main":"index.js"}"#,
    )
    .expect("write");
    fs::write(src.join("index.js"), "module.exports = 1;\n").expect("write");
    let out = Command::new("npm")
        .arg("pack")
        .current_dir(&src)
        .output()
        .expect("npm pack");
    assert!(out.status.success(), "{out:?}");
    let project = tmp.path().join("project");
    fs::create_dir_all(&project).expect("mkdir");
    fs::write(
        project.join("package.json"),
        r#"{"name":"p","version":"1.0.0"}"#,
    )
    .expect("write");
    fs::rename(
        src.join("swmon-e2e-delta-5.6.7.tgz"),
        project.join("zz-1.0.0.tgz"),
    )
    .expect("rename");

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("npm")
        .args([
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "./zz-1.0.0.tgz",
        ])
        .current_dir(&project));
    assert_eq!(code, 0, "npm install ./x.tgz");
    m.wait_for("npm install", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": "swmon-e2e-delta", "version": "5.6.7"}]),
        "{e:#}"
    );
    assert_eq!(e["swmon"]["requested"], json!(["./zz-1.0.0.tgz"]));
}

#[test]
fn an_installer_word_in_a_scripts_arguments_is_no_install() {
    let tmp = TempDir::new("classify-false");
    fs::write(tmp.path().join("tool.py"), "import sys\n").expect("write");
    let m = Monitor::start(&[]);
    let (tool, code) = run(Command::new("/usr/bin/python3")
        .args(["tool.py", "npm", "install", "x"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "python3 tool.py");
    // A real installer run after it: once its event is out, the script's
    // exec has been through the pipeline too (one facts stage, in order).
    let (marker, code) = run(Command::new("dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("dpkg --version", Duration::from_secs(10), |e| {
        e["process"]["pid"] == marker
    });
    let events = m.stop();
    assert!(
        runs_of(&events, tool).is_empty(),
        "python3 tool.py npm install x gave an event: {:#?}",
        runs_of(&events, tool)
    );
    // The kernel passed it (its argv scan saw `npm`); user space rejected it.
    let rejected = counters(&events)["rejected"].as_u64().unwrap_or(0);
    assert!(rejected >= 1, "rejected = {rejected}");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split(' ')
        .next()
        .expect("digest")
        .to_owned()
}

/// Root may read what nobody else can: a .deb in a folder no one may
/// search, installed by root, is read (as root) for its real name, and
/// what was read is identified (device, inode, size, SHA-256).
#[test]
fn a_deb_in_a_folder_nobody_can_search_installed_by_root_is_read() {
    use std::os::unix::fs::MetadataExt;
    const PKG: &str = "swmon-e2e-closed";
    let tmp = TempDir::new("classify-closed");
    let closed = tmp.path().join("closed");
    fs::create_dir(&closed).expect("mkdir");
    let deb = build_deb(tmp.path(), PKG, "1.2-3", "closed/zz_9_all.deb");
    let meta = fs::metadata(&deb).expect("stat");
    let digest = sha256_of(&deb);
    set_mode(&closed, 0o000);
    let _guard = DpkgGuard(PKG);

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("dpkg").arg("-i").arg(&deb).current_dir("/"));
    assert_eq!(code, 0, "dpkg -i");
    m.wait_for("dpkg -i", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    set_mode(&closed, 0o755);
    let e = one_run(&events, pid);
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": PKG, "version": "1.2-3"}]),
        "{e:#}"
    );
    let f = &e["swmon"]["package_files"][0];
    assert_eq!(f["ino"], meta.ino(), "{f}");
    assert_eq!(f["dev"], meta.dev(), "{f}");
    assert_eq!(f["size"], meta.len(), "{f}");
    assert_eq!(f["sha256"], digest.as_str(), "{f}");
}

/// A run of another user: its files are opened with its credentials.
/// One in a folder only root may search gives a flag and no name (the
/// user learns nothing it could not read itself); one it may read gives
/// the name inside.
#[test]
fn a_users_install_reads_only_what_that_user_could_read() {
    let tmp = TempDir::new("classify-user");
    let closed = tmp.path().join("closed");
    let open = tmp.path().join("open");
    fs::create_dir(&closed).expect("mkdir");
    fs::create_dir(&open).expect("mkdir");
    // Its file name says one thing, its METADATA another.
    let secret = build_wheel(&closed, "swmon_e2e_cover", "swmon-e2e-secret", "6.6");
    let public = build_wheel(&open, "swmon_e2e_public", "swmon-e2e-public", "0.1");
    set_mode(&secret, 0o644);
    set_mode(&public, 0o644);
    set_mode(&closed, 0o700);
    let target = tmp.path().join("target");

    let m = Monitor::start(&[]);
    // As nobody: pip fails on the file it cannot read; the exec is an
    // install all the same.
    let (pid, _code) = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([
            "/usr/bin/python3",
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
        ])
        .arg("--target")
        .arg(&target)
        .arg(&secret)
        .arg(&public)
        .env("HOME", tmp.path())
        .current_dir(tmp.path()));
    m.wait_for("pip install as nobody", Duration::from_secs(20), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(e["swmon"]["manager"], "pip", "{e:#}");
    let files = &e["swmon"]["package_files"];
    assert_eq!(files[0]["rejected"], "not-readable-by-user", "{files:#}");
    assert_eq!(files[0]["reason"], "the run's user could not read it");
    assert!(files[0].get("name").is_none() && files[0].get("ino").is_none());
    assert_eq!(files[1]["name"], "swmon-e2e-public", "{files:#}");
    assert_eq!(files[1]["version"], "0.1");
    // What was typed, not what the file holds.
    assert_eq!(
        e["swmon"]["packages"],
        json!([
            {"name": "swmon_e2e_cover", "version": "6.6"},
            {"name": "swmon-e2e-public", "version": "0.1"}
        ]),
        "{e:#}"
    );
    assert!(
        !e.to_string().contains("swmon-e2e-secret"),
        "the unreadable file's identity leaked: {e:#}"
    );
}

/// A process in a mount namespace of its own (a container's view): its
/// `/x/pkg.deb` is the one its namespace shows, not the host's file at
/// the same path.
#[test]
fn an_install_in_another_mount_namespace_reads_that_namespaces_file() {
    const PKG: &str = "swmon-e2e-inner";
    let tmp = TempDir::new("classify-ns");
    let host = tmp.path().join("host");
    let inner = tmp.path().join("inner");
    fs::create_dir(&host).expect("mkdir");
    fs::create_dir(&inner).expect("mkdir");
    build_deb(&host, "swmon-e2e-hostfile", "1.0", "pkg.deb");
    build_deb(&inner, PKG, "7.0-1", "pkg.deb");
    let _guard = DpkgGuard(PKG);

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$1\" \"$2\" && exec dpkg -i \"$2/pkg.deb\"")
        .arg("sh")
        .arg(&inner)
        .arg(&host)
        .current_dir("/"));
    assert_eq!(code, 0, "dpkg -i in a mount namespace");
    m.wait_for("dpkg -i", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": PKG, "version": "7.0-1"}]),
        "{e:#}"
    );
    let typed = format!("{}/pkg.deb", host.display());
    assert_eq!(e["swmon"]["requested"], json!([typed]));
}

/// `swmon classify` run by a user reads local files as that user: one in
/// a folder only root may search is flagged, never named.
#[test]
fn classify_as_a_user_reads_only_what_it_could_read() {
    let tmp = TempDir::new("classify-cli-user");
    let closed = tmp.path().join("closed");
    fs::create_dir(&closed).expect("mkdir");
    build_deb(&closed, "swmon-e2e-hidden", "1.0", "cover.deb");
    set_mode(&closed.join("cover.deb"), 0o644);
    set_mode(&closed, 0o700);
    let classify_as = |user: Option<&str>| {
        let mut cmd = match user {
            Some(id) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={id}"))
                    .arg(format!("--regid={id}"))
                    .args(["--clear-groups", "--"])
                    .arg(swmon_bin());
                c
            }
            None => Command::new(swmon_bin()),
        };
        let out = cmd
            .args(["classify", "--json", "--", "dpkg", "-i", "closed/cover.deb"])
            .current_dir(tmp.path())
            .output()
            .expect("swmon classify");
        json_of(&out)
    };
    let j = classify_as(Some("65534"));
    assert_eq!(j["packages"], json!([{"name": "closed/cover.deb"}]), "{j}");
    assert_eq!(j["package_files"][0]["rejected"], "not-readable-by-user");
    assert!(!j.to_string().contains("swmon-e2e-hidden"), "{j}");
    // Root may.
    let j = classify_as(None);
    assert_eq!(
        j["packages"],
        json!([{"name": "swmon-e2e-hidden", "version": "1.0"}]),
        "{j}"
    );
}

/// A FUSE mount nobody answers, in a mount namespace of one thread of this
/// test (the host never sees it), with `dpkg -i hung/p.deb` started from
/// that thread (so in that namespace). Every lookup in the mount blocks.
struct HungInstall {
    child: std::process::Child,
    /// The server's end: closing it aborts the connection.
    dev: Option<fs::File>,
    end: Option<std::sync::mpsc::Sender<()>>,
}

fn hung_install(dir: PathBuf) -> HungInstall {
    let (tx, rx) = std::sync::mpsc::channel();
    let (end, ended) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // SAFETY: integer argument; this thread's namespace only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0);
        let status = Command::new("mount")
            .args(["--make-rprivate", "/"])
            .status()
            .expect("mount");
        assert!(status.success());
        let target = dir.join("hung");
        fs::create_dir(&target).expect("mkdir");
        let dev = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .expect("/dev/fuse");
        let data = std::ffi::CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0",
            dev.as_raw_fd()
        ))
        .expect("cstring");
        let target_c = std::ffi::CString::new(target.as_os_str().as_bytes()).expect("cstring");
        // SAFETY: every pointer is a NUL-terminated string that outlives
        // the call.
        let r = unsafe {
            libc::mount(
                c"swmon-test".as_ptr(),
                target_c.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "mount fuse: {}", std::io::Error::last_os_error());
        let child = Command::new("dpkg")
            .args(["-i", "hung/p.deb"])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dpkg");
        tx.send(HungInstall {
            child,
            dev: Some(dev),
            end: Some(end),
        })
        .expect("send");
        // The namespace's last task: its mounts go when it ends.
        let _ = ended.recv();
    });
    rx.recv().expect("the namespace thread")
}

impl Drop for HungInstall {
    fn drop(&mut self) {
        let _ = self.child.kill();
        self.dev.take();
        let _ = self.child.wait();
        self.end.take();
    }
}

/// A read that would block for ever (a hung FUSE or NFS server) is given
/// up at the deadline: counted and alerted, the file flagged, and the
/// facts stage goes on with the next exec meanwhile.
#[test]
fn a_read_stuck_on_a_hung_file_system_is_given_up_and_alerted() {
    let tmp = TempDir::new("classify-hung");
    let m = Monitor::start(&[]);
    let mut hung = hung_install(tmp.path().to_path_buf());
    let pid = hung.child.id();
    let alert = m.wait_for("package_file_stuck alert", Duration::from_secs(30), |e| {
        action(e) == "events-lost" && e["swmon"]["lost"]["counter"] == "package_file_stuck"
    });
    assert_eq!(alert["swmon"]["lost"]["stage"], "facts", "{alert:#}");
    // Still hung: the next install's exec goes through.
    assert!(hung.child.try_wait().expect("try_wait").is_none());
    let (marker, code) = run(Command::new("dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("dpkg --version", Duration::from_secs(10), |e| {
        e["process"]["pid"] == marker
    });
    assert!(hung.child.try_wait().expect("try_wait").is_none());
    // The connection aborted: dpkg's lookup, which waits (uninterruptibly)
    // on the stuck worker's lookup of the same name, fails, and dpkg ends.
    hung.child.kill().expect("kill");
    hung.dev.take();
    hung.child.wait().expect("wait");
    m.wait_for("the hung dpkg -i", Duration::from_secs(10), |e| {
        e["process"]["pid"] == pid
    });
    drop(hung);
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(
        e["swmon"]["package_files"][0]["rejected"], "timed-out",
        "{e:#}"
    );
    assert!(counters(&events)["package_file_stuck"].as_u64() >= Some(1));
}
