//! Tests of `swmon report` on a fleet's inputs: audit logs whose lines
//! carry `node=HOST` (a collector's log, serials repeating across hosts)
//! and events of several `host.name`s, grouped by host with each side's
//! recall per host; an event's records in `ausearch`'s order (SYSCALL
//! last); and the streaming of the audit log: a log far larger than what
//! the reader may hold is read with memory bounded by the runs it keeps.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    io::{BufReader, Read},
    path::PathBuf,
};

use super::*;

/// One keyed exec's records, as auditd writes them (SYSCALL first, no
/// EOE), with `node=` when `node` is given.
fn exec_event(
    node: Option<&str>,
    ms: u64,
    serial: u64,
    pid: u32,
    exe: &str,
    argv: &[&str],
) -> Vec<String> {
    let prefix = node.map(|n| format!("node={n} ")).unwrap_or_default();
    let stamp = format!("msg=audit({}.{:03}:{serial}):", ms / 1000, ms % 1000);
    let comm = exe.rsplit('/').next().unwrap_or(exe);
    let mut execve = format!("{prefix}type=EXECVE {stamp} argc={}", argv.len());
    for (i, a) in argv.iter().enumerate() {
        execve.push_str(&format!(" a{i}=\"{a}\""));
    }
    vec![
        format!(
            "{prefix}type=SYSCALL {stamp} arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 \
             a2=3 a3=4 items=1 ppid=1 pid={pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 \
             sgid=0 fsgid=0 tty=(none) ses=1 comm=\"{comm}\" exe=\"{exe}\" \
             key=\"software-installer\""
        ),
        execve,
        format!("{prefix}type=CWD {stamp} cwd=\"/root\""),
        format!(
            "{prefix}type=PATH {stamp} item=0 name=\"{exe}\" inode=1 dev=fe:01 mode=0100755 \
             ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 \
             cap_frootid=0"
        ),
    ]
}

/// 2026-11-26T08:11:38.722Z, as audit milliseconds.
const T0: u64 = 1_795_680_698_722;

fn event_line(
    host: &str,
    ms: u64,
    pid: u32,
    exe: &str,
    argv: &[&str],
    serial: Option<u64>,
) -> String {
    let t = format_time(i64::try_from(ms).unwrap() * 1000);
    let verdict = if serial.is_some() {
        "confirmed"
    } else {
        "ebpf_only"
    };
    serde_json::json!({
        "@timestamp": t,
        "event": {"action": "package-install"},
        "host": {"name": host},
        "process": {"pid": pid, "start": t, "executable": exe, "args": argv},
        "swmon": {"verdict": verdict, "audit": {"serial": serial}, "detected_by": ["exec"]},
    })
    .to_string()
        + "\n"
}

fn fleet(log: &str, events: &str) -> Report {
    let (ev, al) = (PathBuf::from("events.jsonl"), PathBuf::from("audit.log"));
    build_in_memory(
        &ReportOptions::new(vec![ev.clone()], vec![al.clone()]),
        &[(ev, events.as_bytes()), (al, log.as_bytes())],
    )
    .unwrap()
}

/// Interleaves the records of events: first records of each, then the
/// second ones, ... (two hosts logging at once).
fn interleave(events: &[Vec<String>]) -> String {
    let mut out = String::new();
    for i in 0..events.iter().map(Vec::len).max().unwrap_or(0) {
        for e in events {
            if let Some(l) = e.get(i) {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn runs_of_a_fleet_are_grouped_and_matched_by_host() {
    // web-1 and web-2 both have an event of serial 100, logged at once.
    let dpkg = ["dpkg", "-i", "a.deb"];
    let pip = ["pip3", "install", "b"];
    let apt = ["apt-get", "install", "c"];
    let log = interleave(&[
        exec_event(Some("web-1"), T0, 100, 10, "/usr/bin/dpkg", &dpkg),
        exec_event(Some("web-2"), T0, 100, 20, "/usr/bin/pip3", &pip),
    ]) + &exec_event(Some("web-1"), T0 + 500, 101, 11, "/usr/bin/apt-get", &apt)
        .join("\n")
        + "\n";
    let events = event_line("web-1", T0, 10, "/usr/bin/dpkg", &dpkg, Some(100))
        + &event_line("web-2", T0, 20, "/usr/bin/pip3", &pip, Some(100))
        + &event_line(
            "web-2",
            T0 + 900,
            21,
            "/usr/bin/npm",
            &["npm", "i", "d"],
            None,
        );
    let r = fleet(&log, &events);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(
        r.inputs[1].runs, 3,
        "three keyed execs, the two of serial 100 apart"
    );
    assert_eq!(r.summary.runs, 4);
    let by_host: Vec<_> = r
        .summary
        .by_host
        .iter()
        .map(|h| {
            (
                h.host.as_deref().unwrap(),
                h.runs,
                h.recorded_by_auditd,
                h.seen_by_swmon,
                h.auditd_recall,
                h.swmon_recall,
            )
        })
        .collect();
    assert_eq!(
        by_host,
        [
            ("web-1", 2, 2, 1, Some(1.0), Some(0.5)),
            ("web-2", 2, 1, 2, Some(0.5), Some(1.0)),
        ]
    );
    // Each host's run matched its own host's record of serial 100: the
    // argv of each is its own, and each record is used once.
    for (host, pid, argv) in [("web-1", 10, &dpkg[..]), ("web-2", 20, &pip[..])] {
        let row = r
            .runs
            .iter()
            .find(|x| x.host.as_deref() == Some(host) && x.pid == Some(pid))
            .unwrap();
        assert!(row.swmon.seen && row.auditd.recorded, "{host}");
        assert_eq!(row.auditd.matched_by, Some("serial"), "{host}");
        assert_eq!(row.args, argv, "{host}");
    }
    let md = render(&r, ReportFormat::Md).unwrap();
    assert!(
        md.contains("| web-1 | 2 | 2 | 100.0% | 1 | 50.0% |"),
        "{md}"
    );
    assert!(
        md.contains("| web-2 | 2 | 1 | 50.0% | 2 | 100.0% |"),
        "{md}"
    );
    let html = render(&r, ReportFormat::Html).unwrap();
    assert!(html.contains(r#"<table id="by-host">"#));
    // Written as it is made, every format is the same bytes.
    for format in [ReportFormat::Json, ReportFormat::Md, ReportFormat::Html] {
        let mut out = Vec::new();
        render_to(&r, format, &mut out).unwrap();
        assert_eq!(out, render(&r, format).unwrap().into_bytes(), "{format:?}");
    }
}

#[test]
fn a_run_is_not_matched_to_another_hosts_record() {
    // Same serial, pid and executable on two hosts; only web-2's log is
    // given, and the event is web-1's: no match.
    let dpkg = ["dpkg", "-i", "a.deb"];
    let log = exec_event(Some("web-2"), T0, 100, 10, "/usr/bin/dpkg", &dpkg).join("\n") + "\n";
    let events = event_line("web-1", T0, 10, "/usr/bin/dpkg", &dpkg, Some(100));
    let r = fleet(&log, &events);
    assert_eq!(r.summary.runs, 2);
    assert_eq!(r.summary.recorded_by_auditd, 1);
    assert_eq!(r.summary.seen_by_swmon, 1);
    // A log without node= (one host's own) still matches any host's events.
    let log = exec_event(None, T0, 100, 10, "/usr/bin/dpkg", &dpkg).join("\n") + "\n";
    let r = fleet(&log, &events);
    assert_eq!(r.summary.runs, 1);
    assert_eq!(r.summary.by_host.len(), 1);
    // One host: no per-host table.
    assert!(!render(&r, ReportFormat::Md)
        .unwrap()
        .contains("### By host"));
}

#[test]
fn records_before_their_syscall_record_are_kept_for_it() {
    // ausearch prints an event's records SYSCALL last.
    let pip = ["pip3", "install", "b"];
    let mut e = exec_event(Some("web-1"), T0, 7, 20, "/usr/bin/pip3", &pip);
    e.reverse();
    let unkeyed: Vec<String> = exec_event(Some("web-1"), T0, 8, 21, "/usr/bin/ls", &["ls"])
        .into_iter()
        .rev()
        .map(|l| l.replace("software-installer", "other"))
        .collect();
    let log = format!("----\n{}\n----\n{}\n", e.join("\n"), unkeyed.join("\n"));
    let r = fleet(&log, "");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.summary.runs, 1);
    assert_eq!(r.runs[0].args, pip);
    assert_eq!(r.runs[0].executable.as_deref(), Some("/usr/bin/pip3"));
}

// The heap this thread holds, for the streaming test: a counting
// allocator over the system one, per thread so that tests running at
// once on other threads do not count.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // try_with: the thread's locals may be gone while it exits.
    let _ = LIVE.try_with(|l| {
        let now = l.get() + delta;
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An audit log made as it is read: `events` events of two hosts, one in
/// `keyed_every` a keyed exec, the rest file syscalls under another key
/// with their records; never held whole.
struct Generated {
    next: u64,
    events: u64,
    keyed_every: u64,
    buf: Vec<u8>,
    pos: usize,
    made: u64,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.next == self.events {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            self.buf.clear();
            self.pos = 0;
            let node = if i.is_multiple_of(2) {
                "web-1"
            } else {
                "web-2"
            };
            let serial = 1000 + i / 2;
            let ms = T0 + i;
            let mut lines = exec_event(
                Some(node),
                ms,
                serial,
                100 + (i % 30_000) as u32,
                "/usr/bin/dpkg",
                &["dpkg", "-i", "x.deb"],
            );
            if !i.is_multiple_of(self.keyed_every) {
                for l in &mut lines {
                    *l = l
                        .replace("software-installer", "data-watch")
                        .replace("syscall=59", "syscall=257");
                }
            }
            for l in lines {
                self.buf.extend_from_slice(l.as_bytes());
                self.buf.push(b'\n');
            }
            self.made += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn a_log_larger_than_what_is_held_is_streamed() {
    let events = 100_000;
    let keyed_every = 500;
    let mut reader = BufReader::with_capacity(
        1 << 16,
        Generated {
            next: 0,
            events,
            keyed_every,
            buf: Vec::new(),
            pos: 0,
            made: 0,
        },
    );
    let mut warnings = input::Warnings::default();
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let file = input::read_audit_log(
        &mut reader,
        std::path::Path::new("big.log"),
        "big.log",
        DEFAULT_KEY,
        &mut warnings,
    )
    .unwrap();
    let peak = PEAK.with(Cell::get) - before;
    let made = reader.get_ref().made;
    assert_eq!(file.lines, events * 4);
    assert_eq!(file.runs.len() as u64, events / keyed_every);
    assert!(warnings.list.is_empty(), "{:?}", warnings.list);
    assert!(made > 50_000_000, "the log is {made} bytes");
    // What is held: the reader's buffer, the last decisions, the runs; a
    // fraction of the log, which would need every byte of it if kept.
    assert!(
        peak < 8 << 20,
        "peak heap {peak} bytes while reading {made} bytes"
    );
}
