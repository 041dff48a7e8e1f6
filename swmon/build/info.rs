//! What `swmon --version` says about the build: the git revision of the
//! source tree (and whether it had changes not committed), the build time,
//! and the eBPF object's SHA-256. Used by `build.rs`, which passes them to
//! the crate as environment variables, and by the library's tests.
//!
//! A tree that is no git checkout of its own (a tarball, even one unpacked
//! inside another repository) or a host without git says `unknown`.

use std::{path::Path, process::Command};

/// `git` in `root`, its output trimmed; `None` on any failure.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The revision of the checkout whose top is `root`: `REV` or
/// `REV-dirty` (tracked files changed), `unknown` when `root` is not the
/// top of a git checkout.
#[allow(dead_code)]
pub fn revision(root: &Path) -> String {
    let top = git(root, &["rev-parse", "--show-toplevel"]);
    let same = match (top, root.canonicalize()) {
        (Some(top), Ok(root)) => Path::new(&top).canonicalize().ok() == Some(root),
        _ => false,
    };
    if !same {
        return "unknown".into();
    }
    let Some(rev) = git(root, &["rev-parse", "HEAD"]).filter(|r| is_revision(r)) else {
        return "unknown".into();
    };
    match git(root, &["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => rev,
        Some(_) => format!("{rev}-dirty"),
        None => format!("{rev}-unknown-state"),
    }
}

/// A full hexadecimal object name (SHA-1 or SHA-256).
#[allow(dead_code)]
pub fn is_revision(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The files whose change means the revision may have changed: the
/// checkout's `HEAD`, the branch it points at, the packed refs and the
/// index (empty when `root` is no git checkout).
#[allow(dead_code)]
pub fn revision_inputs(root: &Path) -> Vec<String> {
    ["HEAD", "index", "packed-refs"]
        .iter()
        .filter_map(|p| git(root, &["rev-parse", "--git-path", p]))
        .chain(
            git(root, &["symbolic-ref", "-q", "HEAD"])
                .and_then(|r| git(root, &["rev-parse", "--git-path", &r])),
        )
        .map(|p| {
            let p = Path::new(&p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                root.join(p)
            }
        })
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect()
}

/// UTC time `secs` after the epoch, RFC 3339 (`2026-12-02T05:00:00Z`).
#[allow(dead_code)]
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
