//! Where a package file an installer named is, and who may read it: the
//! exec'ing process's own root and working folder (taken from its
//! `/proc/PID` folder, bound to the process the kernel saw), and its file
//! system credentials.
//!
//! The path as typed is resolved by the kernel beneath the process's root
//! (`openat2` with `RESOLVE_IN_ROOT`, or `RESOLVE_BENEATH` from its
//! working folder), never re-read as text in the daemon's own mount
//! namespace: a container's `yum install /tmp/foo.rpm` is the container's
//! `/tmp/foo.rpm`, and a folder renamed after the exec does not move the
//! run's working folder. The open is made on a worker thread that first
//! takes the process's fsuid, fsgid and supplementary groups (raw system
//! calls: they change the calling thread only), so the kernel decides
//! whether that user could reach and read the file (folder search
//! permission, ACLs, LSMs), not a guess from mode bits.

#[cfg(test)]
use std::os::unix::fs::OpenOptionsExt;
use std::{
    ffi::CString,
    fs::File,
    io::{self, Read},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use super::Rejected;

/// The credentials the kernel checks a process's opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
}

/// A process's view of the file system, opened while it was the process.
#[derive(Debug)]
enum Links {
    /// `/proc/PID`.
    Proc(File),
    /// Given (tests).
    #[cfg(test)]
    Fixed(Vec<u8>, Vec<u8>),
}

impl Links {
    fn read(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            Links::Proc(dir) => Some((readlinkat(dir, b"root")?, readlinkat(dir, b"cwd")?)),
            #[cfg(test)]
            Links::Fixed(r, c) => Some((r.clone(), c.clone())),
        }
    }
}

#[derive(Debug)]
pub struct Place {
    root: OwnedFd,
    cwd: OwnedFd,
    /// The text of its `root` and `cwd` links.
    links: Links,
    /// Whose credentials the open is made with; `None`: the caller's own
    /// (`swmon classify`).
    pub creds: Option<Creds>,
}

fn cstr(b: &[u8]) -> Result<CString, Rejected> {
    CString::new(b).map_err(|_| Rejected::Malformed("NUL in the path"))
}

/// `openat(dir, name, flags)` as an owned descriptor.
fn openat(dir: &impl AsRawFd, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the fd is open, the name NUL-terminated.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened and own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `openat2(dir, path, flags, resolve)`.
pub(super) fn openat2(
    dir: &impl AsRawFd,
    path: &[u8],
    flags: i32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: the fd is open, the path NUL-terminated, `how` sized as passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            std::ptr::addr_of_mut!(how),
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: a descriptor we just opened and own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn readlinkat(dir: &impl AsRawFd, name: &[u8]) -> Option<Vec<u8>> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: the fd is open, the name NUL-terminated, the buffer sized.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n)
        .ok()
        .filter(|n| *n > 0 && *n < buf.len())?;
    buf.truncate(n);
    Some(buf)
}

/// (device, inode, mount id) of an open descriptor.
fn identity(fd: &impl AsRawFd) -> Option<(u64, u64, u64)> {
    // SAFETY: statx is plain data; zeroed is a valid value.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open, the empty path NUL-terminated, `st` writable.
    let r = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut st,
        )
    };
    (r == 0).then(|| {
        (
            libc::makedev(st.stx_dev_major, st.stx_dev_minor),
            st.stx_ino,
            st.stx_mnt_id,
        )
    })
}

/// Parses `Uid:`, `Gid:` and `Groups:` of a `/proc/PID/status`.
pub(super) fn parse_creds(status: &[u8]) -> Option<Creds> {
    let text = std::str::from_utf8(status).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)).map(|v| {
            v.split_whitespace()
                .map(str::parse::<u32>)
                .collect::<Result<Vec<_>, _>>()
        })
    };
    let uids = field("Uid:")?.ok()?;
    let gids = field("Gid:")?.ok()?;
    let groups = field("Groups:")?.ok()?;
    Some(Creds {
        fsuid: *uids.get(3)?,
        fsgid: *gids.get(3)?,
        groups,
    })
}

impl Place {
    /// The view of the process whose `/proc/PID` folder `proc_dir` is
    /// (opened while it was that process): its root, working folder and
    /// credentials, or [`Rejected::ProcessGone`] when it has exited.
    pub fn of_process(proc_dir: File) -> Result<Place, Rejected> {
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        let gone = |_| Rejected::ProcessGone;
        let root = openat(&proc_dir, b"root", flags).map_err(gone)?;
        let cwd = openat(&proc_dir, b"cwd", flags).map_err(gone)?;
        let status = openat(&proc_dir, b"status", libc::O_RDONLY).map_err(gone)?;
        let mut text = Vec::new();
        File::from(status)
            .take(64 << 10)
            .read_to_end(&mut text)
            .map_err(|_| Rejected::ProcessGone)?;
        let creds = parse_creds(&text).ok_or(Rejected::ProcessGone)?;
        Ok(Place {
            root,
            cwd,
            links: Links::Proc(proc_dir),
            creds: Some(creds),
        })
    }

    /// A view with `root` as the root and `cwd` (beneath it) as the
    /// working folder, read with `creds` (tests).
    #[cfg(test)]
    pub fn at(root: &std::path::Path, cwd: &std::path::Path, creds: Option<Creds>) -> Place {
        use std::os::unix::ffi::OsStrExt;
        let open = |p: &std::path::Path| {
            OwnedFd::from(
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                    .open(p)
                    .unwrap(),
            )
        };
        let rel = cwd.strip_prefix(root).unwrap();
        let mut cwd_text = b"/".to_vec();
        cwd_text.extend_from_slice(rel.as_os_str().as_bytes());
        Place {
            root: open(root),
            cwd: open(cwd),
            links: Links::Fixed(b"/".to_vec(), cwd_text),
            creds,
        }
    }

    /// The caller's own view, read with its own credentials (`swmon
    /// classify`).
    pub fn of_self() -> Result<Place, Rejected> {
        let dir = File::open("/proc/self").map_err(|_| Rejected::ProcessGone)?;
        let mut place = Place::of_process(dir)?;
        place.creds = None;
        Ok(place)
    }

    /// The folder a path is resolved from: the root for an absolute one,
    /// the working folder for a relative one.
    pub(super) fn start(&self, operand: &[u8]) -> &OwnedFd {
        if operand.starts_with(b"/") {
            &self.root
        } else {
            &self.cwd
        }
    }

    /// Opens `operand` as the process would, beneath its root: absolute
    /// from its root; relative from its working folder, and when the path
    /// climbs out of it (`../x.deb`), from the root through the working
    /// folder's path, checked to be the same folder (device, inode,
    /// mount) as the one the process is in.
    pub(super) fn open(&self, operand: &[u8], flags: i32) -> Result<OwnedFd, Rejected> {
        let in_root = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        if operand.is_empty() {
            return Err(Rejected::Malformed("empty path"));
        }
        cstr(operand)?;
        if operand.starts_with(b"/") {
            return openat2(&self.root, operand, flags, in_root).map_err(Rejected::open);
        }
        match openat2(
            &self.cwd,
            operand,
            flags,
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
            other => return other.map_err(Rejected::open),
        }
        // Out of the working folder: its path beneath the root, as the
        // kernel shows both links (same mount namespace view).
        let (root, cwd) = self.links.read().ok_or(Rejected::ProcessGone)?;
        let rel = if root == b"/" {
            cwd.get(1..).map(<[u8]>::to_vec)
        } else {
            cwd.strip_prefix(root.as_slice())
                .filter(|r| r.is_empty() || r.starts_with(b"/"))
                .map(|r| r.get(1..).unwrap_or_default().to_vec())
        }
        .ok_or(Rejected::CwdMoved)?;
        let rel_dir = if rel.is_empty() {
            b".".to_vec()
        } else {
            rel.clone()
        };
        let dir = openat2(
            &self.root,
            &rel_dir,
            libc::O_PATH | libc::O_DIRECTORY,
            in_root,
        )
        .map_err(|_| Rejected::CwdMoved)?;
        if identity(&dir).is_none() || identity(&dir) != identity(&self.cwd) {
            return Err(Rejected::CwdMoved);
        }
        let mut joined = rel;
        if !joined.is_empty() {
            joined.push(b'/');
        }
        joined.extend_from_slice(operand);
        openat2(&self.root, &joined, flags, in_root).map_err(Rejected::open)
    }
}

/// Runs `f` on the calling thread with `creds` as its file system
/// credentials, then puts the thread's own back. Raw system calls: glibc's
/// `setgroups` would change every thread of the process.
pub(super) fn as_user<T>(creds: &Creds, f: impl FnOnce() -> T) -> Result<T, Rejected> {
    let saved = Saved::take()?;
    let switched = switch(creds);
    let out = switched.map(|()| f());
    saved.restore();
    out
}

fn raw_setfsuid(uid: u32) -> u32 {
    // SAFETY: integer argument; returns the previous fsuid.
    unsafe { libc::syscall(libc::SYS_setfsuid, uid) as u32 }
}

fn raw_setfsgid(gid: u32) -> u32 {
    // SAFETY: integer argument; returns the previous fsgid.
    unsafe { libc::syscall(libc::SYS_setfsgid, gid) as u32 }
}

fn raw_setgroups(groups: &[u32]) -> bool {
    // SAFETY: the pointer and length describe `groups`.
    unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) == 0 }
}

fn raw_getgroups() -> Option<Vec<u32>> {
    let mut groups = vec![0u32; 65536];
    // SAFETY: the buffer holds as many gids as passed.
    let n = unsafe { libc::syscall(libc::SYS_getgroups, groups.len(), groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).ok()?);
    Some(groups)
}

/// The thread's credentials before the switch.
struct Saved {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<u32>,
    /// The effective set, put back as it was ([`switch`] may take
    /// `CAP_DAC_READ_SEARCH` out of it).
    effective: caps::CapsHashSet,
}

/// The capabilities the kernel takes out of a thread's effective set when
/// its fsuid leaves 0 (`cap_drop_fs_set`) and swmon may hold:
/// [`switch`] drops them itself for a non-zero fsuid, since the kernel
/// does so only when the fsuid *was* 0. A swmon running as another uid
/// with these capabilities (a unit's `User=` with `AmbientCapabilities=`)
/// would otherwise open the user's file past the user's permissions.
const FS_CAPS: [caps::Capability; 2] = [
    caps::Capability::CAP_DAC_READ_SEARCH,
    caps::Capability::CAP_DAC_OVERRIDE,
];

/// `CAP_SETUID` and `CAP_SETGID` in the calling thread's effective set:
/// raised only around a switch (they stay out of it otherwise).
fn setid_caps(raise: bool) {
    for cap in [caps::Capability::CAP_SETUID, caps::Capability::CAP_SETGID] {
        // Not held (a test as a user): the switch below then fails and says so.
        let _ = if raise {
            caps::raise(None, caps::CapSet::Effective, cap)
        } else {
            caps::drop(None, caps::CapSet::Effective, cap)
        };
    }
}

impl Saved {
    fn take() -> Result<Saved, Rejected> {
        // setfsuid(-1) fails and returns the current value.
        Ok(Saved {
            fsuid: raw_setfsuid(u32::MAX),
            fsgid: raw_setfsgid(u32::MAX),
            groups: raw_getgroups().ok_or(Rejected::Credentials)?,
            effective: caps::read(None, caps::CapSet::Effective)
                .map_err(|_| Rejected::Credentials)?,
        })
    }

    fn restore(&self) {
        setid_caps(true);
        raw_setfsuid(self.fsuid);
        raw_setfsgid(self.fsgid);
        raw_setgroups(&self.groups);
        setid_caps(false);
        // After the fsuid: going back to 0 raises the kernel's fs set.
        let _ = caps::set(None, caps::CapSet::Effective, &self.effective);
    }
}

fn switch(creds: &Creds) -> Result<(), Rejected> {
    setid_caps(true);
    let ok = raw_setgroups(&creds.groups) && {
        raw_setfsgid(creds.fsgid);
        raw_setfsuid(creds.fsuid);
        // Read back: setfs*id return the old value even when refused.
        raw_setfsgid(u32::MAX) == creds.fsgid && raw_setfsuid(u32::MAX) == creds.fsuid
    };
    // The open itself runs without them.
    setid_caps(false);
    // A user's open: no permission override, whatever swmon's own uid.
    let dropped = creds.fsuid == 0
        || FS_CAPS
            .iter()
            .all(|cap| caps::drop(None, caps::CapSet::Effective, *cap).is_ok());
    (ok && dropped).then_some(()).ok_or(Rejected::Credentials)
}

/// File systems a read may block on without end, or that a user mounted:
/// FUSE and network file systems (`statfs.f_type`).
pub(super) fn remote(fd: &impl AsRawFd) -> bool {
    const REMOTE: [i64; 14] = [
        0x6573_5546, // FUSE
        0x6969,      // NFS
        0x517B,      // SMB
        0xFF53_4D42, // CIFS
        0xFE53_4D42, // SMB2
        0x7375_7245, // CODA
        0x5346_414F, // AFS
        0x6B41_4653, // kAFS
        0x00C3_6400, // Ceph
        0x0102_1997, // 9P
        0x564C,      // NCP
        0x0116_1970, // GFS2
        0x7461_636F, // OCFS2
        0x1366_1366, // OrangeFS
    ];
    // SAFETY: statfs is plain data; zeroed is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open, `st` writable.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return true;
    }
    #[allow(clippy::unnecessary_cast)]
    REMOTE.contains(&(st.f_type as i64))
}
