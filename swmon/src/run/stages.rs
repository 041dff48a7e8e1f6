//! Each stage's liveness, for the `heartbeat` and the `stage-stalled`
//! alert: the stages mark their progress (an item handled, or a turn of
//! their loop), and the main loop reads, once a second, how long ago each
//! stage last moved and how deep its input queue is. A stage with items
//! waiting and no progress for [`STALL_AFTER`] is stalled: a hung facts or
//! decide thread is seen while the main thread still heartbeats.

#[cfg(test)]
use std::sync::Arc;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use serde_json::{json, Map, Value};

use super::queue::Gauge;

/// No progress this long with a non-empty input queue: stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

/// The stages that report progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    KernelReader,
    Facts,
    AuditReader,
    Decide,
    Writer,
    Rules,
}

const ALL: [Stage; 6] = [
    Stage::KernelReader,
    Stage::Facts,
    Stage::AuditReader,
    Stage::Decide,
    Stage::Writer,
    Stage::Rules,
];

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::KernelReader => "kernel-reader",
            Stage::Facts => "facts",
            Stage::AuditReader => "audit-reader",
            Stage::Decide => "decide",
            Stage::Writer => "writer",
            Stage::Rules => "rules",
        }
    }
}

/// The running monitor's stages (one `swmon run` per process).
pub static PROGRESS: std::sync::LazyLock<Progress> = std::sync::LazyLock::new(Progress::fresh);

/// The stage moved on (in the running monitor).
pub fn mark(stage: Stage) {
    PROGRESS.mark(stage);
}

/// When each stage last made progress (ms since `start`, plus one: zero is
/// "never").
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    last: [AtomicU64; 6],
}

impl Progress {
    fn fresh() -> Progress {
        Progress {
            start: Instant::now(),
            last: Default::default(),
        }
    }

    #[cfg(test)]
    fn new() -> Arc<Progress> {
        Arc::new(Progress::fresh())
    }

    /// The stage moved on.
    pub fn mark(&self, stage: Stage) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last[stage as usize].store(ms + 1, Ordering::Relaxed);
    }

    /// The stage's last mark, as read by [`Watch`].
    fn stamp(&self, stage: Stage) -> u64 {
        self.last[stage as usize].load(Ordering::Relaxed)
    }

    /// How long ago the stage last moved (since start when it never did).
    fn age(&self, stage: Stage, now: Instant) -> Duration {
        let since_start = now.saturating_duration_since(self.start);
        match self.stamp(stage) {
            0 => since_start,
            ms => since_start.saturating_sub(Duration::from_millis(ms - 1)),
        }
    }
}

/// The main loop's view of the stages: their progress, and a depth for
/// each input queue.
pub struct Watch {
    progress: Prog,
    queues: Vec<(Stage, Depth)>,
    /// Per stage: its mark and whether items waited at the last check, and
    /// whether a stall was already alerted (until it moves again).
    seen: [(u64, bool, bool); 6],
}

/// The progress a [`Watch`] reads: the monitor's, or a test's own.
pub enum Prog {
    Global,
    #[cfg(test)]
    Own(Arc<Progress>),
}

impl std::ops::Deref for Prog {
    type Target = Progress;
    fn deref(&self) -> &Progress {
        match self {
            Prog::Global => &PROGRESS,
            #[cfg(test)]
            Prog::Own(p) => p,
        }
    }
}

/// A queue's (items, bytes) now.
type Depth = Box<dyn Fn() -> (usize, usize) + Send>;

/// A stage found stalled.
#[derive(Debug, PartialEq, Eq)]
pub struct Stalled {
    pub stage: &'static str,
    pub queued: usize,
    pub idle: Duration,
}

impl Watch {
    pub fn new(progress: Prog) -> Watch {
        Watch {
            progress,
            queues: Vec::new(),
            seen: [(0, false, false); 6],
        }
    }

    /// `stage` reads from a queue whose (items, bytes) `depth` tells.
    pub fn queue(&mut self, stage: Stage, depth: impl Fn() -> (usize, usize) + Send + 'static) {
        self.queues.push((stage, Box::new(depth)));
    }

    pub fn queue_gauge(&mut self, stage: Stage, gauge: Gauge) {
        self.queue(stage, move || gauge.depth());
    }

    fn depth(&self, stage: Stage) -> Option<(usize, usize)> {
        let mut any = None;
        for (s, depth) in &self.queues {
            if *s == stage {
                let (i, b) = depth();
                let (ti, tb) = any.unwrap_or((0, 0));
                any = Some((ti + i, tb + b));
            }
        }
        any
    }

    /// Every stage's queue depth and age of last progress (`swmon.stages`).
    pub fn snapshot(&self) -> Value {
        let now = Instant::now();
        let mut m = Map::new();
        for stage in ALL {
            let mut s = Map::new();
            s.insert(
                "idle_ms".into(),
                json!(self.progress.age(stage, now).as_millis() as u64),
            );
            if let Some((items, bytes)) = self.depth(stage) {
                s.insert("queued".into(), json!(items));
                s.insert("queued_bytes".into(), json!(bytes));
            }
            m.insert(stage.name().into(), Value::Object(s));
        }
        Value::Object(m)
    }

    /// Stages newly found stalled: items waited at this check and the one
    /// before, no progress in between, and none for [`STALL_AFTER`]. Called
    /// about once a second; one alert per stall (again after it moved).
    pub fn check(&mut self) -> Vec<Stalled> {
        self.check_at(Instant::now())
    }

    fn check_at(&mut self, now: Instant) -> Vec<Stalled> {
        let mut out = Vec::new();
        for stage in ALL {
            let Some((queued, _)) = self.depth(stage) else {
                continue;
            };
            let stamp = self.progress.stamp(stage);
            let (last_stamp, waited, alerted) = &mut self.seen[stage as usize];
            let moved = stamp != *last_stamp;
            if moved {
                *alerted = false;
            }
            let idle = self.progress.age(stage, now);
            if !moved && *waited && queued > 0 && idle >= STALL_AFTER && !*alerted {
                *alerted = true;
                out.push(Stalled {
                    stage: stage.name(),
                    queued,
                    idle,
                });
            }
            *last_stamp = stamp;
            *waited = queued > 0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn a_stage_with_waiting_items_and_no_progress_is_stalled_once() {
        let progress = Progress::new();
        let depth = Arc::new(AtomicUsize::new(0));
        let mut w = Watch::new(Prog::Own(progress.clone()));
        let d = depth.clone();
        w.queue(Stage::Facts, move || (d.load(Ordering::Relaxed), 7));
        let t0 = progress.start;
        progress.mark(Stage::Facts);
        assert!(
            w.check_at(t0 + Duration::from_secs(20)).is_empty(),
            "empty queue"
        );
        depth.store(3, Ordering::Relaxed);
        assert!(
            w.check_at(t0 + Duration::from_secs(21)).is_empty(),
            "items just arrived: the stage gets a turn to take them"
        );
        let stalled = w.check_at(t0 + Duration::from_secs(22));
        assert_eq!(stalled.len(), 1);
        assert_eq!(stalled[0].stage, "facts");
        assert_eq!(stalled[0].queued, 3);
        assert!(stalled[0].idle >= STALL_AFTER);
        assert!(
            w.check_at(t0 + Duration::from_secs(23)).is_empty(),
            "alerted once"
        );
        progress.mark(Stage::Facts);
        assert!(
            w.check_at(t0 + Duration::from_secs(24)).is_empty(),
            "it moved"
        );
        let snap = w.snapshot();
        assert_eq!(snap["facts"]["queued"], 3);
        assert_eq!(snap["facts"]["queued_bytes"], 7);
        assert!(snap["writer"]["idle_ms"].is_u64());
        assert!(snap["writer"].get("queued").is_none(), "no queue watched");
    }

    #[test]
    fn a_stage_that_keeps_moving_is_never_stalled() {
        let progress = Progress::new();
        let mut w = Watch::new(Prog::Own(progress.clone()));
        w.queue(Stage::Decide, || (100, 1000));
        let t0 = progress.start;
        for s in 0..30 {
            progress.mark(Stage::Decide);
            std::thread::sleep(Duration::from_millis(2));
            assert!(w.check_at(t0 + Duration::from_secs(s)).is_empty());
        }
    }
}
