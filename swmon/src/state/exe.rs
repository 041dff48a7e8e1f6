//! An executable that no manager recorded: a file created in, renamed
//! into, or made executable in a `PATH` folder (`tar -x` into
//! `/usr/local/bin`). What is reported is what was opened: path, size,
//! owner, mode, whether anyone may execute it, and the SHA-256 of its
//! content, taken from the descriptor that was `fstat`ed (so a file swapped
//! after the open is not the one hashed). At most [`MAX_HASHED`] bytes are
//! hashed; a bigger file's digest is of its first [`MAX_HASHED`] bytes,
//! flagged `truncated`. A file that changes size while it is hashed is
//! flagged `changed-while-read`.
//!
//! The file is opened beneath its folder's descriptor, and that folder is
//! checked as opened: owned by another user than root
//! (`folder-not-root-owned`), or writable by group or others without the
//! sticky bit (`folder-writable-by-others`), it is flagged: such a folder
//! is not a system `PATH` folder, and whoever can write it could have
//! swapped what was read.

use std::{io::Read, os::unix::fs::MetadataExt, path::Path};

use sha2::{Digest, Sha256};

use super::{clean, open_regular, push_flag, Action, Change, Rejected, UNMANAGED};

/// The most bytes of one executable hashed.
pub const MAX_HASHED: u64 = 256 << 20;

/// What an executable is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExeFacts {
    /// The path as given, escaped when not clean.
    pub path: String,
    /// The name, the path's last part (the change's package name).
    pub name: String,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    /// The permission bits and set-id bits (`mode & 0o7777`).
    pub mode: u32,
    /// Any execute bit set.
    pub executable: bool,
    pub dev: u64,
    pub ino: u64,
    /// Lower-case hex SHA-256 of the first `hashed` bytes.
    pub sha256: String,
    /// How many bytes the digest covers: the size, or [`MAX_HASHED`].
    pub hashed: u64,
    /// `truncated`, `changed-while-read`, `escaped`, `setuid`, `setgid`,
    /// `world-writable`, `folder-not-root-owned`,
    /// `folder-writable-by-others`.
    pub flags: Vec<&'static str>,
}

impl ExeFacts {
    /// This file as a [`Change`] of manager [`UNMANAGED`], named by its
    /// file name, with no version.
    pub fn change(&self, action: Action) -> Change {
        Change {
            manager: UNMANAGED,
            name: self.name.clone(),
            version: None,
            previous_version: None,
            action,
            flags: self.flags.clone(),
        }
    }
}

/// Describes the executable at `path` (see the module doc, and the module
/// doc of [`super`] for how it is opened).
pub fn describe(path: &Path) -> Result<ExeFacts, Rejected> {
    describe_capped(path, MAX_HASHED)
}

/// [`describe`] with another hashing cap.
pub fn describe_capped(path: &Path, max_hashed: u64) -> Result<ExeFacts, Rejected> {
    use std::os::unix::{ffi::OsStrExt, fs::OpenOptionsExt};
    let file_name = path
        .file_name()
        .ok_or(Rejected::Malformed("no file name"))?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The folder's own links are followed (`/bin` on a merged-/usr
    // system); the file's are not.
    let folder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(folder)
        .map_err(Rejected::Open)?;
    let folder_meta = folder.metadata().map_err(Rejected::Read)?;
    let folder = std::os::fd::OwnedFd::from(folder);
    let (mut file, meta) = open_regular(Some(&folder), Path::new(file_name), max_hashed, false)?;
    let mut flags = Vec::new();
    if folder_meta.uid() != 0 {
        push_flag(&mut flags, "folder-not-root-owned");
    }
    if folder_meta.mode() & 0o022 != 0 && folder_meta.mode() & libc::S_ISVTX == 0 {
        push_flag(&mut flags, "folder-writable-by-others");
    }
    let cleaned_path = clean(path.as_os_str().as_bytes(), &mut flags);
    let name = clean(file_name.as_bytes(), &mut flags);
    let want = meta.len().min(max_hashed);
    if meta.len() > max_hashed {
        push_flag(&mut flags, "truncated");
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut hashed = 0u64;
    let mut limited = (&mut file).take(want);
    loop {
        let n = limited.read(&mut buf).map_err(Rejected::Read)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        hashed += n as u64;
    }
    let after = file.metadata().map_err(Rejected::Read)?;
    if hashed != want
        || after.len() != meta.len()
        || after.mtime_nsec() != meta.mtime_nsec()
        || after.mtime() != meta.mtime()
    {
        push_flag(&mut flags, "changed-while-read");
    }
    let mode = meta.mode() & 0o7777;
    if mode & libc::S_ISUID != 0 {
        push_flag(&mut flags, "setuid");
    }
    if mode & libc::S_ISGID != 0 {
        push_flag(&mut flags, "setgid");
    }
    if mode & 0o002 != 0 {
        push_flag(&mut flags, "world-writable");
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(ExeFacts {
        path: cleaned_path,
        name,
        size: meta.len(),
        uid: meta.uid(),
        gid: meta.gid(),
        mode,
        executable: mode & 0o111 != 0,
        dev: meta.dev(),
        ino: meta.ino(),
        sha256,
        hashed,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::state::test_support::{mkfifo, TempDir};

    /// The flags of `f` but the folder's owner (the tests' folders are
    /// their user's).
    fn flags(f: &ExeFacts) -> Vec<&'static str> {
        let mine = nix::unistd::geteuid().is_root();
        f.flags
            .iter()
            .copied()
            .filter(|&x| mine || x != "folder-not-root-owned")
            .collect()
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn an_executable_is_described_and_hashed() {
        let d = TempDir::new("exe");
        let p = d.path().join("tool");
        std::fs::write(&p, b"#!/bin/sh\necho hi\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
        let f = describe(&p).expect("describe");
        assert_eq!(f.name, "tool");
        assert_eq!((f.size, f.hashed, f.mode), (18, 18, 0o4755));
        assert!(f.executable);
        assert_eq!(f.uid, nix::unistd::geteuid().as_raw());
        assert_eq!(flags(&f), ["setuid"]);
        // Known answer: SHA-256 of the empty string.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(f.sha256, sha256_hex(b"#!/bin/sh\necho hi\n"));
        let c = f.change(Action::Install);
        assert_eq!(
            (c.manager, c.name.as_str(), c.version),
            ("unmanaged", "tool", None)
        );
        // Not executable is reported, not refused.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o646)).expect("chmod");
        let f = describe(&p).expect("describe");
        assert!(!f.executable);
        assert_eq!(flags(&f), ["world-writable"]);
    }

    #[test]
    fn a_real_binary_is_hashed_whole() {
        let p = Path::new("/bin/true");
        let Ok(bytes) = std::fs::read(p) else {
            return;
        };
        let f = describe(p).expect("describe");
        assert!(f.flags.is_empty(), "{:?}", f.flags);
        assert_eq!((f.size, f.hashed), (bytes.len() as u64, bytes.len() as u64));
        assert_eq!(f.sha256, sha256_hex(&bytes));
    }

    #[test]
    fn a_big_sparse_file_is_hashed_up_to_the_cap() {
        let d = TempDir::new("exe-sparse");
        let p = d.path().join("big");
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(2 << 30).expect("2 GiB sparse");
        // A small cap keeps a debug build's SHA-256 quick; the cap is the
        // same code path as MAX_HASHED's.
        let facts = describe_capped(&p, 1 << 20).expect("describe");
        assert_eq!((facts.size, facts.hashed), (2 << 30, 1 << 20));
        assert_eq!(flags(&facts), ["truncated"]);
        assert_eq!(facts.sha256, sha256_hex(&vec![0u8; 1 << 20]));
    }

    #[test]
    fn links_fifos_and_folders_are_refused() {
        let d = TempDir::new("exe-hostile");
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/bin/true", &link).expect("symlink");
        assert!(matches!(describe(&link), Err(Rejected::Symlink)));
        let fifo = d.path().join("fifo");
        mkfifo(&fifo);
        assert!(matches!(
            describe(&fifo),
            Err(Rejected::NotRegular("a FIFO"))
        ));
        assert!(matches!(describe(d.path()), Err(Rejected::NotRegular(_))));
        let odd = d.path().join("bad\u{1b}name");
        std::fs::write(&odd, b"x").expect("write");
        let f = describe(&odd).expect("describe");
        assert_eq!(f.name, "bad\\x1bname");
        assert_eq!(flags(&f), ["escaped"]);
        // A folder others may write: flagged, still described.
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let f = describe(&odd).expect("describe");
        assert_eq!(flags(&f), ["folder-writable-by-others", "escaped"]);
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert_eq!(flags(&describe(&odd).expect("describe")), ["escaped"]);
        // A path with no file name.
        assert!(matches!(
            describe(Path::new("/")),
            Err(Rejected::Malformed(_))
        ));
    }
}
