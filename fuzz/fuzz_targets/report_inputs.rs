//! `swmon report`'s two readers on hostile bytes: the input read once as
//! swmon's JSON Lines and once as an audit log (auditd's, raw or enriched, or
//! `ausearch` output). A bad line must become a warning with its place;
//! nothing may panic, and the report must still encode.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use swmon::report::{build_in_memory, render, ReportFormat, ReportOptions};

fuzz_target!(|data: &[u8]| {
    let path = PathBuf::from("fuzz.input");
    let files = [(path.clone(), data)];
    for options in [
        ReportOptions::new(vec![path.clone()], vec![]),
        ReportOptions::new(vec![], vec![path.clone()]),
    ] {
        let report = build_in_memory(&options, &files).expect("in-memory inputs always open");
        for w in &report.warnings {
            assert_eq!(w.file, "fuzz.input");
            assert!(w.line.is_some(), "a warning without its line: {w:?}");
        }
        render(&report, ReportFormat::Json).expect("the report encodes");
    }
});
