//! The HTML rendering: one self-contained file for people, with a timeline
//! of runs coloured by verdict (coverage gaps shaded), the summary, and a
//! sortable table of runs.
//!
//! Self-contained means no network and nothing external: inline CSS, inline
//! SVG, a system font stack, and one small inline script (table sorting),
//! pinned by its hash in a Content-Security-Policy that forbids everything
//! else, so even a string that escaped escaping could not load or run
//! anything. Every untrusted string goes through [`esc`]: control characters
//! become visible escapes and `& < > " '` become entities; CSS classes come
//! from a fixed list, never from input.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use super::{
    input::parse_time,
    markdown::{
        ancestor, auditd, changes, command_line, display_order, duration, mismatches, notes,
        packages, percent, short_time, user, verdict, witnesses,
    },
    model::{Report, Row},
};
use crate::sink::terminal_safe;

/// Escapes an untrusted string for HTML text and quoted attribute values.
pub fn esc(s: &str) -> String {
    let safe = terminal_safe(s);
    let mut out = String::with_capacity(safe.len() + 16);
    for c in safe.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The verdict lanes of the timeline, top to bottom: (label, CSS class).
const LANES: &[(&str, &str)] = &[
    ("confirmed", "confirmed"),
    ("ebpf_only", "ebpf-only"),
    ("audit_only", "audit-only"),
    ("not seen by swmon", "unseen"),
    ("state witness only", "state"),
    ("other verdict", "other"),
];

/// The lane (index into [`LANES`]) of a row.
fn lane(r: &Row) -> usize {
    if r.swmon.state_only {
        return 4;
    }
    match (r.swmon.seen, r.swmon.verdict.as_deref()) {
        (false, _) => 3,
        (true, Some("confirmed")) => 0,
        (true, Some("ebpf_only")) => 1,
        (true, Some("audit_only")) => 2,
        _ => 5,
    }
}

fn gap_class(kind: &str) -> &'static str {
    match kind {
        "audit-records-lost" | "ebpf-events-lost" => "loss",
        "monitor-down" => "down",
        _ => "span",
    }
}

const STYLE: &str = r#"
:root { --confirmed:#2e7d32; --ebpf-only:#c62828; --audit-only:#ef8f00; --unseen:#6a1b9a; --state:#1565c0; --other:#757575; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 24px; color: #1d1d1f; background: #fff; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #555; margin: 2px 0; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; min-width: 170px; }
.card .n { font-size: 26px; font-weight: 600; }
.card .l { color: #555; }
.grid { display: flex; gap: 28px; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ddd; padding: 4px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
td.num, th.num { text-align: right; }
#runs th { cursor: pointer; user-select: none; white-space: nowrap; }
#runs th[aria-sort="ascending"]::after { content: " \25B2"; }
#runs th[aria-sort="descending"]::after { content: " \25BC"; }
#runs td.cmd { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; min-width: 16em; }
td.nw { white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
#runs td.wrap { overflow-wrap: anywhere; min-width: 6em; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; color: #fff; font-size: 12px; white-space: nowrap; }
.confirmed { background: var(--confirmed); } .ebpf-only { background: var(--ebpf-only); }
.audit-only { background: var(--audit-only); } .unseen { background: var(--unseen); } .state { background: var(--state); } .other { background: var(--other); }
tr.nested td:first-child { padding-left: 18px; } tr.nested { background: #fafafc; }
td.list { font-size: 12px; overflow-wrap: anywhere; min-width: 18em; }
.legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 6px; vertical-align: -1px; margin-right: 4px; }
.legend i.gap { border-radius: 0; background: #f3c6c6; } .legend i.down { border-radius: 0; background: #d9d9d9; }
.legend i.loss { border-radius: 0; width: 3px; background: #b71c1c; }
svg text { font-size: 11px; fill: #444; }
svg .lane-label { font-size: 12px; fill: #222; }
svg .dot.confirmed { fill: var(--confirmed); } svg .dot.ebpf-only { fill: var(--ebpf-only); }
svg .dot.audit-only { fill: var(--audit-only); } svg .dot.unseen { fill: var(--unseen); } svg .dot.state { fill: var(--state); } svg .dot.other { fill: var(--other); }
svg .dot { stroke: #fff; stroke-width: 1.5; }
svg .span { fill: #f3c6c6; fill-opacity: .7; } svg .down { fill: #d9d9d9; fill-opacity: .7; }
svg .loss { stroke: #b71c1c; stroke-width: 2; stroke-dasharray: 4 3; }
svg .axis { stroke: #999; } svg .lane { stroke: #eee; }
.no { color: #c62828; font-weight: 600; } .yes { color: #2e7d32; }
.warnings li { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
"#;

/// Sorts the runs table by a clicked column; marks the page ready so a
/// headless browser can tell the script ran.
const SCRIPT: &str = r#"
(function () {
  var table = document.getElementById("runs");
  if (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var num = th.classList.contains("num");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-sort") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-sort") || b.cells[col].textContent;
          var c = num ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"#;

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The Content-Security-Policy: nothing from anywhere, inline styles, and
/// only our own script, by hash.
fn csp() -> String {
    let hash = base64(&Sha256::digest(SCRIPT.as_bytes()));
    format!("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; img-src data:; base-uri 'none'; form-action 'none'")
}

const CHART_W: f64 = 1200.0;
const LEFT: f64 = 140.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 10.0;
const LANE_H: f64 = 34.0;
const AXIS_H: f64 = 34.0;

fn timeline(o: &mut String, r: &Report) {
    let rows: Vec<(i64, &Row)> = r
        .runs
        .iter()
        .filter_map(|row| Some((parse_time(&row.time)?, row)))
        .collect();
    let gaps: Vec<(i64, i64, &super::model::Gap)> = r
        .gaps
        .iter()
        .filter_map(|g| Some((parse_time(&g.start)?, parse_time(&g.end)?, g)))
        .collect();
    let times = rows
        .iter()
        .map(|(t, _)| (*t, *t))
        .chain(gaps.iter().map(|(s, e, _)| (*s, *e)));
    let Some((lo, hi)) = times.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))) else {
        let _ = writeln!(o, "<p>Nothing to draw: no runs and no gaps.</p>");
        return;
    };
    let pad = ((hi - lo) / 20).max(1_000_000);
    let (lo, hi) = (lo - pad, hi + pad);
    // The four main lanes always; the state and other lanes when used.
    let shown: Vec<usize> = (0..LANES.len())
        .filter(|&l| l < 4 || rows.iter().any(|(_, row)| lane(row) == l))
        .collect();
    let slot = |l: usize| shown.iter().position(|&x| x == l).unwrap_or(0);
    let lanes = shown.len();
    let plot_h = LANE_H * lanes as f64;
    let height = TOP + plot_h + AXIS_H;
    let x = |t: i64| LEFT + (t - lo) as f64 / (hi - lo) as f64 * (CHART_W - LEFT - RIGHT);
    let _ = writeln!(
        o,
        r#"<svg id="timeline" role="img" aria-label="Installer runs over time, by verdict" width="{CHART_W}" height="{height}" viewBox="0 0 {CHART_W} {height}">"#
    );
    for (s, e, g) in &gaps {
        let title = format!(
            "{} {} to {}{}",
            g.kind,
            short_time(&g.start),
            short_time(&g.end),
            g.lost.map(|n| format!(", {n} lost")).unwrap_or_default()
        );
        match gap_class(&g.kind) {
            "loss" => {
                let _ = writeln!(
                    o,
                    r#"<line class="loss" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{y2:.1}"><title>{t}</title></line>"#,
                    x = x(*s),
                    y2 = TOP + plot_h,
                    t = esc(&title)
                );
            }
            class => {
                let w = (x(*e) - x(*s)).max(2.0);
                let _ = writeln!(
                    o,
                    r#"<rect class="{class}" x="{x:.1}" y="{TOP}" width="{w:.1}" height="{plot_h:.1}"><title>{t}</title></rect>"#,
                    x = x(*s),
                    t = esc(&title)
                );
            }
        }
    }
    for (i, (label, _)) in shown.iter().map(|&l| LANES[l]).enumerate() {
        let y = TOP + LANE_H * (i as f64 + 0.5);
        let _ = writeln!(
            o,
            r#"<line class="lane" x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}"/><text class="lane-label" x="{lx:.1}" y="{ty:.1}" text-anchor="end">{label}</text>"#,
            x2 = CHART_W - RIGHT,
            lx = LEFT - 10.0,
            ty = y + 4.0
        );
    }
    let axis_y = TOP + plot_h;
    let _ = writeln!(
        o,
        r#"<line class="axis" x1="{LEFT}" y1="{axis_y:.1}" x2="{x2:.1}" y2="{axis_y:.1}"/>"#,
        x2 = CHART_W - RIGHT
    );
    for k in 0..=5 {
        let t = lo + (hi - lo) * k / 5;
        let label = super::input::format_time(t);
        let (date, clock) = (
            label.get(..10).unwrap_or(""),
            label.get(11..23).unwrap_or(""),
        );
        let anchor = match k {
            0 => "start",
            5 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            o,
            r#"<line class="axis" x1="{x:.1}" y1="{axis_y:.1}" x2="{x:.1}" y2="{y2:.1}"/><text x="{x:.1}" y="{ty:.1}" text-anchor="{anchor}">{clock}</text><text x="{x:.1}" y="{ty2:.1}" text-anchor="{anchor}">{date}</text>"#,
            x = x(t),
            y2 = axis_y + 5.0,
            ty = axis_y + 17.0,
            ty2 = axis_y + 30.0,
        );
    }
    for (t, row) in &rows {
        let l = lane(row);
        let title = format!(
            "{} {} {} {} [{}] pid {}: {}",
            short_time(&row.time),
            row.manager.as_deref().unwrap_or("?"),
            row.operation.as_deref().unwrap_or("?"),
            packages(&row.packages),
            verdict(row),
            row.pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            command_line(&row.args)
        );
        let _ = writeln!(
            o,
            r#"<circle class="dot {class}" cx="{x:.1}" cy="{y:.1}" r="6"><title>{t}</title></circle>"#,
            class = LANES[l].1,
            x = x(*t),
            y = TOP + LANE_H * (slot(l) as f64 + 0.5),
            t = esc(&title)
        );
    }
    let _ = writeln!(o, "</svg>");
    let _ = writeln!(
        o,
        r#"<p class="legend"><span><i class="confirmed"></i>confirmed: swmon and the audit trail saw it</span><span><i class="ebpf-only"></i>ebpf_only: slipped past the audit trail</span><span><i class="audit-only"></i>audit_only: the kernel stream missed it</span><span><i class="unseen"></i>only in auditd's log</span><span><i class="state"></i>state witness only: no installer ran</span><span><i class="gap"></i>audit gap</span><span><i class="down"></i>swmon not running</span><span><i class="loss"></i>records lost</span></p>"#
    );
}

fn opt(s: Option<&str>) -> String {
    s.map_or_else(|| "—".to_owned(), esc)
}

/// A list in one cell: items escaped, one per line, then the "more" line.
fn list((items, more): (Vec<String>, Option<String>)) -> String {
    if items.is_empty() && more.is_none() {
        return "—".to_owned();
    }
    let mut parts: Vec<String> = items.iter().map(|i| esc(i)).collect();
    parts.extend(more.map(|m| format!("<i>{}</i>", esc(&m))));
    parts.join("<br>")
}

pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut o = String::with_capacity(16 * 1024 + r.runs.len() * 600);
    let _ = writeln!(
        o,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>swmon report: pure auditd against swmon</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Software installs: pure auditd against swmon</h1>"#,
        csp = csp()
    );
    let window = match (&r.window.since, &r.window.until) {
        (None, None) => "all".to_owned(),
        (since, until) => format!(
            "{} to {}",
            esc(since.as_deref().unwrap_or("start")),
            esc(until.as_deref().unwrap_or("end"))
        ),
    };
    let _ = writeln!(
        o,
        r#"<p class="meta">Audit key: <b>{}</b> · window: {window}{}</p>"#,
        esc(&r.key),
        r.span
            .as_ref()
            .map(|sp| format!(" · covered: {} to {}", esc(&sp.start), esc(&sp.end)))
            .unwrap_or_default()
    );
    for i in &r.inputs {
        let _ = writeln!(
            o,
            r#"<p class="meta">{}: {} ({} lines, {} runs, {} states, {} duplicates, {} warnings)</p>"#,
            esc(i.kind),
            esc(&i.path),
            i.lines,
            i.runs,
            i.states,
            i.duplicates,
            i.warnings
        );
    }

    let gap_total = r
        .gaps
        .iter()
        .filter(|g| g.kind != "monitor-down")
        .fold(0.0, |sum, g| sum + g.seconds);
    let _ = writeln!(
        o,
        r#"<div class="cards">
<div class="card"><div class="n">{runs}</div><div class="l">installer runs (root installs{running})</div></div>
<div class="card"><div class="n">{ar}</div><div class="l">pure auditd recall ({rec} of {runs})</div></div>
<div class="card"><div class="n">{sr}</div><div class="l">swmon recall ({seen} of {runs})</div></div>
<div class="card"><div class="n">{slip}</div><div class="l">runs slipped past auditd</div></div>
<div class="card"><div class="n">{state_only}</div><div class="l">installs only the state witness saw</div></div>
<div class="card"><div class="n">{nested}</div><div class="l">nested runs (folded, not counted)</div></div>
<div class="card"><div class="n">{ngaps}</div><div class="l">coverage gaps ({gd} audit gap time)</div></div>
</div>"#,
        runs = s.runs,
        running = if s.running > 0 {
            format!(", {} still running", s.running)
        } else {
            String::new()
        },
        ar = percent(s.auditd_recall),
        rec = s.recorded_by_auditd,
        sr = percent(s.swmon_recall),
        seen = s.seen_by_swmon,
        slip = s.runs - s.recorded_by_auditd,
        ngaps = r.gaps.len(),
        state_only = s.state_only,
        nested = s.nested_runs,
        gd = duration(gap_total)
    );

    let _ = writeln!(o, "<h2>Timeline</h2>");
    timeline(&mut o, r);

    let _ = writeln!(o, r#"<h2>Summary</h2><div class="grid">"#);
    let _ = writeln!(
        o,
        r#"<div><h3>By verdict</h3><table id="by-verdict"><tr><th>verdict</th><th class="num">runs</th></tr>"#
    );
    for c in &s.by_verdict {
        let class = match c.name.as_str() {
            "confirmed" => "confirmed",
            "ebpf_only" => "ebpf-only",
            "audit_only" => "audit-only",
            "not_seen_by_swmon" => "unseen",
            _ => "other",
        };
        let _ = writeln!(
            o,
            r#"<tr><td><span class="badge {class}">{}</span></td><td class="num">{}</td></tr>"#,
            esc(&c.name),
            c.runs
        );
    }
    let _ = writeln!(o, "</table></div>");
    let _ = writeln!(
        o,
        r#"<div><h3>By manager</h3><table id="by-manager"><tr><th>manager</th><th class="num">runs</th><th class="num">seen by swmon</th><th class="num">recorded by auditd</th></tr>"#
    );
    for m in &s.by_manager {
        let _ = writeln!(
            o,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&m.manager),
            m.runs,
            m.seen_by_swmon,
            m.recorded_by_auditd
        );
    }
    let _ = writeln!(o, "</table></div>");
    if s.by_host.len() > 1 {
        let _ = writeln!(
            o,
            r#"<div><h3>By host</h3><table id="by-host"><tr><th>host</th><th class="num">runs</th><th class="num">recorded by auditd</th><th class="num">auditd recall</th><th class="num">seen by swmon</th><th class="num">swmon recall</th></tr>"#
        );
        for h in &s.by_host {
            let _ = writeln!(
                o,
                r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                h.host
                    .as_deref()
                    .map_or_else(|| "(unnamed)".to_owned(), esc),
                h.runs,
                h.recorded_by_auditd,
                percent(h.auditd_recall),
                h.seen_by_swmon,
                percent(h.swmon_recall)
            );
        }
        let _ = writeln!(o, "</table></div>");
    }
    let _ = writeln!(o, r#"<div><h3>Slipped past auditd</h3>"#);
    if s.slipped_past_auditd.is_empty() {
        let _ = writeln!(o, "<p>None: pure auditd recorded every run.</p>");
    } else {
        let _ = writeln!(
            o,
            r#"<table id="slipped"><tr><th>via</th><th>reason</th><th class="num">runs</th><th>managers</th></tr>"#
        );
        for x in &s.slipped_past_auditd {
            let _ = writeln!(
                o,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                opt(x.via.as_deref()),
                opt(x.reason.as_deref()),
                x.runs,
                esc(&x.managers.join(", "))
            );
        }
        let _ = writeln!(o, "</table>");
    }
    let _ = writeln!(o, "</div></div>");
    if s.verdict_disagreements > 0 {
        let _ = writeln!(
            o,
            "<p><b>{}</b> run(s) swmon called ebpf_only are in the audit log by key.</p>",
            s.verdict_disagreements
        );
    }

    let _ = writeln!(o, "<h3>Coverage gaps</h3>");
    if r.gaps.is_empty() {
        let _ = writeln!(o, "<p>None reported by swmon.</p>");
    } else {
        let _ = writeln!(
            o,
            r#"<table id="gaps"><tr><th>kind</th><th>host</th><th>from</th><th>to</th><th class="num">duration</th><th>ended by</th><th class="num">lost</th><th>source</th></tr>"#
        );
        for g in &r.gaps {
            let _ = writeln!(
                o,
                r#"<tr><td class="nw">{}</td><td>{}</td><td class="nw">{}</td><td class="nw">{}</td><td class="num">{}</td><td>{}</td><td class="num">{}</td><td>{}</td></tr>"#,
                esc(&g.kind),
                opt(g.host.as_deref()),
                esc(&short_time(&g.start)),
                esc(&short_time(&g.end)),
                duration(g.seconds),
                match (&g.ended_by, g.open) {
                    (Some(b), _) => esc(b),
                    (None, true) => "end of input".to_owned(),
                    (None, false) => "—".to_owned(),
                },
                g.lost.map_or_else(|| "—".to_owned(), |n| n.to_string()),
                esc(&g.source)
            );
        }
        let _ = writeln!(o, "</table>");
    }

    let _ = writeln!(o, "<h2>Runs</h2>");
    let _ = writeln!(
        o,
        r#"<p class="meta">Nested runs (↳) are listed under their root install.</p><div class="scroll"><table id="runs"><thead><tr><th>time</th><th>login user</th><th>user</th><th>manager</th><th>operation</th><th>packages</th><th>changes</th><th>mismatches</th><th>scope</th><th>via</th><th>verdict</th><th>witnesses</th><th>reason</th><th>auditd (serial)</th><th class="num">pid</th><th>command</th><th>notes</th></tr></thead><tbody>"#
    );
    for (row, parent) in display_order(r) {
        let class = LANES[lane(row)].1;
        let recorded = if row.auditd.recorded { "yes" } else { "no" };
        let (tr, arrow) = if row.nested_in.is_some() {
            ("run nested", "↳ ")
        } else {
            ("run", "")
        };
        let _ = writeln!(
            o,
            r#"<tr class="{tr}"><td data-sort="{t}">{arrow}{st}</td><td class="wrap">{lu}</td><td class="wrap">{u}</td><td class="nw">{m}</td><td class="nw">{op}</td><td class="wrap">{p}</td><td class="list">{ch}</td><td class="list">{mm}</td><td class="wrap">{sc}</td><td>{via}</td><td class="nw"><span class="badge {class}">{v}</span></td><td class="nw">{w}</td><td>{rs}</td><td class="nw {recorded}">{a}</td><td class="num nw">{pid}</td><td class="cmd wrap">{cmd}</td><td class="wrap">{nt}</td></tr>"#,
            t = esc(&row.time),
            st = esc(&short_time(&row.time).replacen('T', " ", 1)),
            lu = esc(&user(row.login_user.as_ref())),
            u = esc(&user(row.user.as_ref())),
            m = opt(row.manager.as_deref()),
            op = opt(row.operation.as_deref()),
            p = esc(&packages(&row.packages)),
            ch = list(changes(row)),
            mm = list(mismatches(row)),
            sc = opt(row.scope.as_deref()),
            via = opt(row.via.as_deref()),
            v = esc(&verdict(row)),
            w = esc(&witnesses(row)),
            rs = opt(row.swmon.reason.as_deref()),
            a = esc(&auditd(row)),
            pid = row.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()),
            cmd = esc(&command_line(&row.args)),
            nt = opt(Some(&notes(row, parent))
                .filter(|n| !n.is_empty())
                .map(String::as_str)),
        );
    }
    let _ = writeln!(o, "</tbody></table></div>");

    let _ = writeln!(o, "<h2>Installs only the state witness saw</h2>");
    let only: Vec<&Row> = r.runs.iter().filter(|x| x.swmon.state_only).collect();
    if only.is_empty() {
        let _ = writeln!(
            o,
            "<p>None: every install the state witness saw had an installer run.</p>"
        );
    } else {
        let _ = writeln!(
            o,
            r#"<p class="meta">Package state changed with no installer run: the writer, who ran it, its parents (nearest first) and what changed.</p><div class="scroll"><table id="state-only"><thead><tr><th>time</th><th>login user</th><th>user</th><th>manager</th><th>changes</th><th>writer</th><th class="num">pid</th><th>command</th><th>parents</th><th>verdict</th><th>auditd (serial)</th></tr></thead><tbody>"#
        );
        for row in only {
            let parents: Vec<String> = row.swmon.ancestors.iter().map(ancestor).collect();
            let _ = writeln!(
                o,
                r#"<tr class="state-only"><td class="nw">{st}</td><td class="wrap">{lu}</td><td class="wrap">{u}</td><td class="nw">{m}</td><td class="list">{ch}</td><td class="wrap">{exe}</td><td class="num nw">{pid}</td><td class="cmd wrap">{cmd}</td><td class="list">{par}</td><td class="nw">{v}</td><td class="nw">{a}</td></tr>"#,
                st = esc(&short_time(&row.time).replacen('T', " ", 1)),
                lu = esc(&user(row.login_user.as_ref())),
                u = esc(&user(row.user.as_ref())),
                m = opt(row.manager.as_deref()),
                ch = list(changes(row)),
                exe = opt(row.executable.as_deref()),
                pid = row.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()),
                cmd = esc(&command_line(&row.args)),
                par = list((parents, None)),
                v = esc(&verdict(row)),
                a = esc(&auditd(row)),
            );
        }
        let _ = writeln!(o, "</tbody></table></div>");
    }

    if !r.warnings.is_empty() || r.warnings_suppressed > 0 {
        let _ = writeln!(o, r#"<h2>Warnings</h2><ul class="warnings">"#);
        for w in &r.warnings {
            let _ = writeln!(o, "<li>{}</li>", esc(&w.to_string()));
        }
        if r.warnings_suppressed > 0 {
            let _ = writeln!(o, "<li>and {} more not listed</li>", r.warnings_suppressed);
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "<script>{SCRIPT}</script>\n</body>\n</html>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
