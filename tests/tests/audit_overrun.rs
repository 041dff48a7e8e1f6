//! Overruns on the real kernel: an exec storm under an execve rule (this
//! test's own key) read through the forced 8 MiB buffer loses nothing, and
//! through a tiny buffer with a paused reader loses records that the stream
//! reports as overruns and serial gaps, and counts.
//!
//! The storm's rate is printed, not asserted: timing lives in benchmarks.

mod audit_common;

use std::{
    collections::HashSet,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use audit_common::{add, key, wait_for, HostAudit};
use swmon::audit::{rules::AuditRule, AuditItem, AuditOptions, AuditStream, EventEnd, LossSource};

const EXECVE: u32 = 59;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `/bin/true` from `threads` threads, paced to `rate` execs per
/// second in all, for `secs` seconds; returns the pids and the rate reached.
fn storm(rate: u32, secs: u32, threads: u32) -> (Vec<u32>, f64) {
    let start = Instant::now();
    let per_thread = rate * secs / threads;
    let interval = Duration::from_secs_f64(f64::from(threads) / f64::from(rate));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                let mut pids = Vec::with_capacity(per_thread as usize);
                for i in 0..per_thread {
                    let due = start + interval * i;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        // Pacing the load generator, not synchronising.
                        thread::sleep(wait);
                    }
                    let mut child = Command::new("/bin/true")
                        .stdin(Stdio::null())
                        .spawn()
                        .expect("spawn /bin/true");
                    pids.push(child.id());
                    assert!(child.wait().expect("wait").success());
                }
                pids
            })
        })
        .collect();
    let pids: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("storm thread"))
        .collect();
    let rate = pids.len() as f64 / start.elapsed().as_secs_f64();
    (pids, rate)
}

fn exec_pid(item: &AuditItem, k: &str) -> Option<(u32, bool)> {
    match item {
        AuditItem::Event(e) if e.keys().iter().any(|x| x == k.as_bytes()) => {
            let pid = e.syscall()?.pid()?;
            let whole = e.end == EventEnd::Eoe
                && e.argv().is_some_and(|a| {
                    a.args == [b"/bin/true".to_vec()] && a.flags == Default::default()
                });
            Some((pid, whole))
        }
        _ => None,
    }
}

/// What the 8 MiB test saw.
#[derive(Default)]
struct Tally {
    seen: HashSet<u32>,
    /// Pids whose event was not whole (any exec under the rule, ours or
    /// not; only ours are checked).
    broken: HashSet<u32>,
    losses: Vec<swmon::audit::Loss>,
}

impl Tally {
    fn take(&mut self, item: &AuditItem, k: &str) {
        if let Some((pid, whole)) = exec_pid(item, k) {
            self.seen.insert(pid);
            if !whole {
                self.broken.insert(pid);
            }
        }
        if let AuditItem::Loss(l) = item {
            self.losses.push(*l);
        }
    }
}

#[test]
fn an_exec_storm_through_8_mib_loses_nothing() {
    let host = HostAudit::save();
    host.enable();
    // Room in the kernel's own queue, so that only our socket is on trial.
    host.set_backlog_limit(16384);
    let k = key("storm8m");
    add(&AuditRule::syscalls(&[EXECVE], &k));
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions::default()).expect("open the stream");
        let lost_before = stream.status().map(|s| s.lost).unwrap_or(0);
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let storm = thread::spawn(move || {
            let r = storm(2000, 10, 2);
            flag.store(true, Ordering::Release);
            r
        });
        let mut t = Tally::default();
        while !done.load(Ordering::Acquire) {
            if let Ok(item) = tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
                t.take(&item.expect("stream"), &k);
            }
        }
        let (pids, rate) = storm.join().expect("storm");
        let want: HashSet<u32> = pids.iter().copied().collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !want.is_subset(&t.seen) && Instant::now() < deadline {
            if let Ok(item) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                t.take(&item.expect("stream"), &k);
            }
        }
        let c = stream.counters();
        let missing = want.difference(&t.seen).count();
        eprintln!(
            "8 MiB (granted {}): {} execs at {rate:.0}/s, {} events of ours, missing {missing}, counters {}",
            stream.rcvbuf(),
            pids.len(),
            want.intersection(&t.seen).count(),
            serde_json::to_string(&c).unwrap_or_default()
        );
        assert_eq!(c.overruns, 0, "overruns at 8 MiB");
        assert_eq!(missing, 0, "every exec assembled");
        let broken: Vec<_> = t.broken.intersection(&want).collect();
        assert!(broken.is_empty(), "incomplete events: {broken:?}");
        assert_eq!(
            stream.status().map(|s| s.lost).unwrap_or(0),
            lost_before,
            "the kernel lost records"
        );
        assert!(t.losses.is_empty(), "{:?}", t.losses);
        assert_eq!(c.assembler.evicted, 0);
    });
    drop(host);
}

#[test]
fn a_tiny_buffer_and_a_paused_reader_report_overruns_and_gaps() {
    let host = HostAudit::save();
    host.enable();
    host.set_backlog_limit(16384);
    let k = key("stormtiny");
    add(&AuditRule::syscalls(&[EXECVE], &k));
    rt().block_on(async {
        let mut stream = AuditStream::open(AuditOptions {
            rcvbuf: 4096,
            ..AuditOptions::default()
        })
        .expect("open the stream");
        // The reader pauses: nothing reads the stream while the storm runs.
        let (pids, rate) = storm(2000, 1, 2);
        // Execs after the pause, while reading again, give the serials past
        // the lost ones.
        let markers = thread::spawn(|| storm(100, 1, 1).0);
        let mut items = Vec::new();
        while !markers.is_finished() {
            if let Ok(item) = tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
                items.push(item.expect("stream"));
            }
        }
        let last = *markers.join().expect("markers").last().expect("a pid");
        if !items.iter().any(|i| exec_pid(i, &k).is_some_and(|(pid, _)| pid == last)) {
            items.extend(
                wait_for(&mut stream, "the last marker exec", Duration::from_secs(20), |i| {
                    exec_pid(i, &k).is_some_and(|(pid, _)| pid == last)
                })
                .await,
            );
        }
        if !items
            .iter()
            .any(|i| matches!(i, AuditItem::Loss(l) if l.source == LossSource::SerialGap))
        {
            items.extend(
                wait_for(&mut stream, "a serial gap", Duration::from_secs(20), |i| {
                    matches!(i, AuditItem::Loss(l) if l.source == LossSource::SerialGap)
                })
                .await,
            );
        }
        // What is still queued, and the end of input: every count reported.
        items.extend(stream.finish());
        let c = stream.counters();
        let seen: HashSet<u32> = items.iter().filter_map(|i| exec_pid(i, &k)).map(|(p, _)| p).collect();
        let got = pids.iter().filter(|p| seen.contains(p)).count();
        eprintln!(
            "tiny (asked 4096, granted {}): {} execs at {rate:.0}/s, {got} events of ours arrived, counters {}",
            stream.rcvbuf(),
            pids.len(),
            serde_json::to_string(&c).unwrap_or_default()
        );
        assert!(c.overruns > 0, "no overrun with a tiny buffer");
        assert!(c.assembler.serial_gaps > 0, "no serial gap counted");
        assert!(got < pids.len(), "everything arrived through a tiny buffer");
        let overrun_items: u64 = items
            .iter()
            .filter_map(|i| match i {
                AuditItem::Loss(l) if l.source == LossSource::Overrun => Some(l.count),
                _ => None,
            })
            .sum();
        assert_eq!(overrun_items, c.overruns, "every overrun was reported");
        let gap_items: u64 = items
            .iter()
            .filter_map(|i| match i {
                AuditItem::Loss(l) if l.source == LossSource::SerialGap => Some(l.count),
                _ => None,
            })
            .sum();
        assert_eq!(gap_items, c.assembler.serial_gaps, "every gap was reported");
    });
    drop(host);
}
