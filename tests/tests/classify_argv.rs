//! How swmon reads an installer's command line, with the real binary (and,
//! for runs, the real kernel): `swmon classify` unwrapping `sudo`, `env`,
//! `sh -c` and the rest; interpreter options swmon knows read exactly and
//! ones it does not know read both ways and flagged (`swmon.reading`);
//! an interpreter that runs nothing (`node -c`, `python3 -V`) is no run of
//! the installer; and a forged argv\[0\] (`exec -a`) never moves where a
//! directly exec'd installer's own arguments start.

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use serde_json::{json, Value};
use tests::{build_deb, counters, one_run, run, runs_of, swmon_bin, Monitor, TempDir};

const NPM_CLI: &str = "/usr/lib/node_modules/npm/bin/npm-cli.js";

fn classify(args: &[&str]) -> Output {
    Command::new(swmon_bin())
        .arg("classify")
        .args(args)
        .output()
        .expect("swmon classify")
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
fn classify_unwraps_the_command_a_wrapper_runs() {
    let out = classify(&[
        "--json",
        "--",
        "sudo",
        "-u",
        "root",
        "env",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "curl=7.88.1-10+deb12u5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json_of(&out);
    assert_eq!(j["manager"], "apt", "{j}");
    assert_eq!(j["operation"], "install");
    assert_eq!(
        j["packages"],
        json!([{"name": "curl", "version": "7.88.1-10+deb12u5"}])
    );
    assert_eq!(
        j["wrappers"],
        json!([
            ["sudo", "-u", "root"],
            ["env", "DEBIAN_FRONTEND=noninteractive"]
        ])
    );

    // A shell string: every simple command that runs an installer.
    let line = "apt-get update && apt-get install -y --no-install-recommends git \
                && pip3 install --no-cache-dir requests==2.31.0 && rm -rf /var/lib/apt/lists/*";
    let out = classify(&["--json", "--", "/bin/sh", "-c", line]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json_of(&out);
    let cmds = j["commands"].as_array().expect("commands");
    let got: Vec<(&str, &str)> = cmds
        .iter()
        .map(|c| {
            (
                c["manager"].as_str().unwrap_or("?"),
                c["operation"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("apt", "other"), ("apt", "install"), ("pip", "install")],
        "{j}"
    );
    assert_eq!(
        cmds[2]["packages"],
        json!([{"name": "requests", "version": "2.31.0"}])
    );
    assert_eq!(cmds[2]["wrappers"], json!([["/bin/sh", "-c", line]]));
    let text = String::from_utf8_lossy(&classify(&["--", "sh", "-c", line]).stdout).into_owned();
    assert!(text.contains("command 3 of 3: pip3 install"), "{text}");

    // xargs: the packages come from standard input.
    let j = json_of(&classify(&[
        "--json", "--", "xargs", "-r", "apt-get", "install", "-y",
    ]));
    assert_eq!(
        (j["manager"].as_str(), j["operation"].as_str()),
        (Some("apt"), Some("install"))
    );
    assert_eq!(j["more_arguments_from"], "stdin");
    // chroot: a system install lands under the new root.
    let j = json_of(&classify(&[
        "--json", "--", "chroot", "/target", "apt-get", "install", "x",
    ]));
    assert_eq!(j["scope"], "root:/target", "{j}");

    // Wrappers that run nothing, or run no installer: exit 3.
    for line in [
        &["sudo", "-l", "apt-get", "install", "x"][..],
        &["env", "A=1"],
        &["sh", "-c", "echo apt-get install x"],
    ] {
        let mut args = vec!["--json", "--"];
        args.extend_from_slice(line);
        let out = classify(&args);
        assert_eq!(out.status.code(), Some(3), "{line:?}: {out:?}");
        assert_eq!(json_of(&out)["manager"], Value::Null);
    }
}

#[test]
fn classify_reads_interpreter_options_and_flags_a_guess() {
    // Options swmon knows: read exactly, no flag.
    for (line, manager) in [
        (
            vec!["node", "--report-dir", "/tmp", NPM_CLI, "install", "x"],
            "npm",
        ),
        (
            vec!["ruby", "-E", "UTF-8", "/usr/bin/gem", "install", "x"],
            "gem",
        ),
        (
            vec!["php", "--define", "x=1", "composer.phar", "require", "y"],
            "composer",
        ),
    ] {
        let mut args = vec!["--json", "--"];
        args.extend_from_slice(&line);
        let j = json_of(&classify(&args));
        assert_eq!(j["manager"], manager, "{line:?}: {j}");
        assert!(j.get("reading").is_none(), "{line:?}: {j}");
    }
    // An option swmon does not know: both readings tried, flagged.
    let out = classify(&[
        "--json",
        "--",
        "node",
        "--option-from-the-future",
        "/tmp",
        NPM_CLI,
        "install",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json_of(&out);
    assert_eq!(j["manager"], "npm");
    assert_eq!(j["packages"], json!([{"name": "x"}]));
    assert_eq!(j["reading"], "uncertain");
    assert_eq!(j["unknown_options"], json!(["--option-from-the-future"]));
    let text = String::from_utf8_lossy(
        &classify(&[
            "--",
            "node",
            "--option-from-the-future",
            "/tmp",
            NPM_CLI,
            "i",
            "x",
        ])
        .stdout,
    )
    .into_owned();
    assert!(text.contains("reading:    uncertain"), "{text}");
    // An interpreter that will not run the script: no installer.
    for line in [
        &["node", "-c", NPM_CLI, "install", "x"][..],
        &["node", "--check", NPM_CLI, "install", "x"],
        &["node", "--version", NPM_CLI, "install", "x"],
        &["python3", "-V", "/usr/bin/pip", "install", "x"],
        &["python3", "--version", "-m", "pip", "install", "x"],
        &["python3", "-h", "-m", "pip", "install", "x"],
    ] {
        let mut args = vec!["--json", "--"];
        args.extend_from_slice(line);
        let out = classify(&args);
        assert_eq!(out.status.code(), Some(3), "{line:?}: {out:?}");
    }
    // pip's own --version is pip running: a query.
    let j = json_of(&classify(&[
        "--json",
        "--",
        "python3",
        "-m",
        "pip",
        "--version",
    ]));
    assert_eq!(
        (j["manager"].as_str(), j["operation"].as_str()),
        (Some("pip"), Some("query"))
    );
}

struct Purge(&'static [&'static str]);

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").arg("--purge").args(self.0).output();
    }
}

#[test]
fn classify_reads_a_preloaded_installer_and_cpan_inline_code() {
    // node -r: the preloaded npm cli reads the script's arguments.
    let j = json_of(&classify(&[
        "--json", "--", "node", "-r", NPM_CLI, "x.js", "install", "left-pad",
    ]));
    assert_eq!(j["manager"], "npm", "{j}");
    assert_eq!(j["via"], "interpreter-preload", "{j}");
    assert_eq!(j["operation"], "install", "{j}");
    assert_eq!(j["packages"], json!([{"name": "left-pad"}]), "{j}");
    assert!(j.get("reading").is_none(), "{j}");
    // --loader: the hooks thread sees no arguments; flagged.
    let j = json_of(&classify(&[
        "--json", "--", "node", "--loader", NPM_CLI, "x.js", "install", "y",
    ]));
    assert_eq!(j["manager"], "npm", "{j}");
    assert_eq!(j["reading"], "uncertain", "{j}");
    // php -F: the file is the program, the operands its arguments.
    let j = json_of(&classify(&[
        "--json",
        "--",
        "php",
        "-F",
        "composer.phar",
        "require",
        "a/b",
    ]));
    assert_eq!(j["manager"], "composer", "{j}");
    assert_eq!(j["packages"], json!([{"name": "a/b"}]), "{j}");
    let j = json_of(&classify(&[
        "--json",
        "--",
        "php",
        "-d",
        "auto_prepend_file=/usr/local/bin/composer",
        "x.php",
        "require",
        "a/b",
    ]));
    assert_eq!(j["manager"], "composer", "{j}");
    assert_eq!(j["via"], "interpreter-preload", "{j}");
    // perl -MCPAN -e 'install X' is `cpan -i X`.
    let out = classify(&["--json", "--", "perl", "-MCPAN", "-e", "install 'Foo::Bar'"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json_of(&out);
    assert_eq!(j["manager"], "cpan", "{j}");
    assert_eq!(j["operation"], "install", "{j}");
    assert_eq!(j["via"], "inline-code", "{j}");
    assert_eq!(j["packages"], json!([{"name": "Foo::Bar"}]), "{j}");
    let j = json_of(&classify(&[
        "--json", "--", "perl", "-MCPAN", "-e", "shell",
    ]));
    assert_eq!(j["manager"], "cpan", "{j}");
    // Without CPAN loaded, `install` is nobody's: exit 3.
    let out = classify(&["--json", "--", "perl", "-e", "install 'Foo::Bar'"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn a_forged_argv0_does_not_move_a_direct_installs_arguments() {
    const A: &str = "swmon-e2e-forged-a";
    const B: &str = "swmon-e2e-forged-b";
    let tmp = TempDir::new("classify-forged");
    build_deb(tmp.path(), A, "1.0-1", "alpha.deb");
    // A second package whose file is named like an installer: read as
    // the program, it would hide every argument before it.
    build_deb(tmp.path(), B, "2.0-1", "pip");
    let _purge = Purge(&[A, B]);

    let m = Monitor::start(&[]);
    let (install, code) = run(Command::new("/usr/bin/dpkg")
        .arg0("install evil")
        .args(["-i", "alpha.deb", "pip"])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "dpkg -i");
    // argv[0] made to look like the loader running apt.
    let (query, _) = run(Command::new("/usr/bin/dpkg")
        .arg0("ld.so")
        .args(["--status", "/usr/bin/apt"]));
    m.wait_for("the forged dpkg --status", Duration::from_secs(10), |e| {
        e["process"]["pid"] == query
    });
    let events = m.stop();
    let e = one_run(&events, install);
    assert_eq!(e["process"]["args"][0], "install evil");
    assert_eq!(e["swmon"]["manager"], "dpkg");
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    // Both operands are the run's (a file not named `.deb` is reported
    // as typed: only `.deb` operands are read for their identity).
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": A, "version": "1.0-1"}, {"name": "pip"}]),
        "{e:#}"
    );
    let installed = Command::new("dpkg")
        .args(["-s", B])
        .output()
        .expect("dpkg -s");
    assert!(installed.status.success(), "{B} was installed by the run");
    let q = one_run(&events, query);
    assert_eq!(q["swmon"]["manager"], "dpkg");
    assert_eq!(q["swmon"]["operation"], "query", "{q:#}");
}

#[test]
fn interpreter_runs_are_read_with_the_interpreters_own_options() {
    assert!(Path::new(NPM_CLI).exists(), "{NPM_CLI}: install npm");
    let m = Monitor::start(&[]);
    // Known options taking a value: once counted `rejected`, no event.
    let (node_known, code) =
        run(Command::new("/usr/bin/node").args(["--report-dir", "/tmp", NPM_CLI, "--version"]));
    assert_eq!(code, 0, "node --report-dir /tmp npm-cli.js --version");
    let (ruby, code) =
        run(Command::new("/usr/bin/ruby").args(["-E", "UTF-8", "/usr/bin/gem", "--version"]));
    assert_eq!(code, 0, "ruby -E UTF-8 gem --version");
    // An option swmon does not know (node refuses it too, but the exec
    // happened): reported, flagged as a guess.
    let (node_unknown, _) = run(Command::new("/usr/bin/node").args([
        "--swmon-e2e-unknown-option",
        "/tmp",
        NPM_CLI,
        "--version",
    ]));
    // Interpreters that do not run the installer's script: no event.
    let (check, code) = run(Command::new("/usr/bin/node").args(["-c", NPM_CLI, "install", "x"]));
    assert_eq!(code, 0, "node -c");
    let (version, code) =
        run(Command::new("/usr/bin/python3").args(["-V", "/usr/bin/pip3", "install", "x"]));
    assert_eq!(code, 0, "python3 -V");
    // A real installer run after them: once its event is out, theirs have
    // been through the pipeline too (one facts stage, in order).
    let (marker, code) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    assert_eq!(code, 0);
    m.wait_for("dpkg --version", Duration::from_secs(10), |e| {
        e["process"]["pid"] == marker
    });
    let events = m.stop();

    let e = one_run(&events, node_known);
    assert_eq!(e["swmon"]["manager"], "npm", "{e:#}");
    assert_eq!(e["swmon"]["via"], "interpreter-script");
    assert_eq!(e["swmon"]["operation"], "query");
    assert!(e["swmon"].get("reading").is_none(), "{e:#}");
    let e = one_run(&events, ruby);
    assert_eq!(e["swmon"]["manager"], "gem", "{e:#}");
    assert_eq!(e["swmon"]["operation"], "query");
    let e = one_run(&events, node_unknown);
    assert_eq!(e["swmon"]["manager"], "npm", "{e:#}");
    assert_eq!(e["swmon"]["operation"], "query");
    assert_eq!(e["swmon"]["reading"], "uncertain");
    assert_eq!(
        e["swmon"]["unknown_options"],
        json!(["--swmon-e2e-unknown-option"])
    );
    for (pid, what) in [(check, "node -c"), (version, "python3 -V")] {
        assert!(
            runs_of(&events, pid).is_empty(),
            "{what} gave an event: {:#?}",
            runs_of(&events, pid)
        );
    }
    // The kernel passed them (an installer's name in argv); user space
    // did not take them for installer runs.
    let rejected = counters(&events)["rejected"].as_u64().unwrap_or(0);
    assert!(rejected >= 2, "rejected = {rejected}");
}

/// Review findings: node, perl, ruby and php read their options after
/// inline code (a preload or module option after `-e` still applies), and
/// inline code that calls its installer with arguments not given as
/// literals is read as an uncertain run with unknown arguments, never
/// with argv's trailing words (a decoy `list`).
#[test]
fn classify_reads_options_after_inline_code_and_flags_unknown_arguments() {
    let require = format!("--require={NPM_CLI}");
    for line in [
        vec!["node", "-e", "1", "-r", NPM_CLI, "x", "install", "left-pad"],
        vec!["node", "-p", "1", &require, "x", "install", "left-pad"],
    ] {
        let mut args = vec!["--json", "--"];
        args.extend(&line);
        let j = json_of(&classify(&args));
        assert_eq!(j["manager"], "npm", "{line:?}: {j}");
        assert_eq!(j["via"], "interpreter-preload", "{j}");
        assert_eq!(j["operation"], "install", "{j}");
        assert_eq!(j["packages"], json!([{"name": "left-pad"}]), "{j}");
    }
    let j = json_of(&classify(&[
        "--json",
        "--",
        "php",
        "-B",
        "echo 1;",
        "-F",
        "./composer.phar",
        "require",
        "a/b",
    ]));
    assert_eq!(j["manager"], "composer", "{j}");
    assert_eq!(j["packages"], json!([{"name": "a/b"}]), "{j}");
    for line in [
        vec!["perl", "-e", "install Foo::Bar", "-MCPAN"],
        vec!["perl", "-MCPAN", "-e", "1;", "-e", "install Foo::Bar"],
    ] {
        let mut args = vec!["--json", "--"];
        args.extend(&line);
        let j = json_of(&classify(&args));
        assert_eq!(j["manager"], "cpan", "{line:?}: {j}");
        assert_eq!(j["operation"], "install", "{j}");
        assert_eq!(j["packages"], json!([{"name": "Foo::Bar"}]), "{j}");
    }
    for line in [
        vec![
            "ruby",
            "-e",
            "Gem::GemRunner.new.run ARGV",
            "-rrubygems/gem_runner",
            "install",
            "rake",
        ],
        vec![
            "ruby",
            "-rrubygems/gem_runner",
            "-e",
            "1",
            "-e",
            "Gem::GemRunner.new.run ARGV",
            "install",
            "rake",
        ],
    ] {
        let mut args = vec!["--json", "--"];
        args.extend(&line);
        let j = json_of(&classify(&args));
        assert_eq!(j["manager"], "gem", "{line:?}: {j}");
        assert_eq!(j["operation"], "install", "{j}");
        assert_eq!(j["packages"], json!([{"name": "rake"}]), "{j}");
    }
    // A decoy: pip runs with the list `l`, not argv's `list`.
    let j = json_of(&classify(&[
        "--json",
        "--",
        "python3",
        "-c",
        "import pip; l=[\"install\",\"evil\"]; pip.main(l)",
        "list",
    ]));
    assert_eq!(j["manager"], "pip", "{j}");
    assert_eq!(j["reading"], "uncertain", "{j}");
    assert_eq!(j["operation"], "other", "{j}");
    assert_ne!(j["subcommand"], "list", "{j}");
}

const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";

/// Review findings: the loader's options are glibc's (`--glibc-hwcaps-prepend`
/// takes a value; the table said `--glibc-hwcaps-prefix`, and its value was
/// read as the program), and an option swmon does not know is read both
/// ways and flagged, never one way silently.
#[test]
fn classify_reads_the_loaders_options_as_glibc_does() {
    let j = json_of(&classify(&[
        "--json",
        "--",
        LD_SO,
        "--glibc-hwcaps-prepend",
        "/bin/true",
        "/usr/bin/dpkg",
        "-i",
        "x.deb",
    ]));
    assert_eq!(j["manager"], "dpkg", "{j}");
    assert_eq!(j["via"], "loader", "{j}");
    assert_eq!(j["operation"], "install", "{j}");
    assert!(j.get("reading").is_none(), "{j}");
    // The value is never the program.
    let out = classify(&[
        "--json",
        "--",
        LD_SO,
        "--glibc-hwcaps-prepend",
        "/usr/bin/dpkg",
        "/bin/true",
        "-i",
        "x.deb",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // This host's loader refuses an option it does not know, and runs
    // nothing; swmon reads both ways and flags the reading.
    let refused = Command::new(LD_SO)
        .args(["--swmon-e2e-unknown", "/bin/true", "/bin/true"])
        .output()
        .expect("ld.so");
    assert!(!refused.status.success(), "{refused:?}");
    let j = json_of(&classify(&[
        "--json",
        "--",
        LD_SO,
        "--swmon-e2e-unknown",
        "/bin/true",
        "/usr/bin/dpkg",
        "-i",
        "x.deb",
    ]));
    assert_eq!(j["manager"], "dpkg", "{j}");
    assert_eq!(j["reading"], "uncertain", "{j}");
    assert_eq!(j["unknown_options"], json!(["--swmon-e2e-unknown"]), "{j}");
}

/// Review: a renamed dpkg copy run through the loader behind
/// `--glibc-hwcaps-prepend VALUE` (`ld.so --glibc-hwcaps-prepend /bin/true
/// ./dk -i x.deb`) is the copy's run: before, swmon opened the value
/// (`/bin/true`), found no installer and reported nothing.
#[test]
fn a_loader_option_value_is_not_taken_for_the_program() {
    const PKG: &str = "swmon-e2e-ld-hwcaps";
    let tmp = TempDir::new("ld-hwcaps");
    build_deb(tmp.path(), PKG, "3.1-1", "local.deb");
    let _purge = Purge(&[PKG]);
    std::fs::copy("/usr/bin/dpkg", tmp.path().join("dk")).expect("copy dpkg");
    let m = Monitor::start(&[]);
    let (pid, code) = run(Command::new(LD_SO)
        .args([
            "--glibc-hwcaps-prepend",
            "/bin/true",
            "./dk",
            "-i",
            "local.deb",
        ])
        .current_dir(tmp.path()));
    assert_eq!(code, 0, "the copy installs through the loader");
    let (marker, _) = run(Command::new("/usr/bin/dpkg").arg("--version"));
    m.wait_for("marker", Duration::from_secs(10), |e| {
        e["process"]["pid"] == marker
    });
    let events = m.stop();
    let e = one_run(&events, pid);
    assert_eq!(e["swmon"]["manager"], "dpkg", "{e:#}");
    assert_eq!(e["swmon"]["via"], "loader", "{e:#}");
    assert_eq!(e["swmon"]["operation"], "install", "{e:#}");
    assert_eq!(
        e["swmon"]["packages"],
        json!([{"name": PKG, "version": "3.1-1"}]),
        "{e:#}"
    );
    let c = counters(&events);
    assert_eq!(c["loader_program_unread"], 0, "{c}");
}

/// Review: inline code that runs the installer twice, first on a literal
/// decoy (`sys.argv = ['pip', 'list']`), then on arguments built at run
/// time, is an install of unknown arguments (operation `other`, reading
/// uncertain), never the decoy's query.
#[test]
fn classify_flags_inline_code_that_runs_the_installer_twice() {
    let python = "import sys, runpy\n\
                  sys.argv = ['pip', 'list']\n\
                  runpy.run_module('pip', run_name='__main__')\n\
                  sys.argv = ['pip'] + bytes.fromhex('696e7374616c6c2078').decode().split()\n\
                  runpy.run_module('pip', run_name='__main__')";
    let node = format!(
        "process.argv = ['node', 'npm', 'ls']; require('{NPM_CLI}'); \
         process.argv = ['node', 'npm', 'i', 'x']; require('{NPM_CLI}')"
    );
    for (manager, line) in [
        ("pip", vec!["python3", "-c", python]),
        ("npm", vec!["node", "-e", &node]),
        ("cpan", vec!["perl", "-MCPAN", "-e", "test 'X'; install $m"]),
        (
            "gem",
            vec![
                "ruby",
                "-rrubygems/gem_runner",
                "-e",
                "Gem::GemRunner.new.run %w[list]; Gem::GemRunner.new.run(a)",
            ],
        ),
    ] {
        let mut args = vec!["--json", "--"];
        args.extend(&line);
        let out = classify(&args);
        assert_eq!(out.status.code(), Some(0), "{line:?}: {out:?}");
        let j = json_of(&out);
        assert_eq!(j["manager"], manager, "{line:?}: {j}");
        assert_eq!(j["operation"], "other", "{line:?}: {j}");
        assert_eq!(j["reading"], "uncertain", "{line:?}: {j}");
    }
}
