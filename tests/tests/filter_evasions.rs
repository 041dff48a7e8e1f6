//! The interpreter evasions of the exec filter (issue 10), end to end: the
//! real binary on the real kernel, real offline installs of a wheel and an
//! npm tarball this test builds. Each way of making an interpreter run an
//! installer gives one install event with the manager, the package's real
//! name and version read from the local file, how it was reached
//! (`swmon.via`) and which kernel rule passed it (`swmon.filter`); an
//! installer's word in another program's arguments, or in code that does
//! not load an installer, gives none.
//!
//! pip installs go to a `--target` folder per case (nothing lands in the
//! system's site-packages); npm installs into a project folder per case.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::{action, build_wheel, counters, one_run, run, runs_of, Monitor, TempDir};

const PYTHON: &str = "/usr/bin/python3";
const PIP_SCRIPT: &str = "/usr/bin/pip3";
const NPM_TREE: &str = "/usr/lib/node_modules/npm";
const WHEEL_PKG: &str = "swmon-evasion-wheel";
const WHEEL_VERSION: &str = "2.5";
const NPM_PKG: &str = "swmon-evasion-npm";
const NPM_VERSION: &str = "3.1.4";

/// Packs an npm tarball whose file name is not its package's.
fn build_tarball(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(&src).expect("mkdir");
    fs::write(
        src.join("package.json"),
        format!(r#"{{"name":"{NPM_PKG}","version":"{NPM_VERSION}","main":"index.js"}}"#),
    )
    .expect("write");
    fs::write(src.join("index.js"), "module.exports = 1;\n").expect("write");
    let out = Command::new("npm")
        .args(["pack", "-q"])
        .current_dir(&src)
        .output()
        .expect("npm pack");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packed = src.join(format!("{NPM_PKG}-{NPM_VERSION}.tgz"));
    let renamed = dir.join("bundle.tgz");
    fs::rename(&packed, &renamed).expect("rename");
    renamed
}

fn package(e: &Value) -> (String, String) {
    (
        e["package"]["name"].as_str().unwrap_or("").to_owned(),
        e["package"]["version"].as_str().unwrap_or("").to_owned(),
    )
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

/// A script in npm's own install tree that runs its cli, as any file of
/// the tree can; removed when dropped.
struct TreeScript(PathBuf);

impl TreeScript {
    fn new() -> TreeScript {
        let p = Path::new(NPM_TREE)
            .join("lib")
            .join(format!("swmon-evasion-{}.js", std::process::id()));
        fs::write(&p, "require('./cli.js')(process)\n").expect("write into npm's tree");
        TreeScript(p)
    }
}

impl Drop for TreeScript {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// One case: what it is, its pid and exit code, and what the event must say.
struct Case {
    what: &'static str,
    pid: u32,
    code: i32,
    manager: &'static str,
    via: &'static str,
    rule: &'static str,
}

#[test]
fn interpreter_evasions_are_caught_with_the_real_package() {
    assert!(
        Path::new(NPM_TREE).is_dir(),
        "npm is installed in {NPM_TREE}"
    );
    let tmp = TempDir::new("evasions");
    let wheel = build_wheel(PYTHON, tmp.path(), WHEEL_PKG, WHEEL_VERSION);
    let wheel_name = wheel
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    let tgz = build_tarball(tmp.path());
    let tree = TreeScript::new();
    let n = std::cell::Cell::new(0);
    // A fresh --target folder per pip case, the wheel given as `./NAME`.
    let target = || {
        n.set(n.get() + 1);
        let t = tmp.path().join(format!("t{}", n.get()));
        t.to_str().expect("utf-8").to_owned()
    };
    let pip_args = |t: String| -> Vec<String> {
        vec![
            "install".into(),
            "-q".into(),
            "--break-system-packages".into(),
            "--no-index".into(),
            "--target".into(),
            t,
            format!("./{wheel_name}"),
        ]
    };
    // A project folder per npm case.
    let project = || {
        n.set(n.get() + 1);
        let p = tmp.path().join(format!("p{}", n.get()));
        fs::create_dir_all(&p).expect("mkdir");
        fs::write(p.join("package.json"), r#"{"name":"p","version":"1.0.0"}"#).expect("write");
        p
    };
    let npm_args = ["install", "--offline", "--no-audit", "--no-fund"];
    let long_w = format!("ignore:{}", "x".repeat(700));
    let dir = tmp.path();
    let py = |args: Vec<String>| {
        let (pid, code) = run(Command::new(PYTHON).args(args).current_dir(dir));
        (pid, code)
    };

    let m = Monitor::start(&[]);
    let mut cases = Vec::new();
    let mut pip_case = |what, args: Vec<String>, via, rule| {
        let (pid, code) = py(args);
        cases.push(Case {
            what,
            pid,
            code,
            manager: "pip",
            via,
            rule,
        });
    };
    let with = |head: &[&str], t: String| -> Vec<String> {
        head.iter()
            .map(|s| (*s).to_owned())
            .chain(pip_args(t))
            .collect()
    };
    pip_case(
        "-mpip",
        with(&["-mpip"], target()),
        "python -m",
        "interpreter-module",
    );
    pip_case(
        "-Impip",
        with(&["-Impip"], target()),
        "python -m",
        "interpreter-module",
    );
    pip_case(
        "-Im pip",
        with(&["-Im", "pip"], target()),
        "python -m",
        "interpreter-arg",
    );
    pip_case(
        "-I -m pip",
        with(&["-I", "-m", "pip"], target()),
        "python -m",
        "interpreter-arg",
    );
    pip_case(
        "-m pip past 512 bytes",
        with(&["-W", &long_w, "-m", "pip"], target()),
        "python -m",
        "interpreter-arg",
    );
    pip_case(
        "-mpip past 512 bytes, glued",
        with(&[&format!("-W{long_w}"), "-mpip"], target()),
        "python -m",
        "interpreter-module",
    );
    pip_case(
        "-m pip.__main__",
        with(&["-m", "pip.__main__"], target()),
        "python -m",
        "interpreter-arg",
    );
    pip_case(
        "-c runpy.run_module",
        with(
            &[
                "-c",
                "import runpy; runpy.run_module(\"pip\", run_name=\"__main__\")",
            ],
            target(),
        ),
        "inline-code",
        "interpreter-code",
    );
    let list = pip_args(target())
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    pip_case(
        "-c pip._internal main([...])",
        vec![
            "-c".into(),
            format!("from pip._internal.cli.main import main; raise SystemExit(main([{list}]))"),
        ],
        "inline-code",
        "interpreter-code",
    );
    let (stdin_pid, stdin_code) = {
        let t = target();
        let mut cmd = Command::new(PYTHON);
        cmd.arg("-")
            .args(pip_args(t))
            .current_dir(dir)
            .stdin(Stdio::from(fs::File::open(PIP_SCRIPT).expect("pip3")));
        run(&mut cmd)
    };
    cases.push(Case {
        what: "python3 - < /usr/bin/pip3",
        pid: stdin_pid,
        code: stdin_code,
        manager: "pip",
        via: "stdin-script",
        rule: "interpreter-stdin",
    });
    let mut npm_case = |what, head: Vec<String>, via, rule| {
        let p = project();
        let (pid, code) = run(Command::new("node")
            .args(head)
            .args(npm_args)
            .arg(&tgz)
            .current_dir(&p));
        cases.push(Case {
            what,
            pid,
            code,
            manager: "npm",
            via,
            rule,
        });
    };
    npm_case(
        "node npm/index.js",
        vec![format!("{NPM_TREE}/index.js")],
        "interpreter-script",
        "interpreter-folder",
    );
    npm_case(
        "node a file in npm's tree",
        vec![tree.0.to_str().expect("utf-8").to_owned()],
        "interpreter-script",
        "interpreter-folder",
    );
    npm_case(
        "node -e require(npm's cli)",
        vec![
            "-e".into(),
            format!("require('{NPM_TREE}/lib/cli.js')(process)"),
            "npm".into(),
        ],
        "inline-code",
        // The path in the code names npm's folder: the folder rule passes
        // it before the code needle.
        "interpreter-folder",
    );
    npm_case(
        "node --eval= require(npm's cli)",
        vec![
            format!("--eval=require(\"{NPM_TREE}/lib/cli.js\")(process)"),
            "npm".into(),
        ],
        "inline-code",
        "interpreter-folder",
    );

    // Not installs: an installer's word in another program's arguments, or
    // in code that loads no installer. The kernel may pass them; user space
    // rejects them (counted), and no event is written.
    fs::write(dir.join("tool.py"), "import sys\n").expect("write");
    fs::create_dir_all(dir.join("npm")).expect("mkdir");
    fs::write(dir.join("npm/tool.js"), "\n").expect("write");
    let negatives = [
        py(vec![
            "tool.py".into(),
            "npm".into(),
            "install".into(),
            "x".into(),
        ])
        .0,
        py(vec!["-c".into(), "pass".into()]).0,
        py(vec!["-c".into(), "print(\"pip\")".into()]).0,
        py(vec!["-c".into(), "import pipeline".into()]).0,
        run(Command::new("node").args(["-e", "console.log('npm install x')"])).0,
        run(Command::new("node")
            .arg(dir.join("npm/tool.js"))
            .args(["install", "x"]))
        .0,
    ];
    let last = cases.last().expect("cases").pid;
    m.wait_for("the last case", Duration::from_secs(10), |e| {
        e["process"]["pid"] == last
    });
    let events = m.stop();

    for c in &cases {
        assert_eq!(c.code, 0, "{}: the install itself failed", c.what);
        let e = one_run(&events, c.pid);
        assert_eq!(action(&e), "package-install", "{}: {e:#}", c.what);
        assert_eq!(e["swmon"]["manager"], c.manager, "{}: {e:#}", c.what);
        assert_eq!(e["swmon"]["via"], c.via, "{}: {e:#}", c.what);
        assert!(
            filter(&e).iter().any(|r| r == c.rule),
            "{}: want rule {} in {:?}",
            c.what,
            c.rule,
            filter(&e)
        );
        let want = if c.manager == "pip" {
            (WHEEL_PKG, WHEEL_VERSION)
        } else {
            (NPM_PKG, NPM_VERSION)
        };
        assert_eq!(
            package(&e),
            (want.0.to_owned(), want.1.to_owned()),
            "{}: the package read from the local file: {e:#}",
            c.what
        );
    }
    for pid in negatives {
        assert!(
            runs_of(&events, pid).is_empty(),
            "no event for a run that installs nothing (pid {pid}): {:#?}",
            runs_of(&events, pid)
        );
    }
    // The kernel passed at least the word-carrying negatives; user space
    // rejected each one, counted.
    let c = counters(&events);
    assert!(c["rejected"].as_u64().expect("rejected") >= 4, "{c}");
}

/// `python -m ensurepip` runs pip in a child python as inline code
/// (`sys.argv[1:] = [...]; runpy.run_module("pip")`): the parent is a pip
/// run (ensurepip's own arguments), the child a pip install of the bundled
/// packages, named from the code's list. Debian's python disables
/// ensurepip; pyenv's (installed here for the scenario corpus) has it.
#[test]
fn ensurepip_and_its_inner_pip_install_are_pip_runs() {
    let python = Path::new("/root/.pyenv/versions/3.11.7/bin/python3");
    assert!(python.exists(), "pyenv's python 3.11.7 is installed");
    let tmp = TempDir::new("ensurepip");
    let root = tmp.path().join("root");
    let m = Monitor::start(&[]);
    let (parent, code) = run(Command::new(python)
        .args(["-m", "ensurepip", "--root"])
        .arg(&root));
    assert_eq!(code, 0, "ensurepip");
    let child = m.wait_for("ensurepip's pip", Duration::from_secs(10), |e| {
        e["process"]["parent"]["pid"] == parent && e["swmon"]["via"] == "inline-code"
    });
    m.wait_for("ensurepip", Duration::from_secs(10), |e| {
        e["process"]["pid"] == parent
    });
    let events = m.stop();
    let e = one_run(&events, parent);
    assert_eq!(e["swmon"]["manager"], "pip", "{e:#}");
    assert_eq!(e["swmon"]["via"], "python -m", "{e:#}");
    // `-m ensurepip` names no installer: the kernel passed it on the
    // code needle.
    assert!(filter(&e).iter().any(|r| r == "interpreter-code"), "{e:#}");
    let child_pid = child["process"]["pid"].as_u64().expect("pid") as u32;
    let e = one_run(&events, child_pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(e["swmon"]["manager"], "pip");
    let names: Vec<&str> = e["swmon"]["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"pip"), "{e:#}");
}
