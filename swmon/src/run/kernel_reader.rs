//! The kernel reader: decodes ring-buffer records (a bounded parse, no
//! system call) into the facts stage's bounded queue and nothing else, so
//! the ring buffer is drained as fast as it signals. A decoded record is
//! usually a few hundred bytes where the ring's is a fixed 9.6 KiB, so the
//! queue holds many more; a record whose decoded form would cost more (a
//! hostile argv of thousands of one-byte arguments costs twenty times its
//! bytes) is queued raw instead, and decoded by the facts stage. It reads in capped batches and yields between them (the
//! other stages on the runtime thread get their turn). A full queue drops
//! the record and counts it (`kernel_queue_dropped`, with a live alert); the
//! reader never waits for room. It also copies the eBPF program's counters
//! to the shared counters, and every 500 ms checks that the kernel side is
//! still whole (links, tail-call stages, `seen` moving): a detach or a
//! stall is an alert. When an installer run has ended since the last check
//! (an exit record came: only passed processes report theirs), the host's
//! installers are discovered again off the thread (`spawn_blocking`: an
//! `apt upgrade dpkg` changes its inode and size), and the kernel's tables
//! and the facts stage's content matcher are brought up to date.
//!
//! With `--ebpf-log` it also reads aya-log's ring as soon as it signals and
//! writes each record as an `ebpf-log` event (through the writer's ordinary
//! queue: a flood of them is dropped and counted there before a state
//! event is); every 250 ms it compares the kernel's count of records with
//! those read (`ebpf_log_lost`, a live alert).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use serde_json::json;
use tokio::{sync::watch, task::JoinHandle};

use super::{
    counters::Counters,
    facts::MatcherUpdate,
    queue::{Full, Tx},
    stages::{self, Stage},
    state_event,
    writer::Writer,
};
use crate::{
    correlate::exec_bytes,
    ebpf::{
        decode::{self, ExitRecord, Record},
        filter::{ContentMatcher, FilterTables},
        log::{KernelLog, LogTally},
        EbpfLog, KernelStream,
    },
    event,
};

/// A record on its way to the facts stage.
#[derive(Debug)]
pub enum KernelItem {
    Decoded(Record),
    /// Cheaper raw than decoded (see the module doc).
    Raw(Vec<u8>),
    /// Every record the kernel submitted before this boot time is ahead
    /// of it (or was dropped, counted): passed on in order down to decide,
    /// which declares an `audit_only` only once the kernel stream has got
    /// past the audit record.
    Watermark(u64),
}

/// How often the reader drains the ring on its own and sends a watermark.
pub const WATERMARK_EVERY: Duration = Duration::from_millis(100);

/// Most records read before yielding.
pub const BATCH: usize = 256;
/// The queue to the facts stage: records and bytes.
pub const QUEUE_RECORDS: usize = 16_384;
pub const QUEUE_BYTES: usize = 8 << 20;

/// Reads until `stop` turns true, then drains what is left; returns the
/// stream (its program stays attached until it is dropped).
pub async fn run(
    mut kernel: KernelStream,
    tx: Tx<KernelItem>,
    counters: Arc<Counters>,
    writer: Writer,
    host: String,
    matcher_update: MatcherUpdate,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<KernelStream> {
    let mut publish = tokio::time::interval(Duration::from_millis(250));
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watermark = tokio::time::interval(WATERMARK_EVERY);
    watermark.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut check = tokio::time::interval(Duration::from_millis(500));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // An installer run ended since the last check; a discovery under way.
    let run_ended = AtomicBool::new(false);
    let mut discovering: Option<JoinHandle<FilterTables>> = None;
    let mut elog = kernel.take_log();
    let mut tally = LogTally::default();
    let write_log = |records: Vec<KernelLog>, tally: &mut LogTally| {
        tally.read += records.len() as u64;
        Counters::set(&counters.ebpf_log_read, tally.read);
        for r in records {
            writer.push(&log_event(&host, &r));
        }
    };
    let forward = |bytes: &[u8]| {
        Counters::add(&counters.kernel_records, 1);
        let (item, size) = match decode::decode(bytes) {
            Err(_) => {
                Counters::add(&counters.decode_errors, 1);
                return;
            }
            Ok(Record::Exit(exit)) => (
                {
                    run_ended.store(true, Ordering::Relaxed);
                    KernelItem::Decoded(Record::Exit(exit))
                },
                std::mem::size_of::<ExitRecord>(),
            ),
            Ok(Record::State(rec)) => {
                let cost = super::changes::record_bytes(&rec);
                (KernelItem::Decoded(Record::State(rec)), cost)
            }
            Ok(Record::Exec(rec)) => {
                let cost = exec_bytes(&rec);
                if cost <= bytes.len() {
                    (KernelItem::Decoded(Record::Exec(rec)), cost)
                } else {
                    (KernelItem::Raw(bytes.to_vec()), bytes.len())
                }
            }
        };
        if let Err(Full::Full | Full::Closed) = tx.try_send(item, size) {
            Counters::add(&counters.kernel_queue_dropped, 1);
        }
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = publish.tick() => {
                publish_counters(&kernel, &counters);
                if let Some(l) = elog.as_mut() {
                    // The count first, then a full drain (see LogTally).
                    let written = Counters::get(&counters.ebpf_log_records);
                    write_log(l.drain(), &mut tally);
                    tally.update(written);
                    Counters::set(&counters.ebpf_log_lost, tally.lost);
                }
                stages::mark(Stage::KernelReader);
            }
            r = read_log(&mut elog) => {
                write_log(r?, &mut tally);
            }
            _ = watermark.tick() => {
                // Taken before the drain: whatever was submitted before it
                // is read now (at most a ring's worth) and queued ahead.
                let t = event::boot_ns_now();
                kernel.drain(forward);
                // A full queue: the next tick tries again.
                let _ = tx.try_send(KernelItem::Watermark(t), 16);
            }
            _ = check.tick() => {
                for alert in kernel.tamper_alerts() {
                    let mut e = state_event(&host, alert.action);
                    e.event.kind = "alert";
                    e.swmon.ebpf = Some(alert.detail);
                    writer.push_priority(&e);
                }
                if discovering.is_none() && run_ended.swap(false, Ordering::Relaxed) {
                    let dirs = kernel.extra_dirs().to_vec();
                    discovering = Some(tokio::task::spawn_blocking(move || {
                        FilterTables::discover(&dirs)
                    }));
                }
            }
            found = join(&mut discovering) => {
                discovering = None;
                match found {
                    Ok(tables) => rediscovered(&mut kernel, tables, &matcher_update, &writer, &host),
                    Err(e) => failed(&writer, &host, &e.to_string()),
                }
            }
            r = kernel.read_batch(BATCH, forward) => {
                r?;
                stages::mark(Stage::KernelReader);
                tokio::task::yield_now().await;
            }
        }
    }
    kernel.drain(forward);
    publish_counters(&kernel, &counters);
    if let Some(l) = elog.as_mut() {
        let written = Counters::get(&counters.ebpf_log_records);
        write_log(l.drain(), &mut tally);
        tally.update(written);
        Counters::set(&counters.ebpf_log_lost, tally.lost);
    }
    Ok(kernel)
}

/// Waits for `--ebpf-log` records (never resolves when the flag is off).
async fn read_log(elog: &mut Option<EbpfLog>) -> std::io::Result<Vec<KernelLog>> {
    match elog {
        Some(l) => l.read().await,
        None => std::future::pending().await,
    }
}

/// An `ebpf-log` event: one record of the kernel's account of a candidate
/// exec, in `swmon.ebpf` (see `ebpf::log::KernelLog::to_json`).
fn log_event(host: &str, record: &KernelLog) -> event::Event {
    let mut e = state_event(host, "ebpf-log");
    e.event.kind = "event";
    e.event.category = vec!["process"];
    e.event.kind_type = vec!["info"];
    e.swmon.ebpf = Some(record.to_json());
    e
}

/// Brings the kernel's tables (and the facts stage's matcher) to a new
/// discovery; a change is an `installers-rediscovered` state event, a
/// failure an alert.
fn rediscovered(
    kernel: &mut KernelStream,
    tables: FilterTables,
    matcher_update: &MatcherUpdate,
    writer: &Writer,
    host: &str,
) {
    let done = match kernel.apply_tables(tables) {
        Ok(done) => done,
        Err(e) => return failed(writer, host, &e.to_string()),
    };
    if !done.changed() {
        return;
    }
    *matcher_update
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(
        ContentMatcher::new(&kernel.tables.found).with_interpreters(&kernel.tables.interpreters),
    );
    let mut e = state_event(host, "installers-rediscovered");
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
            ("elf_keys_added", done.elf_keys_added),
            ("elf_keys_removed", done.elf_keys_removed),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect(),
    );
    // What was left out, as at start (`monitor-started`).
    e.swmon.privileges = Some(json!({
        "untrusted_installer_dirs": kernel.tables.untrusted,
    }));
    writer.push_priority(&e);
}

/// The least time between two `installers-rediscovery-failed` alerts: a
/// failure that repeats at every installer run's end is one alert a minute,
/// with how many were held back.
const FAILED_ALERT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// When the last failure alert went out, and the failures since.
static LAST_FAILED: std::sync::Mutex<Option<(std::time::Instant, u64)>> =
    std::sync::Mutex::new(None);

fn failed(writer: &Writer, host: &str, error: &str) {
    let now = std::time::Instant::now();
    let held_back = {
        let mut last = LAST_FAILED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some((at, ref mut n)) if now.duration_since(at) < FAILED_ALERT_EVERY => {
                *n += 1;
                return;
            }
            Some((_, n)) => {
                *last = Some((now, 0));
                n
            }
            None => {
                *last = Some((now, 0));
                0
            }
        }
    };
    let mut e = state_event(host, "installers-rediscovery-failed");
    e.event.kind = "alert";
    let mut detail = serde_json::Map::new();
    detail.insert("rediscovery_error".into(), json!(error));
    detail.insert("rediscovery_failures_held_back".into(), json!(held_back));
    e.swmon.counters = Some(detail);
    writer.push_priority(&e);
}

/// Waits for a task that may not exist (then never resolves).
async fn join<T>(task: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

pub fn publish_counters(kernel: &KernelStream, c: &Counters) {
    let k = kernel.counters();
    for (a, n) in [
        (&c.seen, k.seen),
        (&c.passed, k.passed),
        (&c.exec_reserve_failed, k.exec_reserve_failed),
        (&c.exit_reserve_failed, k.exit_reserve_failed),
        (&c.interpreter_dropped, k.interpreter_dropped),
        (&c.track_failed, k.track_failed),
        (&c.exits, k.exits),
        (&c.stage_failed, k.stage_failed),
        (&c.ebpf_log_records, k.log_records),
        (&c.argv_unreadable, k.argv_unreadable),
        (&c.state_matched, k.state_matched),
        (&c.state_sent, k.state_sent),
        (&c.state_reserve_failed, k.state_reserve_failed),
    ] {
        Counters::set(a, n);
    }
}
