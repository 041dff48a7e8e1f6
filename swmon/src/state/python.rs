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

use super::{clean, open_at, open_regular, push_flag, read_prefix, Change, Rejected};
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

    /// The name as PEP 503 compares names (lower case, each run of `-`,
    /// `_`, `.` one `-`): what pairs a removed folder with the one that
    /// replaced it (`PyYAML-5.4.dist-info`, `pyyaml-6.0.dist-info`).
    pub fn normalized_name(&self) -> String {
        String::from_utf8_lossy(&normalize(self.name.as_bytes())).into_owned()
    }
}

/// The change between two readings of one distribution (`None`: not
/// there), ordered by [`compare_versions`] (PEP 440); `None` when there is
/// nothing to report. The manager and name are the new reading's (the
/// old one's for a removal). See [`super::between`] for the flags.
pub fn change(old: Option<&DistInfo>, new: Option<&DistInfo>) -> Option<Change> {
    let named = new.or(old)?;
    super::between(
        named.manager(),
        &named.name,
        old.map(side),
        new.map(side),
        compare_versions,
    )
}

/// A reading's side of [`super::between`].
fn side(d: &DistInfo) -> super::Side<'_> {
    super::Side {
        version: d.version.as_deref(),
        flags: &d.flags,
    }
}

/// What the folder's name alone says, with nothing read: for a folder
/// already removed (pip deletes the old `.dist-info` of an upgrade), or
/// one that cannot be read. Flagged `name-from-folder`.
pub fn from_folder_name(path: &Path) -> Result<DistInfo, Rejected> {
    let (stem, kind) = folder_stem(path)?;
    let (name, version) = split_folder(stem);
    if name.is_empty() {
        return Err(Rejected::Missing("name"));
    }
    let mut flags = vec!["name-from-folder"];
    let name = clean(name, &mut flags);
    let version = version.map(|v| clean(v, &mut flags));
    Ok(DistInfo {
        name,
        version,
        installer: None,
        kind,
        flags,
    })
}

/// The folder name's stem (without `.dist-info` or `.egg-info`) and the
/// kind that suffix names (a `.egg-info` file is told by what is there).
fn folder_stem(path: &Path) -> Result<(&[u8], Kind), Rejected> {
    let folder = path
        .file_name()
        .ok_or(Rejected::Malformed("no file name"))?
        .as_bytes();
    if let Some(s) = folder.strip_suffix(b".dist-info") {
        Ok((s, Kind::DistInfo))
    } else if let Some(s) = folder.strip_suffix(b".egg-info") {
        Ok((s, Kind::EggInfo))
    } else {
        Err(Rejected::Malformed("not a .dist-info or .egg-info name"))
    }
}

/// Reads the `.dist-info` or `.egg-info` at `path` (see the module doc, and
/// the module doc of [`super`] for how it is opened).
pub fn read_dist_info(path: &Path) -> Result<DistInfo, Rejected> {
    let (stem, kind) = folder_stem(path)?;
    let dist = kind == Kind::DistInfo;
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
    } else if meta.is_file() {
        return Err(Rejected::Malformed("a .dist-info that is not a folder"));
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
pub(crate) fn normalize(name: &[u8]) -> Vec<u8> {
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

/// PEP 440's version order, as `packaging.version.Version` compares:
/// `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with the spellings the
/// PEP normalizes (case, `alpha`/`beta`/`c`/`pre`/`preview`, `-`/`_`/`.`
/// separators, implicit numbers, `-N` and `rev`/`r` for post, a leading
/// `v`). Trailing zeros of the release do not count (`1.0 == 1`); a
/// development release sorts before its pre-releases, a post-release
/// after its release, a local version after the same public one.
/// `None` when either is no PEP 440 version (or has a number over 64
/// bits): the caller flags the order unknown.
pub fn compare_versions(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    Some(Pep440::parse(a)?.key().cmp(&Pep440::parse(b)?.key()))
}

/// A parsed PEP 440 version.
#[derive(Debug, PartialEq, Eq)]
struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (a=0, b=1, rc=2; number)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<LocalPart>,
}

/// A local version segment: letters sort before numbers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LocalPart {
    Text(String),
    Number(u64),
}

/// `packaging`'s infinities around a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bound<T> {
    Below,
    At(T),
    Above,
}

type Key = (
    u64,
    Vec<u64>,
    Bound<(u8, u64)>,
    Bound<u64>,
    Bound<u64>,
    Bound<Vec<LocalPart>>,
);

/// A cursor over a lower-cased version.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn sep(&mut self) -> bool {
        if matches!(self.s.get(self.i), Some(b'-' | b'_' | b'.')) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A run of digits; `Err` when it overflows.
    fn number(&mut self) -> Result<Option<u64>, ()> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        if start == self.i {
            return Ok(None);
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|d| d.parse().ok())
            .map(Some)
            .ok_or(())
    }

    /// An optional `[sep]LABEL[sep][N]` group: the label's index in
    /// `labels` and the number (0 when absent), or the cursor put back.
    fn labelled(&mut self, labels: &[&str]) -> Result<Option<(usize, u64)>, ()> {
        let start = self.i;
        self.sep();
        let Some(which) = labels.iter().position(|l| self.eat(l)) else {
            self.i = start;
            return Ok(None);
        };
        // Greedy, as the PEP's expression: a separator with no number after
        // it is this group's (`1.0r-`), and every later group may start
        // without one.
        self.sep();
        Ok(Some((which, self.number()?.unwrap_or(0))))
    }
}

impl Pep440 {
    fn parse(v: &str) -> Option<Pep440> {
        let lower = v.trim().to_ascii_lowercase();
        let mut c = Cursor {
            s: lower.as_bytes(),
            i: 0,
        };
        c.eat("v");
        let first = c.number().ok()??;
        let (epoch, first) = if c.eat("!") {
            (first, c.number().ok()??)
        } else {
            (0, first)
        };
        let mut release = vec![first];
        loop {
            let at = c.i;
            if !c.eat(".") {
                break;
            }
            match c.number().ok()? {
                Some(n) => release.push(n),
                None => {
                    c.i = at;
                    break;
                }
            }
        }
        // Longer spellings first, as the PEP's expression tries them.
        const PRE: [&str; 7] = ["alpha", "a", "beta", "b", "preview", "pre", "c"];
        let pre = match c.labelled(&["rc"]).ok()? {
            Some((_, n)) => Some((2, n)),
            None => c.labelled(&PRE).ok()?.map(|(w, n)| {
                let rank = match PRE[w] {
                    "alpha" | "a" => 0,
                    "beta" | "b" => 1,
                    _ => 2,
                };
                (rank, n)
            }),
        };
        let post = {
            let at = c.i;
            if c.eat("-") {
                match c.number().ok()? {
                    Some(n) => Some(n),
                    None => {
                        c.i = at;
                        c.labelled(&["post", "rev", "r"]).ok()?.map(|(_, n)| n)
                    }
                }
            } else {
                c.labelled(&["post", "rev", "r"]).ok()?.map(|(_, n)| n)
            }
        };
        let dev = c.labelled(&["dev"]).ok()?.map(|(_, n)| n);
        let mut local = Vec::new();
        if c.eat("+") {
            let rest = &c.s[c.i..];
            for part in rest.split(|&b| matches!(b, b'-' | b'_' | b'.')) {
                if part.is_empty() || !part.iter().all(u8::is_ascii_alphanumeric) {
                    return None;
                }
                local.push(if part.iter().all(u8::is_ascii_digit) {
                    LocalPart::Number(std::str::from_utf8(part).ok()?.parse().ok()?)
                } else {
                    LocalPart::Text(String::from_utf8(part.to_vec()).ok()?)
                });
            }
            c.i = c.s.len();
        }
        (c.i == c.s.len()).then_some(Pep440 {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    /// `packaging`'s `_cmpkey`.
    fn key(self) -> Key {
        let mut release = self.release;
        while release.last() == Some(&0) {
            release.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (None, None, Some(_)) => Bound::Below,
            (None, _, _) => Bound::Above,
            (Some(p), _, _) => Bound::At(p),
        };
        let post = self.post.map_or(Bound::Below, Bound::At);
        let dev = self.dev.map_or(Bound::Above, Bound::At);
        let local = if self.local.is_empty() {
            Bound::Below
        } else {
            Bound::At(self.local)
        };
        (self.epoch, release, pre, post, dev, local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{
        test_support::{data, mkfifo, TempDir},
        Action,
    };

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
        let old = DistInfo {
            version: Some("4.0.0".into()),
            installer: Some("pip".into()),
            ..info.clone()
        };
        let c = change(Some(&old), Some(&info)).expect("a change");
        assert_eq!(
            (
                c.manager,
                c.action,
                c.version.as_deref(),
                c.previous_version.as_deref()
            ),
            ("uv", Action::Upgrade, Some("4.12.2"), Some("4.0.0"))
        );
        let c = change(Some(&info), None).expect("a change");
        assert_eq!(
            (c.action, c.version, c.previous_version.as_deref()),
            (Action::Remove, None, Some("4.12.2"))
        );
        assert_eq!(info.normalized_name(), "typing-extensions");
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
            Err(Rejected::Malformed("a .dist-info that is not a folder"))
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

    #[test]
    fn versions_order_as_packaging_orders_them() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        // PEP 440's own examples, in order.
        let ordered = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0b2-346",
            "1.0c1.dev456",
            "1.0c1",
            "1.0rc2",
            "1.0c3",
            "1.0",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "1.2+123abc",
            "1.2+abc",
            "1.2+abc123def",
            "1.2+1234.abc",
            "1.2+123456",
            "1!0.1",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare_versions(w[0], w[1]), Some(Less), "{w:?}");
            assert_eq!(compare_versions(w[1], w[0]), Some(Greater), "{w:?}");
        }
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0a", "1.0-ALPHA-0"),
            ("v2", "2.0"),
            ("1.0-1", "1.0.post1"),
        ] {
            assert_eq!(compare_versions(a, b), Some(Equal), "{a} {b}");
        }
        for bad in [
            "",
            "x",
            "1.0-",
            "1.0+",
            "1..0",
            "1.0 1",
            "99999999999999999999",
        ] {
            assert_eq!(compare_versions(bad, "1.0"), None, "{bad:?}");
        }
    }

    #[test]
    fn random_versions_order_as_packaging_ordered_them() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let text = std::fs::read_to_string(data("pep440-version-pairs.txt")).expect("pairs");
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let [a, b, op] = line.split(' ').collect::<Vec<_>>()[..] else {
                panic!("bad line {line:?}");
            };
            let want = match op {
                "<" => Some(Less),
                "=" => Some(Equal),
                ">" => Some(Greater),
                _ => None,
            };
            assert_eq!(compare_versions(a, b), want, "{line}");
            checked += 1;
        }
        assert_eq!(checked, 3000);
    }

    #[test]
    fn changes_between_readings() {
        let d = TempDir::new("py-change");
        let read = |folder: &str, version: &str| {
            let meta = format!("Name: Foo\nVersion: {version}\n");
            read_dist_info(&dist(
                &d,
                folder,
                &[("METADATA", meta.as_bytes()), ("INSTALLER", b"pip")],
            ))
            .expect("read")
        };
        let (v1, v2, v2b) = (
            read("foo-1.0.dist-info", "1.0"),
            read("foo-2.0rc1.dist-info", "2.0rc1"),
            read("foo-2.0rc1.x.dist-info", "2.0.0-rc1"),
        );
        let act = |o, n| change(o, n).map(|c| (c.action, c.flags));
        assert_eq!(act(None, None), None);
        assert_eq!(act(None, Some(&v1)), Some((Action::Install, vec![])));
        assert_eq!(act(Some(&v1), Some(&v2)), Some((Action::Upgrade, vec![])));
        assert_eq!(act(Some(&v2), Some(&v1)), Some((Action::Downgrade, vec![])));
        assert_eq!(act(Some(&v2), Some(&v2)), Some((Action::Reinstall, vec![])));
        assert_eq!(
            act(Some(&v2), Some(&v2b)),
            Some((Action::Reinstall, vec!["version-spelling-changed"]))
        );
        let odd = DistInfo {
            version: Some("not a version".into()),
            ..v1.clone()
        };
        assert_eq!(
            act(Some(&v1), Some(&odd)),
            Some((Action::Upgrade, vec!["version-order-unknown"]))
        );
        // A removed folder, known by its name only.
        let gone =
            from_folder_name(Path::new("/venv/lib/site-packages/foo-1.0.dist-info")).expect("name");
        assert_eq!(
            (gone.name.as_str(), gone.version.as_deref()),
            ("foo", Some("1.0"))
        );
        let c = change(Some(&gone), Some(&v2)).expect("a change");
        assert_eq!(
            (c.action, c.previous_version.as_deref(), c.flags),
            (Action::Upgrade, Some("1.0"), vec!["name-from-folder"])
        );
        let egg = from_folder_name(Path::new("gpg-1.18.0-py3.11.egg-info")).expect("egg");
        assert_eq!(
            (egg.name.as_str(), egg.version.as_deref(), egg.kind),
            ("gpg", Some("1.18.0"), Kind::EggInfo)
        );
        assert!(from_folder_name(Path::new("-1.0.dist-info")).is_err());
        assert!(from_folder_name(Path::new("x.whl")).is_err());
    }
}
