//! Helpers for swmon's end-to-end tests: start the real `swmon` binary on
//! the real kernel, wait for its `monitor-started` line, stop it with
//! SIGINT by pid, and read back every event it wrote.
//!
//! The binary is `$SWMON_BIN`, or `target/release/swmon` of this workspace
//! (`cargo xtask test` builds it first). Kernel tests share host-wide state
//! (BPF programs, audit), so they run one at a time (`--test-threads=1`).
//! Waits are on a ready signal with a deadline, never a bare sleep.
//!
//! Every event read ([`read_all_events`], so [`read_events`],
//! [`Monitor::events`] and [`Monitor::all_events`] too) is validated
//! against the committed events schema (`docs/events.schema.json`): a line
//! that does not follow it fails the test that read it.

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// How long the monitor may take to load and attach.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// The swmon binary under test.
pub fn swmon_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SWMON_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/swmon");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test` (or set SWMON_BIN)",
        p.display()
    );
    p
}

/// A fresh folder for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "swmon-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create a temp folder");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running `swmon run`.
pub struct Monitor {
    child: Option<Child>,
    pub output: PathBuf,
    _dir: Option<TempDir>,
}

impl Monitor {
    /// Starts `swmon run -o FILE EXTRA...` and waits for `monitor-started`.
    pub fn start(extra: &[&str]) -> Monitor {
        Monitor::start_env(extra, &[])
    }

    /// [`Monitor::start`] with these environment variables set for swmon.
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Monitor {
        let dir = TempDir::new("monitor");
        let output = dir.path().join("events.jsonl");
        let mut cmd = Command::new(swmon_bin());
        cmd.arg("run")
            .arg("--output")
            .arg(&output)
            .args(extra)
            .envs(env.iter().copied());
        Monitor::spawn(cmd, output, Some(dir))
    }

    /// Starts `cmd`, a `swmon run` (perhaps behind a wrapper such as
    /// `setpriv`) that writes its events to `output`, and waits for
    /// `monitor-started`; `dir` (the output's folder) is removed with it.
    pub fn spawn(mut cmd: Command, output: PathBuf, dir: Option<TempDir>) -> Monitor {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn swmon");
        let mut m = Monitor {
            child: Some(child),
            output,
            _dir: dir,
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if m.events().iter().any(|e| action(e) == "monitor-started") {
                return m;
            }
            if let Some(status) = m.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "swmon exited before monitor-started ({status}): {}",
                    m.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no monitor-started within {START_DEADLINE:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The swmon process, for a test that ends it some other way (its
    /// events stay readable through [`Monitor::events`]).
    pub fn take_child(&mut self) -> Option<Child> {
        self.child.take()
    }

    /// Every event written so far, early events left out (see
    /// [`read_events`]).
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.output)
    }

    /// Every event written so far, early events included.
    pub fn all_events(&self) -> Vec<Value> {
        read_all_events(&self.output)
    }

    /// Waits until an event matching `pred` is written.
    pub fn wait_for(&self, what: &str, deadline: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + deadline;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < end,
                "no event for {what} within {deadline:?}: {:#?}",
                self.events()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.child.as_mut().and_then(|c| c.stderr.as_mut()) {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Stops the monitor with SIGINT and returns every event it wrote,
    /// early events left out (see [`read_events`]); the last one must be
    /// `monitor-stopped` and the exit status 0.
    pub fn stop(self) -> Vec<Value> {
        self.stop_all()
            .into_iter()
            .filter(|e| !is_early(e))
            .collect()
    }

    /// [`Monitor::stop`], early events included.
    pub fn stop_all(mut self) -> Vec<Value> {
        let mut child = self.child.take().expect("running");
        // SAFETY: a signal to the child we started, by its pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = wait_within(&mut child, Duration::from_secs(30), "swmon after SIGINT");
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(status.success(), "swmon exited with {status}: {err}");
        let events = self.all_events();
        let last = events.last().expect("some events");
        assert_eq!(action(last), "monitor-stopped", "last event: {last}");
        // Every early event is followed by its run's decision (the stop
        // decides every run still open): in every test that stops swmon.
        for (i, e) in events.iter().enumerate().filter(|(_, e)| is_early(e)) {
            let id = &e["swmon"]["run_id"];
            let finals = events[i + 1..]
                .iter()
                .filter(|f| {
                    !is_early(f) && f["swmon"]["run_id"] == *id && f.get("process").is_some()
                })
                .count();
            assert_eq!(
                finals, 1,
                "early event {e} has {finals} final events after it"
            );
        }
        events
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The events of a file, each run's decision only: a long run's early
/// event (`event.type: start`, its verdict so far, before its final
/// event) is left out, so a test that wants one event per run gets it
/// whatever the machine's speed. [`read_all_events`] keeps them.
pub fn read_events(path: &Path) -> Vec<Value> {
    read_all_events(path)
        .into_iter()
        .filter(|e| !is_early(e))
        .collect()
}

/// Whether an event is a run's early event: a run's (`swmon.run_id`)
/// whose `event.type` holds `start` (`monitor-started`'s does too, and has
/// no run id).
pub fn is_early(e: &Value) -> bool {
    e["swmon"]["run_id"].is_string()
        && e["event"]["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "start"))
}

/// Every event of a file, early events included, each validated against
/// the events schema.
pub fn read_all_events(path: &Path) -> Vec<Value> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    // A line still being written has no newline yet; leave it for later.
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .map(|l| {
            let e = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"));
            if first_reading(l) {
                assert_valid(&e);
            }
            e
        })
        .collect()
}

/// The committed events schema, compiled once.
fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../docs/events.schema.json");
        let schema: Value = serde_json::from_str(text).expect("docs/events.schema.json is JSON");
        jsonschema::validator_for(&schema).expect("docs/events.schema.json is a valid schema")
    })
}

/// Why an event does not follow the events schema (empty when it does).
pub fn schema_errors(event: &Value) -> Vec<String> {
    schema()
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Whether this line is read for the first time in this test process
/// (tests re-read a growing file while they wait: each line is validated
/// once).
fn first_reading(line: &str) -> bool {
    use std::hash::{BuildHasher, Hasher};
    static SEEN: OnceLock<std::sync::Mutex<std::collections::HashSet<u64>>> = OnceLock::new();
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut h = KEYS.get_or_init(Default::default).build_hasher();
    h.write(line.as_bytes());
    SEEN.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(h.finish())
}

/// Panics when an event does not follow the events schema.
pub fn assert_valid(event: &Value) {
    let errors = schema_errors(event);
    assert!(
        errors.is_empty(),
        "event does not follow docs/events.schema.json: {errors:?}\n{event}"
    );
}

/// `event.action` of an event.
pub fn action(e: &Value) -> &str {
    e["event"]["action"].as_str().unwrap_or("")
}

/// Installer events of one process.
pub fn runs_of(events: &[Value], pid: u32) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.get("process").is_some() && e["process"]["pid"] == pid)
        .cloned()
        .collect()
}

/// The one installer event of a process; fails the test unless there is
/// exactly one.
pub fn one_run(events: &[Value], pid: u32) -> Value {
    let runs = runs_of(events, pid);
    assert_eq!(runs.len(), 1, "want one event for pid {pid}, got {runs:#?}");
    runs[0].clone()
}

/// The counters of the `monitor-stopped` event.
pub fn counters(events: &[Value]) -> Value {
    events
        .iter()
        .rev()
        .find(|e| action(e) == "monitor-stopped")
        .map(|e| e["swmon"]["counters"].clone())
        .expect("monitor-stopped event")
}

/// How long a command a test runs may take before the test gives up on it.
pub const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// Runs a command to completion and returns its pid and exit code.
pub fn run(cmd: &mut Command) -> (u32, i32) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let status = wait_within(&mut child, RUN_DEADLINE, &format!("{cmd:?}"));
    (pid, status.code().unwrap_or(-1))
}

/// Waits for a child the test started; if it outlives `limit`, kills it (by
/// its pid) and fails the test, so a hung child never hangs the whole run.
pub fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}; killed it");
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Every live descendant of a process, nearest first, read from
/// `/proc/PID/task/TID/children`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let path = task.path().join("children");
            let Ok(children) = fs::read_to_string(path) else {
                continue;
            };
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// Where the cgroup2 (unified) hierarchy is mounted.
pub fn cgroup2_root() -> PathBuf {
    let mounts = fs::read_to_string("/proc/mounts").expect("mounts");
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .expect("a cgroup2 mount")
}

/// Builds a `.deb` with `dpkg-deb` holding package `name` at `version`,
/// written as `dir/file` (a file name that need not be the package's).
pub fn build_deb(dir: &Path, name: &str, version: &str, file: &str) -> PathBuf {
    build_deb_with(dir, name, version, file, "", None)
}

/// [`build_deb`] with more control fields (`control`: whole lines, such as
/// `Depends: x\n`) and a `postinst` script.
pub fn build_deb_with(
    dir: &Path,
    name: &str,
    version: &str,
    file: &str,
    control: &str,
    postinst: Option<&str>,
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\n{control}\
             Maintainer: swmon tests <t@example.invalid>\nDescription: swmon e2e\n"
        ),
    )
    .expect("control");
    if let Some(script) = postinst {
        let path = root.join("DEBIAN/postinst");
        std::fs::write(&path, script).expect("postinst");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out_path = dir.join(file);
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&out_path)
        .output()
        .expect("dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_path
}

/// Builds a pure-Python wheel of distribution `dist` at `version` by hand
/// (a zip with metadata, with `python`: no build backend, no network) in
/// `dir`; its file name carries the import name (`dist` with `_`).
pub fn build_wheel(python: &str, dir: &Path, dist: &str, version: &str) -> PathBuf {
    wheel(python, dir, dist, version, false)
}

/// [`build_wheel`]'s wheel with a console script named `dist` running the
/// module's `main` (pipx installs only packages that have one).
pub fn build_app_wheel(python: &str, dir: &Path, dist: &str, version: &str) -> PathBuf {
    wheel(python, dir, dist, version, true)
}

fn wheel(python: &str, dir: &Path, dist: &str, version: &str, app: bool) -> PathBuf {
    let module = dist.replace('-', "_");
    let (code, entry) = if app {
        (
            r"def main():\n    print('hello')\n",
            format!(
                r#"    f"{{info}}/entry_points.txt": "[console_scripts]\n{dist} = {module}:main\n","#
            ),
        )
    } else {
        (r"VALUE = 1\n", String::new())
    };
    let script = format!(
        r#"
import zipfile, sys
name, version = "{module}", "{version}"
path = sys.argv[1] + f"/{{name}}-{{version}}-py3-none-any.whl"
info = f"{{name}}-{{version}}.dist-info"
files = {{
    f"{{name}}/__init__.py": "{code}",
    f"{{info}}/METADATA": "Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n",
    f"{{info}}/WHEEL": "Wheel-Version: 1.0\nGenerator: swmon-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
{entry}
}}
record = "".join(f"{{p}},,\n" for p in files) + f"{{info}}/RECORD,,\n"
with zipfile.ZipFile(path, "w") as z:
    for p, text in files.items():
        z.writestr(p, text)
    z.writestr(f"{{info}}/RECORD", record)
print(path)
"#
    );
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[cfg(test)]
mod schema_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_committed_schema_tells_a_wrong_event() {
        let good = json!({
            "@timestamp": "2026-01-01T00:00:00.000000Z",
            "ecs": { "version": "8.11.0" },
            "event": { "kind": "state", "category": ["host"], "type": ["start"], "action": "monitor-started" },
            "host": { "name": "h" },
            "swmon": { "version": "0.1.0", "installers_found": ["/usr/bin/dpkg"] },
        });
        assert_eq!(schema_errors(&good), Vec::<String>::new());
        let mut wrong = good.clone();
        wrong["swmon"]["installers_found"] = json!("/usr/bin/dpkg");
        assert_eq!(
            schema_errors(&wrong).len(),
            1,
            "{:?}",
            schema_errors(&wrong)
        );
        let mut no_ecs = good;
        no_ecs.as_object_mut().unwrap().remove("ecs");
        assert!(!schema_errors(&no_ecs).is_empty());
    }
}
