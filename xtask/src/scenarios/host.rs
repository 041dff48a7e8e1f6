//! What the corpus does to the host, and how it puts it back: the audit
//! status (read with `auditctl -s`), a private auditd with its own config
//! and log, `swmon run`, a container-like cgroup, an exec storm, and shell
//! lines with a deadline. Every process here is one the runner started,
//! stopped by its pid; the guard restores the enabled flag and backlog
//! limit and removes the seed rules and the cgroup however the run ends.
//! It is not where scenarios are chosen or judged.

use std::{
    fs,
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The kernel's audit status, the fields the corpus needs.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    pub enabled: u32,
    pub pid: u32,
    pub backlog_limit: u32,
}

pub fn status() -> Result<Status> {
    let out = Command::new("auditctl")
        .arg("-s")
        .output()
        .context("run auditctl -s")?;
    if !out.status.success() {
        bail!(
            "auditctl -s failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Result<u32> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no `{name}` in auditctl -s: {text}"))
    };
    Ok(Status {
        enabled: field("enabled")?,
        pid: field("pid")?,
        backlog_limit: field("backlog_limit")?,
    })
}

pub fn auditctl(args: &[&str]) -> Result<()> {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .with_context(|| format!("run auditctl {args:?}"))?;
    if !out.status.success() {
        bail!(
            "auditctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Polls `done` every 20 ms until it holds or `deadline` passes.
pub fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let end = Instant::now() + deadline;
    loop {
        if done() {
            return Ok(());
        }
        if Instant::now() >= end {
            bail!("{what}: not within {deadline:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Puts the host's audit state back when dropped: the enabled flag and
/// backlog limit as they were, the seed rules gone (swmon removes what it
/// added at stop; this covers a run that died first), the cgroups gone.
pub struct HostGuard {
    saved: Status,
    swmon: PathBuf,
    pub cgroups: Vec<PathBuf>,
    /// Audit rules a scenario added (`auditctl -a` arguments after the
    /// list,action): deleted at the end if still there.
    pub rules: Vec<Vec<String>>,
}

impl HostGuard {
    pub fn save(swmon: PathBuf) -> Result<HostGuard> {
        let saved = status()?;
        if saved.enabled == 2 {
            bail!("audit is locked (-e 2) on this host: the corpus can't change rules");
        }
        if saved.pid != 0 {
            bail!(
                "an audit daemon (pid {}) is registered: the corpus needs the slot for its own auditd",
                saved.pid
            );
        }
        // The corpus removes and restores seed rules and deletes the seed set
        // at the end: that is only safe when none of them are the host's.
        let rules = Command::new("auditctl")
            .arg("-l")
            .output()
            .context("run auditctl -l")?;
        let keyed = String::from_utf8_lossy(&rules.stdout)
            .lines()
            .filter(|l| l.contains("key=software-installer"))
            .count();
        if keyed > 0 {
            bail!(
                "this host already has {keyed} audit rules keyed software-installer: the corpus \
                 adds, removes and deletes the seed's rules itself, so it would change the host's"
            );
        }
        Ok(HostGuard {
            saved,
            swmon,
            cgroups: Vec::new(),
            rules: Vec::new(),
        })
    }

    /// Audit on, and a backlog that holds a burst of installs.
    pub fn prepare(&self) -> Result<()> {
        if self.saved.backlog_limit < 8192 {
            auditctl(&["-b", "8192"])?;
        }
        if self.saved.enabled != 1 {
            auditctl(&["-e", "1"])?;
        }
        Ok(())
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.swmon)
            .args(["rules", "remove", "--set", "seed"])
            .stdout(Stdio::null())
            .status();
        for d in self.cgroups.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        for r in &self.rules {
            let args: Vec<&str> = std::iter::once("-d")
                .chain(r.iter().map(String::as_str))
                .collect();
            let _ = auditctl(&args);
        }
        put_back(self.saved);
    }
}

/// Sets the backlog limit and the enabled flag back to `saved` where they
/// differ now; best effort, for clean-up paths.
pub fn put_back(saved: Status) {
    if let Ok(now) = status() {
        if now.backlog_limit != saved.backlog_limit {
            let _ = auditctl(&["-b", &saved.backlog_limit.to_string()]);
        }
        if now.enabled != saved.enabled {
            let _ = auditctl(&["-e", &saved.enabled.to_string()]);
        }
    }
}

/// A private auditd: its own config and plugin folder, logging to
/// `dir/audit.log` (appended to across restarts), `-s nochange` so it
/// leaves the enabled flag alone.
pub struct Auditd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Auditd {
    pub fn new(dir: &Path) -> Result<Auditd> {
        let _ = fs::remove_dir_all(dir);
        let plugins = dir.join("plugins.d");
        fs::create_dir_all(&plugins).with_context(|| format!("mkdir {}", plugins.display()))?;
        let log = dir.join("audit.log");
        let conf = dir.join("auditd.conf");
        fs::write(
            &conf,
            format!(
                "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_group = root\n\
                 log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 256\n\
                 num_logs = 2\npriority_boost = 0\nname_format = NONE\n\
                 max_log_file_action = ROTATE\nspace_left = 10\nspace_left_action = IGNORE\n\
                 verify_email = no\naction_mail_acct = root\nadmin_space_left = 5\n\
                 admin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
                 disk_error_action = IGNORE\nuse_libwrap = no\ntcp_listen_queue = 5\n\
                 tcp_max_per_addr = 1\ntcp_client_max_idle = 0\ntransport = TCP\n\
                 distribute_network = no\nq_depth = 2000\noverflow_action = SYSLOG\n\
                 max_restarts = 0\nplugin_dir = {}\nend_of_event_timeout = 2\n",
                log.display(),
                plugins.display()
            ),
        )
        .context("write auditd.conf")?;
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o640))?;
        Ok(Auditd {
            child: None,
            dir: dir.to_owned(),
            log,
        })
    }

    /// Starts it and waits until the kernel names it as the audit daemon.
    pub fn start(&mut self) -> Result<()> {
        let before = status()?;
        if before.pid != 0 {
            bail!("another audit daemon (pid {}) is registered", before.pid);
        }
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("auditd.err"))?;
        let child = Command::new("auditd")
            .args(["-n", "-s", "nochange", "-c"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("start auditd")?;
        let pid = child.id();
        self.child = Some(child);
        let mut exited = None;
        let registered = wait_until(
            "auditd registering with the kernel",
            Duration::from_secs(15),
            || {
                if let Some(Ok(Some(s))) = self.child.as_mut().map(Child::try_wait) {
                    exited = Some(s);
                    return true;
                }
                status().is_ok_and(|s| s.pid == pid)
            },
        );
        if let Some(s) = exited {
            self.child = None;
            bail!(
                "auditd exited ({s}) before registering: {}",
                fs::read_to_string(self.dir.join("auditd.err")).unwrap_or_default()
            );
        }
        registered
    }

    /// Stops it with SIGTERM, by pid, and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), libc::SIGTERM);
            let _ = c.wait();
        }
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn signal(pid: u32, sig: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: a signal to a process xtask started, or one under it, by its pid.
        unsafe { libc::kill(pid, sig) };
    }
}

/// A running `swmon run`, writing JSON lines to `events`.
pub struct Monitor {
    child: Option<Child>,
    pub events: PathBuf,
}

impl Monitor {
    pub fn start(
        swmon: &Path,
        events: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        stderr: &Path,
    ) -> Result<Monitor> {
        let _ = fs::remove_file(events);
        let err = fs::File::create(stderr)?;
        let child = Command::new(swmon)
            .arg("run")
            .arg("--output")
            .arg(events)
            .args(args)
            // swmon discovers installers in its `$PATH`'s trusted folders:
            // the same PATH whatever the caller's, with pyenv's shims (the
            // corpus plays a pyenv pip and expects the seed to watch it).
            .env("PATH", swmon_path())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("start {}", swmon.display()))?;
        let mut m = Monitor {
            child: Some(child),
            events: events.to_owned(),
        };
        let mut exited = None;
        wait_until("swmon's monitor-started", Duration::from_secs(60), || {
            if let Some(Ok(Some(s))) = m.child.as_mut().map(Child::try_wait) {
                exited = Some(s);
                return true;
            }
            m.lines().iter().any(|e| action(e) == "monitor-started")
        })?;
        if let Some(s) = exited {
            m.child = None;
            bail!(
                "swmon exited ({s}) before monitor-started: {}",
                fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        Ok(m)
    }

    /// Every complete line written so far, parsed (a bad line is `null`
    /// here; the report names it).
    pub fn lines(&self) -> Vec<Value> {
        read_lines(&self.events)
    }

    /// Waits for an event with `event.action == what` after line `from`.
    pub fn wait_action(&self, what: &str, from: usize) -> Result<()> {
        wait_until(
            &format!("swmon's {what} event"),
            Duration::from_secs(10),
            || self.lines().iter().skip(from).any(|e| action(e) == what),
        )
    }

    /// SIGINT by pid, then waits (at most 60 s) for it to exit 0.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut c) = self.child.take() else {
            return Ok(());
        };
        signal(c.id(), libc::SIGINT);
        let end = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = c.try_wait()? {
                break s;
            }
            if Instant::now() > end {
                let _ = c.kill();
                let _ = c.wait();
                bail!("swmon did not stop within 60 s of SIGINT");
            }
            thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            bail!("swmon exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

pub fn read_lines(path: &Path) -> Vec<Value> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    // A line still being written has no newline yet; leave it for later.
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
        .collect()
}

pub fn action(e: &Value) -> &str {
    e["event"]["action"].as_str().unwrap_or("")
}

/// A file's sha256, by `sha256sum`.
pub fn sha256(path: &Path) -> Result<String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("run sha256sum")?;
    if !out.status.success() {
        bail!(
            "sha256sum {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(h) if h.len() == 64 => Ok(h.to_owned()),
        _ => bail!("sha256sum {}: no hash in {text:?}", path.display()),
    }
}

/// The cgroup v2 mount (`/sys/fs/cgroup`, or a hybrid host's `unified`).
pub fn cgroup2_root() -> Result<PathBuf> {
    let mounts = fs::read_to_string("/proc/mounts").context("read /proc/mounts")?;
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .context("no cgroup2 mount on this host")
}

/// An exec storm: /bin/true on two threads until `stop` is set and at
/// least `min` execs have run. Returns how many ran.
pub struct Storm {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    count: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Storm {
    pub fn start(min: u64, dir: &Path) -> Storm {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let threads = (0..2)
            .map(|_| {
                let (stop, count, failed) = (stop.clone(), count.clone(), failed.clone());
                let dir = dir.to_owned();
                thread::spawn(move || {
                    while !(stop.load(Ordering::Relaxed) && count.load(Ordering::Relaxed) >= min) {
                        let ok = Command::new("/bin/true")
                            .current_dir(&dir)
                            .status()
                            .is_ok_and(|s| s.success());
                        if !ok {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Storm {
            stop,
            threads,
            count,
            failed,
        }
    }

    /// Stops it (once `min` execs ran); returns (execs, failures).
    pub fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.count.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// What a shell line did.
pub struct Ran {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub seconds: f64,
    /// The shell: its pid, and the boot clock (`CLOCK_BOOTTIME`, swmon's
    /// process starts) before it was spawned and once its exit was seen,
    /// before it was reaped (so no other process had its pid yet).
    pub shell: Shell,
}

/// A shell the runner ran, and when it was alive on the boot clock: a
/// process of its tree started in `[start_ns, end_ns]`; a later process
/// with the same pid started after `end_ns`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shell {
    pub pid: u32,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// `CLOCK_BOOTTIME` in nanoseconds: the clock of the kernel's process
/// starts (`task->start_boottime`), which swmon's run ids carry.
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether `pid`, a child of this process, has exited: seen with `WNOWAIT`,
/// so it stays a zombie (its pid taken) until `try_wait` reaps it.
fn exited(pid: u32, block: bool) -> bool {
    // SAFETY: an all-zero siginfo_t is valid; waitid writes it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOWAIT | if block { 0 } else { libc::WNOHANG };
    // SAFETY: waits on this process's own child, leaving it unreaped.
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) };
    // SAFETY: si_pid is set by waitid when a child changed state (0 with
    // WNOHANG when none did).
    r == 0 && unsafe { info.si_pid() } != 0
}

impl Ran {
    pub fn ok(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        match (self.timed_out, self.status) {
            (true, _) => "timed out".into(),
            (false, Some(s)) => s.to_string(),
            (false, None) => "did not start".into(),
        }
    }
}

/// Runs `sh -c LINE` in `cwd` with `env`, output appended to `log`, in a
/// process group of its own that is killed at `deadline`.
pub fn shell(
    line: &str,
    cwd: &Path,
    env: &[(&str, String)],
    log: &Path,
    deadline: Duration,
) -> Result<Ran> {
    use std::io::Write;

    let mut out = fs::OpenOptions::new().create(true).append(true).open(log)?;
    writeln!(out, "$ {line}")?;
    let started = Instant::now();
    let start_ns = boot_ns();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawn sh -c {line:?}"))?;
    let end = started + deadline;
    let mut timed_out = false;
    let pid = child.id();
    let (status, end_ns) = loop {
        if exited(pid, false) {
            let end_ns = boot_ns();
            break (child.try_wait()?, end_ns);
        }
        if Instant::now() > end {
            timed_out = true;
            // SAFETY: the process group this runner started (its id is the
            // child's pid).
            unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
            exited(pid, true);
            let end_ns = boot_ns();
            let _ = child.wait();
            break (None, end_ns);
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ok(Ran {
        status,
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
        shell: Shell {
            pid,
            start_ns,
            end_ns,
        },
    })
}

/// The PATH `swmon run` gets in the corpus: the system's folders, cargo's,
/// and pyenv's shims where this host has them.
fn swmon_path() -> String {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let mut path =
        format!("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{home}/.cargo/bin");
    let shims = format!("{home}/.pyenv/shims");
    if std::path::Path::new(&shims).is_dir() {
        path = format!("{shims}:{path}");
    }
    path
}
