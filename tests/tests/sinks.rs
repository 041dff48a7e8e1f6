//! The shipping sinks (`swmon run --sink`) against the real receivers:
//!
//! - a private rsyslogd (its own config, pid file and work folder; imtcp
//!   on a free loopback port, imuxsock on a private socket, each writing
//!   the messages it gets, as they came, to its own file) receives every
//!   event swmon wrote to its `--output` file, through both syslog sinks,
//!   byte for byte; rsyslogd is started only after swmon, so the sinks
//!   first queue and retry, then connect and send their backlog;
//! - a private journald (a journal namespace instance, `systemd-journald
//!   NAMESPACE`, in its own user and mount namespaces whose `/run` and
//!   `/var/log` are folders of the test, so no host state is touched: not
//!   the audit flag journald would set) receives every
//!   event with swmon's fields, read back with `journalctl --directory`;
//!   an entry larger than a datagram goes through a sealed memfd.
//!
//! Each test ends only the receiver it started, by its pid.

use std::{
    collections::BTreeMap,
    fs,
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{action, build_deb, counters, run, wait_within, Monitor, TempDir};

/// How long a receiver may take to start, and to write what it got.
const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `ready` holds, at most [`DEADLINE`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !ready() {
        assert!(Instant::now() < end, "{what}: not within {DEADLINE:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Complete lines of a file (one being written has no newline yet).
fn lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete.lines().map(str::to_owned).collect()
}

/// A private rsyslogd, ended by its pid when dropped.
struct Rsyslog {
    child: Option<Child>,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Rsyslog {
        let work = dir.join("work");
        fs::create_dir_all(&work).expect("work dir");
        let d = dir.display();
        // The message as it came (`%msg%`): no control character escaped,
        // room for swmon's longest line, no /dev/log of the host.
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="128k"
       parser.escapeControlCharactersOnReceive="off")
module(load="imuxsock" SysSock.Use="off")
module(load="imtcp")
template(name="asis" type="string" string="%msg%\n")
ruleset(name="unix") {{ action(type="omfile" file="{d}/unix.log" template="asis") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="asis") }}
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ruleset="unix")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="tcp")
"#
        );
        fs::write(dir.join("rsyslog.conf"), conf).expect("conf");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd (apt-get install rsyslog)");
        let mut r = Rsyslog { child: Some(child) };
        wait_until("rsyslogd listening", || {
            if let Some(status) = r.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("rsyslogd exited: {status}");
            }
            dir.join("log.sock").exists() && TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    /// Ends rsyslogd (SIGTERM, by its pid) and waits for it: what it
    /// wrote is complete.
    fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        // SAFETY: a signal to the child we started, by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_within(&mut child, DEADLINE, "rsyslogd after SIGTERM");
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port free now (rsyslogd binds it later).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// One installer exec `i` of the run: every tenth a real `dpkg -i` of a
/// small local package (and five later its `dpkg -r`), the others `dpkg
/// -s dpkg` (a query; each still an installer run swmon reports).
fn installer(i: usize, deb: &Path) -> Command {
    let mut c = Command::new("dpkg");
    match i % 10 {
        0 => c.arg("-i").arg(deb),
        5 => c.args(["-r", "swmon-sink-test"]),
        _ => c.args(["-s", "dpkg"]),
    };
    c
}

/// Sorted, so two lists of the same lines compare equal whatever the
/// order (two stages may queue at once).
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn rsyslog_receives_every_event_of_a_100_install_run_intact_through_both_syslog_sinks() {
    let dir = TempDir::new("sinks-rsyslog");
    let deb = build_deb(dir.path(), "swmon-sink-test", "1.0", "swmon-sink-test.deb");
    let port = free_port();
    let sock = dir.path().join("log.sock");
    // swmon first: both sinks start down, queue and retry.
    let m = Monitor::start(&[
        "--heartbeat-secs",
        "0",
        "--sink",
        &format!("syslog:unix:{}", sock.display()),
        "--sink",
        &format!("syslog+tcp://127.0.0.1:{port}"),
    ]);
    // The output file outlives the monitor's own folder (a hard link).
    let output = dir.path().join("events.jsonl");
    fs::hard_link(&m.output, &output).expect("link the output");
    for i in 0..20 {
        assert_eq!(run(&mut installer(i, &deb)).1, 0, "installer {i}");
    }
    let rsyslog = Rsyslog::start(dir.path(), port);
    // Both sinks connect and send their backlog (monitor-started first).
    let started = lines(&output)[0].clone();
    for f in ["unix.log", "tcp.log"] {
        wait_until(&format!("the backlog in {f}"), || {
            lines(&dir.path().join(f))
                .iter()
                .any(|l| l.trim_start_matches('\u{feff}') == started)
        });
    }
    for i in 20..100 {
        assert_eq!(run(&mut installer(i, &deb)).1, 0, "installer {i}");
    }
    let events = m.stop();
    let runs = events
        .iter()
        .filter(|e| e["swmon"]["manager"] == "dpkg" && e.get("process").is_some())
        .count();
    assert!(runs >= 100, "{runs} dpkg runs reported");
    let c = counters(&events);
    assert_eq!(c["sink_dropped"], 0, "{c}");
    assert_eq!(c["sink_refused"], 0, "{c}");
    let written = lines(&output);
    assert_eq!(
        action(&serde_json::from_str::<Value>(&written[written.len() - 1]).expect("json")),
        "monitor-stopped"
    );
    // Everything is in rsyslog's files once both hold as many lines.
    for f in ["unix.log", "tcp.log"] {
        wait_until(&format!("every line in {f}"), || {
            lines(&dir.path().join(f)).len() >= written.len()
        });
    }
    rsyslog.stop();
    let want = sorted(written.clone());
    for f in ["unix.log", "tcp.log"] {
        // An RFC 5424 message that is UTF-8 (and not ASCII) starts with
        // the BOM, which rsyslog keeps.
        let got: Vec<String> = lines(&dir.path().join(f))
            .into_iter()
            .map(|l| l.strip_prefix('\u{feff}').map_or(l.clone(), str::to_owned))
            .collect();
        let got = sorted(got);
        if got != want {
            let missing: Vec<&String> = want.iter().filter(|l| !got.contains(l)).collect();
            let extra: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
            panic!(
                "{f}: {} lines received, {} written; missing {missing:#?}; not written {extra:#?}",
                got.len(),
                want.len()
            );
        }
    }
    // Every line is a complete event (nothing cut on the way).
    assert!(written
        .iter()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));
}

/// A journal namespace instance in its own mount namespace: its `/run` is
/// `dir/run` and its `/var/log` `dir/log`. Ended by its pid when dropped.
struct Journald {
    child: Option<Child>,
    run: PathBuf,
    log: PathBuf,
    namespace: String,
}

impl Journald {
    fn start(dir: &Path) -> Journald {
        let run = dir.join("run");
        let log = dir.join("log");
        fs::create_dir_all(&run).expect("run");
        fs::create_dir_all(&log).expect("log");
        let namespace = format!("swmontest{}", std::process::id());
        let journald = [
            "/usr/lib/systemd/systemd-journald",
            "/lib/systemd/systemd-journald",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd-journald (the systemd package)");
        // `unshare` execs the shell, which execs journald: one pid. A user
        // namespace of its own too: journald (252) opens the audit socket
        // and sets the kernel's audit `enabled` flag to 1; from a user
        // namespace that is refused (EPERM), so the host's flag is left
        // as it is.
        let child = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "--propagation",
                "private",
            ])
            .args(["sh", "-ec"])
            .arg(r#"mount --bind "$1" /run; mount --bind "$2" /var/log; exec "$3" "$4""#)
            .args(["sh"])
            .arg(&run)
            .arg(&log)
            .arg(journald)
            .arg(&namespace)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare");
        let mut j = Journald {
            child: Some(child),
            run,
            log,
            namespace,
        };
        let socket = j.socket();
        wait_until("journald's socket", || {
            if let Some(status) = j.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("journald exited: {status}");
            }
            socket.exists()
        });
        j
    }

    fn socket(&self) -> PathBuf {
        self.run
            .join(format!("systemd/journal.{}/socket", self.namespace))
    }

    /// Every entry written so far, as `journalctl -o json` gives them
    /// (`--all`: long fields too).
    fn entries(&self) -> Vec<Value> {
        let Ok(machine) = fs::read_to_string("/etc/machine-id") else {
            return Vec::new();
        };
        // A namespace's journal is persistent (`/var/log/journal`) by
        // default; volatile (`/run/log/journal`) where that is configured.
        let name = format!("journal/{}.{}", machine.trim(), self.namespace);
        let Some(journal) = [self.log.join(&name), self.run.join("log").join(&name)]
            .into_iter()
            .find(|p| p.exists())
        else {
            return Vec::new();
        };
        let out = Command::new("journalctl")
            .arg("--directory")
            .arg(&journal)
            .args(["-o", "json", "--all", "--no-pager"])
            .output()
            .expect("journalctl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Journald {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A field of a `journalctl -o json` entry as text (binary fields come as
/// arrays of bytes).
fn text_field(e: &Value, name: &str) -> Option<String> {
    match &e[name] {
        Value::String(s) => Some(s.clone()),
        Value::Array(bytes) => String::from_utf8(
            bytes
                .iter()
                .map(|b| b.as_u64().unwrap_or(0) as u8)
                .collect(),
        )
        .ok(),
        _ => None,
    }
}

#[test]
fn journald_receives_every_event_with_swmons_fields() {
    let dir = TempDir::new("sinks-journald");
    let journald = Journald::start(dir.path());
    let deb = build_deb(dir.path(), "swmon-sink-test", "1.0", "swmon-sink-test.deb");
    let m = Monitor::start(&[
        "--heartbeat-secs",
        "0",
        "--sink",
        &format!("journald:{}", journald.socket().display()),
    ]);
    let output = dir.path().join("events.jsonl");
    fs::hard_link(&m.output, &output).expect("link the output");
    for i in 0..10 {
        assert_eq!(run(&mut installer(i, &deb)).1, 0, "installer {i}");
    }
    let events = m.stop();
    let c = counters(&events);
    assert_eq!(c["sink_dropped"], 0, "{c}");
    assert_eq!(c["sink_refused"], 0, "{c}");
    let written = lines(&output);
    let ours = |entries: &[Value]| -> BTreeMap<String, Value> {
        entries
            .iter()
            .filter(|e| e["SYSLOG_IDENTIFIER"] == "swmon")
            .filter_map(|e| Some((text_field(e, "MESSAGE")?, e.clone())))
            .collect()
    };
    wait_until("every line in the journal", || {
        let got = ours(&journald.entries());
        written.iter().all(|l| got.contains_key(l))
    });
    let entries = journald.entries();
    let got = ours(&entries);
    let swmon_entries = entries
        .iter()
        .filter(|e| e["SYSLOG_IDENTIFIER"] == "swmon")
        .count();
    assert_eq!(swmon_entries, written.len(), "one entry per line, no more");
    for line in &written {
        let e = &got[line];
        let v: Value = serde_json::from_str(line).expect("json");
        assert_eq!(e["SWMON_ACTION"], v["event"]["action"], "{e}");
        assert_eq!(e["SWMON_KIND"], v["event"]["kind"], "{e}");
        assert_eq!(e["_NAMESPACE"].as_str(), Some(journald.namespace.as_str()));
        let warn = v["event"]["kind"] == "alert" || v["swmon"]["verdict"] == "ebpf_only";
        assert_eq!(e["PRIORITY"], if warn { "4" } else { "6" }, "{e}");
        if let Some(verdict) = v["swmon"]["verdict"].as_str() {
            assert_eq!(e["SWMON_VERDICT"], verdict, "{e}");
        }
        if let Some(id) = v["swmon"]["run_id"].as_str() {
            assert_eq!(e["SWMON_RUN_ID"], id, "{e}");
        }
    }
    assert!(
        got.values().any(|e| e["SWMON_MANAGER"] == "dpkg"),
        "dpkg runs are in the journal"
    );

    // An entry too large for a datagram goes through a sealed memfd.
    use swmon::ship::{journald as native, Item, Meta};
    let big = format!("{{\"big\":\"{}\"}}", "x".repeat(1 << 20));
    let item = Item {
        line: big.clone().into_bytes(),
        meta: Meta {
            timestamp: String::new(),
            action: "memfd-test",
            kind: "event",
            severity: 6,
            ..Meta::default()
        },
    };
    let entry = native::entry(&item.meta, &item.line);
    let sock = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    sock.connect(journald.socket()).expect("connect");
    let e = sock
        .send(&entry)
        .expect_err("1 MiB is more than a datagram");
    assert!(
        matches!(e.raw_os_error(), Some(libc::EMSGSIZE | libc::ENOBUFS)),
        "{e}"
    );
    native::send_memfd(&sock, &entry).expect("memfd");
    wait_until("the memfd entry in the journal", || {
        journald
            .entries()
            .iter()
            .any(|e| e["SWMON_ACTION"] == "memfd-test")
    });
    let entries = journald.entries();
    let e = entries
        .iter()
        .find(|e| e["SWMON_ACTION"] == "memfd-test")
        .expect("memfd entry");
    assert_eq!(text_field(e, "MESSAGE").as_deref(), Some(big.as_str()));
}

#[test]
fn a_sink_that_stops_reading_holds_neither_the_output_nor_the_stop() {
    let dir = TempDir::new("sinks-stuck");
    // A receiver that never reads: once its queue is full (at most
    // `net.unix.max_dgram_qlen` datagrams), every send blocks.
    let sock = dir.path().join("stuck.sock");
    let _receiver = std::os::unix::net::UnixDatagram::bind(&sock).expect("bind");
    let qlen: usize = fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .expect("max_dgram_qlen")
        .trim()
        .parse()
        .expect("a number");
    let m = Monitor::start(&[
        "--heartbeat-secs",
        "0",
        "--sink",
        &format!("syslog:unix:{}", sock.display()),
    ]);
    let output = dir.path().join("events.jsonl");
    fs::hard_link(&m.output, &output).expect("link the output");
    // More events than the receiver's queue holds, each written to the
    // main output while the sink is stuck.
    let mut pids = Vec::new();
    for i in 0..qlen + 20 {
        let (pid, code) = run(Command::new("dpkg").args(["-s", "dpkg"]));
        assert_eq!(code, 0, "dpkg -s {i}");
        pids.push(pid);
    }
    for pid in &pids {
        m.wait_for(&format!("dpkg -s, pid {pid}"), DEADLINE, |e| {
            e["process"]["pid"] == *pid
        });
    }
    // The stop is not held either (`stop` asserts exit 0 and
    // `monitor-stopped` last).
    let events = m.stop();
    let c = counters(&events);
    let written = lines(&output).len() as u64;
    let sent = c["sink_sent"].as_u64().expect("sink_sent");
    assert!(
        sent <= qlen as u64 + 1 && sent < written,
        "{sent} sent of {written} written: {c}"
    );
    assert_eq!(c["sink_refused"], 0, "{c}");
}
