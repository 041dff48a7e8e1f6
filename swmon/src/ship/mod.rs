//! Sinks that ship events to the host's log engine, beside the main output
//! (standard output or a file, [`crate::sink`]): `swmon run --sink SPEC`,
//! repeatable, where SPEC is
//!
//! - `journald` (or `journald:SOCKET`): the journal's native protocol, one
//!   datagram per event with structured fields ([`journald`]);
//! - `syslog` (or `syslog:unix:SOCKET`, default `/dev/log`): RFC 5424 over
//!   the local datagram socket ([`syslog`]);
//! - `syslog+tcp://HOST:PORT`: RFC 5424 over TCP to a collector, RFC 6587
//!   octet-counting framing ([`syslog`]).
//!
//! Every sink sends the event's JSON line (whatever `--format` the main
//! output has), without its newline, as the message.
//!
//! Each sink is its own thread with its own bounded queue ([`Ships`]): the
//! writer stage offers every line to each queue without waiting, so a sink
//! that blocks (a collector that stopped reading, a journal that is not
//! there) stalls its own thread alone, never the pipeline or the main
//! output. Every send is bounded in time ([`SEND_TIMEOUT`]); a sink that
//! cannot send is disconnected and retried with backoff (100 ms doubling to
//! [`BACKOFF_MAX`]), keeping its queue meanwhile. What is lost is counted
//! (`swmon.counters` in `heartbeat` and `monitor-stopped`, and a live
//! `events-lost` alert):
//!
//! - `sink_dropped`: lines a sink's queue had no room for (the sink was
//!   down or slow for longer than its queue lasts); lines still queued
//!   when the stop's budget runs out are said on standard error only
//!   (`monitor-stopped` is written before the sinks drain);
//! - `sink_refused`: lines a sink could not take at all (a datagram larger
//!   than the local socket allows); never cut, the line is not sent;
//! - `sink_sent`, `sink_reconnects`: lines sent, and times a sink had to
//!   connect again after it was connected.
//!
//! A plain TCP stream has no acknowledgement (RFC 6587; RELP would have
//! one): lines the kernel had accepted when the connection broke can be
//! lost without being counted. Before each line the connection is checked
//! for the collector's close, which catches a collector that restarted.

pub mod journald;
pub mod syslog;

use std::{
    collections::VecDeque,
    fmt,
    io::{self, Write},
    path::PathBuf,
    str::FromStr,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use crate::{event::Event, run::counters::Counters};

/// Each send (and each connect) is given at most this long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest wait between two connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Most lines a sink's queue holds.
pub const QUEUE_LINES: usize = 8192;
/// Most bytes a sink's queue holds.
pub const QUEUE_BYTES: usize = 8 << 20;

/// Where a `--sink` sends events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// The journal's native socket.
    Journald(PathBuf),
    /// A local syslog datagram socket.
    SyslogUnix(PathBuf),
    /// A syslog collector over TCP: `HOST:PORT`.
    SyslogTcp(String),
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(s: &str) -> Result<Spec, String> {
        let absolute = |p: &str| {
            if p.starts_with('/') {
                Ok(PathBuf::from(p))
            } else {
                Err(format!("{s:?}: the socket must be an absolute path"))
            }
        };
        if s == "journald" {
            return Ok(Spec::Journald(journald::SOCKET.into()));
        }
        if let Some(p) = s.strip_prefix("journald:") {
            return absolute(p).map(Spec::Journald);
        }
        if s == "syslog" {
            return Ok(Spec::SyslogUnix(syslog::DEV_LOG.into()));
        }
        if let Some(p) = s.strip_prefix("syslog:unix:") {
            return absolute(p).map(Spec::SyslogUnix);
        }
        if let Some(hp) = s.strip_prefix("syslog+tcp://") {
            let hp = hp.strip_suffix('/').unwrap_or(hp);
            let (host, port) = hp
                .rsplit_once(':')
                .ok_or_else(|| format!("{s:?}: expected syslog+tcp://HOST:PORT"))?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{s:?}: {port:?} is not a port"))?;
            let bracketed = host.starts_with('[') && host.ends_with(']');
            if host.is_empty() || (host.contains(':') && !bracketed) {
                return Err(format!(
                    "{s:?}: expected syslog+tcp://HOST:PORT (an IPv6 address in brackets)"
                ));
            }
            return Ok(Spec::SyslogTcp(format!("{host}:{port}")));
        }
        Err(format!(
            "{s:?}: expected journald, journald:SOCKET, syslog, syslog:unix:SOCKET or \
             syslog+tcp://HOST:PORT"
        ))
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Journald(p) => write!(f, "journald:{}", p.display()),
            Spec::SyslogUnix(p) => write!(f, "syslog:unix:{}", p.display()),
            Spec::SyslogTcp(hp) => write!(f, "syslog+tcp://{hp}"),
        }
    }
}

/// One event as the sinks send it: its JSON line (no newline) and the
/// fields the sinks put beside it.
#[derive(Debug)]
pub struct Item {
    pub line: Vec<u8>,
    pub meta: Meta,
}

/// What the sinks show of an event beside its line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The event's `@timestamp` (RFC 3339, UTC).
    pub timestamp: String,
    pub action: &'static str,
    pub kind: &'static str,
    pub verdict: Option<&'static str>,
    pub manager: Option<&'static str>,
    pub run_id: Option<String>,
    pub host: String,
    /// Syslog severity: 4 (warning) for alerts and runs only the kernel
    /// saw, 6 (info) otherwise.
    pub severity: u8,
}

impl Meta {
    pub fn of(e: &Event) -> Meta {
        let warn = e.event.kind == "alert" || e.swmon.verdict == Some("ebpf_only");
        Meta {
            timestamp: e.timestamp.clone(),
            action: e.event.action,
            kind: e.event.kind,
            verdict: e.swmon.verdict,
            manager: e.swmon.manager,
            run_id: e.swmon.run_id.clone(),
            host: e.host.name.clone(),
            severity: if warn { 4 } else { 6 },
        }
    }
}

impl Item {
    /// The event's item from its JSON line (a trailing newline is taken
    /// off).
    pub fn new(e: &Event, json_line: &[u8]) -> Item {
        let line = json_line.strip_suffix(b"\n").unwrap_or(json_line).to_vec();
        Item {
            line,
            meta: Meta::of(e),
        }
    }
}

/// Why a send failed.
#[derive(Debug)]
pub enum Fail {
    /// This line can never be sent by this sink (too big): counted, the
    /// next line goes on.
    Refused(String),
    /// The sink is down or not reading: disconnect, back off, send the
    /// same line again.
    Down(io::Error),
}

/// A sink's way to its receiver.
pub trait Transport: Send {
    /// Connects (at most [`SEND_TIMEOUT`]).
    fn connect(&mut self) -> io::Result<()>;
    /// Sends one line (at most [`SEND_TIMEOUT`]).
    fn send(&mut self, item: &Item) -> Result<(), Fail>;
    /// Forgets the connection.
    fn disconnect(&mut self);
}

/// The transport a spec names.
pub fn transport(spec: &Spec) -> Box<dyn Transport> {
    match spec {
        Spec::Journald(p) => Box::new(journald::Journald::new(p.clone())),
        Spec::SyslogUnix(p) => Box::new(syslog::UnixSyslog::new(p.clone())),
        Spec::SyslogTcp(hp) => Box::new(syslog::TcpSyslog::new(hp.clone())),
    }
}

/// The running sinks: one thread and one bounded queue each.
#[derive(Clone, Default)]
pub struct Ships {
    sinks: Vec<Arc<Shared>>,
}

struct Shared {
    name: String,
    state: Mutex<State>,
    wake: Condvar,
    counters: Arc<Counters>,
    lines: usize,
    bytes: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Arc<Item>>,
    bytes: usize,
    /// The last line was offered: nothing more is taken.
    closed: bool,
    /// Stop once the queue is sent, or at this instant.
    stop: Option<Instant>,
    /// The thread ended.
    ended: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ships {
    /// Starts one thread per spec.
    pub fn start(specs: &[Spec], counters: &Arc<Counters>) -> io::Result<Ships> {
        let mut sinks = Vec::new();
        for spec in specs {
            let shared = Arc::new(Shared {
                name: spec.to_string(),
                state: Mutex::default(),
                wake: Condvar::new(),
                counters: counters.clone(),
                lines: QUEUE_LINES,
                bytes: QUEUE_BYTES,
            });
            let s = shared.clone();
            let t = transport(spec);
            std::thread::Builder::new()
                .name("swmon-sink".into())
                .spawn(move || {
                    let _end = EndOnDrop(s.clone());
                    ship_loop(&s, t);
                })?;
            sinks.push(shared);
        }
        Ok(Ships { sinks })
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Offers a line to every sink, never waiting: a sink whose queue is
    /// full drops it (`sink_dropped`). `last` marks `monitor-stopped`: it
    /// goes in whatever the bounds, and nothing is taken after it.
    pub fn offer(&self, item: Item, last: bool) {
        if self.sinks.is_empty() {
            return;
        }
        let item = Arc::new(item);
        for s in &self.sinks {
            let mut st = s.lock();
            let full = !last && (st.queue.len() >= s.lines || st.bytes + item.line.len() > s.bytes);
            if st.closed || st.ended || full {
                drop(st);
                Counters::add(&s.counters.sink_dropped, 1);
                continue;
            }
            st.closed |= last;
            st.bytes += item.line.len();
            st.queue.push_back(item.clone());
            drop(st);
            s.wake.notify_all();
        }
    }

    /// Asks every sink to send what it holds and end, giving up at
    /// `deadline`.
    pub fn stop(&self, deadline: Instant) {
        for s in &self.sinks {
            s.lock().stop = Some(deadline);
            s.wake.notify_all();
        }
    }

    /// Waits until every sink has ended, at most until `deadline`; the
    /// sinks that still hold lines then, with how many.
    pub fn wait(&self, deadline: Instant) -> Vec<(String, usize)> {
        let mut left = Vec::new();
        for s in &self.sinks {
            let mut st = s.lock();
            while !st.ended {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st = s
                    .wake
                    .wait_timeout(st, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if !st.queue.is_empty() {
                left.push((s.name.clone(), st.queue.len()));
            }
        }
        left
    }
}

/// Marks the sink ended (on a panic too) and drops what it still held,
/// counted.
struct EndOnDrop(Arc<Shared>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.ended = true;
        let n = st.queue.len();
        st.queue.clear();
        st.bytes = 0;
        drop(st);
        Counters::add(&self.0.counters.sink_dropped, n as u64);
        if n > 0 {
            let _ = writeln!(
                io::stderr(),
                "swmon: sink {}: {n} lines not sent (counted in sink_dropped)",
                self.0.name
            );
        }
        self.0.wake.notify_all();
    }
}

/// Says something about a sink on standard error (a state change: down,
/// up again, a refused line), at most once per [`BACKOFF_MAX`] for the same
/// kind of news.
struct Say {
    name: String,
    last: Option<(&'static str, Instant)>,
}

impl Say {
    fn say(&mut self, kind: &'static str, what: fmt::Arguments<'_>) {
        if let Some((k, at)) = self.last {
            if k == kind && at.elapsed() < BACKOFF_MAX {
                return;
            }
        }
        self.last = Some((kind, Instant::now()));
        let _ = writeln!(io::stderr(), "swmon: sink {}: {what}", self.name);
    }
}

fn ship_loop(s: &Shared, mut t: Box<dyn Transport>) {
    let c = &s.counters;
    let mut say = Say {
        name: s.name.clone(),
        last: None,
    };
    let mut connected = false;
    let mut was_connected = false;
    let mut backoff = BACKOFF_MIN;
    loop {
        // The next line, or the end.
        let item = {
            let mut st = s.lock();
            loop {
                if let Some(item) = st.queue.front() {
                    break item.clone();
                }
                if st.stop.is_some() {
                    return;
                }
                st = s.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        };
        loop {
            if !connected {
                match t.connect() {
                    Ok(()) => {
                        connected = true;
                        backoff = BACKOFF_MIN;
                        if was_connected {
                            Counters::add(&c.sink_reconnects, 1);
                        }
                        if say.last.is_some() {
                            say.say("up", format_args!("connected"));
                        }
                        was_connected = true;
                    }
                    Err(e) => {
                        say.say(
                            "down",
                            format_args!("can't connect: {e}; lines are queued and retried"),
                        );
                        if !pause(s, backoff) {
                            return;
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            match t.send(&item) {
                Ok(()) => {
                    Counters::add(&c.sink_sent, 1);
                    break;
                }
                Err(Fail::Refused(why)) => {
                    Counters::add(&c.sink_refused, 1);
                    say.say("refused", format_args!("a line not sent: {why}"));
                    break;
                }
                Err(Fail::Down(e)) => {
                    t.disconnect();
                    connected = false;
                    say.say(
                        "down",
                        format_args!("can't send: {e}; lines are queued and retried"),
                    );
                    if !pause(s, backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        let mut st = s.lock();
        if let Some(done) = st.queue.pop_front() {
            st.bytes -= done.line.len();
        }
    }
}

/// Waits `d`; false when the stop's deadline has passed (the sink gives
/// up, its lines counted as dropped). A stop asked for meanwhile ends the
/// wait at once, for one more try before the deadline.
fn pause(s: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    let mut st = s.lock();
    let stopping = st.stop.is_some();
    loop {
        let now = Instant::now();
        if st.stop.is_some_and(|deadline| now >= deadline) {
            return false;
        }
        if now >= until || (!stopping && st.stop.is_some()) {
            return true;
        }
        let wait = st
            .stop
            .map_or(until, |deadline| deadline.min(until))
            .saturating_duration_since(now);
        st = s
            .wake
            .wait_timeout(st, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        assert_eq!(
            "journald".parse(),
            Ok(Spec::Journald("/run/systemd/journal/socket".into()))
        );
        assert_eq!(
            "journald:/run/systemd/journal.x/socket".parse(),
            Ok(Spec::Journald("/run/systemd/journal.x/socket".into()))
        );
        assert_eq!("syslog".parse(), Ok(Spec::SyslogUnix("/dev/log".into())));
        assert_eq!(
            "syslog:unix:/tmp/s".parse(),
            Ok(Spec::SyslogUnix("/tmp/s".into()))
        );
        assert_eq!(
            "syslog+tcp://logs.example:6514".parse(),
            Ok(Spec::SyslogTcp("logs.example:6514".into()))
        );
        assert_eq!(
            "syslog+tcp://[::1]:514".parse(),
            Ok(Spec::SyslogTcp("[::1]:514".into()))
        );
        for bad in [
            "",
            "syslog:unix:rel/path",
            "journald:",
            "syslog+tcp://host",
            "syslog+tcp://host:0",
            "syslog+tcp://host:99999",
            "syslog+tcp://::1:514",
            "syslog+tcp://:514",
            "syslog+udp://h:514",
            "file:/x",
        ] {
            assert!(bad.parse::<Spec>().is_err(), "{bad}");
        }
        let s: Spec = "syslog+tcp://h:1".parse().expect("spec");
        assert_eq!(s.to_string(), "syslog+tcp://h:1");
    }

    /// A transport that is down until told otherwise, and refuses lines
    /// that start with `!`.
    struct Fake {
        up: Arc<Mutex<bool>>,
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Transport for Fake {
        fn connect(&mut self) -> io::Result<()> {
            if *self.up.lock().expect("lock") {
                Ok(())
            } else {
                Err(io::ErrorKind::ConnectionRefused.into())
            }
        }
        fn send(&mut self, item: &Item) -> Result<(), Fail> {
            if item.line.starts_with(b"!") {
                return Err(Fail::Refused("too big".into()));
            }
            if !*self.up.lock().expect("lock") {
                return Err(Fail::Down(io::ErrorKind::BrokenPipe.into()));
            }
            self.sent.lock().expect("lock").push(item.line.clone());
            Ok(())
        }
        fn disconnect(&mut self) {}
    }

    fn item(line: &str) -> Item {
        Item {
            line: line.as_bytes().to_vec(),
            meta: Meta::default(),
        }
    }

    #[test]
    fn a_down_sink_queues_drops_at_its_bound_and_counts_everything() {
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            name: "fake".into(),
            state: Mutex::default(),
            wake: Condvar::new(),
            counters: counters.clone(),
            lines: 3,
            bytes: 1 << 20,
        });
        let up = Arc::new(Mutex::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let t = Box::new(Fake {
            up: up.clone(),
            sent: sent.clone(),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let _end = EndOnDrop(s.clone());
            ship_loop(&s, t)
        });
        let ships = Ships {
            sinks: vec![shared.clone()],
        };
        // Down: three lines fit, the fourth is dropped, without waiting.
        for l in ["a", "!big", "b", "c"] {
            ships.offer(item(l), false);
        }
        assert_eq!(Counters::get(&counters.sink_dropped), 1);
        ships.offer(item("last"), true);
        ships.offer(item("after"), false);
        assert_eq!(
            Counters::get(&counters.sink_dropped),
            2,
            "nothing after last"
        );
        *up.lock().expect("lock") = true;
        ships.stop(Instant::now() + Duration::from_secs(30));
        assert!(ships
            .wait(Instant::now() + Duration::from_secs(30))
            .is_empty());
        thread.join().expect("join");
        let sent = sent.lock().expect("lock").clone();
        assert_eq!(sent, [b"a".to_vec(), b"b".to_vec(), b"last".to_vec()]);
        assert_eq!(Counters::get(&counters.sink_sent), 3);
        assert_eq!(Counters::get(&counters.sink_refused), 1);
        assert_eq!(Counters::get(&counters.sink_reconnects), 0);
    }

    #[test]
    fn a_sink_that_stays_down_gives_up_at_the_stop_deadline_and_counts_the_rest() {
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            name: "fake".into(),
            state: Mutex::default(),
            wake: Condvar::new(),
            counters: counters.clone(),
            lines: 10,
            bytes: 1 << 20,
        });
        let t = Box::new(Fake {
            up: Arc::new(Mutex::new(false)),
            sent: Arc::default(),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let _end = EndOnDrop(s.clone());
            ship_loop(&s, t)
        });
        let ships = Ships {
            sinks: vec![shared],
        };
        ships.offer(item("a"), false);
        ships.offer(item("b"), true);
        ships.stop(Instant::now());
        thread.join().expect("join");
        assert!(ships.wait(Instant::now()).is_empty());
        assert_eq!(Counters::get(&counters.sink_dropped), 2);
        assert_eq!(Counters::get(&counters.sink_sent), 0);
    }
}
