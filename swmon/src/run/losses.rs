//! Live loss alerts: every counter of lost events (the kernel's, and each
//! user-space stage's) becomes an alert soon after it moves, rate-limited
//! per counter (at most one per [`EVERY`], carrying the loss since the last
//! alert and the total), so a loss is seen when it happens, not only in
//! `monitor-stopped`.

use std::time::{Duration, Instant};

use serde_json::{json, Map};

use super::{
    counters::{Counters, LIVE_LOSSES},
    queue::RateLimiter,
    state_event,
    writer::Writer,
};
use crate::event::Event;

/// At most one alert per counter this often.
pub const EVERY: Duration = Duration::from_secs(10);

pub struct Losses {
    limiter: RateLimiter,
    host: String,
}

impl Losses {
    pub fn new(host: String) -> Losses {
        Losses {
            limiter: RateLimiter::new(EVERY),
            host,
        }
    }

    /// Queues the alerts that are due.
    pub fn report(&mut self, c: &Counters, writer: &Writer) {
        let now = Instant::now();
        if let Some((count, total)) = self.limiter.due("ebpf", c.kernel_lost(), now) {
            // The kernel counted events it could not hand over (a full ring
            // buffer, a failed tail call): a gap in coverage is an event.
            let mut e = self.alert("ebpf-events-lost");
            let mut detail = Map::new();
            detail.insert("count".into(), json!(count));
            detail.insert("total".into(), json!(total));
            detail.insert(
                "exec_reserve_failed".into(),
                json!(Counters::get(&c.exec_reserve_failed)),
            );
            detail.insert(
                "exit_reserve_failed".into(),
                json!(Counters::get(&c.exit_reserve_failed)),
            );
            detail.insert("stage_failed".into(), json!(Counters::get(&c.stage_failed)));
            detail.insert(
                "state_reserve_failed".into(),
                json!(Counters::get(&c.state_reserve_failed)),
            );
            e.swmon.lost = Some(detail);
            writer.push_priority(&e);
        }
        let all = c.all();
        for (name, stage) in LIVE_LOSSES {
            let total = all.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
            if let Some((count, total)) = self.limiter.due(name, total, now) {
                writer.push_priority(&lost_alert(&self.host, name, stage, count, total));
            }
        }
    }

    fn alert(&self, action: &'static str) -> Event {
        let mut e = state_event(&self.host, action);
        e.event.kind = "alert";
        e.event.kind_type = vec!["info"];
        e
    }
}

/// `events-lost`: `count` events lost at `stage` since the last alert for
/// this counter, `total` in all.
pub fn lost_alert(host: &str, counter: &str, stage: &str, count: u64, total: u64) -> Event {
    let mut e = state_event(host, "events-lost");
    e.event.kind = "alert";
    e.event.kind_type = vec!["info"];
    e.swmon.lost = Some(Map::from_iter([
        ("counter".to_owned(), json!(counter)),
        ("stage".to_owned(), json!(stage)),
        ("count".to_owned(), json!(count)),
        ("total".to_owned(), json!(total)),
    ]));
    e
}
