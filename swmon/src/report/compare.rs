//! Joins swmon's runs to pure auditd's records and computes the report:
//! one row per installer run, the coverage gaps, and the summary.
//!
//! Matching, in order (each audit record matches at most one run):
//! 1. by serial: swmon's `swmon.audit.serial` names the record, and its
//!    time lies within [`MATCH_WINDOW_US`] of the run;
//! 2. by process: the same pid, the record's time within the window of the
//!    run's start and end, and either the same executable or the same argv
//!    as the run's primary exec or one of its earlier execs
//!    (`swmon.exec_chain`: `npm` runs `env`, then `node`, in one process).
//!
//! Once a run has its record, other keyed records of the same process and
//! window that match one of its execs are folded into it rather than
//! listed as runs of their own. Records left over are runs that only pure
//! auditd recorded; their argv is classified here, so they get a manager,
//! an operation and packages like swmon's own runs.
//!
//! Nothing here reads files or renders anything.

use std::collections::{BTreeMap, HashMap};

use super::{
    input::{audit_user, format_time, AuditRun, Micros, StateEvent, SwmonRun},
    model::{
        AuditdSide, Count, Gap, GapCount, HostCount, ManagerCount, PackageOut, Row, Slip, Summary,
        SwmonSide, UserRef,
    },
};
use crate::{
    catalogue::{self, Manager, Role},
    classify::{self, Operation},
    event::lossless,
};

/// How far apart (microseconds) an audit record and a run may be and still
/// match. Audit stamps are wall-clock milliseconds, swmon's are boot-clock
/// nanoseconds mapped to wall-clock once at start; two seconds covers the
/// rounding and any drift between the two, and is far shorter than the
/// time a busy host takes to reuse a pid.
pub const MATCH_WINDOW_US: Micros = 2_000_000;

/// Gaps that open with one action and close with another.
const SPANS: &[(&str, &[&str])] = &[
    ("audit-disabled", &["audit-enabled"]),
    ("auditd-stopped", &["auditd-started"]),
    (
        "audit-rules-removed",
        &["audit-rules-added", "audit-rules-restored"],
    ),
];

/// Losses: instants, with a count.
const LOSSES: &[&str] = &["audit-records-lost", "ebpf-events-lost"];

const MONITOR_DOWN: &str = "monitor-down";

/// A row before the time window is applied, with its time as a number.
pub struct TimedRow {
    pub time: Micros,
    pub row: Row,
}

/// A gap with its times as numbers.
pub struct TimedGap {
    pub start: Micros,
    pub end: Micros,
    pub gap: Gap,
}

fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

fn installer_of(name: &[u8]) -> Option<Manager> {
    match catalogue::lookup(basename(name))?.1.role {
        Role::Installer(m) => Some(m),
        _ => None,
    }
}

fn args_equal(audit: &[Vec<u8>], swmon: &[String]) -> bool {
    !swmon.is_empty()
        && audit.len() == swmon.len()
        && audit.iter().zip(swmon).all(|(a, s)| lossless(a) == *s)
}

/// Whether a run and an audit record can be of one host: the event's
/// `host.name` and the record's `node=` are equal, or one side does not
/// name its host (a single host's log without `node=`). Serials and pids
/// are each host's own, so in a fleet's inputs they repeat across hosts.
fn same_host(run: &SwmonRun, a: &AuditRun) -> bool {
    match (&run.host, &a.node) {
        (Some(h), Some(n)) => h == n,
        _ => true,
    }
}

/// How an audit record matches one of a run's execs, if it does.
fn process_match(run: &SwmonRun, a: &AuditRun) -> Option<&'static str> {
    if a.pid != Some(run.pid) || !same_host(run, a) {
        return None;
    }
    let t = i64::try_from(a.time_ms).ok()?.saturating_mul(1000);
    let last = run.end.unwrap_or(run.start).max(run.start);
    if t < run.start.saturating_sub(MATCH_WINDOW_US) || t > last.saturating_add(MATCH_WINDOW_US) {
        return None;
    }
    let exe = a.exe.as_deref().map(lossless);
    let execs = std::iter::once((&run.executable, &run.args))
        .chain(run.chain.iter().map(|(e, args)| (e, args)));
    let mut by_argv = false;
    for (executable, args) in execs {
        if exe.is_some() && executable.as_ref() == exe.as_ref() {
            return Some("pid+executable");
        }
        by_argv |= args_equal(&a.argv, args);
    }
    by_argv.then_some("pid+argv")
}

fn distance(run: &SwmonRun, a: &AuditRun) -> i64 {
    audit_time(a).saturating_sub(run.start).saturating_abs()
}

/// Per run, the index of its audit record and how it matched; per record,
/// whether a run claimed it.
type Matching = (Vec<Option<(usize, &'static str)>>, Vec<bool>);

/// Matches runs to records; gives, per run, the index of its record and how
/// it matched, and per record whether a run claimed it.
fn match_runs(runs: &[SwmonRun], audit: &[AuditRun]) -> Matching {
    let mut by_serial: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, a) in audit.iter().enumerate() {
        by_serial.entry(a.serial).or_default().push(i);
        if let Some(pid) = a.pid {
            by_pid.entry(pid).or_default().push(i);
        }
    }
    let mut claimed = vec![false; audit.len()];
    let mut matched = vec![None; runs.len()];
    // First every serial match, so that a run matched by process cannot take
    // a record another run names by serial.
    for (r, run) in runs.iter().enumerate() {
        let Some(serial) = run.audit_serial else {
            continue;
        };
        let found = by_serial
            .get(&serial)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| {
                !claimed[i]
                    && same_host(run, &audit[i])
                    && distance(run, &audit[i]) <= MATCH_WINDOW_US
            })
            .min_by_key(|&i| distance(run, &audit[i]));
        if let Some(i) = found {
            claimed[i] = true;
            matched[r] = Some((i, "serial"));
        }
    }
    for (r, run) in runs.iter().enumerate() {
        if matched[r].is_some() {
            continue;
        }
        let found = by_pid
            .get(&run.pid)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| !claimed[i])
            .filter_map(|i| process_match(run, &audit[i]).map(|how| (i, how)))
            .min_by_key(|&(i, _)| distance(run, &audit[i]));
        if let Some((i, how)) = found {
            claimed[i] = true;
            matched[r] = Some((i, how));
        }
    }
    // Fold other keyed execs of a matched run's process into it.
    for (r, run) in runs.iter().enumerate() {
        if matched[r].is_none() {
            continue;
        }
        for &i in by_pid.get(&run.pid).into_iter().flatten() {
            if !claimed[i] && process_match(run, &audit[i]).is_some() {
                claimed[i] = true;
            }
        }
    }
    (matched, claimed)
}

fn audit_time(a: &AuditRun) -> Micros {
    // Saturating: the reader keeps stamps to year 9999, far below the edge.
    i64::try_from(a.time_ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000)
}

fn auditd_side(a: &AuditRun, how: Option<&'static str>) -> AuditdSide {
    AuditdSide {
        recorded: true,
        serial: Some(a.serial),
        time: Some(format_time(audit_time(a))),
        keys: a.keys.clone(),
        matched_by: how,
        source: Some(a.source.clone()),
    }
}

fn not_recorded() -> AuditdSide {
    AuditdSide {
        recorded: false,
        serial: None,
        time: None,
        keys: Vec::new(),
        matched_by: None,
        source: None,
    }
}

fn swmon_row(run: &SwmonRun, audit: Option<(&AuditRun, &'static str)>) -> TimedRow {
    TimedRow {
        time: run.start,
        row: Row {
            time: format_time(run.start),
            host: run.host.clone(),
            pid: Some(run.pid),
            ppid: run.ppid,
            login_user: run.login_user.clone(),
            user: run.user.clone(),
            executable: run.executable.clone(),
            args: run.args.clone(),
            manager: run.manager.clone(),
            operation: run.operation.clone(),
            packages: run.packages.clone(),
            scope: run.scope.clone(),
            via: run.via.clone(),
            exit_code: run.exit_code,
            swmon: SwmonSide {
                seen: true,
                action: run.action.clone(),
                verdict: run.verdict.clone(),
                reason: run.reason.clone(),
                audit_serial: run.audit_serial,
                amended: run.amended,
                first_verdict: run.first_verdict.clone(),
                first_reason: run.first_reason.clone(),
                source: Some(run.source.clone()),
                run_id: run.run_id.clone(),
                parent_run_id: run.parent_run_id.clone(),
                detected_by: run.detected_by.clone(),
                state_only: run.state_only,
                running: run.early,
                early_events: run.early_events,
                changes: run.changes.clone(),
                changes_total: run.changes_total,
                mismatches: run.mismatches.clone(),
                mismatches_total: run.mismatches_total,
                ancestors: run.ancestors.clone(),
            },
            auditd: match audit {
                Some((a, how)) => auditd_side(a, Some(how)),
                None => not_recorded(),
            },
            nested_in: None,
            nested_runs: 0,
            parent_missing: false,
        },
    }
}

/// Which manager an audit-only exec ran and how, from what the kernel
/// logged: the file exec was asked to run (a script's path, where `exe` is
/// its interpreter), argv, and the executable. Returns the manager, `via`,
/// and where the installer's own arguments start in argv. As `swmon run`
/// reads an exec: argv\[0\] never names the program (`exec -a` forges
/// it), an interpreter runs only its script or module (an installer's name
/// among the script's arguments is no run of it), and a direct exec's
/// arguments start after the script's path, else at 1 (see
/// [`classify::command::exec_args_start`]).
fn identify(a: &AuditRun) -> Option<(Manager, &'static str, usize)> {
    let argv: Vec<&[u8]> = a.argv.iter().map(Vec::as_slice).collect();
    let exe = a.exe.as_deref();
    let exe_installer = exe.and_then(installer_of);
    if let Some(path) = a.exec_path.as_deref() {
        if let Some(m) = installer_of(path) {
            // A script: the program the kernel ran is not the installer.
            let script = exe_installer.is_none();
            let start = classify::command::exec_args_start(&argv, path, false, script);
            return Some((m, "direct", start));
        }
    }
    // The program the kernel ran: an interpreter or the loader runs what
    // its own options say (argv\[0\] only when audit logged no `exe=`).
    let ran = exe.or(argv.first().copied()).unwrap_or_default();
    match catalogue::lookup(basename(ran)).map(|p| p.1.role) {
        Some(role @ (Role::Interpreter(_) | Role::Loader)) => {
            let t = classify::command::through(role, &argv)?;
            Some((t.manager, t.via, t.args_start()))
        }
        _ => {
            let m = exe_installer?;
            let via = if a.exec_path.is_none() {
                "direct"
            } else {
                "renamed"
            };
            Some((m, via, 1.min(argv.len())))
        }
    }
}

/// `swmon.scope` for a run swmon did not see, as `swmon run` would give it
/// from argv and the executable (without a venv lookup: the host is not
/// read here).
fn scope_of(c: &classify::Classification, a: &AuditRun) -> String {
    if let Some(s) = &c.scope {
        return s.as_str().into_owned();
    }
    match c.manager {
        Manager::Pip | Manager::Uv => match &a.exe {
            Some(exe) if exe.starts_with(b"/usr/") => "system".to_owned(),
            _ => "user".to_owned(),
        },
        Manager::Npm
        | Manager::Yarn
        | Manager::Pnpm
        | Manager::Bun
        | Manager::Composer
        | Manager::Bundler => "project".to_owned(),
        Manager::Cargo
        | Manager::Go
        | Manager::Pipx
        | Manager::Gem
        | Manager::Cpan
        | Manager::Cpanm => "user".to_owned(),
        _ => "system".to_owned(),
    }
}

fn audit_row(a: &AuditRun) -> TimedRow {
    let time = audit_time(a);
    let identified = identify(a);
    let class = identified.map(|(m, _, start)| {
        let args: Vec<&[u8]> = a.argv[start.min(a.argv.len())..]
            .iter()
            .map(Vec::as_slice)
            .collect();
        classify::classify(m, &args)
    });
    let action = class.as_ref().map(|c| match c.operation {
        Operation::Install => "package-install",
        Operation::Remove => "package-remove",
        Operation::Upgrade => "package-upgrade",
        Operation::Query | Operation::Other => "installer-exec",
    });
    TimedRow {
        time,
        row: Row {
            time: format_time(time),
            host: a.node.clone(),
            pid: a.pid,
            ppid: a.ppid,
            login_user: audit_user(a.auid, a.auid_name.as_deref()),
            user: a.uid.map(|id| UserRef {
                id: id.to_string(),
                name: a.uid_name.clone(),
            }),
            executable: a.exe.as_deref().map(lossless),
            args: a.argv.iter().map(|x| lossless(x)).collect(),
            manager: identified.map(|(m, _, _)| m.as_str().to_owned()),
            operation: class.as_ref().map(|c| c.operation.as_str().to_owned()),
            packages: class
                .as_ref()
                .map(|c| {
                    c.packages
                        .iter()
                        .map(|p| PackageOut {
                            name: p.name.clone(),
                            version: p.version.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            scope: class.as_ref().map(|c| scope_of(c, a)),
            via: identified.map(|(_, via, _)| via.to_owned()),
            exit_code: None,
            swmon: SwmonSide {
                seen: false,
                action: action.map(str::to_owned),
                verdict: None,
                reason: None,
                audit_serial: None,
                amended: 0,
                first_verdict: None,
                first_reason: None,
                source: None,
                run_id: None,
                parent_run_id: None,
                detected_by: Vec::new(),
                state_only: false,
                running: false,
                early_events: 0,
                changes: Vec::new(),
                changes_total: 0,
                mismatches: None,
                mismatches_total: 0,
                ancestors: Vec::new(),
            },
            auditd: auditd_side(a, None),
            nested_in: None,
            nested_runs: 0,
            parent_missing: false,
        },
    }
}

/// One row per run, in time order.
pub fn rows(runs: &[SwmonRun], audit: &[AuditRun]) -> Vec<TimedRow> {
    let (matched, claimed) = match_runs(runs, audit);
    let mut out: Vec<TimedRow> = runs
        .iter()
        .zip(&matched)
        .map(|(run, m)| swmon_row(run, m.map(|(i, how)| (&audit[i], how))))
        .collect();
    out.extend(
        audit
            .iter()
            .zip(&claimed)
            .filter(|(_, c)| !**c)
            .map(|(a, _)| audit_row(a)),
    );
    out.sort_by(|a, b| {
        (a.time, a.row.pid, &a.row.executable).cmp(&(b.time, b.row.pid, &b.row.executable))
    });
    out
}

fn seconds(start: Micros, end: Micros) -> f64 {
    end.saturating_sub(start).max(0) as f64 / 1e6
}

/// Coverage gaps from swmon's state events, per host. `last_seen` gives,
/// per host, the last time any input mentions it: where a gap still open
/// at the end of input stops.
pub fn gaps(states: &[StateEvent], last_seen: &HashMap<Option<String>, Micros>) -> Vec<TimedGap> {
    let mut by_host: BTreeMap<Option<String>, Vec<&StateEvent>> = BTreeMap::new();
    for s in states {
        by_host.entry(s.host.clone()).or_default().push(s);
    }
    let mut out = Vec::new();
    for (host, mut events) in by_host {
        events.sort_by_key(|s| s.time);
        // Open spans by kind: (start, source).
        let mut open: BTreeMap<String, (Micros, String)> = BTreeMap::new();
        let close = |open: &mut BTreeMap<String, (Micros, String)>,
                     kind: &str,
                     at: Micros,
                     by: Option<&str>,
                     out: &mut Vec<TimedGap>| {
            if let Some((start, source)) = open.remove(kind) {
                out.push(TimedGap {
                    start,
                    end: at.max(start),
                    gap: Gap {
                        kind: kind.to_owned(),
                        host: host.clone(),
                        start: format_time(start),
                        end: format_time(at.max(start)),
                        seconds: seconds(start, at),
                        ended_by: by.map(str::to_owned),
                        open: by.is_none(),
                        lost: None,
                        source,
                    },
                });
            }
        };
        for s in &events {
            let action = s.action.as_str();
            if let Some((kind, _)) = SPANS.iter().find(|(k, _)| *k == action) {
                open.entry((*kind).to_owned())
                    .or_insert((s.time, s.source.clone()));
            } else if let Some((kind, _)) =
                SPANS.iter().find(|(_, closers)| closers.contains(&action))
            {
                close(&mut open, kind, s.time, Some(action), &mut out);
            } else if LOSSES.contains(&action) {
                out.push(TimedGap {
                    start: s.time,
                    end: s.time,
                    gap: Gap {
                        kind: action.to_owned(),
                        host: host.clone(),
                        start: format_time(s.time),
                        end: format_time(s.time),
                        seconds: 0.0,
                        ended_by: None,
                        open: false,
                        lost: s.lost,
                        source: s.source.clone(),
                    },
                });
            } else if action == "monitor-stopped" || action == "monitor-started" {
                // A stop ends what the monitor was tracking; a start without
                // a stop before it means the last monitor died, and the new
                // one reports the state afresh.
                let kinds: Vec<String> = open
                    .keys()
                    .filter(|k| k.as_str() != MONITOR_DOWN)
                    .cloned()
                    .collect();
                for kind in kinds {
                    close(&mut open, &kind, s.time, Some(action), &mut out);
                }
                if action == "monitor-stopped" {
                    open.entry(MONITOR_DOWN.to_owned())
                        .or_insert((s.time, s.source.clone()));
                } else {
                    close(&mut open, MONITOR_DOWN, s.time, Some(action), &mut out);
                }
            }
        }
        // A monitor stopped at the end of the input is the end of the
        // recording, not a gap.
        open.remove(MONITOR_DOWN);
        let end = last_seen
            .get(&host)
            .copied()
            .or_else(|| events.last().map(|s| s.time))
            .unwrap_or(0);
        let kinds: Vec<String> = open.keys().cloned().collect();
        for kind in kinds {
            close(&mut open, &kind, end, None, &mut out);
        }
    }
    out.sort_by(|a, b| (a.start, &a.gap.kind).cmp(&(b.start, &b.gap.kind)));
    out
}

/// Where a run swmon saw but auditd did not record has no reason from
/// swmon, the span gap it fell in (if any) is the reason.
pub fn explain_by_gaps(rows: &mut [TimedRow], gaps: &[TimedGap]) {
    for r in rows.iter_mut() {
        if r.row.auditd.recorded || !r.row.swmon.seen || r.row.swmon.reason.is_some() {
            continue;
        }
        let host = &r.row.host;
        let within = gaps.iter().find(|g| {
            g.gap.kind != MONITOR_DOWN
                && g.start < g.end
                && (g.gap.host == *host || g.gap.host.is_none() || host.is_none())
                && g.start <= r.time
                && r.time <= g.end
        });
        if let Some(g) = within {
            r.row.swmon.reason = Some(g.gap.kind.clone());
        }
    }
}

/// Folds nested runs under their root install: a run whose
/// `swmon.parent_run_id` names a run of the same host among `rows` gets
/// `nested_in`, the run id at the top of that chain, and the root counts
/// it in `nested_runs`. A parent id no row has leaves the run a root with
/// `parent_missing`; a chain that loops (forged input) leaves the run a
/// root too, cut where it closes. A state-only install is never a parent.
pub fn nest(rows: &mut [Row]) {
    let mut by_id: HashMap<(Option<String>, String), usize> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(id) = &r.swmon.run_id {
            by_id.entry((r.host.clone(), id.clone())).or_insert(i);
        }
    }
    let parent = |rows: &[Row], i: usize| -> Option<Result<usize, ()>> {
        let p = rows[i].swmon.parent_run_id.as_ref()?;
        Some(
            by_id
                .get(&(rows[i].host.clone(), p.clone()))
                .copied()
                .filter(|&j| j != i && !rows[j].swmon.state_only)
                .ok_or(()),
        )
    };
    let n = rows.len();
    // Each run's root, resolved once: linear even for a long chain.
    let mut root: Vec<Option<usize>> = vec![None; n];
    let mut missing = vec![false; n];
    let mut on_path = std::collections::HashSet::new();
    for i in 0..n {
        let mut path = Vec::new();
        on_path.clear();
        let mut at = i;
        let top = loop {
            if let Some(r) = root[at] {
                break r;
            }
            path.push(at);
            on_path.insert(at);
            match parent(rows, at) {
                None => break at,
                Some(Err(())) => {
                    missing[at] = true;
                    break at;
                }
                // A loop (forged input) is cut where it closes.
                Some(Ok(j)) if on_path.contains(&j) => break at,
                Some(Ok(j)) => at = j,
            }
        };
        for p in path {
            root[p] = Some(top);
        }
    }
    for i in 0..n {
        rows[i].parent_missing = missing[i];
        if let Some(r) = root[i].filter(|&r| r != i) {
            rows[i].nested_in = rows[r].swmon.run_id.clone();
            rows[r].nested_runs += 1;
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The summary of the rows and gaps that made it into the window.
pub fn summary(all: &[Row], gaps: &[Gap]) -> Summary {
    // Root installer runs: nested runs and state-only installs are
    // counted apart.
    let rows: Vec<&Row> = all
        .iter()
        .filter(|r| r.nested_in.is_none() && !r.swmon.state_only)
        .collect();
    let rows = rows.as_slice();
    let runs = rows.len() as u64;
    let seen = rows.iter().filter(|r| r.swmon.seen).count() as u64;
    let recorded = rows.iter().filter(|r| r.auditd.recorded).count() as u64;

    let mut managers: BTreeMap<String, ManagerCount> = BTreeMap::new();
    for r in rows {
        let name = r.manager.clone().unwrap_or_else(|| "unknown".to_owned());
        let m = managers.entry(name.clone()).or_insert(ManagerCount {
            manager: name,
            runs: 0,
            seen_by_swmon: 0,
            recorded_by_auditd: 0,
        });
        m.runs += 1;
        m.seen_by_swmon += u64::from(r.swmon.seen);
        m.recorded_by_auditd += u64::from(r.auditd.recorded);
    }
    let mut by_manager: Vec<ManagerCount> = managers.into_values().collect();
    by_manager.sort_by(|a, b| b.runs.cmp(&a.runs).then_with(|| a.manager.cmp(&b.manager)));

    let mut verdicts: BTreeMap<String, u64> = ["confirmed", "ebpf_only", "audit_only"]
        .iter()
        .map(|v| ((*v).to_owned(), 0))
        .collect();
    let mut not_seen = 0;
    for r in rows {
        if !r.swmon.seen {
            not_seen += 1;
            continue;
        }
        let v = r.swmon.verdict.clone().unwrap_or_else(|| "none".to_owned());
        *verdicts.entry(v).or_default() += 1;
    }
    let order = |name: &str| match name {
        "confirmed" => 0,
        "ebpf_only" => 1,
        "audit_only" => 2,
        _ => 3,
    };
    let mut by_verdict: Vec<Count> = verdicts
        .into_iter()
        .map(|(name, runs)| Count { name, runs })
        .collect();
    by_verdict.sort_by(|a, b| (order(&a.name), &a.name).cmp(&(order(&b.name), &b.name)));
    by_verdict.push(Count {
        name: "not_seen_by_swmon".to_owned(),
        runs: not_seen,
    });

    let mut slips: BTreeMap<(Option<String>, Option<String>), Vec<String>> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.auditd.recorded) {
        slips
            .entry((r.via.clone(), r.swmon.reason.clone()))
            .or_default()
            .push(r.manager.clone().unwrap_or_else(|| "unknown".to_owned()));
    }
    let mut slipped_past_auditd: Vec<Slip> = slips
        .into_iter()
        .map(|((via, reason), mut managers)| {
            let runs = managers.len() as u64;
            managers.sort();
            managers.dedup();
            Slip {
                via,
                reason,
                runs,
                managers,
            }
        })
        .collect();
    slipped_past_auditd.sort_by_key(|s| std::cmp::Reverse(s.runs));

    let mut hosts: BTreeMap<Option<String>, (u64, u64, u64)> = BTreeMap::new();
    for r in rows {
        let h = hosts.entry(r.host.clone()).or_default();
        h.0 += 1;
        h.1 += u64::from(r.swmon.seen);
        h.2 += u64::from(r.auditd.recorded);
    }
    let by_host = hosts
        .into_iter()
        .map(|(host, (runs, seen, recorded))| HostCount {
            host,
            runs,
            seen_by_swmon: seen,
            recorded_by_auditd: recorded,
            auditd_recall: ratio(recorded, runs),
            swmon_recall: ratio(seen, runs),
        })
        .collect();

    let mut kinds: BTreeMap<String, GapCount> = BTreeMap::new();
    for g in gaps {
        let c = kinds.entry(g.kind.clone()).or_insert(GapCount {
            kind: g.kind.clone(),
            count: 0,
            seconds: 0.0,
            lost: None,
        });
        c.count += 1;
        c.seconds += g.seconds;
        if let Some(n) = g.lost {
            c.lost = Some(c.lost.unwrap_or(0).saturating_add(n));
        }
    }

    Summary {
        runs,
        nested_runs: all.iter().filter(|r| r.nested_in.is_some()).count() as u64,
        state_only: all.iter().filter(|r| r.swmon.state_only).count() as u64,
        running: rows.iter().filter(|r| r.swmon.running).count() as u64,
        parent_missing: rows.iter().filter(|r| r.parent_missing).count() as u64,
        seen_by_swmon: seen,
        recorded_by_auditd: recorded,
        auditd_recall: ratio(recorded, runs),
        swmon_recall: ratio(seen, runs),
        by_manager,
        by_host,
        by_verdict,
        slipped_past_auditd,
        verdict_disagreements: rows
            .iter()
            .filter(|r| r.auditd.recorded && r.swmon.verdict.as_deref() == Some("ebpf_only"))
            .count() as u64,
        gaps: kinds.into_values().collect(),
    }
}

#[cfg(test)]
mod identify_tests {
    use super::*;

    fn run(exe: &str, path: Option<&str>, argv: &[&str]) -> AuditRun {
        AuditRun {
            serial: 1,
            time_ms: 0,
            node: None,
            pid: Some(1),
            ppid: None,
            uid: None,
            auid: None,
            uid_name: None,
            auid_name: None,
            exe: Some(exe.as_bytes().to_vec()),
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            exec_path: path.map(|p| p.as_bytes().to_vec()),
            keys: Vec::new(),
            source: String::new(),
        }
    }

    #[test]
    fn audit_execs_are_read_as_swmon_run_reads_them() {
        use Manager::*;
        for (r, want) in [
            // A forged argv[0] names nothing and moves nothing.
            (
                run(
                    "/usr/bin/dpkg",
                    Some("/usr/bin/dpkg"),
                    &["python3", "-m", "pip", "-i", "x.deb"],
                ),
                Some((Dpkg, "direct", 1)),
            ),
            (
                run(
                    "/usr/bin/dpkg",
                    Some("/usr/bin/dpkg"),
                    &["x", "-i", "a.deb", "/tmp/pip"],
                ),
                Some((Dpkg, "direct", 1)),
            ),
            (
                run("/usr/bin/true", Some("/usr/bin/true"), &["dpkg", "-i", "x"]),
                None,
            ),
            // A script: after its path.
            (
                run(
                    "/usr/bin/python3.11",
                    Some("/usr/bin/pip"),
                    &["/usr/bin/python3", "/usr/bin/pip", "install", "x"],
                ),
                Some((Pip, "direct", 2)),
            ),
            // An interpreter runs its script or module only.
            (
                run(
                    "/usr/bin/python3.11",
                    Some("/usr/bin/python3"),
                    &["python3", "-m", "pip", "install", "x"],
                ),
                Some((Pip, "python -m", 3)),
            ),
            (
                run(
                    "/usr/bin/python3.11",
                    Some("/usr/bin/python3"),
                    &["python3", "tool.py", "npm", "install", "x"],
                ),
                None,
            ),
            (
                run(
                    "/usr/bin/node",
                    Some("/usr/bin/node"),
                    &["node", "-c", "/usr/lib/node_modules/npm/bin/npm-cli.js"],
                ),
                None,
            ),
            (
                run(
                    "/usr/bin/node",
                    Some("/usr/bin/node"),
                    &[
                        "dpkg",
                        "--report-dir",
                        "/tmp",
                        "/usr/lib/node_modules/npm/bin/npm-cli.js",
                        "i",
                    ],
                ),
                Some((Npm, "interpreter-script", 4)),
            ),
            // A renamed copy.
            (
                run("/usr/bin/dpkg", Some("/tmp/x"), &["x", "-l"]),
                Some((Dpkg, "renamed", 1)),
            ),
        ] {
            assert_eq!(identify(&r), want, "{:?}", r.argv);
        }
    }
}
