//! Tests of `swmon report` on recorded input: golden files of every format,
//! and the edge cases (runs only auditd saw, gaps and their spans, the time
//! window, bad lines, hostile strings, matching rules).
//!
//! The inputs and goldens live in `swmon/tests/data/report/` (see its
//! README). Set `SWMON_WRITE_GOLDEN=1` to rewrite the goldens, then read
//! the diff.

use std::{fs, path::PathBuf};

use super::*;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/report")
}

pub(super) fn data(name: &str) -> PathBuf {
    data_dir().join(name)
}

/// A fresh scratch directory for one test, emptied at its start and left
/// behind for a person to look at (one per test, reused by the next run).
pub(super) fn scratch(test: &str) -> PathBuf {
    // Per process: two test runs at once (two checkouts) never share it.
    let dir = std::env::temp_dir()
        .join(format!("swmon-report-tests-{}", std::process::id()))
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn report_of(events: &[PathBuf], audit: &[PathBuf]) -> Report {
    build(&ReportOptions::new(events.to_vec(), audit.to_vec())).unwrap()
}

pub(super) fn mixed() -> Report {
    report_of(&[data("mixed.events.jsonl")], &[data("mixed.audit.log")])
}

/// Output with the machine-specific data folder replaced, so goldens do
/// not depend on where the repository lives.
pub(super) fn portable(text: &str) -> String {
    text.replace(&format!("{}/", data_dir().display()), "tests/data/report/")
}

/// Only `SWMON_WRITE_GOLDEN=1` rewrites, never `0` or an empty value.
fn rewrite_asked(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

#[test]
fn only_one_asks_for_a_rewrite() {
    assert!(rewrite_asked(Some("1".as_ref())));
    for other in ["0", "", "true", "yes", "11", " 1"] {
        assert!(!rewrite_asked(Some(other.as_ref())), "{other:?}");
    }
    assert!(!rewrite_asked(None));
}

fn check_golden(name: &str, actual: &str) {
    let path = data(name);
    if rewrite_asked(std::env::var_os("SWMON_WRITE_GOLDEN").as_deref()) {
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SWMON_WRITE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the golden at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (SWMON_WRITE_GOLDEN=1 rewrites it; read the diff)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

pub(super) fn check_all_formats(stem: &str, report: &Report) {
    for (format, ext) in [
        (ReportFormat::Md, "md"),
        (ReportFormat::Html, "html"),
        (ReportFormat::Json, "json"),
    ] {
        let text = portable(&render(report, format).unwrap());
        check_golden(&format!("{stem}.report.{ext}"), &text);
    }
}

pub(super) fn row(report: &Report, pid: u32) -> &Row {
    report
        .runs
        .iter()
        .find(|r| r.pid == Some(pid))
        .unwrap_or_else(|| panic!("no run of pid {pid}"))
}

#[test]
fn seed_rules_fixture_goldens() {
    // The seven runs of the shared fixture: pure auditd (the seed's
    // `perm=x path=` rules) recorded four; `python3 -m pip`, the renamed
    // dpkg and the loader run slipped past it.
    let r = report_of(
        &[data("seed-rules.events.jsonl")],
        &[data("seed-rules.audit.log")],
    );
    assert_eq!(r.summary.runs, 7);
    assert_eq!(r.summary.recorded_by_auditd, 4);
    assert_eq!(r.summary.seen_by_swmon, 7);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let recorded: Vec<(u32, Option<u64>, Option<&str>)> = r
        .runs
        .iter()
        .filter(|x| x.auditd.recorded)
        .map(|x| (x.pid.unwrap(), x.auditd.serial, x.auditd.matched_by))
        .collect();
    assert_eq!(
        recorded,
        vec![
            (6831, Some(176_439), Some("serial")),
            (6833, Some(176_440), Some("serial")),
            (6835, Some(176_441), Some("serial")),
            (6841, Some(176_442), Some("serial")),
        ]
    );
    let slipped: Vec<&str> = r
        .summary
        .slipped_past_auditd
        .iter()
        .map(|s| s.via.as_deref().unwrap())
        .collect();
    assert_eq!(slipped, ["loader", "python -m", "renamed"]);
    check_all_formats("seed-rules", &r);
}

#[test]
fn mixed_goldens() {
    check_all_formats("mixed", &mixed());
}

#[test]
fn runs_only_auditd_recorded_are_listed_and_classified() {
    let r = mixed();
    let only: Vec<(u32, &str, &str, String)> = r
        .runs
        .iter()
        .filter(|x| !x.swmon.seen)
        .map(|x| {
            (
                x.pid.unwrap(),
                x.manager.as_deref().unwrap(),
                x.operation.as_deref().unwrap(),
                markdown::packages(&x.packages),
            )
        })
        .collect();
    assert_eq!(
        only,
        vec![
            (
                7070,
                "pip",
                "install",
                "<img src=x onerror=alert(3)>".to_owned()
            ),
            (7075, "dpkg", "install", "x=2.0".to_owned()),
        ]
    );
    let pip = row(&r, 7070);
    assert_eq!(pip.via.as_deref(), Some("direct"));
    assert_eq!(
        pip.auditd.source.as_deref().map(portable).as_deref(),
        Some("tests/data/report/mixed.audit.log:15")
    );
    assert_eq!(
        row(&r, 7075).login_user.as_ref().unwrap().name.as_deref(),
        Some("unset")
    );
    // Not runs: a failed exec, an exec without the key, a rule change.
    for pid in [7076, 7021] {
        assert!(r.runs.iter().all(|x| x.pid != Some(pid)), "{pid}");
    }
    // Recorded under another key: not "pure auditd" for this key...
    assert!(!row(&r, 7090).auditd.recorded);
    // ...and is for that key.
    let mut options = ReportOptions::new(
        vec![data("mixed.events.jsonl")],
        vec![data("mixed.audit.log")],
    );
    options.key = "swmon-installer".to_owned();
    let other = build(&options).unwrap();
    assert_eq!(other.summary.recorded_by_auditd, 1);
    assert_eq!(row(&other, 7090).auditd.matched_by, Some("serial"));
}

#[test]
fn gaps_have_spans_and_explain_misses() {
    let r = mixed();
    type GapFacts<'a> = (&'a str, String, String, Option<&'a str>, bool, Option<u64>);
    let gaps: Vec<GapFacts> = r
        .gaps
        .iter()
        .map(|g| {
            (
                g.kind.as_str(),
                g.start.clone(),
                g.end.clone(),
                g.ended_by.as_deref(),
                g.open,
                g.lost,
            )
        })
        .collect();
    let t = |s: &str| format!("2026-11-26T10:{s}.000000Z");
    assert_eq!(
        gaps,
        vec![
            (
                "audit-disabled",
                t("01:00"),
                t("02:00"),
                Some("audit-enabled"),
                false,
                None
            ),
            (
                "auditd-stopped",
                t("03:00"),
                t("04:10"),
                Some("auditd-started"),
                false,
                None
            ),
            (
                "audit-records-lost",
                t("05:00"),
                t("05:00"),
                None,
                false,
                Some(12)
            ),
            (
                "audit-rules-removed",
                t("06:00"),
                t("07:00"),
                Some("monitor-stopped"),
                false,
                None
            ),
            (
                "monitor-down",
                t("07:00"),
                t("09:00"),
                Some("monitor-started"),
                false,
                None
            ),
        ]
    );
    assert_eq!(r.gaps[1].seconds, 70.0);
    // swmon gave no reason for the apt run while auditd was stopped: the
    // gap it fell in is the reason.
    assert_eq!(
        row(&r, 7030).swmon.reason.as_deref(),
        Some("auditd-stopped")
    );
    let kinds: Vec<(&str, u64)> = r
        .summary
        .gaps
        .iter()
        .map(|g| (g.kind.as_str(), g.count))
        .collect();
    assert_eq!(kinds.len(), 5);
    assert_eq!(
        r.summary
            .gaps
            .iter()
            .find(|g| g.kind == "audit-records-lost")
            .unwrap()
            .lost,
        Some(12)
    );
}

#[test]
fn a_gap_open_at_the_end_of_input_ends_there() {
    let dir = scratch("open-gap");
    let events = dir.join("events.jsonl");
    fs::write(
        &events,
        concat!(
            r#"{"@timestamp":"2026-11-26T10:00:00Z","event":{"kind":"alert","action":"auditd-stopped"},"host":{"name":"h"},"swmon":{}}"#,
            "\n",
            r#"{"@timestamp":"2026-11-26T10:00:30Z","event":{"kind":"alert","action":"package-install"},"process":{"pid":5,"executable":"/usr/bin/dpkg","args":["dpkg","-i","a.deb"],"start":"2026-11-26T10:00:30Z","end":"2026-11-26T10:00:45Z"},"host":{"name":"h"},"swmon":{"verdict":"ebpf_only","manager":"dpkg","via":"direct"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let audit = dir.join("audit.log");
    fs::write(&audit, "").unwrap();
    let r = report_of(&[events], &[audit]);
    assert_eq!(r.gaps.len(), 1);
    let g = &r.gaps[0];
    assert!(g.open && g.ended_by.is_none());
    assert_eq!(g.end, "2026-11-26T10:00:45.000000Z");
    assert_eq!(g.seconds, 45.0);
    assert_eq!(r.runs[0].swmon.reason.as_deref(), Some("auditd-stopped"));
    assert_eq!(r.summary.auditd_recall, Some(0.0));
}

#[test]
fn since_and_until_bound_runs_and_gaps() {
    let mut options = ReportOptions::new(
        vec![data("mixed.events.jsonl")],
        vec![data("mixed.audit.log")],
    );
    options.since = Some(time_bound("2026-11-26T10:03:00Z").unwrap());
    options.until = Some(time_bound("2026-11-26 10:06:00").unwrap());
    let r = build(&options).unwrap();
    let pids: Vec<u32> = r.runs.iter().map(|x| x.pid.unwrap()).collect();
    assert_eq!(pids, [7030, 7040]);
    let kinds: Vec<&str> = r.gaps.iter().map(|g| g.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "auditd-stopped",
            "audit-records-lost",
            "audit-rules-removed"
        ]
    );
    assert_eq!(r.summary.runs, 2);
    assert_eq!(
        r.window.since.as_deref(),
        Some("2026-11-26T10:03:00.000000Z")
    );
    // Epoch seconds work too, and an empty window is an error.
    assert_eq!(time_bound("1795687380").unwrap(), options.since.unwrap());
    options.since = options.until.map(|u| u + 1);
    assert!(matches!(
        build(&options),
        Err(ReportError::EmptyWindow { .. })
    ));
    assert!(matches!(
        time_bound("yesterday"),
        Err(ReportError::Time { .. })
    ));
}

#[test]
fn bad_lines_are_warnings_with_file_and_line() {
    let r = mixed();
    let got: Vec<String> = r
        .warnings
        .iter()
        .map(|w| portable(&w.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            "tests/data/report/mixed.events.jsonl:14: invalid JSON: EOF while parsing a value at line 1 column 10",
            "tests/data/report/mixed.events.jsonl:15: not a swmon event: no event.action",
            "tests/data/report/mixed.events.jsonl:16: events from a newer swmon (swmon.schema 99, this report knows 1): read as far as the known fields go",
            "tests/data/report/mixed.events.jsonl:21: invalid JSON: EOF while parsing a string at line 1 column 63 (the last line has no newline: the file may be cut)",
            "tests/data/report/mixed.audit.log:14: not an audit record: expected `type=` at byte 0",
            "tests/data/report/mixed.audit.log:44: not an audit record: unterminated \" value starting at byte 142 (the last line has no newline: the log may be cut)",
        ]
    );
    // The rest was still read: the run after the bad lines, and the newer
    // swmon's run.
    assert!(row(&r, 7080).swmon.seen);
    assert_eq!(row(&r, 7060).manager.as_deref(), Some("gem"));
    let inputs: Vec<u64> = r.inputs.iter().map(|i| i.warnings).collect();
    assert_eq!(inputs, [4, 2]);
}

#[test]
fn warnings_are_capped_per_file_and_counted() {
    let dir = scratch("cap");
    let events = dir.join("events.jsonl");
    fs::write(&events, "not json\n".repeat(60)).unwrap();
    let audit = dir.join("audit.log");
    fs::write(&audit, "garbage\n").unwrap();
    let r = report_of(&[events], &[audit]);
    assert_eq!(r.warnings.len() as u64, MAX_WARNINGS_PER_FILE + 1);
    assert_eq!(r.warnings_suppressed, 60 - MAX_WARNINGS_PER_FILE);
    assert_eq!(r.inputs[0].warnings, 60);
    assert!(render(&r, ReportFormat::Md)
        .unwrap()
        .contains("and 10 more not listed"));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let missing = data("no-such-file.jsonl");
    let e = build(&ReportOptions::new(
        vec![missing.clone()],
        vec![data("mixed.audit.log")],
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "can't open events file {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let e = build(&ReportOptions::new(
        vec![data("mixed.events.jsonl")],
        vec![missing],
    ))
    .unwrap_err();
    assert!(e.to_string().starts_with("can't open audit log "), "{e}");
}

#[test]
fn runs_match_by_process_without_a_serial() {
    // The seed runs with swmon.audit removed: the pid, the time, and the
    // executable (of the primary exec, or of an earlier one such as npm's
    // `env`) or the argv find the same four records.
    let dir = scratch("by-process");
    let text = fs::read_to_string(data("seed-rules.events.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(sw) = v.get_mut("swmon").and_then(|s| s.as_object_mut()) {
            sw.remove("audit");
        }
        if v["process"]["pid"] == 6833 {
            // Reached by argv when the executable differs.
            v["process"]["executable"] = "/usr/bin/apt-get (deleted)".into();
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let events = dir.join("events.jsonl");
    fs::write(&events, out).unwrap();
    let r = report_of(&[events], &[data("seed-rules.audit.log")]);
    let how: Vec<(u32, Option<&str>)> = r
        .runs
        .iter()
        .filter(|x| x.auditd.recorded)
        .map(|x| (x.pid.unwrap(), x.auditd.matched_by))
        .collect();
    assert_eq!(
        how,
        [
            (6831, Some("pid+executable")),
            (6833, Some("pid+argv")),
            (6835, Some("pid+executable")),
            (6841, Some("pid+executable")),
        ]
    );
    assert_eq!(r.summary.runs, 7);
}

#[test]
fn a_reused_pid_outside_the_window_does_not_match() {
    let dir = scratch("pid-reuse");
    let events = dir.join("events.jsonl");
    // dpkg's pid and argv, ten seconds after the audit record.
    fs::write(
        &events,
        r#"{"@timestamp":"2026-11-26T08:11:48.722Z","event":{"kind":"event","action":"installer-exec"},"process":{"pid":6831,"executable":"/usr/bin/dpkg","args":["dpkg","--version"],"start":"2026-11-26T08:11:48.722Z"},"host":{"name":"vm"},"swmon":{"verdict":"ebpf_only","manager":"dpkg"}}
"#,
    )
    .unwrap();
    let r = report_of(&[events], &[data("seed-rules.audit.log")]);
    let dpkg: Vec<(bool, bool)> = r
        .runs
        .iter()
        .filter(|x| x.pid == Some(6831))
        .map(|x| (x.swmon.seen, x.auditd.recorded))
        .collect();
    // Two runs: the audit record alone, and swmon's run alone.
    assert_eq!(dpkg, [(false, true), (true, false)]);
    assert_eq!(r.summary.runs, 5);
}

#[test]
fn repeated_and_rotated_inputs_count_once() {
    let dir = scratch("rotated");
    let log = fs::read_to_string(data("seed-rules.audit.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // Split between events (line 16 starts the apt-get event), as
    // rotation does, and give the older file last.
    let (old, new) = lines.split_at(15);
    let (a, b) = (dir.join("audit.log.1"), dir.join("audit.log"));
    fs::write(&a, old.join("\n") + "\n").unwrap();
    fs::write(&b, new.join("\n") + "\n").unwrap();
    let events = data("seed-rules.events.jsonl");
    let r = report_of(
        &[events.clone(), events],
        &[b, a, data("seed-rules.audit.log")],
    );
    assert_eq!(r.summary.runs, 7);
    assert_eq!(r.summary.recorded_by_auditd, 4);
    assert_eq!(r.inputs[1].duplicates, 9);
    assert_eq!(r.inputs[4].duplicates, 4);
}

#[test]
fn ausearch_output_reads_like_the_log() {
    let dir = scratch("ausearch");
    let log = fs::read_to_string(data("seed-rules.audit.log")).unwrap();
    let mut out = String::new();
    for (i, line) in log.lines().enumerate() {
        if line.starts_with("type=SYSCALL") {
            out.push_str(&format!(
                "----\ntime->Thu Nov 26 08:11:{:02} 2026\n",
                30 + i
            ));
        }
        out.push_str(line);
        out.push('\n');
    }
    let path = dir.join("ausearch.txt");
    fs::write(&path, out).unwrap();
    let r = report_of(&[data("seed-rules.events.jsonl")], &[path]);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.summary.recorded_by_auditd, 4);
}

#[test]
fn hostile_strings_are_escaped_in_html() {
    let dir = scratch("hostile-html");
    // Invalid UTF-8 in an audit argument (hex-encoded by the kernel).
    let log = dir.join("audit.log");
    fs::write(
        &log,
        concat!(
            "type=SYSCALL msg=audit(1795687800.000:5000): arch=c000003e syscall=59 success=yes exit=0 items=1 ppid=1 pid=7500 auid=0 uid=0 comm=\"dpkg\" exe=\"/usr/bin/dpkg\" key=\"software-installer\"\n",
            "type=EXECVE msg=audit(1795687800.000:5000): argc=3 a0=\"dpkg\" a1=\"-i\" a2=3CFF3E1B5B316D2E646562\n",
        ),
    )
    .unwrap();
    let r = report_of(
        &[data("mixed.events.jsonl")],
        &[data("mixed.audit.log"), log],
    );
    let html = render(&r, ReportFormat::Html).unwrap();
    // Our own script is the only one; no injected tag or attribute survives.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    for raw in [
        "<script>alert",
        "<img",
        "<b>proj",
        "\"><img",
        "\u{1b}",
        "onerror=alert(2)>",
    ] {
        assert!(!html.contains(raw), "{raw:?} is in the HTML");
    }
    for escaped in [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;",
        "project:/home/alice/&lt;b&gt;proj&lt;/b&gt;",
        "a|b\\nc\\x1b[31mred",
        "&quot;quoted&#39; &amp; ok",
        "bad\\xff",
        "&lt;img src=x onerror=alert(3)&gt;",
        "&lt;\\xff&gt;\\x1b[1m.deb",
    ] {
        assert!(html.contains(escaped), "{escaped:?} is not in the HTML");
    }
}

#[test]
fn hostile_strings_are_escaped_in_markdown() {
    let md = render(&mixed(), ReportFormat::Md).unwrap();
    assert!(!md.contains('\u{1b}'));
    // Every `<` is escaped, so no renderer sees a tag.
    for (i, _) in md.match_indices('<') {
        assert_eq!(
            &md[i - 1..i],
            "\\",
            "unescaped < at {}",
            &md[i.saturating_sub(30)..i + 10]
        );
    }
    // Every row of the runs table has exactly its 17 cells: no untrusted `|`
    // or newline split one.
    let runs: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("## Runs"))
        .filter(|l| l.starts_with("| 2026-"))
        .collect();
    assert_eq!(runs.len(), 11);
    for line in runs {
        let cells = line
            .replace("\\\\", "")
            .replace("\\|", "")
            .matches('|')
            .count();
        assert_eq!(cells, 18, "{line}");
    }
    assert!(md.contains("\\<script\\>alert(1)\\</script\\>"));
    assert!(md.contains("a\\|b\\\\nc\\\\x1b\\[31mred"));
}

#[test]
fn json_has_its_schema_version() {
    let json = render(&mixed(), ReportFormat::Json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], SCHEMA_VERSION);
    assert_eq!(v["summary"]["runs"], 11);
    assert_eq!(v["runs"][0]["auditd"]["matched_by"], "serial");
}

#[test]
fn markdown_cells_escape_structure() {
    assert_eq!(markdown::cell("a|b"), "a\\|b");
    assert_eq!(markdown::cell("x\ny"), "x\\\\ny");
    assert_eq!(markdown::cell("<i>`c`</i>"), "\\<i\\>\\`c\\`\\</i\\>");
    assert_eq!(
        html::esc("<a href='x'>&\u{1b}"),
        "&lt;a href=&#39;x&#39;&gt;&amp;\\x1b"
    );
}

#[test]
fn no_runs_is_still_a_report() {
    let dir = scratch("empty");
    let (e, a) = (dir.join("e.jsonl"), dir.join("a.log"));
    fs::write(&e, "").unwrap();
    fs::write(&a, "").unwrap();
    let r = report_of(&[e], &[a]);
    assert_eq!(r.summary.runs, 0);
    assert_eq!(r.summary.auditd_recall, None);
    for f in [ReportFormat::Md, ReportFormat::Html, ReportFormat::Json] {
        assert!(!render(&r, f).unwrap().is_empty());
    }
}

#[test]
fn a_verdict_amended_event_corrects_its_run() {
    // The seed runs with run ids; dpkg's (6831) was first written
    // `ebpf_only` before its record came, then amended by a
    // `verdict-amended` of the same run id, as `swmon run` writes them.
    let dir = scratch("amended");
    let text = fs::read_to_string(data("seed-rules.events.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(pid) = v["process"]["pid"].as_u64() {
            v["swmon"]["run_id"] = format!("{pid}-1000").into();
            if pid == 6831 {
                v["swmon"]["verdict"] = "ebpf_only".into();
                v["swmon"]["reason"] = "no-audit-rule".into();
                v["swmon"]["audit"] = serde_json::json!({"logged": false});
            }
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let amended = |run: &str, t: &str| {
        serde_json::json!({
            "@timestamp": t,
            "event": {"kind": "event", "category": ["package", "process"], "type": ["change"], "action": "verdict-amended"},
            "host": {"name": "vm"},
            "swmon": {
                "run_id": run,
                "verdict": "confirmed",
                "previous_verdict": "ebpf_only",
                "previous_reason": "no-audit-rule",
                "audit": {"serial": 176439, "key": "software-installer", "pid": 6831},
            },
        })
        .to_string()
    };
    out.push_str(&amended("6831-1000", "2026-11-26T08:11:41.000000Z"));
    out.push('\n');
    // A correction of a run the input does not have: a warning, no run.
    out.push_str(&amended("9999-1000", "2026-11-26T08:11:42.000000Z"));
    out.push('\n');
    let events = dir.join("events.jsonl");
    fs::write(&events, &out).unwrap();
    let r = report_of(&[events], &[data("seed-rules.audit.log")]);
    assert_eq!(r.summary.runs, 7, "a correction is no run");
    let dpkg = row(&r, 6831);
    assert_eq!(dpkg.swmon.verdict.as_deref(), Some("confirmed"));
    assert_eq!(dpkg.swmon.reason, None);
    assert_eq!(dpkg.swmon.amended, 1);
    assert_eq!(dpkg.swmon.first_verdict.as_deref(), Some("ebpf_only"));
    assert_eq!(dpkg.swmon.first_reason.as_deref(), Some("no-audit-rule"));
    assert_eq!(dpkg.swmon.audit_serial, Some(176_439));
    assert_eq!(
        markdown::verdict(dpkg),
        "confirmed (amended from ebpf_only, no-audit-rule)"
    );
    // Counted by its final verdict; no disagreement left with the log.
    let count = |name: &str| {
        r.summary
            .by_verdict
            .iter()
            .find(|c| c.name == name)
            .map_or(0, |c| c.runs)
    };
    assert_eq!((count("confirmed"), count("ebpf_only")), (4, 3));
    assert_eq!(r.summary.verdict_disagreements, 0);
    let json = serde_json::to_value(&r).unwrap();
    let run = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["pid"] == 6831)
        .unwrap();
    assert_eq!(run["swmon"]["amended"], 1);
    assert_eq!(run["swmon"]["first_verdict"], "ebpf_only");
    let other = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["pid"] == 6833)
        .unwrap();
    assert!(other["swmon"].get("amended").is_none(), "absent when none");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("verdict-amended of run 9999-1000")),
        "{:?}",
        r.warnings
    );
    // Both renderings show it.
    assert!(markdown::render(&r).contains("confirmed (amended from ebpf_only, no-audit-rule)"));
    assert!(html::render(&r).contains("confirmed (amended from ebpf_only, no-audit-rule)"));
    assert!(
        !r.warnings
            .iter()
            .any(|w| w.message.contains("duplicate run id")),
        "a run and its correction share an id: {:?}",
        r.warnings
    );
}

#[test]
fn two_run_events_with_one_run_id_are_flagged() {
    // The seed runs, two of them (6831 and 6833) given the same run id;
    // every line also read twice (a file given twice is no duplicate id).
    let dir = scratch("dup-run-id");
    let text = fs::read_to_string(data("seed-rules.events.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(pid) = v["process"]["pid"].as_u64() {
            let id = if pid == 6833 { 6831 } else { pid };
            v["swmon"]["run_id"] = format!("{id}-1000").into();
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let events = dir.join("events.jsonl");
    fs::write(&events, &out).unwrap();
    let r = report_of(&[events.clone(), events], &[data("seed-rules.audit.log")]);
    let dups: Vec<_> = r
        .warnings
        .iter()
        .filter(|w| w.message.contains("duplicate run id"))
        .collect();
    assert_eq!(dups.len(), 1, "{:?}", r.warnings);
    assert!(dups[0].message.contains("6831-1000"), "{:?}", dups[0]);
    assert!(markdown::render(&r).contains("duplicate run id 6831-1000"));
    assert!(html::render(&r).contains("duplicate run id 6831-1000"));
}
