//! Where events go: JSON Lines (the contract) or one readable text line per
//! event, to standard output or a file. [`Sink::encode`] makes an event one
//! line of at most [`LINE_MAX`] bytes; [`Sink::write_line`] writes and
//! flushes it, so a reader following the file sees each event as it
//! happens; [`Sink::reopen`] opens the path anew (logrotate's `create`).
//! The writer stage (`run::writer`) owns the sink on its own thread.
//!
//! Text output escapes every control character (newline, ESC) so argv can
//! not forge lines or drive the terminal.
//!
//! A line is never cut silently: an event whose line would pass the cap has
//! its biggest fields (`process.args`, `swmon.exec_chain`,
//! `swmon.ancestors`, the package lists) shrunk, and `swmon.cut` says what
//! was cut and the real sizes.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    os::fd::AsFd,
    path::{Path, PathBuf},
};

use serde_json::{json, Map, Value};

use crate::event::Event;

/// The longest line written, newline included (log shippers cut longer
/// ones, often silently).
pub const LINE_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Text,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Open(#[from] crate::safe_file::SafeFileError),
    #[error("can't write output: {0}")]
    Write(#[from] io::Error),
    #[error("can't encode an event: {0}")]
    Encode(#[from] serde_json::Error),
}

pub struct Sink {
    out: BufWriter<File>,
    path: PathBuf,
    /// The group a new output file is given (mode 0640), kept for reopens.
    group: Option<u32>,
    format: Format,
    /// Colour the text form (standard output is a terminal).
    colour: bool,
    pub written: u64,
}

impl Sink {
    /// Opens `path` for appending (`-` is standard output), created 0600, or
    /// 0640 with `group` ([`crate::safe_file::open_output`]).
    pub fn open(path: &Path, format: Format, group: Option<u32>) -> Result<Sink, SinkError> {
        use std::io::IsTerminal;
        let colour = path == Path::new("-")
            && io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none();
        Ok(Sink {
            out: BufWriter::new(open_output(path, group)?),
            path: path.to_owned(),
            group,
            format,
            colour,
            written: 0,
        })
    }

    /// Opens the path again (after logrotate moved the file away): what was
    /// written stays in the moved file, the next line goes to the new one.
    /// Standard output is kept as it is.
    pub fn reopen(&mut self) -> Result<(), SinkError> {
        if self.path == Path::new("-") {
            return Ok(());
        }
        // The same checks as at start: O_NOFOLLOW, 0600/0640, fstat.
        let file = open_output(&self.path, self.group)?;
        self.out.flush()?;
        self.out = BufWriter::new(file);
        Ok(())
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the text form is coloured (standard output is a terminal).
    pub fn colour(&self) -> bool {
        self.colour
    }

    /// The event as one line (newline included) of at most [`LINE_MAX`]
    /// bytes; whether fields had to be cut.
    pub fn encode(&self, event: &Event) -> Result<(Vec<u8>, bool), SinkError> {
        encode(event, self.format, self.colour)
    }

    /// Writes one encoded line and flushes it.
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), SinkError> {
        self.out.write_all(line)?;
        self.out.flush()?;
        self.written += 1;
        Ok(())
    }

    pub fn write(&mut self, event: &Event) -> Result<(), SinkError> {
        let (line, _) = self.encode(event)?;
        self.write_line(&line)
    }
}

/// Opens the output: standard output (a duplicate of fd 1, so no lock of
/// Rust's `Stdout` is held by a blocked write), or the file for appending
/// through [`crate::safe_file::open_output`] (O_NOFOLLOW, created 0600 or
/// 0640 with `group`, fstat-checked).
fn open_output(path: &Path, group: Option<u32>) -> Result<File, SinkError> {
    if path == Path::new("-") {
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        return Ok(File::from(fd));
    }
    Ok(crate::safe_file::open_output(path, group)?)
}

/// One event as one line of at most [`LINE_MAX`] bytes (see the module
/// doc); whether fields were cut.
pub fn encode(event: &Event, format: Format, colour: bool) -> Result<(Vec<u8>, bool), SinkError> {
    match format {
        Format::Json => json_line(event),
        Format::Text => {
            let mut line = text_line(event);
            let mut cut = false;
            if line.len() > LINE_MAX - 64 {
                let real = line.len();
                let mut end = LINE_MAX - 64;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                line.truncate(end);
                line.push_str(&format!(" [line cut: {real} bytes]"));
                cut = true;
            }
            let line = if colour { coloured(event, &line) } else { line };
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            Ok((bytes, cut))
        }
    }
}

fn json_line(event: &Event) -> Result<(Vec<u8>, bool), SinkError> {
    let mut line = serde_json::to_vec(event)?;
    if line.len() < LINE_MAX {
        line.push(b'\n');
        return Ok((line, false));
    }
    let real = line.len();
    // Each shrinkable field gets `budget` bytes; halved until the line fits.
    let mut budget = LINE_MAX / 4;
    loop {
        let mut e = event.clone();
        let mut cut = shrink(&mut e, budget);
        cut.insert("line_bytes".into(), json!(real));
        e.swmon.cut = Some(cut);
        line = serde_json::to_vec(&e)?;
        if line.len() < LINE_MAX || budget == 0 {
            break;
        }
        budget /= 2;
    }
    if line.len() >= LINE_MAX {
        // Still too long (fields with no cap of their own): keep who and
        // what (pid, uid, a cut executable), drop the rest, and say so.
        line = serde_json::to_vec(&last_resort(event, real, KEEP_EXECUTABLE))?;
    }
    if line.len() >= LINE_MAX {
        line = serde_json::to_vec(&last_resort(event, real, 0))?;
    }
    // Hard cap: the last resort holds a few fixed fields only.
    if line.len() >= LINE_MAX {
        return Err(SinkError::Encode(serde::ser::Error::custom(format!(
            "an event of {real} bytes could not be cut to the line cap"
        ))));
    }
    line.push(b'\n');
    Ok((line, true))
}

/// Bytes of the executable the last resort keeps.
const KEEP_EXECUTABLE: usize = 1024;

/// The event reduced to who and what: pid, parent pid, uid (and euid), the
/// executable cut to `keep` bytes, the verdict and the manager.
fn last_resort(event: &Event, real: usize, keep: usize) -> Event {
    let mut e = event.clone();
    e.host = crate::event::Host {
        name: cut_to(&event.host.name, 256),
    };
    e.user = None;
    e.package = None;
    e.process = event.process.as_ref().map(|p| crate::event::Process {
        pid: p.pid,
        parent: crate::event::Parent { pid: p.parent.pid },
        executable: cut_to(&p.executable, keep),
        name: cut_to(&p.name, keep.min(256)),
        user: crate::event::Id {
            id: cut_to(&p.user.id, 32),
            name: None,
        },
        effective_user: crate::event::Id {
            id: cut_to(&p.effective_user.id, 32),
            name: None,
        },
        start: cut_to(&p.start, 64),
        ..Default::default()
    });
    e.swmon = crate::event::Swmon {
        verdict: event.swmon.verdict,
        manager: event.swmon.manager,
        run_id: event.swmon.run_id.as_ref().map(|id| cut_to(id, 64)),
        cut: Some(Map::from_iter([
            ("line_bytes".to_owned(), json!(real)),
            ("all".to_owned(), json!(true)),
        ])),
        ..crate::event::Swmon::default()
    };
    e
}

/// `s` cut to at most `max` bytes, on a char boundary.
fn cut_to(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Cuts one string to `budget` bytes; what it was, if cut.
fn cut_str(s: &mut String, budget: usize) -> Option<Value> {
    if s.len() <= budget {
        return None;
    }
    let bytes = s.len();
    *s = cut_to(s, budget);
    Some(json!({ "bytes": bytes, "kept": s.len() }))
}

/// Cuts a list of strings to `budget` bytes in all (the last one kept may
/// be cut short); returns what it was, if anything was cut.
fn cut_strings(list: &mut Vec<String>, budget: usize) -> Option<Value> {
    let bytes: usize = list.iter().map(String::len).sum();
    if bytes <= budget {
        return None;
    }
    let count = list.len();
    let mut kept = 0;
    let mut keep = 0;
    for s in list.iter_mut() {
        if kept >= budget {
            break;
        }
        let room = budget - kept;
        let cut = s.len() > room;
        if cut {
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
        }
        kept += s.len();
        keep += 1;
        if cut {
            break;
        }
    }
    list.truncate(keep);
    Some(json!({ "count": count, "bytes": bytes, "kept": kept }))
}

/// Shrinks the big fields of an event to `budget` bytes each (lists of
/// runs' and ancestors' args share it); returns what was cut.
fn shrink(e: &mut Event, budget: usize) -> Map<String, Value> {
    let mut cut = Map::new();
    if let Some(p) = e.process.as_mut() {
        if let Some(c) = cut_strings(&mut p.args, budget) {
            cut.insert("process.args".into(), c);
        }
        for (name, field) in [
            ("process.executable", Some(&mut p.executable)),
            ("process.name", Some(&mut p.name)),
            ("process.working_directory", p.working_directory.as_mut()),
        ] {
            if let Some(c) = field.and_then(|f| cut_str(f, budget)) {
                cut.insert(name.into(), c);
            }
        }
    }
    let s = &mut e.swmon;
    let share = |n: usize| budget / n.max(1);
    let n = s.exec_chain.len();
    let mut chain = Vec::new();
    for link in &mut s.exec_chain {
        if let Some(c) = cut_strings(&mut link.args, share(n)) {
            chain.push(c);
        }
    }
    if !chain.is_empty() {
        cut.insert("swmon.exec_chain".into(), Value::Array(chain));
    }
    let n = s.ancestors.len();
    let mut anc = Vec::new();
    for a in &mut s.ancestors {
        if let Some(c) = cut_strings(&mut a.args, share(n)) {
            anc.push(json!({ "pid": a.pid, "args": c }));
        }
    }
    if !anc.is_empty() {
        cut.insert("swmon.ancestors".into(), Value::Array(anc));
    }
    for link in &mut s.exec_chain {
        if let Some(c) = cut_str(&mut link.executable, share(n)) {
            cut.insert("swmon.exec_chain.executable".into(), c);
        }
    }
    let n = s.ancestors.len();
    for a in &mut s.ancestors {
        for f in [Some(&mut a.name), Some(&mut a.comm), a.executable.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(c) = cut_str(f, share(n)) {
                cut.insert("swmon.ancestors.strings".into(), c);
            }
        }
    }
    for (name, field) in [
        ("swmon.exec_filename", s.exec_filename.as_mut()),
        ("swmon.scope", s.scope.as_mut()),
        ("swmon.subcommand", s.subcommand.as_mut()),
    ] {
        if let Some(c) = field.and_then(|f| cut_str(f, budget)) {
            cut.insert(name.into(), c);
        }
    }
    if let Some(c) = cut_strings(&mut s.requirements, budget) {
        cut.insert("swmon.requirements".into(), c);
    }
    // The state witness's lists: the first that fit are kept.
    if let Some(c) = cut_values(&mut s.changes, budget) {
        cut.insert("swmon.changes".into(), c);
    }
    if let Some(writes) = s
        .state
        .as_mut()
        .and_then(|v| v.get_mut("writes"))
        .and_then(Value::as_array_mut)
    {
        if let Some(c) = cut_values(writes, budget) {
            cut.insert("swmon.state.writes".into(), c);
        }
    }
    for (name, list) in [
        ("swmon.packages", s.packages.as_mut()),
        ("swmon.inverse_packages", Some(&mut s.inverse_packages)),
    ] {
        let Some(list) = list else { continue };
        let bytes: usize = list
            .iter()
            .map(|p| p.name.len() + p.version.as_ref().map_or(0, String::len) + 24)
            .sum();
        if bytes > budget {
            let count = list.len();
            let mut kept = 0;
            list.retain(|p| {
                kept += p.name.len() + p.version.as_ref().map_or(0, String::len) + 24;
                kept <= budget
            });
            cut.insert(
                name.into(),
                json!({ "count": count, "bytes": bytes, "kept": list.len() }),
            );
        }
    }
    cut
}

/// Keeps the first values of a list that fit in `budget` bytes (as JSON);
/// the cut's real `count` and `bytes`, and how many were `kept`.
fn cut_values(list: &mut Vec<Value>, budget: usize) -> Option<Value> {
    let sizes: Vec<usize> = list.iter().map(|v| v.to_string().len() + 1).collect();
    let bytes: usize = sizes.iter().sum();
    if bytes <= budget {
        return None;
    }
    let count = list.len();
    let mut used = 0;
    let keep = sizes
        .iter()
        .take_while(|&&n| {
            used += n;
            used <= budget
        })
        .count();
    list.truncate(keep);
    Some(json!({ "count": count, "bytes": bytes, "kept": keep }))
}

/// Escapes control characters for a terminal (`\n`, `\x1b`, ...).
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Quotes an argument for the text line when it would otherwise be ambiguous.
fn shell_word(s: &str) -> String {
    let safe = terminal_safe(s);
    if !safe.is_empty() && !safe.contains([' ', '\'', '"']) {
        safe
    } else {
        format!("'{}'", safe.replace('\'', "'\\''"))
    }
}

/// The whole line in the colour of what it says: red for a run that slipped
/// past the audit trail and for every alert, yellow for audit-only, green
/// for confirmed. The line's own text is already terminal-safe, so these
/// are the only escape sequences in it.
pub fn coloured(e: &Event, line: &str) -> String {
    let code = match (e.swmon.verdict, e.event.kind) {
        (Some("confirmed"), _) => "32",
        (Some("audit_only"), _) => "33",
        (Some("ebpf_only"), _) | (_, "alert") => "31",
        _ => return line.to_owned(),
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

pub fn text_line(e: &Event) -> String {
    let mut line = format!("{} {}", e.timestamp, e.event.action);
    if let Some(p) = &e.process {
        let s = &e.swmon;
        line.push_str(&format!(
            " {} pid={} ppid={} uid={}",
            s.manager.unwrap_or("?"),
            p.pid,
            p.parent.pid,
            p.user.id
        ));
        if let Some(name) = &p.user.name {
            line.push_str(&format!("({})", terminal_safe(name)));
        }
        if let Some(audit) = e.user.as_ref().map(|u| &u.audit) {
            line.push_str(&format!(
                " auid={}",
                audit
                    .name
                    .as_deref()
                    .map_or(audit.id.clone(), terminal_safe)
            ));
        }
        match p.exit_code {
            Some(code) => line.push_str(&format!(" exit={code}")),
            None => line.push_str(&format!(" exit=? ({})", s.end.unwrap_or("unknown"))),
        }
        line.push_str(&format!(
            " via={} verdict={} exe={}:",
            s.via.unwrap_or("?"),
            s.verdict.unwrap_or("?"),
            shell_word(&p.executable)
        ));
        for a in &p.args {
            line.push(' ');
            line.push_str(&shell_word(a));
        }
        if s.args_truncated {
            line.push_str(" [args truncated]");
        }
    } else if let (Some(log), "ebpf-log") = (&e.swmon.ebpf, e.event.action) {
        // `LEVEL tgid=N pid=N comm=NAME: MESSAGE`, as the kernel said it.
        let get = |k: &str| {
            log.get(k).map_or_else(String::new, |v| match v {
                serde_json::Value::String(s) => terminal_safe(s),
                v => v.to_string(),
            })
        };
        line.push_str(&format!(
            " {} tgid={} pid={} comm={}: {}",
            get("level"),
            get("tgid"),
            get("pid"),
            shell_word(&get("comm")),
            get("message")
        ));
    } else if let Some(counters) = &e.swmon.counters {
        for (k, v) in counters {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_marks_the_verdict_and_nothing_else() {
        use crate::event::{EventMeta, Host, Swmon};
        let mut e = Event {
            ecs: crate::event::Ecs::default(),
            timestamp: "t".into(),
            event: EventMeta {
                kind: "alert",
                category: vec![],
                kind_type: vec![],
                action: "installer-exec",
                outcome: None,
            },
            process: None,
            user: None,
            package: None,
            host: Host { name: "h".into() },
            swmon: Swmon {
                verdict: Some("ebpf_only"),
                ..Swmon::default()
            },
        };
        let line = text_line(&e);
        assert_eq!(coloured(&e, &line), format!("\x1b[31m{line}\x1b[0m"));
        e.swmon.verdict = Some("confirmed");
        e.event.kind = "event";
        assert!(coloured(&e, &line).starts_with("\x1b[32m"));
        e.swmon.verdict = None;
        e.event.kind = "state";
        assert_eq!(coloured(&e, &line), line);
    }

    #[test]
    fn an_ebpf_log_record_is_one_text_line_with_its_task() {
        use crate::event::{EventMeta, Host, Swmon};
        let e = Event {
            ecs: crate::event::Ecs::default(),
            timestamp: "t".into(),
            event: EventMeta {
                kind: "event",
                category: vec![],
                kind_type: vec![],
                action: "ebpf-log",
                outcome: None,
            },
            process: None,
            user: None,
            package: None,
            host: Host { name: "h".into() },
            swmon: Swmon {
                ebpf: Some(json!({
                    "level": "info", "tgid": 7, "pid": 8, "comm": "py thon\n",
                    "message": "dropped: interpreter=41 scanned 9 argv bytes",
                })),
                ..Swmon::default()
            },
        };
        assert_eq!(
            text_line(&e),
            "t ebpf-log info tgid=7 pid=8 comm='py thon\\n': dropped: interpreter=41 scanned 9 argv bytes"
        );
    }

    fn big_event() -> Event {
        use crate::event::{AncestorOut, EventMeta, Host, Process, Swmon};
        let arg = "a".repeat(4000);
        Event {
            ecs: crate::event::Ecs::default(),
            timestamp: "t".into(),
            event: EventMeta {
                kind: "event",
                category: vec![],
                kind_type: vec![],
                action: "installer-exec",
                outcome: None,
            },
            process: Some(Process {
                args: vec![arg.clone(); 100],
                ..Process::default()
            }),
            user: None,
            package: None,
            host: Host { name: "h".into() },
            swmon: Swmon {
                ancestors: (0..8)
                    .map(|pid| AncestorOut {
                        pid,
                        name: "sh".into(),
                        comm: "sh".into(),
                        uid: 0,
                        executable: Some("/bin/sh".into()),
                        args: vec![arg.clone(); 3],
                        args_truncated: false,
                        args_bytes: None,
                    })
                    .collect(),
                ..Swmon::default()
            },
        }
    }

    #[test]
    fn a_line_never_passes_the_cap_and_says_what_was_cut() {
        let e = big_event();
        let (line, cut) = encode(&e, Format::Json, false).expect("encode");
        assert!(cut);
        assert!(line.len() <= LINE_MAX, "{}", line.len());
        assert!(line.ends_with(b"\n"));
        let v: Value = serde_json::from_slice(&line).expect("valid JSON");
        let c = &v["swmon"]["cut"];
        assert!(c["line_bytes"].as_u64().expect("size") > 400_000, "{c}");
        assert_eq!(c["process.args"]["count"], 100);
        assert_eq!(c["process.args"]["bytes"], 400_000);
        assert!(c["swmon.ancestors"][0]["args"]["bytes"] == 12_000, "{c}");
        // A small event is left alone.
        let mut small = big_event();
        small.process = None;
        small.swmon.ancestors.truncate(1);
        let (line, cut) = encode(&small, Format::Json, false).expect("encode");
        assert!(!cut);
        assert!(!String::from_utf8_lossy(&line).contains("\"cut\""));
        let (text, cut) = encode(&big_event(), Format::Text, false).expect("text");
        assert!(cut && text.len() <= LINE_MAX);
    }

    #[test]
    fn a_big_install_s_state_lists_are_cut_not_the_whole_event() {
        // npm installing 600 packages: a change and a write each.
        let mut e = big_event();
        e.process.as_mut().expect("process").args.truncate(3);
        e.swmon.ancestors.truncate(1);
        e.swmon.run_id = Some("17664-1".into());
        e.swmon.changes = (0..600)
            .map(|i| json!({"manager": "npm", "name": format!("pkg-{i:04}"), "version": "1.0.0", "action": "install", "path": format!("/usr/lib/node_modules/x/node_modules/pkg-{i:04}/package.json")}))
            .collect();
        e.swmon.state = Some(
            json!({ "writes": (0..600).map(|i| json!({"rule": "npm-package", "path": format!("/usr/lib/node_modules/x/node_modules/pkg-{i:04}/package.json"), "pid": 1})).collect::<Vec<_>>() }),
        );
        let (line, cut) = encode(&e, Format::Json, false).expect("encode");
        assert!(cut && line.len() <= LINE_MAX);
        let v: Value = serde_json::from_slice(&line).expect("valid JSON");
        let c = &v["swmon"]["cut"];
        assert!(c.get("all").is_none(), "{c}");
        assert_eq!(c["swmon.changes"]["count"], 600, "{c}");
        let kept = c["swmon.changes"]["kept"].as_u64().expect("kept");
        assert!(kept > 0 && kept < 600);
        assert_eq!(
            v["swmon"]["changes"].as_array().map(Vec::len),
            Some(kept as usize)
        );
        assert_eq!(c["swmon.state.writes"]["count"], 600, "{c}");
        assert_eq!(v["swmon"]["run_id"], "17664-1");
        assert_eq!(v["process"]["pid"], e.process.as_ref().unwrap().pid);
    }

    #[test]
    fn control_character_paths_are_cut_and_who_ran_it_is_kept() {
        use crate::event::{ChainLink, Id};
        // Each control character is 6 bytes in JSON (`\u0001`): three 4 KiB
        // paths and long names on every field that has no cap of its own.
        let ctl = "\u{1}".repeat(4096);
        let mut e = big_event();
        let p = e.process.as_mut().expect("process");
        p.pid = 4242;
        p.user = Id {
            id: "1000".into(),
            name: Some("mallory".into()),
        };
        p.executable = format!("/tmp/{ctl}/apt");
        p.working_directory = Some(ctl.clone());
        p.name = ctl.clone();
        e.swmon.exec_filename = Some(ctl.clone());
        e.swmon.scope = Some(ctl.clone());
        e.swmon.subcommand = Some(ctl.clone());
        e.swmon.exec_chain = (0..8)
            .map(|_| ChainLink {
                executable: ctl.clone(),
                args: vec![ctl.clone(); 4],
            })
            .collect();
        for a in &mut e.swmon.ancestors {
            a.executable = Some(ctl.clone());
            a.name = ctl.clone();
            a.comm = ctl.clone();
        }
        let (line, cut) = encode(&e, Format::Json, false).expect("encode");
        assert!(cut);
        assert!(line.len() <= LINE_MAX, "{}", line.len());
        let v: Value = serde_json::from_slice(&line).expect("valid JSON");
        assert_eq!(v["process"]["pid"], 4242, "who ran it is kept");
        assert_eq!(v["process"]["user"]["id"], "1000");
        let exe = v["process"]["executable"].as_str().expect("executable");
        assert!(exe.starts_with("/tmp/\u{1}"), "a cut executable is kept");
        // Every field alone past the cap: the last resort still fits.
        let mut huge = e.clone();
        huge.host.name = ctl.repeat(8);
        huge.process.as_mut().expect("process").executable = ctl.repeat(16);
        let (line, _) = encode(&huge, Format::Json, false).expect("encode");
        assert!(line.len() <= LINE_MAX, "{}", line.len());
        let v: Value = serde_json::from_slice(&line).expect("valid JSON");
        assert_eq!(v["process"]["pid"], 4242);
        assert_eq!(v["process"]["user"]["id"], "1000");
    }

    #[test]
    fn strings_are_cut_on_char_boundaries() {
        let mut l = vec!["ééé".to_owned(), "x".to_owned()];
        let c = cut_strings(&mut l, 3).expect("cut");
        assert_eq!(l, vec!["é".to_owned()]);
        assert_eq!(c["count"], 2);
        assert_eq!(c["bytes"], 7);
        assert!(cut_strings(&mut l, 100).is_none());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("a\nb\x1b[31m"), "a\\nb\\x1b[31m");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
