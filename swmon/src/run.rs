//! `swmon run`: the monitor's main loop. It loads the kernel stream and
//! opens the audit stream, turns exec records into installer runs, checks
//! each run against the audit trail, and writes one event per run, between
//! a `monitor-started` line (written once the program is attached: scripts
//! wait for it) and a `monitor-stopped` line carrying every loss counter.
//! Changes in audit's health and every loss are events too.
//!
//! Nothing here blocks the kernel: the ring buffer and the audit socket are
//! read as soon as they signal, and a slow sink only delays reading (the
//! kernel counts what it could not reserve, and audit overruns are counted,
//! meanwhile). The one blocking call is a rule-list request (2 s at most)
//! when a removal of a guarded audit rule is seen.

use std::{path::PathBuf, time::Duration};

use serde_json::{json, Map, Value};
use swmon_common::{flag, reason};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    audit::{
        netlink::ControlSocket,
        rules::{self, RuleGuard},
        status::Health,
        AuditError, AuditItem, AuditOptions, AuditStream, HealthChange, Loss,
    },
    catalogue::{self, Manager, Role},
    classify::{self, Classification, Operation, Scope},
    correlate::{
        verdict::{AuditExec, AuditState, CrossCheck, Decided, Verdict},
        Correlator, Facts, Run,
    },
    ebpf::{
        decode::{self, ExecRecord, Record},
        filter::{basename, Content, ContentMatcher},
        KernelStream, LoadError, LoadOptions,
    },
    enrich::{self, Names},
    event::{
        self, ChainLink, Clock, Event, EventMeta, Host, Id, PackageRef, Parent, Process, Swmon,
        User,
    },
    sink::{Format, Sink, SinkError},
};

/// Runs older than this are checked for a lost exit.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(2);
const MAX_OPEN_RUNS: usize = 65_536;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub output: PathBuf,
    /// `--output-group`: the output file is 0640 with this group.
    pub output_group: Option<u32>,
    pub format: Format,
    pub load: LoadOptions,
    pub audit: AuditRunOptions,
}

/// The audit side of `swmon run`.
#[derive(Clone, Debug)]
pub struct AuditRunOptions {
    /// Read the audit stream at all (`--no-audit` turns it off).
    pub enabled: bool,
    pub rules: RulesMode,
    /// Put swmon's rules back when someone removes them.
    pub restore: bool,
    /// How long a run waits for its audit record before it is `ebpf_only`.
    pub wait: Duration,
    pub rcvbuf: usize,
}

impl Default for AuditRunOptions {
    fn default() -> Self {
        AuditRunOptions {
            enabled: true,
            rules: RulesMode::Keep,
            restore: false,
            wait: Duration::from_secs(2),
            rcvbuf: AuditOptions::default().rcvbuf,
        }
    }
}

/// Which audit rules `swmon run` works with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RulesMode {
    /// The host's rules as they are.
    Keep,
    /// Add the seed set (`perm=x path=<installer> key=software-installer`)
    /// for the run, and remove what was added at stop.
    Seed,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("can't read the ring buffer: {0}")]
    Ring(std::io::Error),
    #[error("can't install a signal handler: {0}")]
    Signal(std::io::Error),
    #[error("can't set up the audit rules: {0}")]
    Rules(AuditError),
    #[error("the audit stream failed: {0}")]
    Audit(AuditError),
    #[error(transparent)]
    Privilege(#[from] crate::privilege::PrivilegeError),
}

/// Counters of user-space stages, reported at stop.
#[derive(Debug, Default)]
struct Counters {
    decode_errors: u64,
    /// Kernel matches the catalogue's full rules rejected.
    rejected: u64,
    /// Size-matched candidates whose content was no installer's.
    content_mismatch: u64,
    /// Size-matched candidates gone before their content could be read.
    content_unreadable: u64,
    /// Fileless size-matched candidates reported without their content.
    content_unverified: u64,
    events: u64,
}

struct Monitor {
    sink: Sink,
    clock: Clock,
    host: String,
    names: Names,
    matcher: ContentMatcher,
    correlator: Correlator,
    cross: CrossCheck,
    counters: Counters,
    /// Kernel losses already reported as `ebpf-events-lost`.
    reported_kernel_loss: u64,
    /// Runs ended and not yet checked against the audit trail.
    ready: Vec<Run>,
}

/// The audit stream with the control socket and rule guard that go with it.
struct AuditSide {
    stream: AuditStream,
    ctl: ControlSocket,
    guard: RuleGuard,
    restore: bool,
}

impl AuditSide {
    fn open(options: &AuditRunOptions) -> Result<AuditSide, RunError> {
        let stream = AuditStream::open(AuditOptions {
            rcvbuf: options.rcvbuf,
            ..AuditOptions::default()
        })
        .map_err(RunError::Audit)?;
        let mut ctl = ControlSocket::open().map_err(RunError::Audit)?;
        let ours = match options.rules {
            RulesMode::Keep => Vec::new(),
            RulesMode::Seed => {
                let seed = rules::seed_rules(&rules::host_installers());
                rules::install(&mut ctl, &seed)
                    .map_err(RunError::Rules)?
                    .added
            }
        };
        Ok(AuditSide {
            stream,
            ctl,
            guard: RuleGuard::new(ours),
            restore: options.restore,
        })
    }

    /// Whether any audit rule is loaded (a failed request counts as yes:
    /// then runs wait for a record that may come).
    fn rules_loaded(&mut self) -> bool {
        rules::list_rules(&mut self.ctl).map_or(true, |r| !r.is_empty())
    }

    async fn next(side: &mut Option<AuditSide>) -> Result<AuditItem, AuditError> {
        match side {
            Some(a) => a.stream.next().await,
            None => std::future::pending().await,
        }
    }
}

pub async fn run(options: RunOptions) -> Result<(), RunError> {
    // Open the output first: a bad path is reported before anything loads.
    let sink = Sink::open(&options.output, options.format, options.output_group)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut kernel = KernelStream::load(&options.load)?;
    let mut audit_error = None;
    let mut audit = if options.audit.enabled {
        match AuditSide::open(&options.audit) {
            Ok(a) => Some(a),
            // Rules asked for and refused: the user asked for something we
            // cannot do; say so and stop.
            Err(e @ RunError::Rules(_)) => return Err(e),
            Err(e) => {
                audit_error = Some(e.to_string());
                None
            }
        }
    } else {
        None
    };
    // Least privilege from here on, before any thread exists (privilege.rs).
    let privileges = crate::privilege::drop_privileges(crate::privilege::Needs {
        audit: audit.is_some(),
        chown: options.output_group.is_some(),
    })?;
    let rules_loaded = audit.as_mut().is_some_and(AuditSide::rules_loaded);
    let initial = match audit.as_ref().and_then(|a| a.stream.status()) {
        Some(s) => AuditState {
            available: true,
            enabled: s.enabled != 0,
            daemon: s.pid != 0,
            rules: rules_loaded,
        },
        None => AuditState {
            available: audit.is_some(),
            ..AuditState::default()
        },
    };
    let mut monitor = Monitor {
        sink,
        clock: Clock::now(),
        host: enrich::host_name(),
        names: Names::default(),
        matcher: ContentMatcher::new(&kernel.tables.found),
        correlator: Correlator::new(MAX_OPEN_RUNS),
        cross: CrossCheck::new(options.audit.wait.as_nanos() as u64, initial),
        counters: Counters::default(),
        reported_kernel_loss: 0,
        ready: Vec::new(),
    };
    let found: Vec<String> = kernel
        .tables
        .found
        .iter()
        .map(|f| event::lossless(f.path.as_os_str().as_encoded_bytes()))
        .collect();
    let mut started = monitor.state_event("monitor-started");
    started.swmon.installers_found = Some(found);
    started.swmon.privileges = Some(json!({
        "kept": privileges.kept,
        "no_new_privs": privileges.no_new_privs,
        "bounding_reduced": privileges.bounding_reduced,
        "untrusted_installer_dirs": kernel.tables.untrusted,
    }));
    if let Some(a) = &audit {
        started.swmon.audit = Some(json!({
            "rules_added": a.guard.ours().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "rcvbuf": a.stream.rcvbuf(),
            "wait_ms": options.audit.wait.as_millis() as u64,
        }));
    }
    monitor.sink.write(&started)?;
    if let Some(error) = audit_error {
        let mut e = monitor.state_event("audit-unavailable");
        e.event.kind = "alert";
        e.swmon.audit = Some(json!({ "error": error }));
        monitor.sink.write(&e)?;
    }

    // Decisions wait on deadlines (a run's audit wait): checked often, so an
    // ebpf_only verdict comes out soon after its wait. /proc sweeps are rarer.
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    // An installer run ended: discover the installers again (ebpf::filter).
    let mut rediscover_due = false;
    loop {
        tokio::select! {
            r = kernel.read(|bytes| monitor.on_record(bytes)) => {
                r.map_err(RunError::Ring)?;
                rediscover_due |= !monitor.ready.is_empty();
                monitor.flush_ready()?;
            }
            item = AuditSide::next(&mut audit) => match item {
                Ok(item) => monitor.on_audit(item, &mut audit)?,
                Err(e) => {
                    // The audit socket failed for good: keep watching with
                    // the kernel stream, and say so.
                    audit = None;
                    monitor.audit_lost(&e.to_string())?;
                }
            },
            _ = tick.tick() => {
                ticks += 1;
                if ticks.is_multiple_of(25) {
                    monitor.sweep();
                    monitor.report_kernel_loss(&kernel)?;
                    if std::mem::take(&mut rediscover_due) {
                        monitor.rediscover(&mut kernel)?;
                    }
                }
                monitor.flush_ready()?;
                monitor.decide_due()?;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }

    // Shutdown: read what is left, then decide every run.
    kernel.drain(|bytes| monitor.on_record(bytes));
    if let Some(a) = audit.as_mut() {
        for item in a.stream.finish() {
            monitor.on_audit(item, &mut None)?;
        }
    }
    monitor.flush_ready()?;
    monitor.report_kernel_loss(&kernel)?;
    let open = monitor.correlator.drain();
    monitor.ready.extend(open);
    monitor.flush_ready()?;
    for d in monitor.cross.drain(&monitor.clock) {
        monitor.emit_decided(d)?;
    }
    let mut stopped = monitor.state_event("monitor-stopped");
    let mut counters = monitor.counter_map(&kernel);
    if let Some(a) = audit.as_mut() {
        let c = a.stream.counters();
        counters.insert("audit".into(), serde_json::to_value(c).unwrap_or_default());
        match a.guard.remove_ours(&mut a.ctl) {
            Ok(removed) => {
                counters.insert(
                    "audit_rules_removed_at_stop".into(),
                    json!(removed.removed.len()),
                );
            }
            Err(e) => counters
                .insert("audit_rules_remove_error".into(), json!(e.to_string()))
                .map_or((), |_| ()),
        }
    }
    stopped.swmon.counters = Some(counters);
    monitor.sink.write(&stopped)?;
    Ok(())
}

impl Monitor {
    fn on_record(&mut self, bytes: &[u8]) {
        match decode::decode(bytes) {
            Ok(Record::Exec(rec)) => self.on_exec(*rec),
            Ok(Record::Exit(exit)) => {
                if let Some(run) = self.correlator.on_exit(exit) {
                    self.ready.push(run);
                }
            }
            Err(_) => self.counters.decode_errors += 1,
        }
    }

    fn on_exec(&mut self, rec: ExecRecord) {
        let mut sha256 = None;
        let mut unverified = false;
        let mut rec = rec;
        if rec.reasons & reason::SIZE != 0 && rec.reasons & !(reason::SIZE | reason::FILELESS) == 0
        {
            // A copy candidate: only its content can tell. The process may
            // have exited already (`/proc/PID/exe` is gone); a file still on
            // disk is read by its path then, if it is the same inode.
            let mut content = self.matcher.identify(&enrich::proc_exe(rec.pid), rec.size);
            if content == Content::Unreadable && rec.nlink != 0 {
                if let Some(path) = same_file(&rec) {
                    content = self.matcher.identify(&path, rec.size);
                }
            }
            match content {
                Content::Installer(id, hash) => {
                    rec.installer_id = Some(id);
                    sha256 = Some(hash);
                }
                Content::Other => {
                    self.counters.content_mismatch += 1;
                    return;
                }
                // A fileless exec of an installer's size, gone before it could
                // be read: reported, marked unverified, rather than dropped.
                Content::Unreadable if rec.reasons & reason::FILELESS != 0 => {
                    self.counters.content_unverified += 1;
                    unverified = true;
                }
                Content::Unreadable => {
                    self.counters.content_unreadable += 1;
                    return;
                }
            }
        }
        let Some(id) = enrich::identify(&rec) else {
            self.counters.rejected += 1;
            return;
        };
        let facts = Facts {
            installer_id: id.installer_id,
            via: id.via,
            // The kernel read it at the exec; /proc is the fallback (racy:
            // gone when the run has already ended).
            cwd: if rec.cwd.is_empty() {
                enrich::cwd(rec.pid)
            } else {
                Some(rec.cwd.clone())
            },
            sha256,
            unverified,
            ancestors: enrich::ancestors(rec.ppid),
            placement: enrich::placement(rec.pid),
            tty: enrich::Stat::read(rec.pid).and_then(|s| enrich::tty_name(s.tty_nr)),
        };
        let tgid = rec.tgid;
        if let Some(evicted) = self.correlator.on_exec(rec, facts) {
            self.ready.push(evicted);
        }
        // The audit record of this exec may have come first.
        if let Some(run) = self.correlator.open_run_mut(tgid) {
            self.cross.attach(run, &self.clock);
        }
    }

    fn sweep(&mut self) {
        let now = event::boot_ns_now();
        let ended =
            self.correlator
                .sweep(now, SWEEP_MIN_AGE.as_nanos() as u64, enrich::start_boot_ns);
        self.ready.extend(ended);
    }

    fn now_wall_ns(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Checks ended runs against the audit trail; writes those decided.
    fn flush_ready(&mut self) -> Result<(), SinkError> {
        let now = self.now_wall_ns();
        for run in std::mem::take(&mut self.ready) {
            for d in self.cross.on_run(run, now, &self.clock) {
                self.emit_decided(d)?;
            }
        }
        Ok(())
    }

    /// Writes runs whose audit wait is over, and audit-only installer execs.
    fn decide_due(&mut self) -> Result<(), SinkError> {
        let now = self.now_wall_ns();
        let correlator = &self.correlator;
        let decided = self
            .cross
            .tick(now, &self.clock, |tgid| correlator.is_open(tgid));
        for d in decided {
            self.emit_decided(d)?;
        }
        Ok(())
    }

    fn emit_decided(&mut self, d: Decided) -> Result<(), SinkError> {
        let e = match d {
            Decided::Run(run, verdict) => self.run_event(&run, verdict),
            Decided::AuditOnly(exec) => self.audit_only_event(&exec),
        };
        self.counters.events += 1;
        self.sink.write(&e)
    }

    fn on_audit(&mut self, item: AuditItem, side: &mut Option<AuditSide>) -> Result<(), SinkError> {
        let now = self.now_wall_ns();
        match item {
            AuditItem::Event(ev) => {
                // A rule with the installer key (back) in place: the end of an
                // `audit-rules-removed` gap, whoever added it.
                if let Some(cc) = ev.config_change() {
                    if let Some(a) = side.as_mut() {
                        let mut state = self.cross.state();
                        state.rules = a.rules_loaded();
                        self.cross.set_state(now, state);
                    }
                    let added = cc.op() == Some(b"add_rule".as_slice()) && cc.res() != Some(false);
                    let keys = cc.keys();
                    if added && keys.iter().any(|k| k == rules::SEED_KEY.as_bytes()) {
                        let mut e = self.state_event("audit-rules-added");
                        e.event.kind_type = vec!["change"];
                        e.swmon.audit = Some(json!({
                            "serial": ev.serial,
                            "keys": keys.iter().map(|k| event::lossless(k)).collect::<Vec<_>>(),
                        }));
                        self.sink.write(&e)?;
                    }
                }
                if let Some(a) = side.as_mut() {
                    if let Some(removed) = a.guard.check(&ev, Some(&mut a.ctl)) {
                        let mut e = self.state_event("audit-rules-removed");
                        e.event.kind = "alert";
                        e.swmon.audit = Some(serde_json::to_value(&removed).unwrap_or_default());
                        self.sink.write(&e)?;
                        if a.restore {
                            let (action, detail) = match a.guard.restore(&mut a.ctl) {
                                Ok(put_back) => (
                                    "audit-rules-restored",
                                    json!({ "rules": put_back.iter().map(ToString::to_string).collect::<Vec<_>>() }),
                                ),
                                Err(err) => (
                                    "audit-rules-restore-failed",
                                    json!({ "error": err.to_string() }),
                                ),
                            };
                            let mut e = self.state_event(action);
                            e.swmon.audit = Some(detail);
                            self.sink.write(&e)?;
                        }
                    }
                }
                let logged = self.cross.state().daemon;
                if let Some(exec) = AuditExec::from_event(&ev, logged) {
                    let pid = exec.pid;
                    for d in self.cross.on_audit_exec(exec, &self.clock) {
                        self.emit_decided(d)?;
                    }
                    if let Some(run) = self.correlator.open_run_mut(pid) {
                        self.cross.attach(run, &self.clock);
                    }
                }
            }
            AuditItem::Health(h) => {
                let mut state = self.cross.state();
                state.enabled = h.status.enabled != 0;
                match h.change {
                    Health::AuditdStopped { .. } => state.daemon = false,
                    Health::AuditdStarted { .. } => state.daemon = true,
                    _ => {}
                }
                self.cross.set_state(now, state);
                let e = self.health_event(&h);
                self.sink.write(&e)?;
            }
            AuditItem::Loss(loss) => {
                self.cross.note_loss(now);
                let e = self.audit_loss_event(loss);
                self.sink.write(&e)?;
            }
            AuditItem::RulesRemoved(removed) => {
                let mut e = self.state_event("audit-rules-removed");
                e.event.kind = "alert";
                e.swmon.audit = Some(serde_json::to_value(&removed).unwrap_or_default());
                self.sink.write(&e)?;
            }
        }
        Ok(())
    }

    /// The audit stream is gone for good: from now on nothing can be
    /// confirmed.
    fn audit_lost(&mut self, error: &str) -> Result<(), SinkError> {
        let now = self.now_wall_ns();
        let mut state = self.cross.state();
        state.available = false;
        self.cross.set_state(now, state);
        let mut e = self.state_event("audit-unavailable");
        e.event.kind = "alert";
        e.swmon.audit = Some(json!({ "error": error }));
        self.sink.write(&e)
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
        let class = manager.map(|m| {
            let start = enrich::installer_args_start(&exec.argv, via);
            let args: Vec<&[u8]> = exec.argv[start.min(exec.argv.len())..]
                .iter()
                .map(Vec::as_slice)
                .collect();
            classify::classify(m, &args)
        });
        let operation = class.as_ref().map_or(Operation::Other, |c| c.operation);
        let (action, kind_type) = action_of(operation);
        let packages: Option<Vec<PackageRef>> = class.as_ref().map(|c| refs(&c.packages));
        let when = std::time::UNIX_EPOCH + Duration::from_nanos(exec.wall_ns);
        let uid = exec.uid.unwrap_or(u32::MAX);
        let auid = exec.auid.unwrap_or(u32::MAX);
        Event {
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
                operation: Some(operation.as_str()),
                subcommand: class.as_ref().and_then(|c| c.subcommand.clone()),
                packages,
                audit: Some(json!({ "serial": exec.serial, "key": exec.key })),
                ..Swmon::default()
            },
        }
    }

    fn run_event(&mut self, run: &Run, verdict: Verdict) -> Event {
        let rec = run.primary();
        let program = catalogue::program(run.facts.installer_id);
        let manager = program.and_then(|p| match p.role {
            Role::Installer(m) => Some(m),
            _ => None,
        });
        let class = manager.map(|m| {
            let start = enrich::installer_args_start(&rec.argv, run.facts.via);
            let args: Vec<&[u8]> = rec.argv[start..].iter().map(Vec::as_slice).collect();
            classify::classify(m, &args)
        });
        let operation = class.as_ref().map_or(Operation::Other, |c| c.operation);
        let scope = class.as_ref().map(|c| scope_of(c, rec, run));
        let packages: Option<Vec<PackageRef>> = class.as_ref().map(|c| refs(&c.packages));
        let (action, kind_type) = action_of(operation);
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
        let start = event::timestamp(self.clock.wall(run.execs[0].boot_ns));
        let filter = [
            (reason::FILENAME, "filename"),
            (reason::EXE_NAME, "exe-name"),
            (reason::INODE, "inode"),
            (reason::INTERPRETER_ARG, "interpreter-arg"),
            (reason::SIZE, "size"),
            (reason::FILELESS, "fileless"),
        ]
        .into_iter()
        .filter(|(bit, _)| rec.reasons & bit != 0)
        .map(|(_, name)| name)
        .collect();
        Event {
            timestamp: start.clone(),
            event: EventMeta {
                kind: if matches!(verdict, Verdict::Confirmed) {
                    "event"
                } else {
                    "alert"
                },
                category: vec!["package", "process"],
                kind_type: vec![kind_type],
                action,
                outcome: Some(match exit_code {
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
                audit: run
                    .audit
                    .as_ref()
                    .map(|m| json!({ "serial": m.serial, "key": m.key, "logged": m.logged })),
                manager: manager.map(Manager::as_str),
                installer: program.map(|p| p.name),
                via: Some(run.facts.via),
                operation: Some(operation.as_str()),
                subcommand: class.as_ref().and_then(|c| c.subcommand.clone()),
                packages,
                inverse_packages: class.as_ref().map(|c| refs(&c.inverse)).unwrap_or_default(),
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
                unverified: run.facts.unverified,
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
                    .map(|a| event::AncestorOut {
                        pid: a.pid,
                        executable: event::lossless(&a.executable),
                        args: a.args.iter().map(|x| event::lossless(x)).collect(),
                    })
                    .collect(),
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
                tty: run.facts.tty.clone(),
                ..Swmon::default()
            },
        }
    }

    /// Writes an `ebpf-events-lost` alert when the kernel counted events it
    /// could not hand over (a full ring buffer, a failed tail call) since
    /// the last report: a gap in coverage is an event too.
    fn report_kernel_loss(&mut self, kernel: &KernelStream) -> Result<(), SinkError> {
        let k = kernel.counters();
        let lost = k.exec_reserve_failed + k.exit_reserve_failed + k.stage_failed;
        if lost <= self.reported_kernel_loss {
            return Ok(());
        }
        let mut e = self.state_event("ebpf-events-lost");
        e.event.kind = "alert";
        e.event.kind_type = vec!["info"];
        let mut detail = Map::new();
        detail.insert("count".into(), json!(lost - self.reported_kernel_loss));
        detail.insert("total".into(), json!(lost));
        detail.insert("exec_reserve_failed".into(), json!(k.exec_reserve_failed));
        detail.insert("exit_reserve_failed".into(), json!(k.exit_reserve_failed));
        detail.insert("stage_failed".into(), json!(k.stage_failed));
        e.swmon.lost = Some(detail);
        self.reported_kernel_loss = lost;
        self.sink.write(&e)
    }

    fn state_event(&self, action: &'static str) -> Event {
        Event {
            timestamp: event::timestamp(std::time::SystemTime::now()),
            event: EventMeta {
                kind: "state",
                category: vec!["host"],
                kind_type: vec![if action == "monitor-started" {
                    "start"
                } else {
                    "end"
                }],
                action,
                outcome: None,
            },
            process: None,
            user: None,
            package: None,
            host: Host {
                name: self.host.clone(),
            },
            swmon: Swmon {
                version: Some(env!("CARGO_PKG_VERSION")),
                ..Swmon::default()
            },
        }
    }

    fn counter_map(&self, kernel: &KernelStream) -> Map<String, Value> {
        let k = kernel.counters();
        let c = &self.correlator.counters;
        let u = &self.counters;
        let lost = k.exec_reserve_failed + k.exit_reserve_failed + k.stage_failed + u.decode_errors;
        let v = json!({
            "seen": k.seen,
            "passed": k.passed,
            "lost": lost,
            "exec_reserve_failed": k.exec_reserve_failed,
            "exit_reserve_failed": k.exit_reserve_failed,
            "interpreter_dropped": k.interpreter_dropped,
            "track_failed": k.track_failed,
            "exits": k.exits,
            "stage_failed": k.stage_failed,
            "decode_errors": u.decode_errors,
            "rejected": u.rejected,
            "content_mismatch": u.content_mismatch,
            "content_unreadable": u.content_unreadable,
            "content_unverified": u.content_unverified,
            "runs_started": c.runs_started,
            "runs_finished": c.runs_finished,
            "exits_missing": c.exits_missing,
            "runs_evicted": c.evicted,
            "orphan_exits": c.orphan_exits,
            "chain_trimmed": c.chain_trimmed,
            "events": u.events,
            "confirmed": self.cross.counters.confirmed,
            "ebpf_only": self.cross.counters.ebpf_only,
            "audit_only": self.cross.counters.audit_only,
            "audit_execs": self.cross.counters.audit_execs,
            "audit_execs_dropped": self.cross.counters.audit_execs_dropped,
            "decided_early": self.cross.counters.decided_early,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// The executable's path, if the file there is still the one that was
/// exec'd (same device and inode).
fn same_file(rec: &ExecRecord) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let path = PathBuf::from(crate::ebpf::filter::os(&rec.executable));
    let meta = std::fs::metadata(&path).ok()?;
    (crate::ebpf::filter::kernel_dev(meta.dev()) == rec.dev && meta.ino() == rec.ino)
        .then_some(path)
}

/// `event.action` and `event.type` for an operation.
fn action_of(operation: Operation) -> (&'static str, &'static str) {
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
    if let Some(venv) = enrich::venv_of(rec).filter(|_| matches!(c.manager, Manager::Pip)) {
        if !matches!(c.scope, Some(Scope::Root(_))) {
            return format!("venv:{}", event::lossless(&venv));
        }
    }
    if let Some(s) = &c.scope {
        return s.as_str().into_owned();
    }
    match c.manager {
        // Where the pip that ran lives (the script exec named, else the
        // interpreter): the system's, or a user's own (pyenv, ~/.local).
        Manager::Pip | Manager::Uv => {
            let home = |p: &[u8]| p.starts_with(b"/root/") || p.starts_with(b"/home/");
            if home(&rec.filename) || home(&rec.executable) {
                "user".to_owned()
            } else {
                "system".to_owned()
            }
        }
        Manager::Npm
        | Manager::Yarn
        | Manager::Pnpm
        | Manager::Bun
        | Manager::Composer
        | Manager::Bundler => match &run.facts.cwd {
            Some(cwd) => format!("project:{}", event::lossless(cwd)),
            None => "project".to_owned(),
        },
        Manager::Cargo
        | Manager::Go
        | Manager::Pipx
        | Manager::Gem
        | Manager::Cpan
        | Manager::Cpanm => "user".to_owned(),
        _ => "system".to_owned(),
    }
}

impl Monitor {
    /// Discovers the installers again after a run ended and refreshes the
    /// kernel's tables and the content matcher; a change is a state event.
    fn rediscover(&mut self, kernel: &mut KernelStream) -> Result<(), SinkError> {
        let done = match kernel.rediscover() {
            Ok(done) => done,
            Err(e) => {
                let mut alert = self.state_event("installers-rediscovery-failed");
                alert.event.kind = "alert";
                let mut error = Map::new();
                error.insert("rediscovery_error".into(), json!(e.to_string()));
                alert.swmon.counters = Some(error);
                return self.sink.write(&alert);
            }
        };
        if !done.changed() {
            return Ok(());
        }
        // Hashes cached by path are stale once a file changed.
        self.matcher = ContentMatcher::new(&kernel.tables.found);
        let mut e = self.state_event("installers-rediscovered");
        e.event.kind_type = vec!["change"];
        e.swmon.installers_found = Some(
            kernel
                .tables
                .found
                .iter()
                .map(|f| event::lossless(f.path.as_os_str().as_encoded_bytes()))
                .collect(),
        );
        e.swmon.counters = Some(
            [
                ("inodes_added", done.inodes_added),
                ("inodes_removed", done.inodes_removed),
                ("sizes_added", done.sizes_added),
                ("sizes_removed", done.sizes_removed),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect(),
        );
        self.sink.write(&e)
    }
}
