//! The module-load witness end to end: the real binary on the real kernel,
//! real offline installs of a wheel and an npm tarball this test builds.
//! Interpreter runs of an installer that the exec filter cannot see (a
//! copy of the pip script, a module name built at run time, pip's own
//! folder run from inside it or through a symbolic link, a copy of pip3
//! read as `/proc/self/fd/0`, npm's cli preloaded by node) each give one
//! install event with the package's real name and version, `swmon.via:
//! module-load` and `module-load` in `swmon.filter`, because the
//! interpreter opened the installer's entry module. An interpreter that
//! loads no installer gives none, and a plain `pip3 install` (which opens
//! the same module) still gives exactly one event. A child forked from an
//! interpreter (`os.fork()`, multiprocessing) that runs pip with no exec
//! is its own run, its reading uncertain (its argv is its parent's).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use tests::{action, build_wheel, counters, one_run, run, runs_of, Monitor, TempDir};

const PYTHON: &str = "/usr/bin/python3";
const PIP_SCRIPT: &str = "/usr/bin/pip3";
const PIP_FOLDER: &str = "/usr/lib/python3/dist-packages/pip";
const NPM_CLI: &str = "/usr/lib/node_modules/npm/bin/npm-cli.js";
const WHEEL_PKG: &str = "swmon-modload-wheel";
const WHEEL_VERSION: &str = "4.2";
const NPM_PKG: &str = "swmon-modload-npm";
const NPM_VERSION: &str = "1.6.0";

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

/// Packs an npm tarball of [`NPM_PKG`] into `dir`.
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
    let moved = dir.join("bundle.tgz");
    fs::rename(&packed, &moved).expect("rename");
    moved
}

/// One case: what it is, its pid and exit code, what the event must say.
struct Case {
    what: &'static str,
    pid: u32,
    code: i32,
    manager: &'static str,
    /// `swmon.reading` must be `uncertain` (the installer's arguments are
    /// a guess) or absent.
    uncertain: bool,
    /// `swmon.via`: `module-load`, unless the exec filter already read the
    /// installer from argv (the module load then joins that run).
    via: &'static str,
}

#[test]
fn installer_code_loaded_by_an_interpreter_is_caught() {
    assert!(Path::new(PIP_FOLDER).is_dir(), "Debian's pip is installed");
    let tmp = TempDir::new("modload");
    let dir = tmp.path();
    let wheel = build_wheel(PYTHON, dir, WHEEL_PKG, WHEEL_VERSION);
    let wheel = wheel.to_str().expect("utf-8").to_owned();
    let helper = dir.join("helper");
    fs::copy(PIP_SCRIPT, &helper).expect("copy pip3");
    let n = std::cell::Cell::new(0);
    // pip's arguments with a fresh --target folder per case.
    let pip_args = || -> Vec<String> {
        n.set(n.get() + 1);
        let t = dir.join(format!("t{}", n.get()));
        [
            "install",
            "-q",
            "--break-system-packages",
            "--no-index",
            "--target",
            t.to_str().expect("utf-8"),
            &wheel,
        ]
        .map(str::to_owned)
        .to_vec()
    };

    let m = Monitor::start(&[]);
    let mut cases = Vec::new();
    let mut case = |what, cmd: &mut Command, manager, uncertain, via| {
        let (pid, code) = run(cmd);
        cases.push(Case {
            what,
            pid,
            code,
            manager,
            uncertain,
            via,
        });
    };
    // The issue's must-catch case: a copy of the pip script under another
    // name, run by the interpreter (its argv names no installer).
    case(
        "python3 ./helper install",
        Command::new(PYTHON)
            .arg("./helper")
            .args(pip_args())
            .current_dir(dir),
        "pip",
        false,
        "module-load",
    );
    // The module's name built at run time: no code needle in argv.
    case(
        "python3 -c exec(\"import p\"+\"ip...\")",
        Command::new(PYTHON)
            .arg("-c")
            .arg("exec(\"import p\"+\"ip._internal.cli.main as m, sys; sys.exit(m.main())\")")
            .args(pip_args())
            .current_dir(dir),
        "pip",
        true,
        "module-load",
    );
    // pip's own folder run from inside it.
    case(
        "cd pip && python3 . install",
        Command::new(PYTHON)
            .arg(".")
            .args(pip_args())
            .current_dir(PIP_FOLDER),
        "pip",
        false,
        "module-load",
    );
    // pip's folder through a symbolic link of another name.
    std::os::unix::fs::symlink(PIP_FOLDER, dir.join("q")).expect("symlink");
    case(
        "python3 ./q install (a link to pip's folder)",
        Command::new(PYTHON)
            .arg("./q")
            .args(pip_args())
            .current_dir(dir),
        "pip",
        false,
        "module-load",
    );
    // The copy of pip3 as standard input, named by /proc/self/fd/0 (fd 0
    // is no installer's file, so the exec filter cannot see it).
    case(
        "python3 /proc/self/fd/0 install < copy of pip3",
        Command::new(PYTHON)
            .arg("/proc/self/fd/0")
            .args(pip_args())
            .current_dir(dir)
            .stdin(fs::File::open(&helper).expect("helper")),
        "pip",
        false,
        "module-load",
    );
    // npm's cli preloaded (`-r`, and through NODE_OPTIONS, which argv
    // does not show), running a script of the user's.
    let npm = Path::new(NPM_CLI).exists();
    let tgz = npm.then(|| build_tarball(dir));
    let project = |name: &str| {
        let p = dir.join(name);
        fs::create_dir_all(&p).expect("mkdir");
        fs::write(p.join("package.json"), r#"{"name":"p","version":"1.0.0"}"#).expect("write");
        fs::write(p.join("x.js"), "\n").expect("write");
        p
    };
    if let Some(tgz) = &tgz {
        let npm_args = ["install", "--offline", "--no-audit", "--no-fund"];
        case(
            "node -r npm-cli.js x.js install",
            Command::new("node")
                .args(["-r", NPM_CLI, "x.js"])
                .args(npm_args)
                .arg(tgz)
                .current_dir(project("p1")),
            "npm",
            false,
            // classify reads a preload from argv, so the kernel's argv scan
            // (npm's folder) passes this exec and the module load joins it.
            "interpreter-preload",
        );
        case(
            "NODE_OPTIONS=--require=npm-cli.js node x.js install",
            Command::new("node")
                .env("NODE_OPTIONS", format!("--require={NPM_CLI}"))
                .arg("x.js")
                .args(npm_args)
                .arg(tgz)
                .current_dir(project("p2")),
            "npm",
            false,
            "module-load",
        );
    } else {
        // `cargo xtask test` installs node and npm: a host without them
        // must not pass this test by checking less.
        panic!("npm is not installed at {NPM_CLI}: the npm cases cannot run");
    }

    // A plain install: the exec filter's run, which also opens pip's entry
    // module; joined to it, never a second run.
    let (plain_pid, plain_code) = run(Command::new(PIP_SCRIPT).args(pip_args()).current_dir(dir));
    // Interpreters that load no installer.
    fs::write(dir.join("tool.py"), "import json, email.parser\n").expect("write");
    let negatives = [
        run(Command::new(PYTHON).args(["-c", "import json"])).0,
        run(Command::new(PYTHON).arg("tool.py").current_dir(dir)).0,
        // pip's files read as data by a program that is no interpreter.
        run(Command::new("cat").arg(format!("{PIP_FOLDER}/_internal/cli/main.py"))).0,
    ];
    for pid in cases.iter().map(|c| c.pid).chain([plain_pid]) {
        m.wait_for("each run's event", Duration::from_secs(30), |e| {
            e["process"]["pid"] == pid
        });
    }
    let events = m.stop();

    for c in &cases {
        assert_eq!(c.code, 0, "{}: the install itself failed", c.what);
        let e = one_run(&events, c.pid);
        assert_eq!(action(&e), "package-install", "{}: {e:#}", c.what);
        assert_eq!(e["swmon"]["manager"], c.manager, "{}: {e:#}", c.what);
        assert_eq!(e["swmon"]["operation"], "install", "{}: {e:#}", c.what);
        assert_eq!(e["swmon"]["via"], c.via, "{}: {e:#}", c.what);
        assert!(
            c.via != "module-load" || filter(&e).iter().any(|r| r == "module-load"),
            "{}: {:?}",
            c.what,
            filter(&e)
        );
        let reading = e["swmon"]["reading"].as_str();
        assert_eq!(
            reading == Some("uncertain"),
            c.uncertain,
            "{}: reading {reading:?}",
            c.what
        );
        // No audit rule watches the interpreter: the run slipped past
        // the audit trail.
        assert_eq!(e["swmon"]["verdict"], "ebpf_only", "{}: {e:#}", c.what);
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
    assert_eq!(plain_code, 0, "the plain pip install failed");
    let plain = runs_of(&events, plain_pid);
    assert_eq!(
        plain.len(),
        1,
        "one event for a plain pip3 install: {plain:#?}"
    );
    assert_ne!(plain[0]["swmon"]["via"], "module-load", "{:#}", plain[0]);
    assert_eq!(action(&plain[0]), "package-install", "{:#}", plain[0]);
    for pid in negatives {
        assert!(
            runs_of(&events, pid).is_empty(),
            "no event for a process that runs no installer (pid {pid}): {:#?}",
            runs_of(&events, pid)
        );
    }
    let c = counters(&events);
    assert!(
        c["module_loads_joined"]
            .as_u64()
            .expect("module_loads_joined")
            >= 1,
        "the plain install's module load joined its run: {c}"
    );
}

/// The forking script of [`forked_interpreter_children_are_watched`]: the
/// parent forks (`os.fork()`, or multiprocessing's `fork` start method),
/// writes the child's pid to `SWMON_PIDFILE` and exits with the child's
/// code; the child runs no exec. `SWMON_CHILD`: `argv` runs pip with the
/// parent's own arguments, `set` with `SWMON_PIP_ARGS` (a JSON list the
/// command line does not show), `none` imports modules that are no
/// installer's.
const FORK_SCRIPT: &str = r#"
import json, os, runpy, sys

def child():
    what = os.environ["SWMON_CHILD"]
    if what == "none":
        import email.parser, http.client
        return 0
    if what == "set":
        sys.argv = ["x"] + json.loads(os.environ["SWMON_PIP_ARGS"])
    else:
        sys.argv = ["x"] + sys.argv[1:]
    try:
        runpy.run_module("p" + "ip", run_name="__main__")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0

def target():
    sys.stdout.flush()
    os._exit(child())

if __name__ == "__main__":
    pidfile = os.environ["SWMON_PIDFILE"]
    if os.environ["SWMON_MODE"] == "mp":
        import multiprocessing
        p = multiprocessing.get_context("fork").Process(target=target)
        p.start()
        with open(pidfile, "w") as f:
            f.write(str(p.pid))
        p.join()
        sys.exit(p.exitcode)
    pid = os.fork()
    if pid == 0:
        target()
    with open(pidfile, "w") as f:
        f.write(str(pid))
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// A process forked from an interpreter runs the interpreter's program
/// with no exec, under a new pid: the kernel hands it its parent's
/// watch at the fork. Its pip run is its own run (`via: module-load`,
/// always `swmon.reading: uncertain`, since its argv is its parent's
/// command line); the parent's arguments are taken when they read as an
/// install (the package's real name and version), and a parent command
/// line that reads as a query (`list`) does not make the child's run a
/// query: its arguments are then unknown (`installer-exec`, type
/// `installation`, operation `other`). A forked child that loads no
/// installer gives no event, nor does any forking parent.
#[test]
fn forked_interpreter_children_are_watched() {
    assert!(Path::new(PIP_FOLDER).is_dir(), "Debian's pip is installed");
    let tmp = TempDir::new("modfork");
    let dir = tmp.path();
    let wheel = build_wheel(PYTHON, dir, WHEEL_PKG, WHEEL_VERSION);
    let wheel = wheel.to_str().expect("utf-8").to_owned();
    let script = dir.join("t.py");
    fs::write(&script, FORK_SCRIPT).expect("write");
    let n = std::cell::Cell::new(0);
    let pip_args = || -> Vec<String> {
        n.set(n.get() + 1);
        let t = dir.join(format!("t{}", n.get()));
        [
            "install",
            "-q",
            "--break-system-packages",
            "--no-index",
            "--target",
            t.to_str().expect("utf-8"),
            &wheel,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    // Runs the script; returns the parent's pid and code and the child's pid.
    let fork = |name: &str, mode: &str, child: &str, args: &[String], env: Option<String>| {
        let pidfile = dir.join(format!("{name}.pid"));
        let mut cmd = Command::new(PYTHON);
        cmd.arg("t.py")
            .args(args)
            .current_dir(dir)
            .env("SWMON_PIDFILE", &pidfile)
            .env("SWMON_MODE", mode)
            .env("SWMON_CHILD", child);
        if let Some(env) = env {
            cmd.env("SWMON_PIP_ARGS", env);
        }
        let (pid, code) = run(&mut cmd);
        let child: u32 = fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{name}: the child's pid: {e}"))
            .trim()
            .parse()
            .expect("a pid");
        (pid, code, child)
    };

    let m = Monitor::start(&[]);
    // Interpreters that fork a child which loads no installer.
    let quiet = fork("quiet", "fork", "none", &[], None);
    let quiet_mp = fork("quiet-mp", "mp", "none", &[], None);
    // The child runs pip with the parent's own arguments.
    let by_argv = fork("argv", "fork", "argv", &pip_args(), None);
    let by_mp = fork("mp", "mp", "argv", &pip_args(), None);
    // The reviewer's repro: the child sets pip's arguments itself; the
    // parent's command line is a decoy that reads as a query.
    let set = serde_json::to_string(&pip_args()).expect("json");
    let decoy = fork("decoy", "fork", "set", &["list".to_owned()], Some(set));
    for (what, (_, _, child)) in [
        ("fork", by_argv),
        ("multiprocessing", by_mp),
        ("decoy", decoy),
    ] {
        m.wait_for(what, Duration::from_secs(30), |e| {
            e["process"]["pid"] == child
        });
    }
    let events = m.stop();

    for (what, (parent, code, child)) in [
        ("fork", by_argv),
        ("multiprocessing", by_mp),
        ("decoy", decoy),
    ] {
        assert_eq!(code, 0, "{what}: the install itself failed");
        let e = one_run(&events, child);
        assert_eq!(e["swmon"]["manager"], "pip", "{what}: {e:#}");
        assert_eq!(e["swmon"]["via"], "module-load", "{what}: {e:#}");
        assert!(
            filter(&e).iter().any(|r| r == "module-load"),
            "{what}: {:?}",
            filter(&e)
        );
        assert_eq!(e["swmon"]["reading"], "uncertain", "{what}: {e:#}");
        assert_eq!(e["process"]["parent"]["pid"], parent, "{what}: {e:#}");
        assert!(
            runs_of(&events, parent).is_empty(),
            "{what}: no event for the forking parent: {:#?}",
            runs_of(&events, parent)
        );
        if what == "decoy" {
            assert_eq!(action(&e), "installer-exec", "{what}: {e:#}");
            assert_eq!(e["event"]["type"][0], "installation", "{what}: {e:#}");
            assert_eq!(e["swmon"]["operation"], "other", "{what}: {e:#}");
        } else {
            assert_eq!(action(&e), "package-install", "{what}: {e:#}");
            assert_eq!(e["swmon"]["operation"], "install", "{what}: {e:#}");
            assert_eq!(
                package(&e),
                (WHEEL_PKG.to_owned(), WHEEL_VERSION.to_owned()),
                "{what}: the package read from the local file: {e:#}"
            );
        }
    }
    for (what, (parent, code, child)) in [("fork", quiet), ("multiprocessing", quiet_mp)] {
        assert_eq!(code, 0, "{what}: the quiet script failed");
        for pid in [parent, child] {
            assert!(
                runs_of(&events, pid).is_empty(),
                "{what}: no event for a forked child that loads no installer, or its parent (pid {pid}): {:#?}",
                runs_of(&events, pid)
            );
        }
    }
}
