//! The Markdown rendering: tables for terminals and tickets.
//!
//! Every untrusted string (argv, paths, package and user names) goes
//! through [`cell`]: control characters become visible escapes (`\n`,
//! `\x1b`), so a cell cannot break its row or drive a terminal, and the
//! characters Markdown would read as markup or as a cell border (`|`, `<`,
//! `` ` ``, `*`, ...) are backslash-escaped, so a ticket shows them as
//! written. Layout only; the numbers come from [`super::compare`].

use std::fmt::Write;

use super::model::{PackageOut, Report, Row, UserRef};
use crate::sink::terminal_safe;

/// Makes an untrusted string safe in a Markdown table cell.
pub fn cell(s: &str) -> String {
    let safe = terminal_safe(s);
    let mut out = String::with_capacity(safe.len() + 8);
    for c in safe.chars() {
        if matches!(c, '\\' | '|' | '`' | '[' | ']' | '<' | '>' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "—".to_owned(), cell)
}

/// A short time: RFC 3339 to the millisecond.
pub fn short_time(t: &str) -> String {
    // `2026-11-26T08:11:38.722000Z`: keep the date, time and milliseconds.
    match t.get(..23) {
        Some(head) if t.len() == 27 => format!("{head}Z"),
        _ => t.to_owned(),
    }
}

pub fn user(u: Option<&UserRef>) -> String {
    match u {
        Some(UserRef { name: Some(n), .. }) if n == "unset" => n.clone(),
        Some(UserRef { id, name: Some(n) }) if n != id => format!("{n} ({id})"),
        Some(u) => u.id.clone(),
        None => "—".to_owned(),
    }
}

pub fn packages(p: &[PackageOut]) -> String {
    if p.is_empty() {
        return "—".to_owned();
    }
    p.iter()
        .map(|p| match &p.version {
            Some(v) => format!("{}={v}", p.name),
            None => p.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// argv as one command line, quoting arguments that would be ambiguous.
pub fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && !a.contains([' ', '\'', '"', '\t', '\n']) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.3} s")
    } else if seconds < 3600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

/// The verdict cell: an amended run shows its final verdict and the one
/// it was first given.
pub fn verdict(r: &Row) -> String {
    match (&r.swmon.verdict, r.swmon.seen) {
        (Some(v), _) if r.swmon.amended > 0 => {
            let first = match (&r.swmon.first_verdict, &r.swmon.first_reason) {
                (Some(v), Some(why)) => format!("{v}, {why}"),
                (Some(v), None) => v.clone(),
                (None, _) => "none".to_owned(),
            };
            format!("{v} (amended from {first})")
        }
        (Some(v), _) => v.clone(),
        (None, true) => "none".to_owned(),
        (None, false) => "not seen by swmon".to_owned(),
    }
}

pub fn auditd(r: &Row) -> String {
    match (r.auditd.recorded, r.auditd.serial) {
        (true, Some(s)) => format!("yes ({s})"),
        (true, None) => "yes".to_owned(),
        (false, _) => "no".to_owned(),
    }
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let s = &r.summary;
    // Writing to a String cannot fail.
    let _ = writeln!(
        o,
        "# swmon report: pure auditd (key {}) against swmon\n",
        cell(&r.key)
    );
    let window = match (&r.window.since, &r.window.until) {
        (None, None) => "all".to_owned(),
        (since, until) => format!(
            "{} to {}",
            since.as_deref().unwrap_or("start"),
            until.as_deref().unwrap_or("end")
        ),
    };
    let _ = writeln!(o, "- Window: {window}");
    if let Some(span) = &r.span {
        let _ = writeln!(o, "- Covered: {} to {}", span.start, span.end);
    }
    for i in &r.inputs {
        let _ = writeln!(
            o,
            "- Input ({}): {}: {} lines, {} runs, {} states, {} duplicates, {} warnings",
            i.kind,
            cell(&i.path),
            i.lines,
            i.runs,
            i.states,
            i.duplicates,
            i.warnings
        );
    }

    let _ = writeln!(o, "\n## Summary\n");
    let _ = writeln!(o, "| | runs | recall |\n|---|---:|---:|");
    let _ = writeln!(o, "| All installer runs | {} | |", s.runs);
    let _ = writeln!(
        o,
        "| Recorded by pure auditd (key {}) | {} | {} |",
        cell(&r.key),
        s.recorded_by_auditd,
        percent(s.auditd_recall)
    );
    let _ = writeln!(
        o,
        "| Seen by swmon | {} | {} |",
        s.seen_by_swmon,
        percent(s.swmon_recall)
    );
    if s.verdict_disagreements > 0 {
        let _ = writeln!(
            o,
            "\n{} run(s) swmon called ebpf\\_only are in the audit log by key.",
            s.verdict_disagreements
        );
    }

    let _ = writeln!(o, "\n### By verdict\n\n| verdict | runs |\n|---|---:|");
    for c in &s.by_verdict {
        let _ = writeln!(o, "| {} | {} |", cell(&c.name), c.runs);
    }

    let _ = writeln!(
        o,
        "\n### By manager\n\n| manager | runs | seen by swmon | recorded by auditd |\n|---|---:|---:|---:|"
    );
    for m in &s.by_manager {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            cell(&m.manager),
            m.runs,
            m.seen_by_swmon,
            m.recorded_by_auditd
        );
    }

    let _ = writeln!(o, "\n### Slipped past auditd\n");
    if s.slipped_past_auditd.is_empty() {
        let _ = writeln!(o, "None: pure auditd recorded every run.");
    } else {
        let _ = writeln!(o, "| via | reason | runs | managers |\n|---|---|---:|---|");
        for x in &s.slipped_past_auditd {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                opt(x.via.as_deref()),
                opt(x.reason.as_deref()),
                x.runs,
                cell(&x.managers.join(", "))
            );
        }
    }

    let _ = writeln!(o, "\n### Coverage gaps\n");
    if r.gaps.is_empty() {
        let _ = writeln!(o, "None reported by swmon.");
    } else {
        let _ = writeln!(
            o,
            "| kind | host | from | to | duration | ended by | lost | source |\n|---|---|---|---|---:|---|---:|---|"
        );
        for g in &r.gaps {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&g.kind),
                opt(g.host.as_deref()),
                short_time(&g.start),
                short_time(&g.end),
                duration(g.seconds),
                match (&g.ended_by, g.open) {
                    (Some(b), _) => cell(b),
                    (None, true) => "end of input".to_owned(),
                    (None, false) => "—".to_owned(),
                },
                g.lost.map_or_else(|| "—".to_owned(), |n| n.to_string()),
                cell(&g.source)
            );
        }
    }

    let _ = writeln!(o, "\n## Runs\n");
    if r.runs.is_empty() {
        let _ = writeln!(o, "No installer runs in the window.");
    } else {
        let _ = writeln!(
            o,
            "| time | login user | user | manager | operation | packages | scope | via | verdict | reason | auditd (serial) | pid | command |\n|---|---|---|---|---|---|---|---|---|---|---|---:|---|"
        );
        for row in &r.runs {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                short_time(&row.time),
                cell(&user(row.login_user.as_ref())),
                cell(&user(row.user.as_ref())),
                opt(row.manager.as_deref()),
                opt(row.operation.as_deref()),
                cell(&packages(&row.packages)),
                opt(row.scope.as_deref()),
                opt(row.via.as_deref()),
                cell(&verdict(row)),
                opt(row.swmon.reason.as_deref()),
                auditd(row),
                row.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()),
                cell(&command_line(&row.args))
            );
        }
    }

    if !r.warnings.is_empty() || r.warnings_suppressed > 0 {
        let _ = writeln!(o, "\n## Warnings\n");
        for w in &r.warnings {
            let _ = writeln!(o, "- {}", cell(&w.to_string()));
        }
        if r.warnings_suppressed > 0 {
            let _ = writeln!(o, "- and {} more not listed", r.warnings_suppressed);
        }
    }
    o
}
