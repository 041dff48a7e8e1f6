//! Judging the corpus: each scenario's runs found in swmon's events by
//! their working folder, matched to `swmon report`'s JSON (by the event's
//! line) for what pure auditd recorded, checked against the expectation,
//! and the table a reader sees. Pure: it reads values, runs nothing.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::corpus::{Expect, Scenario};

/// One line of swmon's output and its 1-based line number.
pub struct Line {
    pub no: usize,
    pub event: Value,
}

/// The installer runs of one scenario folder: those it started (`top`),
/// and those nested under one of them (apt-get's dpkg).
pub struct Runs<'a> {
    pub top: Vec<&'a Line>,
    pub nested: Vec<&'a Line>,
    /// Runs written while the scenario played that have no working folder:
    /// swmon reads it from /proc, and a short-lived process can be gone
    /// first. Shown, not checked.
    pub unplaced: usize,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The runs of the folder `dir`; `window` is the range of event lines
/// written while the scenario played.
pub fn runs_in<'a>(lines: &'a [Line], dir: &Path, window: (usize, usize)) -> Runs<'a> {
    let dir = dir.to_string_lossy();
    let unplaced = lines
        .iter()
        .filter(|l| {
            l.no > window.0
                && l.no <= window.1
                && l.event.get("process").is_some()
                && l.event["swmon"]["verdict"].is_string()
                && l.event["process"]["working_directory"].is_null()
        })
        .count();
    let all: Vec<&Line> = lines
        .iter()
        .filter(|l| {
            l.event.get("process").is_some()
                && l.event["swmon"]["verdict"].is_string()
                && s(&l.event, &["process", "working_directory"]) == Some(&*dir)
        })
        .collect();
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
    Runs {
        top,
        nested,
        unplaced,
    }
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
            l.event.get("process").is_some() && l.event["swmon"]["run_id"].as_str() == Some(id)
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

pub fn counted(runs: &Runs<'_>, e: &Expect) -> usize {
    runs.top
        .iter()
        .filter(|l| s(&l.event, &["swmon", "manager"]) == Some(e.manager.as_str()))
        .count()
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
    if runs.top.len() != e.count {
        misses.push(format!("{} runs, want {}", runs.top.len(), e.count));
    }
    let mut recorded = 0;
    let mut verdicts = BTreeSet::new();
    let mut seen = 0;
    for l in &runs.top {
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
        verdicts.insert(verdict_text(verdict, reason));
        if verdict != Some("audit_only") {
            seen += 1;
        }
        miss(
            &mut misses,
            "manager",
            got(&["swmon", "manager"]),
            &e.manager,
        );
        if let Some(w) = &e.operation {
            miss(&mut misses, "operation", got(&["swmon", "operation"]), w);
        }
        if let Some(w) = &e.verdict {
            miss(&mut misses, "verdict", verdict, w);
            // An expected verdict without a reason wants none.
            let want_reason = e.reason.as_deref();
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
    let n = runs.top.len();
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
    let auditd = match (n, recorded) {
        (0, _) => "-".to_owned(),
        (1, 1) => "yes".into(),
        (_, 0) => "no".into(),
        (n, r) => format!("{r}/{n}"),
    };
    let mut expected = verdict_text(e.verdict.as_deref(), e.reason.as_deref());
    if let Some(a) = e.auditd {
        let _ = write!(expected, ", auditd {}", if a { "yes" } else { "no" });
    }
    if e.count != 1 {
        let _ = write!(expected, ", {} runs", e.count);
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
