//! Joins the kernel stream's records into installer runs (the passing
//! execs of one process, oldest first, and its exit), and each run with the
//! audit trail ([`verdict`]).
//!
//! A run is the life of one process (tgid): a pyenv shim runs `env`, then
//! `bash`, then `python3 -m pip` in the same process, and `/usr/bin/npm` runs
//! `env` then `node npm-cli.js`; each is one run whose primary exec is the
//! last one that passed. A run ends at the process's exit. If that exit
//! record was lost (a full ring buffer), the sweep notices the process is
//! gone and ends the run without an exit code; nothing waits forever, and
//! the open runs are capped in number and in bytes (the oldest is ended
//! early, counted).

pub mod verdict;

use std::collections::HashMap;

use swmon_common::reason;

use crate::ebpf::decode::{ExecRecord, ExitRecord};

/// Most evicted processes remembered for their next run's id.
const MAX_PARTS: usize = 16_384;
/// Most execs kept per run (the first ones and the last one).
pub const CHAIN_MAX: usize = 8;

/// An installer run, open or finished.
#[derive(Clone, Debug)]
pub struct Run {
    /// Passing execs of this process, oldest first; the last is primary.
    pub execs: Vec<ExecRecord>,
    /// Extra facts gathered when the primary exec arrived.
    pub facts: Facts,
    pub exit: Option<ExitRecord>,
    /// Why the run ended without an exit record.
    pub end: Option<&'static str>,
    /// The audit records attached to it (of its execs, and of its process
    /// within its life), once one came.
    pub audit: Option<verdict::AuditMatch>,
    /// Execs trimmed from the chain (past [`CHAIN_MAX`]; those with their
    /// own record first, see [`verdict::AuditMatch::trimmed_unrecorded`]):
    /// a record of the process that joins no kept exec may be of one of
    /// them.
    pub trimmed: u32,
    /// [`Facts::exe_owner`] of each exec, beside `execs` (missing: not
    /// known).
    pub owners: Vec<Option<(u32, u32)>>,
    /// How many runs of this process were ended at the cap before this
    /// one (0 for most): part of its id, so each run's is its own.
    pub part: u32,
    /// The join keys of its execs, made once each (see
    /// `verdict::keys_of`).
    pub keys: verdict::KeyCache,
    /// Where it (or a process under it) wrote package state (the state
    /// witness), each place once.
    pub state: crate::run::changes::Units,
    /// What its state writes said when it ended (read once, then).
    pub state_read: Option<crate::run::changes::Read>,
    /// The run of its nearest ancestor that had one open at its first
    /// exec (`swmon.parent_run_id`: apt's for the dpkg it runs).
    pub parent_run: Option<String>,
    /// The changes of the runs nested in it, read as each ended (apt's
    /// dpkg runs'), each with its `run_id`.
    pub nested_changes: Vec<serde_json::Value>,
    /// Places its nested runs could not read, and their changes past the
    /// cap: what its changes may miss.
    pub nested_unread: u64,
    /// What the run does to package state, as its installer's arguments
    /// read, with the boot time of the primary exec it was read for (a new
    /// exec reads again).
    pub role: Option<(u64, crate::run::changes::RunRole)>,
    /// Its early event (`event.type: start`) was written.
    pub started_event: bool,
}

/// Facts user space read while the process was alive.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub installer_id: u16,
    pub via: &'static str,
    pub cwd: Option<Vec<u8>>,
    pub sha256: Option<String>,
    /// A near-copy's build ID (hex; `go:` before a Go one), equal to the
    /// installer's.
    pub build_id: Option<String>,
    /// A fileless candidate reported on its size or ELF key alone, or a
    /// near-copy with no build ID to confirm it by.
    pub unverified: bool,
    /// Why a near-copy could not be confirmed: `no-build-id`, or the note
    /// reader's flag for a malformed file.
    pub build_id_flag: Option<&'static str>,
    /// The argv classify read is not all of it (an interpreter's longer
    /// than the kernel's copy, gone before `/proc` could give the rest):
    /// the reading is uncertain (`swmon.reading`).
    pub argv_incomplete: bool,
    /// As the kernel captured them at the exec (args capped, see
    /// [`crate::enrich::ancestors`]).
    pub ancestors: Vec<crate::enrich::Ancestor>,
    pub placement: crate::enrich::Placement,
    pub tty: Option<String>,
    /// The Python venv the exec ran from (found by the facts stage).
    pub venv: Option<Vec<u8>>,
    /// Local package files the run named, read by the facts stage.
    pub package_files: Vec<crate::package_file::FileFact>,
    /// The owner and mode of the file this exec ran, stat'ed by the facts
    /// stage and checked to be the kernel's (dev, inode); `None` when it
    /// could not be.
    pub exe_owner: Option<(u32, u32)>,
    /// Why the facts stage sent the exec on with the kernel's facts alone
    /// (`timed-out`: its host reads were stuck past the deadline; `busy`:
    /// every host reader was stuck): `swmon.facts_unread`.
    pub facts_unread: Option<&'static str>,
}

impl Facts {
    /// About how many bytes the facts hold.
    pub fn bytes(&self) -> usize {
        let ancestors: usize = self
            .ancestors
            .iter()
            .map(|a| {
                vec_cost(a.executable.as_ref().map_or(0, Vec::len))
                    + vec_cost(a.comm.len())
                    + vec_cost(a.name.len())
                    + list_cost(&a.args)
                    + 32
            })
            .sum();
        ancestors
            + self.cwd.as_ref().map_or(0, Vec::len)
            + self.venv.as_ref().map_or(0, Vec::len)
            + self.package_files.iter().map(|f| f.bytes()).sum::<usize>()
            + self.placement.cgroup.as_ref().map_or(0, String::len)
            + 256
    }
}

/// What a byte string costs in memory: its `Vec` header and its heap
/// chunk (the allocator's 16-byte granule and 8-byte header, 32 at least).
/// Many one-byte arguments cost far more than their bytes: a hostile argv
/// of 4,000 `0`s is about 220 KB kept, not 8 KB.
pub fn vec_cost(len: usize) -> usize {
    24 + (len + 8).max(32).next_multiple_of(16)
}

/// About how many bytes of memory a list of byte strings holds.
pub fn list_cost(list: &[Vec<u8>]) -> usize {
    list.iter().map(|a| vec_cost(a.len())).sum::<usize>() + vec_cost(0)
}

/// About how many bytes an exec record holds (argv, paths).
pub fn exec_bytes(rec: &ExecRecord) -> usize {
    list_cost(&rec.argv)
        + vec_cost(rec.executable.len())
        + vec_cost(rec.filename.len())
        + vec_cost(rec.cwd.len())
        + vec_cost(rec.comm.len())
        + std::mem::size_of::<ExecRecord>()
}

impl Run {
    /// About how many bytes the run holds.
    pub fn bytes(&self) -> usize {
        self.execs.iter().map(exec_bytes).sum::<usize>()
            + self.facts.bytes()
            + self.keys.bytes()
            + self.state.bytes()
            + self.nested_changes.len() * 256
    }

    /// The run's id (`swmon.run_id`): its process, `TGID-START` with the
    /// process's start (`start_boottime`, ns since boot; the first exec's
    /// time when the kernel could not read it). One process, one run, one
    /// id for its whole life, never the same for a reused pid; a process
    /// whose run was ended at the cap (evicted) and that execs again gets
    /// a new run, `TGID-START.N` (its N-th after an eviction).
    pub fn id(&self) -> String {
        let first = &self.execs[0];
        let start = if first.start_ns != 0 {
            first.start_ns
        } else {
            first.boot_ns
        };
        if self.part == 0 {
            format!("{}-{start}", first.tgid)
        } else {
            format!("{}-{start}.{}", first.tgid, self.part)
        }
    }

    pub fn primary(&self) -> &ExecRecord {
        // A run is created with one exec and execs are only appended or
        // replaced, never all removed.
        &self.execs[self.execs.len() - 1]
    }
}

/// Counters of the correlate stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorrelateCounters {
    pub runs_started: u64,
    pub runs_finished: u64,
    /// Runs ended because their process was gone with no exit record.
    pub exits_missing: u64,
    /// Runs ended early because too many were open (by number or bytes).
    pub evicted: u64,
    /// Exit records for processes with no open run.
    pub orphan_exits: u64,
    /// Execs past the chain cap (the run keeps its first and last ones).
    pub chain_trimmed: u64,
    /// Module-load records joined to the open run of their process.
    pub module_loads_joined: u64,
}

pub struct Correlator {
    open: HashMap<u32, Run>,
    /// Where the last bounded sweep stopped (a tgid).
    sweep_cursor: u32,
    order: u64,
    started: HashMap<u32, u64>,
    /// Processes (tgid, start) whose run was evicted, with the next run's
    /// `part`, oldest first (at most [`MAX_PARTS`]).
    parts: HashMap<(u32, u64), u32>,
    parts_order: std::collections::VecDeque<(u32, u64)>,
    max_open: usize,
    max_bytes: usize,
    /// Bytes of the open runs.
    bytes: usize,
    pub counters: CorrelateCounters,
}

impl Correlator {
    pub fn new(max_open: usize, max_bytes: usize) -> Correlator {
        Correlator {
            open: HashMap::new(),
            sweep_cursor: 0,
            order: 0,
            started: HashMap::new(),
            parts: HashMap::new(),
            parts_order: std::collections::VecDeque::new(),
            max_open,
            max_bytes,
            bytes: 0,
            counters: CorrelateCounters::default(),
        }
    }

    /// Bytes the open runs hold.
    pub fn open_bytes(&self) -> usize {
        self.bytes
    }

    pub fn open_runs(&self) -> usize {
        self.open.len()
    }

    pub fn is_open(&self, tgid: u32) -> bool {
        self.open.contains_key(&tgid)
    }

    /// The id of the open run of process `pid` started at `start_ns`
    /// (either start unknown, 0, matches).
    pub fn open_run_id(&self, pid: u32, start_ns: u64) -> Option<String> {
        let run = self.open.get(&pid)?;
        let s = run.execs[0].start_ns;
        (s == start_ns || s == 0 || start_ns == 0).then(|| run.id())
    }

    /// The process start (ns since boot; 0 when the kernel could not read
    /// it) of the open run of `tgid`.
    pub fn open_run_start(&self, tgid: u32) -> Option<u64> {
        self.open.get(&tgid).map(|run| run.execs[0].start_ns)
    }

    /// Calls `f` with the open run of a process, if any, and counts what
    /// it changed in the run's bytes (its join keys are made there).
    pub fn with_open_run(&mut self, tgid: u32, f: impl FnOnce(&mut Run)) {
        if let Some(run) = self.open.get_mut(&tgid) {
            let before = run.bytes();
            f(run);
            self.bytes = (self.bytes + run.bytes()).saturating_sub(before);
        }
    }

    /// The open run of a process.
    pub fn open_run_mut(&mut self, tgid: u32) -> Option<&mut Run> {
        self.open.get_mut(&tgid)
    }

    /// Adds a passing exec; returns the runs that had to be ended to make
    /// room (the oldest first, counted), and an open run of the same pid
    /// that is another process (its exit was lost and the pid reused: the
    /// kernel's process start times differ), ended `exit-not-seen`.
    pub fn on_exec(&mut self, rec: ExecRecord, facts: Facts) -> Vec<Run> {
        if rec.reasons & reason::MODULE_LOAD != 0 && self.same_process_open(&rec) {
            // The process already is an installer run (`pip install`
            // reads pip's entry module too): the module load corroborates
            // it and adds no exec (it has no audit record of its own).
            self.counters.module_loads_joined += 1;
            return Vec::new();
        }
        let size = exec_bytes(&rec) + facts.bytes();
        let mut ended = Vec::new();
        let reused = self.open.get(&rec.tgid).is_some_and(|run| {
            let old = run.execs[0].start_ns;
            old != 0 && rec.start_ns != 0 && old != rec.start_ns
        });
        if reused {
            self.counters.exits_missing += 1;
            ended.extend(self.finish(rec.tgid, None, Some("exit-not-seen")));
        }
        if let Some(run) = self.open.get_mut(&rec.tgid) {
            let before = run.bytes();
            run.owners.resize(run.execs.len(), None);
            if run.execs.len() >= CHAIN_MAX {
                // A recorded exec goes first (its record stays attached);
                // an exec without one takes the run's `confirmed` with it.
                let recorded =
                    |r: &ExecRecord| run.audit.as_ref().is_some_and(|m| m.has_own(r.boot_ns));
                let at = (1..run.execs.len()).find(|&i| recorded(&run.execs[i]));
                let i = at.unwrap_or(CHAIN_MAX - 2);
                run.execs.remove(i);
                run.owners.remove(i);
                if at.is_none() {
                    let m = run.audit.get_or_insert_with(Default::default);
                    m.trimmed_unrecorded = m.trimmed_unrecorded.saturating_add(1);
                }
                run.trimmed = run.trimmed.saturating_add(1);
                self.counters.chain_trimmed += 1;
            }
            run.execs.push(rec);
            run.owners.push(facts.exe_owner);
            run.facts = facts;
            let after = run.bytes();
            self.bytes = (self.bytes + after).saturating_sub(before);
            let tgid = run.primary().tgid;
            return self.make_room(0, Some(tgid));
        }
        let mut evicted = self.make_room(size, None);
        evicted.splice(0..0, ended);
        let part = if rec.start_ns != 0 {
            self.parts
                .get(&(rec.tgid, rec.start_ns))
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
        self.order += 1;
        self.started.insert(rec.tgid, self.order);
        self.counters.runs_started += 1;
        self.bytes += size;
        self.open.insert(
            rec.tgid,
            Run {
                execs: vec![rec],
                owners: vec![facts.exe_owner],
                facts,
                exit: None,
                end: None,
                audit: None,
                trimmed: 0,
                part,
                keys: verdict::KeyCache::default(),
                state: Default::default(),
                state_read: None,
                parent_run: None,
                nested_changes: Vec::new(),
                nested_unread: 0,
                role: None,
                started_event: false,
            },
        );
        evicted
    }

    /// Whether `rec`'s process (its pid and start time) has an open run.
    fn same_process_open(&self, rec: &ExecRecord) -> bool {
        self.open.get(&rec.tgid).is_some_and(|run| {
            let old = run.execs[0].start_ns;
            old == rec.start_ns || old == 0 || rec.start_ns == 0
        })
    }

    /// Ends the oldest runs (never `keep`) until one more of `size` bytes
    /// fits both caps.
    fn make_room(&mut self, size: usize, keep: Option<u32>) -> Vec<Run> {
        let mut evicted = Vec::new();
        let new = usize::from(keep.is_none());
        while self.open.len() + new > self.max_open || self.bytes + size > self.max_bytes {
            let Some((&oldest, _)) = self
                .started
                .iter()
                .filter(|(t, _)| Some(**t) != keep)
                .min_by_key(|(_, order)| **order)
            else {
                break;
            };
            if let Some(run) = self.finish(oldest, None, Some("evicted")) {
                let first = &run.execs[0];
                let who = (first.tgid, first.start_ns);
                if first.start_ns != 0 {
                    if !self.parts.contains_key(&who) {
                        self.parts_order.push_back(who);
                        if self.parts_order.len() > MAX_PARTS {
                            if let Some(old) = self.parts_order.pop_front() {
                                self.parts.remove(&old);
                            }
                        }
                    }
                    self.parts.insert(who, run.part + 1);
                }
                evicted.push(run);
            }
            self.counters.evicted += 1;
        }
        evicted
    }

    /// Ends the run of the exiting process.
    pub fn on_exit(&mut self, exit: ExitRecord) -> Option<Run> {
        let run = self.finish(exit.tgid, Some(exit), None);
        if run.is_none() {
            self.counters.orphan_exits += 1;
        }
        run
    }

    fn finish(
        &mut self,
        tgid: u32,
        exit: Option<ExitRecord>,
        end: Option<&'static str>,
    ) -> Option<Run> {
        let mut run = self.open.remove(&tgid)?;
        self.started.remove(&tgid);
        self.bytes = self.bytes.saturating_sub(run.bytes());
        run.exit = exit;
        run.end = end;
        self.counters.runs_finished += 1;
        Some(run)
    }

    /// Ends runs whose process is gone (or is another process now: a reused
    /// pid starts later than the run's exec). `alive` answers with the
    /// process's boot-time start, or `None` when it is gone. Only runs
    /// older than `min_age_ns` (boot time) are checked, so an exit record
    /// still on its way is not overtaken; at most `max` of them per call
    /// (each check reads `/proc`), round-robin by tgid from where the last
    /// call stopped, so a large table is covered over several calls.
    pub fn sweep(
        &mut self,
        now_boot_ns: u64,
        min_age_ns: u64,
        max: usize,
        alive: impl Fn(u32) -> Option<u64>,
    ) -> Vec<Run> {
        let mut old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, run)| now_boot_ns.saturating_sub(run.execs[0].boot_ns) >= min_age_ns)
            .map(|(tgid, _)| *tgid)
            .collect();
        old.sort_unstable();
        let start = old.partition_point(|t| *t <= self.sweep_cursor);
        old.rotate_left(start);
        old.truncate(max);
        if let Some(last) = old.last() {
            self.sweep_cursor = *last;
        }
        let gone: Vec<u32> = old
            .into_iter()
            .filter(|tgid| match alive(*tgid) {
                None => true,
                Some(start) => self
                    .open
                    .get(tgid)
                    .is_some_and(|run| start > run.execs[0].boot_ns),
            })
            .collect();
        gone.into_iter()
            .filter_map(|tgid| {
                self.counters.exits_missing += 1;
                self.finish(tgid, None, Some("exit-not-seen"))
            })
            .collect()
    }

    /// Ends every open run (at shutdown); their processes still run.
    pub fn drain(&mut self) -> Vec<Run> {
        let tgids: Vec<u32> = self.open.keys().copied().collect();
        tgids
            .into_iter()
            .filter_map(|t| self.finish(t, None, Some("still-running")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(tgid: u32, boot_ns: u64, exe: &str) -> ExecRecord {
        ExecRecord::sample(tgid, exe, boot_ns)
    }

    fn exit(tgid: u32, boot_ns: u64) -> ExitRecord {
        ExitRecord {
            tgid,
            pid: tgid,
            status: 0,
            boot_ns,
        }
    }

    #[test]
    fn execs_of_one_process_are_one_run() {
        let mut c = Correlator::new(16, usize::MAX);
        assert!(c
            .on_exec(exec(7, 10, "/usr/bin/env"), Facts::default())
            .is_empty());
        assert!(c
            .on_exec(exec(7, 20, "/usr/bin/node"), Facts::default())
            .is_empty());
        let run = c.on_exit(exit(7, 30)).expect("run ends at exit");
        assert_eq!(run.execs.len(), 2);
        assert_eq!(run.primary().executable, b"/usr/bin/node");
        assert_eq!(c.counters.runs_started, 1);
        assert!(c.on_exit(exit(7, 31)).is_none());
        assert_eq!(c.counters.orphan_exits, 1);
    }

    #[test]
    fn a_module_load_joins_its_process_run_or_starts_one() {
        let mut c = Correlator::new(16, usize::MAX);
        let mut pip = exec(7, 10, "/usr/bin/python3.11");
        pip.start_ns = 5;
        let mut load = exec(7, 20, "/usr/bin/python3.11");
        load.start_ns = 5;
        load.reasons = reason::MODULE_LOAD;
        c.on_exec(pip, Facts::default());
        assert!(c.on_exec(load.clone(), Facts::default()).is_empty());
        let run = c.on_exit(exit(7, 30)).expect("run");
        assert_eq!(run.execs.len(), 1, "the module load adds no exec");
        assert_eq!(c.counters.module_loads_joined, 1);
        // No run yet: the module load is one.
        load.tgid = 8;
        c.on_exec(load, Facts::default());
        let run = c.on_exit(exit(8, 30)).expect("run");
        assert_eq!(run.execs.len(), 1);
        assert_eq!(c.counters.runs_started, 2);
        assert_eq!(c.counters.module_loads_joined, 1);
    }

    #[test]
    fn a_reused_pid_starts_a_new_run_and_ends_the_old_one() {
        let mut c = Correlator::new(16, usize::MAX);
        let mut a = exec(7, 10, "/usr/bin/dpkg");
        a.start_ns = 5;
        let mut same = exec(7, 20, "/usr/bin/dpkg");
        same.start_ns = 5;
        assert!(c.on_exec(a, Facts::default()).is_empty());
        assert!(c.on_exec(same, Facts::default()).is_empty(), "one process");
        // Its exit was lost; another process now has pid 7.
        let mut b = exec(7, 900, "/usr/bin/apt-get");
        b.start_ns = 880;
        let ended = c.on_exec(b, Facts::default());
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].execs.len(), 2);
        assert_eq!(ended[0].end, Some("exit-not-seen"));
        assert_eq!(ended[0].id(), "7-5");
        assert_eq!(c.counters.exits_missing, 1);
        let run = c.on_exit(exit(7, 950)).expect("the new run");
        assert_eq!(run.execs.len(), 1);
        assert_eq!(run.primary().executable, b"/usr/bin/apt-get");
        assert_eq!(run.id(), "7-880");
        assert_eq!(c.counters.runs_started, 2);
        assert_eq!(c.open_bytes(), 0);
    }

    #[test]
    fn chain_is_capped_keeping_first_and_last() {
        let mut c = Correlator::new(16, usize::MAX);
        for i in 0..20 {
            c.on_exec(exec(7, i, &format!("/e{i}")), Facts::default());
        }
        let run = c.on_exit(exit(7, 30)).expect("run");
        assert_eq!(run.execs.len(), CHAIN_MAX);
        assert_eq!(run.execs[0].executable, b"/e0");
        assert_eq!(run.primary().executable, b"/e19");
        assert_eq!(c.counters.chain_trimmed, 12);
    }

    #[test]
    fn the_oldest_run_is_evicted_at_the_cap() {
        let mut c = Correlator::new(2, usize::MAX);
        c.on_exec(exec(1, 1, "/a"), Facts::default());
        c.on_exec(exec(2, 2, "/b"), Facts::default());
        let evicted = c.on_exec(exec(3, 3, "/c"), Facts::default());
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].primary().tgid, 1);
        assert_eq!(evicted[0].end, Some("evicted"));
        assert_eq!(c.counters.evicted, 1);
        assert_eq!(c.open_runs(), 2);
    }

    #[test]
    fn an_evicted_process_that_execs_again_gets_a_run_id_of_its_own() {
        let mut c = Correlator::new(1, usize::MAX);
        let with_start = |tgid: u32, t: u64| {
            let mut r = exec(tgid, t, "/usr/bin/dpkg");
            r.start_ns = 5 + u64::from(tgid);
            r
        };
        c.on_exec(with_start(1, 10), Facts::default());
        let mut ids = Vec::new();
        for (i, tgid) in [2, 1, 2, 1].into_iter().enumerate() {
            let ended = c.on_exec(with_start(tgid, 20 + i as u64), Facts::default());
            assert_eq!(ended.len(), 1);
            ids.push(ended[0].id());
        }
        ids.extend(c.drain().iter().map(Run::id));
        assert_eq!(ids, ["1-6", "2-7", "1-6.1", "2-7.1", "1-6.2"]);
    }

    #[test]
    fn the_oldest_runs_are_evicted_past_the_byte_budget() {
        let big = |tgid: u32| {
            let mut r = exec(tgid, u64::from(tgid), "/a");
            r.argv = vec![vec![b'x'; 8000]];
            r
        };
        let one = exec_bytes(&big(1)) + Facts::default().bytes();
        let mut c = Correlator::new(100, one * 3);
        for t in 1..=3 {
            assert!(c.on_exec(big(t), Facts::default()).is_empty());
        }
        assert_eq!(c.open_bytes(), one * 3);
        let evicted = c.on_exec(big(4), Facts::default());
        assert_eq!(
            evicted.iter().map(|r| r.primary().tgid).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(c.counters.evicted, 1);
        assert!(c.open_bytes() <= one * 3);
        c.drain();
        assert_eq!(c.open_bytes(), 0, "every byte is given back");
    }

    #[test]
    fn sweep_ends_gone_and_reused_pids_only_when_old_enough() {
        let mut c = Correlator::new(16, usize::MAX);
        c.on_exec(exec(1, 100, "/gone"), Facts::default());
        c.on_exec(exec(2, 100, "/reused"), Facts::default());
        c.on_exec(exec(3, 100, "/alive"), Facts::default());
        let alive = |t: u32| match t {
            2 => Some(500),
            3 => Some(50),
            _ => None,
        };
        assert!(
            c.sweep(150, 100, 16, alive).is_empty(),
            "too young to judge"
        );
        let mut ended: Vec<u32> = c
            .sweep(1000, 100, 16, alive)
            .iter()
            .map(|r| r.primary().tgid)
            .collect();
        ended.sort();
        assert_eq!(ended, vec![1, 2]);
        assert_eq!(c.counters.exits_missing, 2);
        assert_eq!(c.drain().len(), 1);
    }

    #[test]
    fn sweep_checks_at_most_max_runs_per_call_round_robin() {
        let mut c = Correlator::new(64, usize::MAX);
        for t in 1..=10 {
            c.on_exec(exec(t, 100, "/x"), Facts::default());
        }
        let asked = std::cell::RefCell::new(Vec::new());
        let alive = |t: u32| {
            asked.borrow_mut().push(t);
            Some(50)
        };
        for _ in 0..4 {
            assert!(c.sweep(1000, 100, 3, alive).is_empty());
        }
        let asked = asked.into_inner();
        assert_eq!(asked, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2]);
    }
}
