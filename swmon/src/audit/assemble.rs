//! Groups audit records into events by serial.
//!
//! All records of one event share the `audit(...:SERIAL)` stamp, and a
//! syscall event ends with an EOE record. Records of different events
//! interleave (several CPUs log at once), so grouping is by serial, never by
//! adjacency. Records are lost (multicast overruns, a full backlog), EOE
//! included, and auditd's log has no EOE at all, so an open event is also
//! flushed once it has waited [`AssemblerConfig::timeout_ms`]. Memory is
//! bounded: past [`AssemblerConfig::max_open_events`] or
//! [`AssemblerConfig::max_open_bytes`] the oldest open event is evicted.
//! Every record pushed leaves in exactly one event; nothing is dropped
//! silently, and the [`AssemblerStats`] counters say how each event ended.
//!
//! The assembler is pure: the caller passes the time (milliseconds on any
//! clock that does not go backwards, e.g. a monotonic clock, or the records'
//! own timestamps when replaying a log), so tests control it. It does not
//! read sockets or files, nor interpret events.

use std::{
    collections::{HashMap, VecDeque},
    hash::{BuildHasherDefault, Hasher},
};

use serde::Serialize;

use super::{
    error::ParseError,
    execve::{reassemble_argv, Argv},
    record::{parse_log_line, parse_netlink, Record, Timestamp},
    types::RecordType,
    value::Text,
    views::{ConfigChangeRecord, PathRecord, Proctitle, SyscallRecord},
};

/// Limits of an [`Assembler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssemblerConfig {
    /// How long an open event waits for more records, from its first record.
    /// Also how long a serial skipped in the sequence may still arrive before
    /// it counts as a gap. auparse waits 2 s for the same reason.
    pub timeout_ms: u64,
    /// Open events at most; the oldest is evicted past this.
    pub max_open_events: usize,
    /// Bytes held by open events at most ([`Record::heap_size`]).
    pub max_open_bytes: usize,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            timeout_ms: 2_000,
            max_open_events: 4_096,
            max_open_bytes: 64 << 20,
        }
    }
}

/// How an event left the assembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventEnd {
    /// Its EOE record arrived: complete, unless records were lost in between.
    Eoe,
    /// It waited [`AssemblerConfig::timeout_ms`]. On netlink this means the
    /// EOE was lost, or the event never has one; in auditd's log, which has
    /// no EOE, it is how every multi-record event ends.
    Timeout,
    /// Pushed out by the open-event or byte cap.
    Evicted,
    /// Emitted by [`Assembler::flush_all`] at the end of input.
    Flushed,
    /// A record that is an event by itself (auditd's own `DAEMON_*`).
    Standalone,
}

/// An event: the records that share one serial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub serial: u64,
    /// The stamp of its first record.
    pub timestamp: Timestamp,
    /// In arrival order (the kernel's order within an event).
    pub records: Vec<Record>,
    pub end: EventEnd,
    /// Its records arrived after an event with this serial had already been
    /// emitted (typically the tail of an event flushed by timeout).
    pub late: bool,
}

impl AuditEvent {
    /// The records of one type, in order.
    pub fn records_of(&self, t: RecordType) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter().filter(move |r| r.record_type() == t)
    }

    pub fn syscall(&self) -> Option<SyscallRecord<'_>> {
        self.records.iter().find_map(Record::syscall)
    }

    /// argv reassembled from the EXECVE records; `None` without any.
    pub fn argv(&self) -> Option<Argv> {
        reassemble_argv(&self.records)
    }

    pub fn cwd(&self) -> Option<Text<'_>> {
        self.records.iter().find_map(Record::cwd)
    }

    pub fn paths(&self) -> impl Iterator<Item = PathRecord<'_>> + '_ {
        self.records.iter().filter_map(Record::path)
    }

    pub fn proctitle(&self) -> Option<Proctitle> {
        self.records.iter().find_map(Record::proctitle)
    }

    pub fn config_change(&self) -> Option<ConfigChangeRecord<'_>> {
        self.records.iter().find_map(Record::config_change)
    }

    /// The rule keys that matched: from the SYSCALL record, else from a
    /// CONFIG_CHANGE record (a rule added or removed names its key there).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        if let Some(s) = self.syscall() {
            let keys = s.keys();
            if !keys.is_empty() {
                return keys;
            }
        }
        self.config_change().map(|c| c.keys()).unwrap_or_default()
    }

    /// The first key, the one `ausearch -k` users think of.
    pub fn key(&self) -> Option<Vec<u8>> {
        self.keys().into_iter().next()
    }

    /// Whether the EOE record is among the records.
    pub fn has_eoe(&self) -> bool {
        self.records.iter().any(Record::is_eoe)
    }
}

/// Counters the caller reads to report loss. All only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AssemblerStats {
    /// Records pushed.
    pub records: u64,
    /// Events emitted, however they ended.
    pub events: u64,
    pub ended_by_eoe: u64,
    pub flushed_by_timeout: u64,
    pub evicted: u64,
    pub flushed_at_end: u64,
    pub standalone: u64,
    /// Inputs that did not parse (through [`Assembler::push_netlink`],
    /// [`Assembler::push_log_line`] or [`Assembler::count_parse_error`]).
    pub parse_errors: u64,
    /// Records for a serial whose event had already been emitted.
    pub late_records: u64,
    /// Serials skipped in the kernel's sequence that never arrived within
    /// the timeout: each is an event (or a lone record) lost.
    pub serial_gaps: u64,
    /// Serials that arrived after a later one but within the timeout: not
    /// lost, only reordered.
    pub serials_reordered: u64,
    /// Times the sequence jumped far backwards (a reboot in a replayed log,
    /// or wrap-around); tracking restarted there.
    pub serial_resets: u64,
}

/// Groups records into [`AuditEvent`]s. Push records; take events with
/// [`Assembler::pop_ready`].
#[derive(Debug)]
pub struct Assembler {
    config: AssemblerConfig,
    open: HashMap<u64, OpenEvent, SerialHash>,
    /// Open events by age, `(age, serial)`. Completed events leave their
    /// entry behind; it is skipped when reached and compacted away in bulk.
    by_age: VecDeque<(u64, u64)>,
    next_age: u64,
    open_bytes: usize,
    ready: VecDeque<AuditEvent>,
    serials: SerialTracker,
    clock: u64,
    stats: AssemblerStats,
}

#[derive(Debug)]
struct OpenEvent {
    age: u64,
    deadline: u64,
    bytes: usize,
    event: AuditEvent,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new(AssemblerConfig::default())
    }
}

impl Assembler {
    pub fn new(config: AssemblerConfig) -> Assembler {
        Assembler {
            config,
            open: HashMap::default(),
            by_age: VecDeque::new(),
            next_age: 0,
            open_bytes: 0,
            ready: VecDeque::new(),
            serials: SerialTracker::default(),
            clock: 0,
            stats: AssemblerStats::default(),
        }
    }

    pub fn config(&self) -> &AssemblerConfig {
        &self.config
    }

    pub fn stats(&self) -> &AssemblerStats {
        &self.stats
    }

    /// Open events now.
    pub fn open_events(&self) -> usize {
        self.open.len()
    }

    /// Adds one record at time `now_ms`. Completed events (this one's, and
    /// any that timed out or were evicted) queue for [`Assembler::pop_ready`];
    /// drain them after each push to keep memory bounded.
    pub fn push(&mut self, record: Record, now_ms: u64) {
        self.stats.records += 1;
        self.advance(now_ms);
        let record_type = record.record_type();

        if record_type.is_daemon() {
            // auditd's own records: their serials are auditd's, not the
            // kernel's, and they never have companions.
            let event = AuditEvent {
                serial: record.serial(),
                timestamp: record.timestamp(),
                records: vec![record],
                end: EventEnd::Standalone,
                late: false,
            };
            self.emit(event);
            return;
        }

        let serial = record.serial();
        let bytes = record.heap_size();
        if let Some(open) = self.open.get_mut(&serial) {
            if open.event.late {
                self.stats.late_records += 1;
            }
            open.event.records.push(record);
            open.bytes += bytes;
            self.open_bytes += bytes;
            if record_type == RecordType::EOE {
                self.close(serial, EventEnd::Eoe);
            } else {
                self.enforce_caps();
            }
            return;
        }

        let late = match self.serials.observe(serial, self.clock, &mut self.stats) {
            Seen::New => false,
            Seen::Old => {
                self.stats.late_records += 1;
                true
            }
        };
        let age = self.next_age;
        self.next_age += 1;
        let event = AuditEvent {
            serial,
            timestamp: record.timestamp(),
            records: vec![record],
            end: EventEnd::Eoe,
            late,
        };
        self.open.insert(
            serial,
            OpenEvent {
                age,
                deadline: self.clock.saturating_add(self.config.timeout_ms),
                bytes,
                event,
            },
        );
        self.by_age.push_back((age, serial));
        self.open_bytes += bytes;
        if record_type == RecordType::EOE {
            self.close(serial, EventEnd::Eoe);
        } else {
            self.enforce_caps();
        }
        self.compact();
    }

    /// Parses a netlink record and pushes it; a parse error is counted and
    /// returned for the caller to log.
    pub fn push_netlink(
        &mut self,
        msg_type: u16,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<(), ParseError> {
        match parse_netlink(msg_type, payload) {
            Ok(record) => {
                self.push(record, now_ms);
                Ok(())
            }
            Err(e) => {
                self.stats.parse_errors += 1;
                Err(e)
            }
        }
    }

    /// Parses an auditd log line and pushes it; a parse error is counted and
    /// returned.
    pub fn push_log_line(&mut self, line: &[u8], now_ms: u64) -> Result<(), ParseError> {
        match parse_log_line(line) {
            Ok(record) => {
                self.push(record, now_ms);
                Ok(())
            }
            Err(e) => {
                self.stats.parse_errors += 1;
                Err(e)
            }
        }
    }

    /// Counts a parse error the caller met parsing on its own, so that all
    /// audit loss is counted in one place.
    pub fn count_parse_error(&mut self) {
        self.stats.parse_errors += 1;
    }

    /// Flushes what timed out by `now_ms`, without a record; call it when the
    /// source is quiet.
    pub fn tick(&mut self, now_ms: u64) {
        self.advance(now_ms);
    }

    /// Emits every open event, oldest first, and counts serials still
    /// missing as gaps: the end of input.
    pub fn flush_all(&mut self) {
        while let Some((age, serial)) = self.by_age.pop_front() {
            if self.is_live(age, serial) {
                self.close(serial, EventEnd::Flushed);
            }
        }
        self.serials.give_up(&mut self.stats);
    }

    /// The next completed event, oldest completion first.
    pub fn pop_ready(&mut self) -> Option<AuditEvent> {
        self.ready.pop_front()
    }

    /// All completed events.
    pub fn drain_ready(&mut self) -> impl Iterator<Item = AuditEvent> + '_ {
        self.ready.drain(..)
    }

    fn advance(&mut self, now_ms: u64) {
        // A clock that steps back (a replayed log's stamps do, by a few ms)
        // must not un-expire anything.
        self.clock = self.clock.max(now_ms);
        while let Some(&(age, serial)) = self.by_age.front() {
            match self.open.get(&serial) {
                Some(open) if open.age == age => {
                    if open.deadline > self.clock {
                        break;
                    }
                    self.by_age.pop_front();
                    self.close(serial, EventEnd::Timeout);
                }
                _ => {
                    self.by_age.pop_front();
                }
            }
        }
        self.serials
            .expire(self.clock, self.config.timeout_ms, &mut self.stats);
    }

    fn enforce_caps(&mut self) {
        while self.open.len() > self.config.max_open_events
            || (self.open_bytes > self.config.max_open_bytes && !self.open.is_empty())
        {
            let Some((age, serial)) = self.by_age.pop_front() else {
                break;
            };
            if self.is_live(age, serial) {
                self.close(serial, EventEnd::Evicted);
            }
        }
    }

    /// Drops stale age entries once they outnumber the open events, so the
    /// queue stays proportional to what is open.
    fn compact(&mut self) {
        if self.by_age.len() > 2 * self.open.len() + 64 {
            let open = &self.open;
            self.by_age
                .retain(|&(age, serial)| open.get(&serial).is_some_and(|o| o.age == age));
        }
    }

    fn is_live(&self, age: u64, serial: u64) -> bool {
        self.open.get(&serial).is_some_and(|o| o.age == age)
    }

    fn close(&mut self, serial: u64, end: EventEnd) {
        if let Some(open) = self.open.remove(&serial) {
            self.open_bytes -= open.bytes;
            let mut event = open.event;
            event.end = end;
            self.emit(event);
        }
    }

    fn emit(&mut self, event: AuditEvent) {
        let counter = match event.end {
            EventEnd::Eoe => &mut self.stats.ended_by_eoe,
            EventEnd::Timeout => &mut self.stats.flushed_by_timeout,
            EventEnd::Evicted => &mut self.stats.evicted,
            EventEnd::Flushed => &mut self.stats.flushed_at_end,
            EventEnd::Standalone => &mut self.stats.standalone,
        };
        *counter += 1;
        self.stats.events += 1;
        self.ready.push_back(event);
    }
}

/// What the serial sequence says about a serial not open now.
enum Seen {
    /// Not seen before: the next in sequence, a jump ahead, or one that was
    /// missing and has now arrived.
    New,
    /// At or below the highest seen and not missing: its event was already
    /// emitted.
    Old,
}

/// A skipped serial still waiting to arrive.
#[derive(Debug)]
struct Missing {
    serial: u64,
    since: u64,
}

/// Watches the kernel's serial sequence for gaps. The kernel numbers every
/// record it emits from one global counter, and a multicast listener receives
/// every record, so a serial that never arrives is a lost event. Serials from
/// different CPUs can arrive slightly out of order, so a skipped serial only
/// counts as a gap once it has been missing for the timeout.
#[derive(Debug, Default)]
struct SerialTracker {
    highest: Option<u64>,
    /// The lowest serial seen since tracking started: below it are events
    /// that were in flight when we started listening, not late ones.
    lowest: u64,
    /// Ascending by serial (they are pushed as the sequence advances).
    missing: VecDeque<Missing>,
}

impl SerialTracker {
    /// At most this many skipped serials wait to arrive; a larger jump counts
    /// the excess as gaps at once.
    const MAX_MISSING: usize = 65_536;
    /// A serial this far below the highest is a new sequence, not a late one.
    const RESET_DISTANCE: u64 = 1 << 24;

    fn observe(&mut self, serial: u64, now: u64, stats: &mut AssemblerStats) -> Seen {
        let Some(highest) = self.highest else {
            self.highest = Some(serial);
            self.lowest = serial;
            return Seen::New;
        };
        if serial > highest {
            let skipped = serial - highest - 1;
            let waited = skipped.min(Self::MAX_MISSING as u64);
            stats.serial_gaps += skipped - waited;
            for s in serial - waited..serial {
                self.missing.push_back(Missing {
                    serial: s,
                    since: now,
                });
            }
            while self.missing.len() > Self::MAX_MISSING {
                self.missing.pop_front();
                stats.serial_gaps += 1;
            }
            self.highest = Some(serial);
            return Seen::New;
        }
        if let Ok(at) = self.missing.binary_search_by_key(&serial, |m| m.serial) {
            self.missing.remove(at);
            stats.serials_reordered += 1;
            return Seen::New;
        }
        if highest - serial > Self::RESET_DISTANCE {
            stats.serial_resets += 1;
            self.give_up(stats);
            self.highest = Some(serial);
            self.lowest = serial;
            return Seen::New;
        }
        if serial < self.lowest {
            self.lowest = serial;
            return Seen::New;
        }
        Seen::Old
    }

    fn expire(&mut self, now: u64, timeout: u64, stats: &mut AssemblerStats) {
        while let Some(m) = self.missing.front() {
            if m.since.saturating_add(timeout) > now {
                break;
            }
            self.missing.pop_front();
            stats.serial_gaps += 1;
        }
    }

    /// Counts every serial still missing as a gap.
    fn give_up(&mut self, stats: &mut AssemblerStats) {
        stats.serial_gaps += self.missing.len() as u64;
        self.missing.clear();
    }
}

/// Serials are sequential integers; SipHash is wasted on them, and the
/// identity would put them all in one bucket group, so mix with a multiply.
#[derive(Clone, Copy, Debug, Default)]
struct SerialHasher(u64);

type SerialHash = BuildHasherDefault<SerialHasher>;

impl Hasher for SerialHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::parse_netlink;

    fn rec(t: u16, serial: u64, body: &str) -> Record {
        parse_netlink(
            t,
            format!("audit(1700000000.000:{serial}): {body}").as_bytes(),
        )
        .unwrap()
    }

    fn syscall(serial: u64) -> Record {
        rec(
            1300,
            serial,
            "syscall=59 success=yes exit=0 pid=1 key=(null)",
        )
    }

    fn cwd(serial: u64) -> Record {
        rec(1307, serial, "cwd=\"/\"")
    }

    fn eoe(serial: u64) -> Record {
        rec(1320, serial, "")
    }

    fn drain(a: &mut Assembler) -> Vec<AuditEvent> {
        a.drain_ready().collect()
    }

    fn types(e: &AuditEvent) -> Vec<String> {
        e.records
            .iter()
            .map(|r| r.type_name().into_owned())
            .collect()
    }

    #[test]
    fn groups_until_eoe() {
        let mut a = Assembler::default();
        a.push(syscall(10), 0);
        a.push(cwd(10), 0);
        assert!(a.pop_ready().is_none());
        a.push(eoe(10), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!(ev.serial, 10);
        assert_eq!(ev.end, EventEnd::Eoe);
        assert_eq!(types(&ev), ["SYSCALL", "CWD", "EOE"]);
        assert!(!ev.late);
        assert_eq!(a.open_events(), 0);
        assert_eq!(a.stats().ended_by_eoe, 1);
        assert_eq!(a.stats().records, 3);
    }

    #[test]
    fn interleaved_events_group_by_serial() {
        let mut a = Assembler::default();
        a.push(syscall(1), 0);
        a.push(syscall(2), 0);
        a.push(cwd(1), 0);
        a.push(cwd(2), 0);
        a.push(eoe(2), 0);
        a.push(eoe(1), 0);
        let evs = drain(&mut a);
        assert_eq!(evs.len(), 2);
        assert_eq!((evs[0].serial, evs[1].serial), (2, 1));
        for ev in &evs {
            assert_eq!(types(ev), ["SYSCALL", "CWD", "EOE"]);
            assert!(ev.records.iter().all(|r| r.serial() == ev.serial));
        }
        assert_eq!(a.stats().serial_gaps, 0);
    }

    #[test]
    fn lost_eoe_times_out() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 1_000);
        a.push(cwd(1), 1_050);
        a.tick(1_099);
        assert!(a.pop_ready().is_none());
        a.tick(1_100);
        let ev = a.pop_ready().unwrap();
        assert_eq!(ev.end, EventEnd::Timeout);
        assert_eq!(types(&ev), ["SYSCALL", "CWD"]);
        assert_eq!(a.stats().flushed_by_timeout, 1);
    }

    #[test]
    fn timeout_is_checked_on_push_too() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 0);
        a.push(syscall(2), 500);
        let ev = a.pop_ready().unwrap();
        assert_eq!((ev.serial, ev.end), (1, EventEnd::Timeout));
        assert_eq!(a.open_events(), 1);
    }

    #[test]
    fn records_after_timeout_are_late_not_lost() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 0);
        a.tick(200);
        assert_eq!(a.pop_ready().unwrap().end, EventEnd::Timeout);
        a.push(cwd(1), 210);
        a.push(eoe(1), 210);
        let ev = a.pop_ready().unwrap();
        assert!(ev.late);
        assert_eq!(ev.end, EventEnd::Eoe);
        assert_eq!(types(&ev), ["CWD", "EOE"]);
        assert_eq!(a.stats().late_records, 2);
    }

    #[test]
    fn lone_eoe_is_an_event() {
        let mut a = Assembler::default();
        a.push(eoe(5), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!(types(&ev), ["EOE"]);
        assert_eq!(ev.end, EventEnd::Eoe);
    }

    #[test]
    fn eviction_at_the_cap_takes_the_oldest() {
        let mut a = Assembler::new(AssemblerConfig {
            max_open_events: 2,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 0);
        a.push(syscall(2), 0);
        a.push(cwd(1), 0);
        assert!(a.pop_ready().is_none());
        a.push(syscall(3), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!((ev.serial, ev.end), (1, EventEnd::Evicted));
        assert_eq!(types(&ev), ["SYSCALL", "CWD"]);
        assert_eq!(a.open_events(), 2);
        assert_eq!(a.stats().evicted, 1);
        // The evicted event's tail is late, not lost.
        a.push(eoe(1), 0);
        let ev = a.pop_ready().unwrap();
        assert!(ev.late);
        assert_eq!((ev.serial, ev.end), (1, EventEnd::Eoe));
        assert_eq!(a.stats().late_records, 1);
        assert_eq!(a.open_events(), 2);
    }

    #[test]
    fn byte_cap_evicts() {
        let mut a = Assembler::new(AssemblerConfig {
            max_open_bytes: syscall(1).heap_size() * 2 + 10,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 0);
        a.push(syscall(2), 0);
        assert!(a.pop_ready().is_none());
        a.push(syscall(3), 0);
        assert_eq!(a.pop_ready().unwrap().serial, 1);
        assert_eq!(a.stats().evicted, 1);
    }

    #[test]
    fn serial_gaps_are_counted_after_the_timeout() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..AssemblerConfig::default()
        });
        for s in [1, 2, 5, 6] {
            a.push(eoe(s), 0);
        }
        // 3 and 4 may still arrive.
        assert_eq!(a.stats().serial_gaps, 0);
        a.push(eoe(3), 50);
        assert_eq!(a.stats().serials_reordered, 1);
        a.tick(100);
        assert_eq!(a.stats().serial_gaps, 1);
        // 4 arriving now is late: it was already counted as a gap.
        a.push(eoe(4), 150);
        assert_eq!(a.stats().late_records, 1);
        assert_eq!(a.stats().serial_gaps, 1);
    }

    #[test]
    fn events_in_flight_at_start_are_not_late() {
        let mut a = Assembler::default();
        a.push(syscall(10), 0);
        a.push(syscall(9), 0);
        a.push(eoe(9), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!(ev.serial, 9);
        assert!(!ev.late);
        assert_eq!(a.stats().late_records, 0);
        // Once seen and emitted, the same serial again is late.
        a.push(cwd(9), 0);
        a.flush_all();
        assert_eq!(a.stats().late_records, 1);
    }

    #[test]
    fn flush_all_counts_missing_serials_and_open_events() {
        let mut a = Assembler::default();
        a.push(syscall(1), 0);
        a.push(syscall(4), 0);
        a.flush_all();
        let evs = drain(&mut a);
        assert_eq!(evs.iter().map(|e| e.serial).collect::<Vec<_>>(), [1, 4]);
        assert!(evs.iter().all(|e| e.end == EventEnd::Flushed));
        assert_eq!(a.stats().serial_gaps, 2);
        assert_eq!(a.stats().flushed_at_end, 2);
        assert_eq!(a.open_events(), 0);
    }

    #[test]
    fn huge_serial_jump_is_bounded() {
        let mut a = Assembler::default();
        a.push(eoe(1), 0);
        a.push(eoe(1 << 40), 0);
        a.flush_all();
        assert_eq!(a.stats().serial_gaps, (1 << 40) - 2);
    }

    #[test]
    fn serial_reset_restarts_tracking() {
        let mut a = Assembler::default();
        a.push(eoe(100_000_000), 0);
        a.push(eoe(5), 0);
        a.push(eoe(6), 0);
        assert_eq!(a.stats().serial_resets, 1);
        assert_eq!(a.stats().late_records, 0);
        assert_eq!(a.stats().serial_gaps, 0);
    }

    #[test]
    fn daemon_records_stand_alone_and_skip_the_sequence() {
        let mut a = Assembler::default();
        a.push(syscall(176_438), 0);
        a.push(rec(1200, 3677, "op=start ver=3.0.9"), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!((ev.serial, ev.end), (3677, EventEnd::Standalone));
        a.push(eoe(176_438), 0);
        assert_eq!(a.pop_ready().unwrap().end, EventEnd::Eoe);
        assert_eq!(a.stats().late_records, 0);
        assert_eq!(a.stats().serial_resets, 0);
    }

    #[test]
    fn clock_going_back_does_not_unexpire() {
        let mut a = Assembler::new(AssemblerConfig {
            timeout_ms: 100,
            ..AssemblerConfig::default()
        });
        a.push(syscall(1), 1_000);
        a.push(syscall(2), 5);
        a.tick(1_099);
        assert!(a.pop_ready().is_none());
        a.tick(1_100);
        assert_eq!(drain(&mut a).len(), 2);
    }

    #[test]
    fn push_netlink_counts_parse_errors() {
        let mut a = Assembler::default();
        assert!(a.push_netlink(1300, b"garbage", 0).is_err());
        assert!(a.push_log_line(b"garbage", 0).is_err());
        a.count_parse_error();
        assert_eq!(a.stats().parse_errors, 3);
        assert!(a.push_netlink(1320, b"audit(1.000:1): ", 0).is_ok());
        assert_eq!(a.stats().records, 1);
    }

    #[test]
    fn event_helpers() {
        let mut a = Assembler::default();
        a.push(
            rec(
                1300,
                9,
                "syscall=59 success=yes exit=0 pid=7 key=\"software-installer\"",
            ),
            0,
        );
        a.push(rec(1309, 9, "argc=2 a0=\"dpkg\" a1=\"-i\""), 0);
        a.push(cwd(9), 0);
        a.push(
            rec(
                1302,
                9,
                "item=0 name=\"/usr/bin/dpkg\" inode=1 dev=fe:00 mode=0100755 nametype=NORMAL",
            ),
            0,
        );
        a.push(rec(1327, 9, "proctitle=64706B67002D69"), 0);
        a.push(eoe(9), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!(ev.syscall().unwrap().pid(), Some(7));
        assert_eq!(ev.argv().unwrap().args, [b"dpkg".to_vec(), b"-i".to_vec()]);
        assert_eq!(ev.cwd().unwrap().as_bytes(), Some(&b"/"[..]));
        assert_eq!(ev.paths().count(), 1);
        assert_eq!(
            ev.proctitle().unwrap().args(),
            [b"dpkg".to_vec(), b"-i".to_vec()]
        );
        assert_eq!(ev.key(), Some(b"software-installer".to_vec()));
        assert_eq!(ev.records_of(RecordType::CWD).count(), 1);
        assert!(ev.has_eoe());
    }

    #[test]
    fn config_change_key() {
        let mut a = Assembler::default();
        a.push(
            rec(
                1305,
                17,
                "auid=0 ses=1 op=add_rule key=\"software-installer\" list=4 res=1",
            ),
            0,
        );
        a.push(rec(1300, 17, "syscall=44 key=(null)"), 0);
        a.push(eoe(17), 0);
        let ev = a.pop_ready().unwrap();
        assert_eq!(ev.key(), Some(b"software-installer".to_vec()));
    }

    #[test]
    fn stale_age_entries_are_compacted() {
        let mut a = Assembler::default();
        for s in 0..10_000 {
            a.push(syscall(s), 0);
            a.push(eoe(s), 0);
            drain(&mut a);
        }
        assert!(a.by_age.len() < 100, "{}", a.by_age.len());
        assert_eq!(a.stats().events, 10_000);
    }
}
