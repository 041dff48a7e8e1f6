//! The writer stage: one OS thread owns the [`Sink`] and writes encoded
//! lines from a bounded queue, so a stalled output (a paused pipe reader, a
//! slow disk) stalls this thread alone, never a reader.
//!
//! The queue is bounded by lines and by bytes. Run events may fill it to
//! the bound less a reserve; state events and alerts (`priority`) may use
//! the reserve, so a `monitor-stopped` still finds room after a stall. A
//! line that finds no room is dropped and counted (`writer_dropped`); once
//! the queue has drained, the writer itself writes an `events-lost` alert
//! saying how many it dropped (so that alert needs no room in the queue).
//! Reopen (SIGHUP) and stop are flags beside the queue, not lines in it.
//!
//! Every line is also offered to the shipping sinks (`--sink`,
//! [`crate::ship`]) as its JSON line, whatever the main output's format:
//! each sink has its own thread and bounded queue, so the offer never
//! waits, and a line a sink has no room for is counted there
//! (`sink_dropped`), independently of this queue.

use std::{
    collections::VecDeque,
    io::Write,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::sync::Notify;

use super::{counters::Counters, Ended};
use crate::{
    event::Event,
    ship::{Item, Ships},
    sink::{Format, Sink, SinkError},
};

/// Most lines queued.
pub const QUEUE_LINES: usize = 8192;
/// Most bytes queued.
pub const QUEUE_BYTES: usize = 8 << 20;
/// Lines and bytes kept for priority events.
const RESERVE_LINES: usize = 256;
/// While lines keep being dropped and the queue never empties, the drop
/// alert is written this often.
const DROP_ALERT_EVERY: Duration = Duration::from_secs(10);
const RESERVE_BYTES: usize = 1 << 20;

/// Builds the `events-lost` alert for drops at the writer (count, total).
pub type DropAlert = Box<dyn Fn(u64, u64) -> Event + Send>;

/// A handle on the writer stage; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Tells the stop sequence the writer finished or failed.
    done: Notify,
    counters: Arc<Counters>,
    format: Format,
    colour: bool,
    limits: Limits,
    /// The shipping sinks every line is offered to.
    ships: Ships,
}

#[derive(Clone, Copy, Debug)]
struct Limits {
    lines: usize,
    bytes: usize,
    reserve_lines: usize,
    reserve_bytes: usize,
}

#[derive(Default)]
struct State {
    /// Encoded lines; the flag marks the last one (`monitor-stopped`),
    /// before which unreported drops are written.
    queue: VecDeque<(Vec<u8>, bool)>,
    bytes: usize,
    reopen: bool,
    stop: bool,
    /// The last line is queued: nothing more is taken.
    closed: bool,
    /// The thread ended: `Some(Ok)` after a clean stop.
    ended: Option<Result<(), String>>,
}

/// How the queue took a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    Dropped,
}

impl Writer {
    /// Starts the writer thread. `ended` hears when the thread ends, on a
    /// failure or a panic too.
    pub fn spawn(
        sink: Sink,
        colour: bool,
        counters: Arc<Counters>,
        ships: Ships,
        alert: DropAlert,
        ended: Ended,
    ) -> std::io::Result<Writer> {
        let limits = Limits {
            lines: QUEUE_LINES,
            bytes: QUEUE_BYTES,
            reserve_lines: RESERVE_LINES,
            reserve_bytes: RESERVE_BYTES,
        };
        let w = Writer::new(sink.format(), colour, counters, limits, ships);
        let shared = w.shared.clone();
        std::thread::Builder::new()
            .name("swmon-writer".into())
            .spawn(move || {
                let _ended = ended;
                let _done = DoneOnDrop(shared.clone());
                let result = write_loop(&shared, sink, &alert);
                shared.lock().ended = Some(result.map_err(|e| e.to_string()));
            })?;
        Ok(w)
    }

    fn new(
        format: Format,
        colour: bool,
        counters: Arc<Counters>,
        limits: Limits,
        ships: Ships,
    ) -> Writer {
        Writer {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                done: Notify::new(),
                counters,
                format,
                colour,
                limits,
                ships,
            }),
        }
    }

    /// Queues a run event (may be dropped, counted, when the queue is near
    /// full).
    pub fn push(&self, event: &Event) -> Pushed {
        self.push_line(event, false, false)
    }

    /// Queues a state event or an alert: it may use the reserve.
    pub fn push_priority(&self, event: &Event) -> Pushed {
        self.push_line(event, true, false)
    }

    /// Queues the last line (`monitor-stopped`): it goes in whatever the
    /// bounds (a long stall may have used the reserve), and nothing is
    /// taken after it.
    pub fn push_last(&self, event: &Event) -> Pushed {
        self.push_line(event, true, true)
    }

    fn push_line(&self, event: &Event, priority: bool, last: bool) -> Pushed {
        let c = &self.shared.counters;
        let line = match crate::sink::encode(event, self.shared.format, self.shared.colour) {
            Ok((line, cut)) => {
                if cut {
                    Counters::add(&c.lines_cut, 1);
                }
                line
            }
            Err(_) => {
                Counters::add(&c.writer_dropped, 1);
                return Pushed::Dropped;
            }
        };
        // Nothing is copied when there is no sink.
        let ships = &self.shared.ships;
        if !ships.is_empty() {
            if self.shared.format == Format::Json {
                ships.offer(Item::new(event, &line), last);
            } else {
                offer_json(ships, c, event, last);
            }
        }
        let l = self.shared.limits;
        let (lines, bytes) = if priority {
            (l.lines, l.bytes)
        } else {
            (l.lines - l.reserve_lines, l.bytes - l.reserve_bytes)
        };
        let mut s = self.shared.lock();
        let full = !last && (s.queue.len() >= lines || s.bytes + line.len() > bytes);
        if s.ended.is_some() || s.closed || full {
            drop(s);
            Counters::add(&c.writer_dropped, 1);
            return Pushed::Dropped;
        }
        s.bytes += line.len();
        s.closed |= last;
        s.queue.push_back((line, last));
        drop(s);
        self.shared.wake.notify_one();
        Pushed::Queued
    }

    /// Asks for the output to be reopened before the next line.
    pub fn reopen(&self) {
        self.shared.lock().reopen = true;
        self.shared.wake.notify_one();
    }

    /// Asks the writer to write what is queued and end.
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
    }

    /// How the thread ended, if it has.
    pub fn ended(&self) -> Option<Result<(), String>> {
        self.shared.lock().ended.clone()
    }

    /// Lines and bytes queued now.
    pub fn depth(&self) -> (usize, usize) {
        let s = self.shared.lock();
        (s.queue.len(), s.bytes)
    }

    /// Lines still queued.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Waits until the thread has ended, at most `grace`; its result, or
    /// `None` when it is still stuck (in a write to a stalled output).
    pub async fn wait(&self, grace: Duration) -> Option<Result<(), String>> {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.shared.done.notified();
            if let Some(r) = self.ended() {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.ended();
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Offers an event to the shipping sinks as its JSON line (the main
/// output's format is text; a cut is flagged in the line, `swmon.cut`).
fn offer_json(ships: &Ships, c: &Counters, event: &Event, last: bool) {
    match crate::sink::encode(event, Format::Json, false) {
        Ok((line, _)) => ships.offer(Item::new(event, &line), last),
        Err(_) => Counters::add(&c.sink_dropped, 1),
    }
}

/// Marks the writer ended even when its thread panics.
struct DoneOnDrop(Arc<Shared>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        if s.ended.is_none() {
            s.ended = Some(Err("the writer panicked".into()));
        }
        drop(s);
        self.0.done.notify_one();
    }
}

/// What the thread does next.
enum Next {
    Line(Vec<u8>, bool),
    Reopen,
    Stop,
}

fn write_loop(shared: &Shared, mut sink: Sink, alert: &DropAlert) -> Result<(), SinkError> {
    let c = &shared.counters;
    let mut reported = 0u64;
    let mut last_report = std::time::Instant::now();
    loop {
        let next = {
            let mut s = shared.lock();
            loop {
                if s.reopen {
                    s.reopen = false;
                    break Next::Reopen;
                }
                if let Some((line, last)) = s.queue.pop_front() {
                    s.bytes -= line.len();
                    break Next::Line(line, last);
                }
                if s.stop {
                    break Next::Stop;
                }
                s = shared.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        };
        match next {
            Next::Reopen => match sink.reopen() {
                Ok(()) => Counters::add(&c.reopened, 1),
                // The old file is still open: keep writing there, and say so.
                Err(e) => {
                    Counters::add(&c.reopen_failed, 1);
                    let _ = writeln!(
                        std::io::stderr(),
                        "swmon: {e}; still writing to the old file"
                    );
                }
            },
            Next::Stop => return Ok(()),
            Next::Line(line, last) => {
                if last {
                    report_drops(&mut sink, shared, alert, &mut reported)?;
                }
                sink.write_line(&line)?;
                Counters::add(&c.written, 1);
                super::stages::mark(super::stages::Stage::Writer);
                // Once the queue is empty, and under sustained overload
                // (the queue never empties) every DROP_ALERT_EVERY.
                if shared.lock().queue.is_empty() || last_report.elapsed() >= DROP_ALERT_EVERY {
                    report_drops(&mut sink, shared, alert, &mut reported)?;
                    last_report = std::time::Instant::now();
                }
            }
        }
    }
}

/// Writes the `events-lost` alert for lines dropped since the last one.
fn report_drops(
    sink: &mut Sink,
    shared: &Shared,
    alert: &DropAlert,
    reported: &mut u64,
) -> Result<(), SinkError> {
    let c = &shared.counters;
    let total = Counters::get(&c.writer_dropped);
    if total > *reported {
        let e = alert(total - *reported, total);
        if !shared.ships.is_empty() {
            offer_json(&shared.ships, c, &e, false);
        }
        sink.write(&e)?;
        Counters::add(&c.written, 1);
        *reported = total;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventMeta, Host, Swmon};

    fn event(action: &'static str) -> Event {
        Event {
            ecs: crate::event::Ecs::default(),
            timestamp: "t".into(),
            event: EventMeta {
                kind: "state",
                category: vec![],
                kind_type: vec![],
                action,
                outcome: None,
            },
            process: None,
            user: None,
            package: None,
            host: Host { name: "h".into() },
            swmon: Swmon::default(),
        }
    }

    #[test]
    fn a_full_queue_drops_runs_first_and_keeps_room_for_alerts() {
        let counters = Arc::new(Counters::default());
        let w = Writer::new(
            Format::Json,
            false,
            counters.clone(),
            Limits {
                lines: 4,
                bytes: 1 << 20,
                reserve_lines: 2,
                reserve_bytes: 0,
            },
            Ships::default(),
        );
        assert_eq!(w.push(&event("a")), Pushed::Queued);
        assert_eq!(w.push(&event("b")), Pushed::Queued);
        assert_eq!(w.push(&event("c")), Pushed::Dropped, "runs stop short");
        assert_eq!(w.push_priority(&event("alert")), Pushed::Queued);
        assert_eq!(w.push_priority(&event("alert 1")), Pushed::Queued);
        assert_eq!(w.push_priority(&event("alert 2")), Pushed::Dropped, "full");
        assert_eq!(
            w.push_last(&event("monitor-stopped")),
            Pushed::Queued,
            "the last line always goes in"
        );
        assert_eq!(w.push(&event("late")), Pushed::Dropped, "nothing after it");
        assert_eq!(Counters::get(&counters.writer_dropped), 3);
        assert_eq!(w.queued(), 5);
    }

    #[test]
    fn the_writer_writes_in_order_and_reports_its_drops_before_the_last_line() {
        let dir = std::env::temp_dir().join(format!("swmon-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("out.jsonl");
        let sink = Sink::open(&path, Format::Json, None).expect("open");
        let counters = Arc::new(Counters::default());
        let (ended, _rx) = Ended::channel("writer");
        let w = Writer::spawn(
            sink,
            false,
            counters.clone(),
            Ships::default(),
            Box::new(|n, total| {
                let mut e = event("events-lost");
                e.swmon.lost = Some(serde_json::Map::from_iter([
                    ("count".to_owned(), n.into()),
                    ("total".to_owned(), total.into()),
                ]));
                e
            }),
            ended,
        )
        .expect("spawn");
        // A drop counted elsewhere (a full queue), then the last line.
        Counters::add(&counters.writer_dropped, 3);
        w.push(&event("one"));
        w.push_last(&event("monitor-stopped"));
        w.stop();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let r = rt.block_on(w.wait(Duration::from_secs(10)));
        assert_eq!(r, Some(Ok(())));
        let text = std::fs::read_to_string(&path).expect("read");
        let actions: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("json");
                v["event"]["action"].as_str().unwrap_or("").to_owned()
            })
            .collect();
        assert_eq!(actions, ["one", "events-lost", "monitor-stopped"]);
        assert!(text.contains(r#""count":3,"total":3"#), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
