//! `cargo xtask fuzz`: the cargo-fuzz campaign on swmon's readers of outside
//! input (`fuzz/`, one libFuzzer target per reader), and the short run of
//! every target that `cargo xtask test` makes after the unit tests.
//!
//! Each target runs alone with one job (the machine is shared), with a hang
//! limit (`-timeout`) and memory limits (`-rss_limit_mb`, `-malloc_limit_mb`)
//! so a hang or an unbounded allocation fails the run like a panic does.
//! The corpus kept in the repository (`fuzz/corpus/<target>/`, minimized with
//! `cargo fuzz cmin`) seeds each run and is only read: what a run finds goes
//! to `target/fuzz/corpus/<target>/`, and `--keep` merges it back, minimized.
//! A crash leaves its input in `fuzz/artifacts/<target>/`; the task fails and
//! names it. cargo-fuzz needs the nightly toolchain; [`setup`] installs both
//! when missing.

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::{bail, Context, Result};

use crate::{root, sh};

/// The fuzz targets (`fuzz/fuzz_targets/`).
pub const TARGETS: &[&str] = &[
    "audit_record",
    "audit_netlink",
    "audit_assemble",
    "report_inputs",
    "report_build",
    "proc_parsers",
    "package_files",
    "elf_notes",
];

/// Seconds per target in `cargo xtask test`.
pub const TEST_SECONDS: u64 = 20;

/// A single input taking longer than this is a hang.
const HANG_SECONDS: u64 = 10;
/// Resident memory limit of the fuzzing process.
const RSS_LIMIT_MB: u64 = 2048;
/// One allocation larger than this is a bug (no reader may allocate by a
/// length it read).
const MALLOC_LIMIT_MB: u64 = 512;
/// Inputs kept in the repository's corpus are cut to this many bytes, so
/// the corpus stays a few MB (the fixtures' whole files read as seeds too).
const KEEP_MAX_LEN: u64 = 4096;

#[derive(clap::Args)]
pub struct Options {
    /// One target (default: all, one after another).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    target: Option<String>,
    /// How long each target runs.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Merge what the run found into the repository's corpus, minimized.
    #[arg(long)]
    keep: bool,
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// Where a run puts the inputs it finds (the repository's corpus is read only).
fn scratch_corpus(target: &str) -> PathBuf {
    root().join("target/fuzz/corpus").join(target)
}

fn cargo_fuzz() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(fuzz_dir())
        // swmon's build.rs need not build the eBPF object: the targets
        // exercise only the readers.
        .env("AYA_BUILD_SKIP", "1")
        .args(["+nightly", "fuzz"]);
    cmd
}

/// Installs the nightly toolchain and cargo-fuzz when missing; quick when
/// both are there (one `cargo +nightly fuzz --version`).
pub fn setup() -> Result<()> {
    let works = || {
        Command::new("cargo")
            .args(["+nightly", "fuzz", "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works() {
        return Ok(());
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        sh(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    sh(Command::new("cargo").args(["install", "cargo-fuzz", "--locked", "-j2"]))?;
    if !works() {
        bail!("cargo +nightly fuzz still does not run after installing cargo-fuzz");
    }
    Ok(())
}

/// Runs one target for `seconds`; fails on a crash, a hang or a memory limit.
fn run_one(target: &str, seconds: u64) -> Result<()> {
    let scratch = scratch_corpus(target);
    std::fs::create_dir_all(&scratch).with_context(|| format!("create {}", scratch.display()))?;
    let started = Instant::now();
    let result = sh(cargo_fuzz()
        .args(["run", target])
        .arg(&scratch)
        .arg(fuzz_dir().join("corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={HANG_SECONDS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg("-print_final_stats=1"));
    if let Err(e) = result {
        bail!(
            "fuzz target {target} failed after {:.0} s: {e:#}\n\
             the input is in {}; replay it with `cd fuzz && cargo +nightly fuzz run {target} <file>`, \
             fix, and add it as a regression test",
            started.elapsed().as_secs_f64(),
            fuzz_dir().join("artifacts").join(target).display()
        );
    }
    Ok(())
}

/// Merges a target's scratch corpus into the repository's, minimized.
fn keep(target: &str) -> Result<()> {
    let corpus = fuzz_dir().join("corpus").join(target);
    let scratch = scratch_corpus(target);
    for entry in
        std::fs::read_dir(&scratch).with_context(|| format!("read {}", scratch.display()))?
    {
        let entry = entry?;
        std::fs::copy(entry.path(), corpus.join(entry.file_name()))?;
    }
    sh(cargo_fuzz()
        .args(["cmin", target])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_len={KEEP_MAX_LEN}")))
}

/// `cargo xtask fuzz [TARGET] [--seconds N] [--keep]`.
pub fn run(options: &Options) -> Result<()> {
    setup()?;
    let targets: Vec<&str> = match &options.target {
        Some(t) => vec![t.as_str()],
        None => TARGETS.to_vec(),
    };
    for target in targets {
        run_one(target, options.seconds)?;
        if options.keep {
            keep(target)?;
        }
    }
    Ok(())
}

/// The short run of every target in `cargo xtask test`.
pub fn short_runs() -> Result<()> {
    setup()?;
    for target in TARGETS {
        run_one(target, TEST_SECONDS)?;
    }
    Ok(())
}
