//! Builds the eBPF object (`swmon-ebpf`) and leaves it in `OUT_DIR/swmon` for
//! `aya::include_bytes_aligned!`, so a plain `cargo build` gives a working
//! binary.
//!
//! Not aya-build: it insists on a rustup toolchain name, and the compiler
//! that can build for `bpfel-unknown-none` here is Debian's `/usr/bin/rustc`
//! (it ships a prebuilt `core` for the target; rustup has no rust-src). So
//! this runs cargo in the eBPF crate's folder, whose `.cargo/config.toml`
//! names that compiler, with the environment of this build scrubbed.
//! `AYA_BUILD_SKIP=1` (for `cargo check` and clippy) writes an empty object
//! instead, which the binary refuses to load with a clear error.
//!
//! It also gives the crate what `swmon --version` says (`build/info.rs`):
//! `SWMON_GIT_REVISION` (`unknown` outside a git checkout, as from a
//! tarball), `SWMON_BUILD_TIME` (`SOURCE_DATE_EPOCH` when set, for a
//! reproducible build) and `SWMON_EBPF_SHA256`, the hash of the object
//! embedded. The revision is read again whenever the checkout's HEAD or
//! index, or a source folder, changes.

#[path = "build/info.rs"]
mod info;

use std::{env, path::PathBuf, process::Command};

use sha2::{Digest, Sha256};

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = manifest
        .parent()
        .expect("swmon sits in the workspace")
        .to_path_buf();
    let ebpf = root.join("swmon-ebpf");
    for dir in [
        "swmon-ebpf/src",
        "swmon-ebpf/Cargo.toml",
        "swmon-ebpf/.cargo/config.toml",
        "swmon-common/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // The revision and whether the tree is dirty: read again when the
    // checkout moves or the sources change.
    for dir in ["swmon/src", "swmon/build", "swmon/Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for path in info::revision_inputs(&root) {
        println!("cargo:rerun-if-changed={path}");
    }
    println!(
        "cargo:rustc-env=SWMON_GIT_REVISION={}",
        info::revision(&root)
    );
    let build_time = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!(
        "cargo:rustc-env=SWMON_BUILD_TIME={}",
        info::rfc3339(build_time)
    );
    let object = out.join("swmon");
    if env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v == "true") {
        std::fs::write(&object, b"").expect("write the empty eBPF object");
        println!(
            "cargo:rustc-env=SWMON_EBPF_SHA256=none (built with AYA_BUILD_SKIP: no eBPF object)"
        );
        return;
    }

    let target_dir = root.join("target").join("ebpf");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&ebpf)
        .args(["build", "--release", "--bin", "swmon", "--target-dir"])
        .arg(&target_dir);
    // This build's variables describe the host build; the eBPF build must
    // not inherit them (RUSTC would replace Debian's compiler, clippy's
    // wrapper would run on BPF code, host rustflags would break the target).
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE"
            || key.starts_with("RUSTC")
            || key.starts_with("RUSTFLAGS")
            || key == "RUSTDOC"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("RUSTC", "/usr/bin/rustc");
    let status = cmd.status().expect("run cargo for swmon-ebpf");
    if !status.success() {
        panic!(
            "building swmon-ebpf failed ({status}); run `cargo xtask setup` to install Debian's \
             rustc-web, libstd-rust-web-dev-bpf and bpf-linker"
        );
    }
    let built = target_dir
        .join("bpfel-unknown-none")
        .join("release")
        .join("swmon");
    std::fs::copy(&built, &object).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    let bytes = std::fs::read(&object).unwrap_or_else(|e| panic!("read {}: {e}", object.display()));
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=SWMON_EBPF_SHA256={hex}");
}
