//! Installs what swmon needs, idempotently, in two sets. [`build`] (for
//! `cargo xtask run` and `dist`): what building and running swmon takes,
//! Debian's rustc-web with a prebuilt `core` for `bpfel-unknown-none`
//! (rustup here has no rust-src), LLVM 22 for bpf-linker, and bpf-linker
//! itself. [`test`] (for `cargo xtask test`, `setup`, `scenarios`,
//! `bench`): that, plus clippy, the programs the tests drive (Chromium,
//! dnf, rpm, auditd, man-db, ...) and the package managers the scenario
//! corpus plays (Debian's, uv from PyPI, bun from npm, each pinned). Quick
//! when everything is there: one `dpkg-query` per package, `bpf-linker
//! --version`, `uv --version` and bun's `package.json` read.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::sh;

/// The LLVM major that Debian's rustc-web and bpf-linker must share.
const LLVM_MAJOR: &str = "22";
const BPF_LINKER: &str = "0.13.0";

/// Debian packages building swmon takes: the eBPF toolchain, and the C
/// toolchain Rust links with.
const BUILD_PACKAGES: &[&str] = &["rustc-web", "libstd-rust-web-dev-bpf", "llvm-22-dev", "gcc"];

/// Debian packages only the tests take: clippy, and what the tests run
/// (`man-db` and `logrotate`: the package test reads `man swmon` and
/// rotates the event log with the package's snippet).
const TEST_PACKAGES: &[&str] = &[
    "rust-web-clippy",
    "python3-pip",
    "python3-venv",
    "util-linux",
    "auditd",
    "chromium",
    "dnf",
    "rpm",
    "bpftool",
    // The syslog sinks' test receives with a private rsyslogd.
    "rsyslog",
    "man-db",
    "logrotate",
];

/// Debian packages only the scenario corpus (`tests/scenarios.toml`) needs:
/// the managers of the catalogue it plays beside the ones above, and what
/// building their local packages takes (`zstd` for pacman's).
const SCENARIO_PACKAGES: &[&str] = &[
    "pipx",
    "ruby",
    "ruby-bundler",
    "golang-go",
    "cpanminus",
    "composer",
    "php-cli",
    "pacman-package-manager",
    "zypper",
    "nix-bin",
    "flatpak",
    "zstd",
];

/// uv, from PyPI into `/usr/local/bin` (where the seed finds it), with
/// Debian's pip.
const UV: &str = "0.9.13";
/// bun, from the npm registry (its binary comes in `@oven/bun-linux-x64`),
/// installed globally: `/usr/bin/bun`.
const BUN: &str = "1.4.5";

/// What building and running swmon takes.
pub fn build() -> Result<()> {
    packages(BUILD_PACKAGES.iter())?;
    toolchain()
}

/// [`build`], plus what the tests and the scenario corpus drive.
pub fn test() -> Result<()> {
    packages(
        BUILD_PACKAGES
            .iter()
            .chain(TEST_PACKAGES)
            .chain(SCENARIO_PACKAGES),
    )?;
    toolchain()?;
    scenario_tools()
}

/// Installs those of `wanted` that are missing, in one `apt-get`.
fn packages<'a>(wanted: impl Iterator<Item = &'a &'a str>) -> Result<()> {
    let missing: Vec<&str> = wanted.copied().filter(|p| !installed(p)).collect();
    if !missing.is_empty() {
        if unsafe { libc::geteuid() } != 0 {
            bail!("missing Debian packages {missing:?}, and installing them needs root");
        }
        sh(Command::new("apt-get").args(["update", "-q"]))?;
        sh(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing))?;
    }
    Ok(())
}

/// Debian's rustc on the LLVM bpf-linker is built for, and bpf-linker.
fn toolchain() -> Result<()> {
    check_rustc()?;
    let linker_ok = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !linker_ok {
        sh(Command::new("cargo")
            .env("LLVM_PREFIX", format!("/usr/lib/llvm-{LLVM_MAJOR}"))
            .args([
                "install",
                &format!("bpf-linker@{BPF_LINKER}"),
                "--locked",
                "--no-default-features",
            ])
            .args(["--features", &format!("llvm-{LLVM_MAJOR}"), "-j2"]))?;
    }
    Ok(())
}

/// uv and bun at their pinned versions, installed only when another (or
/// none) is there.
fn scenario_tools() -> Result<()> {
    let uv_ok = Command::new("/usr/local/bin/uv")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == format!("uv {UV}"));
    let bun_ok = std::fs::read_to_string("/usr/lib/node_modules/bun/package.json")
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["version"] == BUN);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if (!uv_ok || !bun_ok) && !root {
        bail!("uv {UV} and bun {BUN} (the scenario corpus's) are missing, and installing them needs root");
    }
    if !uv_ok {
        sh(Command::new("/usr/bin/pip3")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .args(["install", "-q", "--break-system-packages"])
            .arg(format!("uv=={UV}")))?;
    }
    if !bun_ok {
        sh(Command::new("npm")
            .args(["install", "-g", "-q", "--no-audit", "--no-fund"])
            .arg(format!("bun@{BUN}")))?;
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with("install ok installed"))
}

/// Debian may move rustc-web to a new LLVM; then bpf-linker's feature and
/// perhaps the aya versions must move too. Say so instead of failing late.
fn check_rustc() -> Result<()> {
    let out = Command::new("/usr/bin/rustc")
        .arg("-vV")
        .output()
        .context("run /usr/bin/rustc -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let llvm = text
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .unwrap_or("?");
    if llvm.split('.').next() != Some(LLVM_MAJOR) {
        bail!(
            "Debian's /usr/bin/rustc now uses LLVM {llvm}, not {LLVM_MAJOR}: install llvm-N-dev, \
             build bpf-linker with --features llvm-N, and check the aya versions (toolchain.md)\n{text}"
        );
    }
    Ok(())
}
