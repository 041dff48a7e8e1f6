//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium`) loads it, draws it, runs its script, and neither asks the
//! network for anything nor logs a console error.
//!
//! This is a report test, not a kernel test, so it runs with
//! `cargo test -p swmon`. It needs the `chromium` binary: when missing, the
//! test installs it with `apt-get install -y chromium` (idempotent), and
//! fails with the reason if that is impossible; it never skips. The
//! screenshot is left at `$TMPDIR/swmon-report-tests-PID/chromium/report.png`
//! for a person to look at.

use std::{
    fs,
    path::Path,
    process::{Command, Output},
};

use super::{render, tests, ReportFormat};

const CHROMIUM: &str = "chromium";

fn chromium_present() -> bool {
    Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Finds chromium, installing it once if it is missing.
fn ensure_chromium() {
    if chromium_present() {
        return;
    }
    let out = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    match out {
        Ok(o) if o.status.success() && chromium_present() => {}
        Ok(o) => panic!(
            "the HTML rendering test needs `chromium`, and `apt-get install -y chromium` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "the HTML rendering test needs `chromium`; it is not installed and apt-get could not run: {e}"
        ),
    }
}

/// Runs headless chromium on `page` with `extra` arguments, with a deadline.
fn chromium(dir: &Path, page: &Path, extra: &[String]) -> Output {
    let profile = dir.join(format!("profile-{}", extra.len()));
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()));
    let out = cmd.output().expect("can't run chromium under timeout");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Resource references in the page that would reach outside it.
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for needle in [
        "http://", "https://", "src=", "href=", "url(", "@import", "//",
    ] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(needle) {
            let at = from + i;
            let context = &lower[at.saturating_sub(20)..(at + 40).min(lower.len())];
            found.push(format!("{needle} in …{context}…"));
            from = at + needle.len();
        }
    }
    found
}

#[test]
fn html_report_renders_in_headless_chromium() {
    ensure_chromium();
    let dir = tests::scratch("chromium");
    let html = render(&tests::mixed(), ReportFormat::Html).unwrap();
    // The hostile strings in the inputs (`<img src=x ...>`) are text,
    // escaped; only escaped copies may mention `src=`.
    let refs: Vec<String> = external_references(&html)
        .into_iter()
        .filter(|r| !r.contains("&lt;img src=x"))
        .collect();
    assert!(refs.is_empty(), "the page refers outside itself: {refs:#?}");

    let page = dir.join("report.html");
    fs::write(&page, &html).unwrap();

    // 1. The DOM after load: the chart, every run row, and the mark the
    //    script sets once it ran (so the CSP let our script through).
    let dom = chromium(
        &dir,
        &page,
        &[
            "--dump-dom".to_owned(),
            "--virtual-time-budget=5000".to_owned(),
        ],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("<svg id=\"timeline\""), "no chart in the DOM");
    assert_eq!(
        dom.matches("<circle class=\"dot").count(),
        11,
        "one dot per run"
    );
    assert_eq!(
        dom.matches("<tr class=\"run\"").count(),
        11,
        "one row per run"
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script did not run"
    );
    assert!(!dom.contains("<img"), "an injected tag reached the DOM");

    // 2. A screenshot, with the network log and the console on stderr.
    let png = dir.join("report.png");
    let netlog = dir.join("netlog.json");
    let shot = chromium(
        &dir,
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_owned(),
            "--enable-logging=stderr".to_owned(),
            "--v=0".to_owned(),
            format!("--log-net-log={}", netlog.display()),
        ],
    );
    let bytes = fs::read(&png).expect("chromium wrote no screenshot");
    assert!(
        bytes.len() > 20_000,
        "screenshot is nearly empty: {} bytes",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG");

    let stderr = String::from_utf8_lossy(&shot.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        !stderr.contains("Content Security Policy"),
        "CSP refused something: {stderr}"
    );

    // The network log lists every URL request. Chromium's own background
    // requests (its updater, account check) come from the browser, with no
    // origin; anything the page asked for would carry the page's origin.
    let log = fs::read_to_string(&netlog).expect("chromium wrote no net log");
    let from_page = page_requests(&log);
    assert!(
        from_page.is_empty(),
        "the page made requests: {from_page:#?}"
    );
}

/// URLs of requests a page started (`URL_REQUEST_START_JOB` with an
/// initiator), as opposed to the browser's own.
fn page_requests(log: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(log).expect("net log is not JSON");
    let start_job = v["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].as_u64();
    assert!(start_job.is_some(), "net log without URL_REQUEST_START_JOB");
    v["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"].as_u64() == start_job && e["params"]["url"].is_string())
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .map(|e| {
            format!(
                "{} (initiator {})",
                e["params"]["url"], e["params"]["initiator"]
            )
        })
        .collect()
}
