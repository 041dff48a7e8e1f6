//! The report as data: what every format renders, and, serialized as it is,
//! the JSON format (its schema is `SCHEMA.md` beside this file; change both
//! together and bump [`SCHEMA_VERSION`] when a field changes meaning or goes
//! away).
//!
//! Strings here are untrusted (argv, paths, package names, user names): they
//! are kept exactly as the inputs gave them, and each renderer escapes them
//! for its own medium. Nothing here reads files or computes anything.

use serde::Serialize;

/// The version of the JSON report's shape (`schema`).
pub const SCHEMA_VERSION: u32 = 2;

/// Changes and mismatches kept per run (the JSON lists them all up to
/// this; `changes_total` / `mismatches_total` say how many there were).
pub const MAX_CHANGES_KEPT: usize = 1000;

/// A comparison of what pure auditd recorded against what swmon saw.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    /// The audit rule key that means "pure auditd recorded it".
    pub key: String,
    pub window: Window,
    /// The time the runs and gaps cover (after the window is applied).
    pub span: Option<Span>,
    pub inputs: Vec<Input>,
    pub summary: Summary,
    pub gaps: Vec<Gap>,
    pub runs: Vec<Row>,
    pub warnings: Vec<Warning>,
    /// Warnings past the per-file cap, counted but not listed.
    pub warnings_suppressed: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Span {
    pub start: String,
    pub end: String,
}

/// One input file and what was read from it.
#[derive(Clone, Debug, Serialize)]
pub struct Input {
    /// `events` (swmon's JSON Lines) or `audit-log`.
    pub kind: &'static str,
    pub path: String,
    pub lines: u64,
    /// Installer runs: swmon's run events, or execs recorded with the key.
    pub runs: u64,
    /// State and gap events (events files only).
    pub states: u64,
    /// Lines skipped as copies of a line already read from another input
    /// (overlapping or repeated files).
    pub duplicates: u64,
    pub warnings: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct UserRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PackageOut {
    pub name: String,
    pub version: Option<String>,
}

/// One installer run, seen by swmon, recorded by pure auditd, or both.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// When it started (swmon's `process.start`, else the audit record's
    /// time), RFC 3339 UTC.
    pub time: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    /// The login uid (`user.audit`): who logged in, whatever sudo did since.
    pub login_user: Option<UserRef>,
    pub user: Option<UserRef>,
    pub executable: Option<String>,
    pub args: Vec<String>,
    pub manager: Option<String>,
    pub operation: Option<String>,
    pub packages: Vec<PackageOut>,
    pub scope: Option<String>,
    pub via: Option<String>,
    pub exit_code: Option<i64>,
    pub swmon: SwmonSide,
    pub auditd: AuditdSide,
    /// The `swmon.run_id` of the root install this run is nested in (its
    /// `swmon.parent_run_id` chain leads there within the input and the
    /// window); null for a root. A nested run is listed here and rendered
    /// under its root, and counted in `summary.nested_runs` only.
    pub nested_in: Option<String>,
    /// Runs nested in this one (when it is a root).
    pub nested_runs: u64,
    /// `swmon.parent_run_id` names a run the input (or the window) does
    /// not hold: the run is shown and counted as a root.
    pub parent_missing: bool,
}

/// One change of package state a run made (`swmon.changes`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Change {
    pub manager: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub previous_version: Option<String>,
    /// `install`, `remove`, `upgrade` or `downgrade`.
    pub action: Option<String>,
    /// The nested run it came from, when it did.
    pub run_id: Option<String>,
    /// An unmanaged executable's path and content hash.
    pub path: Option<String>,
    pub sha256: Option<String>,
}

/// What the manager was asked for against what changed
/// (`swmon.mismatches`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mismatch {
    /// `not-changed` or `other-version`.
    pub kind: Option<String>,
    pub name: Option<String>,
    pub requested_version: Option<String>,
    pub changed_version: Option<String>,
}

/// A process above a state-only install's writer (`swmon.ancestors`).
#[derive(Clone, Debug, Serialize)]
pub struct AncestorRef {
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub executable: Option<String>,
    pub args: Vec<String>,
}

/// What swmon said about a run.
#[derive(Clone, Debug, Serialize)]
pub struct SwmonSide {
    /// swmon wrote an event for it.
    pub seen: bool,
    pub action: Option<String>,
    /// `confirmed`, `ebpf_only` or `audit_only`, as swmon wrote it.
    pub verdict: Option<String>,
    /// swmon's `swmon.reason`; when it gave none and the run fell in a
    /// coverage gap, the gap's kind.
    pub reason: Option<String>,
    /// `swmon.audit.serial`, when swmon matched an audit record itself.
    pub audit_serial: Option<u64>,
    /// `verdict-amended` corrections of the run applied (then `verdict`
    /// and `reason` are the last one's); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub amended: u32,
    /// The verdict and reason swmon first wrote, when amended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_verdict: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_reason: Option<String>,
    /// `FILE:LINE` of the event.
    pub source: Option<String>,
    /// `swmon.run_id` and `swmon.parent_run_id`.
    pub run_id: Option<String>,
    pub parent_run_id: Option<String>,
    /// `swmon.detected_by`: which of swmon's witnesses saw it (`exec`,
    /// `audit`, `state`).
    pub detected_by: Vec<String>,
    /// An install no installer ran for, seen by the state witness alone
    /// (`swmon.reason` `no-installer-exec`, `detected_by` `["state"]`).
    pub state_only: bool,
    /// Only an early (`start`) event of the run was read: it was still
    /// running when the input ends; the verdict is the one so far.
    pub running: bool,
    /// Early (`start`) events of the run folded into it.
    pub early_events: u32,
    /// `swmon.changes`, the first [`MAX_CHANGES_KEPT`].
    pub changes: Vec<Change>,
    /// How many changes the run had: those listed, those the report did
    /// not keep, and those swmon's line cap cut (`swmon.cut`).
    pub changes_total: u64,
    /// `swmon.mismatches`, the first [`MAX_CHANGES_KEPT`]: empty when
    /// what was asked is what changed, null when swmon does not know
    /// (the event has no `swmon.mismatches`).
    pub mismatches: Option<Vec<Mismatch>>,
    pub mismatches_total: u64,
    /// `swmon.ancestors` of a state-only install (the writer's parents,
    /// nearest first); empty for other runs.
    pub ancestors: Vec<AncestorRef>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What pure auditd's log holds about a run.
#[derive(Clone, Debug, Serialize)]
pub struct AuditdSide {
    /// An execve SYSCALL record carrying the key matched this run.
    pub recorded: bool,
    pub serial: Option<u64>,
    /// The record's time (milliseconds, as auditd stamps it).
    pub time: Option<String>,
    pub keys: Vec<String>,
    /// How the record was matched to swmon's event: `serial`
    /// (`swmon.audit.serial`), `pid+executable` or `pid+argv` (within
    /// the match window); absent when only one side has the run.
    pub matched_by: Option<&'static str>,
    /// `FILE:LINE` of the SYSCALL record.
    pub source: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Root installer runs: seen by swmon, recorded by pure auditd, or
    /// both; nested runs and state-only installs are not in this or the
    /// counts below but in `nested_runs` and `state_only`.
    pub runs: u64,
    /// Runs folded under a root install of the input.
    pub nested_runs: u64,
    /// Installs only the state witness saw (no installer ran).
    pub state_only: u64,
    /// Runs still running at the end of the input (only a start event).
    pub running: u64,
    /// Runs whose parent run is not in the input, counted as roots.
    pub parent_missing: u64,
    pub seen_by_swmon: u64,
    pub recorded_by_auditd: u64,
    /// Recorded by auditd (by key) / all runs; absent with no runs.
    pub auditd_recall: Option<f64>,
    /// Seen by swmon / all runs; absent with no runs.
    pub swmon_recall: Option<f64>,
    pub by_manager: Vec<ManagerCount>,
    /// Per host (`host.name`, or the audit record's `node=`; null for a
    /// run whose inputs name no host), by host name.
    pub by_host: Vec<HostCount>,
    /// By swmon's verdict; `not_seen_by_swmon` for runs only auditd has.
    pub by_verdict: Vec<Count>,
    /// Runs pure auditd did not record, by how they ran and why.
    pub slipped_past_auditd: Vec<Slip>,
    /// Runs where swmon's verdict and the log disagree: swmon says the
    /// audit trail missed it (`ebpf_only`) but the log has it by key.
    pub verdict_disagreements: u64,
    pub gaps: Vec<GapCount>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ManagerCount {
    pub manager: String,
    pub runs: u64,
    pub seen_by_swmon: u64,
    pub recorded_by_auditd: u64,
}

/// One host's root installer runs and each side's recall on it.
#[derive(Clone, Debug, Serialize)]
pub struct HostCount {
    pub host: Option<String>,
    pub runs: u64,
    pub seen_by_swmon: u64,
    pub recorded_by_auditd: u64,
    pub auditd_recall: Option<f64>,
    pub swmon_recall: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Count {
    pub name: String,
    pub runs: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Slip {
    pub via: Option<String>,
    pub reason: Option<String>,
    pub runs: u64,
    /// The managers among those runs, sorted.
    pub managers: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GapCount {
    pub kind: String,
    pub count: u64,
    /// Total length of the spans of this kind; losses are instants.
    pub seconds: f64,
    /// Records or events lost, summed over loss events.
    pub lost: Option<u64>,
}

/// A time the audit trail (or swmon) could not see installs, from swmon's
/// state events.
#[derive(Clone, Debug, Serialize)]
pub struct Gap {
    /// `audit-disabled`, `auditd-stopped`, `audit-rules-removed`,
    /// `audit-records-lost`, `ebpf-events-lost`, or `monitor-down` (between
    /// a `monitor-stopped` and the next `monitor-started`).
    pub kind: String,
    pub host: Option<String>,
    pub start: String,
    /// Equal to `start` for a loss, which is an instant.
    pub end: String,
    pub seconds: f64,
    /// The event that closed it (`audit-enabled`, `monitor-stopped`, ...);
    /// absent when the input ended first.
    pub ended_by: Option<String>,
    /// The input ended while the gap was open.
    pub open: bool,
    /// `swmon.lost.count` of a loss event.
    pub lost: Option<u64>,
    /// `FILE:LINE` of the event that opened it.
    pub source: String,
}

/// A line of input that could not be used, or was used with doubt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub file: String,
    /// 1-based; absent for a warning about the whole file.
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}
