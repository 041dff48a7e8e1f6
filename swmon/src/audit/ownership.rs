//! Which audit rules are swmon's, across processes: a state file per
//! running `swmon run` under [`STATE_DIR`] records the rules it added, so a
//! successor can remove what a predecessor that died (SIGKILL, an abort, a
//! power cut of the process but not of the host) left loaded, and only that.
//!
//! The kernel keeps no owner for an audit rule, so this file is the only
//! thing that says a rule is swmon's. What it guarantees:
//! - A file names its writer by pid, process start time (clock ticks since
//!   boot, `/proc/PID/stat` field 22) and boot id, and each instance holds
//!   an exclusive `flock` on `rules.PID.lock` for its whole life. An
//!   instance is dead only if a successor can take that lock (which holds
//!   across pid and time namespaces); without a lock file, `/proc` decides:
//!   alive with that start time is live, a pid that is gone, a zombie, or
//!   reused by another process (other start time) is dead. A live
//!   instance's rules are never touched, even when a dead one also recorded
//!   them.
//! - A file from another boot is discarded without deleting anything: the
//!   rules it names died with that boot, and an identical rule loaded now
//!   was loaded by this boot's host (auditd's rules files).
//! - The folder is 0700 and the files 0600, owned by root (uid 0);
//!   anything else (a symlink, another owner, a group- or world-accessible
//!   mode, an oversized or corrupt file, a rule of another shape than the
//!   seed's `exec_watch`) is refused with an error naming the file, and
//!   nothing it names is deleted.
//! - Files are written atomically (a temp file, fsync, rename) and the
//!   start sequence (leftovers, install, record) holds an exclusive `flock`
//!   on `STATE_DIR/lock`, so two instances starting at once never delete
//!   each other's rules.
//!
//! The record is written ahead: the rules about to be added are recorded
//! before the add, then the file is rewritten with what was added. A crash
//! between the two leaves a record of a rule that may never have been added;
//! the successor deletes it only if loaded exactly, which the kernel allows
//! only if nobody else added an identical rule meanwhile (it refuses
//! duplicates), so the one rule that could be wrongly taken is one a host
//! added in the microseconds between swmon's list and its add.

use std::{
    fs,
    io::{self, Read, Write},
    os::{
        fd::AsRawFd,
        unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::rules::AuditRule;

/// Where `swmon run` records the rules it added.
pub const STATE_DIR: &str = "/run/swmon";

/// A state file larger than this is refused (a seed set is a few KiB).
const MAX_STATE_BYTES: u64 = 1 << 20;
/// At most this many rules in one file (the kernel's own lists are not
/// bounded, but swmon never adds more than one rule per installer).
const MAX_RULES: usize = 4096;
const FORMAT_VERSION: u32 = 1;
/// How long a start or stop waits for another instance's lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Why a state file or folder was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: io::Error,
    },
    #[error("{path}: refused: {why}")]
    Unsafe { path: PathBuf, why: String },
    #[error("{path}: unreadable state file: {why}")]
    Corrupt { path: PathBuf, why: String },
}

impl StateError {
    /// The file or folder concerned.
    pub fn path(&self) -> &Path {
        match self {
            StateError::Io { path, .. }
            | StateError::Unsafe { path, .. }
            | StateError::Corrupt { path, .. } => path,
        }
    }
}

/// The pid a state file's name gives (`rules.PID.json`), whatever its
/// content.
pub fn pid_of_name(path: &Path) -> Option<u32> {
    path.file_name()?
        .to_str()?
        .strip_prefix("rules.")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// A process, as a state file names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// Clock ticks after boot the process started (`/proc/PID/stat` 22).
    pub start_time: u64,
    pub boot_id: String,
}

impl Owner {
    /// This process.
    pub fn me() -> Result<Owner, StateError> {
        let pid = std::process::id();
        let stat = Path::new("/proc/self/stat");
        let text = fs::read_to_string(stat).map_err(io_err(stat, "read"))?;
        let (_, start_time) = parse_stat(&text).ok_or_else(|| StateError::Corrupt {
            path: stat.to_owned(),
            why: "no start time".into(),
        })?;
        Ok(Owner {
            pid,
            start_time,
            boot_id: boot_id()?,
        })
    }
}

fn boot_id() -> Result<String, StateError> {
    let path = Path::new("/proc/sys/kernel/random/boot_id");
    Ok(fs::read_to_string(path)
        .map_err(io_err(path, "read"))?
        .trim()
        .to_owned())
}

/// The state letter and start time from a `/proc/PID/stat` line; the
/// command name may hold spaces and parentheses, so fields count from the
/// last `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 is the state; the start time is field 22, 19 after it.
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// What became of a recorded process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Running, same start time: its rules are its own.
    Alive,
    /// No such process, a zombie, or the pid now names another process.
    Dead,
    /// Recorded in another boot.
    OtherBoot,
}

/// Judges a recorded owner against this boot's processes. When `/proc`
/// cannot tell (an error other than "no such process"), the owner is taken
/// as alive: its rules are left alone.
pub fn liveness(owner: &Owner, this_boot: &str) -> Liveness {
    if owner.boot_id != this_boot {
        return Liveness::OtherBoot;
    }
    if owner.pid == 0 || i32::try_from(owner.pid).is_err() {
        return Liveness::Dead;
    }
    match fs::read_to_string(format!("/proc/{}/stat", owner.pid)) {
        Ok(text) => match parse_stat(&text) {
            Some(('Z' | 'X', _)) => Liveness::Dead,
            Some((_, start)) if start == owner.start_time => Liveness::Alive,
            Some(_) => Liveness::Dead,
            None => Liveness::Alive,
        },
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => Liveness::Dead,
        Err(_) => Liveness::Alive,
    }
}

/// One rule as stored: the kernel's `audit_rule_data` in hex (exact), and
/// the `auditctl -l` text for a reader.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredRule {
    text: String,
    data: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    #[serde(flatten)]
    owner: Owner,
    rules: Vec<StoredRule>,
}

/// A state file read back.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: PathBuf,
    pub owner: Owner,
    pub rules: Vec<AuditRule>,
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// Parses a state file's bytes; every problem is an error, never a panic.
pub fn parse_state(path: &Path, bytes: &[u8]) -> Result<Recorded, StateError> {
    let corrupt = |why: String| StateError::Corrupt {
        path: path.to_owned(),
        why,
    };
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    if file.version != FORMAT_VERSION {
        return Err(corrupt(format!("format version {}", file.version)));
    }
    if file.rules.len() > MAX_RULES {
        return Err(corrupt(format!("{} rules", file.rules.len())));
    }
    let rules = file
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let data = from_hex(&r.data).ok_or_else(|| corrupt(format!("rule {i}: bad hex")))?;
            let mut rule =
                AuditRule::decode(&data).map_err(|why| corrupt(format!("rule {i}: {why}")))?;
            rule.normalize();
            if !rule.is_exec_watch() {
                return Err(corrupt(format!("rule {i}: `{rule}` is no rule swmon adds")));
            }
            Ok(rule)
        })
        .collect::<Result<Vec<_>, StateError>>()?;
    Ok(Recorded {
        path: path.to_owned(),
        owner: file.owner,
        rules,
    })
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// The owner state files and their folder must have: root (a process
/// with capabilities but another uid could otherwise plant records in a
/// folder of its own). Unit tests run as whoever runs them.
fn required_owner() -> u32 {
    if cfg!(test) {
        euid()
    } else {
        0
    }
}

/// Refuses what is not root's alone: another owner, group or other access.
fn check_owner_mode(path: &Path, meta: &fs::Metadata, max_mode: u32) -> Result<(), StateError> {
    let refuse = |why: String| StateError::Unsafe {
        path: path.to_owned(),
        why,
    };
    if meta.uid() != required_owner() {
        return Err(refuse(format!(
            "owned by uid {}, not {}",
            meta.uid(),
            required_owner()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & !max_mode != 0 {
        return Err(refuse(format!(
            "mode {mode:04o}, want at most {max_mode:04o}"
        )));
    }
    Ok(())
}

/// Reads one state file: opened without following a symlink, checked to be
/// a regular file of ours with mode 0600 at most, size-capped, parsed.
pub fn read_state(path: &Path) -> Result<Recorded, StateError> {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                StateError::Unsafe {
                    path: path.to_owned(),
                    why: "a symlink".into(),
                }
            } else {
                io_err(path, "open")(e)
            }
        })?;
    let meta = file.metadata().map_err(io_err(path, "stat"))?;
    if !meta.file_type().is_file() {
        return Err(StateError::Unsafe {
            path: path.to_owned(),
            why: "not a regular file".into(),
        });
    }
    check_owner_mode(path, &meta, 0o600)?;
    if meta.len() > MAX_STATE_BYTES {
        return Err(StateError::Corrupt {
            path: path.to_owned(),
            why: format!("{} bytes, at most {MAX_STATE_BYTES}", meta.len()),
        });
    }
    let mut bytes = Vec::new();
    Read::by_ref(&mut file)
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path, "read"))?;
    parse_state(path, &bytes)
}

/// The state folder, checked.
#[derive(Clone, Debug)]
pub struct StateDir {
    path: PathBuf,
}

/// An exclusive lock on the state folder, released when dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: fs::File,
}

/// An instance's life lock ([`StateDir::hold_life_lock`]); dropping it
/// removes the file and releases the lock.
#[derive(Debug)]
pub struct LifeLock {
    path: PathBuf,
    _file: fs::File,
}

impl Drop for LifeLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl StateDir {
    /// Opens (creating, mode 0700) and checks the folder: a real directory,
    /// not a symlink, ours, no group or other access.
    pub fn open(path: &Path) -> Result<StateDir, StateError> {
        match fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(path, "create")(e)),
        }
        let meta = fs::symlink_metadata(path).map_err(io_err(path, "stat"))?;
        if !meta.file_type().is_dir() {
            return Err(StateError::Unsafe {
                path: path.to_owned(),
                why: "not a directory (or a symlink)".into(),
            });
        }
        check_owner_mode(path, &meta, 0o700)?;
        Ok(StateDir {
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to a few seconds for the folder's lock. An instance that
    /// cannot get it goes on without (and says so): its own rules are still
    /// its own, only a race with another instance's start is not excluded.
    pub fn lock(&self) -> Result<DirLock, StateError> {
        let path = self.path.join("lock");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        let end = Instant::now() + LOCK_WAIT;
        loop {
            // SAFETY: flock on an fd we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(DirLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) || Instant::now() > end {
                return Err(io_err(&path, "lock")(e));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lock file an instance holds for its whole life.
    pub fn life_lock_of(&self, pid: u32) -> PathBuf {
        self.path.join(format!("rules.{pid}.lock"))
    }

    /// Takes this instance's life lock (`rules.PID.lock`, an exclusive
    /// `flock` held until the returned file is dropped): a successor takes
    /// the instance as dead only if it can take that lock itself, which
    /// holds across pid and time namespaces where `/proc` can't tell.
    pub fn hold_life_lock(&self, pid: u32) -> Result<LifeLock, StateError> {
        let path = self.life_lock_of(pid);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err(&path, "open"))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(io_err(&path, "lock")(io::Error::last_os_error()));
        }
        Ok(LifeLock { path, _file: file })
    }

    /// Whether the instance `owner` is alive: by its life lock when it has
    /// one (held: alive; free: dead), else by `/proc` ([`liveness`]).
    pub fn liveness_of(&self, owner: &Owner, this_boot: &str) -> Liveness {
        if owner.boot_id != this_boot {
            return Liveness::OtherBoot;
        }
        let path = self.life_lock_of(owner.pid);
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return liveness(owner, this_boot),
            // Can't tell: its rules are left alone.
            Err(_) => return Liveness::Alive,
        };
        // SAFETY: flock on an fd we own; released when `file` is dropped.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            Liveness::Dead
        } else {
            Liveness::Alive
        }
    }

    /// Removes the life locks of dead instances that have no record left
    /// (a killed run with nothing recorded, a record emptied by `swmon
    /// rules`): a lock file nobody holds and no record names. Returns how
    /// many.
    pub fn remove_stale_life_locks(&self) -> usize {
        let Ok(entries) = fs::read_dir(&self.path) else {
            return 0;
        };
        let mut removed = 0;
        for path in entries.flatten().map(|e| e.path()) {
            let Some(pid) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("rules.")?.strip_suffix(".lock"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if self.file_of(pid).exists() {
                continue;
            }
            let Ok(file) = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(&path)
            else {
                continue;
            };
            // SAFETY: flock on an fd we own; released when `file` drops.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0
                && fs::remove_file(&path).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// This process's file.
    pub fn file_of(&self, pid: u32) -> PathBuf {
        self.path.join(format!("rules.{pid}.json"))
    }

    /// Records `rules` as `owner`'s: written to a temp file (0600, created
    /// exclusively), synced, renamed over the old. No rules: the file is
    /// removed.
    pub fn record(&self, owner: &Owner, rules: &[AuditRule]) -> Result<(), StateError> {
        let path = self.file_of(owner.pid);
        if rules.is_empty() {
            return match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(&path, "remove")(e)),
            };
        }
        let stored = rules
            .iter()
            .map(|r| {
                let data = r.encode().map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    why: format!("can't encode `{r}`: {e}"),
                })?;
                Ok(StoredRule {
                    text: r.to_string(),
                    data: to_hex(&data),
                })
            })
            .collect::<Result<Vec<_>, StateError>>()?;
        let body = serde_json::to_vec_pretty(&StateFile {
            version: FORMAT_VERSION,
            owner: owner.clone(),
            rules: stored,
        })
        .map_err(|e| StateError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        // One temp file per writing thread: the stop watchdog's emergency
        // removal may write while the stop itself does (never the same
        // temp file; the last rename wins, each one whole).
        let tmp = self.path.join(format!(
            ".rules.{}.{}.json.tmp",
            owner.pid,
            nix::unistd::gettid()
        ));
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&tmp, "remove a stale temp file")(e)),
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(io_err(&tmp, "create"))?;
        // The umask may only have narrowed the mode; make it exact.
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err(&tmp, "chmod"))?;
        f.write_all(&body).map_err(io_err(&tmp, "write"))?;
        f.sync_all().map_err(io_err(&tmp, "sync"))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io_err(&path, "rename"))?;
        Ok(())
    }

    /// Every state file in the folder, read (or the error reading it).
    pub fn scan(&self) -> Result<Vec<Result<Recorded, StateError>>, StateError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.path).map_err(io_err(&self.path, "list"))?;
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rules.") && n.ends_with(".json"))
            })
            .collect();
        paths.sort();
        for path in paths {
            out.push(read_state(&path));
        }
        Ok(out)
    }
}

/// `swmon rules install` / `swmon rules remove`: the host (an admin) takes
/// rules over. Holds the folder's lock from [`HostTakeover::begin`] (before
/// the rules are touched, so no `swmon run` starts in between) to
/// [`HostTakeover::finish`], which drops the rules from every dead
/// instance's record: a later `swmon run` must not delete them as that
/// instance's leftovers. A live instance's record is left as it is (that
/// instance sees the removal itself, or the kernel refuses the duplicate
/// add).
#[derive(Debug)]
pub struct HostTakeover {
    /// `None`: no state folder, so no record to fix.
    held: Option<(StateDir, DirLock)>,
}

impl HostTakeover {
    pub fn begin() -> Result<HostTakeover, StateError> {
        HostTakeover::begin_in(Path::new(STATE_DIR))
    }

    /// [`HostTakeover::begin`] with another folder. A folder that does not
    /// exist is not created.
    pub fn begin_in(path: &Path) -> Result<HostTakeover, StateError> {
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(HostTakeover { held: None })
            }
            Err(e) => return Err(io_err(path, "stat")(e)),
            Ok(_) => {}
        }
        let dir = StateDir::open(path)?;
        let lock = dir.lock()?;
        Ok(HostTakeover {
            held: Some((dir, lock)),
        })
    }

    /// Drops `rules` from the dead instances' records (a record left with
    /// none is removed); returns how many recorded rules were dropped.
    /// Records that can't be read are left alone and are errors.
    pub fn finish(self, rules: &[AuditRule]) -> Result<usize, Vec<StateError>> {
        let Some((dir, _lock)) = &self.held else {
            return Ok(0);
        };
        let this_boot = match boot_id() {
            Ok(b) => b,
            Err(e) => return Err(vec![e]),
        };
        let scanned = match dir.scan() {
            Ok(s) => s,
            Err(e) => return Err(vec![e]),
        };
        let (mut dropped, mut errors) = (0, Vec::new());
        for rec in scanned {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if dir.liveness_of(&rec.owner, &this_boot) == Liveness::Alive {
                continue;
            }
            let kept: Vec<AuditRule> = rec
                .rules
                .iter()
                .filter(|r| !rules.iter().any(|t| t.same_as(r)))
                .cloned()
                .collect();
            if kept.len() == rec.rules.len() {
                continue;
            }
            let written = if rec.path == dir.file_of(rec.owner.pid) {
                dir.record(&rec.owner, &kept)
            } else if kept.is_empty() {
                fs::remove_file(&rec.path).map_err(io_err(&rec.path, "remove"))
            } else {
                // Named for another pid than it records: rewrite it
                // under its own name is no option (that file may exist);
                // refuse.
                Err(StateError::Unsafe {
                    path: rec.path.clone(),
                    why: format!("records pid {}, not its name's", rec.owner.pid),
                })
            };
            match written {
                Ok(()) => dropped += rec.rules.len() - kept.len(),
                Err(e) => errors.push(e),
            }
        }
        dir.remove_stale_life_locks();
        if errors.is_empty() {
            Ok(dropped)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::SEED_KEY;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir().join(format!(
                "swmon-ownership-{}-{tag}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&p);
            Tmp(p)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn rules() -> Vec<AuditRule> {
        vec![
            AuditRule::exec_watch(Path::new("/usr/bin/dpkg"), SEED_KEY),
            AuditRule::exec_watch(Path::new("/usr/bin/apt-get"), SEED_KEY),
        ]
    }

    #[test]
    fn records_and_reads_back_exactly() {
        let t = Tmp::new("roundtrip");
        let dir = StateDir::open(&t.0).unwrap();
        assert_eq!(
            fs::metadata(&t.0).unwrap().mode() & 0o7777,
            0o700,
            "the folder is 0700"
        );
        let me = Owner::me().unwrap();
        dir.record(&me, &rules()).unwrap();
        let path = dir.file_of(me.pid);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let back = read_state(&path).unwrap();
        assert_eq!(back.owner, me);
        assert_eq!(back.rules, rules());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("-F path=/usr/bin/dpkg -F key=software-installer"));
        let scanned = dir.scan().unwrap();
        assert_eq!(scanned.len(), 1);
        assert_eq!(pid_of_name(&path), Some(me.pid));
        assert_eq!(pid_of_name(Path::new("/run/swmon/rules.x.json")), None);
        // No temp file is left, and no rules means no file.
        assert_eq!(fs::read_dir(&t.0).unwrap().count(), 1);
        dir.record(&me, &[]).unwrap();
        assert!(!path.exists());
        assert!(dir.scan().unwrap().is_empty());
    }

    #[test]
    fn hostile_files_are_errors_not_panics() {
        let p = Path::new("/run/swmon/rules.1.json");
        let me = Owner::me().unwrap();
        let good = format!(
            r#"{{"version":1,"pid":1,"start_time":1,"boot_id":"{}","rules":[]}}"#,
            me.boot_id
        );
        assert!(parse_state(p, good.as_bytes()).is_ok());
        for bad in [
            "".to_owned(),
            "{".to_owned(),
            "null".to_owned(),
            "[]".to_owned(),
            r#"{"version":2,"pid":1,"start_time":1,"boot_id":"x","rules":[]}"#.to_owned(),
            r#"{"version":1,"pid":-1,"start_time":1,"boot_id":"x","rules":[]}"#.to_owned(),
            r#"{"version":1,"pid":1,"start_time":1,"boot_id":"x","rules":[{"text":"","data":"zz"}]}"#.to_owned(),
            r#"{"version":1,"pid":1,"start_time":1,"boot_id":"x","rules":[{"text":"","data":"abc"}]}"#.to_owned(),
            r#"{"version":1,"pid":1,"start_time":1,"boot_id":"x","rules":[{"text":"","data":"00ff"}]}"#.to_owned(),
            format!(
                r#"{{"version":1,"pid":1,"start_time":1,"boot_id":"x","rules":[{{"text":"","data":"{}"}}]}}"#,
                "00".repeat(1040)
            ),
            "\u{0}\u{1}\u{2}garbage".to_owned(),
        ] {
            match parse_state(p, bad.as_bytes()) {
                Err(StateError::Corrupt { path, .. }) => assert_eq!(path, p),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        // Multi-byte text where hex is expected is refused, not sliced.
        let mb = r#"{"version":1,"pid":1,"start_time":1,"boot_id":"x","rules":[{"text":"","data":"é0"}]}"#;
        assert!(parse_state(p, mb.as_bytes()).is_err());
    }

    #[test]
    fn every_cut_and_flipped_byte_of_a_record_is_an_answer_not_a_panic() {
        let t = Tmp::new("mutate");
        let dir = StateDir::open(&t.0).unwrap();
        let me = Owner::me().unwrap();
        dir.record(&me, &rules()).unwrap();
        let good = fs::read(dir.file_of(me.pid)).unwrap();
        let p = Path::new("/run/swmon/rules.1.json");
        assert!(parse_state(p, &good).is_ok());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for cut in (0..good.len()).step_by(97) {
            let _ = parse_state(p, &good[..cut]);
        }
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            // Ok only if it still names rules swmon could have added.
            if let Ok(r) = parse_state(p, &b) {
                assert!(r.rules.iter().all(AuditRule::is_exec_watch));
            }
        }
    }

    #[test]
    fn wrong_owner_mode_symlink_and_size_are_refused() {
        let t = Tmp::new("refuse");
        let dir = StateDir::open(&t.0).unwrap();
        let me = Owner::me().unwrap();
        dir.record(&me, &rules()).unwrap();
        let path = dir.file_of(me.pid);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_state(&path).unwrap_err();
        assert!(matches!(e, StateError::Unsafe { .. }), "{e}");
        assert!(e.to_string().contains("mode 0644"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();

        if euid() == 0 {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let e = read_state(&path).unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
            std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        }

        let link = t.0.join("rules.2.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = read_state(&link).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        fs::remove_file(&link).unwrap();

        let fifo = t.0.join("rules.3.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_state(&fifo).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        fs::remove_file(&fifo).unwrap();

        let big = t.0.join("rules.4.json");
        let f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&big)
            .unwrap();
        f.set_len(MAX_STATE_BYTES + 1).unwrap();
        let e = read_state(&big).unwrap_err();
        assert!(e.to_string().contains("bytes, at most"), "{e}");
        // A scan reports each bad file and still reads the good one.
        let scanned = dir.scan().unwrap();
        assert_eq!(scanned.iter().filter(|r| r.is_ok()).count(), 1);
        assert_eq!(scanned.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn an_open_folder_or_a_symlinked_one_is_refused() {
        let t = Tmp::new("dirmode");
        fs::create_dir(&t.0).unwrap();
        fs::set_permissions(&t.0, fs::Permissions::from_mode(0o755)).unwrap();
        let e = StateDir::open(&t.0).unwrap_err();
        assert!(e.to_string().contains("mode 0755"), "{e}");
        let real = Tmp::new("dirreal");
        fs::create_dir(&real.0).unwrap();
        fs::set_permissions(&real.0, fs::Permissions::from_mode(0o700)).unwrap();
        let link = Tmp::new("dirlink");
        std::os::unix::fs::symlink(&real.0, &link.0).unwrap();
        let e = StateDir::open(&link.0).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
    }

    #[test]
    fn a_host_takeover_drops_its_rules_from_dead_records_only() {
        let t = Tmp::new("takeover");
        let dir = StateDir::open(&t.0).unwrap();
        let me = Owner::me().unwrap();
        let dead = Owner {
            pid: i32::MAX as u32,
            ..me.clone()
        };
        let all = rules();
        dir.record(&dead, &all).unwrap();
        dir.record(&me, &all).unwrap();
        // No folder: nothing to do, nothing created.
        let none = t.0.join("absent");
        assert_eq!(
            HostTakeover::begin_in(&none).unwrap().finish(&all).unwrap(),
            0
        );
        assert!(!none.exists());

        let take = HostTakeover::begin_in(&t.0).unwrap();
        // The lock is held until finish: a starting run would wait.
        let e = std::thread::scope(|s| s.spawn(|| dir.lock().map(|_| ())).join().unwrap());
        assert!(e.is_err(), "the folder is locked during the takeover");
        assert_eq!(take.finish(&all[..1]).unwrap(), 1);
        let back = read_state(&dir.file_of(dead.pid)).unwrap();
        assert_eq!(
            back.rules,
            all[1..].to_vec(),
            "the dead record lost the taken rule"
        );
        assert_eq!(
            read_state(&dir.file_of(me.pid)).unwrap().rules,
            all,
            "a live instance's record is its own"
        );
        assert_eq!(
            HostTakeover::begin_in(&t.0).unwrap().finish(&all).unwrap(),
            1
        );
        assert!(
            !dir.file_of(dead.pid).exists(),
            "an empty record is removed"
        );
        assert!(dir.lock().is_ok(), "and the lock is released");
    }

    #[test]
    fn a_held_life_lock_is_alive_whatever_proc_says_and_a_free_one_dead() {
        let t = Tmp::new("life");
        let dir = StateDir::open(&t.0).unwrap();
        let me = Owner::me().unwrap();
        // A pid /proc does not know (another pid namespace): its lock held.
        let elsewhere = Owner {
            pid: i32::MAX as u32,
            ..me.clone()
        };
        assert_eq!(liveness(&elsewhere, &me.boot_id), Liveness::Dead);
        let held = dir.hold_life_lock(elsewhere.pid).unwrap();
        assert_eq!(dir.liveness_of(&elsewhere, &me.boot_id), Liveness::Alive);
        assert!(dir.hold_life_lock(elsewhere.pid).is_err(), "one holder");
        // Its file left behind but not held (the holder died): dead.
        let path = dir.life_lock_of(elsewhere.pid);
        drop(held);
        assert!(!path.exists(), "removed when released");
        fs::File::create(&path).unwrap();
        assert_eq!(dir.liveness_of(&elsewhere, &me.boot_id), Liveness::Dead);
        // Not held and no record: stale, removed; a held one stays.
        let mine = dir.hold_life_lock(me.pid).unwrap();
        assert_eq!(dir.remove_stale_life_locks(), 1);
        assert!(!path.exists());
        assert!(dir.life_lock_of(me.pid).exists());
        drop(mine);
        // No lock file: /proc decides; another boot is another boot.
        assert_eq!(dir.liveness_of(&me, &me.boot_id), Liveness::Alive);
        assert_eq!(dir.liveness_of(&me, "other"), Liveness::OtherBoot);
    }

    #[test]
    fn liveness_by_pid_start_time_and_boot() {
        let me = Owner::me().unwrap();
        assert_eq!(liveness(&me, &me.boot_id), Liveness::Alive);
        let reused = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert_eq!(liveness(&reused, &me.boot_id), Liveness::Dead);
        assert_eq!(liveness(&me, "another-boot"), Liveness::OtherBoot);
        let gone = Owner {
            pid: i32::MAX as u32,
            ..me.clone()
        };
        assert_eq!(liveness(&gone, &me.boot_id), Liveness::Dead);
        assert_eq!(
            liveness(
                &Owner {
                    pid: 0,
                    ..me.clone()
                },
                &me.boot_id
            ),
            Liveness::Dead
        );
        assert_eq!(
            parse_stat("12 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 x"),
            Some(('S', 4242))
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1"), None);
    }
}
