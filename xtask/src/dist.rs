//! `cargo xtask dist`: the Debian package. Builds the release binary (the
//! eBPF object is embedded by swmon/build.rs), has it write its man pages
//! and shell completions (`swmon generate`, from its clap definitions),
//! and packs them with cargo-deb (pinned, installed from crates.io when
//! absent or another version) as `swmon/Cargo.toml`'s
//! `[package.metadata.deb]` lists: the binary, the systemd unit, the
//! config file, logrotate's snippet and the maintainer scripts, all under
//! `swmon/dist/`.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};

use crate::{build_release, cargo, root, sh};

/// The cargo-deb release the package is built with.
const CARGO_DEB: &str = "3.8.0";

/// Where `swmon generate` writes: the asset paths of
/// `[package.metadata.deb]` name it as `target/release/swmon-dist`.
fn generated() -> PathBuf {
    root().join("target/release/swmon-dist")
}

/// Where the `.deb` goes.
fn out_dir() -> PathBuf {
    root().join("target/dist")
}

/// Installs cargo-deb at [`CARGO_DEB`] unless that version is there.
fn cargo_deb() -> Result<()> {
    let present = cargo()
        .args(["deb", "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if present.as_deref() == Some(&format!("cargo-deb {CARGO_DEB}")) {
        return Ok(());
    }
    eprintln!(
        "xtask: cargo-deb {CARGO_DEB} wanted, found {}",
        present.as_deref().unwrap_or("none")
    );
    sh(cargo().args(["install", "cargo-deb", "--locked", "--version", CARGO_DEB]))
}

/// Builds the package; returns the `.deb`'s path.
pub fn build() -> Result<PathBuf> {
    cargo_deb()?;
    build_release()?;
    let gen = generated();
    if gen.exists() {
        std::fs::remove_dir_all(&gen).with_context(|| format!("remove {}", gen.display()))?;
    }
    sh(Command::new(root().join("target/release/swmon"))
        .arg("generate")
        .arg(&gen))?;
    // Debian's man pages are gzipped; cargo-deb leaves files from the
    // target folder as they are.
    for page in std::fs::read_dir(gen.join("man"))? {
        sh(Command::new("gzip").arg("-9n").arg(page?.path()))?;
    }
    let out = out_dir();
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("remove {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    // --no-build: the binary build_release made is the one packed (and
    // the one `swmon generate` ran); cargo-deb strips it.
    sh(cargo()
        .args(["deb", "-p", "swmon", "--no-build", "--output"])
        .arg(&out))?;
    let debs: Vec<PathBuf> = std::fs::read_dir(&out)?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(one.clone()),
        other => bail!(
            "cargo deb left {} .deb files in {}",
            other.len(),
            out.display()
        ),
    }
}
