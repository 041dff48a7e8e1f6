//! The Markdown rendering: tables for terminals and tickets.
//!
//! Every untrusted string (argv, paths, package and user names) goes
//! through [`cell`]: control characters become visible escapes (`\n`,
//! `\x1b`), so a cell cannot break its row or drive a terminal, and the
//! characters Markdown would read as markup or as a cell border (`|`, `<`,
//! `` ` ``, `*`, ...) are backslash-escaped, so a ticket shows them as
//! written. Layout only; the numbers come from [`super::compare`].

use std::{collections::HashMap, fmt::Write};

use super::model::{AncestorRef, Change, Mismatch, PackageOut, Report, Row, UserRef};
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

/// A list in one cell: items escaped, `;` between them (no markup: every
/// `<` in the output is escaped), then the "more" line.
fn list_cell((items, more): (Vec<String>, Option<String>)) -> String {
    if items.is_empty() && more.is_none() {
        return "—".to_owned();
    }
    let mut parts: Vec<String> = items.iter().map(|i| cell(i)).collect();
    parts.extend(more);
    parts.join("; ")
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
    let v = verdict_final(r);
    if r.swmon.running {
        format!("{v} so far")
    } else {
        v
    }
}

fn verdict_final(r: &Row) -> String {
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

/// Changes listed per run in Markdown and HTML (JSON has them all).
pub const CHANGES_SHOWN: usize = 10;

/// One change: `upgrade dpkg:hello 1.0 → 2.0`, `install unmanaged
/// /usr/local/bin/x sha256:…`.
pub fn change(c: &Change) -> String {
    let mut s = c.action.clone().unwrap_or_else(|| "change".to_owned());
    s.push(' ');
    if let Some(m) = &c.manager {
        s.push_str(m);
        s.push(':');
    }
    match (&c.name, &c.path) {
        (Some(n), _) => s.push_str(n),
        (None, Some(p)) => s.push_str(p),
        (None, None) => s.push('?'),
    }
    match (&c.previous_version, &c.version) {
        (Some(p), Some(v)) => s.push_str(&format!(" {p} → {v}")),
        (Some(p), None) => s.push_str(&format!(" {p} → none")),
        (None, Some(v)) => s.push_str(&format!(" {v}")),
        (None, None) => {}
    }
    if let (Some(p), Some(_)) = (&c.path, &c.name) {
        s.push_str(&format!(" at {p}"));
    }
    if let Some(h) = &c.sha256 {
        s.push_str(&format!(" sha256:{h}"));
    }
    s
}

/// The first [`CHANGES_SHOWN`] of a run's changes, one string each, and
/// the line saying how many more there were.
pub fn changes(row: &Row) -> (Vec<String>, Option<String>) {
    let shown: Vec<String> = row
        .swmon
        .changes
        .iter()
        .take(CHANGES_SHOWN)
        .map(change)
        .collect();
    let total = row.swmon.changes_total.max(row.swmon.changes.len() as u64);
    let more = total.saturating_sub(shown.len() as u64);
    let note = (more > 0).then(|| format!("and {more} more ({total} changes in all)"));
    (shown, note)
}

/// One mismatch: `other-version hello: asked 2.0, changed 1.9`.
pub fn mismatch(m: &Mismatch) -> String {
    let mut s = format!(
        "{} {}",
        m.kind.as_deref().unwrap_or("mismatch"),
        m.name.as_deref().unwrap_or("?")
    );
    match (&m.requested_version, &m.changed_version) {
        (Some(a), Some(c)) => s.push_str(&format!(": asked {a}, changed {c}")),
        (Some(a), None) => s.push_str(&format!(": asked {a}")),
        (None, Some(c)) => s.push_str(&format!(": changed {c}")),
        (None, None) => {}
    }
    s
}

/// A run's mismatches, the first [`CHANGES_SHOWN`] and how many more.
/// Empty when not known; `none` when swmon found none.
pub fn mismatches(row: &Row) -> (Vec<String>, Option<String>) {
    let Some(list) = &row.swmon.mismatches else {
        return (Vec::new(), None);
    };
    if list.is_empty() && row.swmon.mismatches_total == 0 {
        return (vec!["none".to_owned()], None);
    }
    let shown: Vec<String> = list.iter().take(CHANGES_SHOWN).map(mismatch).collect();
    let total = row.swmon.mismatches_total.max(list.len() as u64);
    let more = total.saturating_sub(shown.len() as u64);
    (shown, (more > 0).then(|| format!("and {more} more")))
}

/// Which witnesses saw a run: swmon's (`exec+audit+state`), then whether
/// pure auditd's log has it by key.
pub fn witnesses(row: &Row) -> String {
    let auditd = if row.auditd.recorded { "yes" } else { "no" };
    if !row.swmon.seen {
        // A row swmon did not see is an audit record's.
        return "auditd key only".to_owned();
    }
    let swmon = if row.swmon.detected_by.is_empty() {
        "swmon".to_owned()
    } else {
        row.swmon.detected_by.join("+")
    };
    format!("{swmon}; auditd key: {auditd}")
}

/// Longest command line shown for a writer's parent.
const PARENT_CMD_CHARS: usize = 160;

/// A parent of a state-only install's writer: `4388 bash: bash try.sh`.
pub fn ancestor(a: &AncestorRef) -> String {
    let mut s = a.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    if let Some(c) = a.comm.as_deref().or(a.executable.as_deref()) {
        s.push(' ');
        s.push_str(c);
    }
    let cmd = if a.args.is_empty() {
        a.executable.clone().unwrap_or_default()
    } else {
        command_line(&a.args)
    };
    if !cmd.is_empty() {
        let cut: String = cmd.chars().take(PARENT_CMD_CHARS).collect();
        s.push_str(": ");
        s.push_str(&cut);
        if cut.len() < cmd.len() {
            s.push('…');
        }
    }
    s
}

/// A row's place among installs: still running, nested in which run, the
/// root of how many, or a parent the input lacks.
pub fn notes(row: &Row, parent: Option<&Row>) -> String {
    let mut notes = Vec::new();
    if row.swmon.running {
        notes.push("still running (start event only)".to_owned());
    }
    if row.nested_in.is_some() {
        notes.push(match parent {
            Some(p) => format!(
                "nested in {} pid {}",
                p.manager.as_deref().unwrap_or("run"),
                p.pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
            ),
            None => "nested".to_owned(),
        });
    }
    if row.nested_runs > 0 {
        notes.push(format!("{} nested run(s) below", row.nested_runs));
    }
    if row.parent_missing {
        notes.push(format!(
            "parent run {} not in the input",
            row.swmon.parent_run_id.as_deref().unwrap_or("?")
        ));
    }
    notes.join("; ")
}

/// The installer runs as shown: each root in time order with its nested
/// runs right below it (with the run each is nested in); state-only
/// installs are left out, they have their own section.
pub fn display_order(r: &Report) -> Vec<(&Row, Option<&Row>)> {
    let key = |row: &Row, id: &str| (row.host.clone(), id.to_owned());
    let mut by_id: HashMap<(Option<String>, String), &Row> = HashMap::new();
    let mut nested: HashMap<(Option<String>, String), Vec<&Row>> = HashMap::new();
    for row in &r.runs {
        if let Some(id) = &row.swmon.run_id {
            by_id.entry(key(row, id)).or_insert(row);
        }
        if let Some(root) = &row.nested_in {
            nested.entry(key(row, root)).or_default().push(row);
        }
    }
    let mut out = Vec::with_capacity(r.runs.len());
    for row in &r.runs {
        if row.swmon.state_only || row.nested_in.is_some() {
            continue;
        }
        out.push((row, None));
        if let Some(id) = &row.swmon.run_id {
            for n in nested.get(&key(row, id)).into_iter().flatten() {
                let parent = n
                    .swmon
                    .parent_run_id
                    .as_ref()
                    .and_then(|p| by_id.get(&key(n, p)).copied());
                out.push((n, parent));
            }
        }
    }
    out
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
    let _ = writeln!(o, "| Installer runs (root installs) | {} | |", s.runs);
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
    let _ = writeln!(
        o,
        "| Nested runs (folded under their root install, not counted above) | {} | |",
        s.nested_runs
    );
    let _ = writeln!(
        o,
        "| Installs only the state witness saw (no installer ran; not counted above) | {} | |",
        s.state_only
    );
    if s.running > 0 {
        let _ = writeln!(
            o,
            "| Still running at the end of the input (counted above) | {} | |",
            s.running
        );
    }
    if s.parent_missing > 0 {
        let _ = writeln!(
            o,
            "| Nested runs whose parent run is not in the input (counted above as roots) | {} | |",
            s.parent_missing
        );
    }
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

    if s.by_host.len() > 1 {
        let _ = writeln!(
            o,
            "\n### By host\n\n| host | runs | recorded by auditd | auditd recall | seen by swmon | swmon recall |\n|---|---:|---:|---:|---:|---:|"
        );
        for h in &s.by_host {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                h.host
                    .as_deref()
                    .map_or_else(|| "(unnamed)".to_owned(), cell),
                h.runs,
                h.recorded_by_auditd,
                percent(h.auditd_recall),
                h.seen_by_swmon,
                percent(h.swmon_recall)
            );
        }
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
    let shown = display_order(r);
    if shown.is_empty() {
        let _ = writeln!(o, "No installer runs in the window.");
    } else {
        let _ = writeln!(
            o,
            "Nested runs (↳) are listed under their root install.\n\n| time | login user | user | manager | operation | packages | changes | mismatches | scope | via | verdict | witnesses | reason | auditd (serial) | pid | command | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---:|---|---|"
        );
        for (row, parent) in shown {
            let arrow = if row.nested_in.is_some() { "↳ " } else { "" };
            let _ = writeln!(
                o,
                "| {arrow}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                short_time(&row.time),
                cell(&user(row.login_user.as_ref())),
                cell(&user(row.user.as_ref())),
                opt(row.manager.as_deref()),
                opt(row.operation.as_deref()),
                cell(&packages(&row.packages)),
                list_cell(changes(row)),
                list_cell(mismatches(row)),
                opt(row.scope.as_deref()),
                opt(row.via.as_deref()),
                cell(&verdict(row)),
                cell(&witnesses(row)),
                opt(row.swmon.reason.as_deref()),
                auditd(row),
                row.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()),
                cell(&command_line(&row.args)),
                opt(Some(&notes(row, parent)).filter(|n| !n.is_empty()).map(String::as_str))
            );
        }
    }

    let _ = writeln!(o, "\n## Installs only the state witness saw\n");
    let only: Vec<&Row> = r.runs.iter().filter(|x| x.swmon.state_only).collect();
    if only.is_empty() {
        let _ = writeln!(
            o,
            "None: every install the state witness saw had an installer run."
        );
    } else {
        let _ = writeln!(
            o,
            "Package state changed with no installer run: the writer, who ran it, its parents (nearest first) and what changed.\n\n| time | login user | user | manager | changes | writer | pid | command | parents | verdict | auditd (serial) |\n|---|---|---|---|---|---|---:|---|---|---|---|"
        );
        for row in only {
            let parents: Vec<String> = row.swmon.ancestors.iter().map(ancestor).collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                short_time(&row.time),
                cell(&user(row.login_user.as_ref())),
                cell(&user(row.user.as_ref())),
                opt(row.manager.as_deref()),
                list_cell(changes(row)),
                opt(row.executable.as_deref()),
                row.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()),
                cell(&command_line(&row.args)),
                if parents.is_empty() {
                    "—".to_owned()
                } else {
                    parents
                        .iter()
                        .map(|p| cell(p))
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                cell(&verdict(row)),
                auditd(row),
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
