//! The module-load witness end to end: the real binary on the real kernel,
//! real offline installs of a wheel and an npm tarball this test builds.
//! Interpreter runs of an installer that the exec filter cannot see (a
//! copy of the pip script, a module name built at run time, pip's own
//! folder run from inside it or through a symbolic link, a copy of pip3
//! read as `/proc/self/fd/0`, npm's cli preloaded by node) each give one
//! install event with the package's real name and version, `swmon.via:
//! module-load` and `module-load` in `swmon.filter`, because the
//! interpreter opened the installer's entry module. An interpreter that
//! loads no installer, or writes a file named and placed like an entry
//! module, gives none, and a plain `pip3 install` (which opens
//! the same module) still gives exactly one event. A child forked from an
//! interpreter (`os.fork()`, multiprocessing) that runs pip with no exec
//! is its own run, its reading uncertain (its argv is its parent's).
//! The other interpreter-hosted installers the witness knows, each through
//! a launcher the exec filter cannot read from argv and with a real
//! offline install: gem (a `.gem` this test builds), pipx (a wheel with a
//! console script, its shared pip a venv made here), yarn 1 and pnpm
//! (npm's tarballs of the releases the scenario corpus pins).

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
/// Hard-links every file of `from` into a tree of new folders at `to`
/// (symbolic links are left out). Both must be on one filesystem: the test
/// fails if they are not, rather than check less.
fn link_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| fs::metadata(p).expect("stat").dev();
    assert_eq!(
        dev(from),
        dev(to.parent().expect("parent")),
        "{} and {} must be on one filesystem to hard-link",
        from.display(),
        to.display()
    );
    fs::create_dir(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            link_tree(&entry.path(), &target);
        } else if kind.is_file() {
            fs::hard_link(entry.path(), &target).expect("hard link");
        }
    }
}

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
    // pip's tree hard-linked under another top folder name: every file
    // pip's run reads has a second, newer name (`pop/...`), the first the
    // kernel finds for it. The read is matched by each of a file's names,
    // so pip's own still counts.
    link_tree(Path::new(PIP_FOLDER), &dir.join("pop"));
    case(
        "python3 ./helper install (pip's files also linked as pop/...)",
        Command::new(PYTHON)
            .arg("./helper")
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

    // An interpreter writing files named and placed like pip's entry
    // module (creating one, then opening it read-write): writes, not
    // loads. Before the plain install, whose event is waited for.
    fs::create_dir_all(dir.join("w/pip/_internal/cli")).expect("mkdir");
    let (writer, writer_code) = run(Command::new(PYTHON)
        .args([
            "-c",
            "p = 'w/pip/_internal/cli/main.py'; open(p, 'w').write('x = 1\\n'); open(p, 'r+').close()",
        ])
        .current_dir(dir));
    assert_eq!(writer_code, 0, "the writer failed");
    assert!(dir.join("w/pip/_internal/cli/main.py").is_file());
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
        writer,
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

const RUBY: &str = "/usr/bin/ruby";
const GEM_SCRIPT: &str = "/usr/bin/gem";
const GEM_RUNNER: &str = "/usr/lib/ruby/vendor_ruby/rubygems/gem_runner.rb";
const GEM_PKG: &str = "swmon-modload-gem";
const GEM_VERSION: &str = "2.7.1";

/// Builds a gem of [`GEM_PKG`] with `gem build` and names its file
/// `x.gem`, so that only the file's own specification tells its name and
/// version.
fn build_gem(dir: &Path) -> PathBuf {
    let src = dir.join("gemsrc");
    fs::create_dir_all(src.join("lib")).expect("mkdir");
    fs::write(
        src.join("lib/swmon_modload_gem.rb"),
        "module SwmonModloadGem; end\n",
    )
    .expect("write");
    fs::write(
        src.join("x.gemspec"),
        format!(
            "Gem::Specification.new do |s|\n  s.name = {GEM_PKG:?}\n  s.version = {GEM_VERSION:?}\n  s.summary = \"swmon test gem\"\n  s.authors = [\"swmon\"]\n  s.license = \"MIT\"\n  s.files = [\"lib/swmon_modload_gem.rb\"]\nend\n"
        ),
    )
    .expect("write");
    let out = Command::new(GEM_SCRIPT)
        .args(["build", "x.gemspec"])
        .current_dir(&src)
        .output()
        .expect("gem build");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = dir.join("x.gem");
    fs::rename(src.join(format!("{GEM_PKG}-{GEM_VERSION}.gem")), &moved).expect("rename");
    moved
}

/// gem run through a copy of its launcher (`cp /usr/bin/gem ./g; ruby ./g
/// install --local ./x.gem`: argv names no installer), with the runner's
/// name built at run time, or as `bin/gem`'s own code given to `ruby -r
/// -e` (which the exec filter's argv scan does not pass) is caught by ruby
/// opening
/// `rubygems/gem_runner.rb`: one install event with the gem's real name
/// and version read from the `.gem` (its file is called `x.gem`),
/// `swmon.via: module-load`, verdict `ebpf_only` (no audit rule watches
/// ruby). Code that never loads the runner but RubyGems' installer
/// (`rubygems/installer.rb`) is caught by that: the command manager run
/// on the code's arguments (the gem read, uncertain) and `Gem.install`
/// (an installation, uncertain, no package in argv). A plain `gem install
/// --local` (which opens the runner and the installer) stays one event;
/// ruby loading rubygems without the runner, or `cat` of the runner, gives
/// none.
#[test]
fn gem_run_through_a_copied_launcher_is_caught() {
    assert!(
        Path::new(GEM_RUNNER).is_file(),
        "Debian's ruby-rubygems is installed"
    );
    let tmp = TempDir::new("modgem");
    let dir = tmp.path();
    let gem = build_gem(dir);
    let gem = gem.to_str().expect("utf-8").to_owned();
    fs::copy(GEM_SCRIPT, dir.join("g")).expect("copy gem");
    let n = std::cell::Cell::new(0);
    // A fresh install folder per case, also as GEM_HOME: nothing reaches
    // the system's gems.
    let install = |cmd: &mut Command| -> (u32, i32) {
        n.set(n.get() + 1);
        let home = dir.join(format!("home{}", n.get()));
        run(cmd
            .args(["install", "--local", "--no-document", "--install-dir"])
            .arg(&home)
            .arg(&gem)
            .env("GEM_HOME", &home)
            .env("HOME", dir)
            .current_dir(dir))
    };

    let m = Monitor::start(&[]);
    let copied = install(Command::new(RUBY).arg("./g"));
    // The runner's name built at run time: no installer word in argv.
    let built = install(Command::new(RUBY).args([
        "-e",
        "require 'rubygems/gem_' + 'runner'; Gem::GemRunner.new.run ARGV",
        "--",
    ]));
    // What `bin/gem` runs, as inline code (read by classify; the exec
    // filter's argv scan does not pass it).
    let inline = install(Command::new(RUBY).args([
        "-rrubygems/gem_runner",
        "-e",
        "Gem::GemRunner.new.run ARGV",
    ]));
    // RubyGems' installer run by code that never loads the runner (it
    // opens `rubygems/installer.rb`): the command manager on the code's
    // arguments, and `Gem.install` with arguments of its own.
    let manager = install(Command::new(RUBY).args([
        "-e",
        "require 'rubygems/command_manager'; Gem::CommandManager.instance.run(ARGV)",
    ]));
    let api_home = dir.join("home-api");
    let api = run(Command::new(RUBY)
        .args([
            "-e",
            &format!(
                "Gem.install({gem:?}, nil, install_dir: {:?}, document: [])",
                api_home.to_str().expect("utf-8")
            ),
        ])
        .env("GEM_HOME", &api_home)
        .env("HOME", dir)
        .current_dir(dir));
    let plain = install(&mut Command::new(GEM_SCRIPT));
    let negatives = [
        run(Command::new(RUBY).args(["-e", "require 'json'"])).0,
        run(Command::new(RUBY).args(["-e", "require 'rubygems'; Gem::Specification.to_a"])).0,
        run(Command::new("cat").arg(GEM_RUNNER)).0,
    ];
    for (pid, _) in [copied, built, inline, manager, api, plain] {
        m.wait_for("each run's event", Duration::from_secs(30), |e| {
            e["process"]["pid"] == pid
        });
    }
    let events = m.stop();

    for (what, (pid, code), uncertain) in [
        ("ruby ./g install (a copy of gem)", copied, false),
        ("ruby -e require 'rubygems/gem_'+'runner'", built, true),
        (
            "ruby -rrubygems/gem_runner -e 'Gem::GemRunner.new.run ARGV'",
            inline,
            false,
        ),
        (
            "ruby -e 'Gem::CommandManager.instance.run(ARGV)' install",
            manager,
            true,
        ),
    ] {
        assert_eq!(code, 0, "{what}: the install itself failed");
        let e = one_run(&events, pid);
        assert_eq!(action(&e), "package-install", "{what}: {e:#}");
        assert_eq!(e["swmon"]["manager"], "gem", "{what}: {e:#}");
        assert_eq!(e["swmon"]["operation"], "install", "{what}: {e:#}");
        assert_eq!(e["swmon"]["via"], "module-load", "{what}: {e:#}");
        assert!(
            filter(&e).iter().any(|r| r == "module-load"),
            "{what}: {:?}",
            filter(&e)
        );
        assert_eq!(
            e["swmon"]["reading"].as_str() == Some("uncertain"),
            uncertain,
            "{what}: {e:#}"
        );
        assert_eq!(e["swmon"]["verdict"], "ebpf_only", "{what}: {e:#}");
        assert_eq!(
            package(&e),
            (GEM_PKG.to_owned(), GEM_VERSION.to_owned()),
            "{what}: the gem read from the local file: {e:#}"
        );
    }
    // `Gem.install` in the code: which gem is not in argv; an
    // installation, its reading uncertain, no package named.
    let (api_pid, api_code) = api;
    assert_eq!(api_code, 0, "Gem.install failed");
    assert!(
        api_home
            .join(format!("gems/{GEM_PKG}-{GEM_VERSION}"))
            .is_dir(),
        "Gem.install installed the gem"
    );
    let e = one_run(&events, api_pid);
    assert_eq!(e["swmon"]["manager"], "gem", "Gem.install: {e:#}");
    assert_eq!(e["swmon"]["via"], "module-load", "Gem.install: {e:#}");
    assert_eq!(e["event"]["type"][0], "installation", "Gem.install: {e:#}");
    assert_eq!(e["swmon"]["reading"], "uncertain", "Gem.install: {e:#}");
    let (plain_pid, plain_code) = plain;
    assert_eq!(plain_code, 0, "the plain gem install failed");
    let plain = runs_of(&events, plain_pid);
    assert_eq!(
        plain.len(),
        1,
        "one event for a plain gem install: {plain:#?}"
    );
    assert_ne!(plain[0]["swmon"]["via"], "module-load", "{:#}", plain[0]);
    assert_eq!(action(&plain[0]), "package-install", "{:#}", plain[0]);
    assert_eq!(
        package(&plain[0]),
        (GEM_PKG.to_owned(), GEM_VERSION.to_owned()),
        "{:#}",
        plain[0]
    );
    for pid in negatives {
        assert!(
            runs_of(&events, pid).is_empty(),
            "no event for a process that runs no installer (pid {pid}): {:#?}",
            runs_of(&events, pid)
        );
    }
    assert!(
        counters(&events)["module_loads_joined"]
            .as_u64()
            .expect("module_loads_joined")
            >= 1,
        "the plain install's module load joined its run"
    );
}

const PIPX_SCRIPT: &str = "/usr/bin/pipx";
const APP_PKG: &str = "swmon-modload-app";

/// A folder holding a wheel of [`APP_PKG`] 1.0 with a console script
/// (pipx installs only packages that have one).
fn build_app_wheel(dir: &Path) -> PathBuf {
    let wheels = dir.join("wheels");
    fs::create_dir_all(&wheels).expect("mkdir");
    tests::build_app_wheel(PYTHON, &wheels, APP_PKG, "1.0");
    wheels
}

/// pipx run through a copy of its launcher (`python3 ./px install app`:
/// argv names no installer) is caught by python opening pipx's entry
/// module (`pipx/main.py` or its cached `.pyc`): one pipx install event
/// with the app's name and version, `swmon.via: module-load`, verdict
/// `ebpf_only`. A plain `pipx install` stays one event; python running a
/// user's own `proj/pipx/main.py` gives none. Offline: pipx's
/// shared pip is a venv made here (`PIPX_SHARED_LIBS`), the app comes from
/// a local folder with `--no-index`.
#[test]
fn pipx_run_through_a_copied_launcher_is_caught() {
    assert!(
        Path::new(PIPX_SCRIPT).is_file(),
        "Debian's pipx is installed"
    );
    let tmp = TempDir::new("modpipx");
    let dir = tmp.path();
    let wheels = build_app_wheel(dir);
    let shared = dir.join("shared");
    let (_, code) = run(Command::new(PYTHON).args(["-m", "venv"]).arg(&shared));
    assert_eq!(code, 0, "python3 -m venv for pipx's shared libraries");
    fs::copy(PIPX_SCRIPT, dir.join("px")).expect("copy pipx");
    let n = std::cell::Cell::new(0);
    let install = |cmd: &mut Command| -> (u32, i32) {
        n.set(n.get() + 1);
        let home = dir.join(format!("pipx{}", n.get()));
        run(cmd
            .arg("install")
            .arg(format!(
                "--pip-args=--no-index --find-links {}",
                wheels.to_str().expect("utf-8")
            ))
            .arg(format!("{APP_PKG}==1.0"))
            .env("PIPX_SHARED_LIBS", &shared)
            .env("PIPX_HOME", &home)
            .env("PIPX_BIN_DIR", home.join("bin"))
            .env("PIPX_MAN_DIR", home.join("man"))
            .current_dir(dir))
    };

    // A user's own folder called pipx, its main.py run: not pipx.
    fs::create_dir_all(dir.join("proj/pipx")).expect("mkdir");
    fs::write(dir.join("proj/pipx/main.py"), "print('hello')\n").expect("write");

    let m = Monitor::start(&[]);
    // Before the installs, whose events are waited for.
    let (own, own_code) = run(Command::new(PYTHON)
        .arg("proj/pipx/main.py")
        .current_dir(dir));
    let copied = install(Command::new(PYTHON).arg("./px"));
    let plain = install(&mut Command::new(PIPX_SCRIPT));
    assert_eq!(own_code, 0, "python3 proj/pipx/main.py");
    for pid in [copied.0, plain.0] {
        m.wait_for("each run's event", Duration::from_secs(30), |e| {
            e["process"]["pid"] == pid
        });
    }
    let events = m.stop();

    let (pid, code) = copied;
    assert_eq!(code, 0, "python3 ./px install: the install itself failed");
    let e = one_run(&events, pid);
    assert_eq!(action(&e), "package-install", "{e:#}");
    assert_eq!(e["swmon"]["manager"], "pipx", "{e:#}");
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    assert_eq!(e["swmon"]["via"], "module-load", "{e:#}");
    assert!(
        filter(&e).iter().any(|r| r == "module-load"),
        "{:?}",
        filter(&e)
    );
    assert!(e["swmon"]["reading"].is_null(), "{e:#}");
    assert_eq!(e["swmon"]["verdict"], "ebpf_only", "{e:#}");
    assert_eq!(package(&e), (APP_PKG.to_owned(), "1.0".to_owned()), "{e:#}");
    let (plain_pid, plain_code) = plain;
    assert_eq!(plain_code, 0, "the plain pipx install failed");
    let plain = runs_of(&events, plain_pid);
    assert_eq!(
        plain.len(),
        1,
        "one event for a plain pipx install: {plain:#?}"
    );
    assert_ne!(plain[0]["swmon"]["via"], "module-load", "{:#}", plain[0]);
    assert_eq!(plain[0]["swmon"]["manager"], "pipx", "{:#}", plain[0]);
    assert!(
        runs_of(&events, own).is_empty(),
        "no event for a user's own pipx/main.py: {:#?}",
        runs_of(&events, own)
    );
}

/// The yarn and pnpm releases the scenario corpus pins (`xtask`'s
/// `REGISTRY`): packed by npm from its cache, or the registry when the
/// cache lacks them; the installs themselves run offline.
const NODE_MANAGERS: [(&str, &str); 2] = [("yarn", "1.22.22"), ("pnpm", "9.15.9")];

/// `node_modules/NAME` in `dir` from npm's tarball of `NAME@VERSION`.
fn unpack_manager(dir: &Path, name: &str, version: &str) -> PathBuf {
    let out = Command::new("npm")
        .args([
            "pack",
            "-q",
            "--prefer-offline",
            &format!("{name}@{version}"),
        ])
        .current_dir(dir)
        .output()
        .expect("npm pack");
    assert!(
        out.status.success(),
        "npm pack {name}@{version} (from npm's cache or the registry): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tgz = dir.join(format!("{name}-{version}.tgz"));
    let unpacked = dir.join(format!("unpack-{name}"));
    fs::create_dir_all(&unpacked).expect("mkdir");
    let (_, code) = run(Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&unpacked));
    assert_eq!(code, 0, "tar xzf {tgz:?}");
    let home = dir.join("node_modules").join(name);
    fs::create_dir_all(dir.join("node_modules")).expect("mkdir");
    fs::rename(unpacked.join("package"), &home).expect("rename");
    home
}

/// yarn 1 and pnpm loaded by a script of the user's (`node x.js add ...`,
/// `x.js` requiring the launcher named by an environment variable: argv
/// names no installer) are caught by node opening `yarn/lib/cli.js` or
/// `pnpm/dist/pnpm.cjs`: one install event each with the npm tarball's
/// real name and version, `swmon.via: module-load`, verdict `ebpf_only`.
/// Their launchers run by path (`node .../yarn/bin/yarn.js add ...`,
/// which the exec filter reads from argv) stay one event each.
#[test]
fn yarn_and_pnpm_loaded_by_a_script_are_caught() {
    let tmp = TempDir::new("modnode");
    let dir = tmp.path();
    let tgz = build_tarball(dir);
    let tgz = tgz.to_str().expect("utf-8").to_owned();
    let homes: Vec<PathBuf> = NODE_MANAGERS
        .iter()
        .map(|(name, version)| unpack_manager(dir, name, version))
        .collect();
    let launchers = [homes[0].join("bin/yarn.js"), homes[1].join("bin/pnpm.cjs")];
    let n = std::cell::Cell::new(0);
    // A fresh project per run; each manager's own caches in the test's
    // folder, nothing fetched.
    let add = |manager: usize, cmd: &mut Command| -> (u32, i32) {
        n.set(n.get() + 1);
        let p = dir.join(format!("p{}", n.get()));
        fs::create_dir_all(&p).expect("mkdir");
        fs::write(p.join("package.json"), r#"{"name":"p","version":"1.0.0"}"#).expect("write");
        fs::write(p.join("x.js"), "require(process.env.SWMON_CLI);\n").expect("write");
        if manager == 0 {
            cmd.args(["add", "--offline", "--no-progress", "--silent"])
                .arg(format!("file:{tgz}"))
                .env("YARN_CACHE_FOLDER", dir.join("yarn-cache"));
        } else {
            cmd.args(["add", "--offline", "--silent", "--store-dir"])
                .arg(dir.join("pnpm-store"))
                .arg(&tgz);
        }
        run(cmd
            .env("SWMON_CLI", &launchers[manager])
            .env("HOME", dir)
            .current_dir(&p))
    };

    let m = Monitor::start(&[]);
    let mut hidden = Vec::new();
    let mut plain = Vec::new();
    for (i, (name, _)) in NODE_MANAGERS.iter().enumerate() {
        hidden.push((*name, add(i, Command::new("node").arg("x.js"))));
        plain.push((*name, add(i, Command::new("node").arg(&launchers[i]))));
    }
    for (_, (pid, _)) in hidden.iter().chain(&plain) {
        m.wait_for("each run's event", Duration::from_secs(30), |e| {
            e["process"]["pid"] == *pid
        });
    }
    let events = m.stop();

    for (name, (pid, code)) in &hidden {
        assert_eq!(*code, 0, "{name} from x.js: the install itself failed");
        let e = one_run(&events, *pid);
        assert_eq!(action(&e), "package-install", "{name}: {e:#}");
        assert_eq!(e["swmon"]["manager"], *name, "{name}: {e:#}");
        assert_eq!(e["swmon"]["operation"], "install", "{name}: {e:#}");
        assert_eq!(e["swmon"]["via"], "module-load", "{name}: {e:#}");
        assert!(
            filter(&e).iter().any(|r| r == "module-load"),
            "{name}: {:?}",
            filter(&e)
        );
        assert!(e["swmon"]["reading"].is_null(), "{name}: {e:#}");
        assert_eq!(e["swmon"]["verdict"], "ebpf_only", "{name}: {e:#}");
        assert_eq!(
            package(&e),
            (NPM_PKG.to_owned(), NPM_VERSION.to_owned()),
            "{name}: the package read from the local tarball: {e:#}"
        );
    }
    for (name, (pid, code)) in &plain {
        assert_eq!(*code, 0, "{name}'s launcher: the install itself failed");
        let runs = runs_of(&events, *pid);
        assert_eq!(runs.len(), 1, "one event for {name}'s launcher: {runs:#?}");
        assert_eq!(runs[0]["swmon"]["manager"], *name, "{:#}", runs[0]);
        assert_ne!(runs[0]["swmon"]["via"], "module-load", "{:#}", runs[0]);
    }
}
