//! `swmon run`: the monitor, as stages joined by bounded queues. This
//! module starts them in order, runs until a signal (or a failure), and
//! stops them in order; each stage is its own module:
//!
//! ```text
//! ring buffer ─▶ kernel_reader ─q─▶ facts (thread) ─q─▶ ┐
//!                                                       ├▶ decide (thread) ─q─▶ writer (thread) ─▶ output
//! audit sockets ─▶ audit_reader ─q──────────────────────┘
//!                        └─q─▶ rules (thread: rule list, guard, restore) ─▶ writer
//!                                                                 writer ─q─▶ each --sink (thread) ─▶ journald, syslog
//! ```
//!
//! Readers never wait: a full queue drops the item and counts it, and each
//! counted loss becomes a live, rate-limited alert ([`losses`]). Start-up
//! order: the output is opened, the kernel stream loaded, the audit
//! sockets opened and the seed rules installed; then threads are spawned
//! and `monitor-started` is written. SIGHUP reopens the output and reads
//! the config file again ([`reload_config`]: what can change live is
//! applied, the rest said to need a restart); SIGINT,
//! SIGTERM and SIGQUIT stop: the readers drain, every run is decided, the
//! rules swmon added are removed, and `monitor-stopped` carries every
//! counter. A stalled output gets a bounded grace at stop; what could not
//! be written is said on standard error. The rules are removed on every
//! way out of [`run`] ([`rules::RulesOnExit`]).

pub mod audit_reader;
pub mod bounded;
pub mod changes;
pub mod counters;
pub mod decide;
pub mod dir_watch;
pub mod facts;
pub mod kernel_reader;
pub mod losses;
pub mod mismatch;
pub mod queue;
pub mod rules;
pub mod stages;
pub mod watchdog;
pub mod writer;

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;
use tokio::{
    signal::unix::{signal, Signal, SignalKind},
    sync::{mpsc, watch},
    task::JoinHandle,
};

use self::{
    audit_reader::{AuditCountersCell, AuditReader},
    counters::Counters,
    decide::Decide,
    rules::{AuditControl, RulesOnExit},
    stages::{Prog, Stage, Watch},
    writer::Writer,
};
use crate::{
    audit::{
        netlink::ControlSocket,
        rules::{self as audit_rules, RuleGuard},
        AuditError, AuditOptions, AuditStream,
    },
    correlate::verdict::AuditState,
    ebpf::{
        filter::{ContentMatcher, FoundInstaller},
        KernelStream, LoadError, LoadOptions,
    },
    enrich,
    event::{self, Event, EventMeta, Host, Swmon},
    sink::{Format, Sink, SinkError},
};

/// From a stop signal to exit, at most this long (rules removed first; the
/// writer gets what is left of it).
const STOP_BUDGET: Duration = Duration::from_millis(4500);
/// Bytes of audit events being assembled (records not yet complete).
const AUDIT_ASSEMBLY_BYTES: usize = 8 << 20;
/// At stop, a writer that wrote no line for this long is given up on.
const WRITER_GIVE_UP: Duration = Duration::from_millis(500);
/// Of that, the readers and the decide stage get at most this long.
const DRAIN_BUDGET: Duration = Duration::from_secs(2);
/// The queue from the facts stage to the decide stage.
const FACTS_QUEUE: usize = 1024;
const FACTS_QUEUE_BYTES: usize = 4 << 20;
/// Rule changes waiting for the rules stage.
const RULES_QUEUE: usize = 64;
/// How often the rules stage diffs the guarded rules against the kernel's.
const RULE_POLL: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub output: PathBuf,
    /// `--output-group`: the output file is 0640 with this group.
    pub output_group: Option<u32>,
    pub format: Format,
    pub load: LoadOptions,
    pub audit: AuditRunOptions,
    /// How often a `heartbeat` event carries every counter (`None`: never).
    pub heartbeat: Option<Duration>,
    /// `--sink`: where else events are shipped ([`crate::ship`]).
    pub sinks: Vec<crate::ship::Spec>,
    /// The config file, read again at SIGHUP (`None`: not from `swmon
    /// run`'s command line, as in tests).
    pub config: Option<crate::config::RunConfig>,
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
    /// Test only (see [`audit_reader`]): hold exec records while this
    /// file exists.
    pub test_hold: Option<PathBuf>,
}

impl Default for AuditRunOptions {
    fn default() -> Self {
        AuditRunOptions {
            enabled: true,
            rules: RulesMode::Keep,
            restore: false,
            wait: Duration::from_secs(2),
            rcvbuf: AuditOptions::default().rcvbuf,
            test_hold: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_that_panics_is_heard_of() {
        let (ended, mut rx) = Ended::channel("facts");
        let t = std::thread::spawn(move || {
            let _ended = ended;
            panic!("a stage fails");
        });
        assert!(t.join().is_err());
        assert_eq!(rx.try_recv().ok(), Some(("facts", true)));
        let (ended, mut rx) = Ended::channel("writer");
        drop(ended);
        assert_eq!(rx.try_recv().ok(), Some(("writer", false)));
    }
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
    #[error("can't start a stage: {0}")]
    Spawn(std::io::Error),
    #[error("{0}; stopped")]
    Stage(String),
    #[error("can't write output: {0}")]
    Output(String),
    #[error("the output stalled at stop: {0} lines not written (see above)")]
    OutputStalled(usize),
}

/// Tells the run's main loop that a stage's thread or task ended, when it
/// is dropped (a panic unwinding through the stage drops it too).
pub struct Ended {
    name: &'static str,
    tx: mpsc::UnboundedSender<(&'static str, bool)>,
}

impl Ended {
    pub fn new(name: &'static str, tx: &mpsc::UnboundedSender<(&'static str, bool)>) -> Ended {
        Ended {
            name,
            tx: tx.clone(),
        }
    }

    /// A lone guard and its receiver (for tests).
    pub fn channel(name: &'static str) -> (Ended, mpsc::UnboundedReceiver<(&'static str, bool)>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Ended::new(name, &tx), rx)
    }
}

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.tx.send((self.name, std::thread::panicking()));
    }
}

/// A state event of the monitor itself (`monitor-started`, `heartbeat`,
/// rule and health changes, losses).
pub fn state_event(host: &str, action: &'static str) -> Event {
    Event {
        ecs: crate::event::Ecs::default(),
        timestamp: event::timestamp(std::time::SystemTime::now()),
        event: EventMeta {
            kind: "state",
            category: vec!["host"],
            kind_type: vec![match action {
                "monitor-started" => "start",
                "heartbeat" | "audit-rules-installed" => "info",
                _ => "end",
            }],
            action,
            outcome: None,
        },
        process: None,
        user: None,
        package: None,
        host: Host {
            name: host.to_owned(),
        },
        swmon: Swmon {
            version: Some(env!("CARGO_PKG_VERSION")),
            ..Swmon::default()
        },
    }
}

/// The signals `swmon run` answers.
struct Signals {
    hup: Signal,
    int: Signal,
    term: Signal,
    quit: Signal,
}

impl Signals {
    fn install() -> Result<Signals, RunError> {
        let on = |k| signal(k).map_err(RunError::Signal);
        Ok(Signals {
            hup: on(SignalKind::hangup())?,
            int: on(SignalKind::interrupt())?,
            term: on(SignalKind::terminate())?,
            quit: on(SignalKind::quit())?,
        })
    }
}

/// The audit stream and its control side, opened before any thread.
struct AuditOpen {
    stream: AuditStream,
    control: Arc<Mutex<AuditControl>>,
}

impl AuditOpen {
    /// `found`: the installers the kernel stream watches (discovery with
    /// `--installer-dir`), which the seed rules watch too.
    fn open(options: &AuditRunOptions, found: &[FoundInstaller]) -> Result<AuditOpen, RunError> {
        let mut audit_options = AuditOptions {
            rcvbuf: options.rcvbuf,
            ..AuditOptions::default()
        };
        // The events being assembled count in swmon's memory budget (64 MiB
        // in all): 8 MiB, past which the oldest is flushed.
        audit_options.assembler.max_open_bytes = AUDIT_ASSEMBLY_BYTES;
        let stream = AuditStream::open(audit_options).map_err(RunError::Audit)?;
        let mut ctl = ControlSocket::open().map_err(RunError::Audit)?;
        let set = match options.rules {
            RulesMode::Keep => Vec::new(),
            RulesMode::Seed => audit_rules::seed_rules(found),
        };
        // Leftovers of dead runs removed, ours recorded under /run/swmon;
        // the guard removes them on drop, and the rules stage diffs them
        // against the kernel's list every poll interval.
        let guard = RuleGuard::start(&mut ctl, &set).map_err(RunError::Rules)?;
        Ok(AuditOpen {
            stream,
            control: Arc::new(Mutex::new(AuditControl::new(ctl, guard, options.restore))),
        })
    }
}

/// Why the main loop ended.
enum Stop {
    Signal(&'static str),
    Failed(RunError),
}

pub async fn run(options: RunOptions) -> Result<(), RunError> {
    // 1. The output first: a bad path is reported before anything loads.
    let sink = Sink::open(&options.output, options.format, options.output_group)?;
    let colour = sink.colour();
    let mut signals = Signals::install()?;
    watchdog::ignore_signals().map_err(|e| RunError::Signal(e.into()))?;
    // 2. The kernel stream.
    let kernel = KernelStream::load(&options.load)?;
    // 3. The audit sockets, and the seed rules.
    let mut audit_error = None;
    let audit = if options.audit.enabled {
        match AuditOpen::open(&options.audit, &kernel.tables.found) {
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
    // From here on, the rules swmon added are removed on every way out.
    let _rules_on_exit = RulesOnExit(audit.as_ref().map(|a| a.control.clone()));
    // The rule list also goes to the cross-check (`audit-record-missing`).
    let rule_list = audit
        .as_ref()
        .and_then(|a| crate::audit::rules::list_rules(&mut rules::lock(&a.control).ctl).ok());
    let rules_loaded = audit.is_some() && rule_list.as_ref().is_none_or(|r| !r.is_empty());
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

    // The state witness's folder watch (fanotify needs CAP_SYS_ADMIN).
    let watched: Vec<std::path::PathBuf> = kernel
        .tables
        .watched_dirs
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    let (dir_watch, folder_watch) = match dir_watch::DirWatch::open(&watched) {
        Ok((w, refused)) => {
            let dirs: Vec<String> = w
                .dirs()
                .map(|d| event::lossless(d.as_os_str().as_encoded_bytes()))
                .collect();
            (
                Some(w),
                json!({ "hook": "fanotify:FAN_MOVED_TO|FAN_CREATE", "dirs": dirs, "refused": refused }),
            )
        }
        Err(e) => (None, json!({ "error": e.to_string() })),
    };

    // PRIVILEGE DROP HOOK: before any thread is spawned. Capabilities are
    // per thread: every thread started after this has only the kept set
    // (privilege.rs). A failure here returns with the rules removed
    // (`_rules_on_exit`).
    let privileges = crate::privilege::drop_privileges(crate::privilege::Needs {
        audit: audit.is_some(),
        output_group: options.output_group,
    })?;

    // 4. The writer thread and the stages.
    let counters = Arc::new(Counters::default());
    let host = enrich::host_name();
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let drop_alert_host = host.clone();
    let ships = crate::ship::Ships::start(&options.sinks, &counters).map_err(RunError::Spawn)?;
    let writer = Writer::spawn(
        sink,
        colour,
        counters.clone(),
        ships.clone(),
        Box::new(move |count, total| {
            losses::lost_alert(&drop_alert_host, "writer_dropped", "writer", count, total)
        }),
        Ended::new("writer", &ended_tx),
    )
    .map_err(RunError::Spawn)?;
    let (stop_tx, stop_rx) = watch::channel(false);

    let (kernel_tx, kernel_rx) =
        queue::bounded(kernel_reader::QUEUE_RECORDS, kernel_reader::QUEUE_BYTES);
    let (facts_tx, facts_rx) = queue::bounded(FACTS_QUEUE, FACTS_QUEUE_BYTES);
    let mut stage_watch = Watch::new(Prog::Global);
    stage_watch.queue_gauge(Stage::Facts, kernel_rx.gauge());
    stage_watch.queue_gauge(Stage::Decide, facts_rx.gauge());
    {
        let w = writer.clone();
        stage_watch.queue(Stage::Writer, move || w.depth());
    }
    let matcher =
        ContentMatcher::new(&kernel.tables.found).with_interpreters(&kernel.tables.interpreters);
    let matcher_update = Arc::new(Mutex::new(None));
    let ebpf_ids = kernel.attachment_ids();
    let untrusted_dirs = kernel.tables.untrusted.clone();
    let lossless_path =
        |p: &std::path::PathBuf| crate::event::lossless(p.as_os_str().as_encoded_bytes());
    let state_witness = json!({
        "hook": "raw_tracepoint:writeback_dirty_folio",
        "attribute_hook": "raw_tracepoint:writeback_mark_inode_dirty",
        "folder_watch": folder_watch,
        "watched_dirs": kernel.tables.watched_dirs.iter().map(|(_, p)| lossless_path(p)).collect::<Vec<_>>(),
        "unwatched_dirs": kernel.tables.unwatched_dirs.iter().map(lossless_path).collect::<Vec<_>>(),
    });
    let found: Vec<String> = kernel
        .tables
        .found
        .iter()
        .map(|f| event::lossless(f.path.as_os_str().as_encoded_bytes()))
        .collect();
    {
        let counters = counters.clone();
        let ended = Ended::new("facts", &ended_tx);
        std::thread::Builder::new()
            .name("swmon-facts".into())
            .spawn({
                let update = matcher_update.clone();
                move || facts::run(kernel_rx, facts_tx, matcher, update, counters, ended)
            })
            .map_err(RunError::Spawn)?;
    }
    let mut dir_watch_task = dir_watch.map(|w| {
        tokio::spawn(dir_watch::run(
            w,
            kernel_tx.clone(),
            counters.clone(),
            stop_rx.clone(),
        ))
    });
    let mut kernel_task = Some(tokio::spawn(kernel_reader::run(
        kernel,
        kernel_tx,
        counters.clone(),
        writer.clone(),
        host.clone(),
        matcher_update,
        stop_rx.clone(),
    )));

    let audit_published: AuditCountersCell = Arc::new(Mutex::new(None));
    let mut rules_added = Vec::new();
    let mut audit_detail = None;
    let mut control = None;
    // Taken now: at stop, the guard's lock may be held by a stuck stage.
    let mut emergency = None;
    let (audit_task, audit_rx) = match audit {
        Some(a) => {
            emergency = Some(rules::lock(&a.control).guard.emergency());
            rules_added = rules::lock(&a.control)
                .guard
                .ours()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>();
            audit_detail = Some(json!({
                "rules_added": rules_added,
                "leftovers": rules::lock(&a.control).guard.leftovers(),
                "rcvbuf": a.stream.rcvbuf(),
                "wait_ms": options.audit.wait.as_millis() as u64,
            }));
            let (audit_tx, audit_rx) =
                queue::bounded(audit_reader::QUEUE_ITEMS, audit_reader::QUEUE_BYTES);
            stage_watch.queue_gauge(Stage::Decide, audit_rx.gauge());
            let (rules_tx, rules_rx) = std::sync::mpsc::sync_channel(RULES_QUEUE);
            // Its rule-list diff is always due: a rules stage that has not
            // moved for the stall time is stuck (a netlink request that
            // does not end), and its tamper checks with it.
            let rules_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
            {
                let alive = rules_alive.clone();
                stage_watch.queue(Stage::Rules, move || {
                    (
                        usize::from(alive.load(std::sync::atomic::Ordering::Relaxed)),
                        0,
                    )
                });
            }
            let (to_decide, from_rules) = mpsc::channel(RULES_QUEUE);
            {
                let (c, w, h, n) = (
                    a.control.clone(),
                    writer.clone(),
                    host.clone(),
                    counters.clone(),
                );
                let ended = Ended::new("rules", &ended_tx);
                std::thread::Builder::new()
                    .name("swmon-rules".into())
                    .spawn(move || {
                        rules::run(
                            rules_rx,
                            c,
                            RULE_POLL,
                            w,
                            to_decide,
                            h,
                            n,
                            rules_alive,
                            ended,
                        )
                    })
                    .map_err(RunError::Spawn)?;
            }
            let reader = AuditReader {
                daemon: initial.daemon,
                stream: a.stream,
                tx: audit_tx,
                rules: Some(rules_tx),
                counters: counters.clone(),
                published: audit_published.clone(),
                out: audit_reader::Outbox::default(),
                from_rules,
                test_hold: options
                    .audit
                    .test_hold
                    .clone()
                    .map(audit_reader::TestHold::new),
            };
            control = Some(a.control);
            (
                Some(tokio::spawn(reader.run(stop_rx.clone()))),
                Some(audit_rx),
            )
        }
        None => (None, None),
    };
    let mut decide = Decide::new(
        writer.clone(),
        counters.clone(),
        host.clone(),
        options.audit.wait,
        initial,
    );
    decide.note_executables(&watched);
    if let Some(list) = rule_list {
        decide
            .cross
            .set_rules(Arc::new(crate::audit::rules::LoadedRules::resolve(list)));
    }
    // The decide stage does the CPU work (joins, classification, JSON): on
    // its own thread, with its own timer, so it never delays the readers.
    let (decide_done_tx, mut decide_done) = tokio::sync::oneshot::channel::<()>();
    {
        let ended = Ended::new("decide", &ended_tx);
        std::thread::Builder::new()
            .name("swmon-decide".into())
            .spawn(move || {
                let _ended = ended;
                let _done = decide_done_tx;
                match tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                {
                    Ok(rt) => rt.block_on(decide.run(facts_rx, audit_rx)),
                    Err(e) => {
                        let _ = writeln!(
                            std::io::stderr(),
                            "swmon: can't start the decide stage: {e}"
                        );
                    }
                }
            })
            .map_err(RunError::Spawn)?;
    }

    // 5. `monitor-started`, first in the queue: no stage has run yet.
    let mut started = state_event(&host, "monitor-started");
    started.swmon.installers_found = Some(found);
    started.swmon.ebpf = Some(ebpf_ids);
    if let Some(e) = started.swmon.ebpf.as_mut().and_then(|v| v.as_object_mut()) {
        e.insert("state_witness".into(), state_witness);
    }
    started.swmon.privileges = Some(json!({
        "kept": privileges.kept,
        "no_new_privs": privileges.no_new_privs,
        "bounding_reduced": privileges.bounding_reduced,
        "bpf_kept": privileges.bpf_kept,
        "seccomp": privileges.seccomp,
        "held": privileges.held,
        "untrusted_installer_dirs": untrusted_dirs,
    }));
    started.swmon.audit = audit_detail;
    started.swmon.config = options.config.as_ref().map(crate::config::RunConfig::json);
    // The test-only hold is said wherever the monitor speaks of itself.
    let test_hold = options.audit.test_hold.as_ref().map(|p| {
        json!({ "test_hold_audit_while": crate::event::lossless(p.as_os_str().as_encoded_bytes()) })
    });
    if let Some(h) = &test_hold {
        match started.swmon.audit.as_mut() {
            Some(serde_json::Value::Object(o)) => {
                o.insert(
                    "test_hold_audit_while".into(),
                    h["test_hold_audit_while"].clone(),
                );
            }
            _ => started.swmon.audit = Some(h.clone()),
        }
    }
    writer.push_priority(&started);
    if !rules_added.is_empty() {
        let mut e = state_event(&host, "audit-rules-installed");
        e.event.kind_type = vec!["change"];
        e.swmon.rules = Some(rules_added);
        writer.push_priority(&e);
    }
    if let Some(error) = audit_error {
        let mut e = state_event(&host, "audit-unavailable");
        e.event.kind = "alert";
        e.swmon.audit = Some(json!({ "error": error }));
        writer.push_priority(&e);
    }

    let mut losses = losses::Losses::new(host.clone());
    let mut loss_tick = tokio::time::interval(Duration::from_secs(1));
    loss_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat_on = options.heartbeat;
    let mut heartbeat = heartbeat_interval(heartbeat_on);
    let mut config = options.config.clone();
    let mut audit_task = audit_task;
    let audit_snapshot = || {
        audit_published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    };

    let stop = loop {
        tokio::select! {
            _ = signals.hup.recv() => {
                writer.reopen();
                if let Some(config) = config.as_mut() {
                    let live = Live {
                        heartbeat: &mut heartbeat_on,
                        control: control.as_ref(),
                    };
                    let before = *live.heartbeat;
                    writer.push_priority(&reload_config(&host, config, live));
                    if heartbeat_on != before {
                        heartbeat = heartbeat_interval(heartbeat_on);
                    }
                }
            }
            _ = signals.int.recv() => break Stop::Signal("SIGINT"),
            _ = signals.term.recv() => break Stop::Signal("SIGTERM"),
            _ = signals.quit.recv() => break Stop::Signal("SIGQUIT"),
            r = join(&mut kernel_task) => {
                kernel_task = None;
                break Stop::Failed(match r {
                    Ok(Err(e)) => RunError::Ring(e),
                    Ok(Ok(_)) => RunError::Stage("the kernel reader ended".into()),
                    Err(e) => RunError::Stage(format!("the kernel reader failed: {e}")),
                });
            }
            r = join(&mut audit_task) => {
                audit_task = None;
                // A stream that failed for good has said so (`audit-unavailable`);
                // the kernel stream goes on. A panic stops the monitor.
                if let Err(e) = r {
                    break Stop::Failed(RunError::Stage(format!("the audit reader failed: {e}")));
                }
            }
            Some((name, panicked)) = ended_rx.recv() => {
                // The rules stage ends with the audit reader (a stream
                // that failed for good): the kernel stream goes on.
                let audit_gone = audit_task.as_ref().is_none_or(JoinHandle::is_finished);
                if name == "rules" && !panicked && audit_gone {
                    continue;
                }
                break Stop::Failed(if name == "writer" {
                    RunError::Output(match writer.ended() {
                        Some(Err(e)) => e,
                        _ => "the writer stopped".into(),
                    })
                } else {
                    RunError::Stage(format!(
                        "the {name} stage {}",
                        if panicked { "panicked" } else { "ended" }
                    ))
                });
            }
            _ = heartbeat.tick(), if heartbeat_on.is_some() => {
                let mut e = state_event(&host, "heartbeat");
                e.swmon.counters = Some(counters.to_map(audit_snapshot().as_ref()));
                e.swmon.stages = Some(stage_watch.snapshot());
                e.swmon.audit = test_hold.clone();
                writer.push_priority(&e);
            }
            _ = loss_tick.tick() => {
                losses.report(&counters, &writer);
                for s in stage_watch.check() {
                    writer.push_priority(&stalled_alert(&host, &s));
                }
            }
        }
    };

    // Stop: the readers drain, the facts stage and the decide stage finish
    // (their queues close in turn), within a bounded time.
    let stopping = tokio::time::Instant::now();
    // Past the budget (or at a second signal) the process ends itself,
    // rules removed, whatever the stop sequence is stuck on.
    drop(signals);
    watchdog::arm(emergency, STOP_BUDGET + Duration::from_secs(1));
    let _ = stop_tx.send(true);
    let drain_end = stopping + DRAIN_BUDGET;
    let mut drained = true;
    if let Some(t) = kernel_task.take() {
        drained &= finish(t, drain_end).await;
    }
    // Its queue end must close too for the facts stage to finish.
    if let Some(t) = dir_watch_task.take() {
        drained &= finish(t, drain_end).await;
    }
    if let Some(t) = audit_task.take() {
        drained &= finish(t, drain_end).await;
    }
    // The decide stage ends once both its inputs have closed; past the
    // deadline it is left (the writer takes nothing after
    // `monitor-stopped`).
    drained &= tokio::time::timeout_at(drain_end, &mut decide_done)
        .await
        .is_ok();
    losses.report(&counters, &writer);
    let mut c = counters.to_map(audit_snapshot().as_ref());
    if !drained {
        c.insert("stop_drain_timed_out".into(), json!(true));
        // What the decide stage still held: never reported.
        c.insert(
            "runs_lost_at_stop".into(),
            json!(Counters::get(&counters.runs_open)),
        );
    }
    if let Some(control) = &control {
        match rules::lock(control).remove_ours() {
            Some(Ok(removed)) => {
                c.insert(
                    "audit_rules_removed_at_stop".into(),
                    json!(removed.removed.len()),
                );
            }
            Some(Err(e)) => {
                c.insert("audit_rules_remove_error".into(), json!(e.to_string()));
            }
            None => {}
        }
    }
    let mut stopped = state_event(&host, "monitor-stopped");
    stopped.swmon.counters = Some(c);
    // What was still queued (lost with the stop, when the drain timed out).
    stopped.swmon.stages = Some(stage_watch.snapshot());
    stopped.swmon.reason = Some(match &stop {
        Stop::Signal(s) => s,
        Stop::Failed(_) => "failure",
    });
    writer.push_last(&stopped);
    writer.stop();
    let grace = STOP_BUDGET
        .saturating_sub(stopping.elapsed())
        .max(Duration::from_millis(500));
    // The sinks send what they hold meanwhile, within the same budget.
    let ships_deadline = std::time::Instant::now() + grace;
    ships.stop(ships_deadline);
    let written = wait_writer(&writer, &counters, grace).await;
    for (name, left) in ships.wait(ships_deadline) {
        let _ = writeln!(
            std::io::stderr(),
            "swmon: sink {name}: {left} lines not sent at stop"
        );
    }
    match (stop, written) {
        (Stop::Failed(e), _) => Err(e),
        (Stop::Signal(_), Some(Ok(()))) => Ok(()),
        (Stop::Signal(_), Some(Err(e))) => Err(RunError::Output(e)),
        (Stop::Signal(_), None) => {
            let left = writer.queued();
            let _ = writeln!(
                std::io::stderr(),
                "swmon: the output is stalled: {left} lines not written, monitor-stopped among \
                 them ({} dropped before, counted); the audit rules swmon added are removed",
                Counters::get(&counters.writer_dropped)
            );
            Err(RunError::OutputStalled(left))
        }
    }
}

/// The heartbeat's timer: its first tick one period from now.
fn heartbeat_interval(every: Option<Duration>) -> tokio::time::Interval {
    let every = every.unwrap_or(Duration::from_secs(3600));
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// What a config reload can change in a running monitor.
struct Live<'a> {
    /// `heartbeat-secs`: the main loop's timer.
    heartbeat: &'a mut Option<Duration>,
    /// `restore-rules`: the rules stage reads it at each change and poll
    /// (only with the audit stream open).
    control: Option<&'a Arc<Mutex<AuditControl>>>,
}

/// The options a reload applies live (the long names of `swmon run`'s).
const LIVE_HEARTBEAT: &str = "heartbeat-secs";
const LIVE_RESTORE: &str = "restore-rules";

/// SIGHUP: reads the config file again and applies what can change live
/// (`heartbeat-secs`; `restore-rules` with the audit stream open); every
/// other option keeps its value until a restart. `config-reloaded` lists
/// both; a bad file is `config-reload-failed` (an alert) with the error,
/// and nothing changes.
fn reload_config(host: &str, config: &mut crate::config::RunConfig, live: Live) -> Event {
    let mut names = vec![LIVE_HEARTBEAT];
    if live.control.is_some() {
        names.push(LIVE_RESTORE);
    }
    let path = crate::event::lossless(config.path().as_os_str().as_encoded_bytes());
    let reload = match config.reload(&names) {
        Ok(r) => r,
        Err(err) => {
            let mut e = state_event(host, "config-reload-failed");
            e.event.kind = "alert";
            e.event.kind_type = vec!["change"];
            e.event.outcome = Some("failure");
            e.swmon.config = Some(json!({ "path": path, "error": err.to_string() }));
            return e;
        }
    };
    let one =
        |c: &crate::config::Change| c.values.first().and_then(|v| v.to_str()).map(str::to_owned);
    for c in &reload.applied {
        match c.key.as_str() {
            LIVE_HEARTBEAT => {
                // clap checked it (0 to 86,400); 0: never.
                if let Some(secs) = one(c).and_then(|v| v.parse::<u64>().ok()) {
                    *live.heartbeat = (secs > 0).then(|| Duration::from_secs(secs));
                }
            }
            LIVE_RESTORE => {
                if let Some(control) = live.control {
                    rules::lock(control).restore = one(c).as_deref() == Some("true");
                }
            }
            _ => {}
        }
    }
    let mut e = state_event(host, "config-reloaded");
    e.event.kind_type = vec!["change"];
    e.event.outcome = Some("success");
    e.swmon.config = Some(reload.json(config.path()));
    e
}

/// `stage-stalled`: a stage has had items waiting and made no progress for
/// [`stages::STALL_AFTER`] (a hung thread: what it holds is not decided).
fn stalled_alert(host: &str, s: &stages::Stalled) -> Event {
    let mut e = state_event(host, "stage-stalled");
    e.event.kind = "alert";
    e.event.kind_type = vec!["info"];
    e.swmon.stages = Some(json!({
        "stage": s.stage,
        "queued": s.queued,
        "idle_ms": s.idle.as_millis() as u64,
    }));
    e
}

/// Waits for the writer to end, at most `grace`, and gives up early when
/// it wrote nothing for [`WRITER_GIVE_UP`] (a stalled output: the rest of
/// the budget would change nothing).
async fn wait_writer(
    writer: &Writer,
    counters: &Counters,
    grace: Duration,
) -> Option<Result<(), String>> {
    let deadline = tokio::time::Instant::now() + grace;
    let mut last = Counters::get(&counters.written);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let Some(r) = writer.wait(left.min(WRITER_GIVE_UP)).await {
            return Some(r);
        }
        let now = Counters::get(&counters.written);
        if now == last || tokio::time::Instant::now() >= deadline {
            return writer.ended();
        }
        last = now;
    }
}

/// Waits for a stopping task until `deadline`; past it, aborts it (so
/// nothing it would still queue can follow `monitor-stopped`).
async fn finish<T>(mut task: JoinHandle<T>, deadline: tokio::time::Instant) -> bool {
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(_) => true,
        Err(_) => {
            task.abort();
            false
        }
    }
}

/// Waits for a task that may already be done (then never resolves).
async fn join<T>(task: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}
