//! What this build of swmon is, for `swmon --version`: the package
//! version, the git revision of the source tree (`-dirty` when tracked
//! files had changes; `unknown` when built outside a git checkout, as from
//! a tarball), the build time (UTC; `SOURCE_DATE_EPOCH` when set), and the
//! SHA-256 of the eBPF object embedded in the binary. `build.rs` computes
//! them (`build/info.rs`).

/// The git revision (`REV`, `REV-dirty` or `unknown`).
pub const GIT_REVISION: &str = env!("SWMON_GIT_REVISION");
/// When the build script ran, RFC 3339 UTC.
pub const BUILD_TIME: &str = env!("SWMON_BUILD_TIME");
/// The embedded eBPF object's SHA-256, hexadecimal (or why there is none).
pub const EBPF_SHA256: &str = env!("SWMON_EBPF_SHA256");

/// `swmon --version`'s text, after the program's name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ngit revision: ",
    env!("SWMON_GIT_REVISION"),
    "\nbuilt: ",
    env!("SWMON_BUILD_TIME"),
    "\neBPF object SHA-256: ",
    env!("SWMON_EBPF_SHA256"),
);

#[cfg(test)]
#[path = "../build/info.rs"]
mod info;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn the_ebpf_hash_is_the_embedded_objects() {
        let object = crate::ebpf::OBJECT;
        if object.is_empty() {
            // AYA_BUILD_SKIP: no object, and the version says so.
            assert!(EBPF_SHA256.starts_with("none"), "{EBPF_SHA256}");
        } else {
            let hex: String = Sha256::digest(object)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(EBPF_SHA256, hex);
        }
        assert!(LONG.contains(EBPF_SHA256) && LONG.contains(GIT_REVISION));
    }

    #[test]
    fn the_build_time_is_rfc3339() {
        assert_eq!(info::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(info::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(info::rfc3339(1_796_187_645), "2026-12-02T05:00:45Z");
        assert_eq!(info::rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        let b = BUILD_TIME.as_bytes();
        assert!(
            b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[19] == b'Z',
            "{BUILD_TIME}"
        );
    }

    #[test]
    fn a_tree_without_git_is_unknown() {
        let d = crate::state::test_support::TempDir::new("version-tarball");
        // A folder with no checkout of its own (inside one or not).
        assert_eq!(info::revision(d.path()), "unknown");
        let sub = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // A folder inside the checkout is not its top: unknown too.
        assert_eq!(info::revision(&sub), "unknown");
    }

    #[test]
    fn the_revision_of_this_checkout() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace");
        let have_git = std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !root.join(".git").exists() || !have_git {
            // Built from a tarball: what the binary says too.
            assert_eq!(info::revision(root), "unknown");
            return;
        }
        let rev = info::revision(root);
        let hash = rev.strip_suffix("-dirty").unwrap_or(&rev);
        assert!(info::is_revision(hash), "{rev}");
        // What the binary carries is a revision of this checkout too, or
        // unknown (its build ran outside it).
        let built = GIT_REVISION.strip_suffix("-dirty").unwrap_or(GIT_REVISION);
        assert!(
            info::is_revision(built) || built == "unknown",
            "{GIT_REVISION}"
        );
    }
}
