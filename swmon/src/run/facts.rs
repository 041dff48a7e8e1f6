//! The facts stage: on its own thread, off the readers' path, it
//! identifies size-matched copy candidates by content
//! (SHA-256 of the file), applies the catalogue's full rules, and reads
//! what the kernel record lacks from `/proc` (ancestors, cgroup, tty) while
//! the process most likely still runs. Exits pass through in order, so an
//! exit never overtakes its exec on the way to the decide stage.
//!
//! Its input queue is bounded (the kernel reader drops and counts when it
//! is full); its output waits for room in the decide stage's queue (the
//! decide stage never waits on anything).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
};

use swmon_common::reason;

use super::{
    counters::Counters,
    kernel_reader::KernelItem,
    queue::{Rx, Tx},
    Ended,
};
use crate::{
    correlate::Facts,
    ebpf::{
        decode::{self, ExecRecord, ExitRecord, Record},
        filter::{Content, ContentMatcher},
    },
    enrich,
};

/// A new content matcher from a rediscovery, for the facts stage to take.
pub type MatcherUpdate = Arc<Mutex<Option<ContentMatcher>>>;

/// A record ready for the decide stage.
#[derive(Debug)]
pub enum Prepared {
    Exec(Box<ExecRecord>, Box<Facts>),
    Exit(ExitRecord),
}

impl Prepared {
    /// About how many bytes it holds (for the queue's byte budget).
    pub fn size(&self) -> usize {
        match self {
            Prepared::Exec(rec, facts) => crate::correlate::exec_bytes(rec) + facts.bytes(),
            Prepared::Exit(_) => std::mem::size_of::<ExitRecord>(),
        }
    }
}

/// The stage's loop: runs until the kernel reader's queue closes (or the
/// decide stage is gone).
pub fn run(
    mut input: Rx<KernelItem>,
    output: Tx<Prepared>,
    mut matcher: ContentMatcher,
    update: MatcherUpdate,
    counters: Arc<Counters>,
    _ended: Ended,
) {
    let mut hashes = Hashes::default();
    while let Some(item) = input.blocking_recv() {
        // The installers were discovered again (the kernel reader's
        // rediscovery): hashes cached by path are stale.
        if let Some(m) = update.lock().unwrap_or_else(PoisonError::into_inner).take() {
            matcher = m;
        }
        let record = match item {
            KernelItem::Decoded(r) => Ok(r),
            KernelItem::Raw(bytes) => decode::decode(&bytes),
        };
        let prepared = match record {
            Ok(Record::Exec(rec)) => prepare(*rec, &mut matcher, &mut hashes, &counters),
            Ok(Record::Exit(exit)) => Some(Prepared::Exit(exit)),
            Err(_) => {
                Counters::add(&counters.decode_errors, 1);
                None
            }
        };
        if let Some(p) = prepared {
            let size = p.size();
            if output.blocking_send(p, size).is_err() {
                return;
            }
        }
        super::stages::mark(super::stages::Stage::Facts);
    }
}

/// Identifies an exec and gathers its facts; `None` when it is no
/// installer's after all (counted).
fn prepare(
    rec: ExecRecord,
    matcher: &mut ContentMatcher,
    hashes: &mut Hashes,
    c: &Counters,
) -> Option<Prepared> {
    let mut sha256 = None;
    let mut unverified = false;
    let mut rec = rec;
    if rec.reasons & reason::SIZE != 0 && rec.reasons & !(reason::SIZE | reason::FILELESS) == 0 {
        // A copy candidate: only its content can tell. The process may
        // have exited already (`/proc/PID/exe` is gone); a file still on
        // disk is read by its path then, if it is the same inode.
        let mut content = hashes.identify(matcher, &enrich::proc_exe(rec.pid), &rec);
        if content == Content::Unreadable && rec.nlink != 0 {
            let path = PathBuf::from(crate::ebpf::filter::os(&rec.executable));
            content = hashes.identify(matcher, &path, &rec);
        }
        match content {
            Content::Installer(id, hash) => {
                rec.installer_id = Some(id);
                sha256 = Some(hash);
            }
            Content::Other => {
                Counters::add(&c.content_mismatch, 1);
                return None;
            }
            // A fileless exec of an installer's size, gone before it could
            // be read: reported, marked unverified, rather than dropped.
            Content::Unreadable if rec.reasons & reason::FILELESS != 0 => {
                Counters::add(&c.content_unverified, 1);
                unverified = true;
            }
            Content::Unreadable => {
                Counters::add(&c.content_unreadable, 1);
                return None;
            }
        }
    }
    let Some(id) = enrich::identify(&rec) else {
        Counters::add(&c.rejected, 1);
        return None;
    };
    // The exec'd process is the first to go (a `dpkg --version` lives a
    // few milliseconds): its own /proc entries are read first, its
    // parents' (usually waiting for it) after.
    // The cgroup and the parent chain come from what the kernel captured
    // at the exec: right even when every process is gone by now.
    let placement = enrich::placement(&rec);
    // Bound to the exec'ing process's start time: a reused pid lends nothing.
    let tty = enrich::tty(&rec);
    let cwd = if rec.cwd.is_empty() {
        enrich::cwd_of(&rec)
    } else {
        Some(rec.cwd.clone())
    };
    // Stats of paths the exec named (`pyvenv.cfg`): here, never on the
    // decide stage.
    let venv = enrich::venv_of(&rec);
    let ancestors = enrich::ancestors(&rec);
    let cut = ancestors.iter().filter(|a| a.args_truncated).count();
    Counters::add(&c.ancestor_args_cut, cut as u64);
    let facts = Facts {
        installer_id: id.installer_id,
        via: id.via,
        // The kernel read it at the exec; /proc is the fallback (racy:
        // gone when the run has already ended).
        cwd,
        sha256,
        unverified,
        ancestors,
        placement,
        tty,
        venv,
    };
    Some(Prepared::Exec(Box::new(rec), Box::new(facts)))
}

/// A file's identity and version: dev, ino, size, mtime and ctime (s, ns).
type FileKey = (u64, u64, u64, i64, i64, i64, i64);

/// Most content results remembered (by file identity).
const MAX_HASHES: usize = 1024;

/// Content identification of size-matched candidates: the file is opened
/// once, `fstat`ed through that fd, and read only if it is a regular file
/// of exactly the record's size on the record's (dev, ino); then at most
/// that many bytes are hashed (a file grown since, or swapped for another,
/// is never read to its end). Results are remembered per (dev, ino, size,
/// mtime, ctime), so an exec storm of one copy hashes it once.
#[derive(Default)]
pub struct Hashes {
    known: HashMap<FileKey, Content>,
}

impl Hashes {
    pub fn identify(
        &mut self,
        matcher: &mut ContentMatcher,
        path: &Path,
        rec: &ExecRecord,
    ) -> Content {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        if !matcher.has_size(rec.size) {
            return Content::Other;
        }
        let Ok(file) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
        else {
            return Content::Unreadable;
        };
        let Ok(meta) = file.metadata() else {
            return Content::Unreadable;
        };
        let same = meta.file_type().is_file()
            && crate::ebpf::filter::kernel_dev(meta.dev()) == rec.dev
            && meta.ino() == rec.ino;
        if !same {
            return Content::Unreadable;
        }
        if meta.size() != rec.size {
            // Changed since the exec: not the content that ran.
            return Content::Unreadable;
        }
        let key = (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        if let Some(c) = self.known.get(&key) {
            return c.clone();
        }
        let Ok(hash) = sha256_of(file, rec.size) else {
            return Content::Unreadable;
        };
        let content = match matcher.installer_with(&hash, rec.size) {
            Some(id) => Content::Installer(id, hash),
            None => Content::Other,
        };
        if self.known.len() >= MAX_HASHES {
            self.known.clear();
        }
        self.known.insert(key, content.clone());
        content
    }
}

/// SHA-256 of at most `size` bytes of `file`; an error if it holds fewer.
fn sha256_of(file: std::fs::File, size: u64) -> std::io::Result<String> {
    use std::io::Read;

    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = file.take(size);
    let mut read = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buf[..n]);
    }
    if read != size {
        return Err(std::io::Error::other("the file shrank while read"));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::ebpf::filter::{kernel_dev, FoundInstaller};

    #[test]
    fn content_is_hashed_through_the_checked_fd_and_never_past_the_size() {
        let dir = std::env::temp_dir().join(format!("swmon-facts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let installer = dir.join("installer");
        let copy = dir.join("copy");
        let other = dir.join("other");
        std::fs::write(&installer, vec![7u8; 5000]).expect("write");
        std::fs::write(&copy, vec![7u8; 5000]).expect("write");
        std::fs::write(&other, vec![8u8; 5000]).expect("write");
        let found = [FoundInstaller {
            id: 3,
            path: installer.clone(),
            target: installer.clone(),
            dev: 0,
            ino: std::fs::metadata(&installer).expect("meta").ino(),
            size: 5000,
            elf: true,
            multiplexed: false,
        }];
        let mut matcher = ContentMatcher::new(&found);
        let mut hashes = Hashes::default();
        let record = |path: &Path, size: u64| {
            let m = std::fs::metadata(path).expect("meta");
            let mut rec = ExecRecord::sample(1, "/x", 1);
            rec.dev = kernel_dev(m.dev());
            rec.ino = m.ino();
            rec.size = size;
            rec
        };
        let rec = record(&copy, 5000);
        assert!(matches!(
            hashes.identify(&mut matcher, &copy, &rec),
            Content::Installer(3, _)
        ));
        assert_eq!(hashes.known.len(), 1);
        assert!(matches!(
            hashes.identify(&mut matcher, &copy, &rec),
            Content::Installer(3, _)
        ));
        assert_eq!(hashes.known.len(), 1, "the second time from the cache");
        let rec_other = record(&other, 5000);
        assert_eq!(
            hashes.identify(&mut matcher, &other, &rec_other),
            Content::Other
        );
        // Another file at the path (not the exec'd inode): not read.
        assert_eq!(
            hashes.identify(&mut matcher, &other, &rec),
            Content::Unreadable
        );
        // The same inode grown since the exec: not read to its end.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&copy)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &[0u8; 100]))
            .expect("grow");
        assert_eq!(
            hashes.identify(&mut matcher, &copy, &rec),
            Content::Unreadable
        );
        // No installer of that size: nothing opened.
        let rec_size = record(&copy, 5100);
        assert_eq!(
            hashes.identify(&mut matcher, &copy, &rec_size),
            Content::Other
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
