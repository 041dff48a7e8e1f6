//! The one error type of `swmon report`: what stopped the report, and which
//! input it was.
//!
//! The I/O error is part of the message rather than a `source`, so that
//! `main`'s `{:#}` chain does not print it twice.
//!
//! Only what stops the whole report is an error (an input that cannot be
//! opened or read, an output that cannot be written, a bad time bound).
//! A bad line inside an input is not: it becomes a [`super::Warning`] with
//! its file and line, and the rest of the input is still read.

use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("can't open {what} {path}: {error}")]
    Open {
        what: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("can't read {what} {path} at line {line}: {error}")]
    Read {
        what: &'static str,
        path: PathBuf,
        line: u64,
        error: io::Error,
    },
    #[error("can't understand the time {value:?}: give RFC 3339 (2026-11-26T08:11:38Z) or seconds since the epoch")]
    Time { value: String },
    #[error("--since {since} is after --until {until}")]
    EmptyWindow { since: String, until: String },
    #[error("can't encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("can't write the report to {path}: {error}")]
    Write { path: PathBuf, error: io::Error },
}
