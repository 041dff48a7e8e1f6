//! Local package files: the name and version a `.deb`, `.rpm`, wheel,
//! sdist, npm tarball or `.gem` says it holds, read from the file itself while it
//! is there, so that `dpkg -i /tmp/x/alpha.deb` is reported as the package
//! inside (`swmon.packages`) and not as the file name that was typed
//! (kept as `swmon.requested`).
//!
//! The files are the user's and hostile until read: every length field is
//! capped before anything is allocated, every decompressed stream is
//! capped, only the metadata member is read (never the payload), and a
//! file that breaks a rule is rejected with a reason ([`Rejected`]), never
//! a panic. Only an install's or an upgrade's files are read. A file is
//! the one the installing process sees and may read ([`Place`]): opened
//! beneath its own root from its own working folder, with its own fsuid,
//! fsgid and groups, on a worker thread the caller waits for at most
//! [`DEADLINE`]; only a regular file of at most [`MAX_FILE`] bytes on no
//! FUSE or network file system, read through a budget ([`MAX_INPUT`] a
//! file, [`MAX_EXEC_INPUT`] an exec) so empty compressed blocks cannot
//! make a parser read a whole big file. What was opened is identified
//! ([`FileStat`]: device, inode, size, mtime, SHA-256) so a file swapped
//! before or after the read shows. The parsers work on any [`Read`] (+
//! [`Seek`] for the formats that need it) and do no other I/O, so they
//! are fuzzed on bytes alone.
//!
//! The view is the process's when the facts stage reads it, a few
//! milliseconds after the exec: a process that changed folder or root in
//! between is read in its new one; one that has exited is not read
//! (`process-gone`).
//!
//! It is not a package manager: signatures, digests and payloads are not
//! checked; what the file claims is what is reported.

use std::{
    fmt,
    fs::File,
    io::{self, Read, Seek},
    os::unix::fs::MetadataExt,
    sync::atomic::{AtomicUsize, Ordering},
};

pub use place::{Creds, Place};

mod deb;
pub(crate) mod fields;
mod gem;
mod place;
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
/// The most bytes read from one file (its parse and its digest each):
/// compressed input included, so empty deflate blocks cannot make a
/// parser read a whole big file.
pub const MAX_INPUT: u64 = 64 << 20;
/// The biggest file whose SHA-256 is taken.
pub const MAX_HASHED: u64 = 64 << 20;
/// The most bytes read from all the files of one exec.
pub const MAX_EXEC_INPUT: u64 = 128 << 20;
/// How long the facts stage waits for one exec's files.
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);
/// Reads stuck past their deadline (a hung FUSE or NFS server) keep their
/// thread; past this many, no more files are read until one ends.
pub const MAX_WORKERS: usize = 4;

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
    /// A RubyGems `.gem`, read for `metadata.gz`'s name and version.
    Gem,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Deb => "deb",
            Format::Rpm => "rpm",
            Format::Wheel => "wheel",
            Format::Sdist => "sdist",
            Format::NpmTarball => "npm-tarball",
            Format::Gem => "gem",
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
            M::Gem if ends(b".gem") => Some(Format::Gem),
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
    /// The errno stays out of the text (and the event): it would tell a
    /// user whether a path it cannot search exists.
    #[error("can't open it")]
    Open(#[source] io::Error),
    #[error("the process had exited (its root and working folder are gone)")]
    ProcessGone,
    #[error("the kernel's copy of the working folder was cut short")]
    CwdTruncated,
    #[error("the working folder is no longer where the process's links say")]
    CwdMoved,
    #[error("the run's credentials could not be taken")]
    Credentials,
    #[error("on a FUSE or network file system")]
    RemoteFs,
    #[error("not read within the deadline")]
    TimedOut,
    #[error("too many reads still stuck")]
    Busy,
    #[error("not a regular file")]
    NotRegular,
    #[error("the run's user could not read it")]
    NotReadable,
    #[error("bigger than {MAX_FILE} bytes")]
    TooBig,
    #[error("read error")]
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
            Rejected::ProcessGone => "process-gone",
            Rejected::CwdTruncated => "cwd-truncated",
            Rejected::CwdMoved => "cwd-moved",
            Rejected::Credentials => "credentials-failed",
            Rejected::RemoteFs => "remote-fs",
            Rejected::TimedOut => "timed-out",
            Rejected::Busy => "reader-busy",
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

impl Rejected {
    /// An open refused: by permission (as the run's user), or otherwise.
    fn open(e: io::Error) -> Rejected {
        match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => Rejected::NotReadable,
            _ => Rejected::Open(e),
        }
    }
}

/// The input cap of [`Capped`] was reached.
#[derive(Debug)]
struct InputCap;

impl fmt::Display for InputCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("input cap")
    }
}

impl std::error::Error for InputCap {}

/// A file read through a budget of bytes: past it, reads fail
/// ([`Rejected::Limit`]), so a compressed stream of empty blocks cannot
/// make a parser read a whole big file.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            return Err(io::Error::other(InputCap));
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

impl<R: Seek> Seek for Capped<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl From<io::Error> for Rejected {
    fn from(e: io::Error) -> Rejected {
        if e.get_ref().is_some_and(|i| i.is::<InputCap>()) {
            return Rejected::Limit("bytes read from the file");
        }
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
        Format::Gem => gem::read_gem(file),
    }
}

/// The path an operand names: the node managers take a tarball as
/// `file:PATH` too (`yarn add file:../x.tgz`, `npm i file:x.tgz`), a path
/// from the working folder or the root like any other (a `file://` URL
/// is no operand: [`operands`] skips every `://`).
fn path_of(format: Format, operand: &[u8]) -> &[u8] {
    match format {
        Format::NpmTarball => operand.strip_prefix(b"file:").unwrap_or(operand),
        _ => operand,
    }
}

/// Opens and reads one file the run named, on the calling thread (the
/// worker, already holding the run's credentials): resolved beneath the
/// process's root ([`Place::open`]), without blocking on a FIFO
/// (`O_NONBLOCK`), only a regular file of at most [`MAX_FILE`] bytes on
/// no FUSE or network file system, through a budget of bytes.
fn read_one(place: &Place, operand: &[u8], format: Format, budget: &mut u64) -> FileFact {
    let mut stat = None;
    let identity = read_file(place, operand, format, budget, &mut stat).map_err(Refusal::from);
    FileFact {
        operand: operand.to_vec(),
        format,
        identity,
        stat,
    }
}

fn read_file(
    place: &Place,
    operand: &[u8],
    format: Format,
    budget: &mut u64,
    stat: &mut Option<FileStat>,
) -> Result<Identity, Rejected> {
    let operand = path_of(format, operand);
    if place::remote(place.start(operand)) {
        return Err(Rejected::RemoteFs);
    }
    let fd = place.open(operand, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY)?;
    let mut file = File::from(fd);
    let meta = file.metadata().map_err(Rejected::Open)?;
    if !meta.file_type().is_file() {
        return Err(Rejected::NotRegular);
    }
    if place::remote(&file) {
        return Err(Rejected::RemoteFs);
    }
    let mut st = FileStat {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        sha256: None,
    };
    if meta.len() > MAX_FILE {
        *stat = Some(st);
        return Err(Rejected::TooBig);
    }
    let mut capped = Capped {
        inner: &mut file,
        left: (*budget).min(MAX_INPUT),
    };
    let before = capped.left;
    let identity = read(format, &mut capped);
    *budget -= before - capped.left;
    // The whole file's digest, when it is small enough for the budget.
    if meta.len() <= MAX_HASHED && meta.len() <= *budget {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let hashed = file
            .seek(io::SeekFrom::Start(0))
            .and_then(|_| io::copy(&mut (&mut file).take(meta.len()), &mut hasher));
        if let Ok(n) = hashed {
            *budget -= n.min(*budget);
            st.sha256 = Some(
                hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            );
        }
    }
    *stat = Some(st);
    identity
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

/// What was read: the file as the kernel identified it when opened, so a
/// file swapped before or after the read shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Of the whole file, when it was at most [`MAX_HASHED`] bytes and the
    /// exec's budget allowed.
    pub sha256: Option<String>,
}

/// One local package file a run named, and what was read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFact {
    /// The operand as typed.
    pub operand: Vec<u8>,
    pub format: Format,
    pub identity: Result<Identity, Refusal>,
    /// `None` when nothing was opened.
    pub stat: Option<FileStat>,
}

impl FileFact {
    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        160 + self.operand.len()
            + match &self.identity {
                Ok(i) => i.name.len() + i.version.as_ref().map_or(0, String::len),
                Err(r) => r.reason.len(),
            }
    }

    fn refused(operand: &[u8], format: Format, why: Refusal) -> FileFact {
        FileFact {
            operand: operand.to_vec(),
            format,
            identity: Err(why),
            stat: None,
        }
    }
}

/// Worker threads reading files now (a stuck one stays counted).
static WORKERS: AtomicUsize = AtomicUsize::new(0);

/// The file operands among `args` (the installer's own arguments) that
/// `manager` takes, at most [`MAX_FILES_PER_RUN`].
fn operands(manager: crate::catalogue::Manager, args: &[Vec<u8>]) -> Vec<(Vec<u8>, Format)> {
    args.iter()
        .filter(|a| !a.starts_with(b"-") && !a.windows(3).any(|w| w == b"://"))
        .filter_map(|a| Some((a.clone(), Format::of(manager, a)?)))
        .take(MAX_FILES_PER_RUN)
        .collect()
}

/// Reads every local package file among `args` that `manager` takes, for
/// an install or upgrade only (`dpkg -c x.deb` and `pip download` read
/// nothing), as the process `place` describes sees and may read them.
/// The reads run on a worker thread: past [`DEADLINE`] the caller moves
/// on and the files not read are [`Rejected::TimedOut`]. With
/// `cwd_truncated` (the kernel's copy of the working folder was cut)
/// relative operands are not read.
pub fn read_operands(
    manager: crate::catalogue::Manager,
    operation: crate::classify::Operation,
    args: &[Vec<u8>],
    place: Result<Place, Rejected>,
    cwd_truncated: bool,
) -> Vec<FileFact> {
    read_operands_with(manager, operation, args, move || place, cwd_truncated)
}

/// [`read_operands`] with the view made on the worker, under the deadline:
/// opening a process's `/proc/PID/cwd` or `root` resolves the folder it
/// names, which with audit on asks its file system for the folder's
/// capabilities (`audit_copy_inode`): a hung FUSE server there would hold
/// the caller for ever.
pub fn read_operands_with(
    manager: crate::catalogue::Manager,
    operation: crate::classify::Operation,
    args: &[Vec<u8>],
    place: impl FnOnce() -> Result<Place, Rejected> + Send + 'static,
    cwd_truncated: bool,
) -> Vec<FileFact> {
    use crate::classify::Operation;
    if !matches!(operation, Operation::Install | Operation::Upgrade) {
        return Vec::new();
    }
    let todo = operands(manager, args);
    if todo.is_empty() {
        return Vec::new();
    }
    let refuse_all = |why: Rejected| {
        let why = Refusal::from(why);
        todo.iter()
            .map(|(o, f)| FileFact::refused(o, *f, why.clone()))
            .collect::<Vec<_>>()
    };
    /// One worker counted in [`WORKERS`] until dropped (also by an unwind).
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            WORKERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let slot = Slot;
    if WORKERS.fetch_add(1, Ordering::SeqCst) >= MAX_WORKERS {
        return refuse_all(Rejected::Busy);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let jobs = todo.clone();
    // A failed spawn drops the closure, and the slot with it.
    let spawned = std::thread::Builder::new()
        .name("swmon-pkgfile".into())
        .spawn(move || {
            let _slot = slot;
            let facts = match place() {
                Ok(place) => read_all(&place, &jobs, cwd_truncated),
                Err(e) => {
                    let why = Refusal::from(e);
                    jobs.iter()
                        .map(|(o, f)| FileFact::refused(o, *f, why.clone()))
                        .collect()
                }
            };
            let _ = tx.send(facts);
        });
    if spawned.is_err() {
        return refuse_all(Rejected::Busy);
    }
    match rx.recv_timeout(DEADLINE) {
        Ok(facts) => facts,
        Err(_) => refuse_all(Rejected::TimedOut),
    }
}

/// On the worker: takes the run's credentials, reads each file, puts the
/// thread's own back.
fn read_all(place: &Place, jobs: &[(Vec<u8>, Format)], cwd_truncated: bool) -> Vec<FileFact> {
    let each = || {
        let mut budget = MAX_EXEC_INPUT;
        jobs.iter()
            .map(|(operand, format)| {
                if cwd_truncated && !operand.starts_with(b"/") {
                    FileFact::refused(operand, *format, Rejected::CwdTruncated.into())
                } else {
                    read_one(place, operand, *format, &mut budget)
                }
            })
            .collect()
    };
    match &place.creds {
        None => each(),
        Some(creds) => place::as_user(creds, each).unwrap_or_else(|e| {
            let why = Refusal::from(e);
            jobs.iter()
                .map(|(o, f)| FileFact::refused(o, *f, why.clone()))
                .collect()
        }),
    }
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
/// stage: the installer's own arguments as classify reads them, from the
/// exec'ing process's own root and working folder with its credentials,
/// while it runs (bound to its start time; gone, nothing is read).
pub fn for_exec(
    rec: &crate::ebpf::decode::ExecRecord,
    id: &crate::enrich::Identified,
) -> Vec<FileFact> {
    let manager = match crate::catalogue::program(id.installer_id).map(|p| p.role) {
        Some(crate::catalogue::Role::Installer(m)) => m,
        _ => return Vec::new(),
    };
    let reading = crate::enrich::installer_args(rec, id.via);
    let args: &[Vec<u8>] = &reading.args(&rec.argv);
    if operands(manager, args).is_empty() {
        return Vec::new();
    }
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let operation = crate::classify::classify(manager, &refs).operation;
    if !matches!(
        operation,
        crate::classify::Operation::Install | crate::classify::Operation::Upgrade
    ) {
        return Vec::new();
    }
    // `/proc/PID` itself is opened here (procfs); its root and working
    // folder on the worker (see `read_operands_with`).
    let proc_dir = crate::enrich::live_proc_dir(rec);
    let place = move || {
        proc_dir
            .ok_or(Rejected::ProcessGone)
            .and_then(Place::of_process)
    };
    let cut = swmon_common::flag::CWD_TRUNCATED | swmon_common::flag::CWD_UNREADABLE;
    read_operands_with(manager, operation, args, place, rec.flags & cut != 0)
}

/// The program an explicit loader exec runs (`ld-linux-x86-64.so.2
/// ./copy`), opened read-only as the exec'ing process sees and may open
/// it: beneath its root, from its working folder, with its credentials,
/// on a worker thread given up at [`DEADLINE`] (a hung file system), for
/// the facts stage to identify by content. FUSE and network file systems
/// are refused, like package files.
pub fn open_program(
    rec: &crate::ebpf::decode::ExecRecord,
    operand: &[u8],
) -> Result<File, Rejected> {
    let cut = swmon_common::flag::CWD_TRUNCATED | swmon_common::flag::CWD_UNREADABLE;
    if rec.flags & cut != 0 && !operand.starts_with(b"/") {
        return Err(Rejected::CwdTruncated);
    }
    // The view is made on the worker (see `read_operands_with`).
    let proc_dir = crate::enrich::live_proc_dir(rec).ok_or(Rejected::ProcessGone)?;
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            WORKERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let slot = Slot;
    if WORKERS.fetch_add(1, Ordering::SeqCst) >= MAX_WORKERS {
        return Err(Rejected::Busy);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let operand = operand.to_vec();
    let open = move |place: Place| -> Result<File, Rejected> {
        if place::remote(place.start(&operand)) {
            return Err(Rejected::RemoteFs);
        }
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        let file = File::from(place.open(&operand, flags)?);
        if place::remote(&file) {
            return Err(Rejected::RemoteFs);
        }
        Ok(file)
    };
    std::thread::Builder::new()
        .name("swmon-program".into())
        .spawn(move || {
            let _slot = slot;
            let opened = Place::of_process(proc_dir).and_then(|place| match place.creds.clone() {
                None => open(place),
                Some(c) => place::as_user(&c, move || open(place)).and_then(|r| r),
            });
            let _ = tx.send(opened);
        })
        .map_err(|_| Rejected::Busy)?;
    rx.recv_timeout(DEADLINE).unwrap_or(Err(Rejected::TimedOut))
}

/// How many of `files` were given up at the deadline (a stuck read).
pub fn timed_out(files: &[FileFact]) -> usize {
    files
        .iter()
        .filter(|f| matches!(&f.identity, Err(r) if r.flag == "timed-out"))
        .count()
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
            let mut out = match &f.identity {
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
            };
            if let (Some(s), Some(o)) = (&f.stat, out.as_object_mut()) {
                o.insert("dev".into(), json!(s.dev));
                o.insert("ino".into(), json!(s.ino));
                o.insert("size".into(), json!(s.size));
                o.insert("mtime_ns".into(), json!(s.mtime_ns.to_string()));
                o.insert("sha256".into(), json!(s.sha256));
            }
            out
        })
        .collect()
}
