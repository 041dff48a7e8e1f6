//! Where events go: JSON Lines (the contract) or one readable text line per
//! event, to standard output or a file, flushed line by line so a reader
//! following the file sees each event as it happens.
//!
//! Text output escapes every control character (newline, ESC) so argv can
//! not forge lines or drive the terminal.

use std::{
    io::{self, BufWriter, Write},
    path::Path,
};

use crate::event::Event;

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
    out: BufWriter<Box<dyn Write + Send>>,
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
        let out: Box<dyn Write + Send> = if path == Path::new("-") {
            Box::new(io::stdout())
        } else {
            // O_NOFOLLOW, 0600/0640, fstat-checked: see safe_file.
            Box::new(crate::safe_file::open_output(path, group)?)
        };
        Ok(Sink {
            out: BufWriter::new(out),
            format,
            colour,
            written: 0,
        })
    }

    pub fn write(&mut self, event: &Event) -> Result<(), SinkError> {
        match self.format {
            Format::Json => {
                serde_json::to_writer(&mut self.out, event)?;
                self.out.write_all(b"\n")?;
            }
            Format::Text => {
                let line = text_line(event);
                let line = if self.colour {
                    coloured(event, &line)
                } else {
                    line
                };
                self.out.write_all(line.as_bytes())?;
                self.out.write_all(b"\n")?;
            }
        }
        self.out.flush()?;
        self.written += 1;
        Ok(())
    }
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
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("a\nb\x1b[31m"), "a\\nb\\x1b[31m");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
