//! Tests of what `swmon report` shows of swmon's three witnesses: per run,
//! which witnesses saw it and what changed in package state; the installs
//! only the state witness saw (no installer ran); nested runs folded under
//! their root install; early (`start`) events folded into their run's
//! final event; the requested-versus-changed mismatches; and all of it
//! bounded and escaped.
//!
//! `witnesses.events.jsonl` is real: `swmon run` on this kernel while pip
//! installed and upgraded a local wheel, a wheel was unzipped into a venv
//! by `python3 -c`, `cp` put an executable in `/usr/local/bin`, apt-get
//! installed a local `.deb` (its dpkg runs nested in it), and pip and dpkg
//! removed them (see the data folder's README). Other cases are made from
//! its lines, changed field by field, so they keep the real shape.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{
    tests::{check_all_formats, data, report_of, row},
    *,
};

const EVENTS: &str = "witnesses.events.jsonl";

/// The real events' lines, parsed.
fn real_lines() -> Vec<Value> {
    std::fs::read_to_string(data(EVENTS))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The real line of the run of `pid`.
fn line_of(lines: &[Value], pid: u32) -> Value {
    lines
        .iter()
        .find(|l| l["process"]["pid"] == pid)
        .cloned()
        .unwrap_or_else(|| panic!("no line of pid {pid}"))
}

/// The report of `lines` as one events file, no audit log.
fn report_of_lines(lines: &[Value]) -> Report {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let path = PathBuf::from("events.jsonl");
    build_in_memory(
        &ReportOptions::new(vec![path.clone()], vec![]),
        &[(path, text.as_bytes())],
    )
    .unwrap()
}

/// The early event swmon writes for a run before its final one.
fn early_of(final_event: &Value) -> Value {
    let mut e = final_event.clone();
    e["event"]["type"] = json!(["start"]);
    let p = e["process"].as_object_mut().unwrap();
    p.remove("end");
    p.remove("exit_code");
    e
}

#[test]
fn real_events_show_witnesses_changes_nesting_and_state_only_installs() {
    let r = report_of(&[data(EVENTS)], &[]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // Root installs: three pip installs, apt-get, pip's and dpkg's
    // removals; apt-get's seven dpkg runs are folded under it; the wheel
    // unzipped and the executable copied are the state witness's alone.
    assert_eq!(r.summary.runs, 6);
    assert_eq!(r.summary.nested_runs, 7);
    assert_eq!(r.summary.state_only, 2);
    assert_eq!(r.summary.seen_by_swmon, 6);
    assert_eq!(r.summary.parent_missing, 0);
    assert_eq!(r.summary.running, 0);
    let by_manager: Vec<(&str, u64)> = r
        .summary
        .by_manager
        .iter()
        .map(|m| (m.manager.as_str(), m.runs))
        .collect();
    assert_eq!(by_manager, [("pip", 4), ("apt", 1), ("dpkg", 1)]);

    let pip = row(&r, 10316);
    assert_eq!(pip.swmon.detected_by, ["exec", "state"]);
    assert_eq!(pip.swmon.changes_total, 1);
    let c = &pip.swmon.changes[0];
    assert_eq!(
        (
            c.manager.as_deref(),
            c.name.as_deref(),
            c.version.as_deref()
        ),
        (Some("pip"), Some("swmon-report-demo"), Some("1.0"))
    );
    assert_eq!(markdown::witnesses(pip), "exec+state; auditd key: no");

    let apt = row(&r, 10425);
    assert_eq!(apt.nested_runs, 7);
    assert_eq!(apt.nested_in, None);
    let dpkg = row(&r, 10509);
    assert_eq!(dpkg.nested_in.as_deref(), Some("10425-55785359987879"));
    assert_eq!(
        markdown::change(&dpkg.swmon.changes[0]),
        "install dpkg:swmon-report-deb 1.0-1 at /var/lib/dpkg/status"
    );
    let removed = row(&r, 10695);
    assert_eq!(
        markdown::change(&removed.swmon.changes[0]),
        "remove dpkg:swmon-report-deb 1.0-1 → none at /var/lib/dpkg/status"
    );

    // The executable cp wrote: its path and hash; the writer, who ran it,
    // and its parents.
    let cp = row(&r, 10424);
    assert!(cp.swmon.state_only);
    assert_eq!(cp.executable.as_deref(), Some("/usr/bin/cp"));
    assert_eq!(cp.user.as_ref().unwrap().name.as_deref(), Some("root"));
    let parents: Vec<Option<u32>> = cp.swmon.ancestors.iter().map(|a| a.pid).collect();
    assert_eq!(parents, [Some(10000), Some(9999), Some(9998)]);
    assert_eq!(
        markdown::ancestor(&cp.swmon.ancestors[0]),
        "10000 bash: bash play.sh"
    );
    let change = &cp.swmon.changes[0];
    assert_eq!(
        change.path.as_deref(),
        Some("/usr/local/bin/swmon-report-tool")
    );
    assert_eq!(
        change.sha256.as_deref(),
        Some("c79bf44242829108e323378531f4ac839513ca1fba45efd6583643526e1e9fd2")
    );

    // Markdown: the dpkg runs right under apt-get, the state-only
    // installs in their own section, counted in the summary.
    let md = render(&r, ReportFormat::Md).unwrap();
    let runs: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("## Runs"))
        .take_while(|l| !l.starts_with("## Installs only"))
        .filter(|l| l.starts_with("| 2026-") || l.starts_with("| ↳"))
        .collect();
    let apt_at = runs.iter().position(|l| l.contains("| 10425 |")).unwrap();
    for (i, l) in runs.iter().enumerate() {
        let nested = l.starts_with("| ↳");
        assert_eq!(nested, (apt_at + 1..=apt_at + 7).contains(&i), "{l}");
        if nested {
            assert!(l.contains("nested in apt pid 10425"), "{l}");
        }
    }
    assert_eq!(runs.len(), 13);
    assert!(runs[apt_at].contains("7 nested run(s) below"));
    assert!(md.contains(
        "| Installs only the state witness saw (no installer ran; not counted above) | 2 | |"
    ));
    let only: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("## Installs only"))
        .filter(|l| l.starts_with("| 2026-"))
        .collect();
    assert_eq!(only.len(), 2, "{md}");
    assert!(only[1].contains("/usr/local/bin/swmon-report-tool sha256:c79bf442"));
    assert!(only[1].contains("10000 bash: bash play.sh; 9999 flock: flock -o"));

    check_all_formats("witnesses", &r);
}

#[test]
fn an_early_event_folds_into_its_final_run_and_one_alone_is_still_running() {
    let lines = real_lines();
    let first = line_of(&lines, 10316);
    let second = line_of(&lines, 10352);
    // The start event first, then the final one; the second run only
    // started when the input ends.
    let r = report_of_lines(&[early_of(&first), first.clone(), early_of(&second)]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.inputs[0].duplicates, 0);
    assert_eq!(r.runs.len(), 2);
    assert_eq!(r.summary.runs, 2);
    assert_eq!(r.summary.running, 1);
    let done = row(&r, 10316);
    assert!(!done.swmon.running);
    assert_eq!(done.swmon.early_events, 1);
    assert_eq!(
        done.swmon.source.as_deref(),
        Some("events.jsonl:2"),
        "the final event is the run"
    );
    let running = row(&r, 10352);
    assert!(running.swmon.running);
    assert_eq!(markdown::verdict(running), "ebpf_only so far");
    let md = render(&r, ReportFormat::Md).unwrap();
    assert!(md.contains("still running (start event only)"));
    assert!(md.contains("| Still running at the end of the input (counted above) | 1 | |"));

    // In whatever order the lines come, and with a correction of the run,
    // the final event wins and the correction applies once. (An early
    // line read twice is a duplicate, like any line.)
    let amended = json!({
        "@timestamp": "2026-12-02T01:57:58.000000Z",
        "event": {"kind": "event", "action": "verdict-amended"},
        "host": {"name": "vm"},
        "swmon": {"run_id": first["swmon"]["run_id"], "verdict": "confirmed"}
    });
    let r = report_of_lines(&[first.clone(), early_of(&first), early_of(&first), amended]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.inputs[0].duplicates, 1);
    assert_eq!(r.runs.len(), 1);
    let run = &r.runs[0];
    assert_eq!(run.swmon.early_events, 1);
    assert_eq!(run.swmon.source.as_deref(), Some("events.jsonl:1"));
    assert_eq!(run.swmon.verdict.as_deref(), Some("confirmed"));
    assert_eq!(run.swmon.amended, 1);
}

#[test]
fn a_nested_run_whose_parent_is_missing_is_a_root_with_a_note() {
    let lines: Vec<Value> = real_lines()
        .into_iter()
        .filter(|l| l["process"]["pid"] != 10425)
        .collect();
    let r = report_of_lines(&lines);
    assert_eq!(r.summary.nested_runs, 0);
    assert_eq!(r.summary.parent_missing, 7);
    assert_eq!(r.summary.runs, 5 + 7);
    let dpkg = row(&r, 10509);
    assert!(dpkg.parent_missing);
    assert_eq!(dpkg.nested_in, None);
    let md = render(&r, ReportFormat::Md).unwrap();
    assert!(md.contains("parent run 10425-55785359987879 not in the input"));

    // A chain: a run nested in a nested run folds under the top one.
    let lines = real_lines();
    let mut inner = line_of(&lines, 10530);
    inner["swmon"]["parent_run_id"] = json!("10509-55789646677209");
    let r = report_of_lines(&[
        line_of(&lines, 10425),
        line_of(&lines, 10509),
        inner.clone(),
    ]);
    assert_eq!(
        row(&r, 10530).nested_in.as_deref(),
        Some("10425-55785359987879")
    );
    assert_eq!(row(&r, 10425).nested_runs, 2);
    assert_eq!(r.summary.runs, 1);

    // Forged: two runs naming each other, and one naming itself. No
    // panic, nothing lost, each shown once.
    let mut a = line_of(&lines, 10509);
    let mut b = line_of(&lines, 10530);
    a["swmon"]["parent_run_id"] = b["swmon"]["run_id"].clone();
    b["swmon"]["parent_run_id"] = a["swmon"]["run_id"].clone();
    let mut c = line_of(&lines, 10506);
    c["swmon"]["parent_run_id"] = c["swmon"]["run_id"].clone();
    let r = report_of_lines(&[a, b, c]);
    assert_eq!(r.runs.len(), 3);
    assert_eq!(r.summary.runs + r.summary.nested_runs, 3);
    assert_eq!(markdown::display_order(&r).len(), 3);
    assert!(row(&r, 10506).parent_missing);
}

#[test]
fn many_changes_are_counted_and_the_first_shown() {
    let lines = real_lines();
    let mut big = line_of(&lines, 10509);
    let change = big["swmon"]["changes"][0].clone();
    big["swmon"]["changes"] = Value::Array(
        (0..500)
            .map(|i| {
                let mut c = change.clone();
                c["name"] = json!(format!("pkg{i}"));
                c
            })
            .collect(),
    );
    // swmon's line cap kept 500 of 2000.
    big["swmon"]["cut"] = json!({"swmon.changes": {"count": 2000, "bytes": 300_000, "kept": 500}});
    let mut huge = line_of(&lines, 10695);
    huge["swmon"]["changes"] = Value::Array(vec![change; MAX_CHANGES_KEPT + 500]);
    let r = report_of_lines(&[big, huge]);
    let big = row(&r, 10509);
    assert_eq!(big.swmon.changes.len(), 500);
    assert_eq!(big.swmon.changes_total, 2000);
    let huge = row(&r, 10695);
    assert_eq!(huge.swmon.changes.len(), MAX_CHANGES_KEPT);
    assert_eq!(huge.swmon.changes_total, MAX_CHANGES_KEPT as u64 + 500);

    let md = render(&r, ReportFormat::Md).unwrap();
    let line = md.lines().find(|l| l.contains("| 10509 |")).unwrap();
    assert!(line.contains("install dpkg:pkg9 1.0-1"), "{line}");
    assert!(!line.contains("pkg10 "), "{line}");
    assert!(
        line.contains("and 1990 more (2000 changes in all)"),
        "{line}"
    );
    let html = render(&r, ReportFormat::Html).unwrap();
    assert!(html.contains("<i>and 1990 more (2000 changes in all)</i>"));
    assert!(html.contains("<i>and 1490 more (1500 changes in all)</i>"));
    let json: Value = serde_json::from_str(&render(&r, ReportFormat::Json).unwrap()).unwrap();
    let j = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["pid"] == 10509)
        .unwrap();
    assert_eq!(j["swmon"]["changes"].as_array().unwrap().len(), 500);
    assert_eq!(j["swmon"]["changes_total"], 2000);
}

#[test]
fn mismatches_are_shown_per_run() {
    let lines = real_lines();
    let mut pip = line_of(&lines, 10352);
    pip["swmon"]["mismatches"] = json!([
        {"kind": "other-version", "name": "swmon-report-demo", "requested_version": "2.1", "changed_version": "2.0"},
        {"kind": "not-changed", "name": "swmon-report-dep", "requested_version": "1.0"}
    ]);
    // Known and none: what was asked is what changed.
    let mut matched = line_of(&lines, 10385);
    matched["swmon"]["mismatches"] = json!([]);
    let r = report_of_lines(&[pip, line_of(&lines, 10316), matched]);
    assert_eq!(markdown::mismatches(row(&r, 10385)).0, ["none"]);
    assert!(markdown::mismatches(row(&r, 10316)).0.is_empty());
    let run = row(&r, 10352);
    assert_eq!(run.swmon.mismatches_total, 2);
    assert!(row(&r, 10316).swmon.mismatches.is_none(), "not known");
    let md = render(&r, ReportFormat::Md).unwrap();
    let line = md.lines().find(|l| l.contains("| 10352 |")).unwrap();
    assert!(
        line.contains(
            "other-version swmon-report-demo: asked 2.1, changed 2.0; not-changed swmon-report-dep: asked 1.0"
        ),
        "{line}"
    );
    let html = render(&r, ReportFormat::Html).unwrap();
    assert!(html.contains("other-version swmon-report-demo: asked 2.1, changed 2.0<br>"));
}

#[test]
fn hostile_witness_fields_are_escaped_and_never_panic() {
    let lines = real_lines();
    let mut cp = line_of(&lines, 10424);
    cp["swmon"]["changes"] = json!([
        1, "x", null,
        {"name": 5, "path": "/usr/local/bin/<script>alert(1)</script>|x\ny\u{1b}[31m", "sha256": "\"><img src=x>", "action": "<b>"},
    ]);
    cp["swmon"]["ancestors"] = json!([
        {"pid": "x", "comm": "<img src=y onerror=alert(2)>", "args": ["a|b", "\u{1b}]0;t\u{7}"]},
        "not an object",
        {"pid": 1, "args": 7}
    ]);
    let mut pip = line_of(&lines, 10316);
    pip["swmon"]["mismatches"] = json!("not a list");
    pip["swmon"]["detected_by"] = json!(["exec", "<script>"]);
    pip["swmon"]["parent_run_id"] = json!(["not", "a", "string"]);
    pip["swmon"]["cut"] = json!({"swmon.changes": {"count": "many"}});
    let r = report_of_lines(&[cp, pip]);
    let cp = row(&r, 10424);
    assert_eq!(cp.swmon.changes.len(), 1, "only objects are changes");
    assert_eq!(cp.swmon.changes[0].name.as_deref(), Some("5"));
    assert_eq!(cp.swmon.ancestors.len(), 2);
    assert_eq!(cp.swmon.ancestors[0].pid, None);
    let pip = row(&r, 10316);
    assert!(pip.swmon.mismatches.is_none());
    assert_eq!(pip.swmon.changes_total, 1);

    let html = render(&r, ReportFormat::Html).unwrap();
    assert_eq!(html.matches("<script").count(), 1);
    for raw in ["<img", "\u{1b}", "\u{7}", "\"><img"] {
        assert!(!html.contains(raw), "{raw:?} is in the HTML");
    }
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;|x\\ny\\x1b[31m"));
    assert!(html.contains("&lt;b&gt; 5 at /usr/local/bin/"));
    let md = render(&r, ReportFormat::Md).unwrap();
    assert!(!md.contains('\u{1b}') && !md.contains('\u{7}'));
    for (i, _) in md.match_indices('<') {
        assert_eq!(
            &md[i - 1..i],
            "\\",
            "unescaped < at {}",
            &md[i.saturating_sub(30)..]
        );
    }
    // The state-only table keeps its 11 cells.
    let line = md.lines().find(|l| l.contains("| 10424 |")).unwrap();
    let cells = line
        .replace("\\\\", "")
        .replace("\\|", "")
        .matches('|')
        .count();
    assert_eq!(cells, 12, "{line}");
}
