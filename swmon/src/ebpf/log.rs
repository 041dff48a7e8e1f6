//! `swmon run --ebpf-log`: the eBPF stages' own account of each candidate
//! exec (which rules passed it, what the argv scan found or that it found
//! nothing, a failed read, a full ring buffer), read from aya-log's ring
//! (`AYA_LOGS`) and turned into [`KernelLog`] records that the kernel
//! reader writes as `ebpf-log` events.
//!
//! Off by default: the kernel's log points test the `EBPF_LOG` global
//! first, and user space sets it (and aya-log's `AYA_LOG_LEVEL`) to 0
//! unless asked, so the programs write nothing and the log ring shrinks to
//! one page. The level filter is applied in the kernel: a record below the
//! level is never written.
//!
//! Every kernel message begins `tgid=N pid=N comm=HEX ` (the comm's 16
//! bytes in hex, so any bytes survive aya-log's decoding); [`parse`]
//! splits that off and names the rule bits and the catalogue ids the
//! message carries. A message without the prefix is kept whole.
//!
//! Loss: aya-log drops a record silently when its ring is full, so the
//! kernel counts every record it tried to write (`LOG_RECORDS`, after the
//! call) and the reader compares that with what it read
//! ([`LogTally`]).

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{json, Value};
use swmon_common::reason;

use crate::{catalogue, event};

/// `--ebpf-log`'s level: what the kernel writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    /// Losses only: a failed read, a full ring buffer, a failed tail call.
    Warn,
    /// Also each candidate's decision: passed (by which rules) or dropped.
    Info,
    /// Also the argv scan's start and each event sent.
    Debug,
}

impl LogLevel {
    /// aya-log's number for the level (`EBPF_LOG` and `AYA_LOG_LEVEL`).
    pub fn kernel_value(level: Option<LogLevel>) -> u8 {
        match level {
            None => 0,
            Some(LogLevel::Warn) => 2,
            Some(LogLevel::Info) => 3,
            Some(LogLevel::Debug) => 4,
        }
    }
}

/// One record from the kernel, as written in an `ebpf-log` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLog {
    pub level: log::Level,
    /// The task it concerns; `None` when the message had no prefix.
    pub tgid: Option<u32>,
    pub pid: Option<u32>,
    /// The task's comm, lossless (escaped when not UTF-8).
    pub comm: Option<String>,
    /// The message after the prefix.
    pub message: String,
}

impl KernelLog {
    /// The `swmon.ebpf` object of the event: `level`, `message`, the task,
    /// and, when the message names them, `filter` (the rule bits' names, as
    /// on a run's event), `installer` and `interpreter` (catalogue names).
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("level".into(), json!(self.level.as_str().to_lowercase()));
        m.insert("message".into(), json!(self.message));
        if let Some(t) = self.tgid {
            m.insert("tgid".into(), json!(t));
        }
        if let Some(p) = self.pid {
            m.insert("pid".into(), json!(p));
        }
        if let Some(c) = &self.comm {
            m.insert("comm".into(), json!(c));
        }
        if let Some(bits) =
            field(&self.message, "reasons=0x").and_then(|v| u32::from_str_radix(v, 16).ok())
        {
            let names: Vec<&str> = reason::NAMES
                .iter()
                .filter(|(bit, _)| bits & bit != 0)
                .map(|(_, name)| *name)
                .collect();
            m.insert("filter".into(), json!(names));
        }
        for key in ["installer", "interpreter"] {
            let name = field(&self.message, &format!("{key}="))
                .and_then(|v| v.parse::<u16>().ok())
                .and_then(catalogue::program)
                .map(|p| p.name);
            if let Some(name) = name {
                m.insert(key.into(), json!(name));
            }
        }
        Value::Object(m)
    }
}

/// The value after `key` in `message`, up to a space, `:` or `,`.
fn field<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    let at = message
        .match_indices(key)
        .find(|(i, _)| *i == 0 || message.as_bytes()[i - 1] == b' ')?
        .0;
    let rest = &message[at + key.len()..];
    let end = rest.find([' ', ':', ',']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Splits the `tgid=N pid=N comm=HEX ` prefix off a kernel message.
pub fn parse(level: log::Level, text: &str) -> KernelLog {
    let whole = || KernelLog {
        level,
        tgid: None,
        pid: None,
        comm: None,
        message: text.to_owned(),
    };
    let mut parts = text.splitn(4, ' ');
    let (Some(t), Some(p), Some(c), rest) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return whole();
    };
    let tgid = t.strip_prefix("tgid=").and_then(|v| v.parse().ok());
    let pid = p.strip_prefix("pid=").and_then(|v| v.parse().ok());
    let comm = c.strip_prefix("comm=").and_then(unhex);
    match (tgid, pid, comm) {
        (Some(tgid), Some(pid), Some(comm)) => {
            let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
            KernelLog {
                level,
                tgid: Some(tgid),
                pid: Some(pid),
                comm: Some(event::lossless(&comm[..end])),
                message: rest.unwrap_or("").to_owned(),
            }
        }
        _ => whole(),
    }
}

/// Hex digits to bytes (`None` for an odd length or a non-hex digit).
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `log::Log` that aya-log's reader writes to: it keeps the records
/// for the kernel reader, which takes them after each flush (at most a log
/// ring's worth, 128 KiB of records, between two takes).
#[derive(Clone, Default)]
pub struct Collector {
    records: Arc<Mutex<Vec<KernelLog>>>,
}

impl Collector {
    /// The records read since the last take.
    pub fn take(&self) -> Vec<KernelLog> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl log::Log for Collector {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let rec = parse(record.level(), &record.args().to_string());
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rec);
    }

    fn flush(&self) {}
}

/// Records the kernel wrote against records read: what the log ring had
/// no room for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogTally {
    pub read: u64,
    pub lost: u64,
}

impl LogTally {
    /// `written` is the kernel's count taken *before* the drain that
    /// brought `read` up to date: each record it counts was in the ring
    /// (or dropped) before it was counted, so a record counted but not
    /// read by then was dropped. Records written after the count may be
    /// read too, so this is a lower bound, never a false loss; exact when
    /// the programs are quiet.
    pub fn update(&mut self, written: u64) {
        self.lost = self.lost.max(written.saturating_sub(self.read));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_split_off_and_the_comm_decoded() {
        let comm = "707974686f6e33000000000000000000";
        let l = parse(
            log::Level::Info,
            &format!(
                "tgid=12 pid=13 comm={comm} dropped: interpreter=41 scanned 18 argv bytes, no installer in argv, none on stdin"
            ),
        );
        assert_eq!(l.tgid, Some(12));
        assert_eq!(l.pid, Some(13));
        assert_eq!(l.comm.as_deref(), Some("python3"));
        assert!(l.message.starts_with("dropped: interpreter=41 "));
        let j = l.to_json();
        assert_eq!(j["level"], "info");
        assert_eq!(j["interpreter"], "python");
        assert!(j.get("filter").is_none());
    }

    #[test]
    fn rule_bits_and_ids_are_named() {
        let l = parse(
            log::Level::Info,
            "tgid=1 pid=1 comm=00000000000000000000000000000000 passed: reasons=0x411 installer=8 interpreter=65535 size=10 nlink=1",
        );
        let j = l.to_json();
        assert_eq!(j["filter"], json!(["filename", "size", "near-copy"]));
        assert_eq!(j["installer"], "pip");
        assert!(j.get("interpreter").is_none(), "65535 is none");
        assert_eq!(j["comm"], "");
    }

    #[test]
    fn a_comm_that_is_not_utf8_is_escaped_and_a_bad_prefix_kept_whole() {
        let l = parse(
            log::Level::Warn,
            "tgid=1 pid=2 comm=ff410000000000000000000000000000 lost: x",
        );
        assert_eq!(l.comm.as_deref(), Some(event::lossless(b"\xffA").as_str()));
        for text in [
            "no prefix at all",
            "tgid=x pid=2 comm=00 m",
            "tgid=1 pid=2 comm=0g m",
            "",
        ] {
            let l = parse(log::Level::Warn, text);
            assert_eq!(l.message, text);
            assert_eq!(l.tgid, None);
        }
    }

    #[test]
    fn the_tally_is_a_lower_bound_that_never_falls() {
        let mut t = LogTally {
            read: 5,
            ..LogTally::default()
        };
        t.update(4);
        assert_eq!(t.lost, 0);
        t.update(8);
        assert_eq!(t.lost, 3);
        t.read = 20;
        t.update(9);
        assert_eq!(t.lost, 3);
    }

    #[test]
    fn levels_match_aya_log() {
        assert_eq!(LogLevel::kernel_value(None), 0);
        assert_eq!(
            LogLevel::kernel_value(Some(LogLevel::Warn)),
            aya_log::Level::Warn as u8
        );
        assert_eq!(
            LogLevel::kernel_value(Some(LogLevel::Info)),
            aya_log::Level::Info as u8
        );
        assert_eq!(
            LogLevel::kernel_value(Some(LogLevel::Debug)),
            aya_log::Level::Debug as u8
        );
    }
}
