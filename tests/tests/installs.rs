//! Real installs, offline, of packages each test builds itself (a wheel, an
//! npm tarball, a crate), watched by the real monitor: what a user reads
//! about each run (manager, operation, packages, scope, via). Each test
//! removes what it installed, however it ends.

use std::{fs, path::Path, process::Command, time::Duration};

use serde_json::Value;
use tests::{action, build_wheel, one_run, run, runs_of, Monitor, TempDir};

const PYTHON: &str = "/usr/bin/python3";
const WHEEL_PKG: &str = "swmon-e2e-wheel";

fn package_names(e: &Value) -> Vec<String> {
    e["swmon"]["packages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["name"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

struct PipGuard;

impl Drop for PipGuard {
    fn drop(&mut self) {
        let _ = Command::new(PYTHON)
            .args([
                "-m",
                "pip",
                "uninstall",
                "-y",
                "--break-system-packages",
                WHEEL_PKG,
            ])
            .output();
    }
}

#[test]
fn pip_installs_system_module_and_venv() {
    let tmp = TempDir::new("pip");
    let wheels = tmp.path().join("wheels");
    fs::create_dir_all(&wheels).expect("mkdir");
    build_wheel(PYTHON, &wheels, WHEEL_PKG, "1.0");
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
    let _guard = PipGuard;
    let find = [
        "--no-index",
        "--find-links",
        wheels.to_str().expect("utf-8"),
    ];

    let m = Monitor::start(&[]);
    let (pip3, code) = run(Command::new("/usr/bin/pip3")
        .args(["install", "--break-system-packages"])
        .args(find)
        .arg(WHEEL_PKG));
    assert_eq!(code, 0, "pip3 install");
    let (uninstall, code) = run(Command::new(PYTHON).args([
        "-m",
        "pip",
        "uninstall",
        "-y",
        "--break-system-packages",
        WHEEL_PKG,
    ]));
    assert_eq!(code, 0, "pip uninstall");
    let (module, code) = run(Command::new(PYTHON)
        .args(["-m", "pip", "install", "--break-system-packages"])
        .args(find)
        .arg(format!("{WHEEL_PKG}==1.0")));
    assert_eq!(code, 0, "python -m pip install");
    let (in_venv, code) = run(Command::new(venv.join("bin/pip"))
        .arg("install")
        .args(find)
        .arg(WHEEL_PKG));
    assert_eq!(code, 0, "venv pip install");
    m.wait_for("venv pip", Duration::from_secs(10), |e| {
        e["process"]["pid"] == in_venv
    });
    let events = m.stop();

    let e = one_run(&events, pip3);
    assert_eq!(action(&e), "package-install");
    assert_eq!(
        (e["swmon"]["manager"].as_str(), e["swmon"]["via"].as_str()),
        (Some("pip"), Some("direct"))
    );
    assert_eq!(package_names(&e), [WHEEL_PKG]);
    assert_eq!(e["swmon"]["scope"], "system");
    assert_eq!(e["process"]["exit_code"], 0);

    let e = one_run(&events, uninstall);
    assert_eq!(action(&e), "package-remove");
    assert_eq!(e["swmon"]["via"], "python -m");

    let e = one_run(&events, module);
    assert_eq!(action(&e), "package-install");
    assert_eq!(e["swmon"]["via"], "python -m");
    assert_eq!(e["package"]["name"], WHEEL_PKG);
    assert_eq!(e["package"]["version"], "1.0");

    let e = one_run(&events, in_venv);
    assert_eq!(action(&e), "package-install");
    assert_eq!(
        e["swmon"]["scope"],
        format!("venv:{}", venv.display()),
        "{e:#}"
    );
}

fn npm_cli() -> &'static str {
    [
        "/usr/lib/node_modules/npm/bin/npm-cli.js",
        "/usr/share/nodejs/npm/bin/npm-cli.js",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("npm is installed")
}

struct NpmGlobalGuard;

impl Drop for NpmGlobalGuard {
    fn drop(&mut self) {
        let _ = Command::new("npm")
            .args(["uninstall", "-g", "swmon-e2e-npm"])
            .output();
    }
}

#[test]
fn npm_installs_a_packed_tarball_locally_and_globally() {
    let tmp = TempDir::new("npm");
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).expect("mkdir");
    fs::write(
        src.join("package.json"),
        r#"{"name":"swmon-e2e-npm","version":"1.0.0","main":"index.js"}"#,
    )
    .expect("write");
    fs::write(src.join("index.js"), "module.exports = 1;\n").expect("write");
    let out = Command::new("npm")
        .arg("pack")
        .current_dir(&src)
        .output()
        .expect("npm pack");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tgz = src.join("swmon-e2e-npm-1.0.0.tgz");
    assert!(tgz.exists());
    let project = tmp.path().join("project");
    fs::create_dir_all(&project).expect("mkdir");
    fs::write(
        project.join("package.json"),
        r#"{"name":"p","version":"1.0.0"}"#,
    )
    .expect("write");
    let _guard = NpmGlobalGuard;
    let quiet = ["--offline", "--no-audit", "--no-fund"];

    let m = Monitor::start(&[]);
    let (local, code) = run(Command::new("npm")
        .arg("install")
        .args(quiet)
        .arg(&tgz)
        .current_dir(&project));
    assert_eq!(code, 0, "npm install");
    let (global, code) = run(Command::new("node")
        .arg(npm_cli())
        .args(["install", "-g"])
        .args(quiet)
        .arg(&tgz));
    assert_eq!(code, 0, "npm install -g");
    m.wait_for("npm -g", Duration::from_secs(10), |e| {
        e["process"]["pid"] == global
    });
    let events = m.stop();

    let e = one_run(&events, local);
    assert_eq!(action(&e), "package-install");
    assert_eq!(e["swmon"]["manager"], "npm");
    assert_eq!(
        e["process"]["executable"], "/usr/bin/node",
        "npm runs as node: {e:#}"
    );
    assert_eq!(
        e["swmon"]["scope"],
        format!("project:{}", project.display())
    );
    // The tarball's file name says which package and version it holds.
    assert_eq!(e["package"]["name"], "swmon-e2e-npm", "{e:#}");
    assert_eq!(e["package"]["version"], "1.0.0", "{e:#}");

    let e = one_run(&events, global);
    assert_eq!(action(&e), "package-install");
    assert_eq!(e["swmon"]["via"], "interpreter-script");
    assert_eq!(e["swmon"]["scope"], "global");
}

#[test]
fn cargo_install_of_a_local_crate() {
    let tmp = TempDir::new("cargo");
    let krate = tmp.path().join("swmon-e2e-crate");
    fs::create_dir_all(krate.join("src")).expect("mkdir");
    fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"swmon-e2e-crate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("write");
    fs::write(krate.join("src/main.rs"), "fn main() {}\n").expect("write");
    let root = tmp.path().join("root");
    let target = tmp.path().join("target");

    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new("cargo")
        .args(["install", "--offline", "--path"])
        .arg(&krate)
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", &target));
    assert_eq!(code, 0, "cargo install");
    assert!(root.join("bin/swmon-e2e-crate").exists());
    m.wait_for("cargo install", Duration::from_secs(10), |e| {
        e["swmon"]["manager"] == "cargo" && e["swmon"]["operation"] == "install"
    });
    let events = m.stop();
    // `cargo` is a rustup proxy: the proxy (pid) execs the toolchain's cargo
    // in the same process, so the run is the proxy's pid.
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install");
    assert_eq!(
        e["swmon"]["scope"],
        format!("root:{}", root.display()),
        "{e:#}"
    );
    assert!(package_names(&e)[0].ends_with("swmon-e2e-crate"), "{e:#}");
}

#[test]
fn a_benign_workload_yields_no_install_events() {
    let m = Monitor::start(&[]);
    let mut benign = Vec::new();
    for _ in 0..1000 {
        benign.push(run(&mut Command::new("/bin/true")).0);
    }
    let (version, _) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    let (listing, _) = run(Command::new(PYTHON).args(["-m", "pip", "list"]));
    let (status, _) = run(Command::new("/usr/bin/dpkg").args(["-s", "dpkg"]));
    m.wait_for("dpkg -s", Duration::from_secs(10), |e| {
        e["process"]["pid"] == status
    });
    let events = m.stop();
    let ours = |e: &&Value| e["process"]["parent"]["pid"] == std::process::id();
    assert!(
        !events
            .iter()
            .filter(ours)
            .any(|e| action(e).starts_with("package-")),
        "an install event from a benign workload: {events:#?}"
    );
    for pid in benign {
        assert!(runs_of(&events, pid).is_empty());
    }
    for pid in [version, listing, status] {
        let e = one_run(&events, pid);
        assert_eq!(action(&e), "installer-exec");
        assert_eq!(e["swmon"]["operation"], "query", "{e:#}");
    }
}
