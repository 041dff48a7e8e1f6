//! The decide stage: owns the correlator and the cross-check. It turns
//! prepared kernel records (from the facts stage) into installer runs,
//! joins each with the audit trail, and builds the events a user reads:
//! one per run, one per installer exec only audit saw, and audit's health
//! and loss items. Every event goes to the writer's queue without waiting
//! (a full queue drops it, counted). It reads no path an exec named (the
//! venv lookup is the facts stage's); what it still reads is bounded:
//! `/proc/PID/stat` of at most [`SWEEP_MAX`] runs per sweep, and user
//! names through a cache of at most [`MAX_NAMES`] entries.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Map};
use swmon_common::{flag, reason};

use super::{
    audit_reader::AuditMsg,
    changes::{self, Activities, Activity, StateReader, StateReads, StateWrite, Units},
    counters::Counters,
    facts::Prepared,
    queue::Rx,
    state_event,
    writer::Writer,
};
use crate::{
    audit::{status::Health, HealthChange, Loss},
    catalogue::{self, Manager, Role},
    classify::{self, Classification, Operation, Scope},
    correlate::{
        verdict::{Amended, AuditExec, AuditMatch, AuditState, CrossCheck, Decided, Verdict},
        Correlator, Run,
    },
    ebpf::{decode::ExecRecord, filter::basename},
    enrich,
    event::{
        self, ChainLink, Clock, Event, EventMeta, Host, Id, PackageRef, Parent, Process, Swmon,
        User,
    },
};

/// Runs older than this are checked for a lost exit.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(2);
/// Most open runs checked against `/proc` per sweep (every 500 ms), so a
/// full table never holds the stage for long.
const SWEEP_MAX: usize = 256;
/// Most user names remembered; past it the cache starts over.
const MAX_NAMES: usize = 4096;
/// Most open runs, and their bytes (argv, paths, ancestors): past either,
/// the oldest is ended early (`runs_evicted`).
pub const MAX_OPEN_RUNS: usize = 65_536;
pub const MAX_OPEN_RUN_BYTES: usize = 12 << 20;
/// Most changes of nested runs kept on their parent run.
pub const MAX_NESTED_CHANGES: usize = 4096;
/// A run still going this long after its first exec, and past its audit
/// wait, gets an early event (`event.type: start`) with its verdict so
/// far.
pub const EARLY_MIN: Duration = Duration::from_secs(1);
/// A run not yet ready for its early event is looked at again after this.
const EARLY_RETRY_NS: u64 = 100_000_000;

pub struct Decide {
    pub writer: Writer,
    pub counters: Arc<Counters>,
    pub clock: Clock,
    pub host: String,
    pub names: BoundedNames,
    pub correlator: Correlator,
    pub cross: CrossCheck,
    /// Runs ended and not yet checked against the audit trail.
    pub ready: Vec<Run>,
    /// State writes no installer run owns, by writer.
    pub activities: Activities,
    /// Reads what changed when a run or an activity is reported.
    reader: StateReads,
    state: StateTally,
    events: u64,
    /// Open runs waiting for their early event: (deadline, tgid, first
    /// exec's boot ns), oldest first (at most [`MAX_OPEN_RUNS`]).
    early: std::collections::VecDeque<(u64, u32, u64)>,
    /// How long after its first exec a run still going gets it.
    early_after: u64,
    early_events: u64,
    early_skipped: u64,
}

/// The state witness's counts in this stage.
#[derive(Debug, Default)]
struct StateTally {
    writes: u64,
    nested_lost: u64,
    benign_dropped: u64,
    attr_ignored: u64,
    attributed: u64,
    state_only: u64,
    units_dropped: u64,
}

impl Decide {
    pub fn new(
        writer: Writer,
        counters: Arc<Counters>,
        host: String,
        wait: Duration,
        initial: AuditState,
    ) -> Decide {
        Decide {
            writer,
            reader: StateReads::new(counters.clone()),
            counters,
            clock: Clock::now(),
            host,
            names: BoundedNames::default(),
            correlator: Correlator::new(MAX_OPEN_RUNS, MAX_OPEN_RUN_BYTES),
            cross: CrossCheck::new(wait.as_nanos() as u64, initial),
            ready: Vec::new(),
            activities: Activities::default(),
            state: StateTally::default(),
            events: 0,
            early: std::collections::VecDeque::new(),
            early_after: wait.max(EARLY_MIN).as_nanos() as u64,
            early_events: 0,
            early_skipped: 0,
        }
    }

    /// Runs until both inputs are closed (the readers stopped), then
    /// decides every run still open or waiting.
    pub async fn run(mut self, mut kernel: Rx<Prepared>, mut audit: Option<Rx<AuditMsg>>) {
        // Decisions wait on deadlines (a run's audit wait): checked often,
        // so an ebpf_only verdict comes out soon after its wait. /proc
        // sweeps are rarer.
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        let mut kernel_open = true;
        while kernel_open || audit.is_some() {
            tokio::select! {
                m = kernel.recv(), if kernel_open => match m {
                    Some(p) => self.on_prepared(p),
                    None => kernel_open = false,
                },
                m = recv(&mut audit), if audit.is_some() => match m {
                    Some(m) => self.on_audit(m),
                    None => audit = None,
                },
                _ = tick.tick() => {
                    ticks += 1;
                    self.clock.refresh();
                    if ticks.is_multiple_of(25) {
                        self.sweep();
                    }
                    self.decide_due();
                    self.early_due();
                    self.report_quiet_activities();
                    self.publish();
                }
            }
            self.flush_ready();
            super::stages::mark(super::stages::Stage::Decide);
        }
        // Shutdown: decide every run, report every state-only activity.
        for a in self.activities.drain() {
            self.emit_activity(a);
        }
        let open = self.correlator.drain();
        self.ready.extend(open);
        self.flush_ready();
        for d in self.cross.drain(&self.clock) {
            self.emit_decided(d);
        }
        self.publish();
    }

    fn on_prepared(&mut self, p: Prepared) {
        match p {
            Prepared::Exec(rec, facts) => {
                let tgid = rec.tgid;
                // Nested runs: apt's dpkg, pip's build backend's pip.
                let parent = rec
                    .ancestors
                    .iter()
                    .find_map(|a| self.correlator.open_run_id(a.pid, a.start_ns));
                let started = self.correlator.counters.runs_started;
                let evicted = self.correlator.on_exec(*rec, *facts);
                let new_run = self.correlator.counters.runs_started != started;
                if parent.is_some() {
                    self.correlator.with_open_run(tgid, |run| {
                        if run.parent_run.is_none() {
                            run.parent_run = parent;
                        }
                    });
                }
                self.ready.extend(evicted);
                if let Some(run) = self.correlator.open_run_mut(tgid) {
                    // A Python manager's venv, listed before it changes it.
                    let venv = (run.execs.len() == 1 && changes::RunRole::of(run).python())
                        .then(|| run.facts.venv.clone())
                        .flatten();
                    if let Some(v) = venv {
                        self.reader.python_baseline_venv(v);
                    }
                    if new_run && !run.started_event {
                        if self.early.len() < MAX_OPEN_RUNS {
                            let first = run.execs[0].boot_ns;
                            self.early.push_back((
                                first.saturating_add(self.early_after),
                                tgid,
                                first,
                            ));
                        } else {
                            self.early_skipped += 1;
                        }
                    }
                }
                // The audit record of this exec may have come first.
                let (cross, clock) = (&mut self.cross, &self.clock);
                self.correlator
                    .with_open_run(tgid, |run| cross.attach(run, clock));
            }
            Prepared::Exit(exit) => {
                if let Some(run) = self.correlator.on_exit(exit) {
                    self.ready.push(run);
                }
            }
            Prepared::Watermark(t) => self.cross.kernel_watermark(t),
            Prepared::State(w) => self.on_state_write(*w),
        }
    }

    /// A write to package state: the run of the writer, or of its nearest
    /// ancestor, owns it (same pid and process start: a reused pid owns
    /// nothing); else it is part of the writer's state-only activity.
    fn on_state_write(&mut self, w: StateWrite) {
        self.state.writes += 1;
        if let Some(admin) = w
            .unit()
            .and_then(|path| StateReader::dpkg_admin(w.rec.rule, &path))
        {
            if w.fs_type.as_deref().is_some_and(changes::readable_fs) {
                self.reader.baseline(admin);
            }
        }
        if w.rec.rule == swmon_common::state::PATH_ATTR
            && self.reader.was_executable(w.rec.dev, w.rec.ino, w.rec.mode)
        {
            // `chown -R`, a `chmod` that sets nothing new: an executable
            // that was one at start is no install.
            self.state.attr_ignored += 1;
            return;
        }
        // The nearest run in the writer's line that owns the write: one
        // that installs, removes or upgrades (or whose arguments are not
        // known), or any run of the manager whose own state it is (`dpkg
        // --configure` under apt, `uv venv`). `npm start`, `npx`, `bundle
        // exec` run other programs, whose other writes are their own.
        let mut under = None;
        let line: Vec<(u32, u64)> = std::iter::once((w.rec.tgid, w.rec.start_ns))
            .chain(w.rec.ancestors.iter().map(|a| (a.pid, a.start_ns)))
            .collect();
        for (tgid, start) in line {
            let owns = match self.correlator.open_run_mut(tgid) {
                Some(run) if changes::same_start(run.execs[0].start_ns, start, w.rec.on_host) => {
                    let role = changes::RunRole::of(run);
                    let owns = role.owns(w.rec.rule);
                    if !owns && under.is_none() {
                        under = Some(run.id());
                    }
                    owns
                }
                _ => false,
            };
            if owns {
                self.state.attributed += 1;
                // A run's own Python code files are its manager's record's:
                // kept out of its units (a big `pip install -r` would fill
                // them), its metadata kept, and what Python runs at every
                // start (`.pth`, `*customize.py`) kept.
                let code = matches!(
                    w.rec.rule,
                    swmon_common::state::SITE_MODULE | swmon_common::state::SITE_PACKAGE
                );
                let at_start = w
                    .path
                    .as_ref()
                    .is_some_and(|p| p.ends_with(b".pth") || p.ends_with(b"customize.py"));
                if !code || at_start {
                    self.correlator.with_open_run(tgid, |run| run.state.add(&w));
                }
                return;
            }
        }
        if let Some(a) = self.activities.add(&w, under) {
            self.emit_activity(a);
        }
    }

    /// Writes the early event of each run still going past its wait: the
    /// verdict of its execs so far, so a long install is seen at once. Its
    /// final event (at exit) is the decision. Only once its last exec has
    /// had its audit wait (a record that cannot have come yet is no
    /// missing one) and the kernel stream has reached the decide stage up
    /// to the deadline (a run whose exit is still queued is not taken for
    /// a long one); else it is looked at again later.
    fn early_due(&mut self) {
        let now = event::boot_ns_now();
        let mut later = Vec::new();
        while let Some(&(deadline, tgid, first)) = self.early.front() {
            if deadline > now {
                break;
            }
            self.early.pop_front();
            let Some(run) = self.correlator.open_run_mut(tgid) else {
                continue;
            };
            if run.execs[0].boot_ns != first || run.started_event || run.exit.is_some() {
                continue;
            }
            let waited = run.primary().boot_ns.saturating_add(self.cross.wait_ns());
            if now < waited || !self.cross.kernel_past(deadline.max(waited)) {
                later.push((waited.max(now.saturating_add(EARLY_RETRY_NS)), tgid, first));
                continue;
            }
            run.started_event = true;
            let (verdict, m) = self.cross.so_far(run, now, &self.clock);
            let mut run = run.clone();
            let has = m.records > 0 || m.lost > 0 || m.trimmed_unrecorded > 0;
            run.audit = has.then_some(m);
            let e = self.run_event(&run, verdict, true);
            self.early_events += 1;
            self.events += 1;
            self.writer.push(&e);
        }
        // Back in deadline order.
        for item in later {
            let at = self.early.partition_point(|(d, _, _)| *d <= item.0);
            self.early.insert(at, item);
        }
    }

    /// Reports the state-only activities whose writer has been quiet.
    fn report_quiet_activities(&mut self) {
        if self.activities.is_empty() {
            return;
        }
        for a in self.activities.due(event::boot_ns_now()) {
            self.emit_activity(a);
        }
    }

    fn emit_activity(&mut self, a: Activity) {
        self.state.units_dropped += a.units.dropped + a.units.unplaced;
        let Some(e) = self.state_only_event(&a) else {
            self.state.benign_dropped += 1;
            return;
        };
        self.state.state_only += 1;
        self.events += 1;
        self.writer.push(&e);
    }

    /// An install no installer run owns: package state written by a
    /// process with no installer exec in its ancestry (a wheel unzipped
    /// into `site-packages`, a binary untarred into `/usr/local/bin`).
    /// `None` when all it did was put the alternatives system's links
    /// (`/usr/bin/vi -> /etc/alternatives/vi`, by `update-alternatives`
    /// under dpkg, often gone before it could be named) to root's files:
    /// no install.
    fn state_only_event(&mut self, a: &Activity) -> Option<Event> {
        let rec = &a.first;
        let w = &a.writer;
        let start = event::timestamp(self.clock.wall(rec.boot_ns));
        let read = self.reader.read(&a.units, true);
        if read.changes.is_empty()
            && !read.unread.is_empty()
            && read.unread.iter().all(|u| u["why"] == "alternatives-link")
        {
            return None;
        }
        let manager = read
            .changes
            .first()
            .and_then(|c| c["manager"].as_str())
            .and_then(changes::manager_name)
            .or_else(|| a.units.units.first().map(|u| changes::manager_of(u.rule)));
        let (action, kind_type) = changes::action_of(&read.changes);
        let package = (read.changes.len() == 1).then(|| PackageRef {
            name: read.changes[0]["name"].as_str().unwrap_or("").to_owned(),
            version: read.changes[0]["version"].as_str().map(str::to_owned),
        });
        let name = event::lossless(if rec.exe_name.is_empty() {
            &rec.comm
        } else {
            &rec.exe_name
        });
        // Against the audit trail: does it hold the writer's exec?
        let exe = (!rec.executable_truncated && !rec.executable.is_empty()).then(|| {
            rec.executable
                .strip_suffix(b" (deleted)")
                .unwrap_or(&rec.executable)
        });
        let (verdict, m) = self.cross.writer_verdict(
            rec.tgid,
            rec.start_ns,
            a.last_ns,
            exe,
            rec.sessionid,
            &self.clock,
        );
        let mut audit = m.as_ref().map(audit_json).unwrap_or_else(|| json!({}));
        if let Some(r) = verdict.reason() {
            audit["reason"] = json!(r);
        }
        if let Some(e) = m.as_ref().filter(|m| m.records > 0) {
            audit["serial"] = json!(e.serials.first());
        }
        Some(Event {
            ecs: crate::event::Ecs::default(),
            timestamp: start.clone(),
            event: EventMeta {
                kind: "alert",
                category: vec!["package", "file"],
                kind_type: vec![kind_type],
                action,
                outcome: None,
            },
            process: Some(Process {
                pid: rec.tgid,
                parent: Parent { pid: rec.ppid },
                executable: event::lossless(&rec.executable),
                name,
                args_count: w.process.args.len(),
                args: w.process.args.iter().map(|x| event::lossless(x)).collect(),
                working_directory: w.cwd.as_deref().map(event::lossless),
                exit_code: None,
                start,
                end: None,
                user: Id {
                    id: rec.uid.to_string(),
                    name: self.names.user(rec.uid),
                },
                effective_user: Id {
                    id: rec.euid.to_string(),
                    name: self.names.user(rec.euid),
                },
                group: event::GroupId::default(),
            }),
            user: Some(User {
                audit: Id {
                    id: rec.loginuid.to_string(),
                    name: self.names.user(rec.loginuid),
                },
            }),
            package,
            host: Host {
                name: self.host.clone(),
            },
            swmon: Swmon {
                reason: Some("no-installer-exec"),
                verdict: Some(verdict.as_str()),
                audit: Some(audit),
                // Its own form: a run of the same process (`npx` writing
                // npm's state itself) has `TGID-START`.
                run_id: Some(format!("state-{}-{}", rec.tgid, rec.start_ns)),
                manager,
                detected_by: vec!["state"],
                state: Some({
                    let mut s = state_json(&a.units, &read.unread);
                    if let Some(id) = &a.under_run {
                        s["under_run"] = json!(id);
                    }
                    s
                }),
                changes: read.changes,
                args_truncated: w.process.args_truncated,
                session_id: (rec.sessionid != u32::MAX).then_some(rec.sessionid),
                cgroup_id: Some(rec.cgroup_id),
                ancestors: w.ancestors.iter().map(enrich::Ancestor::to_out).collect(),
                facts_unread: w.facts_unread,
                ..Swmon::default()
            },
        })
    }

    fn sweep(&mut self) {
        let now = event::boot_ns_now();
        let ended = self.correlator.sweep(
            now,
            SWEEP_MIN_AGE.as_nanos() as u64,
            SWEEP_MAX,
            enrich::start_boot_ns,
        );
        self.ready.extend(ended);
    }

    /// Copies the stage's counters to the shared ones.
    fn publish(&self) {
        let c = &self.counters;
        let k = &self.correlator.counters;
        let v = &self.cross.counters;
        for (a, n) in [
            (&c.state_writes, self.state.writes),
            (&c.state_attributed, self.state.attributed),
            (&c.state_attr_ignored, self.state.attr_ignored),
            (&c.state_root_links, self.state.benign_dropped),
            (&c.state_only, self.state.state_only),
            (&c.early_events, self.early_events),
            (&c.state_nested_lost, self.state.nested_lost),
            (&c.early_skipped, self.early_skipped),
            (&c.state_activities_evicted, self.activities.evicted),
            (&c.state_units_dropped, self.state.units_dropped),
            (&c.runs_started, k.runs_started),
            (&c.runs_finished, k.runs_finished),
            (&c.exits_missing, k.exits_missing),
            (&c.runs_evicted, k.evicted),
            (&c.orphan_exits, k.orphan_exits),
            (&c.chain_trimmed, k.chain_trimmed),
            (&c.module_loads_joined, k.module_loads_joined),
            (&c.confirmed, v.confirmed),
            (&c.ebpf_only, v.ebpf_only),
            (&c.audit_only, v.audit_only),
            (&c.audit_execs, v.audit_execs),
            (&c.audit_execs_dropped, v.audit_execs_dropped),
            (&c.decided_early, v.decided_early),
            (&c.verdicts_amended, v.verdicts_amended),
            (&c.decided_forgotten, v.decided_forgotten),
            (&c.audit_only_capped, v.audit_only_capped),
            (&c.events, self.events),
            (
                &c.runs_open,
                (self.correlator.open_runs() + self.cross.deciding() + self.ready.len()) as u64,
            ),
        ] {
            Counters::set(a, n);
        }
    }

    /// Checks ended runs against the audit trail; writes those decided.
    /// Deadlines are on the boot-time clock (a wall-clock step neither
    /// holds nor hurries a decision).
    fn flush_ready(&mut self) {
        if self.ready.is_empty() {
            return;
        }
        let now = event::boot_ns_now();
        for mut run in std::mem::take(&mut self.ready) {
            // What it changed, read as it ends: before the next run of
            // its manager writes (dpkg's status is one file for all).
            if !run.state.is_empty() && run.state_read.is_none() {
                run.state_read = Some(self.reader.read(&run.state, false));
            }
            // A Python manager's removal writes nothing: the import
            // folders listed again say what went.
            let role = changes::RunRole::of(&mut run);
            if role.python() && role.removes {
                // All it could remove from is listed only for pip run from
                // a venv's own program (not `python3 /v/bin/pip`), with no
                // `--python` (another interpreter's pip): uv and pipx pick
                // their environment by other means (`VIRTUAL_ENV`,
                // `.venv`, `--system`).
                let pip_in_venv = role.manager == Some(crate::catalogue::Manager::Pip)
                    && run.facts.venv_certain
                    && !run.execs.iter().any(|e| {
                        e.argv
                            .iter()
                            .any(|a| a == b"--python" || a.starts_with(b"--python="))
                    });
                let (gone, why) = match self.reader.python_removed(run.facts.venv.clone()) {
                    Ok(r) => (
                        r.changes,
                        (!(r.complete && pip_in_venv)).then_some("scope-not-listed"),
                    ),
                    Err(why) => (Vec::new(), Some(why)),
                };
                if !gone.is_empty() || why.is_some() {
                    let read = run.state_read.get_or_insert_with(changes::Read::default);
                    read.changes.extend(gone);
                    // Folders it may have removed from that were not listed
                    // (outside a venv: the user's site folder, conda's,
                    // `PYTHONPATH`): what it removed is not all known, and
                    // no requested package is flagged `not-changed`.
                    if let Some(why) = why {
                        read.unread.push(json!({
                            "scope": "python-import-folders",
                            "path": run.facts.venv.as_deref().map(event::lossless),
                            "why": why,
                        }));
                    }
                }
            }
            // A nested run's changes are its parent's too (one install:
            // apt's, with what its dpkg runs changed), and so are the places
            // it could not read (the parent's mismatches are then unknown).
            let empty = changes::Read::default();
            let own = run.state_read.as_ref().unwrap_or(&empty);
            let unread = own.unread.len() as u64 + run.nested_unread;
            if let (Some(parent), true) = (
                &run.parent_run,
                !own.changes.is_empty() || !run.nested_changes.is_empty() || unread > 0,
            ) {
                let parent_pid = parent.split('-').next().and_then(|p| p.parse::<u32>().ok());
                let id = run.id();
                let nested: Vec<_> = own
                    .changes
                    .iter()
                    .chain(run.nested_changes.iter())
                    .map(|c| {
                        let mut c = c.clone();
                        if c.get("run_id").is_none() {
                            c["run_id"] = json!(id);
                        }
                        c
                    })
                    .collect();
                let mut taken = false;
                let count = nested.len() as u64;
                if let Some(pid) = parent_pid {
                    self.correlator.with_open_run(pid, |p| {
                        if &p.id() != parent {
                            return;
                        }
                        taken = true;
                        let room = MAX_NESTED_CHANGES.saturating_sub(p.nested_changes.len());
                        // Past the cap: counted as unread, so the parent
                        // claims no mismatch on what it could not keep.
                        p.nested_unread += unread + (nested.len().saturating_sub(room)) as u64;
                        p.nested_changes.extend(nested.into_iter().take(room));
                    });
                }
                if !taken {
                    // Its parent was decided first (its exit came
                    // before this one's was found): counted.
                    self.state.nested_lost += count;
                }
            }
            for d in self.cross.on_run(run, now, &self.clock) {
                self.emit_decided(d);
            }
        }
    }

    /// Writes runs whose audit wait is over, and audit-only installer execs.
    fn decide_due(&mut self) {
        let now = event::boot_ns_now();
        let decided = self.cross.tick(now, &self.clock);
        for d in decided {
            self.emit_decided(d);
        }
    }

    fn emit_decided(&mut self, d: Decided) {
        let e = match d {
            Decided::Run(run, verdict) => self.run_event(&run, verdict, false),
            Decided::AuditOnly(exec) => self.audit_only_event(&exec),
            Decided::Amended(a) => self.amended_event(&a),
        };
        self.events += 1;
        self.writer.push(&e);
    }

    /// Notes the executables in the watched `PATH` folders now (at start).
    pub fn note_executables(&mut self, dirs: &[std::path::PathBuf]) {
        self.reader.note_executables(dirs);
    }

    fn state_event(&self, action: &'static str) -> Event {
        state_event(&self.host, action)
    }

    /// An audit message. Control messages carry the boot time the audit
    /// reader (or the rules stage) saw them: a backlog of execs in the
    /// queue ahead of them does not move a state change past the runs it
    /// concerns.
    fn on_audit(&mut self, m: AuditMsg) {
        match m {
            AuditMsg::Exec(exec) => {
                let pid = exec.pid;
                let now = event::boot_ns_now();
                for d in self.cross.on_audit_exec(*exec, now, &self.clock) {
                    self.emit_decided(d);
                }
                let (cross, clock) = (&mut self.cross, &self.clock);
                self.correlator
                    .with_open_run(pid, |run| cross.attach(run, clock));
            }
            AuditMsg::Health(h, now) => {
                let mut state = self.cross.state();
                state.enabled = h.status.enabled != 0;
                match h.change {
                    Health::AuditdStopped { .. } => state.daemon = false,
                    Health::AuditdStarted { .. } => state.daemon = true,
                    _ => {}
                }
                self.cross.set_state(now, state);
                let e = self.health_event(&h);
                self.writer.push_priority(&e);
            }
            AuditMsg::Loss(loss, now) => {
                for d in self.cross.note_loss(now, loss.count) {
                    self.emit_decided(d);
                }
                let e = self.audit_loss_event(loss);
                self.writer.push_priority(&e);
            }
            AuditMsg::RulesRemoved(removed) => {
                // Removed, suppressed or unverifiable rules (alerts), or
                // rules restored; the rules stage says whether any are
                // still loaded (`RulesLoaded`).
                let mut e = self.state_event(removed.action());
                if removed.is_alert() {
                    e.event.kind = "alert";
                }
                e.swmon.audit = Some(serde_json::to_value(&removed).unwrap_or_default());
                self.writer.push_priority(&e);
            }
            AuditMsg::RuleList(list) => self.cross.set_rules(list),
            AuditMsg::RulesLoaded(loaded, now) => {
                let mut state = self.cross.state();
                state.rules = loaded;
                self.cross.set_state(now, state);
            }
            AuditMsg::Failed(error, now) => {
                // The audit socket failed for good: from now on nothing can
                // be confirmed; keep watching with the kernel stream.
                let mut state = self.cross.state();
                state.available = false;
                self.cross.set_state(now, state);
                let mut e = self.state_event("audit-unavailable");
                e.event.kind = "alert";
                e.swmon.audit = Some(json!({ "error": error }));
                self.writer.push_priority(&e);
            }
        }
    }

    fn health_event(&self, h: &HealthChange) -> Event {
        let mut e = self.state_event(h.change.action());
        if matches!(
            h.change,
            Health::AuditDisabled { .. } | Health::AuditdStopped { .. }
        ) {
            e.event.kind = "alert";
        }
        e.event.kind_type = vec!["change"];
        e.swmon.audit = Some(serde_json::to_value(h).unwrap_or_default());
        e
    }

    fn audit_loss_event(&self, loss: Loss) -> Event {
        let mut e = self.state_event("audit-records-lost");
        e.event.kind = "alert";
        e.event.kind_type = vec!["info"];
        let mut detail = Map::new();
        detail.insert("count".into(), json!(loss.count));
        detail.insert(
            "counter".into(),
            serde_json::to_value(loss.source).unwrap_or_default(),
        );
        e.swmon.lost = Some(detail);
        e
    }

    /// An installer exec only the audit stream saw (the kernel stream lost it).
    fn audit_only_event(&mut self, exec: &AuditExec) -> Event {
        let program = exec.installer.and_then(catalogue::program);
        let manager = program.and_then(|p| match p.role {
            Role::Installer(m) => Some(m),
            _ => None,
        });
        let via = if catalogue::lookup(basename(&exec.exe))
            .is_some_and(|(_, p)| matches!(p.role, Role::Installer(_)))
        {
            "direct"
        } else {
            "interpreter-script"
        };
        let reading = enrich::audit_installer_args(&exec.exe, &exec.argv);
        let class = manager.map(|m| reading.classify(m, &exec.argv));
        let operation = class.as_ref().map_or(Operation::Other, |c| c.operation);
        let (action, kind_type) = action_of(operation, reading.args_unknown);
        let packages: Option<Vec<PackageRef>> = class.as_ref().map(|c| refs(&c.packages));
        let when = std::time::UNIX_EPOCH + Duration::from_nanos(exec.wall_ns);
        let uid = exec.uid.unwrap_or(u32::MAX);
        let auid = exec.auid.unwrap_or(u32::MAX);
        Event {
            ecs: crate::event::Ecs::default(),
            timestamp: event::timestamp(when),
            event: EventMeta {
                kind: "alert",
                category: vec!["package", "process"],
                kind_type: vec![kind_type],
                action,
                outcome: None,
            },
            process: Some(Process {
                pid: exec.pid,
                parent: Parent { pid: exec.ppid },
                executable: event::lossless(&exec.exe),
                name: event::lossless(basename(&exec.exe)),
                args: exec.argv.iter().map(|a| event::lossless(a)).collect(),
                args_count: exec.argv.len(),
                working_directory: exec.cwd.as_deref().map(event::lossless),
                exit_code: None,
                start: event::timestamp(when),
                end: None,
                user: Id {
                    id: uid.to_string(),
                    name: self.names.user(uid),
                },
                effective_user: Id::default(),
                group: event::GroupId::default(),
            }),
            user: Some(User {
                audit: Id {
                    id: auid.to_string(),
                    name: self.names.user(auid),
                },
            }),
            package: packages
                .as_ref()
                .filter(|p| p.len() == 1)
                .map(|p| p[0].clone()),
            host: Host {
                name: self.host.clone(),
            },
            swmon: Swmon {
                verdict: Some(Verdict::AuditOnly.as_str()),
                manager: manager.map(Manager::as_str),
                installer: program.map(|p| p.name),
                via: Some(via),
                reading: reading.is_uncertain().then_some("uncertain"),
                unknown_options: reading
                    .guessed
                    .iter()
                    .filter_map(|&i| exec.argv.get(i))
                    .map(|a| event::lossless(a))
                    .collect(),
                operation: Some(operation.as_str()),
                subcommand: class.as_ref().and_then(|c| c.subcommand.clone()),
                packages,
                audit: Some(json!({ "serial": exec.serial, "key": exec.key })),
                args_truncated: exec.argv_truncated,
                args_bytes: Some(u32::try_from(exec.argv_bytes).unwrap_or(u32::MAX)),
                ..Swmon::default()
            },
        }
    }

    /// A correction of a run already reported: a late audit record changed
    /// its verdict. No `process` (the run's event has it; `swmon report`
    /// reads this as a state event, never as a second run): the run is
    /// named by `swmon.run_id`.
    fn amended_event(&mut self, a: &Amended) -> Event {
        let mut e = self.state_event("verdict-amended");
        e.timestamp = event::timestamp(std::time::SystemTime::now());
        e.event.kind = if matches!(a.verdict, Verdict::Confirmed) {
            "event"
        } else {
            "alert"
        };
        e.event.category = vec!["package", "process"];
        e.event.kind_type = vec!["change"];
        e.swmon.run_id = Some(a.run_id.clone());
        e.swmon.verdict = Some(a.verdict.as_str());
        e.swmon.reason = a.verdict.reason();
        e.swmon.previous_verdict = Some(a.previous.as_str());
        e.swmon.previous_reason = a.previous.reason();
        let mut audit = audit_json(&a.audit);
        if let Some(m) = audit.as_object_mut() {
            m.insert("pid".into(), json!(a.pid));
            m.insert("executable".into(), json!(event::lossless(&a.executable)));
            m.insert(
                "run_start".into(),
                json!(event::timestamp(self.clock.wall(a.boot_ns))),
            );
        }
        e.swmon.audit = Some(audit);
        e
    }

    /// The event of a run: its decision, or with `early` its early event
    /// (`event.type: start`, the verdict so far, no changes: the state is
    /// read once, at its end, against the baseline before it).
    fn run_event(&mut self, run: &Run, verdict: Verdict, early: bool) -> Event {
        let read = if early {
            changes::Read::default()
        } else {
            self.state.units_dropped += run.state.dropped + run.state.unplaced;
            match &run.state_read {
                Some(r) => r.clone(),
                None => self.reader.read(&run.state, false),
            }
        };
        let rec = run.primary();
        let program = catalogue::program(run.facts.installer_id);
        let manager = program.and_then(|p| match p.role {
            Role::Installer(m) => Some(m),
            _ => None,
        });
        let reading = enrich::installer_args(rec, run.facts.via);
        let class = manager.map(|m| reading.classify(m, &rec.argv));
        let operation = class.as_ref().map_or(Operation::Other, |c| c.operation);
        let scope = class.as_ref().map(|c| scope_of(c, rec, run));
        let packages: Option<Vec<PackageRef>> = class.as_ref().map(|c| refs(&c.packages));
        // Local package files: the name and version read from the file.
        let (packages, requested) = match (packages, class.as_ref()) {
            (Some(p), Some(c)) => {
                let (p, r) = crate::package_file::resolve(&c.packages, p, &run.facts.package_files);
                (Some(p), r)
            }
            (p, _) => (p, Vec::new()),
        };
        let (action, kind_type) = action_of(operation, reading.args_unknown);
        let mut args = Vec::with_capacity(rec.argv.len());
        let mut escaped = Vec::new();
        for (i, a) in rec.argv.iter().enumerate() {
            let (s, esc) = event::escape_bytes(a);
            if esc {
                escaped.push(i);
            }
            args.push(s);
        }
        let executable = event::lossless(&rec.executable);
        let exit_code = run.exit.map(|e| e.exit_code());
        // Its own changes and its nested runs' (none in an early event).
        let changes: Vec<serde_json::Value> = read
            .changes
            .iter()
            .cloned()
            .chain(run.nested_changes.iter().filter(|_| !early).cloned())
            .collect();
        let mismatches = if early {
            None
        } else {
            super::mismatch::check(
                manager,
                operation,
                exit_code,
                packages.as_deref().unwrap_or_default(),
                &changes,
                read.unread.len() + run.nested_unread as usize,
            )
        };
        let start = event::timestamp(self.clock.wall(run.execs[0].boot_ns));
        let filter = reason::NAMES
            .into_iter()
            .filter(|(bit, _)| rec.reasons & bit != 0)
            .map(|(_, name)| name)
            .collect();
        Event {
            ecs: crate::event::Ecs::default(),
            timestamp: start.clone(),
            event: EventMeta {
                kind: if matches!(verdict, Verdict::Confirmed) {
                    "event"
                } else {
                    "alert"
                },
                category: vec!["package", "process"],
                kind_type: if early {
                    vec![kind_type, "start"]
                } else {
                    vec![kind_type]
                },
                action,
                outcome: (!early).then_some(match exit_code {
                    Some(0) => "success",
                    Some(_) => "failure",
                    None => "unknown",
                }),
            },
            process: Some(Process {
                pid: rec.tgid,
                parent: Parent { pid: rec.ppid },
                name: event::lossless(basename(
                    rec.executable
                        .strip_suffix(b" (deleted)")
                        .unwrap_or(&rec.executable),
                )),
                executable: executable.clone(),
                args_count: rec.argv.len(),
                args,
                working_directory: run.facts.cwd.as_deref().map(event::lossless),
                exit_code,
                start,
                end: run
                    .exit
                    .map(|e| event::timestamp(self.clock.wall(e.boot_ns))),
                user: Id {
                    id: rec.uid.to_string(),
                    name: self.names.user(rec.uid),
                },
                effective_user: Id {
                    id: rec.euid.to_string(),
                    name: self.names.user(rec.euid),
                },
                group: event::GroupId {
                    id: rec.gid.to_string(),
                },
            }),
            user: Some(User {
                audit: Id {
                    id: rec.loginuid.to_string(),
                    name: self.names.user(rec.loginuid),
                },
            }),
            package: packages
                .as_ref()
                .filter(|p| p.len() == 1)
                .map(|p| p[0].clone()),
            host: Host {
                name: self.host.clone(),
            },
            swmon: Swmon {
                verdict: Some(verdict.as_str()),
                reason: verdict.reason(),
                run_id: Some(run.id()),
                audit: run.audit.as_ref().map(audit_json),
                manager: manager.map(Manager::as_str),
                installer: program.map(|p| p.name),
                via: Some(run.facts.via),
                reading: (reading.is_uncertain() || run.facts.argv_incomplete)
                    .then_some("uncertain"),
                unknown_options: reading
                    .guessed
                    .iter()
                    .filter_map(|&i| rec.argv.get(i))
                    .map(|a| event::lossless(a))
                    .collect(),
                operation: Some(operation.as_str()),
                subcommand: class.as_ref().and_then(|c| c.subcommand.clone()),
                packages,
                inverse_packages: class.as_ref().map(|c| refs(&c.inverse)).unwrap_or_default(),
                requested,
                package_files: crate::package_file::report(&run.facts.package_files),
                requirements: class
                    .as_ref()
                    .map(|c| c.requirements.clone())
                    .unwrap_or_default(),
                scope,
                filter,
                exec_filename: (rec.filename != rec.executable)
                    .then(|| event::lossless(&rec.filename)),
                args_escaped: escaped,
                args_truncated: rec.flags & flag::ARGV_TRUNCATED != 0,
                args_bytes: Some(rec.argv_total),
                session_id: (rec.sessionid != u32::MAX).then_some(rec.sessionid),
                cgroup_id: Some(rec.cgroup_id),
                executable_sha256: run.facts.sha256.clone(),
                executable_build_id: run.facts.build_id.clone(),
                unverified: run.facts.unverified,
                build_id_flag: run.facts.build_id_flag,
                facts_unread: run.facts.facts_unread,
                duration_ns: run
                    .exit
                    .map(|e| e.boot_ns.saturating_sub(run.execs[0].boot_ns)),
                signal: run.exit.and_then(|e| e.signal()),
                exec_chain: run.execs[..run.execs.len() - 1]
                    .iter()
                    .map(|e| ChainLink {
                        executable: event::lossless(&e.executable),
                        args: e.argv.iter().map(|a| event::lossless(a)).collect(),
                    })
                    .collect(),
                end: run.end,
                ancestors: run
                    .facts
                    .ancestors
                    .iter()
                    .map(enrich::Ancestor::to_out)
                    .collect(),
                ancestors_truncated: rec.ancestors_truncated,
                container: run
                    .facts
                    .placement
                    .container_id
                    .clone()
                    .map(|id| event::Container {
                        id,
                        runtime: run.facts.placement.container_runtime,
                    }),
                systemd_unit: run.facts.placement.systemd_unit.clone(),
                cgroup: run.facts.placement.cgroup.clone(),
                cgroup_truncated: run.facts.placement.cgroup_truncated,
                tty: run.facts.tty.clone(),
                parent_run_id: run.parent_run.clone(),
                detected_by: detected_by(run),
                state: (!run.state.is_empty()).then(|| state_json(&run.state, &read.unread)),
                mismatches,
                changes,
                ..Swmon::default()
            },
        }
    }
}

/// `swmon.detected_by` of a run: the exec stream always (a run is its
/// records), the audit trail when a record was attached, the state
/// witness when it, or a run nested in it (apt's dpkg), wrote package
/// state, or the state read at its end changed (a `pip uninstall`).
fn detected_by(run: &Run) -> Vec<&'static str> {
    let mut by = vec!["exec"];
    if run.audit.as_ref().is_some_and(|m| m.records > 0) {
        by.push("audit");
    }
    if !run.state.is_empty()
        || !run.nested_changes.is_empty()
        || run
            .state_read
            .as_ref()
            .is_some_and(|r| !r.changes.is_empty())
    {
        by.push("state");
    }
    by
}

/// `swmon.state`: where package state was written, each place once.
fn state_json(u: &Units, unread: &[serde_json::Value]) -> serde_json::Value {
    let writes: Vec<_> = u
        .units
        .iter()
        .map(|x| {
            json!({
                "rule": changes::rule_name(x.rule),
                "path": event::lossless(&x.path),
                "pid": x.writer,
            })
        })
        .collect();
    let mut v = json!({ "writes": writes });
    if !unread.is_empty() {
        v["unread"] = json!(unread);
    }
    if u.dropped > 0 {
        v["dropped"] = json!(u.dropped);
    }
    if u.unplaced > 0 {
        v["unplaced"] = json!(u.unplaced);
    }
    v
}

/// `swmon.audit` of a run: the first record that joined one of its execs
/// (`serial`, `key`, `logged`: every joined record reached a registered
/// daemon, `join`: `inode`, `script` or `path`, `joined`: records of its
/// execs), every record attached (`serials`, at most 16, and their count,
/// `records`), the executables of execs without a record of their own
/// that continue none (`unrecorded`), those that continue a recorded
/// dispatcher (`continued`), the audit records lost between
/// the run's start and its decision (`lost`), and the execs without a
/// record trimmed from the chain (`chain_trimmed`: the run is no
/// `confirmed`).
fn audit_json(m: &AuditMatch) -> serde_json::Value {
    let mut v = json!({
        "logged": m.logged,
        "serials": m.serials,
        "records": m.records,
    });
    if m.joined > 0 {
        v["serial"] = json!(m.serial);
        v["key"] = json!(m.key);
        v["join"] = json!(m.join);
        v["joined"] = json!(m.joined);
        if !m.unrecorded.is_empty() {
            v["unrecorded"] = json!(m
                .unrecorded
                .iter()
                .map(|e| event::lossless(e))
                .collect::<Vec<_>>());
        }
        if !m.continued.is_empty() {
            v["continued"] = json!(m
                .continued
                .iter()
                .map(|e| event::lossless(e))
                .collect::<Vec<_>>());
        }
    }
    if m.lost > 0 {
        v["lost"] = json!(m.lost);
    }
    if m.trimmed_unrecorded > 0 {
        v["chain_trimmed"] = json!(m.trimmed_unrecorded);
    }
    v
}

/// `event.action` and `event.type` for an operation. A run whose
/// installer arguments are not known (inline code passing a variable) may
/// be an install: `installation`, never `info`.
fn action_of(operation: Operation, args_unknown: bool) -> (&'static str, &'static str) {
    if args_unknown {
        return ("installer-exec", "installation");
    }
    match operation {
        Operation::Install => ("package-install", "installation"),
        Operation::Remove => ("package-remove", "deletion"),
        Operation::Upgrade => ("package-upgrade", "change"),
        Operation::Query | Operation::Other => ("installer-exec", "info"),
    }
}

fn refs(packages: &[classify::Package]) -> Vec<PackageRef> {
    packages
        .iter()
        .map(|p| PackageRef {
            name: p.name.clone(),
            version: p.version.clone(),
        })
        .collect()
}

/// `swmon.scope`: what argv says, else the run's environment: a Python
/// venv, a language manager's project folder, or the manager's default.
fn scope_of(c: &Classification, rec: &ExecRecord, run: &Run) -> String {
    // Found by the facts stage (it stats paths the exec named: I/O that
    // does not belong here).
    if let Some(venv) = run
        .facts
        .venv
        .as_ref()
        .filter(|_| matches!(c.manager, Manager::Pip))
    {
        if !matches!(c.scope, Some(Scope::Root(_))) {
            return format!("venv:{}", event::lossless(venv));
        }
    }
    if let Some(s) = &c.scope {
        return s.as_str().into_owned();
    }
    match c.manager {
        Manager::Npm
        | Manager::Yarn
        | Manager::Pnpm
        | Manager::Bun
        | Manager::Composer
        | Manager::Bundler => match &run.facts.cwd {
            Some(cwd) => format!("project:{}", event::lossless(cwd)),
            None => "project".to_owned(),
        },
        // The same default `swmon classify` prints.
        m => classify::command::default_scope(m, &rec.filename, &rec.executable).to_owned(),
    }
}

/// User names by uid, at most [`MAX_NAMES`] of them: a host with many
/// uids (or a workload cycling through them) cannot grow the cache without
/// bound; past the cap it starts over.
#[derive(Default)]
pub struct BoundedNames {
    users: std::collections::HashMap<u32, Option<String>>,
}

impl BoundedNames {
    pub fn user(&mut self, uid: u32) -> Option<String> {
        if uid == u32::MAX {
            return Some("unset".to_owned());
        }
        if let Some(name) = self.users.get(&uid) {
            return name.clone();
        }
        if self.users.len() >= MAX_NAMES {
            self.users.clear();
        }
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        self.users.insert(uid, name.clone());
        name
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.users.len()
    }
}

async fn recv(rx: &mut Option<Rx<AuditMsg>>) -> Option<AuditMsg> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_name_cache_never_holds_more_than_its_cap() {
        let mut names = BoundedNames::default();
        assert_eq!(names.user(0).as_deref(), Some("root"));
        for uid in 100_000..100_000 + MAX_NAMES as u32 * 2 {
            names.user(uid);
            assert!(names.len() <= MAX_NAMES);
        }
        assert_eq!(names.user(u32::MAX).as_deref(), Some("unset"));
        assert_eq!(
            names.user(0).as_deref(),
            Some("root"),
            "still right after a reset"
        );
    }
}
