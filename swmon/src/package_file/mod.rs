//! Local package files: the name and version a `.deb`, `.rpm`, wheel,
//! sdist or npm tarball says it holds, read from the file itself while it
//! is there, so that `dpkg -i /tmp/x/alpha.deb` is reported as the package
//! inside (`swmon.packages`) and not as the file name that was typed
//! (kept as `swmon.requested`).
//!
//! The files are the user's and hostile until read: every length field is
//! capped before anything is allocated, every decompressed stream is
//! capped, only the metadata member is read (never the payload), and a
//! file that breaks a rule is rejected with a reason ([`Rejected`]), never
//! a panic. [`open`] refuses what is not a regular file the run's user
//! could read itself (a FIFO, a device, a symbolic link as the last
//! component, a file bigger than [`MAX_FILE`]). The parsers work on any
//! [`Read`] (+ [`Seek`] for the formats that need it) and do no other I/O,
//! so they are fuzzed on bytes alone.
//!
//! It is not a package manager: signatures, digests and payloads are not
//! checked; what the file claims is what is reported.

use std::{
    fmt,
    fs::File,
    io::{self, Read, Seek},
    os::unix::{ffi::OsStrExt, fs::MetadataExt, fs::OpenOptionsExt},
    path::{Path, PathBuf},
};

mod deb;
mod fields;
mod rpm;
mod tar;
mod zip;

/// The biggest file opened at all.
pub const MAX_FILE: u64 = 1 << 30;
/// The most bytes a compressed stream may inflate to before it is given up.
pub const MAX_INFLATED: u64 = 32 << 20;
/// The most bytes of one metadata member (`control`, `METADATA`,
/// `PKG-INFO`, `package.json`) that are read.
pub const MAX_MEMBER: u64 = 1 << 20;
/// The most local files read for one run.
pub const MAX_FILES_PER_RUN: usize = 8;

/// Which kind of package file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Deb,
    Rpm,
    Wheel,
    /// A Python source distribution (`.tar.gz`), read for `PKG-INFO`.
    Sdist,
    /// An npm tarball (`.tgz`), read for `package/package.json`.
    NpmTarball,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::Wheel => "wheel",
            Format::Sdist => "sdist",
            Format::NpmTarball => "npm-tarball",
        }
    }

    /// The format a file operand names by its extension, for the
    /// managers that take such files. A `.tar.gz` is an sdist for the
    /// Python managers and an npm tarball for the Node ones.
    pub fn of(manager: crate::catalogue::Manager, operand: &[u8]) -> Option<Format> {
        use crate::catalogue::Manager as M;
        let lower = operand.to_ascii_lowercase();
        let ends = |s: &[u8]| lower.ends_with(s) && lower.len() > s.len();
        match manager {
            M::Dpkg | M::Apt if ends(b".deb") => Some(Format::Deb),
            M::Rpm | M::Dnf | M::Zypper if ends(b".rpm") => Some(Format::Rpm),
            M::Pip | M::Uv | M::Pipx if ends(b".whl") => Some(Format::Wheel),
            M::Pip | M::Uv | M::Pipx if ends(b".tar.gz") => Some(Format::Sdist),
            M::Npm | M::Yarn | M::Pnpm | M::Bun if ends(b".tgz") || ends(b".tar.gz") => {
                Some(Format::NpmTarball)
            }
            _ => None,
        }
    }
}

/// What a package file says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    /// As the format writes it: Debian's `[epoch:]upstream[-revision]`,
    /// rpm's `[epoch:]version-release`, the wheel's and npm's version.
    pub version: Option<String>,
}

/// Why a file's identity was not read: the file was refused or hostile.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("can't open it: {0}")]
    Open(#[source] io::Error),
    #[error("not a regular file")]
    NotRegular,
    #[error("the run's user could not read it")]
    NotReadable,
    #[error("bigger than {MAX_FILE} bytes")]
    TooBig,
    #[error("read error: {0}")]
    Read(#[source] io::Error),
    #[error("not a {0} file")]
    BadMagic(&'static str),
    #[error("malformed: {0}")]
    Malformed(&'static str),
    #[error("over a limit: {0}")]
    Limit(&'static str),
    #[error("no {0} in it")]
    Missing(&'static str),
}

impl Rejected {
    /// A short stable word for `swmon.package_files[].rejected`.
    pub fn flag(&self) -> &'static str {
        match self {
            Rejected::Open(_) => "open-failed",
            Rejected::NotRegular => "not-regular",
            Rejected::NotReadable => "not-readable-by-user",
            Rejected::TooBig => "too-big",
            Rejected::Read(_) => "read-failed",
            Rejected::BadMagic(_) => "bad-magic",
            Rejected::Malformed(_) => "malformed",
            Rejected::Limit(_) => "over-limit",
            Rejected::Missing(_) => "no-metadata",
        }
    }
}

impl From<io::Error> for Rejected {
    fn from(e: io::Error) -> Rejected {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Rejected::Malformed("cut short"),
            _ => Rejected::Read(e),
        }
    }
}

/// Reads the identity of a package file from its bytes.
pub fn read<R: Read + Seek>(format: Format, file: &mut R) -> Result<Identity, Rejected> {
    match format {
        Format::Deb => deb::read(file),
        Format::Rpm => rpm::read(file),
        Format::Wheel => zip::read_wheel(file),
        Format::Sdist => tar::read_sdist(file),
        Format::NpmTarball => tar::read_npm(file),
    }
}

/// Who ran the installer: the file must be one they could read.
#[derive(Clone, Copy, Debug)]
pub struct Reader {
    pub uid: u32,
    pub gid: u32,
}

/// Opens a file an installer run named, as the root daemon reading a
/// user-controlled path: relative to the run's working folder, never
/// through a symbolic link as the last component (`O_NOFOLLOW`), without
/// blocking on a FIFO (`O_NONBLOCK`), and only a regular file of at most
/// [`MAX_FILE`] bytes that `reader` could read by its mode bits (root
/// reads anything). The checks are made on the open descriptor.
pub fn open(cwd: Option<&[u8]>, operand: &[u8], reader: Reader) -> Result<File, Rejected> {
    let typed = Path::new(std::ffi::OsStr::from_bytes(operand));
    let path: PathBuf = match cwd {
        _ if typed.is_absolute() => typed.to_path_buf(),
        Some(cwd) => Path::new(std::ffi::OsStr::from_bytes(cwd)).join(typed),
        None => return Err(Rejected::Open(io::Error::other("relative path, no cwd"))),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(&path)
        .map_err(Rejected::Open)?;
    let meta = file.metadata().map_err(Rejected::Open)?;
    if !meta.file_type().is_file() {
        return Err(Rejected::NotRegular);
    }
    if meta.len() > MAX_FILE {
        return Err(Rejected::TooBig);
    }
    let mode = meta.mode();
    let readable = reader.uid == 0
        || (meta.uid() == reader.uid && mode & 0o400 != 0)
        || (meta.gid() == reader.gid && mode & 0o040 != 0)
        || mode & 0o004 != 0;
    if !readable {
        return Err(Rejected::NotReadable);
    }
    Ok(file)
}

/// A file's rejection as the event reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// [`Rejected::flag`].
    pub flag: &'static str,
    pub reason: String,
}

impl From<Rejected> for Refusal {
    fn from(e: Rejected) -> Refusal {
        Refusal {
            flag: e.flag(),
            reason: e.to_string(),
        }
    }
}

/// One local package file a run named, and what was read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFact {
    /// The operand as typed.
    pub operand: Vec<u8>,
    pub format: Format,
    pub identity: Result<Identity, Refusal>,
}

impl FileFact {
    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        64 + self.operand.len()
            + match &self.identity {
                Ok(i) => i.name.len() + i.version.as_ref().map_or(0, String::len),
                Err(r) => r.reason.len(),
            }
    }
}

/// Reads every local package file among `args` (the installer's own
/// arguments) that `manager` takes, at most [`MAX_FILES_PER_RUN`].
pub fn read_operands(
    manager: crate::catalogue::Manager,
    args: &[Vec<u8>],
    cwd: Option<&[u8]>,
    reader: Reader,
) -> Vec<FileFact> {
    args.iter()
        .filter(|a| !a.starts_with(b"-") && !a.windows(3).any(|w| w == b"://"))
        .filter_map(|a| Some((a, Format::of(manager, a)?)))
        .take(MAX_FILES_PER_RUN)
        .map(|(a, format)| FileFact {
            operand: a.clone(),
            format,
            identity: open(cwd, a, reader)
                .and_then(|mut f| read(format, &mut f))
                .map_err(Refusal::from),
        })
        .collect()
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} {v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Reads at most `cap` bytes; more is [`Rejected::Limit`].
fn read_capped<R: Read>(r: R, cap: u64, what: &'static str) -> Result<Vec<u8>, Rejected> {
    let mut out = Vec::new();
    r.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(Rejected::Limit(what));
    }
    Ok(out)
}

/// A name or version as text: valid UTF-8 with no control characters, at
/// most 512 bytes.
fn text(bytes: &[u8], what: &'static str) -> Result<String, Rejected> {
    let s = std::str::from_utf8(bytes).map_err(|_| Rejected::Malformed(what))?;
    let s = s.trim();
    if s.is_empty() || s.len() > 512 || s.chars().any(char::is_control) {
        return Err(Rejected::Malformed(what));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests;

/// The local package files an installer exec named, read for the facts
/// stage: the installer's own arguments as classify reads them, the run's
/// working folder for relative paths, its effective uid and gid for the
/// readability check.
pub fn for_exec(
    rec: &crate::ebpf::decode::ExecRecord,
    id: &crate::enrich::Identified,
    cwd: Option<&[u8]>,
) -> Vec<FileFact> {
    let manager = match crate::catalogue::program(id.installer_id).map(|p| p.role) {
        Some(crate::catalogue::Role::Installer(m)) => m,
        _ => return Vec::new(),
    };
    let start = crate::enrich::installer_args_start(&rec.argv, id.via);
    let args = rec.argv.get(start..).unwrap_or_default();
    let reader = Reader {
        uid: rec.euid,
        gid: rec.gid,
    };
    read_operands(manager, args, cwd, reader)
}

/// The packages of a run with the identity read from each local file in
/// place of what its file name said, and the operands as typed for those
/// (`swmon.requested`). `classified` and `refs` are the same packages.
pub fn resolve(
    classified: &[crate::classify::Package],
    mut refs: Vec<crate::event::PackageRef>,
    files: &[FileFact],
) -> (Vec<crate::event::PackageRef>, Vec<String>) {
    let mut requested = Vec::new();
    for (p, r) in classified.iter().zip(refs.iter_mut()) {
        let read = files.iter().find_map(|f| match &f.identity {
            Ok(i) if crate::classify::escape(&f.operand) == p.operand => Some(i),
            _ => None,
        });
        if let Some(i) = read {
            requested.push(p.operand.clone());
            r.name.clone_from(&i.name);
            r.version.clone_from(&i.version);
        }
    }
    (refs, requested)
}

/// `swmon.package_files`: one object per file read.
pub fn report(files: &[FileFact]) -> Vec<serde_json::Value> {
    use serde_json::json;
    files
        .iter()
        .map(|f| {
            let file = crate::classify::escape(&f.operand);
            match &f.identity {
                Ok(i) => json!({
                    "file": file,
                    "format": f.format.as_str(),
                    "name": i.name,
                    "version": i.version,
                }),
                Err(r) => json!({
                    "file": file,
                    "format": f.format.as_str(),
                    "rejected": r.flag,
                    "reason": r.reason,
                }),
            }
        })
        .collect()
}
