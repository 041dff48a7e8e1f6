//! Package state readers for the third witness (issue 11): when the kernel
//! reports a write to a package manager's state (dpkg's `status` file, a
//! Python `*.dist-info` or `*.egg-info`, a `node_modules/*/package.json`)
//! or to an executable in a `PATH` folder, these read what the state says
//! now, so an install is reported as what *changed* (name, version,
//! previous version, action: [`Change`]) and not only as what was typed.
//!
//! This is a library of pure readers: no threads, no pipeline, no
//! credentials; the caller decides when to read and attaches the result
//! to a run or an alert.
//!
//! The files are hostile until read: whoever can write a venv's
//! `site-packages` or a `--root` can plant a link, a FIFO or a 2 GiB file
//! where root will read. So every reader opens with
//! `O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC|O_NOCTTY` (a symbolic link at the path
//! is refused, not followed; a FIFO does not hang the open; inside a
//! `.dist-info` each member is opened the same way beneath the folder's
//! descriptor), `fstat`s what
//! it opened and requires a regular file (a folder for a `.dist-info`),
//! caps the bytes it reads before it allocates them, and rejects what
//! breaks a rule with a reason ([`Rejected`]), never a panic. Names and
//! versions that are not clean printable UTF-8 are escaped losslessly
//! (invalid bytes and control characters as `\xNN`, a backslash as `\\`:
//! what [`crate::event::unescape`] reads back) and flagged `escaped`;
//! an over-long value is cut at [`MAX_VALUE`] bytes and flagged
//! `truncated`; nothing is dropped silently.
//!
//! `O_NOFOLLOW` guards the last part of the path only: the folders on the
//! way are followed. The caller passes paths as the kernel resolved them
//! (no links on the way) and as seen from the writer's root; a user who
//! can replace a folder on the way between the kernel's report and the
//! read can make root read another `.dist-info` or `package.json` than
//! the one written (never a file of another name).
//!
//! The readers, and the [`Change`]s each gives:
//! - [`dpkg`]: a snapshot of a dpkg `status` file; [`dpkg::diff`] of two
//!   snapshots, ordered by Debian's rules ([`dpkg::compare_versions`]);
//! - [`python`]: a `NAME-VERSION.dist-info` or `.egg-info` (folder or
//!   file), or only its folder's name once it is gone; [`python::change`]
//!   of two readings, ordered by PEP 440 ([`python::compare_versions`]);
//! - [`npm`]: a `package.json` under `node_modules`; [`npm::change`] of
//!   two readings, ordered by SemVer ([`npm::compare_versions`]);
//! - [`exe`]: an executable in a `PATH` folder, with its SHA-256;
//!   [`exe::ExeFacts::change`] names it under [`UNMANAGED`].

use std::{
    fs::File,
    io::{self, Read},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
};

pub mod dpkg;
pub mod exe;
pub mod npm;
pub mod python;

/// The most bytes of a name or version kept; past it, the value is cut
/// and flagged `truncated`.
pub const MAX_VALUE: usize = 1024;

/// What happened to a package between two readings of the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Absent before, present now.
    Install,
    /// Present before, absent now.
    Remove,
    /// Present before and now, the version now higher.
    Upgrade,
    /// Present before and now, the version now lower.
    Downgrade,
    /// Present before and now at the same version, unpacked again (seen
    /// only when a reading falls while the package is being unpacked: a
    /// reinstall between two readings leaves no trace in the state).
    Reinstall,
}

impl Action {
    /// The word used in events (`swmon.changes[].action`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Remove => "remove",
            Action::Upgrade => "upgrade",
            Action::Downgrade => "downgrade",
            Action::Reinstall => "reinstall",
        }
    }
}

/// One package-state change, as the event carries it in `swmon.changes`
/// (serialized as `{manager, name, version?, previous_version?, action,
/// flags?}`, absent values and empty flags left out).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The manager whose state changed, as the catalogue names it
    /// ([`crate::catalogue::Manager::as_str`]: `dpkg`, `pip`, `uv`, `npm`,
    /// ...), or [`UNMANAGED`] for an executable no manager recorded.
    pub manager: &'static str,
    /// The package: for dpkg `NAME`, or `NAME:ARCH` for a `Multi-Arch:
    /// same` package; escaped and flagged when not clean UTF-8.
    pub name: String,
    /// The version now (`None` for a removal, or when the state has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The version before (`None` for an install).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
    pub action: Action,
    /// Stable words about the reading: `escaped`, `truncated`, and the
    /// readers' own (see each reader).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<&'static str>,
}

/// What to read for a path the kernel reported written, renamed or
/// removed: which reader, and the path to give it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A dpkg admin folder's `status` (for its `status`, `status-new`,
    /// `status-old`, `updates/*` and `info/*`): read it with
    /// [`dpkg::read`] once the run is over (dpkg folds its `updates/`
    /// journal into `status` when it ends; mid-run, `status` may lag).
    DpkgStatus(PathBuf),
    /// A `.dist-info` or `.egg-info` (for it or anything in it): read it
    /// with [`python::read_dist_info`], or, gone, [`python::from_folder_name`].
    DistInfo(PathBuf),
    /// `node_modules/[@scope/]NAME/package.json` itself (not one deeper in
    /// the package, `node_modules/glob/dist/esm/package.json`): read it
    /// with [`npm::read_package_json`].
    PackageJson(PathBuf),
}

/// The package state `path` belongs to, by its name alone (no I/O), or
/// `None` for a path that is none of the managers' state above (an
/// executable in a `PATH` folder is the caller's to recognize, by its
/// folder). A dpkg admin folder is one named `dpkg` (`--admindir`
/// elsewhere is the caller's).
pub fn locate(path: &Path) -> Option<Location> {
    use std::path::Component;
    let parts: Vec<Component> = path.components().collect();
    let name = |i: usize| parts.get(i).map(|c| c.as_os_str().as_bytes());
    let upto = |i: usize| parts[..=i].iter().collect::<PathBuf>();
    if let Some(i) = parts.iter().position(|c| {
        let n = c.as_os_str().as_bytes();
        n.len() > 10 && n.ends_with(b".dist-info") || n.len() > 9 && n.ends_with(b".egg-info")
    }) {
        return Some(Location::DistInfo(upto(i)));
    }
    let last = parts.len().checked_sub(1)?;
    // `.../dpkg/status*`, `.../dpkg/updates/N`, `.../dpkg/info/X`.
    for admin in [last.checked_sub(1), last.checked_sub(2)]
        .into_iter()
        .flatten()
    {
        if name(admin) != Some(b"dpkg") {
            continue;
        }
        let direct = admin + 1 == last
            && matches!(name(last), Some(b"status" | b"status-new" | b"status-old"));
        let nested = admin + 2 == last && matches!(name(admin + 1), Some(b"updates" | b"info"));
        if direct || nested {
            return Some(Location::DpkgStatus(upto(admin).join("status")));
        }
    }
    if name(last) == Some(b"package.json") && last >= 2 {
        let in_modules = |i: usize| name(i) == Some(b"node_modules");
        let plain = in_modules(last - 2);
        let scoped = last >= 3
            && in_modules(last - 3)
            && name(last - 2).is_some_and(|s| s.starts_with(b"@") && s.len() > 1);
        if plain || scoped {
            return Some(Location::PackageJson(path.to_owned()));
        }
    }
    None
}

/// One side of [`between`]: a reading's version and flags.
struct Side<'a> {
    version: Option<&'a str>,
    flags: &'a [&'static str],
}

/// The change between two readings of one package's state (`None`: not
/// there), or `None` when there is none to report: absent to present is
/// an install, present to absent a removal, and between two versions
/// `order(new, old)` decides (`None` from it: versions it cannot order,
/// reported as an upgrade flagged `version-order-unknown`); the same
/// version again is a reinstall (the state was written anew), flagged
/// `version-spelling-changed` when the strings differ (`1.0` and `1.0.0`);
/// either version missing is an upgrade flagged `no-version`. Both sides'
/// flags are carried over.
fn between(
    manager: &'static str,
    name: &str,
    old: Option<Side>,
    new: Option<Side>,
    order: fn(&str, &str) -> Option<std::cmp::Ordering>,
) -> Option<Change> {
    use std::cmp::Ordering;
    let mut flags = Vec::new();
    for side in old.iter().chain(new.iter()) {
        for &f in side.flags {
            push_flag(&mut flags, f);
        }
    }
    let action = match (&old, &new) {
        (None, None) => return None,
        (None, Some(_)) => Action::Install,
        (Some(_), None) => Action::Remove,
        (Some(o), Some(n)) => match (o.version, n.version) {
            (Some(a), Some(b)) => match order(b, a) {
                Some(Ordering::Greater) => Action::Upgrade,
                Some(Ordering::Less) => Action::Downgrade,
                Some(Ordering::Equal) => {
                    if a != b {
                        push_flag(&mut flags, "version-spelling-changed");
                    }
                    Action::Reinstall
                }
                None if a == b => Action::Reinstall,
                None => {
                    push_flag(&mut flags, "version-order-unknown");
                    Action::Upgrade
                }
            },
            (None, None) => Action::Reinstall,
            _ => {
                push_flag(&mut flags, "no-version");
                Action::Upgrade
            }
        },
    };
    Some(Change {
        manager,
        name: name.to_owned(),
        version: new.and_then(|n| n.version).map(str::to_owned),
        previous_version: old.and_then(|o| o.version).map(str::to_owned),
        action,
        flags,
    })
}

/// The manager name of a change to an executable no manager recorded.
pub const UNMANAGED: &str = "unmanaged";

/// Why a piece of state was not read.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The errno's text stays out of the event.
    #[error("can't open it")]
    Open(#[source] io::Error),
    /// `ELOOP` under `O_NOFOLLOW`: a link at the path (or, rarely, more
    /// than 40 links on the way to it).
    #[error("it is a symbolic link (not followed)")]
    Symlink,
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("bigger than {0} bytes")]
    TooBig(u64),
    #[error("read error")]
    Read(#[source] io::Error),
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("over a limit: {0}")]
    Limit(&'static str),
    #[error("no {0} in it")]
    Missing(&'static str),
}

impl Rejected {
    /// A short stable word for the event.
    pub fn flag(&self) -> &'static str {
        match self {
            Rejected::Open(e) if e.kind() == io::ErrorKind::NotFound => "gone",
            Rejected::Open(_) => "open-failed",
            Rejected::Symlink => "symlink",
            Rejected::NotRegular(_) => "not-regular",
            Rejected::TooBig(_) => "too-big",
            Rejected::Read(_) => "read-failed",
            Rejected::Malformed(_) => "malformed",
            Rejected::Limit(_) => "over-limit",
            Rejected::Missing(_) => "no-metadata",
        }
    }

    /// An open's error: `ELOOP` under `O_NOFOLLOW` is a link at the path.
    fn open(e: io::Error) -> Rejected {
        match e.raw_os_error() {
            Some(libc::ELOOP) => Rejected::Symlink,
            _ => Rejected::Open(e),
        }
    }
}

/// The flags every reader opens with.
const OPEN_FLAGS: i32 =
    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;

/// `openat(dir, name, OPEN_FLAGS | extra)`; `dir` `None` for the current
/// folder (or an absolute `name`).
fn open_at(dir: Option<&OwnedFd>, name: &Path, extra: i32) -> Result<File, Rejected> {
    let c = std::ffi::CString::new(name.as_os_str().as_bytes())
        .map_err(|_| Rejected::Malformed("a NUL byte in the path"))?;
    let dirfd = dir.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: a NUL-terminated path that outlives the call, integer
    // arguments; the descriptor returned is owned by nothing else.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), OPEN_FLAGS | extra) };
    if fd < 0 {
        return Err(Rejected::open(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just opened and is owned only here.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// What a file mode is, for [`Rejected::NotRegular`].
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "something else"
    }
}

/// Opens a regular file (see the module doc) and returns it with its
/// metadata; a file bigger than `max` is [`Rejected::TooBig`] when
/// `refuse_bigger`.
fn open_regular(
    dir: Option<&OwnedFd>,
    name: &Path,
    max: u64,
    refuse_bigger: bool,
) -> Result<(File, std::fs::Metadata), Rejected> {
    let file = open_at(dir, name, 0)?;
    let meta = file.metadata().map_err(Rejected::Read)?;
    if !meta.file_type().is_file() {
        return Err(Rejected::NotRegular(kind_of(&meta)));
    }
    if refuse_bigger && meta.len() > max {
        return Err(Rejected::TooBig(max));
    }
    Ok((file, meta))
}

/// Reads at most `cap` bytes from `file`, allocating no more than the file
/// says it holds (and never more than `cap`); the bool says whether bytes
/// were left unread.
fn read_prefix(file: &mut File, len_hint: u64, cap: u64) -> Result<(Vec<u8>, bool), Rejected> {
    let want = len_hint.min(cap);
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    // One byte past the cap tells whether there was more.
    file.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(Rejected::Read)?;
    let more = buf.len() as u64 > cap;
    if more {
        buf.truncate(usize::try_from(cap).unwrap_or(usize::MAX));
    }
    Ok((buf, more))
}

/// A value of the state as a clean string: returned as is when it is
/// printable UTF-8; else escaped losslessly (invalid bytes and control
/// characters as `\xNN`, `\` as `\\`, which [`crate::event::unescape`]
/// reverses) and `escaped` pushed onto `flags`. Longer than [`MAX_VALUE`]
/// bytes, it is cut there first and `truncated` pushed.
fn clean(bytes: &[u8], flags: &mut Vec<&'static str>) -> String {
    let bytes = if bytes.len() > MAX_VALUE {
        push_flag(flags, "truncated");
        &bytes[..MAX_VALUE]
    } else {
        bytes
    };
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(char::is_control) {
            return s.to_owned();
        }
    }
    push_flag(flags, "escaped");
    let mut out = String::with_capacity(bytes.len() + 8);
    let hex = |out: &mut String, b: u8| out.push_str(&format!("\\x{b:02x}"));
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if c.is_control() {
                let mut utf8 = [0u8; 4];
                for &b in c.encode_utf8(&mut utf8).as_bytes() {
                    hex(&mut out, b);
                }
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            hex(&mut out, b);
        }
    }
    out
}

/// Pushes `flag` once.
fn push_flag(flags: &mut Vec<&'static str>, flag: &'static str) {
    if !flags.contains(&flag) {
        flags.push(flag);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};

    /// A fresh folder for one test, removed when dropped.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("swmon-state-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).expect("temp dir");
            TempDir(d)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A file of the test data under `swmon/tests/data/state/`.
    pub fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/state")
            .join(name)
    }

    pub fn mkfifo(p: &Path) {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_values_pass_and_others_are_escaped_losslessly() {
        let mut flags = Vec::new();
        assert_eq!(clean(b"nginx-1.22.1", &mut flags), "nginx-1.22.1");
        assert_eq!(clean("caf\u{e9}".as_bytes(), &mut flags), "caf\u{e9}");
        assert!(flags.is_empty());
        for raw in [
            &b"a\xffb\\c"[..],
            b"line\nbreak",
            b"\x1b[31mred",
            "c1\u{85}".as_bytes(),
        ] {
            let mut flags = Vec::new();
            let s = clean(raw, &mut flags);
            assert_eq!(flags, ["escaped"], "{s}");
            assert!(!s.chars().any(char::is_control), "{s:?}");
            assert_eq!(crate::event::unescape(&s), raw);
        }
        let mut flags = Vec::new();
        assert_eq!(clean(b"a\xffb", &mut flags), "a\\xffb");
    }

    #[test]
    fn paths_are_located() {
        let loc = |p: &str| locate(Path::new(p));
        let dpkg = Some(Location::DpkgStatus("/var/lib/dpkg/status".into()));
        for p in [
            "/var/lib/dpkg/status",
            "/var/lib/dpkg/status-new",
            "/var/lib/dpkg/updates/0003",
            "/var/lib/dpkg/info/nginx.list",
        ] {
            assert_eq!(loc(p), dpkg, "{p}");
        }
        assert_eq!(
            loc("/srv/chroot/var/lib/dpkg/updates/tmp.i"),
            Some(Location::DpkgStatus(
                "/srv/chroot/var/lib/dpkg/status".into()
            ))
        );
        for p in [
            "/var/lib/dpkg/lock",
            "/var/lib/dpkg/info/x/y",
            "/etc/status",
            "/",
            "",
        ] {
            assert_eq!(loc(p), None, "{p}");
        }
        let site = "/venv/lib/python3.11/site-packages";
        assert_eq!(
            loc(&format!("{site}/requests-2.31.0.dist-info/RECORD")),
            Some(Location::DistInfo(
                format!("{site}/requests-2.31.0.dist-info").into()
            ))
        );
        assert_eq!(
            loc("/usr/lib/python3/dist-packages/gpg-1.18.0-py3.11.egg-info"),
            Some(Location::DistInfo(
                "/usr/lib/python3/dist-packages/gpg-1.18.0-py3.11.egg-info".into()
            ))
        );
        assert_eq!(loc(&format!("{site}/.dist-info")), None);
        let nm = "/app/node_modules";
        for p in [
            format!("{nm}/left-pad/package.json"),
            format!("{nm}/@tufjs/models/package.json"),
            format!("{nm}/a/node_modules/b/package.json"),
        ] {
            assert_eq!(
                loc(&p),
                Some(Location::PackageJson(p.clone().into())),
                "{p}"
            );
        }
        for p in [
            format!("{nm}/glob/dist/esm/package.json"),
            format!("{nm}/package.json"),
            format!("{nm}/@/x/package.json"),
            format!("{nm}/.package-lock.json"),
            "/app/package.json".to_owned(),
        ] {
            assert_eq!(loc(&p), None, "{p}");
        }
    }

    #[test]
    fn a_change_serializes_as_the_event_carries_it() {
        let c = Change {
            manager: "dpkg",
            name: "nginx".into(),
            version: Some("1.22.1-9".into()),
            previous_version: None,
            action: Action::Install,
            flags: vec![],
        };
        assert_eq!(
            serde_json::to_string(&c).expect("json"),
            r#"{"manager":"dpkg","name":"nginx","version":"1.22.1-9","action":"install"}"#
        );
        let c = Change {
            version: None,
            previous_version: Some("1.0".into()),
            action: Action::Remove,
            flags: vec!["config-files"],
            ..c
        };
        assert_eq!(
            serde_json::to_string(&c).expect("json"),
            r#"{"manager":"dpkg","name":"nginx","previous_version":"1.0","action":"remove","flags":["config-files"]}"#
        );
    }

    #[test]
    fn an_over_long_value_is_cut_and_flagged() {
        let mut flags = Vec::new();
        let s = clean(&vec![b'x'; MAX_VALUE * 4], &mut flags);
        assert_eq!(s.len(), MAX_VALUE);
        assert_eq!(flags, ["truncated"]);
        // A cut through a character escapes the half left.
        let mut flags = Vec::new();
        let mut v = vec![b'x'; MAX_VALUE - 1];
        v.extend_from_slice("\u{e9}".as_bytes());
        let s = clean(&v, &mut flags);
        assert!(s.ends_with("\\xc3"), "{s}");
        assert_eq!(flags, ["truncated", "escaped"]);
    }

    #[test]
    fn read_prefix_allocates_at_most_the_cap_and_says_more() {
        let d = test_support::TempDir::new("prefix");
        let p = d.path().join("f");
        std::fs::write(&p, b"0123456789").expect("write");
        let (mut f, meta) = open_regular(None, &p, 4, false).expect("open");
        let (b, more) = read_prefix(&mut f, meta.len(), 4).expect("read");
        assert_eq!((&b[..], more), (&b"0123"[..], true));
        let (mut f, meta) = open_regular(None, &p, 100, true).expect("open");
        let (b, more) = read_prefix(&mut f, meta.len(), 100).expect("read");
        assert_eq!((b.len(), more), (10, false));
        assert!(matches!(
            open_regular(None, &p, 4, true),
            Err(Rejected::TooBig(4))
        ));
    }
}
