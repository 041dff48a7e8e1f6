//! Python's installed-package state: a `NAME-VERSION.dist-info` folder
//! (what pip, uv and every wheel installer write, in any `site-packages`:
//! system, user, venv, `--target`) or a `.egg-info` (setuptools' older
//! form; a folder, or one file holding what `PKG-INFO` would).
//!
//! The name and version are `METADATA`'s (`PKG-INFO`'s) `Name:` and
//! `Version:` headers (read with [`crate::package_file::fields::field`],
//! from the first [`MAX_METADATA`] bytes: the headers come first, the long
//! description after them). When that file is absent, refused (a link, a
//! FIFO) or lacks `Name:`, the folder's name gives them instead, flagged
//! `name-from-folder` with why (`metadata-missing`, `metadata-refused`,
//! `metadata-malformed`). A `Name:` that is not the folder's (compared as
//! PEP 503 normalizes names) is flagged `name-differs-from-folder`.
//!
//! `INSTALLER` (one line: `pip`, `uv`, ...) is reported as is; it is
//! absent (flagged `no-installer`) when the files were put there by hand
//! (`unzip` of a wheel), by a Debian package, or by setuptools.

use std::{
    fs::File,
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::Path,
};

use super::{clean, open_at, open_regular, push_flag, read_prefix, Action, Change, Rejected};
use crate::catalogue::Manager;

/// The most bytes of `METADATA` or `PKG-INFO` read (its headers are at
/// its start; a longer file is read that far, not refused).
pub const MAX_METADATA: u64 = 1 << 20;
/// The most bytes of `INSTALLER` read.
pub const MAX_INSTALLER: u64 = 256;

/// Which form of the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A `.dist-info` folder (PEP 376/627).
    DistInfo,
    /// A `.egg-info` folder.
    EggInfo,
    /// A `.egg-info` file (distutils' form).
    EggInfoFile,
}

/// What an installed Python distribution's state says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistInfo {
    /// As `Name:` writes it (not normalized).
    pub name: String,
    pub version: Option<String>,
    /// `INSTALLER`'s first line, trimmed.
    pub installer: Option<String>,
    pub kind: Kind,
    /// See the module doc; also `escaped` and `truncated`.
    pub flags: Vec<&'static str>,
}

impl DistInfo {
    /// The manager a change is reported under: `uv` or `conda` when
    /// `INSTALLER` says so, else `pip` (the state is Python's packaging
    /// standard, which pip keeps; [`DistInfo::installer`] says who wrote
    /// it, and its absence is flagged).
    pub fn manager(&self) -> &'static str {
        match self.installer.as_deref() {
            Some("uv") => Manager::Uv.as_str(),
            Some("conda") => Manager::Conda.as_str(),
            _ => Manager::Pip.as_str(),
        }
    }

    /// This distribution as a [`Change`] (the caller knows the action:
    /// a folder created, or removed, and the version it replaced).
    pub fn change(&self, action: Action, previous_version: Option<String>) -> Change {
        Change {
            manager: self.manager(),
            name: self.name.clone(),
            version: match action {
                Action::Remove => None,
                _ => self.version.clone(),
            },
            previous_version: match action {
                Action::Remove => self.version.clone(),
                _ => previous_version,
            },
            action,
            flags: self.flags.clone(),
        }
    }
}

/// Reads the `.dist-info` or `.egg-info` at `path` (see the module doc, and
/// the module doc of [`super`] for how it is opened).
pub fn read_dist_info(path: &Path) -> Result<DistInfo, Rejected> {
    let folder = path
        .file_name()
        .ok_or(Rejected::Malformed("no file name"))?
        .as_bytes();
    let (stem, dist) = if let Some(s) = folder.strip_suffix(b".dist-info") {
        (s, true)
    } else if let Some(s) = folder.strip_suffix(b".egg-info") {
        (s, false)
    } else {
        return Err(Rejected::Malformed("not a .dist-info or .egg-info name"));
    };
    let top = open_at(None, path, 0)?;
    let meta = top.metadata().map_err(Rejected::Read)?;
    let mut flags = Vec::new();
    let (kind, text, installer) = if meta.is_dir() {
        let dir = OwnedFd::from(top);
        let (kind, member) = if dist {
            (Kind::DistInfo, "METADATA")
        } else {
            (Kind::EggInfo, "PKG-INFO")
        };
        let text = match open_regular(Some(&dir), Path::new(member), MAX_METADATA, false) {
            Ok((mut f, m)) => Some(read_prefix(&mut f, m.len(), MAX_METADATA)?.0),
            Err(Rejected::Open(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                push_flag(&mut flags, "metadata-missing");
                None
            }
            Err(_) => {
                push_flag(&mut flags, "metadata-refused");
                None
            }
        };
        let installer = read_installer(&dir, &mut flags)?;
        (kind, text, installer)
    } else if meta.is_file() && !dist {
        let mut f: File = top;
        push_flag(&mut flags, "no-installer");
        (
            Kind::EggInfoFile,
            Some(read_prefix(&mut f, meta.len(), MAX_METADATA)?.0),
            None,
        )
    } else {
        return Err(Rejected::NotRegular(super::kind_of(&meta)));
    };
    let header = |key| {
        text.as_deref()
            .and_then(|t| crate::package_file::fields::field(t, key))
            .map(<[u8]>::trim_ascii)
            .filter(|v| !v.is_empty())
    };
    let (folder_name, folder_version) = split_folder(stem);
    let (name, version) = match header("Name") {
        Some(name) => {
            if normalize(name) != normalize(folder_name) {
                push_flag(&mut flags, "name-differs-from-folder");
            }
            (name, header("Version"))
        }
        None => {
            if text.is_some() {
                push_flag(&mut flags, "metadata-malformed");
            }
            push_flag(&mut flags, "name-from-folder");
            (folder_name, folder_version)
        }
    };
    if name.is_empty() {
        return Err(Rejected::Missing("name"));
    }
    let name = clean(name, &mut flags);
    let version = version.map(|v| clean(v, &mut flags));
    Ok(DistInfo {
        name,
        version,
        installer,
        kind,
        flags,
    })
}

/// `INSTALLER`'s first line, if there is one.
fn read_installer(
    dir: &OwnedFd,
    flags: &mut Vec<&'static str>,
) -> Result<Option<String>, Rejected> {
    match open_regular(Some(dir), Path::new("INSTALLER"), MAX_INSTALLER, false) {
        Ok((mut f, m)) => {
            let (bytes, _) = read_prefix(&mut f, m.len(), MAX_INSTALLER)?;
            let line = bytes
                .split(|&c| c == b'\n')
                .next()
                .unwrap_or(&[])
                .trim_ascii();
            if line.is_empty() {
                push_flag(flags, "no-installer");
                return Ok(None);
            }
            Ok(Some(clean(line, flags)))
        }
        Err(Rejected::Open(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            push_flag(flags, "no-installer");
            Ok(None)
        }
        Err(_) => {
            push_flag(flags, "installer-refused");
            Ok(None)
        }
    }
}

/// `NAME-VERSION[-pyX.Y...]` of a folder's stem: the name before the first
/// `-`, the version up to the next.
fn split_folder(stem: &[u8]) -> (&[u8], Option<&[u8]>) {
    match stem.iter().position(|&c| c == b'-') {
        Some(i) => {
            let rest = &stem[i + 1..];
            let end = rest.iter().position(|&c| c == b'-').unwrap_or(rest.len());
            (&stem[..i], Some(&rest[..end]).filter(|v| !v.is_empty()))
        }
        None => (stem, None),
    }
}

/// A name as PEP 503 compares them: lower case, each run of `-`, `_`,
/// `.` one `-`.
fn normalize(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    for &c in name {
        if matches!(c, b'-' | b'_' | b'.') {
            if out.last() != Some(&b'-') {
                out.push(b'-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_support::{data, mkfifo, TempDir};

    fn dist(d: &TempDir, folder: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
        let p = d.path().join(folder);
        std::fs::create_dir(&p).expect("mkdir");
        for (name, bytes) in files {
            std::fs::write(p.join(name), bytes).expect("write");
        }
        p
    }

    fn real(name: &str) -> Vec<u8> {
        std::fs::read(data(name)).expect("test data")
    }

    #[test]
    fn real_dist_info_and_egg_info_are_read() {
        let d = TempDir::new("py-real");
        let p = dist(
            &d,
            "pip-24.2.dist-info",
            &[
                ("METADATA", &real("pip-24.2.METADATA")),
                ("INSTALLER", b"pip\n"),
            ],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(
            info,
            DistInfo {
                name: "pip".into(),
                version: Some("24.2".into()),
                installer: Some("pip".into()),
                kind: Kind::DistInfo,
                flags: vec![],
            }
        );
        assert_eq!(info.manager(), "pip");
        // Debian's: no INSTALLER.
        let p = dist(
            &d,
            "PyYAML-6.0.dist-info",
            &[("METADATA", &real("PyYAML-6.0.METADATA"))],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(
            (info.name.as_str(), info.version.as_deref()),
            ("PyYAML", Some("6.0"))
        );
        assert_eq!((info.installer, info.flags), (None, vec!["no-installer"]));
        let p = dist(
            &d,
            "crcmod-1.7.egg-info",
            &[("PKG-INFO", &real("crcmod-1.7.PKG-INFO"))],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(
            (info.name.as_str(), info.version.as_deref()),
            ("crcmod", Some("1.7"))
        );
        assert_eq!(info.kind, Kind::EggInfo);
        // The one-file form.
        let info = read_dist_info(&data("bcc-0.26.0.egg-info")).expect("read");
        assert_eq!(
            (info.name.as_str(), info.version.as_deref()),
            ("bcc", Some("0.26.0"))
        );
        assert_eq!(info.kind, Kind::EggInfoFile);
    }

    #[test]
    fn uv_and_a_normalized_folder_name() {
        let d = TempDir::new("py-uv");
        let p = dist(
            &d,
            "typing_extensions-4.12.2.dist-info",
            &[
                (
                    "METADATA",
                    b"Metadata-Version: 2.1\nName: Typing.Extensions\nVersion: 4.12.2\n\nbody",
                ),
                ("INSTALLER", b"uv"),
            ],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(info.manager(), "uv");
        assert!(info.flags.is_empty(), "{:?}", info.flags);
        let c = info.change(Action::Upgrade, Some("4.0.0".into()));
        assert_eq!(
            (
                c.manager,
                c.version.as_deref(),
                c.previous_version.as_deref()
            ),
            ("uv", Some("4.12.2"), Some("4.0.0"))
        );
        let c = info.change(Action::Remove, None);
        assert_eq!(
            (c.version, c.previous_version.as_deref()),
            (None, Some("4.12.2"))
        );
    }

    #[test]
    fn without_metadata_the_folder_name_is_used_and_flagged() {
        let d = TempDir::new("py-fallback");
        // unzip of a wheel whose METADATA was left out.
        let p = dist(&d, "evil-2.0.dist-info", &[("RECORD", b"")]);
        let info = read_dist_info(&p).expect("read");
        assert_eq!(
            (info.name.as_str(), info.version.as_deref()),
            ("evil", Some("2.0"))
        );
        assert_eq!(
            info.flags,
            ["metadata-missing", "no-installer", "name-from-folder"]
        );
        // Broken: no Name header.
        let p = dist(
            &d,
            "broken-1.dist-info",
            &[("METADATA", b"\xff\xfe garbage\n")],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(info.name, "broken");
        assert!(info.flags.contains(&"metadata-malformed"));
        // A link as METADATA is not followed.
        let p = dist(&d, "linked-1.0.dist-info", &[]);
        std::os::unix::fs::symlink("/etc/shadow", p.join("METADATA")).expect("symlink");
        std::os::unix::fs::symlink("/etc/hostname", p.join("INSTALLER")).expect("symlink");
        let info = read_dist_info(&p).expect("read");
        assert_eq!(info.name, "linked");
        assert_eq!(
            info.flags,
            ["metadata-refused", "installer-refused", "name-from-folder"]
        );
        // A FIFO as METADATA does not hang.
        let p = dist(&d, "fifo-1.0.dist-info", &[]);
        mkfifo(&p.join("METADATA"));
        assert!(read_dist_info(&p)
            .expect("read")
            .flags
            .contains(&"metadata-refused"));
        // A name that is not the folder's.
        let p = dist(
            &d,
            "requests-2.0.dist-info",
            &[("METADATA", b"Name: reqeusts\nVersion: 2.0\n")],
        );
        assert!(read_dist_info(&p)
            .expect("read")
            .flags
            .contains(&"name-differs-from-folder"));
    }

    #[test]
    fn hostile_folders_are_refused_or_flagged() {
        let d = TempDir::new("py-hostile");
        let real = dist(
            &d,
            "a-1.dist-info",
            &[("METADATA", b"Name: a\nVersion: 1\n")],
        );
        let link = d.path().join("b-1.dist-info");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert!(matches!(read_dist_info(&link), Err(Rejected::Symlink)));
        let fifo = d.path().join("c-1.egg-info");
        mkfifo(&fifo);
        assert!(matches!(
            read_dist_info(&fifo),
            Err(Rejected::NotRegular("a FIFO"))
        ));
        // A .dist-info that is a file is not the standard's.
        let file = d.path().join("d-1.dist-info");
        std::fs::write(&file, b"Name: d\n").expect("write");
        assert!(matches!(
            read_dist_info(&file),
            Err(Rejected::NotRegular(_))
        ));
        assert!(matches!(
            read_dist_info(&d.path().join("x")),
            Err(Rejected::Malformed(_))
        ));
        // Escapes, and a long METADATA read only as far as the cap.
        let mut meta = b"Name: bad\x1b]0;x\x07name\nVersion: 1.0\xff\n\n".to_vec();
        meta.resize(3 << 20, b'x');
        let p = dist(
            &d,
            "bad-1.0.dist-info",
            &[("METADATA", &meta), ("INSTALLER", b"pi\xffp\n")],
        );
        let info = read_dist_info(&p).expect("read");
        assert_eq!(info.name, "bad\\x1b]0;x\\x07name");
        assert_eq!(info.version.as_deref(), Some("1.0\\xff"));
        assert_eq!(info.installer.as_deref(), Some("pi\\xffp"));
        assert!(info.flags.contains(&"escaped"));
        // A 2 GiB sparse METADATA: its first MiB is read.
        let p = dist(&d, "big-1.dist-info", &[]);
        let f = std::fs::File::create(p.join("METADATA")).expect("create");
        f.set_len(2 << 30).expect("sparse");
        let info = read_dist_info(&p).expect("read");
        assert_eq!(info.name, "big");
        assert!(info.flags.contains(&"metadata-malformed"));
    }
}
