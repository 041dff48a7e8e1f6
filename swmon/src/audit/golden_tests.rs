//! Golden tests: every capture under `tests/data/audit/` is parsed and
//! assembled, rendered as JSON, and compared with its checked-in
//! `*.golden.json`. Run with `SWMON_WRITE_GOLDEN=1` to rewrite the goldens
//! after a deliberate change, and read the diff before committing it.
//!
//! The goldens pin everything at once; the `*_by_hand` tests below pin the
//! facts a reviewer checked against the captures, so a wrong golden cannot
//! be regenerated into place unnoticed.

use std::{
    fs,
    path::{Path, PathBuf},
};

use serde_json::{json, Map, Value as Json};

use super::{
    parse_log_line, parse_netlink, Assembler, AuditEvent, EventEnd, ParseError, Record, Text,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit")
}

/// The captures: `netlink-*.txt` (`<type> <payload>` a line) and auditd logs
/// (`*.log`).
fn captures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(data_dir())
        .expect("tests/data/audit is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.starts_with("netlink-") && name.ends_with(".txt")) || name.ends_with(".log")
        })
        .collect();
    paths.sort();
    paths
}

fn is_netlink(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("netlink-"))
}

/// One line of a netlink capture: the decimal type, a space, the payload.
fn parse_capture_line(line: &[u8]) -> Result<Record, ParseError> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::Expected {
            expected: "a space after the message type",
            offset: 0,
        })?;
    let msg_type = std::str::from_utf8(&line[..space])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(ParseError::InvalidNumber {
            what: "message type",
            offset: 0,
        })?;
    parse_netlink(msg_type, &line[space + 1..])
}

/// Parses and assembles a capture with the records' own stamps as the clock,
/// as a replay of a log would.
fn replay(path: &Path) -> (Vec<AuditEvent>, Assembler, Vec<Json>) {
    let text = fs::read(path).expect("capture is readable");
    let netlink = is_netlink(path);
    let mut assembler = Assembler::default();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let parsed = if netlink {
            parse_capture_line(line)
        } else {
            parse_log_line(line)
        };
        match parsed {
            Ok(record) => {
                let now = record.timestamp().as_millis();
                assembler.push(record, now);
            }
            Err(e) => {
                assembler.count_parse_error();
                errors.push(json!({ "line": n + 1, "error": e.to_string() }));
            }
        }
        events.extend(assembler.drain_ready());
    }
    assembler.flush_all();
    events.extend(assembler.drain_ready());
    (events, assembler, errors)
}

/// Bytes as a string without losing any: UTF-8 as is, a backslash doubled,
/// any other byte as `\xNN`.
fn lossless(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn text_json(t: Option<Text<'_>>) -> Json {
    match t {
        None | Some(Text::Null) => Json::Null,
        Some(Text::Unknown) => json!({ "unknown": true }),
        Some(Text::Malformed(raw)) => json!({ "malformed": lossless(raw) }),
        Some(Text::Bytes(b)) => json!(lossless(&b)),
    }
}

fn render(ev: &AuditEvent) -> Json {
    let mut m = Map::new();
    m.insert("serial".into(), json!(ev.serial));
    m.insert("timestamp".into(), json!(ev.timestamp.to_string()));
    m.insert("end".into(), json!(ev.end));
    if ev.late {
        m.insert("late".into(), json!(true));
    }
    let types: Vec<String> = ev
        .records
        .iter()
        .map(|r| r.type_name().into_owned())
        .collect();
    m.insert("types".into(), json!(types));
    if let Some(s) = ev.syscall() {
        m.insert(
            "syscall".into(),
            json!({
                "arch": s.arch().map(|a| format!("{a:x}")),
                "syscall": s.syscall(),
                "success": s.success(),
                "exit": s.exit(),
                "pid": s.pid(),
                "ppid": s.ppid(),
                "auid": s.auid(),
                "uid": s.uid(),
                "euid": s.euid(),
                "ses": s.ses(),
                "tty": s.tty().map(lossless),
                "comm": text_json(s.comm()),
                "exe": text_json(s.exe()),
            }),
        );
        let enriched: Map<String, Json> = s
            .record()
            .enriched()
            .map(|f| (lossless(f.key), json!(lossless(f.value.inner()))))
            .collect();
        if !enriched.is_empty() {
            m.insert("syscall_enriched".into(), Json::Object(enriched));
        }
    }
    let keys: Vec<String> = ev.keys().iter().map(|k| lossless(k)).collect();
    if !keys.is_empty() {
        m.insert("keys".into(), json!(keys));
    }
    if let Some(argv) = ev.argv() {
        m.insert(
            "argv".into(),
            json!({
                "argc": argv.argc,
                "count": argv.args.len(),
                "bytes": argv.args.iter().map(Vec::len).sum::<usize>(),
                "flags": argv.flags.names(),
                "args": argv.args.iter().map(|a| lossless(a)).collect::<Vec<_>>(),
            }),
        );
    }
    if let Some(cwd) = ev.cwd() {
        m.insert("cwd".into(), text_json(Some(cwd)));
    }
    let paths: Vec<Json> = ev
        .paths()
        .map(|p| {
            json!({
                "item": p.item(),
                "name": text_json(p.name()),
                "inode": p.inode(),
                "dev": p.dev().map(|(ma, mi)| format!("{ma:02x}:{mi:02x}")),
                "mode": p.mode().map(|m| format!("0{m:o}")),
                "nametype": p.nametype().map(lossless),
            })
        })
        .collect();
    if !paths.is_empty() {
        m.insert("paths".into(), json!(paths));
    }
    if let Some(p) = ev.proctitle() {
        m.insert(
            "proctitle".into(),
            json!({
                "args": p.args().iter().map(|a| lossless(a)).collect::<Vec<_>>(),
                "maybe_truncated": p.maybe_truncated(),
                "malformed": p.malformed,
            }),
        );
    }
    if let Some(c) = ev.config_change() {
        m.insert(
            "config_change".into(),
            json!({
                "op": c.op().map(lossless),
                "keys": c.keys().iter().map(|k| lossless(k)).collect::<Vec<_>>(),
                "list": c.list(),
                "res": c.res(),
                "auid": c.auid(),
            }),
        );
    }
    Json::Object(m)
}

fn golden_json(path: &Path) -> String {
    let (events, assembler, errors) = replay(path);
    let doc = json!({
        "stats": assembler.stats(),
        "parse_errors": errors,
        "events": events.iter().map(render).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("JSON renders");
    s.push('\n');
    s
}

#[test]
fn captures_match_their_goldens() {
    let captures = captures();
    assert!(captures.len() >= 4, "captures missing: {captures:?}");
    let write = std::env::var_os("SWMON_WRITE_GOLDEN").is_some_and(|v| v == "1");
    let mut mismatched = Vec::new();
    for capture in &captures {
        let golden = capture.with_extension("golden.json");
        let actual = golden_json(capture);
        if write {
            fs::write(&golden, &actual).expect("golden is writable");
            continue;
        }
        let expected = fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with SWMON_WRITE_GOLDEN=1 to create it",
                golden.display()
            )
        });
        if expected != actual {
            mismatched.push(golden.display().to_string());
        }
    }
    assert!(
        mismatched.is_empty(),
        "output differs from {mismatched:?}; run with SWMON_WRITE_GOLDEN=1 and review the diff"
    );
}

fn capture(name: &str) -> (Vec<AuditEvent>, Assembler, Vec<Json>) {
    replay(&data_dir().join(name))
}

fn event(events: &[AuditEvent], serial: u64) -> &AuditEvent {
    events
        .iter()
        .find(|e| e.serial == serial)
        .unwrap_or_else(|| panic!("no event {serial}"))
}

#[test]
fn arg_encodings_by_hand() {
    let (events, a, errors) = capture("netlink-arg-encodings.txt");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.end == EventEnd::Eoe && !e.late));

    // Hex-encoded arguments: space, quote, non-ASCII.
    let argv = event(&events, 825).argv().expect("EXECVE");
    assert_eq!(
        argv.args,
        [
            &b"/bin/echo"[..],
            b"hello world",
            b"it\"s",
            "café".as_bytes(),
            b"plain"
        ]
    );
    assert!(argv.flags.is_clean(), "{:?}", argv.flags);

    // The long argument: three records, a1_len=20000 and 20000 hex digits
    // in a1[0..=2]. The kernel counts aN_len in the encoded form once it
    // forces hex for an argument spanning buffers (audit_log_execve_info:
    // `len_full = len_full * 2`), so the argument itself is 10000 bytes.
    let ev = event(&events, 830);
    assert_eq!(ev.records_of(super::RecordType::EXECVE).count(), 3);
    let argv = ev.argv().expect("EXECVE");
    assert_eq!(argv.argc, Some(2));
    assert_eq!(argv.args.len(), 2);
    assert_eq!(argv.args[1].len(), 10_000);
    assert!(argv.args[1].iter().all(|&b| b == b'A'));
    assert!(argv.flags.is_clean(), "{:?}", argv.flags);
    assert!(ev.proctitle().expect("PROCTITLE").maybe_truncated());

    // 2501 arguments over five EXECVE records: /bin/echo 1 2 ... 2500.
    let ev = event(&events, 846);
    assert_eq!(ev.records_of(super::RecordType::EXECVE).count(), 5);
    let argv = ev.argv().expect("EXECVE");
    assert_eq!(argv.argc, Some(2501));
    assert_eq!(argv.args.len(), 2501);
    assert_eq!(argv.args[0], b"/bin/echo");
    for (i, arg) in argv.args.iter().enumerate().skip(1) {
        assert_eq!(arg, i.to_string().as_bytes());
    }
    assert!(argv.flags.is_clean(), "{:?}", argv.flags);
    assert_eq!(ev.key(), Some(b"exec-all".to_vec()));
    let title = ev.proctitle().expect("PROCTITLE");
    assert!(title.maybe_truncated());
    assert_eq!(title.bytes.len(), super::PROCTITLE_MAX);

    // Serials 826-829 and 831-845 never arrived: 19 gaps.
    assert_eq!(a.stats().serial_gaps, 19);
}

#[test]
fn watch_rules_by_hand() {
    let (events, a, errors) = capture("netlink-watch-rules.txt");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        events.iter().map(|e| e.serial).collect::<Vec<_>>(),
        (42..=49).collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e.end == EventEnd::Eoe));
    assert_eq!(a.stats().records, 62);
    assert_eq!(a.stats().serial_gaps, 0);
    let caught: Vec<u64> = events
        .iter()
        .filter(|e| e.key().as_deref() == Some(b"software-installer"))
        .map(|e| e.serial)
        .collect();
    assert_eq!(caught.len(), 7);
    let ev = event(&events, 43);
    assert_eq!(
        ev.argv().expect("EXECVE").args,
        [&b"dpkg"[..], b"--version"]
    );
    assert_eq!(
        ev.cwd().and_then(|c| c.into_bytes()).as_deref(),
        Some(&b"/tmp/probe-audit"[..])
    );
    assert_eq!(ev.paths().count(), 2);
}

#[test]
fn with_auditd_by_hand() {
    let (events, _, errors) = capture("netlink-with-auditd.txt");
    assert!(errors.is_empty(), "{errors:?}");
    let added = event(&events, 17).config_change().expect("CONFIG_CHANGE");
    assert_eq!(added.op(), Some(&b"add_rule"[..]));
    assert_eq!(added.keys(), [b"software-installer".to_vec()]);
    let removed = event(&events, 19).config_change().expect("CONFIG_CHANGE");
    assert_eq!(removed.op(), Some(&b"remove_rule"[..]));
}

#[test]
fn auditd_log_by_hand() {
    let (events, a, errors) = capture("auditd-log-seed-rules.log");
    assert!(errors.is_empty(), "{errors:?}");
    // auditd's log has no EOE: the kernel's events end by timeout or at the
    // end of input; its own DAEMON_START and DAEMON_END stand alone.
    assert_eq!(a.stats().standalone, 2);
    assert_eq!(a.stats().ended_by_eoe, 0);
    assert_eq!(a.stats().serial_gaps, 0);
    assert_eq!(a.stats().late_records, 0);
    // Pure auditd recorded four of the seven installer runs.
    let caught: Vec<Vec<Vec<u8>>> = events
        .iter()
        .filter(|e| e.key().as_deref() == Some(b"software-installer"))
        .map(|e| e.argv().expect("EXECVE").args)
        .collect();
    assert_eq!(
        caught,
        [
            vec![b"dpkg".to_vec(), b"--version".to_vec()],
            vec![b"apt-get".to_vec(), b"--version".to_vec()],
            vec![
                b"/usr/bin/python3".to_vec(),
                b"/usr/bin/pip3".to_vec(),
                b"--version".to_vec()
            ],
            vec![
                b"/usr/bin/env".to_vec(),
                b"node".to_vec(),
                b"/usr/bin/npm".to_vec(),
                b"--version".to_vec()
            ],
        ]
    );
    let ev = event(&events, 176_439);
    let s = ev.syscall().expect("SYSCALL");
    assert_eq!(
        s.record().get_enriched("SYSCALL").map(|v| v.raw()),
        Some(&b"execve"[..])
    );
    assert_eq!(
        s.record()
            .get_enriched("AUID")
            .and_then(|v| v.text().into_bytes())
            .as_deref(),
        Some(&b"unset"[..])
    );
    // The kernel field of the same name is untouched by enrichment.
    assert_eq!(s.syscall(), Some(59));
}

#[test]
fn lossless_rendering() {
    assert_eq!(lossless(b"a\\b"), "a\\\\b");
    assert_eq!(lossless(b"caf\xc3\xa9"), "café");
    assert_eq!(lossless(b"\xff\x00x"), "\\xff\u{0}x");
}
