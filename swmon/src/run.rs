//! `swmon run`: the monitor's main loop. It loads the kernel stream, turns
//! its records into installer runs, and writes one event per run, between a
//! `monitor-started` line (written once the program is attached: scripts
//! wait for it) and a `monitor-stopped` line carrying every loss counter.
//!
//! Nothing here blocks the kernel: the ring buffer is read as soon as it
//! signals, and a slow sink only delays reading (the kernel counts what it
//! could not reserve meanwhile).

use std::{path::PathBuf, time::Duration};

use serde_json::{json, Map, Value};
use swmon_common::{flag, reason};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    catalogue::{self, Manager, Role},
    classify::{self, Classification, Operation, Scope},
    correlate::{Correlator, Facts, Run},
    ebpf::{
        decode::{self, ExecRecord, Record},
        filter::{basename, ContentMatcher},
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
    pub format: Format,
    pub load: LoadOptions,
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
    events: u64,
}

struct Monitor {
    sink: Sink,
    clock: Clock,
    host: String,
    names: Names,
    matcher: ContentMatcher,
    correlator: Correlator,
    counters: Counters,
    /// Kernel losses already reported as `ebpf-events-lost`.
    reported_kernel_loss: u64,
}

pub async fn run(options: RunOptions) -> Result<(), RunError> {
    // Open the output first: a bad path is reported before anything loads.
    let sink = Sink::open(&options.output, options.format)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut kernel = KernelStream::load(&options.load)?;
    let mut monitor = Monitor {
        sink,
        clock: Clock::now(),
        host: enrich::host_name(),
        names: Names::default(),
        matcher: ContentMatcher::new(&kernel.tables.found),
        correlator: Correlator::new(MAX_OPEN_RUNS),
        counters: Counters::default(),
        reported_kernel_loss: 0,
    };
    let found: Vec<String> = kernel
        .tables
        .found
        .iter()
        .map(|f| event::lossless(f.path.as_os_str().as_encoded_bytes()))
        .collect();
    let mut started = monitor.state_event("monitor-started");
    started.swmon.installers_found = Some(found);
    monitor.sink.write(&started)?;

    let mut sweep = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = kernel.read(|bytes| monitor.on_record(bytes)) => {
                r.map_err(RunError::Ring)?;
                monitor.flush_ready()?;
            }
            _ = sweep.tick() => {
                monitor.sweep();
                monitor.flush_ready()?;
                monitor.report_kernel_loss(&kernel)?;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        }
    }

    kernel.drain(|bytes| monitor.on_record(bytes));
    monitor.flush_ready()?;
    monitor.report_kernel_loss(&kernel)?;
    for run in monitor.correlator.drain() {
        monitor.emit_run(&run)?;
    }
    let mut stopped = monitor.state_event("monitor-stopped");
    stopped.swmon.counters = Some(monitor.counter_map(&kernel));
    monitor.sink.write(&stopped)?;
    Ok(())
}

thread_local! {
    static READY: std::cell::RefCell<Vec<Run>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Monitor {
    fn on_record(&mut self, bytes: &[u8]) {
        match decode::decode(bytes) {
            Ok(Record::Exec(rec)) => self.on_exec(*rec),
            Ok(Record::Exit(exit)) => {
                if let Some(run) = self.correlator.on_exit(exit) {
                    READY.with(|r| r.borrow_mut().push(run));
                }
            }
            Err(_) => self.counters.decode_errors += 1,
        }
    }

    fn on_exec(&mut self, rec: ExecRecord) {
        let mut sha256 = None;
        let mut rec = rec;
        if rec.reasons & reason::SIZE != 0 && rec.reasons & !(reason::SIZE | reason::FILELESS) == 0
        {
            // A copy candidate: only its content can tell.
            match self.matcher.identify(&enrich::proc_exe(rec.pid), rec.size) {
                Some((id, hash)) => {
                    rec.installer_id = Some(id);
                    sha256 = Some(hash);
                }
                None => {
                    if enrich::start_boot_ns(rec.tgid).is_some() {
                        self.counters.content_mismatch += 1;
                    } else {
                        self.counters.content_unreadable += 1;
                    }
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
            cwd: enrich::cwd(rec.pid),
            sha256,
            ancestors: enrich::ancestors(rec.ppid),
            placement: enrich::placement(rec.pid),
            tty: enrich::Stat::read(rec.pid).and_then(|s| enrich::tty_name(s.tty_nr)),
        };
        if let Some(evicted) = self.correlator.on_exec(rec, facts) {
            READY.with(|r| r.borrow_mut().push(evicted));
        }
    }

    fn sweep(&mut self) {
        let now = event::boot_ns_now();
        let ended =
            self.correlator
                .sweep(now, SWEEP_MIN_AGE.as_nanos() as u64, enrich::start_boot_ns);
        READY.with(|r| r.borrow_mut().extend(ended));
    }

    fn flush_ready(&mut self) -> Result<(), SinkError> {
        let ready = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
        for run in ready {
            self.emit_run(&run)?;
        }
        Ok(())
    }

    fn emit_run(&mut self, run: &Run) -> Result<(), SinkError> {
        let e = self.run_event(run);
        self.counters.events += 1;
        self.sink.write(&e)
    }

    fn run_event(&mut self, run: &Run) -> Event {
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
        let (action, kind_type) = match operation {
            Operation::Install => ("package-install", "installation"),
            Operation::Remove => ("package-remove", "deletion"),
            Operation::Upgrade => ("package-upgrade", "change"),
            Operation::Query | Operation::Other => ("installer-exec", "info"),
        };
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
                kind: "event",
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
                verdict: Some("ebpf_only"),
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
            "runs_started": c.runs_started,
            "runs_finished": c.runs_finished,
            "exits_missing": c.exits_missing,
            "runs_evicted": c.evicted,
            "orphan_exits": c.orphan_exits,
            "chain_trimmed": c.chain_trimmed,
            "events": u.events,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
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
        Manager::Pip | Manager::Uv => {
            if rec.executable.starts_with(b"/usr/") {
                "system".to_owned()
            } else {
                "user".to_owned()
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
