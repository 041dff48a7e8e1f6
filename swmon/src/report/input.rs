//! Reads the report's two inputs into plain records: swmon's JSON Lines
//! (installer runs and state events) and pure auditd's log (execs recorded
//! with the key), each remembering the file and line it came from.
//!
//! Reading is forgiving line by line and strict about files: a line that
//! does not parse (invalid JSON, a foreign or cut line, an event from a newer
//! swmon) becomes a [`Warning`] with its file and line and the rest is still
//! read, while a file that cannot be opened or read is an error. Unknown
//! fields are fine: only the fields of the event contract are read. The audit
//! text is parsed and grouped by [`crate::audit`]; nothing here parses audit
//! records by hand. Matching the two sides is [`super::compare`]'s job.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, ErrorKind},
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

use super::{
    error::ReportError,
    model::{AncestorRef, Change, Mismatch, PackageOut, UserRef, Warning, MAX_CHANGES_KEPT},
};
use crate::audit::{Assembler, AuditEvent, RecordType, Text, UNSET_ID};

/// The newest `swmon.schema` this reader knows. Events from before the field
/// existed have none and read as this version.
pub const KNOWN_EVENT_SCHEMA: u64 = 1;

/// Warnings listed per input file at most; the rest are counted.
pub const MAX_WARNINGS_PER_FILE: u64 = 50;

/// Microseconds since the epoch.
pub type Micros = i64;

/// The last time the report can hold: 9999-12-31T23:59:59.999999Z (RFC 3339
/// has four-digit years). Every time read from an input is checked against
/// `0..=MAX_TIME_US`, so sums and differences of times cannot overflow.
pub const MAX_TIME_US: Micros = 253_402_300_799_999_999;

/// The last audit stamp the report can hold, in seconds.
const MAX_AUDIT_SECS: u64 = 253_402_300_799;

/// Longest input line read; a longer one is skipped with a warning, so one
/// line without a newline cannot make the reader hold a whole file. swmon
/// writes lines of at most 64 KiB and the kernel records of at most
/// [`crate::audit::MAX_RECORD_LEN`].
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// Collects warnings, at most [`MAX_WARNINGS_PER_FILE`] listed per file.
#[derive(Debug, Default)]
pub struct Warnings {
    pub list: Vec<Warning>,
    pub suppressed: u64,
    per_file: HashMap<String, u64>,
}

impl Warnings {
    pub fn push(&mut self, file: &str, line: Option<u64>, message: impl Into<String>) {
        let n = self.per_file.entry(file.to_owned()).or_default();
        *n += 1;
        if *n > MAX_WARNINGS_PER_FILE {
            self.suppressed += 1;
            return;
        }
        self.list.push(Warning {
            file: file.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// Puts the listed warnings about `file` in line order (some are only
    /// known at the end of the file).
    pub fn sort_file(&mut self, file: &str) {
        let start = self
            .list
            .iter()
            .position(|w| w.file == file)
            .unwrap_or(self.list.len());
        self.list[start..].sort_by_key(|w| (w.file != file, w.line));
    }

    /// Warnings about `file`, listed or not.
    pub fn count_for(&self, file: &str) -> u64 {
        self.per_file.get(file).copied().unwrap_or(0)
    }
}

/// An installer run as swmon's event describes it.
#[derive(Clone, Debug)]
pub struct SwmonRun {
    pub start: Micros,
    pub end: Option<Micros>,
    pub host: Option<String>,
    pub pid: u32,
    pub ppid: Option<u32>,
    pub executable: Option<String>,
    pub args: Vec<String>,
    /// Earlier execs of the same process (`swmon.exec_chain`): executable
    /// and args, for matching an audit record of one of them.
    pub chain: Vec<(Option<String>, Vec<String>)>,
    pub exit_code: Option<i64>,
    pub user: Option<UserRef>,
    pub login_user: Option<UserRef>,
    pub action: Option<String>,
    pub manager: Option<String>,
    pub operation: Option<String>,
    pub packages: Vec<PackageOut>,
    pub scope: Option<String>,
    pub via: Option<String>,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub audit_serial: Option<u64>,
    /// `swmon.run_id`: what a `verdict-amended` names.
    pub run_id: Option<String>,
    /// Corrections applied (`verdict-amended` of the same run id); the
    /// verdict and reason above are then the last correction's.
    pub amended: u32,
    /// The verdict and reason as first written, when amended.
    pub first_verdict: Option<String>,
    pub first_reason: Option<String>,
    pub source: String,
    /// `swmon.parent_run_id`: the run this one is nested in.
    pub parent_run_id: Option<String>,
    pub detected_by: Vec<String>,
    /// An early event (`event.type` names a start): the run's final
    /// event follows with the same run id.
    pub early: bool,
    /// Early events folded into this run.
    pub early_events: u32,
    /// `@timestamp`: when the event was written (tells two early events
    /// of one run apart from one line read twice).
    pub written: Option<Micros>,
    /// `swmon.reason` `no-installer-exec` with only the state witness.
    pub state_only: bool,
    pub changes: Vec<Change>,
    pub changes_total: u64,
    /// Null when the event has no `swmon.mismatches` (not known).
    pub mismatches: Option<Vec<Mismatch>>,
    pub mismatches_total: u64,
    /// The writer's parents, for a state-only install only.
    pub ancestors: Vec<AncestorRef>,
}

/// A `verdict-amended` event: a late audit record changed the verdict of
/// the run of `run_id` (on `host`).
#[derive(Clone, Debug)]
pub struct Amendment {
    pub time: Micros,
    pub host: Option<String>,
    pub run_id: String,
    pub verdict: Option<String>,
    pub reason: Option<String>,
    pub audit_serial: Option<u64>,
    pub source: String,
}

/// A state or gap event (`audit-disabled`, `monitor-stopped`, ...).
#[derive(Clone, Debug)]
pub struct StateEvent {
    pub time: Micros,
    pub host: Option<String>,
    pub action: String,
    /// `swmon.lost.count` of a loss event.
    pub lost: Option<u64>,
    pub source: String,
}

/// What one events file held.
#[derive(Debug, Default)]
pub struct EventsFile {
    pub lines: u64,
    pub runs: Vec<SwmonRun>,
    pub states: Vec<StateEvent>,
    pub amendments: Vec<Amendment>,
}

/// An exec that pure auditd recorded with the key.
#[derive(Clone, Debug)]
pub struct AuditRun {
    pub serial: u64,
    pub time_ms: u64,
    pub node: Option<String>,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub auid: Option<u32>,
    /// auditd's enriched names (`UID="root"`), when the log has them.
    pub uid_name: Option<String>,
    pub auid_name: Option<String>,
    pub exe: Option<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    /// The file exec was asked to run (PATH item 0), which differs from
    /// `exe` for scripts.
    pub exec_path: Option<Vec<u8>>,
    pub keys: Vec<String>,
    pub source: String,
}

/// What one audit log held.
#[derive(Debug, Default)]
pub struct AuditFile {
    pub lines: u64,
    pub runs: Vec<AuditRun>,
}

/// Parses a time bound: RFC 3339 (`2026-11-26T08:11:38Z`, fractions and a
/// space for `T` allowed, UTC only) or seconds since the epoch.
pub fn parse_time(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return micros_of(t);
    }
    let secs: f64 = s.strip_prefix('@').unwrap_or(s).parse().ok()?;
    // Checked before the cast: `as` would saturate a huge value silently.
    let micros = (secs * 1e6).round();
    (micros.is_finite() && (0.0..=MAX_TIME_US as f64).contains(&micros))
        .then_some(micros as Micros)
        .filter(|t| in_range(*t))
}

/// Whether `t` is a time the report can hold (`0..=MAX_TIME_US`).
pub fn in_range(t: Micros) -> bool {
    (0..=MAX_TIME_US).contains(&t)
}

fn micros_of(t: SystemTime) -> Option<Micros> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Micros::try_from(d.as_micros())
        .ok()
        .filter(|t| in_range(*t))
}

/// RFC 3339 UTC with microseconds, the events' own format. Total: a time
/// outside `0..=MAX_TIME_US` (only computed ones can be: every time read is
/// checked) is shown at the nearest end rather than panicking the formatter.
pub fn format_time(t: Micros) -> String {
    let d = Duration::from_micros(u64::try_from(t.clamp(0, MAX_TIME_US)).unwrap_or(0));
    UNIX_EPOCH
        .checked_add(d)
        .map(|t| humantime::format_rfc3339_micros(t).to_string())
        .unwrap_or_else(|| "9999-12-31T23:59:59.999999Z".to_owned())
}

/// What [`for_each_line`] hands over for one line.
enum Line<'a> {
    /// The line without its newline (and any `\r` before it).
    Text(&'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped; its length.
    TooLong(u64),
}

/// Reads an input line by line, giving each line (without its newline), its
/// 1-based number, and whether it was the last line with no newline (a file
/// being written, or cut). At most [`MAX_LINE_BYTES`] of a line are held; a
/// longer one is handed over as [`Line::TooLong`].
fn for_each_line(
    reader: &mut dyn BufRead,
    path: &Path,
    what: &'static str,
    mut f: impl FnMut(Line<'_>, u64, bool),
) -> Result<u64, ReportError> {
    let mut buf = Vec::with_capacity(1024);
    let mut n = 0u64;
    loop {
        buf.clear();
        let mut len = 0u64;
        let mut terminated = false;
        while !terminated {
            let chunk = match reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(ReportError::Read {
                        what,
                        path: path.to_owned(),
                        line: n.saturating_add(1),
                        error,
                    })
                }
            };
            if chunk.is_empty() {
                break;
            }
            let take = match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    terminated = true;
                    i + 1
                }
                None => chunk.len(),
            };
            if len == 0 && terminated && take <= MAX_LINE_BYTES {
                // The whole line is in the reader's buffer: no copy.
                n = n.saturating_add(1);
                f(Line::Text(trim_newline(&chunk[..take])), n, false);
                reader.consume(take);
                len = u64::MAX;
                break;
            }
            len = len.saturating_add(take as u64);
            if len <= MAX_LINE_BYTES as u64 {
                buf.extend_from_slice(&chunk[..take]);
            } else {
                buf = Vec::new();
            }
            reader.consume(take);
        }
        if len == u64::MAX {
            continue;
        }
        if len == 0 {
            return Ok(n);
        }
        n = n.saturating_add(1);
        if len > MAX_LINE_BYTES as u64 {
            f(Line::TooLong(len), n, !terminated);
            continue;
        }
        f(Line::Text(trim_newline(&buf)), n, !terminated);
    }
}

/// `line` without its newline and any `\r` before it.
fn trim_newline(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// The warning for a line longer than [`MAX_LINE_BYTES`].
fn too_long(len: u64) -> String {
    format!("a line of {len} bytes, longer than the {MAX_LINE_BYTES} read: skipped")
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn string(v: &Value, path: &[&str]) -> Option<String> {
    get(v, path).and_then(Value::as_str).map(str::to_owned)
}

fn number(v: &Value, path: &[&str]) -> Option<u64> {
    let v = get(v, path)?;
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    get(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn user_ref(v: &Value, path: &[&str]) -> Option<UserRef> {
    let u = get(v, path)?;
    let id = match u.get("id")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(UserRef {
        id,
        name: u.get("name").and_then(Value::as_str).map(str::to_owned),
    })
}

/// A string field of an object, as given; a non-string value (a forged
/// number) is shown as its JSON text rather than dropped.
fn field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A list of objects of the event, the first [`MAX_CHANGES_KEPT`] read with
/// `read`, and how many the run had: the list's length, or the real count
/// `swmon.cut` gives when swmon's line cap cut it.
fn bounded_list<T>(v: &Value, key: &str, read: impl Fn(&Value) -> T) -> (Vec<T>, u64) {
    let list = get(v, &["swmon", key]).and_then(Value::as_array);
    let items: Vec<T> = list
        .into_iter()
        .flatten()
        .filter(|x| x.is_object())
        .take(MAX_CHANGES_KEPT)
        .map(read)
        .collect();
    let listed = list.map_or(0, |l| l.iter().filter(|x| x.is_object()).count()) as u64;
    let cut = get(v, &["swmon", "cut", &format!("swmon.{key}"), "count"]).and_then(Value::as_u64);
    (items, listed.max(cut.unwrap_or(0)))
}

fn change(c: &Value) -> Change {
    Change {
        manager: field(c, "manager"),
        name: field(c, "name"),
        version: field(c, "version"),
        previous_version: field(c, "previous_version"),
        action: field(c, "action"),
        run_id: field(c, "run_id"),
        path: field(c, "path"),
        sha256: field(c, "sha256"),
    }
}

fn mismatch(m: &Value) -> Mismatch {
    Mismatch {
        kind: field(m, "kind"),
        name: field(m, "name"),
        requested_version: field(m, "requested_version"),
        changed_version: field(m, "changed_version"),
    }
}

/// Parents kept of a state-only install's writer (swmon writes at most 8).
const MAX_ANCESTORS: usize = 16;

fn ancestor(a: &Value) -> AncestorRef {
    AncestorRef {
        pid: a
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
        comm: field(a, "comm").or_else(|| field(a, "name")),
        executable: field(a, "executable"),
        args: strings(a, &["args"]),
    }
}

/// Whether `event.type` (a list, or one string) names a start.
fn is_early(v: &Value) -> bool {
    match get(v, &["event", "type"]) {
        Some(Value::String(s)) => s.contains("start"),
        Some(Value::Array(a)) => a
            .iter()
            .any(|t| t.as_str().is_some_and(|s| s.contains("start"))),
        _ => false,
    }
}

/// Reads one of swmon's JSON Lines files from `reader` (`path` names it in
/// errors).
pub fn read_events(
    reader: &mut dyn BufRead,
    path: &Path,
    name: &str,
    warnings: &mut Warnings,
) -> Result<EventsFile, ReportError> {
    let mut out = EventsFile::default();
    let mut newer_schema: Option<(u64, u64)> = None;
    out.lines = for_each_line(reader, path, "events file", |line, n, unterminated| {
        let line = match line {
            Line::Text(line) => line,
            Line::TooLong(len) => {
                warnings.push(name, Some(n), too_long(len));
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let cut = if unterminated {
            " (the last line has no newline: the file may be cut)"
        } else {
            ""
        };
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                warnings.push(name, Some(n), format!("invalid JSON: {e}{cut}"));
                return;
            }
        };
        if !value.is_object() {
            warnings.push(name, Some(n), "not a swmon event: not a JSON object");
            return;
        }
        if let Some(schema) = number(&value, &["swmon", "schema"]) {
            if schema > KNOWN_EVENT_SCHEMA && newer_schema.is_none() {
                newer_schema = Some((n, schema));
            }
        }
        let source = format!("{name}:{n}");
        let Some(action) = string(&value, &["event", "action"]) else {
            warnings.push(name, Some(n), "not a swmon event: no event.action");
            return;
        };
        let time = string(&value, &["process", "start"])
            .or_else(|| string(&value, &["@timestamp"]))
            .and_then(|t| parse_time(&t));
        let Some(time) = time else {
            warnings.push(
                name,
                Some(n),
                "swmon event without a readable @timestamp (RFC 3339 up to year 9999)",
            );
            return;
        };
        let host = string(&value, &["host", "name"]);
        if action == "verdict-amended" {
            let Some(run_id) = string(&value, &["swmon", "run_id"]) else {
                warnings.push(name, Some(n), "verdict-amended without swmon.run_id");
                return;
            };
            out.amendments.push(Amendment {
                time,
                host,
                run_id,
                verdict: string(&value, &["swmon", "verdict"]),
                reason: string(&value, &["swmon", "reason"]),
                audit_serial: number(&value, &["swmon", "audit", "serial"]),
                source,
            });
            return;
        }
        if value.get("process").is_none() {
            out.states.push(StateEvent {
                time,
                host,
                action,
                lost: number(&value, &["swmon", "lost", "count"]),
                source,
            });
            return;
        }
        let Some(pid) = number(&value, &["process", "pid"]).and_then(|p| u32::try_from(p).ok())
        else {
            warnings.push(name, Some(n), "installer run without process.pid");
            return;
        };
        let packages = get(&value, &["swmon", "packages"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        Some(PackageOut {
                            name: p.get("name")?.as_str()?.to_owned(),
                            version: p.get("version").and_then(Value::as_str).map(str::to_owned),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let chain = get(&value, &["swmon", "exec_chain"])
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|l| (string(l, &["executable"]), strings(l, &["args"])))
                    .collect()
            })
            .unwrap_or_default();
        let end = string(&value, &["process", "end"]);
        let end_time = end.as_deref().and_then(parse_time);
        if let (Some(end), None) = (&end, end_time) {
            warnings.push(
                name,
                Some(n),
                format!(
                    "process.end {:?} is not a readable time: the run is read without it",
                    end.chars().take(64).collect::<String>()
                ),
            );
        }
        let detected_by = strings(&value, &["swmon", "detected_by"]);
        let reason = string(&value, &["swmon", "reason"]);
        let state_only = reason.as_deref() == Some("no-installer-exec")
            && detected_by.iter().all(|d| d == "state");
        let (changes, changes_total) = bounded_list(&value, "changes", change);
        let (mismatches, mismatches_total) = bounded_list(&value, "mismatches", mismatch);
        let mismatches = get(&value, &["swmon", "mismatches"])
            .is_some_and(Value::is_array)
            .then_some(mismatches);
        let ancestors = if state_only {
            get(&value, &["swmon", "ancestors"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|a| a.is_object())
                .take(MAX_ANCESTORS)
                .map(ancestor)
                .collect()
        } else {
            Vec::new()
        };
        out.runs.push(SwmonRun {
            start: time,
            end: end_time,
            host,
            pid,
            ppid: number(&value, &["process", "parent", "pid"]).and_then(|p| u32::try_from(p).ok()),
            executable: string(&value, &["process", "executable"]),
            args: strings(&value, &["process", "args"]),
            chain,
            exit_code: get(&value, &["process", "exit_code"]).and_then(Value::as_i64),
            user: user_ref(&value, &["process", "user"]),
            login_user: user_ref(&value, &["user", "audit"]),
            action: Some(action),
            manager: string(&value, &["swmon", "manager"]),
            operation: string(&value, &["swmon", "operation"]),
            packages,
            scope: string(&value, &["swmon", "scope"]),
            via: string(&value, &["swmon", "via"]),
            verdict: string(&value, &["swmon", "verdict"]),
            reason,
            audit_serial: number(&value, &["swmon", "audit", "serial"]),
            run_id: string(&value, &["swmon", "run_id"]),
            amended: 0,
            first_verdict: None,
            first_reason: None,
            source,
            parent_run_id: string(&value, &["swmon", "parent_run_id"]),
            detected_by,
            early: is_early(&value),
            early_events: 0,
            written: string(&value, &["@timestamp"]).and_then(|t| parse_time(&t)),
            state_only,
            changes,
            changes_total,
            mismatches,
            mismatches_total,
            ancestors,
        });
    })?;
    if let Some((line, schema)) = newer_schema {
        warnings.push(
            name,
            Some(line),
            format!(
                "events from a newer swmon (swmon.schema {schema}, this report knows \
                 {KNOWN_EVENT_SCHEMA}): read as far as the known fields go"
            ),
        );
    }
    warnings.sort_file(name);
    Ok(out)
}

/// Execve and execveat by audit arch (`AUDIT_ARCH_*`): x86_64, i386,
/// aarch64, riscv64. Other arches are recognised by their EXECVE record.
const EXEC_SYSCALLS: &[(u32, [u32; 2])] = &[
    (0xc000_003e, [59, 322]),
    (0x4000_0003, [11, 358]),
    (0xc000_00b7, [221, 281]),
    (0xc000_00f3, [221, 281]),
];

fn is_exec(event: &AuditEvent) -> bool {
    let Some(s) = event.syscall() else {
        return false;
    };
    if s.success() == Some(false) {
        return false;
    }
    let by_number = match (s.arch(), s.syscall()) {
        (Some(arch), Some(nr)) => EXEC_SYSCALLS
            .iter()
            .any(|(a, nrs)| *a == arch && nrs.contains(&nr)),
        _ => false,
    };
    by_number || event.records_of(RecordType::EXECVE).next().is_some()
}

fn enriched_name(event: &AuditEvent, key: &str) -> Option<String> {
    let s = event.syscall()?;
    let v = s.record().get_enriched(key)?;
    match v.text() {
        Text::Bytes(b) => Some(crate::event::lossless(&b)),
        _ => None,
    }
}

/// Lines of `ausearch`'s default output that are not records.
fn is_ausearch_decoration(line: &[u8]) -> bool {
    line.starts_with(b"----") || line.starts_with(b"time->") || line == b"<no matches>"
}

/// Record types a keyed exec is read from ([`audit_run`]); every other
/// record is dropped as it is read, its header only looked at.
fn kept_type(name: &[u8]) -> bool {
    matches!(
        name,
        b"SYSCALL" | b"EXECVE" | b"PATH" | b"PROCTITLE" | b"EOE"
    )
}

/// The header of a log line, read without parsing its fields:
/// `[node=HOST ]type=NAME msg=audit(SECS.MSEC:SERIAL):`.
struct Header<'a> {
    node: Option<&'a [u8]>,
    type_name: &'a [u8],
    secs: u64,
    millis: u64,
    serial: u64,
}

/// [`Header`] of `line`, or None when it is not in the plain form (the
/// full parser then reads the line and says what is wrong with it).
fn header(line: &[u8]) -> Option<Header<'_>> {
    let mut rest = line;
    let mut node = None;
    if let Some(r) = rest.strip_prefix(b"node=") {
        let end = memchr::memchr(b' ', r)?;
        node = Some(&r[..end]);
        rest = &r[end + 1..];
    }
    let r = rest.strip_prefix(b"type=")?;
    let end = memchr::memchr(b' ', r)?;
    let type_name = &r[..end];
    let r = r[end + 1..].strip_prefix(b"msg=audit(")?;
    let digits = |r: &[u8]| -> Option<(u64, usize)> {
        let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 19 {
            return None;
        }
        let v = r[..n]
            .iter()
            .fold(0u64, |v, c| v * 10 + u64::from(c - b'0'));
        Some((v, n))
    };
    let (secs, n) = digits(r)?;
    let r = r[n..].strip_prefix(b".")?;
    let (millis, n) = digits(r)?;
    if n != 3 {
        return None;
    }
    let r = r[n..].strip_prefix(b":")?;
    let (serial, n) = digits(r)?;
    r[n..].strip_prefix(b"):")?;
    Some(Header {
        node,
        type_name,
        secs,
        millis,
        serial,
    })
}

/// Events whose keep-or-drop is decided (by their SYSCALL record) held at
/// most: a record of an event decided longer ago waits as if undecided.
const MAX_DECIDED: usize = 1 << 16;

/// Bytes of records held while their SYSCALL record has not come yet
/// (`ausearch` prints an event's records SYSCALL last) at most; past it
/// the oldest event's are dropped, counted in
/// [`AuditFile::records_unmatched`].
const MAX_PENDING_BYTES: usize = 16 << 20;

/// Decides, record by record, which records can belong to a keyed exec,
/// holding only those: events are told apart by host (`node=`) and serial,
/// and an event is kept when its SYSCALL record names the key (raw, or in
/// the hex form of several keys). Memory: the open events of the kept
/// ones, the last [`MAX_DECIDED`] decisions, and at most
/// [`MAX_PENDING_BYTES`] of records waiting for their SYSCALL record.
struct KeyFilter {
    finders: Vec<memchr::memmem::Finder<'static>>,
    nodes: HashMap<Vec<u8>, u32>,
    /// The last host looked up, and its number (lines of one host come
    /// in runs).
    last_node: (Vec<u8>, u32),
    decided: HashMap<(u32, u64), bool>,
    decided_order: std::collections::VecDeque<(u32, u64)>,
    pending: HashMap<(u32, u64), Held>,
    pending_order: std::collections::VecDeque<(u32, u64)>,
    pending_bytes: usize,
    dropped_pending: u64,
}

/// Records held for an event: line number and text.
type Held = Vec<(u64, Vec<u8>)>;

/// What [`KeyFilter::classify`] says of a record.
enum Verdict {
    /// Parse it and hand it to its host's assembler (with the records of
    /// its event that came before it, when its SYSCALL record decided it).
    Keep(Held),
    /// Not part of a keyed exec: dropped.
    Drop,
    /// Held until its SYSCALL record comes.
    Wait,
}

impl KeyFilter {
    fn new(key: &str) -> KeyFilter {
        let hex_upper: String = key.bytes().map(|b| format!("{b:02X}")).collect();
        let hex_lower = hex_upper.to_ascii_lowercase();
        let finders = [key.to_owned(), hex_upper, hex_lower]
            .into_iter()
            .map(|k| memchr::memmem::Finder::new(k.as_bytes()).into_owned())
            .collect();
        KeyFilter {
            finders,
            nodes: HashMap::new(),
            last_node: (Vec::new(), u32::MAX),
            decided: HashMap::new(),
            decided_order: Default::default(),
            pending: HashMap::new(),
            pending_order: Default::default(),
            pending_bytes: 0,
            dropped_pending: 0,
        }
    }

    /// The host's number: assemblers and events are per host.
    fn node_id(&mut self, node: Option<&[u8]>) -> u32 {
        let node = node.unwrap_or_default();
        if self.last_node.1 != u32::MAX && self.last_node.0 == node {
            return self.last_node.1;
        }
        let id = match self.nodes.get(node) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX - 1);
                self.nodes.insert(node.to_owned(), id);
                id
            }
        };
        self.last_node.0.clear();
        self.last_node.0.extend_from_slice(node);
        self.last_node.1 = id;
        id
    }

    /// Whether `line` may name the key: the key or its hex anywhere. A
    /// line that does is parsed and its keys compared exactly.
    fn may_name_key(&self, line: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(line).is_some())
    }

    fn decide(&mut self, id: (u32, u64), keep: bool) {
        if self.decided.insert(id, keep).is_none() {
            self.decided_order.push_back(id);
            if self.decided_order.len() > MAX_DECIDED {
                if let Some(old) = self.decided_order.pop_front() {
                    self.decided.remove(&old);
                }
            }
        }
    }

    fn classify(&mut self, h: &Header<'_>, line: &[u8], n: u64) -> Verdict {
        if !kept_type(h.type_name) {
            return Verdict::Drop;
        }
        let id = (self.node_id(h.node), h.serial);
        if h.type_name == b"SYSCALL" {
            let keep = self.may_name_key(line);
            self.decide(id, keep);
            let before = match self.pending.is_empty() {
                true => Vec::new(),
                false => self.pending.remove(&id).unwrap_or_default(),
            };
            self.pending_bytes -= before.iter().map(|(_, l)| l.len()).sum::<usize>();
            return if keep {
                Verdict::Keep(before)
            } else {
                Verdict::Drop
            };
        }
        match self.decided.get(&id) {
            Some(true) => Verdict::Keep(Vec::new()),
            Some(false) => Verdict::Drop,
            None if h.type_name == b"EOE" => {
                // The end of an event that had no SYSCALL record.
                if let Some(held) = self.pending.remove(&id) {
                    self.pending_bytes -= held.iter().map(|(_, l)| l.len()).sum::<usize>();
                }
                Verdict::Drop
            }
            None => {
                let held = self.pending.entry(id).or_default();
                if held.is_empty() {
                    self.pending_order.push_back(id);
                }
                held.push((n, line.to_owned()));
                self.pending_bytes += line.len();
                while self.pending_bytes > MAX_PENDING_BYTES {
                    let Some(old) = self.pending_order.pop_front() else {
                        break;
                    };
                    if let Some(held) = self.pending.remove(&old) {
                        self.pending_bytes -= held.iter().map(|(_, l)| l.len()).sum::<usize>();
                        self.dropped_pending += held.len() as u64;
                    }
                }
                // Entries of events decided or ended meanwhile are stale.
                while self
                    .pending_order
                    .front()
                    .is_some_and(|f| !self.pending.contains_key(f))
                {
                    self.pending_order.pop_front();
                }
                Verdict::Wait
            }
        }
    }
}

/// One host's assembler and where its open events started.
#[derive(Default)]
struct HostEvents {
    assembler: Assembler,
    /// Where each open event starts, for FILE:LINE, by serial as the
    /// assembler groups them, with the records pushed since; an entry
    /// leaves with its event, so this holds no more than the open events.
    first_line: HashMap<u64, (u64, usize)>,
}

/// Reads one audit log (auditd's, raw or enriched, or `ausearch` output)
/// from `reader` (`path` names it in errors), keeping the successful execs
/// that carry `key`. It streams: each line's header (host, type, serial)
/// is read first, and only the records of events whose SYSCALL record may
/// carry the key are parsed and grouped, per host, so memory is bounded by
/// the keyed events open at once and the runs found, not by the log.
pub fn read_audit_log(
    reader: &mut dyn BufRead,
    path: &Path,
    name: &str,
    key: &str,
    warnings: &mut Warnings,
) -> Result<AuditFile, ReportError> {
    let mut filter = KeyFilter::new(key);
    let mut hosts: Vec<HostEvents> = Vec::new();
    let mut runs: Vec<AuditRun> = Vec::new();
    // Events whose stamp is out of range, by (serial, stamp): warned about
    // once, at their first line; their other records are skipped with them.
    let mut out_of_range: HashSet<(u64, u64)> = HashSet::new();
    let mut push = |line: &[u8],
                    n: u64,
                    id: Option<u32>,
                    unterminated: bool,
                    hosts: &mut Vec<HostEvents>,
                    filter: &mut KeyFilter,
                    runs: &mut Vec<AuditRun>,
                    warnings: &mut Warnings| {
        let record = match crate::audit::parse_log_line(line) {
            Ok(record) => record,
            Err(e) => {
                let cut = if unterminated {
                    " (the last line has no newline: the log may be cut)"
                } else {
                    ""
                };
                warnings.push(name, Some(n), format!("not an audit record: {e}{cut}"));
                return;
            }
        };
        let stamp = record.timestamp();
        if stamp.secs > MAX_AUDIT_SECS {
            // Kept out of the assembler: its clock would jump to the
            // stamp and time out every open event. The set is bounded: past
            // the cap an event may warn twice (and warnings past
            // MAX_WARNINGS_PER_FILE are counted).
            if out_of_range.len() >= 4096 {
                out_of_range.clear();
            }
            if out_of_range.insert((record.serial(), stamp.secs)) {
                warnings.push(
                    name,
                    Some(n),
                    format!(
                        "audit event {} has the time {stamp}, past year 9999: skipped",
                        record.serial()
                    ),
                );
            }
            return;
        }
        let id = id.unwrap_or_else(|| filter.node_id(record.node())) as usize;
        if hosts.len() <= id {
            hosts.resize_with(id + 1, HostEvents::default);
        }
        let host = &mut hosts[id];
        host.first_line.entry(record.serial()).or_insert((n, 0)).1 += 1;
        host.assembler.push(record, stamp.as_millis());
        for event in host.assembler.drain_ready() {
            let line = take_line(&mut host.first_line, &event, n);
            runs.extend(audit_run(event, line, name, key, warnings));
        }
    };
    let lines = for_each_line(reader, path, "audit log", |line, n, unterminated| {
        let line = match line {
            Line::Text(line) => line,
            Line::TooLong(len) => {
                warnings.push(name, Some(n), too_long(len));
                return;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) || is_ausearch_decoration(line) {
            return;
        }
        let h = match header(line) {
            // The last line without a newline may be cut: the full parser
            // reads it, so a cut record is a warning whatever its event.
            Some(_) if unterminated => None,
            h => h,
        };
        let Some(h) = h else {
            // Not the plain form: the full parser reads it (and says what
            // is wrong with it).
            push(
                line,
                n,
                None,
                unterminated,
                &mut hosts,
                &mut filter,
                &mut runs,
                warnings,
            );
            return;
        };
        match filter.classify(&h, line, n) {
            Verdict::Keep(before) => {
                let id = filter.node_id(h.node);
                for (m, held) in before {
                    push(
                        &held,
                        m,
                        Some(id),
                        false,
                        &mut hosts,
                        &mut filter,
                        &mut runs,
                        warnings,
                    );
                }
                push(
                    line,
                    n,
                    Some(id),
                    unterminated,
                    &mut hosts,
                    &mut filter,
                    &mut runs,
                    warnings,
                );
            }
            Verdict::Drop | Verdict::Wait => {
                // Time passes for the host's open events all the same.
                let id = filter.node_id(h.node) as usize;
                if let Some(host) = hosts.get_mut(id) {
                    if host.assembler.open_events() > 0 && h.secs <= MAX_AUDIT_SECS {
                        host.assembler
                            .tick(h.secs.saturating_mul(1000).saturating_add(h.millis));
                        for event in host.assembler.drain_ready() {
                            let line = take_line(&mut host.first_line, &event, n);
                            runs.extend(audit_run(event, line, name, key, warnings));
                        }
                    }
                }
            }
        }
    })?;
    for host in &mut hosts {
        host.assembler.flush_all();
        for event in host.assembler.drain_ready() {
            let line = take_line(&mut host.first_line, &event, lines);
            runs.extend(audit_run(event, line, name, key, warnings));
        }
    }
    // Warnings about an event are known when it ends, after later lines.
    warnings.sort_file(name);
    if filter.dropped_pending > 0 {
        warnings.push(
            name,
            None,
            format!(
                "{} records waited for their event's SYSCALL record past the {} MiB held: \
                 dropped (an exec they belong to is read without them)",
                filter.dropped_pending,
                MAX_PENDING_BYTES >> 20
            ),
        );
    }
    Ok(AuditFile { lines, runs })
}

/// The line an emitted event started on. When the event holds fewer records
/// than were pushed with its serial, the rest opened a new event with the
/// same serial (the old one timed out as the record at `line_now` arrived):
/// that one starts at `line_now`.
fn take_line(
    open: &mut HashMap<u64, (u64, usize)>,
    event: &AuditEvent,
    line_now: u64,
) -> Option<u64> {
    let Some(&(line, pushed)) = open.get(&event.serial) else {
        return Some(line_now);
    };
    match pushed.checked_sub(event.records.len()) {
        Some(rest) if rest > 0 => {
            open.insert(event.serial, (line_now, rest));
        }
        _ => {
            open.remove(&event.serial);
        }
    }
    Some(line)
}

/// The keyed exec an audit event is, if it is one; `line` is where it
/// starts.
fn audit_run(
    event: AuditEvent,
    line: Option<u64>,
    name: &str,
    key: &str,
    warnings: &mut Warnings,
) -> Option<AuditRun> {
    let keys: Vec<String> = event
        .keys()
        .iter()
        .map(|k| crate::event::lossless(k))
        .collect();
    if !keys.iter().any(|k| k == key) || !is_exec(&event) {
        return None;
    }
    let s = event.syscall()?;
    let time_ms = event.timestamp.as_millis();
    let argv = match event.argv() {
        Some(argv) => {
            if !argv.flags.is_clean() {
                warnings.push(
                    name,
                    line,
                    format!(
                        "argv of audit event {} is incomplete ({})",
                        event.serial,
                        argv.flags.names().join(", ")
                    ),
                );
            }
            argv.args
        }
        None => {
            // No EXECVE record: the proctitle (cut at 128 bytes) is
            // the best left.
            warnings.push(
                name,
                line,
                format!(
                    "audit event {} has no EXECVE record; argv from its proctitle",
                    event.serial
                ),
            );
            event.proctitle().map(|p| p.args()).unwrap_or_default()
        }
    };
    let exec_path = event
        .paths()
        .find(|p| p.item() == Some(0))
        .and_then(|p| p.name())
        .and_then(|t| t.into_bytes())
        .map(|b| b.into_owned());
    Some(AuditRun {
        serial: event.serial,
        time_ms,
        node: s.record().node().map(crate::event::lossless),
        pid: s.pid(),
        ppid: s.ppid(),
        uid: s.uid(),
        auid: s.auid(),
        uid_name: enriched_name(&event, "UID"),
        auid_name: enriched_name(&event, "AUID"),
        exe: s.exe().and_then(|t| t.into_bytes()).map(|b| b.into_owned()),
        argv,
        exec_path,
        keys,
        source: format!("{name}:{}", line.unwrap_or(0)),
    })
}

/// The login uid as a [`UserRef`]: `unset` when the kernel has none.
pub fn audit_user(id: Option<u32>, name: Option<&str>) -> Option<UserRef> {
    let id = id?;
    let name = match name {
        Some(n) => Some(n.to_owned()),
        None if id == UNSET_ID => Some("unset".to_owned()),
        None => None,
    };
    Some(UserRef {
        id: id.to_string(),
        name,
    })
}
