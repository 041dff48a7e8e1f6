//! The state witness's folder watch: a file moved, hard-linked or
//! symlinked into a watched `PATH` folder dirties no page and changes no
//! attribute, so neither kernel program sees it. `fanotify` marks on those
//! folders only (no cost anywhere else) report each entry that appears
//! there (`FAN_MOVED_TO`, `FAN_CREATE`) with the acting process's pid; the
//! entry becomes a state record like the kernel's (rule `path-dir`), read
//! from `/proc` for its process start and parents while it runs. A new
//! empty regular file with one link is left to the write hook (it will be
//! written, or it is empty and installs nothing). A mover's start time
//! comes from `/proc` in clock ticks, not the kernel's nanoseconds: such a
//! record (`on_host`) matches a run or activity of the same pid whose
//! start is within [`crate::run::changes::TICK_SLACK_NS`].
//!
//! What it cannot do: name a mover that has already exited (its start time
//! and parents are then unknown, and its writes are attributed by pid
//! alone); the queue of the fanotify group holds 16,384 events, and an
//! overflow is counted (`state_watch_overflow`) and alerted.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{ffi::OsStrExt, fs::MetadataExt},
    },
    path::{Path, PathBuf},
};

use tokio::{io::unix::AsyncFd, sync::watch};

use super::{
    counters::Counters,
    kernel_reader::KernelItem,
    queue::{Full, Tx},
};
use crate::{
    ebpf::{
        decode::{KernelAncestor, Record, StateRecord},
        filter::kernel_dev,
    },
    enrich,
};

/// The fanotify group and the folders it marks, each with its file handle
/// (how events name it).
pub struct DirWatch {
    fd: OwnedFd,
    dirs: Vec<(Vec<u8>, PathBuf)>,
}

/// One entry that appeared in a watched folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appeared {
    pub pid: u32,
    pub path: PathBuf,
    pub moved: bool,
}

/// The file handle of `path` as fanotify reports it: `handle_bytes`,
/// `handle_type` and the handle (`struct file_handle` without padding).
fn handle_of(path: &Path) -> io::Result<Vec<u8>> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    let mut buf = [0u8; 8 + 128];
    buf[..4].copy_from_slice(&128u32.to_ne_bytes());
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` is a `struct file_handle` with room for 128 bytes of
    // handle, as its `handle_bytes` says; the path is NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mount_id,
            0,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let n = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    Ok(buf[..8 + n.min(128)].to_vec())
}

impl DirWatch {
    /// A group marking each of `dirs` (needs `CAP_SYS_ADMIN`: before the
    /// privilege drop). A folder that cannot be marked is returned with
    /// why, and not watched.
    pub fn open(dirs: &[PathBuf]) -> io::Result<(DirWatch, Vec<String>)> {
        let flags = libc::FAN_CLASS_NOTIF
            | libc::FAN_CLOEXEC
            | libc::FAN_NONBLOCK
            | libc::FAN_REPORT_DFID_NAME;
        // SAFETY: a plain system call; the descriptor is owned below.
        let fd = unsafe { libc::fanotify_init(flags, (libc::O_RDONLY | libc::O_CLOEXEC) as u32) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor, ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut marked = Vec::new();
        let mut refused = Vec::new();
        for d in dirs {
            let Ok(c) = CString::new(d.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: a plain system call on our descriptor.
            let r = unsafe {
                libc::fanotify_mark(
                    fd.as_raw_fd(),
                    libc::FAN_MARK_ADD | libc::FAN_MARK_ONLYDIR,
                    libc::FAN_MOVED_TO | libc::FAN_CREATE,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                )
            };
            let handle = if r == 0 {
                handle_of(d)
            } else {
                Err(io::Error::last_os_error())
            };
            match handle {
                Ok(h) => marked.push((h, d.clone())),
                Err(e) => refused.push(format!("{}: {e}", d.display())),
            }
        }
        Ok((DirWatch { fd, dirs: marked }, refused))
    }

    /// The folders watched.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, p)| p.as_path())
    }
}

/// Reads fanotify events from `buf`: the entries that appeared in a
/// watched folder, and whether the queue overflowed. Events of another
/// shape are skipped.
pub fn parse(buf: &[u8], dirs: &[(Vec<u8>, PathBuf)]) -> (Vec<Appeared>, bool) {
    let mut out = Vec::new();
    let mut overflow = false;
    let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
    let mut at = 0usize;
    while at + meta_len <= buf.len() {
        // SAFETY: the length is checked; the struct is plain integers.
        let m: libc::fanotify_event_metadata =
            unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
        let len = m.event_len as usize;
        if len < meta_len || at + len > buf.len() {
            break;
        }
        let event = &buf[at..at + len];
        at += len;
        if m.mask & libc::FAN_Q_OVERFLOW != 0 {
            overflow = true;
            continue;
        }
        if m.mask & (libc::FAN_MOVED_TO | libc::FAN_CREATE) == 0 || m.mask & libc::FAN_ONDIR != 0 {
            continue;
        }
        // Info records: header (type u8, pad u8, len u16), fsid (8 bytes),
        // then the file handle, then for DFID_NAME the name and its NUL.
        let mut i = m.metadata_len as usize;
        while i + 4 <= event.len() {
            let kind = event[i];
            let rlen = u16::from_ne_bytes([event[i + 2], event[i + 3]]) as usize;
            if rlen < 4 || i + rlen > event.len() {
                break;
            }
            let rec = &event[i..i + rlen];
            i += rlen;
            if kind != libc::FAN_EVENT_INFO_TYPE_DFID_NAME || rec.len() < 4 + 8 + 8 {
                continue;
            }
            let fh = &rec[12..];
            let n = u32::from_ne_bytes([fh[0], fh[1], fh[2], fh[3]]) as usize;
            if fh.len() < 8 + n {
                continue;
            }
            let handle = &fh[..8 + n];
            let name = fh[8 + n..].split(|&c| c == 0).next().unwrap_or(&[]);
            if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
                continue;
            }
            if let Some((_, dir)) = dirs.iter().find(|(h, _)| h.as_slice() == handle) {
                out.push(Appeared {
                    pid: u32::try_from(m.pid).unwrap_or(0),
                    path: dir.join(std::ffi::OsStr::from_bytes(name)),
                    moved: m.mask & libc::FAN_MOVED_TO != 0,
                });
            }
        }
    }
    (out, overflow)
}

/// The state record of an entry that appeared, or `None` when the write
/// hook will see it (a new, empty regular file with one link) or it is
/// gone already. The mover is read from `/proc` (start, parents) while it
/// runs; gone, it is named by its pid alone.
pub fn record_of(a: &Appeared, now_ns: u64) -> Option<StateRecord> {
    let meta = std::fs::symlink_metadata(&a.path).ok()?;
    if !a.moved && meta.is_file() && meta.nlink() == 1 && meta.len() == 0 {
        // A new, still empty file: the write hook sees what is written
        // into it (a hard link whose other name is gone since has one
        // link and data: it is read here).
        return None;
    }
    if meta.is_dir() {
        return None;
    }
    // Each process read through its own `/proc/PID` folder: the facts of
    // one process, never a mix with a process that reused its pid.
    let me = enrich::proc_snapshot(a.pid).unwrap_or(enrich::ProcSnapshot {
        uid: u32::MAX,
        loginuid: u32::MAX,
        sessionid: u32::MAX,
        ..Default::default()
    });
    let mut ancestors = Vec::new();
    let mut pid = me.ppid;
    while pid != 0 && ancestors.len() < swmon_common::ANCESTORS_MAX {
        let Some(p) = enrich::proc_snapshot(pid) else {
            break;
        };
        ancestors.push(KernelAncestor {
            pid,
            uid: p.uid,
            start_ns: p.start_ns,
            exe_name: p
                .executable
                .rsplit(|&c| c == b'/')
                .next()
                .unwrap_or(&[])
                .to_vec(),
            comm: p.comm,
        });
        if pid == 1 {
            break;
        }
        pid = p.ppid;
    }
    let (uid, loginuid, sessionid, start_ns) = (me.uid, me.loginuid, me.sessionid, me.start_ns);
    let (comm, exe) = (me.comm, me.executable);
    let path = a.path.as_os_str().as_bytes().to_vec();
    Some(StateRecord {
        rule: swmon_common::state::PATH_DIR,
        tgid: a.pid,
        pid: a.pid,
        ppid: ancestors.first().map_or(0, |x| x.pid),
        uid,
        euid: uid,
        loginuid,
        sessionid,
        dev: kernel_dev(meta.dev()),
        ino: meta.ino(),
        mode: meta.mode(),
        cgroup_id: 0,
        boot_ns: now_ns,
        start_ns,
        comm,
        exe_name: exe.rsplit(|&c| c == b'/').next().unwrap_or(&[]).to_vec(),
        executable: exe,
        executable_truncated: false,
        fs_path: path,
        path_truncated: false,
        on_host: true,
        ancestors,
    })
}

/// Reads the group until `stop`, sending each record into the facts
/// stage's queue (a full queue drops and counts, like the kernel reader).
pub async fn run(
    watch_: DirWatch,
    tx: Tx<KernelItem>,
    counters: std::sync::Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let dirs = watch_.dirs.clone();
    // SAFETY: the AsyncFd owns the descriptor, which stays open and
    // unchanged for as long as it lives.
    let Ok(fd) =
        (unsafe { AsyncFd::register_with_interest(watch_.fd, tokio::io::Interest::READABLE) })
    else {
        return;
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            ready = fd.readable() => {
                let Ok(mut guard) = ready else { return };
                // SAFETY: reads into our buffer from our descriptor.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::WouldBlock {
                        guard.clear_ready();
                        continue;
                    }
                    // Counted: the folder watch is gone from here on.
                    Counters::add(&counters.state_watch_failed, 1);
                    return;
                }
                let (appeared, overflow) = parse(&buf[..n as usize], &dirs);
                if overflow {
                    Counters::add(&counters.state_watch_overflow, 1);
                }
                Counters::add(&counters.state_watch_events, appeared.len() as u64);
                let now = crate::event::boot_ns_now();
                // `/proc` and `lstat` reads, off the readers' thread.
                let Ok(records) = tokio::task::spawn_blocking(move || {
                    appeared
                        .iter()
                        .filter_map(|a| record_of(a, now))
                        .collect::<Vec<_>>()
                })
                .await
                else {
                    Counters::add(&counters.state_watch_failed, 1);
                    return;
                };
                for rec in records {
                    let size = super::changes::record_bytes(&rec);
                    if let Err(Full::Full | Full::Closed) =
                        tx.try_send(KernelItem::Decoded(Record::State(Box::new(rec))), size)
                    {
                        Counters::add(&counters.kernel_queue_dropped, 1);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event as the kernel writes it: metadata, then one DFID_NAME
    /// record naming `handle`'s folder and `name`.
    fn event(mask: u64, pid: i32, handle: &[u8], name: &[u8]) -> Vec<u8> {
        let mut rec = vec![libc::FAN_EVENT_INFO_TYPE_DFID_NAME, 0, 0, 0];
        rec.extend_from_slice(&[7u8; 8]);
        rec.extend_from_slice(handle);
        rec.extend_from_slice(name);
        rec.push(0);
        while rec.len() % 4 != 0 {
            rec.push(0);
        }
        let rlen = rec.len() as u16;
        rec[2..4].copy_from_slice(&rlen.to_ne_bytes());
        let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
        let m = libc::fanotify_event_metadata {
            event_len: (meta_len + rec.len()) as u32,
            vers: libc::FANOTIFY_METADATA_VERSION,
            reserved: 0,
            metadata_len: meta_len as u16,
            mask,
            fd: libc::FAN_NOFD,
            pid,
        };
        // SAFETY: plain integers.
        let mut out = unsafe {
            std::slice::from_raw_parts(
                (&m as *const libc::fanotify_event_metadata).cast::<u8>(),
                meta_len,
            )
        }
        .to_vec();
        out.extend_from_slice(&rec);
        out
    }

    fn handle(b: u8) -> Vec<u8> {
        let mut h = 8u32.to_ne_bytes().to_vec();
        h.extend_from_slice(&1i32.to_ne_bytes());
        h.extend_from_slice(&[b; 8]);
        h
    }

    #[test]
    fn entries_of_watched_folders_are_read_and_the_rest_skipped() {
        let dirs = vec![(handle(1), PathBuf::from("/usr/local/bin"))];
        let mut buf = event(libc::FAN_MOVED_TO, 42, &handle(1), b"tool");
        buf.extend(event(libc::FAN_CREATE, 43, &handle(2), b"other"));
        buf.extend(event(
            libc::FAN_CREATE | libc::FAN_ONDIR,
            44,
            &handle(1),
            b"d",
        ));
        buf.extend(event(libc::FAN_CREATE, 45, &handle(1), b"../x"));
        buf.extend(event(libc::FAN_Q_OVERFLOW, -1, &handle(1), b"x"));
        buf.extend(event(libc::FAN_CREATE, 46, &handle(1), b"ln"));
        let (got, overflow) = parse(&buf, &dirs);
        assert!(overflow);
        assert_eq!(
            got,
            [
                Appeared {
                    pid: 42,
                    path: "/usr/local/bin/tool".into(),
                    moved: true
                },
                Appeared {
                    pid: 46,
                    path: "/usr/local/bin/ln".into(),
                    moved: false
                },
            ]
        );
    }

    #[test]
    fn a_cut_buffer_is_no_panic() {
        let dirs = vec![(handle(1), PathBuf::from("/usr/local/bin"))];
        let buf = event(libc::FAN_MOVED_TO, 42, &handle(1), b"tool");
        for n in 0..buf.len() {
            let _ = parse(&buf[..n], &dirs);
        }
        let mut bad = buf.clone();
        bad[0] = 3; // event_len shorter than the metadata
        assert_eq!(parse(&bad, &dirs).0, []);
    }
}
