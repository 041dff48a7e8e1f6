//! Every counter of `swmon run`, in one shared struct of atomics: the
//! stages add to it, and the `heartbeat`, the live loss alerts and
//! `monitor-stopped` all read the same numbers.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The counters (see each field); all start at zero.
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl Counters {
            /// Every counter by name, in declaration order.
            pub fn all(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
            }
        }
    };
}

counters! {
    // Kept by the eBPF program (copied here by the kernel reader).
    seen,
    passed,
    exec_reserve_failed,
    exit_reserve_failed,
    interpreter_dropped,
    track_failed,
    exits,
    stage_failed,
    /// `--ebpf-log`: records the programs wrote or tried to write.
    ebpf_log_records,
    /// argv reads from user memory that failed in the kernel.
    argv_unreadable,
    /// Writes to package state the kernel matched (see
    /// `swmon_common::counter::STATE_MATCHED`).
    state_matched,
    /// State-write records the kernel sent.
    state_sent,
    /// State-write records lost to a full ring buffer.
    state_reserve_failed,
    // The state witness (decide stage).
    /// State-write records that reached the decide stage.
    state_writes,
    /// Of them, those an open installer run (the writer's or an
    /// ancestor's) owned.
    state_attributed,
    /// Attribute changes of files in watched `PATH` folders that were
    /// executable when swmon started (`chown -R`, a `chmod` to the same
    /// mode): no install.
    state_attr_ignored,
    /// State-only activities not reported: all they did was put the
    /// alternatives system's links (to `/etc/alternatives/`, ending at a
    /// file of root's no one else may write) into `PATH` folders.
    state_root_links,
    /// State-only activities reported (`no-installer-exec`).
    state_only,
    /// Early events (`event.type: start`) of runs still going when their
    /// verdict so far was decided.
    early_events,
    /// Runs that got no early event because too many were waiting for
    /// one.
    early_skipped,
    /// Changes of nested runs whose parent run was decided before them
    /// (not in the parent's `swmon.changes`; still in their own event).
    state_nested_lost,
    /// State-only activities reported early because too many were open.
    state_activities_evicted,
    /// Entries the folder watch saw appear in a watched `PATH` folder.
    state_watch_events,
    /// Times the folder watch's fanotify queue overflowed (entries lost).
    state_watch_overflow,
    /// The folder watch stopped on an error (no more entries seen).
    state_watch_failed,
    /// Places of state writes not kept (past the cap of a run or
    /// activity), or not placed on the host (no mount swmon sees).
    state_units_dropped,
    // The kernel reader.
    /// Ring-buffer records read.
    kernel_records,
    /// Records dropped because the queue to the facts stage was full.
    kernel_queue_dropped,
    /// `--ebpf-log` records read from aya-log's ring.
    ebpf_log_read,
    /// `--ebpf-log` records the kernel counted but the log ring had no
    /// room for (at least this many: see `ebpf::log::LogTally`).
    ebpf_log_lost,
    // The facts stage.
    decode_errors,
    /// Kernel matches the catalogue's full rules rejected.
    rejected,
    /// Size-matched candidates whose content was no installer's.
    content_mismatch,
    /// Copy candidates (size or ELF key) gone before their content could
    /// be read.
    content_unreadable,
    /// Fileless size-matched candidates reported without their content.
    content_unverified,
    /// Near-copy candidates (an installer's ELF key) whose build ID is no
    /// installer's: another build of it, or a rewritten build ID; each is
    /// reported (`unverified`, `build_id_flag: mismatch`).
    near_copy_mismatch,
    /// Near-copy candidates with no build ID, or with malformed ELF notes
    /// (refused by the bounded reader): reported unverified.
    near_copy_unconfirmed,
    /// Interpreter execs whose argv was longer than the kernel's copy (or
    /// unreadable there) and could not be read whole from `/proc` (gone,
    /// or over the cap): classified on what the kernel copied, an
    /// installer in the rest missed.
    interpreter_argv_unread,
    /// Programs of explicit loader execs (`ld.so ./prog`, naming no
    /// installer) that could not be opened as the process (gone, not
    /// readable by its user, a remote file system, stuck): not identified.
    loader_program_unread,
    /// Ancestors whose argv was cut to the per-string cap.
    ancestor_args_cut,
    /// Local package files given up at the read deadline (a read stuck on
    /// a hung file system).
    package_file_stuck,
    /// Records whose host reads (`/proc`, the executable's content, a
    /// writer's command line) were given up at the facts stage's deadline
    /// (a read stuck on a hung file system): sent on with what the kernel
    /// captured, flagged `swmon.facts_unread: timed-out`.
    facts_timed_out,
    /// Records sent on with the kernel's facts alone because every host
    /// reader the facts stage may keep is stuck (`facts_unread: busy`).
    facts_busy,
    /// Reads of package state given up at the decide stage's deadline (a
    /// read stuck on a hung file system): what they were to read is
    /// `unread` (`timed-out`).
    state_read_timed_out,
    /// Reads of package state not done because every state reader is
    /// stuck (`reader-busy`).
    state_read_busy,
    // The audit reader.
    /// Audit items dropped because the queue to the decide stage was full.
    audit_queue_dropped,
    /// Rule changes not checked because the rules stage was busy.
    rules_queue_dropped,
    /// Audit execs whose argv was cut to the per-exec cap.
    audit_argv_cut,
    /// Audit events flushed before they were complete (the assembler's
    /// byte budget), and records that did not parse (copied from the
    /// audit stream's counters, for the live loss alert).
    audit_events_evicted,
    audit_parse_errors,
    /// Syscall records of an arch other than x86_64 and i386, ignored.
    audit_foreign_arch,
    // The rules stage.
    /// Rule-list diffs done, and those that could not read the list.
    rule_polls,
    rule_poll_errors,
    /// What the rules stage had to tell the decide stage after the audit
    /// reader was gone (at stop, or after the stream failed).
    rules_told_dropped,
    // The decide stage.
    runs_started,
    runs_finished,
    exits_missing,
    runs_evicted,
    orphan_exits,
    chain_trimmed,
    /// Module-load records of a process that already is an installer run
    /// (plain `pip install` reads pip's entry module too): joined to it,
    /// no second run.
    module_loads_joined,
    confirmed,
    ebpf_only,
    audit_only,
    audit_execs,
    audit_execs_dropped,
    decided_early,
    /// Decided runs a late audit record corrected (`verdict-amended`).
    verdicts_amended,
    /// Decided runs forgotten at the cap before a late record could come.
    decided_forgotten,
    /// `audit_only` declared at the cap before the kernel stream's
    /// watermark got past the record.
    audit_only_capped,
    /// Run and audit-only events built.
    events,
    /// Runs not decided yet (a gauge): at a stop whose drain timed out,
    /// these are lost (`runs_lost_at_stop` in `monitor-stopped`).
    runs_open,
    // The writer.
    /// Lines written.
    written,
    /// Events dropped because the writer's queue was full (a stalled output).
    writer_dropped,
    /// Lines shrunk to the line cap (fields cut, flagged in the line).
    lines_cut,
    /// Output reopened (SIGHUP).
    reopened,
    /// A SIGHUP reopen that failed: lines still go to the old file, which
    /// logrotate may delete (a live alert).
    reopen_failed,
    // The shipping sinks (`--sink`, `ship`), all sinks summed.
    /// Lines sent to a sink.
    sink_sent,
    /// Lines a sink's queue had no room for (the sink down or slow for
    /// longer than its queue lasts), or still queued when the stop's
    /// budget ran out.
    sink_dropped,
    /// Lines a sink could not take at all (larger than its socket allows):
    /// not sent, never cut.
    sink_refused,
    /// Times a sink connected again after losing its connection.
    sink_reconnects,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    /// Kernel losses: reservations that failed and failed tail calls.
    pub fn kernel_lost(&self) -> u64 {
        Self::get(&self.exec_reserve_failed)
            + Self::get(&self.exit_reserve_failed)
            + Self::get(&self.stage_failed)
            + Self::get(&self.state_reserve_failed)
    }

    /// The counters as the `swmon.counters` object, with `lost` (kernel
    /// losses and undecodable records) and `audit` (the audit stream's own
    /// counters, when it is open).
    pub fn to_map(&self, audit: Option<&Value>) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "lost".into(),
            json!(self.kernel_lost() + Self::get(&self.decode_errors)),
        );
        for (name, v) in self.all() {
            m.insert(name.into(), json!(v));
        }
        if let Some(a) = audit {
            m.insert("audit".into(), a.clone());
        }
        m
    }
}

/// The user-space loss counters that get a live alert (`events-lost`,
/// rate-limited), with where the loss happened. Kernel losses have their
/// own alert (`ebpf-events-lost`); the writer's drops are alerted by the
/// writer itself once it drains (its queue may be full).
pub const LIVE_LOSSES: &[(&str, &str)] = &[
    ("decode_errors", "facts"),
    ("kernel_queue_dropped", "kernel-reader"),
    ("ebpf_log_lost", "ebpf-log"),
    ("audit_queue_dropped", "audit-reader"),
    ("audit_events_evicted", "audit-reader"),
    ("audit_parse_errors", "audit-reader"),
    ("rules_queue_dropped", "audit-reader"),
    ("rules_told_dropped", "rules"),
    ("content_unreadable", "facts"),
    ("interpreter_argv_unread", "facts"),
    ("loader_program_unread", "facts"),
    ("argv_unreadable", "kernel"),
    ("package_file_stuck", "facts"),
    ("facts_timed_out", "facts"),
    ("facts_busy", "facts"),
    ("state_read_timed_out", "decide"),
    ("state_read_busy", "decide"),
    ("runs_evicted", "decide"),
    ("state_units_dropped", "decide"),
    ("state_watch_overflow", "dir-watch"),
    ("state_watch_failed", "dir-watch"),
    ("audit_execs_dropped", "decide"),
    ("decided_early", "decide"),
    ("decided_forgotten", "decide"),
    ("reopen_failed", "writer"),
    ("sink_dropped", "sink"),
    ("sink_refused", "sink"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_live_loss_is_a_counter() {
        let c = Counters::default();
        Counters::add(&c.decode_errors, 2);
        Counters::add(&c.exec_reserve_failed, 1);
        let names: Vec<_> = c.all().into_iter().map(|(n, _)| n).collect();
        for (name, _) in LIVE_LOSSES {
            assert!(names.contains(name), "{name}");
        }
        let m = c.to_map(None);
        assert_eq!(m["lost"], 3);
        assert_eq!(m["decode_errors"], 2);
    }
}
