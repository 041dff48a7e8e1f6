//! Where a filesystem is mounted, from `/proc/self/mountinfo`: the state
//! witness's records name a written file by its device and its path from
//! that filesystem's root (the page cache does not know the mount it was
//! opened through), and this turns them into a path on the host as swmon
//! sees it.
//!
//! Each line is `ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS... - TYPE
//! SOURCE SUPER_OPTIONS`, with spaces, tabs, newlines and backslashes in
//! paths written as octal escapes (`\040`). A file of a filesystem mounted
//! more than once is placed through the mount whose root holds it, the
//! shortest mount point first (`/` before a bind mount of it elsewhere).

use std::{fs, io};

/// One mount: which filesystem, which folder of it, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// `major << 20 | minor`, the kernel's `s_dev` encoding.
    pub dev: u32,
    /// The folder of the filesystem mounted (`/` for all of it).
    pub root: Vec<u8>,
    pub mount_point: Vec<u8>,
    pub fs_type: String,
}

/// The mount table, read once and again when a device is not in it.
#[derive(Debug, Default)]
pub struct Mounts {
    mounts: Vec<Mount>,
}

/// Filesystems whose files swmon does not open on a writer's behalf: a
/// FUSE server or a network peer can make a read hang or lie.
pub fn untrusted_fs(fs_type: &str) -> bool {
    fs_type == "fuse"
        || fs_type.starts_with("fuse.")
        || matches!(
            fs_type,
            "nfs" | "nfs4" | "cifs" | "smb3" | "9p" | "virtiofs" | "sshfs" | "ceph" | "glusterfs"
        )
}

impl Mounts {
    /// Reads `/proc/self/mountinfo`.
    pub fn read() -> io::Result<Mounts> {
        Ok(Mounts::parse(&fs::read("/proc/self/mountinfo")?))
    }

    /// Parses mountinfo text; lines that do not parse are skipped.
    pub fn parse(text: &[u8]) -> Mounts {
        let mut mounts = Vec::new();
        for line in text.split(|&c| c == b'\n') {
            let f: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
            if f.len() < 10 {
                continue;
            }
            let Some(dash) = f.iter().position(|x| *x == b"-") else {
                continue;
            };
            let Some(dev) = parse_dev(f[2]) else {
                continue;
            };
            let Some(fs_type) = f.get(dash + 1) else {
                continue;
            };
            mounts.push(Mount {
                dev,
                root: unescape(f[3]),
                mount_point: unescape(f[4]),
                fs_type: String::from_utf8_lossy(fs_type).into_owned(),
            });
        }
        // The shortest mount point first: `/` before a bind mount of it.
        mounts.sort_by_key(|m| m.mount_point.len());
        Mounts { mounts }
    }

    /// The type of filesystem `dev` (any of its mounts).
    pub fn fs_type(&self, dev: u32) -> Option<&str> {
        self.mounts
            .iter()
            .find(|m| m.dev == dev)
            .map(|m| m.fs_type.as_str())
    }

    /// The mounts a walk of the absolute `path` passes through, as the
    /// path is written (`..` and links not resolved): those whose mount
    /// point is `path` or one of its folders, `/` first.
    pub fn on_path<'a>(&'a self, path: &'a [u8]) -> impl Iterator<Item = &'a Mount> + 'a {
        self.mounts.iter().filter(move |m| {
            m.mount_point == b"/"
                || path
                    .strip_prefix(m.mount_point.as_slice())
                    .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
        })
    }

    /// The host path of `fs_path` (a path from the root of filesystem
    /// `dev`), and its mount; `None` when no mount of `dev` holds it.
    pub fn place(&self, dev: u32, fs_path: &[u8]) -> Option<(Vec<u8>, &Mount)> {
        self.mounts.iter().filter(|m| m.dev == dev).find_map(|m| {
            let rest = if m.root == b"/" {
                fs_path
            } else {
                let rest = fs_path.strip_prefix(m.root.as_slice())?;
                if !rest.is_empty() && rest[0] != b'/' {
                    return None;
                }
                rest
            };
            let mut p = if m.mount_point == b"/" {
                Vec::new()
            } else {
                m.mount_point.clone()
            };
            p.extend_from_slice(rest);
            if p.is_empty() {
                p.push(b'/');
            }
            Some((p, m))
        })
    }
}

fn parse_dev(f: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(f).ok()?;
    let (major, minor) = s.split_once(':')?;
    let major: u32 = major.parse().ok()?;
    let minor: u32 = minor.parse().ok()?;
    (major < 1 << 12 && minor < 1 << 20).then_some(major << 20 | minor)
}

/// Undoes mountinfo's `\NNN` octal escapes.
fn unescape(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut i = 0;
    while i < f.len() {
        if f[i] == b'\\' && i + 3 < f.len() {
            let oct = &f[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u32::from(oct[0] - b'0') * 64
                    + u32::from(oct[1] - b'0') * 8
                    + u32::from(oct[2] - b'0');
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(f[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
        30 22 0:25 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw\n\
        40 22 254:0 /srv/data /mnt/my\\040data rw,relatime shared:1 - ext4 /dev/vda rw\n\
        41 22 0:50 / /home/u/fuse rw - fuse.sshfs u@h:/ rw\n\
        broken line\n";

    #[test]
    fn places_a_path_through_the_mount_that_holds_it() {
        let m = Mounts::parse(TEXT);
        let (p, mount) = m.place(254 << 20, b"/var/lib/dpkg/status-new").unwrap();
        assert_eq!(p, b"/var/lib/dpkg/status-new");
        assert_eq!(mount.fs_type, "ext4");
        let (p, _) = m.place(25, b"/x").unwrap();
        assert_eq!(p, b"/dev/shm/x");
        assert!(m.place(7, b"/x").is_none());
    }

    #[test]
    fn the_mounts_on_a_path_are_its_folders_mounts() {
        let m = Mounts::parse(TEXT);
        let on = |p: &[u8]| m.on_path(p).map(|x| x.fs_type.clone()).collect::<Vec<_>>();
        assert_eq!(on(b"/home/u/fuse/out.json"), ["ext4", "fuse.sshfs"]);
        assert_eq!(on(b"/home/u/fuse"), ["ext4", "fuse.sshfs"]);
        // A name that only starts like the mount point is not under it.
        assert_eq!(on(b"/home/u/fusefile"), ["ext4"]);
        assert_eq!(on(b"/mnt/my data/x"), ["ext4", "ext4"]);
    }

    #[test]
    fn a_bind_mount_of_a_folder_is_used_only_for_what_it_holds() {
        let mut m = Mounts::parse(TEXT);
        // Without the whole filesystem's mount, /srv/data is reached only
        // through its bind mount (its escaped space undone).
        m.mounts.retain(|x| x.root != b"/" || x.dev != 254 << 20);
        let (p, _) = m.place(254 << 20, b"/srv/data/a").unwrap();
        assert_eq!(p, b"/mnt/my data/a");
        assert!(m.place(254 << 20, b"/srv/database/a").is_none());
        assert!(m.place(254 << 20, b"/etc/x").is_none());
    }

    #[test]
    fn untrusted_filesystems() {
        assert!(untrusted_fs("fuse.sshfs"));
        assert!(untrusted_fs("nfs4"));
        assert!(!untrusted_fs("ext4"));
        assert!(!untrusted_fs("overlay"));
        let m = Mounts::parse(TEXT);
        assert_eq!(m.place(50, b"/a").unwrap().1.fs_type, "fuse.sshfs");
    }
}
