//! `swmon run`'s config file and `swmon --version`, on the real binary:
//! options from `--config` take effect (in `monitor-started` and in what
//! the monitor does), the command line overrides the file, SIGHUP reads
//! the file again and says what it applied live (a heartbeat period that
//! then ticks), what needs a restart, and a file gone bad; a bad file, a
//! test-only key or a missing `--config` file stop swmon before it loads
//! anything, naming the file, line and key.

use std::{
    fs,
    io::Read,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};
use tests::{action, swmon_bin, wait_within, Monitor, TempDir};

/// Writes the config file, mode 0600 (swmon refuses one others may write).
fn write_config(path: &Path, text: &str) {
    fs::write(path, text).expect("write the config file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod the config file");
}

fn sighup(m: &Monitor) {
    // SAFETY: a signal to the child the test started, by its pid.
    assert_eq!(unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) }, 0);
}

/// The position of the first event matching `pred`.
fn position(events: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(pred)
        .expect("the event was waited for")
}

#[test]
fn options_come_from_the_file_and_sighup_reloads_it() {
    let dir = TempDir::new("config");
    let config = dir.path().join("swmon.toml");
    let file_output = dir.path().join("from-the-file.json");
    write_config(
        &config,
        &format!(
            "# swmon's settings\n[run]\noutput = {:?}\naudit-wait-ms = 1234\nheartbeat-secs = 3600\n",
            file_output.to_str().expect("a UTF-8 temp path")
        ),
    );
    let config_arg = config.to_str().expect("a UTF-8 temp path");
    // The helper gives `--output` on the command line: it overrides the file's.
    let m = Monitor::start(&["--config", config_arg]);
    let events = m.events();
    let started = &events[position(&events, |e| action(e) == "monitor-started")];
    assert_eq!(started["swmon"]["audit"]["wait_ms"], 1234, "{started}");
    assert_eq!(
        started["swmon"]["config"],
        json!({
            "path": config_arg,
            "loaded": true,
            "keys": ["audit-wait-ms", "heartbeat-secs"],
            "overridden": ["output"],
        })
    );
    assert!(!file_output.exists(), "the file's output was used");

    // Live: the heartbeat period and the rule restore; the audit wait
    // needs a restart.
    write_config(
        &config,
        &format!(
            "[run]\noutput = {:?}\naudit-wait-ms = 1500\nheartbeat-secs = 1\nrestore-rules = true\n",
            file_output.to_str().expect("a UTF-8 temp path")
        ),
    );
    sighup(&m);
    let reloaded = m.wait_for("config-reloaded", Duration::from_secs(10), |e| {
        action(e) == "config-reloaded"
    });
    assert_eq!(reloaded["event"]["kind"], "state");
    assert_eq!(reloaded["event"]["outcome"], "success");
    let c = &reloaded["swmon"]["config"];
    assert_eq!(c["path"], config_arg);
    assert_eq!(
        c["applied"],
        json!([
            { "key": "heartbeat-secs", "running": "3600", "configured": "1" },
            { "key": "restore-rules", "running": false, "configured": true },
        ]),
        "{reloaded}"
    );
    assert_eq!(
        c["needs_restart"],
        json!([{ "key": "audit-wait-ms", "running": "1234", "configured": "1500" }]),
        "{reloaded}"
    );
    // The new period ticks (the old one was an hour): a heartbeat after
    // the reload.
    m.wait_for(
        "a heartbeat at the new period",
        Duration::from_secs(20),
        |e| action(e) == "heartbeat",
    );
    let events = m.events();
    assert!(
        position(&events, |e| action(e) == "config-reloaded")
            < position(&events, |e| action(e) == "heartbeat")
    );

    // A file gone bad: an alert with the error; the monitor goes on.
    write_config(&config, "[run]\nheartbeat-secs = 1\nbogus-option = 2\n");
    sighup(&m);
    let failed = m.wait_for("config-reload-failed", Duration::from_secs(10), |e| {
        action(e) == "config-reload-failed"
    });
    assert_eq!(failed["event"]["kind"], "alert");
    let error = failed["swmon"]["config"]["error"]
        .as_str()
        .expect("an error");
    assert!(
        error.starts_with(&format!(
            "{config_arg}:3: key `bogus-option`: unknown option"
        )),
        "{error}"
    );
    let events = m.stop();
    assert_eq!(
        events
            .iter()
            .filter(|e| action(e).starts_with("config-reload"))
            .count(),
        2
    );
    assert!(!file_output.exists(), "the file's output was used");
}

#[test]
fn the_packaged_file_with_every_option_shown_runs_and_its_sink_ships() {
    let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../swmon/dist/swmon.toml");
    let text = fs::read_to_string(&packaged).expect("read the packaged config file");
    let dir = TempDir::new("config-packaged");
    let socket = dir.path().join("syslog.sock");
    let receiver = std::os::unix::net::UnixDatagram::bind(&socket).expect("bind a syslog socket");
    receiver
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a receive deadline");
    // Every option the file shows commented out, turned on as shown; the
    // sink (an option no config code knows of) to the test's socket.
    let mut keys = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let option = line
            .strip_prefix("# ")
            .filter(|l| {
                l.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                })
            })
            .unwrap_or(line);
        let key = option.split_once(" = ").map(|(k, _)| k.to_owned());
        match key.as_deref() {
            Some("sink") => out.push_str(&format!(
                "sink = [\"syslog:unix:{}\"]\n",
                socket.to_str().expect("a UTF-8 temp path")
            )),
            _ => {
                out.push_str(option);
                out.push('\n');
            }
        }
        keys.extend(key);
    }
    let config = dir.path().join("swmon.toml");
    write_config(&config, &out);
    let m = Monitor::start(&["--config", config.to_str().expect("a UTF-8 temp path")]);
    let events = m.events();
    let started = &events[position(&events, |e| action(e) == "monitor-started")];
    let mut used: Vec<String> = started["swmon"]["config"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("a key").to_owned())
        .collect();
    used.push("output".into());
    used.sort();
    keys.sort();
    assert!(keys.len() >= 12, "{keys:?}");
    assert_eq!(used, keys, "{started}");
    assert_eq!(started["swmon"]["config"]["overridden"], json!(["output"]));
    // The sink from the file ships the events.
    let mut buf = vec![0u8; 1 << 16];
    let mut got = String::new();
    while !got.contains("monitor-started") {
        let n = receiver
            .recv(&mut buf)
            .expect("a syslog datagram within 30 s");
        got = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    m.stop();
}

/// Runs `swmon ARGS` that must fail before it loads anything: its exit
/// status and standard error.
fn refused(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(swmon_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn swmon");
    let status = wait_within(
        &mut child,
        Duration::from_secs(30),
        "swmon refusing its config",
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("read stderr");
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_bad_file_stops_swmon_before_it_starts() {
    let dir = TempDir::new("config-bad");
    let config = dir.path().join("swmon.toml");
    let c = config.to_str().expect("a UTF-8 temp path");
    let output = dir.path().join("events.json");
    let o = output.to_str().expect("a UTF-8 temp path");
    for (text, says) in [
        (
            "[run]\nheartbeat-secs = \"often\"\n",
            format!("swmon: {c}:2: key `heartbeat-secs`: expects an integer, not a string"),
        ),
        (
            "[run]\n\nformat = \"xml\"\n",
            format!("swmon: {c}:3: key `format`: invalid value 'xml' for '--format <FORMAT>'"),
        ),
        (
            "[run]\ntest-hold-audit-while = \"/run/hold\"\n",
            format!("swmon: {c}:2: key `test-hold-audit-while`: not accepted from the config file"),
        ),
        (
            "[run]\nring-buffer-size = 100\n",
            format!("swmon: {c}:2: key `ring-buffer-size`: invalid value '100'"),
        ),
    ] {
        write_config(&config, text);
        let (code, err) = refused(&["run", "--config", c, "--output", o]);
        assert_eq!(code, 1, "{text:?}: {err}");
        assert!(err.starts_with(&says), "{text:?}: {err}\nwanted: {says}");
        assert!(
            !output.exists(),
            "swmon opened its output with a bad config"
        );
    }
    fs::write(&config, b"[run]\n\xc3\x28 = 1\n").expect("write");
    let (code, err) = refused(&["run", "--config", c, "--output", o]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            format!("swmon: {c}:2: not UTF-8 text (byte 7 of the file)").as_str()
        )
    );
    let missing: PathBuf = dir.path().join("missing.toml");
    let m = missing.to_str().expect("a UTF-8 temp path");
    let (code, err) = refused(&["run", "--config", m, "--output", o]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(&format!("swmon: {m}: can't read it: ")),
        "{err}"
    );
}

#[test]
fn version_names_the_revision_the_build_and_the_ebpf_object() {
    let out = Command::new(swmon_bin())
        .arg("--version")
        .output()
        .expect("run swmon --version");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name:?} in {text}"))
            .to_owned()
    };
    assert!(
        text.starts_with(&format!("swmon {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let rev = field("git revision: ");
    let hash = rev.strip_suffix("-dirty").unwrap_or(&rev);
    assert!(
        rev == "unknown" || (hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
    let built = field("built: ");
    assert!(
        built.len() == 20 && built.ends_with('Z') && built.as_bytes()[10] == b'T',
        "{text}"
    );
    // The binary under test has its eBPF object (it loads it).
    let sha = field("eBPF object SHA-256: ");
    assert!(
        sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text}"
    );
}
