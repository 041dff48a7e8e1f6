//! The whole `swmon report` on hostile inputs: an events file and an audit
//! log (the input split at its first line `--8<--`), a key and an optional
//! window from the first bytes; the report is built, matched and rendered in
//! all three formats (Markdown, HTML with its timeline, JSON).
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use swmon::report::{build_in_memory, render, ReportFormat, ReportOptions, DEFAULT_KEY};

const CUT: &[u8] = b"\n--8<--\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let (events, audit) = match data.windows(CUT.len()).position(|w| w == CUT) {
        Some(i) => (&data[..i], &data[i + CUT.len()..]),
        None => (data, &data[..0]),
    };
    let (ev, al) = (
        PathBuf::from("fuzz.events.jsonl"),
        PathBuf::from("fuzz.audit.log"),
    );
    let mut options = ReportOptions::new(vec![ev.clone()], vec![al.clone()]);
    // A window around the fixtures' times, or the widest one, or none.
    match mode & 3 {
        1 => {
            options.since = Some(1_795_000_000_000_000);
            options.until = Some(1_796_000_000_000_000);
        }
        2 => {
            options.since = Some(0);
            options.until = Some(swmon::report::MAX_TIME_US);
        }
        _ => {}
    }
    if mode & 4 != 0 {
        options.key = "key".to_owned();
    } else {
        options.key = DEFAULT_KEY.to_owned();
    }
    let report = match build_in_memory(&options, &[(ev, events), (al, audit)]) {
        Ok(r) => r,
        Err(e) => panic!("in-memory inputs always open: {e}"),
    };
    for format in [ReportFormat::Md, ReportFormat::Html, ReportFormat::Json] {
        render(&report, format).expect("the report renders");
    }
});
