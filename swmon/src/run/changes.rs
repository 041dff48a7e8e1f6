//! The state witness in user space: each write to package state the kernel
//! matched ([`StateRecord`]) is placed on the host (facts stage,
//! [`Places`]), then given to the installer run it belongs to (decide
//! stage, [`Writes`]): the writer's own, or the nearest ancestor's, by pid
//! and process start, so a reused pid lends nothing. A write no run owns
//! belongs to its writer's *state-only* activity, which is reported on its
//! own (`no-installer-exec`) once the writer has written nothing for
//! [`QUIET`].
//!
//! What is kept per run is where state was written (the unit: a file, or
//! for a folder rule the folder: a `.dist-info`), not what it says: what
//! changed is read from the state itself when the run is reported
//! ([`crate::state`]), after its writers are done.

use std::{
    collections::HashMap,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde_json::json;
use swmon_common::state;

use super::{
    bounded::{Bounded, Unread},
    counters::Counters,
};
use crate::{
    catalogue::{self, Manager},
    classify::Operation,
    correlate::{vec_cost, Run},
    ebpf::decode::{KernelAncestor, StateRecord},
    enrich::{self, Ancestor},
    mounts::{self, Mounts},
    state::{dpkg, exe, npm, python, Action, Change, UNMANAGED},
};

/// A state-only activity is reported when its writer has written nothing
/// matched for this long: longer than the kernel's resend window (2 s), so
/// a file still being written has been sent again by then.
pub const QUIET: Duration = Duration::from_secs(3);
/// An activity still writing after this long is reported as it is, and
/// what it writes next starts another.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Most units kept over all open activities; past it, the oldest activity
/// is reported early.
pub const MAX_ACTIVITY_UNITS: usize = 65_536;
/// Most units kept per run or activity; past it, writes are counted only.
pub const MAX_UNITS: usize = 1024;
/// Most state-only activities open at once; past it, the oldest is
/// reported early.
pub const MAX_ACTIVITIES: usize = 1024;
/// How far a start time read from `/proc` (clock ticks) may be from the
/// kernel's (nanoseconds) for the same process.
pub const TICK_SLACK_NS: u64 = 20_000_000;

/// Whether two process starts are the same process's: equal, or either
/// unknown (0), or within [`TICK_SLACK_NS`] when one came from `/proc`.
pub fn same_start(a: u64, b: u64, approx: bool) -> bool {
    a == b || a == 0 || b == 0 || approx && a.abs_diff(b) <= TICK_SLACK_NS
}

/// The mount table is read again on a miss at most this often.
const REREAD: Duration = Duration::from_millis(200);

/// A matched write, placed on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    pub rec: StateRecord,
    /// The file's path on the host as swmon sees it; `None` when no mount
    /// of its filesystem holds it (another mount namespace's private
    /// mount, a filesystem unmounted since).
    pub path: Option<Vec<u8>>,
    /// The filesystem's type (`ext4`, `overlay`, `fuse.sshfs`).
    pub fs_type: Option<String>,
    /// The writer and its parents with their paths and command lines, read
    /// from `/proc` at its first matched write while it was that process
    /// (shared by its later writes).
    pub writer: Arc<Writer>,
}

/// A state writer as the facts stage found it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    pub process: Ancestor,
    pub ancestors: Vec<Ancestor>,
    /// Its working folder, from `/proc` while it was that process (`None`
    /// once it is gone).
    pub cwd: Option<Vec<u8>>,
}

impl StateWrite {
    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        record_bytes(&self.rec)
            + self.path.as_ref().map_or(0, |p| vec_cost(p.len()))
            + self.fs_type.as_ref().map_or(0, |t| vec_cost(t.len()))
    }

    /// The unit the write counts for: the folder for a folder rule (a
    /// `.dist-info`'s files are one package), else the file.
    pub fn unit(&self) -> Option<Vec<u8>> {
        let path = self.path.as_ref()?;
        if folder_rule(self.rec.rule) {
            let cut = path.iter().rposition(|&c| c == b'/')?;
            Some(path[..cut.max(1)].to_vec())
        } else {
            Some(path.clone())
        }
    }
}

/// What a run does to package state, as its installer's arguments read:
/// made once per primary exec of the run ([`RunRole::of`]), not per write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunRole {
    /// The manager the run is (`None`: a program of no manager's).
    pub manager: Option<Manager>,
    /// It installs, removes or upgrades, or its arguments are not known.
    pub installs: bool,
    /// Its subcommand runs another program (`uv run`, `npm exec`, `pipx
    /// run`, `bundle exec`), which manages nothing that program writes.
    pub runs_other: bool,
    /// It removes packages (by its arguments).
    pub removes: bool,
}

impl RunRole {
    /// The run's role, from its cache when its execs are the same.
    pub fn of(run: &mut Run) -> RunRole {
        // Its primary exec, by when it came: past the chain cap an exec
        // replaces one and the count stays the same.
        let key = run.primary().boot_ns;
        if let Some((k, role)) = run.role {
            if k == key {
                return role;
            }
        }
        let role = Self::read(run);
        run.role = Some((key, role));
        role
    }

    fn read(run: &Run) -> RunRole {
        let manager = catalogue::program(run.facts.installer_id).and_then(|p| match p.role {
            catalogue::Role::Installer(m) => Some(m),
            _ => None,
        });
        let Some(m) = manager else {
            return RunRole {
                manager,
                installs: true,
                runs_other: false,
                removes: false,
            };
        };
        let rec = run.primary();
        let reading = enrich::installer_args(rec, run.facts.via);
        let class = reading.classify(m, &rec.argv);
        RunRole {
            manager,
            installs: reading.args_unknown
                || matches!(
                    class.operation,
                    Operation::Install | Operation::Remove | Operation::Upgrade
                ),
            runs_other: class
                .subcommand
                .as_deref()
                .is_some_and(|s| matches!(s, "run" | "exec" | "x" | "dlx" | "tool" | "npx")),
            removes: !reading.args_unknown && class.operation == Operation::Remove,
        }
    }

    /// Whether it is a run of a manager of Python import folders.
    pub fn python(&self) -> bool {
        matches!(
            self.manager,
            Some(Manager::Pip | Manager::Pipx | Manager::Uv | Manager::Conda)
        )
    }

    /// Whether a write under `rule` is the run's: it installs, removes or
    /// upgrades, or the state is its manager's own (dpkg's database for
    /// apt or dpkg, `dpkg --configure` under apt; a Python folder's
    /// metadata for a Python manager, `uv venv`), unless it runs another
    /// program.
    pub fn owns(&self, rule: u32) -> bool {
        if self.installs {
            return true;
        }
        let Some(manager) = self.manager.filter(|_| !self.runs_other) else {
            return false;
        };
        match rule {
            state::DPKG_STATUS | state::DPKG_UPDATES => {
                matches!(manager, Manager::Apt | Manager::Dpkg)
            }
            // Metadata folders: its record. Code files at the top of an
            // import folder (`.pth`, `sitecustomize.py`) are never owned
            // this way: only by a run that installs.
            state::DIST_INFO | state::EGG_INFO => matches!(
                manager,
                Manager::Pip | Manager::Pipx | Manager::Uv | Manager::Conda
            ),
            state::NPM_PACKAGE | state::NPM_LOCK => matches!(
                manager,
                Manager::Npm | Manager::Yarn | Manager::Pnpm | Manager::Bun
            ),
            state::GEM_SPEC => matches!(manager, Manager::Gem | Manager::Bundler),
            state::CARGO => manager == Manager::Cargo,
            state::RPM_DB => matches!(manager, Manager::Rpm | Manager::Dnf),
            _ => false,
        }
    }
}

/// Whether a rule's unit is the written file's folder.
pub fn folder_rule(rule: u32) -> bool {
    matches!(
        rule,
        state::DIST_INFO | state::EGG_INFO | state::DPKG_UPDATES | state::SITE_PACKAGE
    )
}

/// A rule's name as events show it.
pub fn rule_name(rule: u32) -> &'static str {
    state::NAMES
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or("unknown", |(_, n)| n)
}

/// The manager whose state a rule watches (`unmanaged` for a `PATH`
/// folder).
pub fn manager_of(rule: u32) -> &'static str {
    match rule {
        state::DPKG_STATUS | state::DPKG_UPDATES => "dpkg",
        state::DIST_INFO | state::EGG_INFO => "pip",
        state::SITE_MODULE | state::SITE_PACKAGE => "unmanaged",
        state::NPM_PACKAGE | state::NPM_LOCK => "npm",
        state::CARGO => "cargo",
        state::GEM_SPEC => "gem",
        state::RPM_DB => "rpm",
        _ => "unmanaged",
    }
}

/// The `'static` name of a manager a change names (the readers' names).
pub fn manager_name(name: &str) -> Option<&'static str> {
    [
        "dpkg",
        "pip",
        "uv",
        "conda",
        "npm",
        "cargo",
        "gem",
        "rpm",
        "unmanaged",
    ]
    .into_iter()
    .find(|m| *m == name)
}

/// `event.action` and `event.type` of a state-only install from its
/// changes: a removal when every change is one, an upgrade when any is
/// (or a downgrade), else an install (also when nothing could be read:
/// package state was written).
pub fn action_of(changes: &[serde_json::Value]) -> (&'static str, &'static str) {
    let actions: Vec<&str> = changes
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    if !actions.is_empty() && actions.iter().all(|a| *a == "remove") {
        ("package-remove", "deletion")
    } else if actions.iter().any(|a| *a == "upgrade" || *a == "downgrade") {
        ("package-upgrade", "change")
    } else {
        ("package-install", "installation")
    }
}

/// About how many bytes a state record holds.
pub fn record_bytes(rec: &StateRecord) -> usize {
    std::mem::size_of::<StateRecord>()
        + vec_cost(rec.fs_path.len())
        + vec_cost(rec.comm.len())
        + vec_cost(rec.exe_name.len())
        + vec_cost(rec.executable.len())
        + rec
            .ancestors
            .iter()
            .map(|a| 64 + vec_cost(a.comm.len()) + vec_cost(a.exe_name.len()))
            .sum::<usize>()
}

/// Most writers whose `/proc` facts the facts stage keeps for their
/// later writes.
const WRITERS_KEPT: usize = 256;

/// The facts stage's mount table, for placing writes, and the writers it
/// has read.
#[derive(Debug, Default)]
pub struct Places {
    mounts: Mounts,
    read_at: Option<Instant>,
    writers: HashMap<(u32, u64), Arc<Writer>>,
}

impl Places {
    /// Places a record on the host: through the mount table, read again
    /// (at most every [`REREAD`]) when its filesystem is not in it.
    pub fn place(&mut self, rec: StateRecord) -> StateWrite {
        self.place_with(rec, true)
    }

    /// [`Places::place`] with the writer as the kernel saw it alone, nothing
    /// read from `/proc` (the facts stage's fallback when its host reads
    /// are stuck). The mount table is procfs's own, never a stuck read.
    pub fn place_kernel_only(&mut self, rec: StateRecord) -> StateWrite {
        self.place_with(rec, false)
    }

    fn place_with(&mut self, rec: StateRecord, live: bool) -> StateWrite {
        let found = |m: &Mounts| {
            if rec.on_host {
                return m
                    .fs_type(rec.dev)
                    .map(|t| (rec.fs_path.clone(), t.to_owned()));
            }
            m.place(rec.dev, &rec.fs_path)
                .map(|(p, mount)| (p, mount.fs_type.clone()))
        };
        let mut placed = found(&self.mounts);
        if placed.is_none() && self.read_at.is_none_or(|t| t.elapsed() >= REREAD) {
            self.read_at = Some(Instant::now());
            if let Ok(m) = Mounts::read() {
                self.mounts = m;
            }
            placed = found(&self.mounts);
        }
        let (path, fs_type) = match placed {
            Some((p, t)) => (Some(p), Some(t)),
            None => (None, None),
        };
        let key = (rec.tgid, rec.start_ns);
        let writer = match self.writers.get(&key) {
            Some(w) => w.clone(),
            None => {
                if self.writers.len() >= WRITERS_KEPT {
                    self.writers.clear();
                }
                let me = KernelAncestor {
                    pid: rec.tgid,
                    uid: rec.uid,
                    start_ns: rec.start_ns,
                    comm: rec.comm.clone(),
                    exe_name: rec.exe_name.clone(),
                };
                let w = if live {
                    let mut budget = enrich::ANCESTORS_ARGS_TOTAL;
                    Writer {
                        process: enrich::live_ancestor(&me, &mut budget),
                        ancestors: enrich::ancestors_of(&rec.ancestors),
                        cwd: enrich::process_cwd(rec.tgid, rec.start_ns),
                    }
                } else {
                    Writer {
                        process: enrich::kernel_ancestor(&me),
                        ancestors: rec.ancestors.iter().map(enrich::kernel_ancestor).collect(),
                        cwd: None,
                    }
                };
                let w = Arc::new(w);
                self.writers.insert(key, w.clone());
                w
            }
        };
        StateWrite {
            rec,
            path,
            fs_type,
            writer,
        }
    }
}

/// One unit of state a run (or a state-only activity) wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    pub rule: u32,
    /// Its host path (the folder for a folder rule).
    pub path: Vec<u8>,
    pub fs_type: String,
    /// The first process that wrote it (pid), and when (boot ns).
    pub writer: u32,
    pub boot_ns: u64,
    /// The kernel's path lost folders (deeper than its slots) or a cut
    /// name: the host path is not the file's, and is not read.
    pub truncated: bool,
}

/// The units one run or activity wrote, each once, at most [`MAX_UNITS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Units {
    pub units: Vec<Unit>,
    /// Writes past [`MAX_UNITS`] units, and writes that could not be
    /// placed on the host (counted, never dropped silently).
    pub dropped: u64,
    pub unplaced: u64,
}

impl Units {
    /// Adds a write's unit (once per unit).
    pub fn add(&mut self, w: &StateWrite) {
        let Some(path) = w.unit() else {
            self.unplaced += 1;
            return;
        };
        // A file written and made executable is one place.
        let rule = if w.rec.rule == state::PATH_ATTR {
            state::PATH_DIR
        } else {
            w.rec.rule
        };
        if self.units.iter().any(|u| u.rule == rule && u.path == path) {
            return;
        }
        if self.units.len() >= MAX_UNITS {
            self.dropped += 1;
            return;
        }
        self.units.push(Unit {
            rule,
            path,
            fs_type: w.fs_type.clone().unwrap_or_default(),
            writer: w.rec.tgid,
            boot_ns: w.rec.boot_ns,
            truncated: w.rec.path_truncated,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty() && self.dropped == 0 && self.unplaced == 0
    }

    /// About how many bytes it holds.
    pub fn bytes(&self) -> usize {
        self.units
            .iter()
            .map(|u| 48 + vec_cost(u.path.len()) + vec_cost(u.fs_type.len()))
            .sum()
    }
}

/// Writes no installer run owns, by writer (pid, start).
#[derive(Debug, Default)]
pub struct Activities {
    open: HashMap<(u32, u64), Activity>,
    /// Units kept over all open activities.
    units: usize,
    /// Activities reported early because the table was full.
    pub evicted: u64,
}

/// The state-only writes of one process.
#[derive(Clone, Debug)]
pub struct Activity {
    /// Its first write's record: the writer, its parents and user.
    pub first: StateRecord,
    /// The writer's `/proc` facts.
    pub writer: Arc<Writer>,
    pub units: Units,
    /// Boot ns of its first and last writes.
    pub first_ns: u64,
    pub last_ns: u64,
    /// The run of an installer it runs under that installs nothing (`npm
    /// start`, `npx`): its writes are not that run's (`swmon.state.under_run`).
    pub under_run: Option<String>,
}

impl Activities {
    /// Adds a write no run owns; returns an activity reported early to
    /// make room, if any.
    pub fn add(&mut self, w: &StateWrite, under_run: Option<String>) -> Option<Activity> {
        let mut key = (w.rec.tgid, w.rec.start_ns);
        // The open activity of that pid whose start is the same within a
        // tick, if any: the folder watch's starts come from `/proc`, and
        // its record of a file may come before or after the kernel's.
        if let Some(k) = self
            .open
            .keys()
            .find(|(pid, s)| *pid == key.0 && same_start(*s, key.1, true))
        {
            key = *k;
        }
        let mut evicted = None;
        let full = self.open.len() >= MAX_ACTIVITIES || self.units >= MAX_ACTIVITY_UNITS;
        if !self.open.contains_key(&key) && full {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, a)| a.last_ns)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.evicted += 1;
                evicted = self.open.remove(&k);
                if let Some(e) = &evicted {
                    self.units -= e.units.units.len();
                }
            }
        }
        let a = self.open.entry(key).or_insert_with(|| Activity {
            first: w.rec.clone(),
            writer: w.writer.clone(),
            units: Units::default(),
            first_ns: w.rec.boot_ns,
            last_ns: w.rec.boot_ns,
            under_run,
        });
        if a.first.on_host && !w.rec.on_host {
            // The kernel's view of the writer (read at the write) over the
            // folder watch's (read from `/proc` later).
            a.first = w.rec.clone();
            a.writer = w.writer.clone();
        }
        let before = a.units.units.len();
        a.units.add(w);
        self.units += a.units.units.len() - before;
        a.last_ns = a.last_ns.max(w.rec.boot_ns);
        evicted
    }

    /// The activities whose writer has been quiet for [`QUIET`] at
    /// `now_ns` (boot ns), oldest first.
    pub fn due(&mut self, now_ns: u64) -> Vec<Activity> {
        let quiet = QUIET.as_nanos() as u64;
        let max_age = MAX_AGE.as_nanos() as u64;
        let keys: Vec<_> = self
            .open
            .iter()
            .filter(|(_, a)| {
                now_ns.saturating_sub(a.last_ns) >= quiet
                    || now_ns.saturating_sub(a.first_ns) >= max_age
            })
            .map(|(k, _)| *k)
            .collect();
        let mut out: Vec<Activity> = keys.iter().filter_map(|k| self.open.remove(k)).collect();
        for a in &out {
            self.units -= a.units.units.len();
        }
        out.sort_by_key(|a| a.first.boot_ns);
        out
    }

    /// Every open activity (at stop), oldest first.
    pub fn drain(&mut self) -> Vec<Activity> {
        let mut out: Vec<Activity> = self.open.drain().map(|(_, a)| a).collect();
        out.sort_by_key(|a| a.first.boot_ns);
        self.units = 0;
        out
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// Whether swmon reads state on this filesystem (not on FUSE or a
/// network filesystem: see [`mounts::untrusted_fs`]).
pub fn readable_fs(fs_type: &str) -> bool {
    !mounts::untrusted_fs(fs_type)
}

/// The dpkg admin folders known to have been read, each with its last
/// `status` snapshot: a run's dpkg changes are the diff from it to the
/// `status` after the run.
pub const DPKG_ADMIN: &str = "/var/lib/dpkg";
/// Most dpkg admin folders remembered (chroots, `--root`, `--admindir`).
const MAX_ADMIN_DIRS: usize = 8;
/// Bytes of an unmanaged executable hashed (the rest is flagged
/// `truncated` by the reader).
const MAX_HASHED: u64 = 64 << 20;

/// What changed, read from the state a run or an activity wrote, after
/// its writers are done: the decide stage's reader of [`crate::state`].
#[derive(Debug, Default)]
pub struct StateReader {
    dpkg: HashMap<PathBuf, dpkg::Snapshot>,
    /// Python import folders' distributions, by folder, from their
    /// `.dist-info` and `.egg-info` names (nothing read inside): the
    /// system's at start, a venv's at a Python manager's exec in it, any
    /// other at the first read of a write in it; each listed again after
    /// a read. What was there before gives an upgrade its previous
    /// version (pip removes the old folder before it writes the new one)
    /// and a removal its change (pip writes nothing when it uninstalls).
    python: HashMap<PathBuf, Vec<python::DistInfo>>,
    /// Executables of the watched `PATH` folders, by (device, inode): at
    /// start, and each reported since. An attribute change of one of them
    /// is no install.
    executables: HashMap<(u32, u64), u32>,
}

/// Most executables remembered.
const MAX_EXECUTABLES: usize = 1 << 20;
/// Most Python import folders listed, and distributions kept a folder
/// (past them, a folder is not listed: its upgrades read as installs,
/// its removals are not seen).
const MAX_PY_FOLDERS: usize = 256;
const MAX_PY_DISTS: usize = 16_384;
/// The host's own import folders, listed at start (globs of one `*`).
const PY_SYSTEM_FOLDERS: &[&str] = &[
    "/usr/lib/python3/dist-packages",
    "/usr/local/lib/python3.*/dist-packages",
    "/usr/local/lib/python3.*/site-packages",
    "/usr/lib/python3.*/site-packages",
    "/root/.local/lib/python3.*/site-packages",
];
/// Most bytes hashed for one run or activity's `PATH` files (past it they
/// are `unread`, `hash-budget`): the decide stage reads them.
const HASH_BUDGET: u64 = 256 << 20;

/// A run's or an activity's changes, as `swmon.changes` carries them, and
/// the units that could not be read (`swmon.state.unread`: path and why).
#[derive(Clone, Debug, Default)]
pub struct Read {
    pub changes: Vec<serde_json::Value>,
    pub unread: Vec<serde_json::Value>,
}

/// How long the decide stage waits for one read of package state.
pub const STATE_READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// State readers given up at the deadline that may still be stuck.
pub const MAX_STUCK_STATE_READERS: usize = 4;

/// What a Python manager's removal took from its scope's import folders
/// ([`StateReader::python_removed`]).
#[derive(Debug, Default)]
pub struct Removed {
    pub changes: Vec<serde_json::Value>,
    /// Every folder it could have removed from was listed before and after.
    pub complete: bool,
}

/// A venv's import folders, `VENV/lib/python3.*/site-packages`, matched on
/// bytes (the venv's path is the exec's: any bytes, a `*` in it no glob).
fn venv_site_folders(venv: &[u8]) -> Vec<PathBuf> {
    let lib = Path::new(std::ffi::OsStr::from_bytes(venv)).join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().as_bytes().starts_with(b"python3."))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// The decide stage's [`StateReader`] on a [`Bounded`] worker: a package
/// database or import folder on a file system that stops answering (a
/// FUSE mount put over a venv after its writes were placed) costs a read
/// [`STATE_READ_DEADLINE`], not the stage. A read not done by then leaves
/// what it was to read `unread` (`timed-out`, counted
/// `state_read_timed_out`; `reader-busy`, `state_read_busy`, when every
/// reader is stuck), and the next read starts a new reader from a fresh
/// baseline (the host's dpkg database, the system's import folders, the
/// executables now in the watched `PATH` folders).
pub struct StateReads {
    reader: Bounded<StateReader>,
    /// The watched `PATH` folders, for a new reader's notes.
    dirs: Arc<Mutex<Vec<PathBuf>>>,
    counters: Arc<Counters>,
}

impl StateReads {
    /// Starts the first reader (its baselines are of now).
    pub fn new(counters: Arc<Counters>) -> StateReads {
        let dirs: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
        let fresh = {
            let dirs = dirs.clone();
            move || {
                let mut r = StateReader::new();
                r.note_executables(&dirs.lock().unwrap_or_else(PoisonError::into_inner));
                r
            }
        };
        let mut reads = StateReads {
            reader: Bounded::new(
                "swmon-state-read",
                STATE_READ_DEADLINE,
                MAX_STUCK_STATE_READERS,
                fresh,
            ),
            dirs,
            counters,
        };
        let _ = reads.call(|_| ());
        reads
    }

    fn call<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut StateReader) -> R + Send + 'static,
    ) -> Result<R, &'static str> {
        self.reader.call(f).map_err(|why| match why {
            Unread::TimedOut => {
                Counters::add(&self.counters.state_read_timed_out, 1);
                "timed-out"
            }
            Unread::Busy => {
                Counters::add(&self.counters.state_read_busy, 1);
                "reader-busy"
            }
        })
    }

    /// [`StateReader::read`]; what was not read is `unread`, with why.
    pub fn read(&mut self, units: &Units, unmanaged: bool) -> Read {
        let todo = units.clone();
        self.call(move |r| r.read(&todo, unmanaged))
            .unwrap_or_else(|why| Read {
                changes: Vec::new(),
                unread: units.units.iter().map(|u| unread(u, why)).collect(),
            })
    }

    /// [`StateReader::python_removed`]; `Err` with why when the listing
    /// was not done.
    pub fn python_removed(&mut self, venv: Option<Vec<u8>>) -> Result<Removed, &'static str> {
        self.call(move |r| r.python_removed(venv.as_deref()))
    }

    /// [`StateReader::python_baseline_venv`] (not done: counted).
    pub fn python_baseline_venv(&mut self, venv: Vec<u8>) {
        let _ = self.call(move |r| r.python_baseline_venv(&venv));
    }

    /// [`StateReader::baseline`] (not done: counted).
    pub fn baseline(&mut self, admin: PathBuf) {
        let _ = self.call(move |r| r.baseline(&admin));
    }

    /// [`StateReader::was_executable`]; not known is `false` (the change
    /// is reported).
    pub fn was_executable(&mut self, dev: u32, ino: u64, mode: u32) -> bool {
        self.call(move |r| r.was_executable(dev, ino, mode))
            .unwrap_or(false)
    }

    /// [`StateReader::note_executables`], also for each new reader.
    pub fn note_executables(&mut self, dirs: &[PathBuf]) {
        dirs.clone_into(&mut self.dirs.lock().unwrap_or_else(PoisonError::into_inner));
        let dirs = dirs.to_vec();
        let _ = self.call(move |r| r.note_executables(&dirs));
    }
}

impl StateReader {
    /// A reader with a baseline of the host's own dpkg database, when it
    /// has one.
    pub fn new() -> StateReader {
        let mut r = StateReader::default();
        let admin = PathBuf::from(DPKG_ADMIN);
        if admin.join("status").exists() {
            r.baseline(&admin);
        }
        for pattern in PY_SYSTEM_FOLDERS {
            for folder in glob_one(pattern) {
                r.python_baseline(&folder);
            }
        }
        r
    }

    /// Lists a Python import folder's distributions, once (see
    /// [`StateReader::python`]).
    pub fn python_baseline(&mut self, folder: &Path) {
        if self.python.contains_key(folder) || self.python.len() >= MAX_PY_FOLDERS {
            return;
        }
        if let Some(d) = list_dists(folder) {
            self.python.insert(folder.to_owned(), d);
        }
    }

    /// Lists the import folders of a venv (`VENV/lib/python3.*/site-packages`)
    /// a Python manager's run was exec'd from, before it changes them.
    pub fn python_baseline_venv(&mut self, venv: &[u8]) {
        for folder in venv_site_folders(venv) {
            self.python_baseline(&folder);
        }
    }

    /// The import folders of a run's scope listed again: the
    /// distributions gone since, as removals (a `pip uninstall`, which
    /// writes nothing the kernel hook sees). For a run of a Python manager
    /// that removes: its venv's folders (`venv`), else the system's.
    /// `complete` only when they are all it could have removed from: a
    /// venv whose folders were each listed before the run. Outside a venv,
    /// pip also removes from the user's site folder, a conda environment,
    /// `PYTHONPATH`: not listed, so what it removed there is not known.
    pub fn python_removed(&mut self, venv: Option<&[u8]>) -> Removed {
        let found: Vec<PathBuf> = match venv {
            Some(v) => venv_site_folders(v),
            None => PY_SYSTEM_FOLDERS.iter().flat_map(|p| glob_one(p)).collect(),
        };
        let complete = venv.is_some()
            && !found.is_empty()
            && found.iter().all(|f| self.python.contains_key(f));
        let mut changes = Vec::new();
        for f in &found {
            if self.python.contains_key(f) {
                changes.extend(self.python_relist(f, &[]));
            }
        }
        Removed { changes, complete }
    }

    /// Lists `folder` again and keeps that as its baseline; returns the
    /// distributions gone since the last listing, as removals, except
    /// those whose name `changed` (normalized) holds (an upgrade's old
    /// folder).
    fn python_relist(
        &mut self,
        folder: &Path,
        read: &[python::DistInfo],
    ) -> Vec<serde_json::Value> {
        let changed: Vec<String> = read.iter().map(python::DistInfo::normalized_name).collect();
        let Some(mut now) = list_dists(folder) else {
            self.python.remove(folder);
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Some(before) = self.python.get(folder) {
            for old in before {
                let name = old.normalized_name();
                if changed.contains(&name) || now.iter().any(|d| d.normalized_name() == name) {
                    continue;
                }
                if let Some(c) = python::change(Some(old), None) {
                    let mut v = json!(c);
                    v["path"] = json!(crate::event::lossless(folder.as_os_str().as_bytes()));
                    out.push(v);
                }
            }
        }
        // A name read from its metadata (now, or before) is kept over its
        // folder's.
        let before = self.python.get(folder);
        for d in &mut now {
            let (name, version) = (d.normalized_name(), d.version.clone());
            let known = read
                .iter()
                .chain(before.into_iter().flatten())
                .find(|k| k.version == version && k.normalized_name() == name);
            if let Some(k) = known {
                let mut k = k.clone();
                k.flags.retain(|f| *f == "name-from-folder");
                *d = k;
            }
        }
        if self.python.contains_key(folder) || self.python.len() < MAX_PY_FOLDERS {
            self.python.insert(folder.to_owned(), now);
        }
        out
    }

    /// The distribution of `d`'s name in its folder's last listing, at
    /// another version: what an upgrade replaced.
    fn python_before(&self, folder: &Path, d: &python::DistInfo) -> Option<python::DistInfo> {
        let name = d.normalized_name();
        let mut old = self
            .python
            .get(folder)?
            .iter()
            .find(|o| o.normalized_name() == name && o.version != d.version)?
            .clone();
        // Its version only: the name is the new reading's.
        old.flags.clear();
        Some(old)
    }

    /// Takes a dpkg admin folder's `status` as its baseline, once: at
    /// start for the host's, at the first write seen for another (a
    /// chroot's: dpkg folds its journal into `status` at the end of a run,
    /// so the first write of a run comes before the file changes).
    /// Only an admin folder and `status` of root's that no one else may
    /// write are read ([`trusted_admin`]): any user can make a folder named
    /// `dpkg` with a 64 MiB `status` in it. The host's baseline is never
    /// forgotten; past [`MAX_ADMIN_DIRS`] the others are.
    pub fn baseline(&mut self, admin: &Path) {
        if self.dpkg.contains_key(admin) || !trusted_admin(admin) {
            return;
        }
        if self.dpkg.len() >= MAX_ADMIN_DIRS {
            self.dpkg.retain(|a, _| a == Path::new(DPKG_ADMIN));
        }
        if let Ok(s) = dpkg::read(&admin.join("status")) {
            self.dpkg.insert(admin.to_owned(), s);
        }
    }

    /// Notes the executables now in `dirs` (at start).
    pub fn note_executables(&mut self, dirs: &[PathBuf]) {
        use std::os::unix::fs::MetadataExt;
        for d in dirs {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for e in entries.flatten() {
                if self.executables.len() >= MAX_EXECUTABLES {
                    return;
                }
                if let Ok(m) = std::fs::symlink_metadata(e.path()) {
                    if m.is_file() && m.mode() & 0o111 != 0 {
                        self.executables.insert(
                            (crate::ebpf::filter::kernel_dev(m.dev()), m.ino()),
                            m.mode() & 0o7777,
                        );
                    }
                }
            }
        }
    }

    /// Whether an attribute change leaves a known executable with no
    /// execute, setuid or setgid bit it did not have (`chown -R`, a
    /// `chmod` to the same mode): then it is no install. A newly set bit
    /// (`chmod u+s`) is one.
    pub fn was_executable(&self, dev: u32, ino: u64, mode: u32) -> bool {
        const BITS: u32 = 0o6111;
        self.executables
            .get(&(dev, ino))
            .is_some_and(|&before| mode & BITS & !before == 0)
    }

    /// The dpkg admin folder a write under `rule` to `path` names, if it
    /// is dpkg's.
    pub fn dpkg_admin(rule: u32, path: &[u8]) -> Option<PathBuf> {
        let p = Path::new(std::ffi::OsStr::from_bytes(path));
        match rule {
            state::DPKG_STATUS | state::DPKG_UPDATES => p.parent().map(Path::to_owned),
            _ => None,
        }
    }

    /// Reads what the units say now. `unmanaged`: report executables in
    /// `PATH` folders (an activity's; a run's manager records its own).
    pub fn read(&mut self, units: &Units, unmanaged: bool) -> Read {
        let mut out = Read::default();
        let mut admins: Vec<PathBuf> = Vec::new();
        // Import folders whose metadata was written, and the names read
        // there.
        let mut py_touched: Vec<(PathBuf, Vec<python::DistInfo>)> = Vec::new();
        let mut budget = HASH_BUDGET;
        let has_metadata = units.units.iter().any(|u| {
            matches!(u.rule, state::DIST_INFO | state::EGG_INFO)
                || u.rule == state::SITE_MODULE && u.path.ends_with(b".egg-info")
        });
        for u in &units.units {
            if !readable_fs(&u.fs_type) {
                out.unread.push(unread(u, "untrusted-filesystem"));
                continue;
            }
            if u.truncated {
                out.unread.push(unread(u, "path-truncated"));
                continue;
            }
            let path = Path::new(std::ffi::OsStr::from_bytes(&u.path));
            match u.rule {
                state::DPKG_STATUS | state::DPKG_UPDATES => {
                    if let Some(a) = Self::dpkg_admin(u.rule, &u.path) {
                        if !admins.contains(&a) {
                            admins.push(a);
                        }
                    }
                }
                state::DIST_INFO | state::EGG_INFO => {
                    // A folder gone since (a build's temporary environment,
                    // pip's `--target` staging moved into place) is no
                    // change where it was: `unread`, with why.
                    match python::read_dist_info(path) {
                        Ok(d) => {
                            let folder = path.parent().unwrap_or(Path::new("/"));
                            let before = self.python_before(folder, &d);
                            if let Some(c) = python::change(before.as_ref(), Some(&d)) {
                                out.changes.push(with_path(&c, u));
                            }
                            if !py_touched.iter().any(|(f, _)| f == folder) {
                                py_touched.push((folder.to_owned(), Vec::new()));
                            }
                            if let Some(t) = py_touched.iter_mut().find(|(f, _)| f == folder) {
                                t.1.push(d);
                            }
                        }
                        Err(e) => out.unread.push(unread(u, e.flag())),
                    }
                }
                // A distutils `.egg-info` file at the top of an import
                // folder is a package's metadata.
                state::SITE_MODULE if u.path.ends_with(b".egg-info") => {
                    match python::read_dist_info(path) {
                        Ok(d) => {
                            if let Some(c) = python::change(None, Some(&d)) {
                                out.changes.push(with_path(&c, u));
                            }
                        }
                        Err(e) => out.unread.push(unread(u, e.flag())),
                    }
                }
                // Python code with no metadata of its own (a module, a
                // package folder): reported for an activity that wrote no
                // package metadata beside it; a `.pth` or a
                // `*customize.py` (run at every start) always.
                state::SITE_MODULE | state::SITE_PACKAGE
                    if unmanaged && site_code(u) && (!has_metadata || runs_at_start(u)) =>
                {
                    match std::fs::symlink_metadata(path) {
                        Ok(_) => {
                            let name = u.path.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
                            out.changes.push(json!({
                                "manager": UNMANAGED,
                                "name": crate::event::lossless(name),
                                "action": "install",
                                "flags": ["python-code", "no-metadata"],
                                "path": crate::event::lossless(&u.path),
                            }));
                        }
                        Err(_) => out.unread.push(unread(u, "gone")),
                    }
                }
                state::NPM_PACKAGE => match npm::read_package_json(path) {
                    Ok(p) => {
                        if let Some(c) = npm::change(None, Some(&p)) {
                            out.changes.push(with_path(&c, u));
                        }
                    }
                    Err(e) => out.unread.push(unread(u, e.flag())),
                },
                state::PATH_DIR if unmanaged => {
                    // A symbolic link put there runs what it points to:
                    // that file is described, the link's target named.
                    let link = std::fs::symlink_metadata(path)
                        .is_ok_and(|m| m.file_type().is_symlink())
                        .then(|| std::fs::read_link(path).ok())
                        .flatten();
                    let target = match &link {
                        Some(_) => std::fs::canonicalize(path).ok(),
                        None => Some(path.to_owned()),
                    };
                    // The alternatives system's links (`/usr/bin/vi ->
                    // /etc/alternatives/vi`, made by `update-alternatives`
                    // under dpkg, often gone before it can be named) to a
                    // file of root's that no one else may write.
                    if let (Some(l), Some(t)) = (&link, &target) {
                        use std::os::unix::fs::MetadataExt;
                        let roots = std::fs::metadata(t)
                            .is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0);
                        if l.starts_with("/etc/alternatives/") && roots {
                            out.unread.push(unread(u, "alternatives-link"));
                            continue;
                        }
                    }
                    if budget == 0 {
                        out.unread.push(unread(u, "hash-budget"));
                        continue;
                    }
                    let described = target
                        .as_deref()
                        .map(|t| exe::describe_capped(t, MAX_HASHED.min(budget)));
                    match described {
                        Some(Ok(f)) => {
                            budget = budget.saturating_sub(f.hashed);
                            if self.executables.len() < MAX_EXECUTABLES && f.executable {
                                self.executables.insert(
                                    (crate::ebpf::filter::kernel_dev(f.dev), f.ino),
                                    f.mode & 0o7777,
                                );
                            }
                            let mut v = with_path(&f.change(Action::Install), u);
                            v["sha256"] = json!(f.sha256);
                            v["size"] = json!(f.size);
                            v["mode"] = json!(format!("{:o}", f.mode & 0o7777));
                            v["uid"] = json!(f.uid);
                            v["executable"] = json!(f.executable);
                            if let (Some(l), Some(t)) = (&link, &target) {
                                v["symlink"] =
                                    json!(crate::event::lossless(l.as_os_str().as_bytes()));
                                v["target"] =
                                    json!(crate::event::lossless(t.as_os_str().as_bytes()));
                                // Named by the link, not its target's name.
                                let name = u.path.rsplit(|&c| c == b'/').next().unwrap_or(&[]);
                                v["name"] = json!(crate::event::lossless(name));
                            }
                            out.changes.push(v);
                        }
                        Some(Err(e)) => out.unread.push(unread(u, e.flag())),
                        None => out.unread.push(unread(u, "dangling-symlink")),
                    }
                }
                // Written, not read (yet): rpm, gem, cargo, npm's lock,
                // and a run's `PATH` files (its manager's record says).
                _ => {}
            }
        }
        // The folders written listed again: a distribution gone from one
        // (replaced by another name, or removed beside the install) is a
        // removal.
        for (folder, names) in py_touched {
            out.changes.extend(self.python_relist(&folder, &names));
        }
        for admin in admins {
            if !trusted_admin(&admin) {
                out.unread.push(json!({
                    "path": crate::event::lossless(admin.as_os_str().as_bytes()),
                    "why": "untrusted-admin-folder",
                }));
                continue;
            }
            match dpkg::read(&admin.join("status")) {
                Ok(new) => {
                    match self.dpkg.get(&admin) {
                        Some(old) => {
                            for c in dpkg::diff(old, &new) {
                                let mut v = json!(c);
                                v["path"] = json!(crate::event::lossless(
                                    admin.join("status").as_os_str().as_bytes()
                                ));
                                out.changes.push(v);
                            }
                        }
                        None => out.unread.push(json!({
                            "path": crate::event::lossless(admin.as_os_str().as_bytes()),
                            "why": "no-baseline",
                        })),
                    }
                    self.dpkg.insert(admin, new);
                }
                Err(e) => out.unread.push(json!({
                    "path": crate::event::lossless(admin.as_os_str().as_bytes()),
                    "why": e.flag(),
                })),
            }
        }
        out
    }
}

/// Whether a dpkg admin folder and its `status` are root's and writable by
/// no one else (not followed if links).
pub fn trusted_admin(admin: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ok = |p: &Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
    };
    ok(admin) && ok(&admin.join("status"))
}

/// Whether a unit at the top of an import folder is code (a package
/// folder, or a module, `.pth`, extension, egg or link by its name), not a
/// `README.txt`.
fn site_code(u: &Unit) -> bool {
    u.rule == state::SITE_PACKAGE
        || [".py", ".pth", ".so", ".pyc", ".egg-link", ".egg", ".zip"]
            .iter()
            .any(|s| u.path.ends_with(s.as_bytes()))
}

/// Whether Python runs a unit at every start (`.pth`, `sitecustomize.py`,
/// `usercustomize.py`).
fn runs_at_start(u: &Unit) -> bool {
    u.path.ends_with(b".pth") || u.path.ends_with(b"customize.py")
}

/// The distributions of a Python import folder by their `.dist-info` and
/// `.egg-info` names (nothing read inside: flagged `name-from-folder`), at
/// most [`MAX_PY_DISTS`]; `None` when it cannot be listed.
fn list_dists(folder: &Path) -> Option<Vec<python::DistInfo>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(folder).ok()?.flatten() {
        if out.len() >= MAX_PY_DISTS {
            break;
        }
        let name = e.file_name();
        let n = name.as_bytes();
        if !(n.ends_with(b".dist-info") || n.ends_with(b".egg-info")) {
            continue;
        }
        if let Ok(d) = python::from_folder_name(&folder.join(&name)) {
            out.push(d);
        }
    }
    Some(out)
}

/// The folders a pattern with `*` in one of its parts names (each part
/// with a `*` matched against a folder's entries: a prefix and a suffix).
fn glob_one(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            match part.split_once('*') {
                None => {
                    let p = base.join(part);
                    if p.is_dir() {
                        next.push(p);
                    }
                }
                Some((pre, post)) => {
                    let Ok(rd) = std::fs::read_dir(base) else {
                        continue;
                    };
                    for e in rd.flatten() {
                        let n = e.file_name();
                        let n = n.to_string_lossy();
                        if n.len() >= pre.len() + post.len()
                            && n.starts_with(pre)
                            && n.ends_with(post)
                            && e.path().is_dir()
                        {
                            next.push(e.path());
                        }
                    }
                }
            }
        }
        found = next;
    }
    found.sort();
    found
}

fn with_path(c: &Change, u: &Unit) -> serde_json::Value {
    let mut v = json!(c);
    v["path"] = json!(crate::event::lossless(&u.path));
    v
}

fn unread(u: &Unit, why: &str) -> serde_json::Value {
    json!({ "path": crate::event::lossless(&u.path), "why": why })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_folder_listed_before_gives_upgrades_their_previous_version_and_removals() {
        let dir = std::env::temp_dir().join(format!("swmon-py-{}", std::process::id()));
        let site = dir.join("lib/python3.11/site-packages");
        let dist = |name: &str, version: &str| {
            let d = site.join(format!("{name}-{version}.dist-info"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"),
            )
            .unwrap();
            d
        };
        let unit = |d: &Path| Unit {
            rule: state::DIST_INFO,
            path: d.as_os_str().as_bytes().to_vec(),
            fs_type: "ext4".into(),
            writer: 1,
            boot_ns: 1,
            truncated: false,
        };
        dist("alpha", "1.0");
        dist("beta", "3.0");
        let mut r = StateReader::default();
        r.python_baseline_venv(dir.as_os_str().as_bytes());
        // An upgrade: the old folder gone, the new one written.
        std::fs::remove_dir_all(site.join("alpha-1.0.dist-info")).unwrap();
        let new = dist("alpha", "2.0");
        let read = r.read(
            &Units {
                units: vec![unit(&new)],
                ..Units::default()
            },
            false,
        );
        assert_eq!(read.changes.len(), 1, "{:?}", read.changes);
        assert_eq!(read.changes[0]["action"], "upgrade");
        assert_eq!(read.changes[0]["previous_version"], "1.0");
        assert_eq!(read.changes[0]["version"], "2.0");
        // An uninstall writes nothing: the folders listed again say it.
        std::fs::remove_dir_all(site.join("beta-3.0.dist-info")).unwrap();
        let removed = r.python_removed(Some(dir.as_os_str().as_bytes()));
        assert!(removed.complete, "the venv's folder was listed before");
        let gone = removed.changes;
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert_eq!(
            (
                &gone[0]["name"],
                &gone[0]["action"],
                &gone[0]["previous_version"]
            ),
            (&json!("beta"), &json!("remove"), &json!("3.0"))
        );
        // Said once.
        assert!(r
            .python_removed(Some(dir.as_os_str().as_bytes()))
            .changes
            .is_empty());
        // Outside a venv, pip removes from folders not listed (the user's
        // site folder, conda's): never complete.
        assert!(!r.python_removed(None).complete);
        assert_eq!(
            glob_one(&dir.join("lib/python3.*/site-packages").to_string_lossy()),
            std::slice::from_ref(&site)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_venv_s_folders_are_found_by_its_bytes_not_as_a_pattern() {
        let base = std::env::temp_dir().join(format!("swmon-venv-{}", std::process::id()));
        // A `*` and a byte that is no UTF-8 in the venv's own path.
        let venv = base.join(std::ffi::OsStr::from_bytes(b"v*\xff"));
        let site = venv.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        // A sibling the pattern `v*` would have matched.
        std::fs::create_dir_all(base.join("vother/lib/python3.11/site-packages")).unwrap();
        assert_eq!(venv_site_folders(venv.as_os_str().as_bytes()), [site]);
        let _ = std::fs::remove_dir_all(&base);
    }

    fn write(tgid: u32, rule: u32, path: &str, boot_ns: u64) -> StateWrite {
        StateWrite {
            rec: StateRecord {
                rule,
                tgid,
                pid: tgid,
                ppid: 1,
                uid: 0,
                euid: 0,
                loginuid: u32::MAX,
                sessionid: u32::MAX,
                dev: 1,
                ino: 2,
                mode: 0o100644,
                cgroup_id: 0,
                boot_ns,
                start_ns: 7,
                comm: b"x".to_vec(),
                exe_name: b"x".to_vec(),
                executable: b"/usr/bin/x".to_vec(),
                executable_truncated: false,
                fs_path: path.into(),
                path_truncated: false,
                on_host: false,
                ancestors: vec![],
            },
            path: Some(path.into()),
            fs_type: Some("ext4".into()),
            writer: Arc::default(),
        }
    }

    #[test]
    fn a_folder_rule_counts_its_folder_once() {
        let mut u = Units::default();
        for f in ["METADATA", "RECORD", "WHEEL"] {
            u.add(&write(
                5,
                state::DIST_INFO,
                &format!("/v/site-packages/a-1.dist-info/{f}"),
                1,
            ));
        }
        u.add(&write(5, state::PATH_DIR, "/usr/local/bin/a", 2));
        u.add(&write(5, state::PATH_DIR, "/usr/local/bin/a", 3));
        assert_eq!(u.units.len(), 2);
        assert_eq!(u.units[0].path, b"/v/site-packages/a-1.dist-info");
        assert_eq!(u.units[1].path, b"/usr/local/bin/a");
    }

    #[test]
    fn units_past_the_cap_are_counted() {
        let mut u = Units::default();
        for i in 0..MAX_UNITS + 3 {
            u.add(&write(5, state::PATH_DIR, &format!("/usr/bin/f{i}"), 1));
        }
        assert_eq!(u.units.len(), MAX_UNITS);
        assert_eq!(u.dropped, 3);
        let mut w = write(5, state::PATH_DIR, "/x", 1);
        w.path = None;
        u.add(&w);
        assert_eq!(u.unplaced, 1);
    }

    #[test]
    fn an_activity_is_due_after_its_writer_is_quiet() {
        let mut a = Activities::default();
        let s = 1_000_000_000;
        a.add(&write(5, state::PATH_DIR, "/usr/local/bin/a", s), None);
        a.add(&write(6, state::PATH_DIR, "/usr/local/bin/b", s), None);
        a.add(&write(5, state::PATH_DIR, "/usr/local/bin/c", 2 * s), None);
        let due = a.due(4 * s + s / 2);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].first.tgid, 6);
        let due = a.due(5 * s);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].units.units.len(), 2);
        assert!(a.is_empty());
        assert_eq!(a.units, 0);
        // A writer that never pauses is reported at MAX_AGE all the same.
        let mut t = 10 * s;
        a.add(&write(7, state::PATH_DIR, "/usr/local/bin/d", t), None);
        let end = t + MAX_AGE.as_nanos() as u64;
        while t < end {
            t += s;
            a.add(
                &write(7, state::PATH_DIR, &format!("/usr/local/bin/e{t}"), t),
                None,
            );
            if t < end {
                assert!(a.due(t).is_empty());
            }
        }
        assert_eq!(a.due(t).len(), 1);
    }
}
