//! Files swmon writes that others must not read, redirect or plant: the
//! `--output` of `swmon run` (events carry argv, which carries tokens and
//! passwords) and the `--output` of `swmon report`.
//!
//! [`open_output`] is the one way `swmon run` opens its output, at start and
//! on every reopen (SIGHUP, logrotate's `create`):
//! - the path is walked as given, one component at a time with
//!   `openat(O_PATH|O_NOFOLLOW)`: every folder passed (`/` and those a link
//!   leads through included) is owned by root or by swmon's user and
//!   writable by no one else, unless sticky (`/tmp`); a link is followed
//!   only from a folder that passed (and, in a sticky folder, only a link
//!   root or swmon owns). Otherwise whoever can write a folder on the way
//!   could swap it for a link between two reopens and have root append to,
//!   and re-mode, `/etc/passwd`. `/var/log/swmon/` passes; a user's folder,
//!   or a link in one (`/home/bob/logs -> /var/log/swmon`), does not.
//! - the file is opened with `openat` in the folder descriptor that walk
//!   ended on, and that descriptor is kept for reopens (SIGHUP): a reopen
//!   re-checks the folder's owner and mode but does not walk the path again,
//!   so nothing on the way can be repointed after start.
//! - `O_NOFOLLOW`: a symbolic link at the path is refused, naming the path
//!   (a user who can write a sticky folder can not point root's output at
//!   `/etc/shadow`).
//! - `O_NONBLOCK` at open (cleared after): a FIFO planted at the path does not
//!   hang the open; it is then refused as not a regular file.
//! - `O_CLOEXEC`, `O_APPEND`; created with mode 0600, or 0640 and the
//!   `--output-group` group.
//! - `fstat` of what was opened: it must be a regular file, owned by swmon's
//!   effective uid, with one link (a hard link to another file is refused).
//!   An existing file with a looser mode (say 0644 from logrotate's `create
//!   0644`) is *tightened* with `fchmod` to 0600 (0640), and given the
//!   group, rather than refused: a refused reopen would lose events, and the
//!   file is provably swmon's own. What a reader had open before keeps its
//!   access; new opens do not get it.
//!
//! [`replace`] writes a whole file through a temporary file in the same folder
//! (`O_EXCL|O_NOFOLLOW`, 0600), then renames it over the path: a reader never
//! sees half a report, and a symlink at the path is replaced, not followed.
//! Its folder is checked the same way.

use std::{
    collections::VecDeque,
    ffi::CString,
    fs::File,
    io::{self, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{
            ffi::{OsStrExt, OsStringExt},
            fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
        },
    },
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

/// Mode of an output file without a group.
pub const MODE: u32 = 0o600;
/// Mode of an output file shared with `--output-group`.
pub const GROUP_MODE: u32 = 0o640;

#[derive(Debug, thiserror::Error)]
pub enum SafeFileError {
    #[error("refusing output {path}: it is a symbolic link (swmon does not follow links for its output)")]
    Symlink { path: PathBuf },
    #[error("refusing output {path}: it is {what}, not a regular file")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("refusing output {path}: it is owned by uid {owner}, not by swmon's uid {euid}")]
    Owner {
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    #[error("refusing output {path}: it has {links} hard links")]
    Links { path: PathBuf, links: u64 },
    #[error("can't open output {path} for writing: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("refusing output {path}: folder {folder} {why}; use a folder only root can write, such as /var/log/swmon")]
    Folder {
        path: PathBuf,
        folder: PathBuf,
        why: String,
    },
    #[error("can't {what} output {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn kind_of(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "something else",
    }
}

/// The most symbolic links followed on the way to a folder (the kernel's
/// own limit).
const MAX_HOPS: u32 = 40;

fn cstring(name: &std::ffi::OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `openat(dir, name, flags)`, `dir` `None` for the current folder.
fn openat(
    dir: Option<&OwnedFd>,
    name: &std::ffi::OsStr,
    flags: i32,
    mode: u32,
) -> io::Result<OwnedFd> {
    let c = cstring(name)?;
    let dirfd = dir.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: a NUL-terminated name that outlives the call, integer
    // arguments; the returned descriptor is owned by nothing else.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned only here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The target of the link `link` (an `O_PATH|O_NOFOLLOW` descriptor of it).
fn readlink(link: &OwnedFd) -> io::Result<std::ffi::OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its length; an empty name reads the link
    // the descriptor itself refers to (Linux 2.6.39+).
    let n = unsafe {
        libc::readlinkat(
            link.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(std::ffi::OsString::from_vec(buf))
}

/// Why a folder on the way may not hold swmon's output, if it may not:
/// owned by neither root nor `euid`, or writable by group or others and not
/// sticky.
fn folder_fault(meta: &std::fs::Metadata, euid: u32) -> Option<String> {
    if !meta.is_dir() {
        return Some(format!("is {}, not a folder", kind_of(meta.mode())));
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return Some(format!("is owned by uid {}", meta.uid()));
    }
    let sticky = meta.mode() & libc::S_ISVTX != 0;
    if meta.mode() & 0o022 != 0 && !sticky {
        return Some(format!(
            "is writable by group or others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// Opens the folder `path` is in by walking the path as given, one
/// component at a time with `openat(O_PATH|O_NOFOLLOW)`: every folder passed
/// (`/` included, those a link leads through too) must be owned by root or
/// `euid` and writable by no one else, or sticky; a link is followed only
/// if the folder holding it passed, and, in a sticky folder, only if it is
/// root's or swmon's. `/home/bob/logs -> /var/log/swmon` is refused at
/// `/home/bob`. The descriptor returned is the folder the file is opened in,
/// so nothing can repoint the path between the checks and the open.
fn open_folder(path: &Path) -> Result<OwnedFd, SafeFileError> {
    let parent = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let refuse = |folder: &Path, why: String| SafeFileError::Folder {
        path: path.to_owned(),
        folder: folder.to_owned(),
        why,
    };
    // A folder that is not there: the open's own error says it best.
    let open_err = |source| SafeFileError::Open {
        path: path.to_owned(),
        source,
    };
    // A relative path starts at the current folder, and its folders above
    // count as well.
    let start = if parent.is_absolute() {
        parent
    } else {
        std::env::current_dir().map_err(open_err)?.join(parent)
    };
    let euid = nix::unistd::geteuid().as_raw();
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    let root = || -> Result<OwnedFd, SafeFileError> {
        let fd = openat(None, std::ffi::OsStr::new("/"), dir_flags, 0).map_err(open_err)?;
        let meta = fstat(&fd).map_err(open_err)?;
        match folder_fault(&meta, euid) {
            Some(why) => Err(refuse(Path::new("/"), why)),
            None => Ok(fd),
        }
    };
    let mut todo: VecDeque<std::ffi::OsString> = start
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut dir = root()?;
    let mut dir_meta = fstat(&dir).map_err(open_err)?;
    let mut walked = PathBuf::from("/");
    let mut hops = 0;
    while let Some(name) = todo.pop_front() {
        let next =
            openat(Some(&dir), &name, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(open_err)?;
        let meta = fstat(&next).map_err(open_err)?;
        let here = if name == ".." {
            walked
                .parent()
                .map_or_else(|| PathBuf::from("/"), Path::to_owned)
        } else {
            walked.join(&name)
        };
        if meta.file_type().is_symlink() {
            let sticky = dir_meta.mode() & libc::S_ISVTX != 0;
            if sticky && meta.uid() != 0 && meta.uid() != euid {
                return Err(refuse(
                    &here,
                    format!("is a link owned by uid {} in a sticky folder", meta.uid()),
                ));
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Err(open_err(io::Error::from_raw_os_error(libc::ELOOP)));
            }
            let target = PathBuf::from(readlink(&next).map_err(open_err)?);
            for c in target.components().rev() {
                match c {
                    Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    c => todo.push_front(c.as_os_str().to_owned()),
                }
            }
            if target.is_absolute() {
                dir = root()?;
                dir_meta = fstat(&dir).map_err(open_err)?;
                walked = PathBuf::from("/");
            }
            continue;
        }
        if let Some(why) = folder_fault(&meta, euid) {
            return Err(refuse(&here, why));
        }
        dir = next;
        dir_meta = meta;
        walked = here;
    }
    Ok(dir)
}

fn fstat(fd: &OwnedFd) -> io::Result<std::fs::Metadata> {
    // A duplicate as a File, for std's fstat; O_PATH descriptors allow it.
    File::from(fd.try_clone()?).metadata()
}

/// The folder descriptors of output paths opened before, by path: a reopen
/// (SIGHUP) opens the file in the folder the first open checked, not by
/// walking the path anew.
static FOLDERS: Mutex<Vec<(PathBuf, Arc<OwnedFd>)>> = Mutex::new(Vec::new());

/// The checked folder of `path`: the one kept from an earlier open, or a
/// new walk ([`open_folder`]).
fn folder_of(path: &Path) -> Result<Arc<OwnedFd>, SafeFileError> {
    let mut kept = FOLDERS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, fd)) = kept.iter().find(|(p, _)| p == path) {
        // Still root's (or swmon's) and closed to others?
        let meta = fstat(fd).map_err(|source| SafeFileError::Open {
            path: path.to_owned(),
            source,
        })?;
        if let Some(why) = folder_fault(&meta, nix::unistd::geteuid().as_raw()) {
            return Err(SafeFileError::Folder {
                path: path.to_owned(),
                folder: path.parent().map(Path::to_owned).unwrap_or_default(),
                why,
            });
        }
        return Ok(Arc::clone(fd));
    }
    let fd = Arc::new(open_folder(path)?);
    kept.push((path.to_owned(), Arc::clone(&fd)));
    Ok(fd)
}

/// Opens `path` for appending, creating it 0600 (0640 with `group`); see the
/// module doc for every check.
pub fn open_output(path: &Path, group: Option<u32>) -> Result<File, SafeFileError> {
    let mode = if group.is_some() { GROUP_MODE } else { MODE };
    let folder = folder_of(path)?;
    let name = path.file_name().ok_or_else(|| SafeFileError::Open {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let file = openat(
        Some(&*folder),
        name,
        libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        mode,
    )
    .map(File::from)
    .map_err(|source| {
        // ELOOP is what O_NOFOLLOW gives for a link as the last part.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if source.raw_os_error() == Some(libc::ELOOP) && is_link {
            SafeFileError::Symlink {
                path: path.to_owned(),
            }
        } else {
            SafeFileError::Open {
                path: path.to_owned(),
                source,
            }
        }
    })?;
    let io_err = |what| {
        move |source| SafeFileError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    };
    let meta = file.metadata().map_err(io_err("stat"))?;
    if !meta.file_type().is_file() {
        return Err(SafeFileError::NotRegular {
            path: path.to_owned(),
            what: kind_of(meta.mode()),
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(SafeFileError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            euid,
        });
    }
    if meta.nlink() > 1 {
        return Err(SafeFileError::Links {
            path: path.to_owned(),
            links: meta.nlink(),
        });
    }
    // Blocking writes from here on.
    // SAFETY: fcntl on a descriptor this function owns, integer arguments.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, libc::O_APPEND) } != 0 {
        return Err(io_err("clear O_NONBLOCK on")(io::Error::last_os_error()));
    }
    if let Some(gid) = group {
        if meta.gid() != gid {
            std::os::unix::fs::fchown(&file, None, Some(gid))
                .map_err(io_err("set the group of"))?;
        }
    }
    // Also after fchown: it clears nothing here, but the mode is what counts.
    if meta.mode() & 0o7777 != mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err("tighten the mode of"))?;
    }
    Ok(file)
}

/// What [`check_output`] found at an output path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputState {
    /// The file's mode bits (type included), `None` when it is not there
    /// yet.
    pub mode: Option<u32>,
    /// The mode [`open_output`] creates it with, or tightens it to.
    pub wanted_mode: u32,
    /// This process may write it (create it in its folder, if not there),
    /// as the kernel says (`faccessat2` with `AT_EACCESS`: owner, mode,
    /// ACLs, capabilities, a read-only mount).
    pub writable: bool,
    /// Why not, when not.
    pub why_not: Option<String>,
}

/// `faccessat2(dir, name, mode, AT_EACCESS | flags)` (`name` empty: `dir`
/// itself, with `AT_EMPTY_PATH`).
fn access(dir: &OwnedFd, name: &std::ffi::OsStr, mode: i32, flags: i32) -> io::Result<()> {
    let c = cstring(name)?;
    let flags = libc::AT_EACCESS
        | flags
        | if name.is_empty() {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    // SAFETY: a NUL-terminated name that outlives the call, integer
    // arguments; nothing is written.
    let r = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            dir.as_raw_fd(),
            c.as_ptr(),
            mode,
            flags,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What [`open_output`] would find at `path`, without opening, creating or
/// changing anything (for `swmon doctor`): the same walk of the folders
/// (refused the same way), then the file as it stands: a link, something
/// other than a regular file, another owner or a second hard link is
/// refused as `open_output` refuses it; otherwise its mode and whether this
/// process may write it (or create it) are returned.
pub fn check_output(path: &Path, group: Option<u32>) -> Result<OutputState, SafeFileError> {
    let wanted_mode = if group.is_some() { GROUP_MODE } else { MODE };
    let folder = open_folder(path)?;
    let name = path.file_name().ok_or_else(|| SafeFileError::Open {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let open_err = |source| SafeFileError::Open {
        path: path.to_owned(),
        source,
    };
    let state = |mode, w: io::Result<()>, what: &str| OutputState {
        mode,
        wanted_mode,
        writable: w.is_ok(),
        why_not: w.err().map(|e| format!("{what}: {e}")),
    };
    let fd = match openat(Some(&folder), name, libc::O_PATH | libc::O_NOFOLLOW, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            let w = access(
                &folder,
                std::ffi::OsStr::new(""),
                libc::W_OK | libc::X_OK,
                0,
            );
            return Ok(state(None, w, "can't create a file in its folder"));
        }
        Err(e) => return Err(open_err(e)),
    };
    let meta = fstat(&fd).map_err(open_err)?;
    if meta.file_type().is_symlink() {
        return Err(SafeFileError::Symlink {
            path: path.to_owned(),
        });
    }
    if !meta.file_type().is_file() {
        return Err(SafeFileError::NotRegular {
            path: path.to_owned(),
            what: kind_of(meta.mode()),
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(SafeFileError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
            euid,
        });
    }
    if meta.nlink() > 1 {
        return Err(SafeFileError::Links {
            path: path.to_owned(),
            links: meta.nlink(),
        });
    }
    let w = access(&folder, name, libc::W_OK, libc::AT_SYMLINK_NOFOLLOW);
    Ok(state(Some(meta.mode()), w, "can't write it"))
}

/// How many temporary names [`replace`] tries before it gives up.
const TMP_ATTEMPTS: u32 = 16;

/// 64 random bits from the kernel (`getrandom`); on the off chance that
/// fails, the time and pid, which the retries make do.
fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 8 {
        return u64::from_ne_bytes(buf);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ (u64::from(std::process::id()) << 32)
}

/// Writes `bytes` as the whole content of `path`: through a temporary file
/// in the same folder (mode 0600, `O_EXCL|O_NOFOLLOW`), synced, then renamed
/// over `path`.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), SafeFileError> {
    let io_err = |what, p: &Path| {
        let p = p.to_owned();
        move |source| SafeFileError::Io {
            what,
            path: p,
            source,
        }
    };
    // The folder as given is walked and checked; the temporary file is
    // made and renamed by its path in it.
    open_folder(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| SafeFileError::Open {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
    })?;
    // A random name, retried if taken: in a sticky folder anyone may have
    // made a file of a name that can be guessed, to make the report fail.
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".swmon-tmp-{:016x}", random_u64()));
        let tmp = dir.join(tmp_name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < TMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(source) => return Err(SafeFileError::Open { path: tmp, source }),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", &tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(io_err("rename into place", path)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable once the folder is synced; a folder that can't be
    // opened for that still has the report.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use caps::{CapSet, Capability};

    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("swmon-safe-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn a_new_output_is_0600_and_appends() {
        let d = dir("new");
        let p = d.join("out");
        open_output(&p, None)
            .and_then(|mut f| f.write_all(b"one\n").map_err(io_err_for_test))
            .expect("open");
        assert_eq!(mode(&p), 0o600);
        let mut f = open_output(&p, None).expect("reopen");
        f.write_all(b"two\n").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"one\ntwo\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    fn io_err_for_test(source: io::Error) -> SafeFileError {
        SafeFileError::Io {
            what: "write",
            path: PathBuf::new(),
            source,
        }
    }

    #[test]
    fn a_group_output_is_0640_with_the_group() {
        let d = dir("group");
        let p = d.join("out");
        let gid = nix::unistd::getegid().as_raw();
        open_output(&p, Some(gid)).expect("open");
        assert_eq!(mode(&p), 0o640);
        assert_eq!(std::fs::metadata(&p).expect("stat").gid(), gid);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_looser_mode_is_tightened() {
        let d = dir("loose");
        let p = d.join("out");
        std::fs::write(&p, b"old\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        open_output(&p, None).expect("open");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).expect("read"), b"old\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_symlink_is_refused_naming_the_path() {
        let d = dir("link");
        let target = d.join("target");
        std::fs::write(&target, b"").expect("write");
        let p = d.join("out");
        symlink(&target, &p).expect("symlink");
        let e = open_output(&p, None).expect_err("refused");
        assert!(matches!(e, SafeFileError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains(&p.display().to_string()), "{e}");
        // A dangling link too: nothing is created at its target.
        let dangling = d.join("dangling");
        symlink(d.join("nowhere"), &dangling).expect("symlink");
        assert!(matches!(
            open_output(&dangling, None),
            Err(SafeFileError::Symlink { .. })
        ));
        assert!(!d.join("nowhere").exists());
        assert_eq!(std::fs::read(&target).expect("read"), b"");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fifo_directory_or_hard_link_is_refused_without_hanging() {
        let d = dir("fifo");
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        // No reader: O_NONBLOCK gives ENXIO at once instead of blocking.
        assert!(open_output(&fifo, None).is_err());
        let e = open_output(&d, None).expect_err("a directory");
        assert!(e.to_string().contains("directory") || matches!(e, SafeFileError::Open { .. }));
        let file = d.join("file");
        std::fs::write(&file, b"").expect("write");
        std::fs::hard_link(&file, d.join("alias")).expect("link");
        assert!(matches!(
            open_output(&file, None),
            Err(SafeFileError::Links { links: 2, .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_check_refuses_what_the_open_refuses_and_changes_nothing() {
        let d = dir("check");
        // Not there yet: creatable, and still not there after.
        let new = d.join("new");
        let s = check_output(&new, None).expect("check");
        assert_eq!((s.mode, s.wanted_mode, s.writable), (None, 0o600, true));
        assert!(!new.exists());
        assert_eq!(
            check_output(&new, Some(4)).expect("check").wanted_mode,
            0o640
        );
        // There with a loose mode: reported as it is, left as it is.
        let loose = d.join("loose");
        std::fs::write(&loose, b"x").expect("write");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let s = check_output(&loose, None).expect("check");
        assert_eq!(s.mode.map(|m| m & 0o7777), Some(0o644));
        assert!(s.writable, "{s:?}");
        assert_eq!(mode(&loose), 0o644);
        // A link, a FIFO (no hang: nothing is opened for reading or
        // writing), a folder, a second hard link: refused as open_output
        // refuses them.
        let link = d.join("link");
        symlink(&loose, &link).expect("symlink");
        assert!(matches!(
            check_output(&link, None),
            Err(SafeFileError::Symlink { .. })
        ));
        let fifo = d.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        assert!(matches!(
            check_output(&fifo, None),
            Err(SafeFileError::NotRegular { what: "a FIFO", .. })
        ));
        let sub = d.join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        assert!(matches!(
            check_output(&sub, None),
            Err(SafeFileError::NotRegular {
                what: "a directory",
                ..
            })
        ));
        std::fs::hard_link(&loose, d.join("alias")).expect("link");
        assert!(matches!(
            check_output(&loose, None),
            Err(SafeFileError::Links { links: 2, .. })
        ));
        // A folder its group may write.
        let open = d.join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o775)).expect("chmod");
        assert!(matches!(
            check_output(&open.join("out"), None),
            Err(SafeFileError::Folder { .. })
        ));
        assert!(!open.join("out").exists());
        // Another owner's file.
        let theirs = d.join("theirs");
        std::fs::write(&theirs, b"").expect("write");
        std::os::unix::fs::chown(&theirs, Some(65534), None).expect("chown");
        assert!(matches!(
            check_output(&theirs, None),
            Err(SafeFileError::Owner { owner: 65534, .. })
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_check_asks_the_kernel_whether_the_folder_takes_a_new_file() {
        // A read-only folder as root without CAP_DAC_OVERRIDE sees it (the
        // tests run as root).
        let d = dir("check-ro");
        let ro = d.join("ro");
        std::fs::create_dir(&ro).expect("mkdir");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        std::os::unix::fs::chown(&ro, Some(65534), None).expect("chown");
        // Owned by nobody: the walk refuses it first, as open_output does.
        assert!(matches!(
            check_output(&ro.join("out"), None),
            Err(SafeFileError::Folder { .. })
        ));
        std::os::unix::fs::chown(&ro, Some(0), None).expect("chown");
        // Root with CAP_DAC_OVERRIDE writes a 0555 folder.
        assert!(check_output(&ro.join("out"), None).expect("check").writable);
        // Capabilities belong to a thread: this one drops its own.
        let out = ro.join("out");
        let seen = std::thread::spawn(move || {
            caps::drop(None, CapSet::Effective, Capability::CAP_DAC_OVERRIDE).expect("drop");
            check_output(&out, None)
        })
        .join()
        .expect("join")
        .expect("check");
        assert!(!seen.writable, "{seen:?}");
        assert!(
            seen.why_not
                .as_deref()
                .is_some_and(|w| w.contains("Permission denied")),
            "{seen:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn another_owner_is_refused() {
        let d = dir("owner");
        let p = d.join("out");
        std::fs::write(&p, b"").expect("write");
        // Only root can give a file away (swmon's tests run as root).
        std::os::unix::fs::chown(&p, Some(65534), None).expect("chown");
        let e = open_output(&p, None).expect_err("refused");
        assert!(
            matches!(e, SafeFileError::Owner { owner: 65534, .. }),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_folder_others_can_write_or_swap_is_refused() {
        let d = dir("folders");
        // Owned by someone else, below sticky /tmp: they could swap it.
        let theirs = d.join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(65534), None).expect("chown");
        let e = open_output(&theirs.join("out"), None).expect_err("refused");
        assert!(
            matches!(&e, SafeFileError::Folder { folder, .. } if *folder == theirs),
            "{e}"
        );
        assert!(!theirs.join("out").exists());
        // Root's but group-writable, and not sticky.
        let open = d.join("open");
        std::fs::create_dir(&open).expect("mkdir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o775)).expect("chmod");
        assert!(matches!(
            open_output(&open.join("out"), None),
            Err(SafeFileError::Folder { .. })
        ));
        assert!(matches!(
            replace(&open.join("report"), b"x"),
            Err(SafeFileError::Folder { .. })
        ));
        // Reached through a link: the folder the link names is checked.
        let link = d.join("link");
        symlink(&theirs, &link).expect("symlink");
        assert!(matches!(
            open_output(&link.join("out"), None),
            Err(SafeFileError::Folder { .. })
        ));
        // Sticky and open to all (/tmp itself) is fine: the path checks do
        // the rest.
        let sticky = d.join("sticky");
        std::fs::create_dir(&sticky).expect("mkdir");
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        open_output(&sticky.join("out"), None).expect("a sticky folder");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_folder_on_the_given_path_is_checked_not_only_the_canonical_one() {
        let d = dir("given");
        // Root's, closed to others: where the link finally leads.
        let good = d.join("good");
        std::fs::create_dir(&good).expect("mkdir");
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        open_output(&good.join("out"), None).expect("a root folder");
        // Bob's home, holding a link to the good folder: bob could repoint
        // the link between the check and a reopen.
        let bob = d.join("bob");
        std::fs::create_dir(&bob).expect("mkdir");
        symlink(&good, bob.join("logs")).expect("symlink");
        std::os::unix::fs::chown(&bob, Some(65534), Some(65534)).expect("chown");
        let e = open_output(&bob.join("logs").join("out2"), None).expect_err("refused");
        assert!(
            matches!(&e, SafeFileError::Folder { folder, .. } if *folder == bob),
            "{e}"
        );
        assert!(!good.join("out2").exists());
        // A link owned by another user in a sticky folder (/tmp) is theirs.
        let theirs = d.join("theirs-link");
        symlink(&good, &theirs).expect("symlink");
        std::os::unix::fs::lchown(&theirs, Some(65534), None).expect("chown link");
        let sticky = d.join("sticky");
        std::fs::create_dir(&sticky).expect("mkdir");
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        let in_sticky = sticky.join("link");
        std::fs::rename(&theirs, &in_sticky).expect("move");
        let e = open_output(&in_sticky.join("out3"), None).expect_err("refused");
        assert!(e.to_string().contains("sticky"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn replace_does_not_use_a_guessable_temporary_name() {
        let d = dir("names");
        let p = d.join("report.md");
        // The old scheme's names, planted in advance, block nothing.
        for n in 0..8 {
            std::fs::write(
                d.join(format!(".report.md.swmon-tmp-{}-{n}", std::process::id())),
                b"",
            )
            .expect("plant");
        }
        replace(&p, b"one").expect("replace");
        replace(&p, b"two").expect("replace again");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        // Two names drawn are not the same.
        assert_ne!(random_u64(), random_u64());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn replace_renames_over_a_link_without_following_it() {
        let d = dir("replace");
        let target = d.join("target");
        std::fs::write(&target, b"keep").expect("write");
        let p = d.join("report.md");
        symlink(&target, &p).expect("symlink");
        replace(&p, b"# report\n").expect("replace");
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
        assert!(!std::fs::symlink_metadata(&p)
            .expect("stat")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&p).expect("read"), b"# report\n");
        assert_eq!(mode(&p), 0o600);
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&d)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
