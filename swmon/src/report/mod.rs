//! `swmon report`: what pure auditd recorded, compared with what swmon saw.
//!
//! It reads swmon's JSON Lines (installer runs and state events) and one or
//! more audit logs (auditd's `audit.log`, raw or enriched, rotated logs, or
//! `ausearch` output), matches each run to the execve record the audit
//! rules' key left for it, and renders, per run, who saw it (swmon's
//! witnesses and pure auditd), what changed in package state and what was
//! asked for but not changed, plus a summary: root installs by manager and
//! by verdict (nested runs folded under their root, early `start` events
//! into their run), each side's recall, the ways installs slipped past
//! auditd, the installs only the state witness saw, and the coverage gaps
//! swmon reported. Markdown for
//! terminals and tickets, one self-contained HTML file with a timeline for
//! people, JSON for machines (schema in `SCHEMA.md`).
//!
//! It is pure apart from reading its inputs: no audit rules, no kernel, no
//! clock, so the same inputs give the same bytes and every format is a
//! golden test. It does not re-decide swmon's verdicts; it shows them next
//! to what the audit log holds. Stages: [`input`] reads, [`compare`]
//! matches and counts, [`markdown`], [`html`] and JSON (serde of
//! [`Report`]) render.

mod compare;
mod error;
mod html;
mod input;
mod markdown;
mod model;

#[cfg(test)]
mod bad_input_tests;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod witness_tests;

use std::{
    collections::HashMap,
    fs::File,
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
};

pub use self::{
    compare::MATCH_WINDOW_US,
    error::ReportError,
    input::{parse_time, KNOWN_EVENT_SCHEMA, MAX_LINE_BYTES, MAX_TIME_US, MAX_WARNINGS_PER_FILE},
    model::*,
};
use self::{
    compare::{TimedGap, TimedRow},
    input::{format_time, Micros, Warnings},
};

/// The key of the seed's rules (audit-userspace's `44-installers.rules`).
pub const DEFAULT_KEY: &str = "software-installer";

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown: tables for terminals and tickets.
    Md,
    /// One self-contained HTML file with a timeline.
    Html,
    /// JSON, see `SCHEMA.md`.
    Json,
}

/// What to compare.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// swmon's JSON Lines files, in any order.
    pub events: Vec<PathBuf>,
    /// Audit logs, in any order (rotated ones too).
    pub audit_logs: Vec<PathBuf>,
    /// The rule key whose records count as "pure auditd recorded it".
    pub key: String,
    /// Only runs from this time on (microseconds since the epoch).
    pub since: Option<i64>,
    /// Only runs up to this time.
    pub until: Option<i64>,
}

impl ReportOptions {
    pub fn new(events: Vec<PathBuf>, audit_logs: Vec<PathBuf>) -> ReportOptions {
        ReportOptions {
            events,
            audit_logs,
            key: DEFAULT_KEY.to_owned(),
            since: None,
            until: None,
        }
    }
}

/// Parses a `--since`/`--until` value (see [`parse_time`]).
pub fn time_bound(s: &str) -> Result<i64, ReportError> {
    parse_time(s).ok_or_else(|| ReportError::Time {
        value: s.to_owned(),
    })
}

fn display(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// Applies each `verdict-amended` to the run it corrects (same host and
/// `swmon.run_id`), oldest first: the run shows the last verdict, how many
/// corrections it had, and the verdict it was first given. A correction
/// of a run the input does not hold is a warning. Two run events of one
/// host with the same run id (not the same line read twice: those are
/// dropped as duplicates before) are a warning naming both: `swmon run`
/// gives every run an id of its own and corrects one only by a
/// `verdict-amended` event, so a second run event under an id is a
/// forged or mixed-up input; its corrections go to the first.
fn amend(
    runs: &mut [input::SwmonRun],
    mut amendments: Vec<input::Amendment>,
    warnings: &mut Warnings,
) {
    amendments.sort_by_key(|a| a.time);
    let mut by_id: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (i, r) in runs.iter().enumerate() {
        if let Some(id) = &r.run_id {
            match by_id.entry((r.host.clone(), id.clone())) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    let (file, line) = r.source.rsplit_once(':').unwrap_or((&r.source, ""));
                    warnings.push(
                        file,
                        line.parse().ok(),
                        format!(
                            "duplicate run id {id}: a second run event with the swmon.run_id of \
                             the run at {} (a run is corrected only by a verdict-amended event)",
                            runs[*o.get()].source
                        ),
                    );
                }
            }
        }
    }
    for a in amendments {
        let Some(&i) = by_id.get(&(a.host.clone(), a.run_id.clone())) else {
            let (file, line) = a.source.rsplit_once(':').unwrap_or((&a.source, ""));
            warnings.push(
                file,
                line.parse().ok(),
                format!("verdict-amended of run {} that no run event has", a.run_id),
            );
            continue;
        };
        let r = &mut runs[i];
        if r.amended == 0 {
            r.first_verdict = r.verdict.clone();
            r.first_reason = r.reason.clone();
        }
        r.amended = r.amended.saturating_add(1);
        r.verdict = a.verdict;
        r.reason = a.reason;
        if a.audit_serial.is_some() {
            r.audit_serial = a.audit_serial;
        }
    }
}

/// Folds each early event of a long run (`event.type` names a start) into
/// the run's final event, the one of the same host and `swmon.run_id`:
/// the final event is the decision and the early ones are only counted
/// (`early_events`), so a run is never counted twice. A run with early
/// events and no final one is kept once, as its last early event says,
/// marked still running. An early event without a run id cannot be
/// matched and is kept as a running run of its own. `runs` is in time
/// order and stays so.
fn fold_early(runs: Vec<input::SwmonRun>) -> Vec<input::SwmonRun> {
    let key = |r: &input::SwmonRun| r.run_id.clone().map(|id| (r.host.clone(), id));
    let finals: std::collections::HashSet<(Option<String>, String)> =
        runs.iter().filter(|r| !r.early).filter_map(key).collect();
    // Early events by run: how many, and the last read.
    let mut early: HashMap<(Option<String>, String), (u32, input::SwmonRun)> = HashMap::new();
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        match (r.early, key(&r)) {
            (true, Some(k)) => {
                let n = early.get(&k).map_or(0, |e| e.0).saturating_add(1);
                early.insert(k, (n, r));
            }
            _ => out.push(r),
        }
    }
    for r in out.iter_mut().filter(|r| !r.early) {
        if let Some((n, _)) = key(r).and_then(|k| early.get(&k)) {
            r.early_events = *n;
        }
    }
    let mut running: Vec<input::SwmonRun> = early
        .into_iter()
        .filter(|(k, _)| !finals.contains(k))
        .map(|(_, (n, mut r))| {
            r.early_events = n;
            r
        })
        .collect();
    // The map's order must not leak into the output.
    running.sort_by(|a, b| (a.start, a.pid, &a.run_id).cmp(&(b.start, b.pid, &b.run_id)));
    out.extend(running);
    // Stable: the order read stays for equal keys.
    out.sort_by_key(|r| (r.start, r.pid));
    out
}

/// Reads the inputs and builds the report. Bad lines are warnings in the
/// report; a file that cannot be read is an error.
pub fn build(options: &ReportOptions) -> Result<Report, ReportError> {
    build_with(options, &mut |path, what| {
        let file = File::open(path).map_err(|error| ReportError::Open {
            what,
            path: path.to_owned(),
            error,
        })?;
        Ok(Box::new(BufReader::with_capacity(1 << 16, file)))
    })
}

/// [`build`] on inputs already in memory: each path of `options` is looked
/// up in `files` (a path not there is an [`ReportError::Open`] error). For
/// tests and the fuzz targets, which drive the same readers without files.
pub fn build_in_memory(
    options: &ReportOptions,
    files: &[(PathBuf, &[u8])],
) -> Result<Report, ReportError> {
    build_with(
        options,
        &mut |path, what| match files.iter().find(|(p, _)| p == path) {
            Some((_, bytes)) => Ok(Box::new(*bytes)),
            None => Err(ReportError::Open {
                what,
                path: path.to_owned(),
                error: std::io::ErrorKind::NotFound.into(),
            }),
        },
    )
}

/// Opens one input for reading; `what` names its kind in errors.
type Opener<'a> = dyn FnMut(&Path, &'static str) -> Result<Box<dyn BufRead + 'a>, ReportError> + 'a;

fn build_with<'a>(options: &ReportOptions, open: &mut Opener<'a>) -> Result<Report, ReportError> {
    if let (Some(since), Some(until)) = (options.since, options.until) {
        if since > until {
            return Err(ReportError::EmptyWindow {
                since: format_time(since),
                until: format_time(until),
            });
        }
    }
    let mut warnings = Warnings::default();
    let mut inputs = Vec::new();

    let mut runs = Vec::new();
    let mut states = Vec::new();
    let mut amendments = Vec::new();
    let mut seen_amendments = std::collections::HashSet::new();
    let mut seen_runs = std::collections::HashSet::new();
    let mut seen_states = std::collections::HashSet::new();
    for path in &options.events {
        let name = display(path);
        let mut reader = open(path, "events file")?;
        let file = input::read_events(&mut reader, path, &name, &mut warnings)?;
        let mut duplicates = 0;
        let (n_runs, n_states) = (file.runs.len() as u64, file.states.len() as u64);
        for run in file.runs {
            let key = (
                run.host.clone(),
                run.pid,
                run.start,
                run.executable.clone(),
                run.run_id.clone(),
                run.early,
                run.written,
            );
            if seen_runs.insert(key) {
                runs.push(run);
            } else {
                duplicates += 1;
            }
        }
        for s in file.states {
            if seen_states.insert((s.host.clone(), s.time, s.action.clone())) {
                states.push(s);
            } else {
                duplicates += 1;
            }
        }
        for a in file.amendments {
            if seen_amendments.insert((a.host.clone(), a.time, a.run_id.clone())) {
                amendments.push(a);
            } else {
                duplicates += 1;
            }
        }
        inputs.push(Input {
            kind: "events",
            path: name.clone(),
            lines: file.lines,
            runs: n_runs,
            states: n_states,
            duplicates,
            warnings: warnings.count_for(&name),
        });
    }

    let mut audit = Vec::new();
    let mut seen_audit = std::collections::HashSet::new();
    for path in &options.audit_logs {
        let name = display(path);
        let mut reader = open(path, "audit log")?;
        let file = input::read_audit_log(&mut reader, path, &name, &options.key, &mut warnings)?;
        let mut duplicates = 0;
        let n_runs = file.runs.len() as u64;
        for a in file.runs {
            if seen_audit.insert((a.node.clone(), a.serial, a.time_ms)) {
                audit.push(a);
            } else {
                duplicates += 1;
            }
        }
        inputs.push(Input {
            kind: "audit-log",
            path: name.clone(),
            lines: file.lines,
            runs: n_runs,
            states: 0,
            duplicates,
            warnings: warnings.count_for(&name),
        });
    }

    runs.sort_by_key(|r| (r.start, r.pid));
    let mut runs = fold_early(runs);
    amend(&mut runs, amendments, &mut warnings);
    audit.sort_by_key(|a| (a.time_ms, a.serial));
    let mut rows = compare::rows(&runs, &audit);

    let mut last_seen: HashMap<Option<String>, Micros> = HashMap::new();
    let times = runs
        .iter()
        .map(|r| (&r.host, r.end.unwrap_or(r.start).max(r.start)))
        .chain(states.iter().map(|s| (&s.host, s.time)));
    for (host, t) in times {
        let e = last_seen.entry(host.clone()).or_insert(t);
        *e = (*e).max(t);
    }
    let gaps = compare::gaps(&states, &last_seen);
    compare::explain_by_gaps(&mut rows, &gaps);

    let in_window =
        |t: Micros| options.since.is_none_or(|s| t >= s) && options.until.is_none_or(|u| t <= u);
    let rows: Vec<TimedRow> = rows.into_iter().filter(|r| in_window(r.time)).collect();
    let gaps: Vec<TimedGap> = gaps
        .into_iter()
        .filter(|g| {
            options.since.is_none_or(|s| g.end >= s) && options.until.is_none_or(|u| g.start <= u)
        })
        .collect();

    let span = rows
        .iter()
        .map(|r| (r.time, r.time))
        .chain(gaps.iter().map(|g| (g.start, g.end)))
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        .map(|(start, end)| Span {
            start: format_time(start),
            end: format_time(end),
        });
    let mut rows: Vec<Row> = rows.into_iter().map(|r| r.row).collect();
    compare::nest(&mut rows);
    let gaps: Vec<Gap> = gaps.into_iter().map(|g| g.gap).collect();
    let summary = compare::summary(&rows, &gaps);
    Ok(Report {
        schema: SCHEMA_VERSION,
        key: options.key.clone(),
        window: Window {
            since: options.since.map(format_time),
            until: options.until.map(format_time),
        },
        span,
        inputs,
        summary,
        gaps,
        runs: rows,
        warnings: warnings.list,
        warnings_suppressed: warnings.suppressed,
    })
}

/// Renders the report in `format`.
pub fn render(report: &Report, format: ReportFormat) -> Result<String, ReportError> {
    Ok(match format {
        ReportFormat::Md => markdown::render(report),
        ReportFormat::Html => html::render(report),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
    })
}

fn stdout_error(error: std::io::Error) -> ReportError {
    ReportError::Write {
        path: PathBuf::from("standard output"),
        error,
    }
}

/// [`render`] into `out` (standard output): JSON is written as it is made (not first held
/// whole: for tens of thousands of runs it is the largest thing the
/// report makes); the other formats are rendered, then written.
pub fn render_to(
    report: &Report,
    format: ReportFormat,
    out: &mut dyn std::io::Write,
) -> Result<(), ReportError> {
    match format {
        ReportFormat::Json => {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
            serde_json::to_writer_pretty(&mut w, report)?;
            w.write_all(b"\n")
                .and_then(|()| w.flush())
                .map_err(stdout_error)?;
        }
        _ => {
            out.write_all(render(report, format)?.as_bytes())
                .map_err(stdout_error)?;
        }
    }
    Ok(())
}
