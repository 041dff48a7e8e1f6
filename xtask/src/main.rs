//! swmon's developer tasks. `cargo xtask run` and `cargo xtask test` are the
//! README's two commands for a fresh machine: each first installs what is
//! missing (Debian packages, bpf-linker), idempotently and quickly when all
//! is there, then builds with plain cargo; `run` installs only what building
//! and running swmon takes, `test` also what the tests drive
//! (`setup.rs`). `cargo xtask dist` builds the Debian package (`dist.rs`).
//! xtask orchestrates; the build itself is `cargo build` (swmon/build.rs
//! builds the eBPF object).

mod bench;
mod dist;
mod filebench;
mod reportbench;
mod fuzz;
mod scenarios;
mod setup;
mod stats;
mod suite;
mod watchdog;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what building and testing need (Debian packages, bpf-linker,
    /// the nightly toolchain and cargo-fuzz).
    Setup,
    /// Set up what building takes (not the tests' programs), build, and
    /// run the monitor in the foreground.
    Run {
        /// Arguments for `swmon run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then fmt check, clippy (both passes), unit tests, a short run
    /// of every fuzz target, the package (as `dist`), kernel tests, and the
    /// scenario corpus.
    Test,
    /// Build the Debian package (cargo-deb, pinned): the binary, the
    /// systemd unit, /etc/swmon/swmon.toml, logrotate, man pages and
    /// completions; prints the `.deb`'s path.
    Dist,
    /// Fuzz swmon's readers of outside input (cargo-fuzz, `fuzz/`): every
    /// target one after another, or one, 10 minutes each by default.
    Fuzz(fuzz::Options),
    /// Set up, build, and play the scenario corpus (`tests/scenarios.toml`)
    /// beside a real auditd; the report goes to `target/scenarios/`.
    Scenarios(scenarios::Options),
    /// Benchmarks, printed as side-by-side ratios and written to BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

/// Puts the system folders on `PATH` when they are missing (a cron job, a
/// non-login shell, `env -i`): the tools the tasks drive (`auditctl`,
/// `auditd`, `dpkg`, `ldconfig`) live in `/usr/sbin` and `/sbin`, and
/// every child, the tests included, inherits this.
fn standard_path() {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&current).collect();
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(PathBuf::from(dir));
        }
    }
    if let Ok(path) = std::env::join_paths(dirs) {
        std::env::set_var("PATH", path);
    }
}

fn main() -> Result<()> {
    standard_path();
    match Cli::parse().command {
        Task::Setup => {
            setup::test()?;
            fuzz::setup()
        }
        Task::Run { args } => {
            setup::build()?;
            build_release()?;
            let err = std::os::unix::process::CommandExt::exec(
                Command::new(root().join("target/release/swmon"))
                    .arg("run")
                    .args(args),
            );
            Err(err).context("exec target/release/swmon")
        }
        Task::Test => test(),
        Task::Dist => {
            setup::build()?;
            let deb = dist::build()?;
            println!("{}", deb.display());
            Ok(())
        }
        Task::Fuzz(options) => fuzz::run(&options),
        Task::Scenarios(options) => {
            setup::test()?;
            build_release()?;
            scenarios::run(&options)
        }
        Task::Bench { which } => {
            setup::test()?;
            build_release()?;
            bench::run(which)
        }
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_owned()
}

/// Runs a command in the workspace root, failing with its name.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    let status = cmd
        .current_dir_if_unset()
        .status()
        .with_context(|| format!("run {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

trait CurrentDir {
    fn current_dir_if_unset(&mut self) -> &mut Self;
}

impl CurrentDir for Command {
    fn current_dir_if_unset(&mut self) -> &mut Self {
        if self.get_current_dir().is_none() {
            self.current_dir(root());
        }
        self
    }
}

pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

pub fn build_release() -> Result<()> {
    sh(cargo().args(["build", "--release", "-p", "swmon"]))
}

fn has_nightly_rustfmt() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fmt", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test() -> Result<()> {
    setup::test()?;
    // Formatting: the nightly rustfmt honours rustfmt.toml's import options.
    let fmt = |dir: PathBuf| -> Result<()> {
        let mut cmd = Command::new("cargo");
        if has_nightly_rustfmt() {
            cmd.arg("+nightly");
        }
        sh(cmd.current_dir(dir).args(["fmt", "--all", "--", "--check"]))
    };
    fmt(root())?;
    fmt(root().join("swmon-ebpf"))?;
    // Clippy on user space (no eBPF object needed) and on the eBPF crate with
    // Debian's clippy-driver, which matches the compiler that builds it.
    sh(cargo().env("AYA_BUILD_SKIP", "1").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(Command::new("cargo")
        .current_dir(root().join("swmon-ebpf"))
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTC_WORKSPACE_WRAPPER", "/usr/bin/clippy-driver")
        .env(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        )
        .args(["check", "--release", "--target-dir"])
        .arg(root().join("target/ebpf-clippy")))?;
    // Unit tests, then the release binary and the kernel tests, one at a time.
    let mut tally = Tally::default();
    tests(
        cargo().args(["test", "--workspace", "--exclude", "tests"]),
        &mut tally,
    )?;
    // A short run of each fuzz target: a crash, hang or runaway allocation
    // fails the run.
    fuzz::short_runs()?;
    build_release()?;
    // The package the package test installs, built once here.
    let deb = dist::build()?;
    tests(
        cargo()
            .env("SWMON_BIN", root().join("target/release/swmon"))
            .env("SWMON_DEB", deb)
            .args([
                "test",
                "-p",
                "tests",
                "--release",
                "--tests",
                "--",
                "--test-threads=1",
            ]),
        &mut tally,
    )?;
    // The scenario corpus last: it plays real installs beside a real auditd.
    scenarios::run(&scenarios::Options::default())?;
    eprintln!("xtask: all checks passed");
    println!("swmon: {} passed, {} failed", tally.passed, tally.failed);
    Ok(())
}

/// Test counts summed over every `cargo test` run.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

/// How long one `cargo test`, its build included, may take before it is
/// judged hung and killed: far beyond the few minutes each takes, well
/// inside CI's 90. `SWMON_TEST_LIMIT_SECS` overrides it (to try the
/// watchdog, say).
fn test_limit() -> Duration {
    std::env::var("SWMON_TEST_LIMIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(20 * 60), Duration::from_secs)
}

/// Runs a `cargo test`, echoing its output and adding up its result lines.
/// Past [`test_limit`] it is killed with all under it; the last line echoed
/// is then the `test NAME ...` that hung.
fn tests(cmd: &mut Command, tally: &mut Tally) -> Result<()> {
    use std::io::{BufRead, BufReader};
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    let mut child = cmd
        .current_dir_if_unset()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("run {shown}"))?;
    let limit = test_limit();
    let watchdog = watchdog::Watchdog::start(&child, limit);
    let stdout = child.stdout.take().context("test output")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split(';')
                    .find_map(|part| part.trim().strip_suffix(word).map(str::trim))
                    .and_then(|n| n.rsplit(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            tally.passed += count(" passed");
            tally.failed += count(" failed");
        }
    }
    let status = child.wait()?;
    if watchdog.finish() {
        println!(
            "swmon: {} passed, {} failed",
            tally.passed,
            tally.failed + 1
        );
        bail!("{shown} hung: killed after {limit:?}; the last test line above is the one");
    }
    if !status.success() {
        println!(
            "swmon: {} passed, {} failed",
            tally.passed,
            tally.failed.max(1)
        );
        bail!("{shown} failed: {status}");
    }
    Ok(())
}
