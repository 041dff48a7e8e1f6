//! The audit stream as the run loop reads it: assembled events, health
//! changes and loss, from one `async fn next()`.
//!
//! [`AuditStream`] owns the multicast listener ([`super::netlink`]), the
//! [`Assembler`], and a control socket that polls `AUDIT_GET` every
//! [`AuditOptions::poll_interval`] for the [`HealthTracker`].
//!
//! What never blocks: both sockets are nonblocking and registered with
//! tokio (`AsyncFd`), so `next()` only awaits readiness and timers, and it is
//! cancel-safe (state lives in the stream, not the future), so it can sit in
//! a `select!`. The kernel never waits for us either: a multicast listener is
//! not the audit daemon, so when we fall behind the kernel drops records for
//! us alone instead of stalling the host's execs. One receive wakeup takes at
//! most [`AuditOptions::max_batch`] datagrams, and timers come first in the
//! `select!`, so a flood cannot starve the status poll.
//!
//! Where loss is counted ([`AuditCounters`], and a [`Loss`] item each time):
//! - [`LossSource::Overrun`]: ENOBUFS on our socket (the receive buffer,
//!   [`AuditOptions::rcvbuf`], overflowed; how many records is unknown).
//! - [`LossSource::SerialGap`]: serials that never arrived within the
//!   assembler's timeout: events lost, whoever lost them.
//! - [`LossSource::Kernel`]: the kernel's own `lost` counter grew (backlog
//!   full, rate limit): those records reached no listener and no auditd.
//! - [`LossSource::Unparsable`]: records or datagrams we could not read.
//!
//! Tamper seen here: a CONFIG_CHANGE record `op=set audit_enabled=N` is a
//! health change at once (it reaches multicast listeners even for `-e 0`;
//! the kernel logs no record for `-e 1` from 0, which the next poll shows).
//!
//! Not here: rule management and the rule-list diff ([`super::rules`]; `swmon
//! run`'s rules stage polls [`super::RuleGuard::poll`] on its own thread,
//! so a slow rule-list answer never holds up this stream) and what an
//! event means.

use std::{
    collections::VecDeque,
    io,
    time::{Duration, Instant},
};

use netlink_packet_audit::constants::AUDIT_GET;
use serde::Serialize;
use tokio::{
    io::{unix::AsyncFd, Interest},
    time::{interval, Interval, MissedTickBehavior},
};

use super::{
    assemble::{Assembler, AssemblerConfig, AssemblerStats, AuditEvent},
    error::AuditError,
    netlink::{ControlSocket, Datagram, MulticastSocket, DEFAULT_RCVBUF},
    parse_netlink_bytes,
    rules::RulesRemoved,
    status::{pid_alive, AuditStatus, Health, HealthTracker},
};

/// Settings of an [`AuditStream`].
#[derive(Clone, Copy, Debug)]
pub struct AuditOptions {
    /// Receive buffer forced on the multicast socket, in bytes (the kernel
    /// grants twice this).
    pub rcvbuf: usize,
    /// How often `AUDIT_GET` is polled.
    pub poll_interval: Duration,
    /// How often open events are checked for their timeout when the socket
    /// is quiet.
    pub flush_interval: Duration,
    pub assembler: AssemblerConfig,
    /// Datagrams taken per wakeup before timers get a turn.
    pub max_batch: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            rcvbuf: DEFAULT_RCVBUF,
            poll_interval: Duration::from_secs(1),
            flush_interval: Duration::from_millis(250),
            assembler: AssemblerConfig::default(),
            max_batch: 256,
        }
    }
}

/// Which counter saw records go missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossSource {
    /// The kernel's `lost` counter: records.
    Kernel,
    /// ENOBUFS on our socket: overruns (each one or more records).
    Overrun,
    /// Serials that never arrived: events.
    SerialGap,
    /// Records or datagrams that could not be read.
    Unparsable,
    /// Exec records swmon's own audit reader dropped at the queue to the
    /// decide stage (it was full).
    Queue,
}

/// Records lost, as one counter saw it (`audit-records-lost`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Loss {
    pub source: LossSource,
    pub count: u64,
}

/// A health change with the status snapshot that showed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HealthChange {
    #[serde(flatten)]
    pub change: Health,
    pub status: AuditStatus,
    /// What showed it: `status-poll` (`AUDIT_GET`), or `config-change`
    /// (the kernel's record of `auditctl -e`, at once).
    pub source: &'static str,
    /// The record's serial and who made the change (`config-change` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auid: Option<u32>,
}

/// What the audit side hands the run loop.
#[derive(Clone, Debug)]
pub enum AuditItem {
    Event(AuditEvent),
    Health(HealthChange),
    Loss(Loss),
    /// From [`super::RuleGuard::check`] or [`super::RuleGuard::poll`].
    RulesRemoved(RulesRemoved),
}

impl AuditItem {
    /// The `event.action` of a gap item (`None` for an event).
    pub fn action(&self) -> Option<&'static str> {
        match self {
            AuditItem::Event(_) => None,
            AuditItem::Health(h) => Some(h.change.action()),
            AuditItem::Loss(_) => Some("audit-records-lost"),
            AuditItem::RulesRemoved(r) => Some(r.action()),
        }
    }
}

/// Everything counted, readable at any time and at shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditCounters {
    /// Datagrams received from the kernel.
    pub datagrams: u64,
    /// ENOBUFS on the multicast socket.
    pub overruns: u64,
    /// Datagrams not from the kernel (dropped unread).
    pub foreign: u64,
    /// Datagrams cut or with a broken netlink header.
    pub malformed: u64,
    /// The kernel's `lost` counter's growth since we started.
    pub kernel_lost: u64,
    /// Status polls answered, and those that failed or went unanswered.
    pub polls: u64,
    pub poll_errors: u64,
    /// Records, events, serial gaps, parse errors, late and evicted.
    pub assembler: AssemblerStats,
}

/// The audit stream.
#[derive(Debug)]
pub struct AuditStream {
    multicast: AsyncFd<MulticastSocket>,
    control: AsyncFd<ControlSocket>,
    poll: Interval,
    flush: Interval,
    state: State,
}

/// Everything but the sockets and timers, so a socket's readiness guard and
/// the state can be borrowed at once.
#[derive(Debug)]
struct State {
    options: AuditOptions,
    assembler: Assembler,
    tracker: HealthTracker,
    pending: VecDeque<AuditItem>,
    /// The status request waiting for its answer.
    status_seq: Option<u32>,
    start: Instant,
    counters: AuditCounters,
    gaps_reported: u64,
    parse_errors_reported: u64,
}

fn register<T: std::os::fd::AsRawFd>(inner: T) -> Result<AsyncFd<T>, AuditError> {
    // SAFETY: both socket types own their fd (a `netlink_sys::Socket`,
    // closed on drop and never replaced), so it stays open and the same for
    // the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| {
        AuditError::Io {
            what: "register the audit socket with tokio",
            source: e.into(),
        }
    })
}

impl AuditStream {
    /// Joins the multicast group and takes a first status snapshot (which
    /// queues `audit-disabled` / `auditd-stopped` items if that is the state
    /// at start). Call inside a tokio runtime with IO and time enabled.
    pub fn open(options: AuditOptions) -> Result<AuditStream, AuditError> {
        let multicast = register(MulticastSocket::open(options.rcvbuf)?)?;
        let mut control = ControlSocket::open()?;
        let first = AuditStatus::get(&mut control, Duration::from_secs(2))?;
        let control = register(control)?;
        let mut poll = interval(options.poll_interval.max(Duration::from_millis(1)));
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut flush = interval(options.flush_interval.max(Duration::from_millis(1)));
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut state = State::new(options);
        state.counters.polls += 1;
        state.observe(first);
        Ok(AuditStream {
            multicast,
            control,
            poll,
            flush,
            state,
        })
    }

    /// The receive buffer the kernel granted.
    pub fn rcvbuf(&self) -> usize {
        self.multicast.get_ref().rcvbuf()
    }

    /// The last status snapshot.
    pub fn status(&self) -> Option<&AuditStatus> {
        self.state.tracker.last()
    }

    pub fn counters(&self) -> AuditCounters {
        AuditCounters {
            assembler: *self.state.assembler.stats(),
            ..self.state.counters
        }
    }

    pub fn options(&self) -> &AuditOptions {
        &self.state.options
    }

    /// The next item. Cancel-safe; errors only when a socket fails for good.
    pub async fn next(&mut self) -> Result<AuditItem, AuditError> {
        loop {
            let state = &mut self.state;
            if let Some(item) = state.pending.pop_front() {
                return Ok(item);
            }
            tokio::select! {
                biased;
                _ = self.poll.tick() => {
                    state.send_status_request(self.control.get_mut());
                }
                _ = self.flush.tick() => {
                    let now = state.now_ms();
                    state.assembler.tick(now);
                    state.collect();
                }
                guard = self.control.readable_mut() => {
                    let mut guard = guard.map_err(|source| AuditError::Io {
                        what: "wait on the audit control socket",
                        source,
                    })?;
                    if state.read_control(guard.get_inner_mut())? {
                        guard.clear_ready();
                    }
                }
                guard = self.multicast.readable_mut() => {
                    let mut guard = guard.map_err(|source| AuditError::Io {
                        what: "wait on the audit multicast socket",
                        source,
                    })?;
                    if state.read_multicast(&mut guard)? {
                        guard.clear_ready();
                    }
                }
            }
        }
    }

    /// Ends the stream's input: emits every open event and counts serials
    /// still missing as gaps. Call at shutdown, then read [`Self::counters`].
    pub fn finish(&mut self) -> Vec<AuditItem> {
        self.state.assembler.flush_all();
        self.state.collect();
        self.state.pending.drain(..).collect()
    }
}

impl State {
    fn new(options: AuditOptions) -> State {
        State {
            options,
            assembler: Assembler::new(options.assembler),
            tracker: HealthTracker::default(),
            pending: VecDeque::new(),
            status_seq: None,
            start: Instant::now(),
            counters: AuditCounters::default(),
            gaps_reported: 0,
            parse_errors_reported: 0,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn send_status_request(&mut self, ctl: &mut ControlSocket) {
        if self.status_seq.is_some() {
            // The last poll went unanswered for a whole interval.
            self.counters.poll_errors += 1;
        }
        match ctl.send(AUDIT_GET, false, &[]) {
            Ok(seq) => self.status_seq = Some(seq),
            Err(_) => {
                self.counters.poll_errors += 1;
                self.status_seq = None;
            }
        }
    }

    /// Reads the control socket dry; true when it is dry.
    fn read_control(&mut self, ctl: &mut ControlSocket) -> Result<bool, AuditError> {
        loop {
            let Some(seq) = self.status_seq else {
                // Nothing asked: drain stale answers.
                if ctl.try_recv(0)?.is_none() {
                    return Ok(true);
                }
                continue;
            };
            let Some(replies) = ctl.try_recv(seq)? else {
                return Ok(true);
            };
            if replies
                .iter()
                .any(|r| matches!(r, super::netlink::Reply::Error(_)))
            {
                self.counters.poll_errors += 1;
                self.status_seq = None;
                continue;
            }
            if let Ok(status) = AuditStatus::from_replies(&replies) {
                self.status_seq = None;
                self.counters.polls += 1;
                self.observe(status);
            }
        }
    }

    fn observe(&mut self, status: AuditStatus) {
        let alive = status.pid != 0 && pid_alive(status.pid);
        let observed = self.tracker.observe(status, alive);
        for change in observed.changes {
            self.pending.push_back(AuditItem::Health(HealthChange {
                change,
                status,
                source: "status-poll",
                serial: None,
                auid: None,
            }));
        }
        if observed.kernel_lost > 0 {
            self.counters.kernel_lost += observed.kernel_lost;
            self.pending.push_back(AuditItem::Loss(Loss {
                source: LossSource::Kernel,
                count: observed.kernel_lost,
            }));
        }
    }

    /// A CONFIG_CHANGE record that set the enabled flag: the health change
    /// now, not at the next poll.
    fn enabled_change(&mut self, event: &AuditEvent) -> Option<HealthChange> {
        let (set, auid) = event
            .records_of(super::RecordType::CONFIG_CHANGE)
            .filter_map(|r| r.config_change())
            .filter(|c| c.op() == Some(b"set".as_slice()) && c.res() != Some(false))
            .find_map(|c| {
                let n = c.record().get("audit_enabled").and_then(|v| v.to_u32())?;
                Some((n, c.auid()))
            })?;
        let (change, status) = self.tracker.observe_enabled(set)?;
        Some(HealthChange {
            change,
            status,
            source: "config-change",
            serial: Some(event.serial),
            auid,
        })
    }

    /// Takes up to `max_batch` datagrams; true when the socket is dry.
    fn read_multicast(
        &mut self,
        guard: &mut tokio::io::unix::AsyncFdReadyMutGuard<'_, MulticastSocket>,
    ) -> Result<bool, AuditError> {
        let mut overruns = 0u64;
        let mut unreadable = 0u64;
        let mut dry = false;
        for _ in 0..self.options.max_batch.max(1) {
            let datagram = match guard.get_inner_mut().try_recv() {
                Ok(Some(d)) => d,
                Ok(None) => {
                    dry = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(AuditError::Io {
                        what: "read the audit multicast socket",
                        source,
                    })
                }
            };
            let now = self.now_ms();
            match datagram {
                Datagram::Overrun => {
                    overruns += 1;
                }
                Datagram::Foreign => {
                    self.counters.foreign += 1;
                    unreadable += 1;
                }
                Datagram::Records(records) | Datagram::Malformed(records) if records.is_empty() => {
                    self.counters.malformed += 1;
                    unreadable += 1;
                }
                Datagram::Records(records) => {
                    self.counters.datagrams += 1;
                    self.push_records(records, now);
                }
                Datagram::Malformed(records) => {
                    self.counters.datagrams += 1;
                    self.counters.malformed += 1;
                    unreadable += 1;
                    self.push_records(records, now);
                }
            }
        }
        if overruns > 0 {
            self.counters.overruns += overruns;
            self.pending.push_back(AuditItem::Loss(Loss {
                source: LossSource::Overrun,
                count: overruns,
            }));
        }
        if unreadable > 0 {
            self.pending.push_back(AuditItem::Loss(Loss {
                source: LossSource::Unparsable,
                count: unreadable,
            }));
        }
        self.collect();
        Ok(dry)
    }

    fn push_records(&mut self, records: Vec<(u16, bytes::Bytes)>, now: u64) {
        for (msg_type, payload) in records {
            match parse_netlink_bytes(msg_type, payload) {
                Ok(record) => self.assembler.push(record, now),
                Err(_) => self.assembler.count_parse_error(),
            }
        }
    }

    /// Moves finished events and new gaps and parse errors to `pending`.
    fn collect(&mut self) {
        while let Some(event) = self.assembler.pop_ready() {
            if let Some(change) = self.enabled_change(&event) {
                self.pending.push_back(AuditItem::Health(change));
            }
            self.pending.push_back(AuditItem::Event(event));
        }
        let stats = *self.assembler.stats();
        if stats.serial_gaps > self.gaps_reported {
            self.pending.push_back(AuditItem::Loss(Loss {
                source: LossSource::SerialGap,
                count: stats.serial_gaps - self.gaps_reported,
            }));
            self.gaps_reported = stats.serial_gaps;
        }
        if stats.parse_errors > self.parse_errors_reported {
            self.pending.push_back(AuditItem::Loss(Loss {
                source: LossSource::Unparsable,
                count: stats.parse_errors - self.parse_errors_reported,
            }));
            self.parse_errors_reported = stats.parse_errors;
        }
    }
}

impl AuditItem {
    /// One JSON object for `swmon audit-tail` and debugging: an event as its
    /// serial, record types, key, argv and the SYSCALL facts; a gap item as
    /// its action and fields. Bytes are written with [`crate::event::lossless`].
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;

        use crate::event::lossless;
        match self {
            AuditItem::Event(e) => {
                let syscall = e.syscall();
                let text =
                    |t: Option<super::Text<'_>>| t.and_then(|t| t.lossless_bytes().map(lossless));
                json!({
                    "item": "event",
                    "serial": e.serial,
                    "timestamp": e.timestamp.to_string(),
                    "end": e.end,
                    "late": e.late,
                    "types": e.records.iter().map(|r| r.type_name().into_owned()).collect::<Vec<_>>(),
                    "keys": e.keys().iter().map(|k| lossless(k)).collect::<Vec<_>>(),
                    "syscall": syscall.as_ref().and_then(|s| s.syscall()),
                    "success": syscall.as_ref().and_then(|s| s.success()),
                    "pid": syscall.as_ref().and_then(|s| s.pid()),
                    "auid": syscall.as_ref().and_then(|s| s.auid()),
                    "exe": text(syscall.as_ref().and_then(|s| s.exe())),
                    "argv": e.argv().map(|a| a.args.iter().map(|x| lossless(x)).collect::<Vec<_>>()),
                })
            }
            AuditItem::Health(h) => {
                let mut v = serde_json::to_value(h).unwrap_or_default();
                v["item"] = json!(h.change.action());
                v
            }
            AuditItem::Loss(l) => {
                let mut v = serde_json::to_value(l).unwrap_or_default();
                v["item"] = json!("audit-records-lost");
                v
            }
            AuditItem::RulesRemoved(r) => {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["item"] = json!(r.action());
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(serial: u64, lines: &[(u16, &str)]) -> Vec<(u16, bytes::Bytes)> {
        lines
            .iter()
            .map(|(t, body)| {
                let text = format!("audit(1796095736.734:{serial}): {body}");
                (*t, bytes::Bytes::from(text.into_bytes()))
            })
            .collect()
    }

    /// `auditctl -e 0` as this kernel multicasts it (6.18, recorded with a
    /// listener on group 1).
    fn disable(serial: u64) -> Vec<(u16, bytes::Bytes)> {
        records(
            serial,
            &[
                (1305, "op=set audit_enabled=0 old=1 auid=1000 ses=4 res=1"),
                (1300, "arch=c000003e syscall=44 success=yes exit=60 a0=4 a1=7ffd68222480 a2=3c a3=0 items=0 ppid=16722 pid=16855 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4 comm=\"auditctl\" exe=\"/usr/sbin/auditctl\" key=(null)"),
                (1306, "saddr=100000000000000000000000"),
                (1327, "proctitle=617564697463746C002D650030"),
                (1320, ""),
            ],
        )
    }

    #[test]
    fn the_disable_record_is_a_health_change_before_the_next_poll() {
        let mut s = State::new(AuditOptions::default());
        s.observe(AuditStatus {
            enabled: 1,
            pid: 0,
            ..AuditStatus::default()
        });
        s.pending.clear();
        s.push_records(disable(22510), 0);
        s.collect();
        let items: Vec<AuditItem> = s.pending.drain(..).collect();
        assert_eq!(items.len(), 2, "{items:?}");
        let AuditItem::Health(h) = &items[0] else {
            panic!("want the health change first: {items:?}");
        };
        assert_eq!(h.change, Health::AuditDisabled { at_start: false });
        assert_eq!(h.source, "config-change");
        assert_eq!(h.serial, Some(22510));
        assert_eq!(h.auid, Some(1000));
        assert_eq!(h.status.enabled, 0);
        assert!(matches!(items[1], AuditItem::Event(_)));
        // The poll that shows the flag off says nothing more; the one that
        // shows it back on (`-e 1` from 0 logs no record) does.
        s.observe(AuditStatus::default());
        assert!(s.pending.is_empty(), "{:?}", s.pending);
        s.observe(AuditStatus {
            enabled: 1,
            ..AuditStatus::default()
        });
        assert!(matches!(
            s.pending.pop_front(),
            Some(AuditItem::Health(HealthChange {
                change: Health::AuditEnabled { locked: false },
                source: "status-poll",
                ..
            }))
        ));
        // A refused change (res=0) and a no-op `-e 1` change nothing.
        s.push_records(
            records(
                22511,
                &[
                    (1305, "op=set audit_enabled=0 old=1 auid=0 ses=1 res=0"),
                    (1320, ""),
                ],
            ),
            0,
        );
        s.push_records(
            records(
                22512,
                &[
                    (1305, "op=set audit_enabled=1 old=1 auid=0 ses=1 res=1"),
                    (1320, ""),
                ],
            ),
            0,
        );
        s.collect();
        assert!(
            s.pending.iter().all(|i| matches!(i, AuditItem::Event(_))),
            "{:?}",
            s.pending
        );
    }
}
