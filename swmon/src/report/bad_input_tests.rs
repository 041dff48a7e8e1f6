//! Bad input never aborts the report (issue 9): out-of-range times, lines
//! too long to hold, counters at their edge, and the inputs the fuzz targets
//! (`fuzz/`) found, each kept here as a plain test.

use std::path::PathBuf;

use super::{input::format_time, *};

/// Builds a report from in-memory events and audit log, as the fuzz
/// targets do, and renders every format.
fn build_and_render(events: &[u8], audit: &[u8]) -> Report {
    let (ev, al) = (PathBuf::from("e.jsonl"), PathBuf::from("a.log"));
    let options = ReportOptions::new(vec![ev.clone()], vec![al.clone()]);
    let report = build_in_memory(&options, &[(ev, events), (al, audit)]).unwrap();
    for format in [ReportFormat::Md, ReportFormat::Html, ReportFormat::Json] {
        render(&report, format).unwrap();
    }
    report
}

const KEYED_EXEC: &str = "type=SYSCALL msg=audit(STAMP:7): arch=c000003e syscall=59 \
     success=yes exit=0 ppid=1 pid=2 auid=0 uid=0 comm=\"apt\" exe=\"/usr/bin/apt\" \
     key=\"software-installer\"\n\
     type=EXECVE msg=audit(STAMP:7): argc=2 a0=\"apt\" a1=\"install\"\n";

#[test]
fn an_audit_time_past_year_9999_is_one_warning_with_its_line() {
    let mut log = KEYED_EXEC
        .replace("STAMP", "1795680698.722")
        .replace(":7)", ":6)");
    log.push_str(&KEYED_EXEC.replace("STAMP", "300000000000.000"));
    let r = build_and_render(b"", log.as_bytes());
    assert_eq!(r.warnings.len(), 1, "{:#?}", r.warnings);
    let w = &r.warnings[0];
    assert_eq!((w.file.as_str(), w.line), ("a.log", Some(3)));
    assert!(w.message.contains("past year 9999"), "{}", w.message);
    // The good exec is still there.
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.runs[0].time, "2026-11-26T08:11:38.722000Z");
}

#[test]
fn the_last_second_of_year_9999_is_still_read() {
    let log = KEYED_EXEC.replace("STAMP", "253402300799.999");
    let r = build_and_render(b"", log.as_bytes());
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    assert_eq!(r.runs[0].time, "9999-12-31T23:59:59.999000Z");
    let log = KEYED_EXEC.replace("STAMP", "253402300800.000");
    let r = build_and_render(b"", log.as_bytes());
    assert_eq!(r.warnings.len(), 1);
    assert!(r.runs.is_empty());
}

#[test]
fn out_of_range_event_times_are_warnings() {
    let events = concat!(
        r#"{"@timestamp":"@1e300","event":{"action":"monitor-started"}}"#,
        "\n",
        r#"{"@timestamp":"@-5","event":{"action":"monitor-started"}}"#,
        "\n",
        r#"{"@timestamp":"@253402300800","event":{"action":"monitor-started"}}"#,
        "\n",
        r#"{"@timestamp":"@NaN","event":{"action":"monitor-started"}}"#,
        "\n",
        r#"{"@timestamp":"2026-11-26T08:11:38Z","event":{"action":"installer-exec"},"#,
        r#""process":{"pid":5,"start":"2026-11-26T08:11:38Z","end":"@1e300"}}"#,
        "\n",
    );
    let r = build_and_render(events.as_bytes(), b"");
    let lines: Vec<Option<u64>> = r.warnings.iter().map(|w| w.line).collect();
    assert_eq!(
        lines,
        [Some(1), Some(2), Some(3), Some(4), Some(5)],
        "{:#?}",
        r.warnings
    );
    assert!(r.warnings[4].message.contains("process.end"));
    assert_eq!(r.runs.len(), 1);
}

#[test]
fn times_are_range_checked_and_formatting_is_total() {
    assert_eq!(parse_time("@253402300799"), Some(MAX_TIME_US - 999_999));
    assert_eq!(parse_time("@253402300800"), None);
    assert_eq!(parse_time("@1e300"), None);
    assert_eq!(parse_time("@inf"), None);
    assert_eq!(parse_time("9999-12-31T23:59:59.999999Z"), Some(MAX_TIME_US));
    assert_eq!(format_time(i64::MAX), "9999-12-31T23:59:59.999999Z");
    assert_eq!(format_time(i64::MIN), "1970-01-01T00:00:00.000000Z");
    assert!(time_bound("@1e30").is_err());
}

#[test]
fn a_line_longer_than_the_cap_is_skipped_with_a_warning() {
    let mut events = vec![b'x'; MAX_LINE_BYTES + 10];
    events.extend_from_slice(b"\n");
    events.extend_from_slice(
        br#"{"@timestamp":"2026-11-26T08:11:38Z","event":{"action":"monitor-started"}}"#,
    );
    events.push(b'\n');
    let mut audit = vec![b'y'; MAX_LINE_BYTES + 1];
    audit.extend_from_slice(KEYED_EXEC.replace("STAMP", "1795680698.722").as_bytes());
    let r = build_and_render(&events, &audit);
    let found: Vec<(&str, Option<u64>)> = r
        .warnings
        .iter()
        .map(|w| (w.file.as_str(), w.line))
        .collect();
    assert_eq!(
        found,
        [("e.jsonl", Some(1)), ("a.log", Some(1))],
        "{:#?}",
        r.warnings
    );
    assert!(r.warnings[0].message.contains("longer than"));
    assert_eq!(r.inputs[0].lines, 2);
    // The first record of the audit log shared its line with the long run
    // of bytes, so only the EXECVE line (2) is read: no exec, no row.
    assert_eq!(r.inputs[1].lines, 2);
}

#[test]
fn loss_counts_add_up_without_overflow() {
    let line = |t: &str| {
        format!(
            r#"{{"@timestamp":"{t}","event":{{"action":"audit-records-lost"}},"swmon":{{"lost":{{"count":18446744073709551615}}}}}}"#
        )
    };
    let events = format!(
        "{}\n{}\n",
        line("2026-11-26T08:11:38Z"),
        line("2026-11-26T08:11:39Z")
    );
    let r = build_and_render(events.as_bytes(), b"");
    assert!(r.warnings.is_empty(), "{:#?}", r.warnings);
    let lost: Vec<Option<u64>> = r.summary.gaps.iter().map(|g| g.lost).collect();
    assert_eq!(lost, [Some(u64::MAX)]);
}

/// Found by reading, outside the report: the live audit side turned a
/// record's stamp into nanoseconds with unchecked `*` and `+` (a forged
/// stamp overflowed), and `/proc/PID/stat`'s start ticks were multiplied
/// unchecked.
#[test]
fn stamp_and_tick_arithmetic_saturates_or_fails() {
    use crate::audit::Timestamp;
    let t = Timestamp {
        secs: 1_795_680_698,
        millis: 722,
    };
    assert_eq!(t.as_nanos(), 1_795_680_698_722_000_000);
    let forged = Timestamp {
        secs: 300_000_000_000,
        millis: 999,
    };
    assert_eq!(forged.as_nanos(), u64::MAX);
    assert_eq!(crate::enrich::ticks_to_ns(100, 100), Some(1_000_000_000));
    assert_eq!(crate::enrich::ticks_to_ns(u64::MAX, 100), None);
    assert_eq!(crate::enrich::ticks_to_ns(1, 0), None);
    let stat =
        b"42 (a) b)) S 1 42 42 34816 42 4194304 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999 0 0";
    assert!(
        crate::enrich::Stat::parse(stat).is_none(),
        "start ticks past u64 are no Stat"
    );
}

/// Found by `report_inputs`: an event whose serial reappeared after it timed
/// out (the assembler's clock jumped with a later record) lost its line, and
/// its warning named no place.
#[test]
fn a_reopened_serial_keeps_its_line() {
    let input = include_bytes!("../../tests/data/fuzz/report_inputs-warning-without-line.log");
    let r = build_and_render(b"", input);
    assert!(!r.warnings.is_empty());
    for w in &r.warnings {
        assert!(w.line.is_some(), "{w:?}");
    }
}
