//! Judging the corpus: each scenario's runs found in swmon's events by
//! their working folder, matched to `swmon report`'s JSON (by the event's
//! line) for what pure auditd recorded, checked against the expectation,
//! and the table a reader sees. The state witness's part: what each run or
//! state-only alert changed (`swmon.changes`), the alerts found by the
//! scenario shell's processes (they have no working folder), and benign
//! work's want of any install event. Pure: it reads values, runs nothing.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{
    corpus::{ChangeWant, Expect, Scenario},
    host::Shell,
};

/// One line of swmon's output and its 1-based line number.
pub struct Line {
    pub no: usize,
    pub event: Value,
}

/// The installer runs of one scenario folder: those it started (`top`),
/// and those nested under one of them (apt-get's dpkg); and the state-only
/// alerts and every other event of its shell's processes. A state-only
/// alert is no run, even with a verdict and a working folder (both may
/// come to alerts).
pub struct Runs<'a> {
    pub top: Vec<&'a Line>,
    pub nested: Vec<&'a Line>,
    /// Runs written while the scenario played that have no working folder:
    /// swmon reads it from /proc, and a short-lived process can be gone
    /// first. Shown, not checked.
    pub unplaced: usize,
    /// Runs of the folder with only their early (`start`) event: still
    /// running when swmon stopped. Shown, not counted.
    pub running: usize,
    /// State-only alerts (`no-installer-exec`) of the shell's processes.
    pub alerts: Vec<&'a Line>,
    /// Every install event of the folder or of the shell's processes (a
    /// run of any verdict, early ones too, or an alert), one per
    /// `swmon.run_id`, described: what `no_events` wants none of.
    pub any: BTreeMap<String, String>,
    /// Installer execs of the folder or the shell's processes that install
    /// nothing (`cargo build`), described: shown, not counted.
    pub info: BTreeMap<String, String>,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// An early event of a long run (a run's event, `swmon.run_id`, whose
/// `event.type` has `start`; `monitor-started`'s has too, and no run id):
/// the run's final event follows and is the decision.
pub fn is_start(e: &Value) -> bool {
    if !e["swmon"]["run_id"].is_string() {
        return false;
    }
    match &e["event"]["type"] {
        Value::String(t) => t.contains("start"),
        Value::Array(a) => a
            .iter()
            .any(|t| t.as_str().is_some_and(|t| t.contains("start"))),
        _ => false,
    }
}

/// A state-only alert: package state written with no installer run.
pub fn is_state_only(e: &Value) -> bool {
    e.get("process").is_some()
        && e["event"]["kind"] == "alert"
        && (e["swmon"]["reason"] == "no-installer-exec"
            || e["swmon"]["detected_by"] == serde_json::json!(["state"]))
}

/// How far a process start read from `/proc` (clock ticks, floored) may
/// be below the kernel's for the same process (swmon's `TICK_SLACK_NS`).
const TICK_SLACK_NS: u64 = 20_000_000;

/// Whether the event's process is the shell or under it: the shell's pid
/// is the process's, its parent's, or in `swmon.ancestors` (the chain the
/// kernel recorded at the exec or the write, so it holds however late the
/// event comes), and the process started while the shell was alive (its
/// start in `swmon.run_id`), so a later process given the shell's pid
/// again is not taken for it.
pub fn under_shell(e: &Value, sh: &Shell) -> bool {
    let Some(start) = e["swmon"]["run_id"]
        .as_str()
        .and_then(|id| id.rsplit_once('-'))
        .and_then(|(_, s)| s.parse::<u64>().ok())
    else {
        return false;
    };
    if start.saturating_add(TICK_SLACK_NS) < sh.start_ns || start > sh.end_ns {
        return false;
    }
    let pid = u64::from(sh.pid);
    e["process"]["pid"].as_u64() == Some(pid)
        || e["process"]["parent"]["pid"].as_u64() == Some(pid)
        || e["swmon"]["ancestors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["pid"].as_u64() == Some(pid)))
}

/// The runs of the folder `dir`; `window` is the range of event lines
/// written while the scenario played; `shell` the scenario's shell, once
/// its line ran.
pub fn runs_in<'a>(
    lines: &'a [Line],
    dir: &Path,
    window: (usize, usize),
    shell: Option<&Shell>,
) -> Runs<'a> {
    let dir = dir.to_string_lossy();
    let mine = |l: &Line| {
        l.event.get("process").is_some()
            && (s(&l.event, &["process", "working_directory"]) == Some(&*dir)
                || shell.is_some_and(|sh| under_shell(&l.event, sh)))
    };
    let unplaced = lines
        .iter()
        .filter(|l| {
            l.no > window.0
                && l.no <= window.1
                && l.event.get("process").is_some()
                && l.event["swmon"]["verdict"].is_string()
                && !is_start(&l.event)
                && !is_state_only(&l.event)
                && l.event["process"]["working_directory"].is_null()
        })
        .count();
    let dir = &*dir;
    let runs = |start: bool| {
        lines.iter().filter(move |l| {
            l.event.get("process").is_some()
                && l.event["swmon"]["verdict"].is_string()
                && !is_state_only(&l.event)
                && is_start(&l.event) == start
                && s(&l.event, &["process", "working_directory"]) == Some(dir)
        })
    };
    let all: Vec<&Line> = runs(false).collect();
    let ids: BTreeSet<&str> = all
        .iter()
        .filter_map(|l| l.event["swmon"]["run_id"].as_str())
        .collect();
    let running = runs(true)
        .filter(|l| {
            l.event["swmon"]["run_id"]
                .as_str()
                .is_none_or(|id| !ids.contains(id))
        })
        .count();
    let pids: BTreeSet<u64> = all
        .iter()
        .filter_map(|l| l.event["process"]["pid"].as_u64())
        .collect();
    let (nested, top) = all.into_iter().partition(|l| {
        l.event["swmon"]["ancestors"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x["pid"].as_u64().is_some_and(|p| pids.contains(&p)))
        })
    });
    let alerts = lines
        .iter()
        .filter(|l| is_state_only(&l.event) && shell.is_some_and(|sh| under_shell(&l.event, sh)))
        .collect();
    // One event per run: its final one, or its early one while it has no
    // other (an early event says little of what the run did).
    let mut last: BTreeMap<String, &Line> = BTreeMap::new();
    for l in lines.iter().filter(|l| mine(l)) {
        let id = s(&l.event, &["swmon", "run_id"])
            .map_or_else(|| format!("line {}", l.no), str::to_owned);
        let keep = last
            .get(&id)
            .is_none_or(|k| is_start(&k.event) || !is_start(&l.event));
        if keep {
            last.insert(id, l);
        }
    }
    let (mut any, mut info) = (BTreeMap::new(), BTreeMap::new());
    for (id, l) in last {
        let into = if installs_nothing(&l.event) {
            &mut info
        } else {
            &mut any
        };
        into.insert(id, describe(&l.event));
    }
    Runs {
        top,
        nested,
        unplaced,
        running,
        alerts,
        any,
        info,
    }
}

/// An installer's exec that installs nothing: swmon's `installer-exec`
/// of type `info` (a query or another subcommand: `cargo build`, `dpkg
/// -l`), with no change read from package state. An exec whose arguments
/// are unknown is of type `installation`: it may install.
pub fn installs_nothing(e: &Value) -> bool {
    !is_state_only(e)
        && e["event"]["action"] == "installer-exec"
        && e["event"]["type"] == serde_json::json!(["info"])
        && e["swmon"]["changes"].as_array().is_none_or(Vec::is_empty)
}

/// One event in a few words: what, by which process, which packages.
fn describe(e: &Value) -> String {
    let what = if is_state_only(e) {
        "state-only alert".to_owned()
    } else {
        let mut w = s(e, &["swmon", "verdict"]).unwrap_or("event").to_owned();
        if is_start(e) {
            w.push_str(" (start)");
        }
        w
    };
    let changes: Vec<String> = e["swmon"]["changes"]
        .as_array()
        .map(|a| a.iter().map(change_text).collect())
        .unwrap_or_default();
    format!(
        "{what} of pid {} {} manager {}{}",
        e["process"]["pid"],
        s(e, &["process", "executable"]).unwrap_or("?"),
        s(e, &["swmon", "manager"]).unwrap_or("-"),
        if changes.is_empty() {
            String::new()
        } else {
            format!(" changes [{}]", changes.join(", "))
        }
    )
}

/// A change as `manager:name=version (from previous) action`.
fn change_text(c: &Value) -> String {
    let mut t = format!(
        "{}:{}",
        c["manager"].as_str().unwrap_or("?"),
        c["name"].as_str().unwrap_or("?")
    );
    if let Some(v) = c["version"].as_str() {
        let _ = write!(t, "={v}");
    }
    if let Some(p) = c["previous_version"].as_str() {
        let _ = write!(t, " (from {p})");
    }
    let _ = write!(t, " {}", c["action"].as_str().unwrap_or("?"));
    if let Some(h) = c["sha256"].as_str() {
        let _ = write!(t, " sha256 {}", &h[..h.len().min(12)]);
    }
    t
}

/// The runs the expectation counts: top-level runs of its manager.
/// Applies each `verdict-amended` to the run it corrects (same
/// `swmon.run_id`): the run's `swmon.verdict`/`reason` become the amended
/// ones, `swmon.amended` counts the corrections, `swmon.first_verdict`
/// keeps what was reported first.
pub fn apply_amendments(lines: &mut [Line]) {
    let amendments: Vec<Value> = lines
        .iter()
        .filter(|l| l.event["event"]["action"] == "verdict-amended")
        .map(|l| l.event.clone())
        .collect();
    for a in amendments {
        let Some(id) = a["swmon"]["run_id"].as_str() else {
            continue;
        };
        if let Some(run) = lines.iter_mut().find(|l| {
            l.event.get("process").is_some()
                && !is_start(&l.event)
                && l.event["swmon"]["run_id"].as_str() == Some(id)
        }) {
            let sw = &mut run.event["swmon"];
            if sw["first_verdict"].is_null() {
                sw["first_verdict"] = sw["verdict"].clone();
            }
            sw["verdict"] = a["swmon"]["verdict"].clone();
            sw["reason"] = a["swmon"]["reason"].clone();
            let n = sw["amended"].as_u64().unwrap_or(0);
            sw["amended"] = Value::from(n + 1);
        }
    }
}

/// The runs the expectation counts: top-level runs of its manager, or
/// with `state_only` the state-only alerts of its manager.
pub fn counted(runs: &Runs<'_>, e: &Expect) -> usize {
    let of = if e.state_only {
        &runs.alerts
    } else {
        &runs.top
    };
    of.iter()
        .filter(|l| s(&l.event, &["swmon", "manager"]) == e.manager.as_deref())
        .count()
}

/// The committed events schema (`docs/events.schema.json`), compiled once.
fn schema() -> Result<&'static jsonschema::Validator, String> {
    static SCHEMA: std::sync::OnceLock<Result<jsonschema::Validator, String>> =
        std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let text = include_str!("../../../docs/events.schema.json");
            let schema: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            jsonschema::validator_for(&schema).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Each line of the events file that does not follow the events schema
/// (`null`: not JSON), with its line number and why.
pub fn schema_misses(lines: &[Value]) -> Vec<String> {
    let v = match schema() {
        Ok(v) => v,
        Err(e) => return vec![format!("docs/events.schema.json: {e}")],
    };
    let mut misses = Vec::new();
    for (i, e) in lines.iter().enumerate() {
        if e.is_null() {
            misses.push(format!("line {}: not a JSON event", i + 1));
            continue;
        }
        let errors: Vec<String> = v
            .iter_errors(e)
            .map(|err| format!("{err} at {}", err.instance_path()))
            .collect();
        if !errors.is_empty() {
            misses.push(format!(
                "line {} ({}): {}",
                i + 1,
                e["event"]["action"].as_str().unwrap_or("?"),
                errors.join("; ")
            ));
        }
    }
    misses
}

/// `swmon report --format json`'s runs, by the events line they came from.
pub fn report_by_line(report: &Value, events: &Path) -> BTreeMap<usize, Value> {
    let prefix = format!("{}:", events.display());
    report["runs"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .filter_map(|r| {
                    let src = r["swmon"]["source"].as_str()?;
                    let line = src.strip_prefix(&prefix)?.parse().ok()?;
                    Some((line, r.clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What playing a scenario left to judge besides the events.
#[derive(Default)]
pub struct Played {
    /// The scenario's working folder (canonical).
    pub dir: PathBuf,
    /// The line's exit, when it did not succeed.
    pub failed: Option<String>,
    /// Problems of the runner itself: a setup or host action that failed,
    /// runs not decided by the deadline.
    pub problems: Vec<String>,
    pub container_id: Option<String>,
    /// The expected `swmon.scope`, placeholders expanded.
    pub scope: Option<String>,
    /// The expected `swmon.packages` (name, version), placeholders
    /// expanded in the names.
    pub packages: Option<Vec<(String, Option<String>)>>,
    pub note: Option<String>,
    pub seconds: f64,
    /// Event lines written while it played: (before, after].
    pub window: (usize, usize),
    /// The scenario's shell, once its line ran.
    pub shell: Option<Shell>,
    /// The expected `swmon.changes`, placeholders expanded.
    pub changes: Option<Vec<ChangeWant>>,
    /// The sha256 of each `sha256_of` file, hashed right after the line
    /// (an error when it could not be).
    pub hashes: BTreeMap<String, Result<String, String>>,
}

pub struct Row {
    pub name: String,
    pub swmon: String,
    pub auditd: String,
    pub verdict: String,
    pub expected: String,
    pub misses: Vec<String>,
    pub note: Option<String>,
}

fn verdict_text(verdict: Option<&str>, reason: Option<&str>) -> String {
    match (verdict, reason) {
        (Some(v), Some(r)) => format!("{v} ({r})"),
        (Some(v), None) => v.to_owned(),
        (None, _) => "-".into(),
    }
}

pub fn judge(
    sc: &Scenario,
    played: &Played,
    runs: &Runs<'_>,
    report: &BTreeMap<usize, Value>,
) -> Row {
    let e = &sc.expect;
    let mut misses = played.problems.clone();
    if let (Some(f), false) = (&played.failed, e.allow_failure) {
        misses.push(format!("the line failed: {f}"));
    }
    let none = Vec::new();
    let (checked, what) = if e.no_events {
        (&none, "install events")
    } else if e.state_only {
        (&runs.alerts, "state-only alerts")
    } else {
        (&runs.top, "runs")
    };
    if checked.len() != e.count() {
        misses.push(format!("{} {what}, want {}", checked.len(), e.count()));
    }
    if e.state_only && !runs.top.is_empty() {
        misses.push(format!(
            "{} installer runs, want none (a state-only install)",
            runs.top.len()
        ));
    }
    if e.witness() && !e.state_only && !e.no_events && !runs.alerts.is_empty() {
        let shown: Vec<String> = runs.alerts.iter().map(|l| describe(&l.event)).collect();
        misses.push(format!(
            "state-only alerts, want none: {}",
            shown.join("; ")
        ));
    }
    if e.no_events && !runs.any.is_empty() {
        let shown: Vec<&str> = runs.any.values().map(String::as_str).collect();
        misses.push(format!("install events, want none: {}", shown.join("; ")));
    }
    let mut recorded = 0;
    let mut verdicts = BTreeSet::new();
    let mut seen = 0;
    for l in checked {
        let ev = &l.event;
        let got = |path: &[&str]| s(ev, path);
        let pid = ev["process"]["pid"].as_u64().unwrap_or(0);
        let miss = |misses: &mut Vec<String>, what: &str, have: Option<&str>, want: &str| {
            if have != Some(want) {
                misses.push(format!(
                    "pid {pid}: {what} {}, want {want}",
                    have.unwrap_or("-")
                ));
            }
        };
        let verdict = got(&["swmon", "verdict"]);
        let reason = got(&["swmon", "reason"]);
        verdicts.insert(if e.state_only {
            "state-only alert".to_owned()
        } else {
            verdict_text(verdict, reason)
        });
        if verdict != Some("audit_only") {
            seen += 1;
        }
        if let Some(w) = &e.manager {
            miss(&mut misses, "manager", got(&["swmon", "manager"]), w);
        }
        if e.state_only {
            miss(&mut misses, "event.kind", got(&["event", "kind"]), "alert");
            miss(&mut misses, "reason", reason, "no-installer-exec");
            if e.detected_by.is_none() && ev["swmon"]["detected_by"] != serde_json::json!(["state"])
            {
                misses.push(format!(
                    "pid {pid}: detected_by {}, want [\"state\"]",
                    ev["swmon"]["detected_by"]
                ));
            }
        }
        if let Some(w) = &e.writer {
            miss(&mut misses, "writer", got(&["process", "name"]), w);
        }
        if let Some(want) = &e.detected_by {
            let have: BTreeSet<&str> = ev["swmon"]["detected_by"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let want_set: BTreeSet<&str> = want.iter().map(String::as_str).collect();
            if have != want_set {
                misses.push(format!(
                    "pid {pid}: detected_by {}, want {want:?}",
                    ev["swmon"]["detected_by"]
                ));
            }
        }
        if let Some(want) = &played.changes {
            check_changes(ev, want, &played.hashes, pid, &mut misses);
        }
        if let Some(w) = &e.operation {
            miss(&mut misses, "operation", got(&["swmon", "operation"]), w);
        }
        if let Some(w) = &e.verdict {
            miss(&mut misses, "verdict", verdict, w);
            // An expected verdict without a reason wants none. A
            // state-only alert's reason is `no-installer-exec`; its
            // verdict's is `swmon.audit.reason`.
            let want_reason = e.reason.as_deref();
            let reason = if e.state_only {
                got(&["swmon", "audit", "reason"])
            } else {
                reason
            };
            if reason != want_reason {
                misses.push(format!(
                    "pid {pid}: reason {}, want {}",
                    reason.unwrap_or("none"),
                    want_reason.unwrap_or("none")
                ));
            }
        }
        let amended = ev["swmon"]["amended"].as_u64().unwrap_or(0);
        if amended != u64::from(e.amended) {
            misses.push(format!(
                "pid {pid}: {amended} verdict-amended, want {} (first {})",
                u64::from(e.amended),
                got(&["swmon", "first_verdict"]).unwrap_or("-")
            ));
        }
        if e.amended && got(&["swmon", "first_verdict"]) != Some("ebpf_only") {
            misses.push(format!("pid {pid}: first verdict not ebpf_only"));
        }
        if let Some(w) = &e.via {
            miss(&mut misses, "via", got(&["swmon", "via"]), w);
        }
        if let Some(w) = &played.scope {
            miss(&mut misses, "scope", got(&["swmon", "scope"]), w);
        }
        if e.container {
            let want = played.container_id.as_deref().unwrap_or("?");
            miss(
                &mut misses,
                "container",
                got(&["swmon", "container", "id"]),
                want,
            );
        }
        if let Some(want) = &played.packages {
            let have: Vec<(String, Option<String>)> = ev["swmon"]["packages"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap_or("").to_owned(),
                                p["version"].as_str().map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let matches = have.len() == want.len()
                && want.iter().all(|w| {
                    have.iter().any(|(n, v)| {
                        *n == w.0 && w.1.as_ref().is_none_or(|wv| v.as_ref() == Some(wv))
                    })
                });
            if !matches {
                let show = |v: Vec<String>| format!("[{}]", v.join(", "));
                misses.push(format!(
                    "pid {pid}: packages {}, want {}",
                    show(
                        have.iter()
                            .map(|(n, v)| v.as_ref().map_or(n.clone(), |v| format!("{n}={v}")))
                            .collect()
                    ),
                    show(
                        want.iter()
                            .map(|(n, v)| v.as_ref().map_or(n.clone(), |v| format!("{n}={v}")))
                            .collect()
                    )
                ));
            }
        }
        // An alert is about a write, not a process's end: no exit code,
        // and no run of auditd's.
        if e.state_only {
            continue;
        }
        if !e.allow_failure && ev["process"]["exit_code"].as_i64() != Some(0) {
            misses.push(format!(
                "pid {pid}: exit code {}",
                ev["process"]["exit_code"]
            ));
        }
        match report.get(&l.no) {
            Some(r) => {
                let rec = r["auditd"]["recorded"].as_bool() == Some(true);
                recorded += usize::from(rec);
                if let Some(w) = e.auditd {
                    if rec != w {
                        misses.push(format!(
                            "pid {pid}: pure auditd {} it, want {}",
                            if rec { "recorded" } else { "missed" },
                            if w { "recorded" } else { "missed" }
                        ));
                    }
                }
            }
            None => misses.push(format!("pid {pid}: not in the report (line {})", l.no)),
        }
    }
    let n = checked.len();
    let mut swmon = match n {
        0 => "no".to_owned(),
        1 if seen == 1 => "yes".into(),
        _ => format!("{seen}/{n}"),
    };
    if !runs.nested.is_empty() {
        let _ = write!(swmon, " (+{} nested)", runs.nested.len());
    }
    if runs.unplaced > 0 {
        let _ = write!(swmon, " (+{} without a folder)", runs.unplaced);
    }
    if runs.running > 0 {
        let _ = write!(swmon, " (+{} still running)", runs.running);
    }
    if e.no_events {
        swmon = if runs.any.is_empty() {
            "no install".into()
        } else {
            format!("{} install events", runs.any.len())
        };
        if !runs.info.is_empty() {
            let shown: Vec<&str> = runs.info.values().map(String::as_str).collect();
            let _ = write!(
                swmon,
                " (+{} installing nothing: {})",
                runs.info.len(),
                shown.join("; ")
            );
        }
    }
    let auditd = match (n, recorded) {
        _ if e.state_only => "-".to_owned(),
        (0, _) => "-".to_owned(),
        (1, 1) => "yes".into(),
        (_, 0) => "no".into(),
        (n, r) => format!("{r}/{n}"),
    };
    let mut expected = if e.no_events {
        "no event".to_owned()
    } else if e.state_only {
        "state-only alert".to_owned()
    } else {
        verdict_text(e.verdict.as_deref(), e.reason.as_deref())
    };
    if let Some(a) = e.auditd {
        let _ = write!(expected, ", auditd {}", if a { "yes" } else { "no" });
    }
    if e.count() != 1 && !e.no_events {
        let _ = write!(expected, ", {} {what}", e.count());
    }
    if let Some(c) = &played.changes {
        let _ = write!(
            expected,
            ", changes [{}]",
            c.iter().map(want_text).collect::<Vec<_>>().join(", ")
        );
    }
    Row {
        name: sc.name.clone(),
        swmon,
        auditd,
        verdict: if verdicts.is_empty() {
            "-".into()
        } else {
            verdicts.into_iter().collect::<Vec<_>>().join(", ")
        },
        expected,
        misses,
        note: played.note.clone(),
    }
}

/// Checks a run's or alert's `swmon.changes` against the expected ones:
/// each expected change matches one change, and no change is left over.
fn check_changes(
    ev: &Value,
    want: &[ChangeWant],
    hashes: &BTreeMap<String, Result<String, String>>,
    pid: u64,
    misses: &mut Vec<String>,
) {
    let have: Vec<&Value> = ev["swmon"]["changes"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut used = vec![false; have.len()];
    for w in want {
        let fits = |c: &Value| -> Vec<String> {
            let mut bad = Vec::new();
            let mut field = |name: &str, want: Option<&str>, exact: bool| {
                let got = c[name].as_str();
                if (want.is_some() || exact) && got != want {
                    bad.push(format!("{name} {}", got.unwrap_or("none")));
                }
            };
            field("manager", w.manager.as_deref(), false);
            field("version", w.version.as_deref(), false);
            // No previous version wanted: a fresh install has none.
            field("previous_version", w.previous_version.as_deref(), true);
            field("action", w.action.as_deref(), false);
            field("path", w.path.as_deref(), false);
            if let Some(file) = &w.sha256_of {
                match hashes.get(file) {
                    Some(Ok(h)) if c["sha256"].as_str() == Some(h.as_str()) => {}
                    Some(Ok(h)) => bad.push(format!(
                        "sha256 {}, {file}'s is {h}",
                        c["sha256"].as_str().unwrap_or("none")
                    )),
                    Some(Err(e)) => bad.push(format!("{file} not hashed: {e}")),
                    None => bad.push(format!("{file} not hashed")),
                }
            }
            bad
        };
        let named: Vec<usize> = (0..have.len())
            .filter(|&i| !used[i] && have[i]["name"].as_str() == Some(w.name.as_str()))
            .collect();
        match named.iter().find(|&&i| fits(have[i]).is_empty()) {
            Some(&i) => used[i] = true,
            None => match named.first() {
                Some(&i) => {
                    used[i] = true;
                    misses.push(format!(
                        "pid {pid}: change {} has {}, want {}",
                        w.name,
                        fits(have[i]).join(", "),
                        want_text(w)
                    ));
                }
                None => misses.push(format!(
                    "pid {pid}: no change of {} in [{}], want {}",
                    w.name,
                    have.iter()
                        .map(|c| change_text(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    want_text(w)
                )),
            },
        }
    }
    let extra: Vec<String> = have
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(c, _)| change_text(c))
        .collect();
    if !extra.is_empty() {
        misses.push(format!(
            "pid {pid}: changes not expected: [{}]{}",
            extra.join(", "),
            if ev["swmon"]["cut"]["changes"].is_null() {
                String::new()
            } else {
                format!(" (cut: {})", ev["swmon"]["cut"]["changes"])
            }
        ));
    }
}

/// An expected change as the table shows it.
fn want_text(w: &ChangeWant) -> String {
    let mut t = format!("{}:{}", w.manager.as_deref().unwrap_or("*"), w.name);
    if let Some(v) = &w.version {
        let _ = write!(t, "={v}");
    }
    if let Some(p) = &w.previous_version {
        let _ = write!(t, " (from {p})");
    }
    if let Some(a) = &w.action {
        let _ = write!(t, " {a}");
    }
    if let Some(f) = &w.sha256_of {
        let _ = write!(t, " sha256 of {f}");
    }
    t
}

/// The table, Markdown (it reads in a terminal too).
pub fn table(rows: &[Row]) -> String {
    let cell = |t: &str| t.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from(
        "| scenario | swmon saw | pure auditd | verdict | expected | result |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let mut result = if r.misses.is_empty() {
            "ok".to_owned()
        } else {
            format!("MISS: {}", r.misses.join("; "))
        };
        if let Some(n) = &r.note {
            let _ = write!(result, " ({n})");
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.name),
            cell(&r.swmon),
            cell(&r.auditd),
            cell(&r.verdict),
            cell(&r.expected),
            cell(&result)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scenarios::corpus::Corpus;

    const SHELL: Shell = Shell {
        pid: 700,
        start_ns: 1_000_000_000,
        end_ns: 5_000_000_000,
    };

    #[test]
    fn events_off_the_schema_are_misses() {
        let good = json!({
            "@timestamp": "2026-01-01T00:00:00.000000Z",
            "ecs": { "version": "8.11.0" },
            "event": { "kind": "state", "category": ["host"], "type": ["info"], "action": "heartbeat" },
            "host": { "name": "h" },
            "swmon": { "version": "0.1.0" },
        });
        let mut wrong = good.clone();
        wrong["event"]["action"] = json!("not-an-action");
        let misses = schema_misses(&[good, wrong, Value::Null]);
        assert_eq!(misses.len(), 2, "{misses:?}");
        assert!(
            misses[0].starts_with("line 2 (not-an-action)"),
            "{misses:?}"
        );
        assert!(
            misses[1].starts_with("line 3: not a JSON event"),
            "{misses:?}"
        );
    }

    fn scenario(expect: &str) -> Scenario {
        let text = format!("[[scenario]]\nname = \"t\"\nrun = \"true\"\nexpect = {expect}\n");
        // One file per call: the tests run in parallel threads.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("swmon-check-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let mut c = Corpus::load(&path, crate::scenarios::PLACEHOLDERS).unwrap();
        let _ = std::fs::remove_file(&path);
        c.scenarios.remove(0)
    }

    fn lines(events: Vec<Value>) -> Vec<Line> {
        events
            .into_iter()
            .enumerate()
            .map(|(i, event)| Line { no: i + 1, event })
            .collect()
    }

    /// A state-only alert of `pid`, started at `start`, under `parent`.
    fn alert(pid: u64, start: u64, parent: u64, changes: Value) -> Value {
        json!({
            "event": {"kind": "alert", "action": "package-install", "type": ["installation"]},
            "process": {"pid": pid, "parent": {"pid": parent}, "name": "tar"},
            "swmon": {"reason": "no-installer-exec", "detected_by": ["state"],
                      "run_id": format!("{pid}-{start}"), "manager": "unmanaged",
                      "ancestors": [{"pid": parent}, {"pid": 1}], "changes": changes}
        })
    }

    fn run(pid: u64, start: u64, dir: &str, action: &str, kind: &str) -> Value {
        json!({
            "event": {"kind": "event", "action": action, "type": [kind]},
            "process": {"pid": pid, "parent": {"pid": SHELL.pid}, "working_directory": dir,
                        "exit_code": 0},
            "swmon": {"verdict": "ebpf_only", "reason": "no-audit-rule", "manager": "cargo",
                      "run_id": format!("{pid}-{start}"), "ancestors": [{"pid": SHELL.pid}]}
        })
    }

    fn played() -> Played {
        Played {
            dir: PathBuf::from("/w/1"),
            shell: Some(SHELL),
            ..Played::default()
        }
    }

    #[test]
    fn a_process_is_the_shell_s_only_while_the_shell_lived() {
        let tool = json!([]);
        assert!(under_shell(
            &alert(701, 2_000_000_000, 700, tool.clone()),
            &SHELL
        ));
        // The shell itself, exec'd into the command (same start).
        assert!(under_shell(
            &alert(700, 1_000_000_000, 1, tool.clone()),
            &SHELL
        ));
        // A start from /proc, floored to a tick, just before the shell's.
        assert!(under_shell(
            &alert(700, 990_000_000, 1, tool.clone()),
            &SHELL
        ));
        // The shell's pid given to a later process: its children are not
        // the scenario's.
        assert!(!under_shell(
            &alert(705, 6_000_000_000, 700, tool.clone()),
            &SHELL
        ));
        // Or an earlier one's.
        assert!(!under_shell(
            &alert(705, 500_000_000, 700, tool.clone()),
            &SHELL
        ));
        // Another tree.
        assert!(!under_shell(
            &alert(702, 2_000_000_000, 9, tool.clone()),
            &SHELL
        ));
        // No start to tell: not taken.
        let mut e = alert(701, 2_000_000_000, 700, tool);
        e["swmon"]["run_id"] = Value::Null;
        assert!(!under_shell(&e, &SHELL));
    }

    #[test]
    fn changes_are_exactly_the_expected_ones() {
        let sc = scenario(
            r#"{ manager = "unmanaged", state_only = true, writer = "tar", changes = [{ name = "t", manager = "unmanaged", action = "install", sha256_of = "/f" }] }"#,
        );
        let mut p = played();
        p.changes = sc.expect.changes.clone();
        p.hashes.insert("/f".into(), Ok("ab".repeat(32)));
        let judge_with = |changes: Value| {
            let l = lines(vec![alert(701, 2_000_000_000, 700, changes)]);
            let runs = runs_in(&l, &p.dir, (0, 1), p.shell.as_ref());
            judge(&sc, &p, &runs, &BTreeMap::new()).misses
        };
        let good = json!({"manager": "unmanaged", "name": "t", "action": "install", "sha256": "ab".repeat(32)});
        assert_eq!(judge_with(json!([good.clone()])), Vec::<String>::new());
        // Another hash.
        let mut bad = good.clone();
        bad["sha256"] = json!("cd".repeat(32));
        let m = judge_with(json!([bad]));
        assert!(m.len() == 1 && m[0].contains("sha256"), "{m:?}");
        // A previous version no one asked for.
        let mut prev = good.clone();
        prev["previous_version"] = json!("0.9");
        let m = judge_with(json!([prev]));
        assert!(
            m.len() == 1 && m[0].contains("previous_version 0.9"),
            "{m:?}"
        );
        // One more change than wanted, or none.
        let m =
            judge_with(json!([good.clone(), {"manager": "pip", "name": "u", "action": "install"}]));
        assert!(m.len() == 1 && m[0].contains("not expected"), "{m:?}");
        let m = judge_with(json!([]));
        assert!(m.len() == 1 && m[0].contains("no change of t"), "{m:?}");
    }

    #[test]
    fn benign_work_misses_on_any_install_event_only() {
        let sc = scenario("{ no_events = true }");
        let p = played();
        let misses = |events: Vec<Value>| {
            let l = lines(events);
            let runs = runs_in(&l, &p.dir, (0, l.len()), p.shell.as_ref());
            judge(&sc, &p, &runs, &BTreeMap::new()).misses
        };
        // Nothing, or an installer exec that installs nothing.
        assert_eq!(misses(vec![]), Vec::<String>::new());
        let build = run(701, 2_000_000_000, "/w/1", "installer-exec", "info");
        assert_eq!(misses(vec![build.clone()]), Vec::<String>::new());
        // An install run in the folder, an early event of one, an alert of
        // the shell's processes: each a miss.
        let install = run(
            702,
            2_000_000_000,
            "/w/1",
            "package-install",
            "installation",
        );
        assert_eq!(misses(vec![build, install]).len(), 1);
        let start = run(703, 2_000_000_000, "/elsewhere", "package-install", "start");
        assert_eq!(misses(vec![start]).len(), 1);
        // A build's early event, then its final one: nothing installed.
        let early = run(706, 2_000_000_000, "/w/1", "installer-exec", "start");
        let build = run(706, 2_000_000_000, "/w/1", "installer-exec", "info");
        assert_eq!(misses(vec![early, build]), Vec::<String>::new());
        let a = alert(704, 2_000_000_000, 700, json!([]));
        assert_eq!(misses(vec![a]).len(), 1);
        // An alert with a verdict and the folder is an alert, not a run.
        let mut a = alert(707, 2_000_000_000, 700, json!([]));
        a["swmon"]["verdict"] = json!("ebpf_only");
        a["process"]["working_directory"] = json!("/w/1");
        let l = lines(vec![a]);
        let runs = runs_in(&l, &p.dir, (0, 1), p.shell.as_ref());
        assert_eq!(
            (runs.top.len(), runs.alerts.len(), runs.any.len()),
            (0, 1, 1)
        );
        // Not the shell's: another folder, another tree.
        let other = alert(705, 2_000_000_000, 9, json!([]));
        assert_eq!(misses(vec![other]), Vec::<String>::new());
    }

    #[test]
    fn a_run_counts_by_its_final_event_not_its_early_one() {
        let sc = scenario(r#"{ manager = "cargo", count = 1 }"#);
        let p = played();
        let mut early = run(701, 2_000_000_000, "/w/1", "package-install", "start");
        early["process"]["exit_code"] = Value::Null;
        let last = run(
            701,
            2_000_000_000,
            "/w/1",
            "package-install",
            "installation",
        );
        let l = lines(vec![early.clone(), last]);
        let runs = runs_in(&l, &p.dir, (0, 2), p.shell.as_ref());
        assert_eq!((runs.top.len(), runs.running), (1, 0));
        assert_eq!(runs.top[0].no, 2);
        // Only the early one: still running, not a run.
        let l = lines(vec![early]);
        let runs = runs_in(&l, &p.dir, (0, 1), p.shell.as_ref());
        assert_eq!((runs.top.len(), runs.running), (0, 1));
        let m = judge(&sc, &p, &runs, &BTreeMap::new()).misses;
        assert_eq!(m, ["0 runs, want 1"]);
    }
}
