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
//! stall is an alert.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{
    counters::Counters,
    queue::{Full, Tx},
    stages::{self, Stage},
    state_event,
    writer::Writer,
};
use crate::{
    correlate::exec_bytes,
    ebpf::{
        decode::{self, ExitRecord, Record},
        KernelStream,
    },
};

/// A record on its way to the facts stage.
#[derive(Debug)]
pub enum KernelItem {
    Decoded(Record),
    /// Cheaper raw than decoded (see the module doc).
    Raw(Vec<u8>),
}

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
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<KernelStream> {
    let mut publish = tokio::time::interval(Duration::from_millis(250));
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut check = tokio::time::interval(Duration::from_millis(500));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let forward = |bytes: &[u8]| {
        Counters::add(&counters.kernel_records, 1);
        let (item, size) = match decode::decode(bytes) {
            Err(_) => {
                Counters::add(&counters.decode_errors, 1);
                return;
            }
            Ok(Record::Exit(exit)) => (
                KernelItem::Decoded(Record::Exit(exit)),
                std::mem::size_of::<ExitRecord>(),
            ),
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
                stages::mark(Stage::KernelReader);
            }
            _ = check.tick() => {
                for alert in kernel.tamper_alerts() {
                    let mut e = state_event(&host, alert.action);
                    e.event.kind = "alert";
                    e.swmon.ebpf = Some(alert.detail);
                    writer.push_priority(&e);
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
    Ok(kernel)
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
    ] {
        Counters::set(a, n);
    }
}
