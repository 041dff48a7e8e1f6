//! The benchmark suite of issue 6: swmon side by side with what people run
//! today (auditd with the seed rules, auditd logging every execve, laurel,
//! BCC's execsnoop), on the same static no-op exec storm, configurations
//! alternated round by round; exec-to-event latency; loss under a maximal
//! storm. Peers are installed by the bench itself (Debian packages,
//! crates.io); one that cannot run here keeps its row with the reason.
//!
//! Host state: audit is enabled (with a backlog of 8192) for the whole
//! suite, so every configuration pays the same for audit being on; the
//! enabled flag, the backlog limit and every rule the suite adds are put
//! back however it ends, and only processes it started are stopped.

use std::{
    collections::HashMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{bail, Context, Result};

use crate::{
    bench::{
        end_child, noop, paired as paired_samples, storm, wait_started, write_section, Sample,
        SETTLE_EXECS, STOP_GRACE,
    },
    root, sh,
    stats::{median, Paired},
};

const EXECVE_KEY: &str = "swmon-bench-execve";

fn swmon_bin() -> PathBuf {
    root().join("target/release/swmon")
}

fn work() -> Result<PathBuf> {
    let d = root().join("target/bench/suite");
    fs::create_dir_all(&d)?;
    Ok(d)
}

fn auditctl(args: &[&str]) -> Result<String> {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .context("run auditctl")?;
    if !out.status.success() {
        bail!(
            "auditctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn audit_status() -> Result<HashMap<String, String>> {
    Ok(auditctl(&["-s"])?
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect())
}

/// Turns audit on for the suite and puts the host back when dropped.
struct HostAudit {
    enabled: String,
    backlog: String,
}

impl HostAudit {
    fn take() -> Result<HostAudit> {
        let s = audit_status()?;
        let enabled = s.get("enabled").cloned().unwrap_or_else(|| "0".into());
        if enabled == "2" {
            bail!("audit is locked (-e 2) on this host: the suite can't add its rules");
        }
        if s.get("pid").is_some_and(|p| p != "0") {
            bail!(
                "an audit daemon is registered (pid {}): the suite needs the slot free",
                s["pid"]
            );
        }
        let host = HostAudit {
            enabled,
            backlog: s
                .get("backlog_limit")
                .cloned()
                .unwrap_or_else(|| "64".into()),
        };
        auditctl(&["-e", "1"])?;
        auditctl(&["-b", "8192"])?;
        Ok(host)
    }
}

impl Drop for HostAudit {
    fn drop(&mut self) {
        let _ = remove_execve_rule();
        let _ = Command::new(swmon_bin())
            .args(["rules", "remove", "--set", "seed"])
            .output();
        let _ = auditctl(&["-b", &self.backlog]);
        let _ = auditctl(&["-e", &self.enabled]);
    }
}

const EXECVE_RULE: [&str; 8] = [
    "always,exit",
    "-F",
    "arch=b64",
    "-S",
    "execve",
    "-k",
    EXECVE_KEY,
    "",
];

fn add_execve_rule() -> Result<()> {
    auditctl(&[&["-a"], &EXECVE_RULE[..7]].concat())?;
    Ok(())
}

fn remove_execve_rule() -> Result<()> {
    auditctl(&[&["-d"], &EXECVE_RULE[..7]].concat())?;
    Ok(())
}

fn seed_rules(install: bool) -> Result<()> {
    let verb = if install { "install" } else { "remove" };
    sh(Command::new(swmon_bin())
        .args(["rules", verb, "--set", "seed"])
        .stdout(Stdio::null()))
}

/// A private auditd in its own folder, optionally with laurel as a plugin.
struct Auditd {
    child: Child,
}

impl Auditd {
    fn start(laurel: Option<&Path>) -> Result<Auditd> {
        let dir = work()?.join("auditd");
        let _ = fs::remove_dir_all(&dir);
        let plugins = dir.join("plugins.d");
        fs::create_dir_all(&plugins)?;
        if let Some(laurel) = laurel {
            let out = dir.join("laurel");
            fs::create_dir_all(&out)?;
            let config = dir.join("laurel.toml");
            fs::write(
                &config,
                format!("directory = \"{}\"\n[auditlog]\nfile = \"audit.log\"\nsize = 100000000\ngenerations = 2\n", out.display()),
            )?;
            fs::write(
                plugins.join("laurel.conf"),
                format!(
                    "active = yes\ndirection = out\ntype = always\nformat = string\npath = {}\nargs = --config {}\n",
                    laurel.display(),
                    config.display()
                ),
            )?;
        }
        let conf = dir.join("auditd.conf");
        fs::write(
            &conf,
            format!(
                "local_events = yes\nwrite_logs = yes\nlog_file = {}\nlog_group = root\nlog_format = ENRICHED\n\
                 flush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 256\nnum_logs = 2\npriority_boost = 4\n\
                 name_format = NONE\nmax_log_file_action = ROTATE\nspace_left = 10\nspace_left_action = IGNORE\n\
                 verify_email = no\naction_mail_acct = root\nadmin_space_left = 5\nadmin_space_left_action = IGNORE\n\
                 disk_full_action = IGNORE\ndisk_error_action = IGNORE\nuse_libwrap = no\ntcp_listen_queue = 5\n\
                 tcp_max_per_addr = 1\ntcp_client_max_idle = 0\ntransport = TCP\ndistribute_network = no\n\
                 q_depth = 20000\noverflow_action = SYSLOG\nmax_restarts = 0\nplugin_dir = {}\nend_of_event_timeout = 2\n",
                dir.join("audit.log").display(),
                plugins.display()
            ),
        )?;
        // auditd refuses a config others can write.
        fs::set_permissions(&conf, std::os::unix::fs::PermissionsExt::from_mode(0o640))?;
        let child = Command::new("auditd")
            .args(["-n", "-s", "nochange", "-c"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start auditd")?;
        let pid = child.id().to_string();
        let end = Instant::now() + Duration::from_secs(15);
        while audit_status()?.get("pid") != Some(&pid) {
            if Instant::now() > end {
                bail!("auditd did not register within 15 s");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Auditd { child })
    }

    fn stop(mut self) {
        end_child(&mut self.child, libc::SIGTERM, STOP_GRACE);
    }
}

impl Drop for Auditd {
    /// A configuration that fails midway (a failed storm, failed seed
    /// rules) still ends the auditd it started, so it does not stay
    /// registered as the audit daemon; after `stop` this does nothing.
    fn drop(&mut self) {
        end_child(&mut self.child, libc::SIGTERM, STOP_GRACE);
    }
}

/// A started BCC execsnoop, ended (by its pid) when dropped.
struct Execsnoop(Child);

impl Drop for Execsnoop {
    fn drop(&mut self) {
        end_child(&mut self.0, libc::SIGINT, STOP_GRACE);
    }
}

/// A started `swmon run`, its output file, and when it is ready.
struct Swmon {
    child: Child,
    out: PathBuf,
}

impl Swmon {
    fn start(args: &[&str]) -> Result<Swmon> {
        let out = work()?.join("events.jsonl");
        let _ = fs::remove_file(&out);
        let child = Command::new(swmon_bin())
            .args(["run", "--output"])
            .arg(&out)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .context("start swmon")?;
        // From here on a failure ends this swmon (Drop).
        let mut swmon = Swmon { child, out };
        wait_started(&mut swmon.child, &swmon.out)?;
        Ok(swmon)
    }

    fn stop(mut self) -> Result<Vec<serde_json::Value>> {
        // SAFETY: a signal to the child we started, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("swmon exited with {status}");
        }
        Ok(fs::read_to_string(&self.out)?
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}

impl Drop for Swmon {
    /// A bench that fails midway still ends the swmon it started (its
    /// rules removed by swmon's own stop); after `stop` this does nothing.
    fn drop(&mut self) {
        end_child(&mut self.child, libc::SIGINT, STOP_GRACE);
    }
}

fn proc_stat_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Pids whose command name is `comm` (kernel threads included).
fn pids_named(comm: &str) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    None,
    Swmon,
    AuditdSeed,
    AuditdExecve,
    Hybrid,
    Laurel,
    Execsnoop,
}

impl Config {
    /// In the order they run (reversed every other round): the two pairs
    /// with a target, none and swmon, auditd + seed rules and the hybrid,
    /// side by side, so each pair is measured seconds apart.
    const ALL: [Config; 7] = [
        Config::None,
        Config::Swmon,
        Config::AuditdSeed,
        Config::Hybrid,
        Config::AuditdExecve,
        Config::Laurel,
        Config::Execsnoop,
    ];

    fn name(self) -> &'static str {
        match self {
            Config::None => "none",
            Config::Swmon => "swmon (`--audit-rules keep`, no rules)",
            Config::AuditdSeed => "auditd + seed rules",
            Config::AuditdExecve => "auditd + execve-all rule",
            Config::Hybrid => "swmon + auditd + seed rules",
            Config::Laurel => "auditd + execve-all + laurel",
            Config::Execsnoop => "BCC execsnoop",
        }
    }
}

/// What a configuration runs, to be measured and then stopped.
struct Running {
    auditd: Option<Auditd>,
    swmon: Option<Swmon>,
    execsnoop: Option<Execsnoop>,
    seed: bool,
    execve: bool,
    laurel: bool,
}

impl Running {
    /// The processes doing the monitoring, by name, for CPU and memory.
    fn monitors(&self) -> Vec<(String, u32)> {
        let mut v = Vec::new();
        if let Some(s) = &self.swmon {
            v.push(("swmon".into(), s.child.id()));
        }
        if let Some(a) = &self.auditd {
            v.push(("auditd".into(), a.child.id()));
            v.extend(
                pids_named("laurel")
                    .into_iter()
                    .map(|p| ("laurel".into(), p)),
            );
        }
        if let Some(e) = &self.execsnoop {
            v.push(("execsnoop".into(), e.0.id()));
        }
        if self.auditd.is_some() || self.seed || self.execve {
            v.extend(
                pids_named("kauditd")
                    .into_iter()
                    .map(|p| ("kauditd".into(), p)),
            );
        }
        v
    }

    fn stop(self) -> Result<()> {
        if let Some(s) = self.swmon {
            s.stop()?;
        }
        if let Some(mut e) = self.execsnoop {
            end_child(&mut e.0, libc::SIGINT, STOP_GRACE);
        }
        if self.seed {
            seed_rules(false)?;
        }
        if self.execve {
            remove_execve_rule()?;
        }
        if let Some(a) = self.auditd {
            a.stop();
        }
        // laurel drains what auditd handed it before it exits; the next
        // configuration must not run beside it.
        let end = Instant::now() + Duration::from_secs(10);
        while self.laurel && !pids_named("laurel").is_empty() && Instant::now() < end {
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

fn laurel_bin() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    let bin = home.join(".cargo/bin/laurel");
    if !bin.exists() {
        sh(Command::new("apt-get").args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "libacl1-dev",
            "clang",
        ]))?;
        sh(Command::new("cargo").args(["install", "laurel", "--locked", "-j2"]))?;
    }
    Ok(bin)
}

fn execsnoop_bin() -> Result<PathBuf> {
    let bin = PathBuf::from("/usr/sbin/execsnoop-bpfcc");
    if !bin.exists() {
        sh(Command::new("apt-get").args([
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "bpfcc-tools",
        ]))?;
    }
    Ok(bin)
}

/// Starts execsnoop and waits for its header line (it compiles its BPF
/// program at start); the error says why when it cannot run here.
fn start_execsnoop(bin: &Path) -> Result<Child, String> {
    let log = work().map_err(|e| e.to_string())?.join("execsnoop.out");
    let err = work().map_err(|e| e.to_string())?.join("execsnoop.err");
    let mut child = Command::new(bin)
        .stdout(fs::File::create(&log).map_err(|e| e.to_string())?)
        .stderr(fs::File::create(&err).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("can't start {}: {e}", bin.display()))?;
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if fs::read_to_string(&log).is_ok_and(|t| t.contains("PCOMM")) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            // BCC prints its complaint about headers on standard output.
            let text = fs::read_to_string(&log).unwrap_or_default()
                + &fs::read_to_string(&err).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            // BCC compiles its program against the kernel's headers at start;
            // its first complaint says what is missing.
            let why = lines
                .iter()
                .find(|l| l.contains("kernel headers"))
                .map(|l| (*l).to_owned())
                .unwrap_or_else(|| lines[lines.len().saturating_sub(2)..].join(" / "));
            return Err(format!("execsnoop exited ({status}): {why}"));
        }
        if Instant::now() > end {
            let _ = child.kill();
            return Err("execsnoop did not start within 60 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn start(
    config: Config,
    laurel: &Result<PathBuf, String>,
    execsnoop: &Path,
) -> Result<Result<Running, String>> {
    let mut r = Running {
        auditd: None,
        swmon: None,
        execsnoop: None,
        seed: false,
        execve: false,
        laurel: false,
    };
    match config {
        Config::None => {}
        Config::Swmon => r.swmon = Some(Swmon::start(&["--audit-rules", "keep"])?),
        Config::AuditdSeed | Config::Hybrid => {
            r.auditd = Some(Auditd::start(None)?);
            seed_rules(true)?;
            r.seed = true;
            if config == Config::Hybrid {
                r.swmon = Some(Swmon::start(&["--audit-rules", "keep"])?);
            }
        }
        Config::AuditdExecve => {
            r.auditd = Some(Auditd::start(None)?);
            add_execve_rule()?;
            r.execve = true;
        }
        Config::Laurel => {
            let bin = match laurel {
                Ok(b) => b,
                Err(why) => return Ok(Err(why.clone())),
            };
            r.auditd = Some(Auditd::start(Some(bin))?);
            add_execve_rule()?;
            r.execve = true;
            r.laurel = true;
            let end = Instant::now() + Duration::from_secs(10);
            while pids_named("laurel").is_empty() {
                if Instant::now() > end {
                    r.stop()?;
                    return Ok(Err("auditd did not start laurel as its plugin".into()));
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Config::Execsnoop => match start_execsnoop(execsnoop) {
            Ok(c) => r.execsnoop = Some(Execsnoop(c)),
            Err(why) => return Ok(Err(why)),
        },
    }
    Ok(Ok(r))
}

#[derive(Default)]
struct Row {
    samples: Vec<Sample>,
    cpu: f64,
    execs: f64,
    rss_kib: HashMap<String, u64>,
    why_not: Option<String>,
}

pub(crate) const CONFIGS_COUNT: u32 = 1000;
pub(crate) const CONFIGS_ROUNDS: u32 = 40;

pub fn configs(count: u32, rounds: u32) -> Result<()> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let blocks = crate::stats::blocks_of(rounds)?;
    let bin = noop()?;
    let laurel = laurel_bin().map_err(|e| format!("can't install laurel: {e:#}"));
    let execsnoop = execsnoop_bin()?;
    let _host = HostAudit::take()?;
    storm(&bin, count / 4)?;
    let mut rows: Vec<Row> = Config::ALL.iter().map(|_| Row::default()).collect();
    for round in 0..rounds {
        // ABBA: forward in even rounds, backward in odd ones, so a drift
        // of the machine slower than two rounds cancels out of the pairs.
        let n = Config::ALL.len();
        for k in 0..n {
            let i = if round % 2 == 0 { k } else { n - 1 - k };
            let config = Config::ALL[i];
            if rows[i].why_not.is_some() {
                continue;
            }
            let running = match start(config, &laurel, &execsnoop)? {
                Ok(r) => r,
                Err(why) => {
                    eprintln!("{}: cannot run here: {why}", config.name());
                    rows[i].why_not = Some(why);
                    continue;
                }
            };
            // The same settle storm before every configuration, none's
            // included: past a monitor's start and the teardown before it.
            storm(&bin, SETTLE_EXECS)?;
            let monitors = running.monitors();
            let cpu0: Vec<f64> = monitors
                .iter()
                .map(|(_, p)| proc_stat_seconds(*p))
                .collect();
            let sample = storm(&bin, count)?;
            // A process gone meanwhile reads 0: count only what grew.
            let cpu: f64 = monitors
                .iter()
                .zip(&cpu0)
                .map(|((_, p), before)| (proc_stat_seconds(*p) - before).max(0.0))
                .sum();
            for (name, pid) in &monitors {
                let kib = peak_rss_kib(*pid);
                if kib == 0 {
                    continue; // a kernel thread, or a process already gone
                }
                let e = rows[i].rss_kib.entry(name.clone()).or_default();
                *e = (*e).max(kib);
            }
            running.stop()?;
            rows[i].samples.push(sample);
            rows[i].cpu += cpu;
            rows[i].execs += f64::from(count);
            eprintln!(
                "round {}: {:<40} {:.0} execs/s, {:.1} CPU µs per exec",
                round + 1,
                config.name(),
                sample.rate,
                sample.cpu_us,
            );
        }
    }
    // Ratios are taken round by round (both configurations ran in the same
    // round, seconds apart for the pairs with a target), folded into one
    // per ABBA block, then their median and its CI: drift in the machine
    // cancels out of a pair better than out of two medians. Exec rate
    // a / b; CPU per exec b / a, so below 1 is a cost in both.
    let paired = |a: usize, b: usize| -> (Paired, Paired) {
        paired_samples(&rows[a].samples, &rows[b].samples)
    };
    let index = |c: Config| Config::ALL.iter().position(|x| *x == c).unwrap_or(0);
    let mut table = String::from(
        "| configuration | execs/s, median (min–max) | exec rate / none: median [≥95% CI] | workload CPU µs per exec, median | monitor CPU s / 1,000 execs | peak RSS |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut bars = Vec::new();
    for (i, (config, row)) in Config::ALL.iter().zip(&rows).enumerate() {
        if let Some(why) = &row.why_not {
            table.push_str(&format!(
                "| {} | — | — | — | — | cannot run here: {} |\n",
                config.name(),
                why.replace('|', "/")
            ));
            continue;
        }
        let rates: Vec<f64> = row.samples.iter().map(|s| s.rate).collect();
        let cpus: Vec<f64> = row.samples.iter().map(|s| s.cpu_us).collect();
        let m = median(&rates);
        let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = rates.iter().copied().fold(0.0, f64::max);
        let rss = if row.rss_kib.is_empty() {
            "—".to_owned()
        } else {
            let mut v: Vec<String> = row
                .rss_kib
                .iter()
                .filter(|(name, _)| *name != "kauditd")
                .map(|(name, kib)| format!("{name} {:.1} MiB", *kib as f64 / 1024.0))
                .collect();
            v.sort();
            v.join(", ")
        };
        let cpu = if *config == Config::None {
            "—".to_owned()
        } else {
            format!("{:.3}", row.cpu * 1000.0 / row.execs)
        };
        let (r, _) = paired(i, 0);
        let shown = if *config == Config::None {
            "1".to_owned()
        } else {
            r.show()
        };
        table.push_str(&format!(
            "| {} | {m:.0} ({lo:.0}–{hi:.0}) | {shown} | {:.1} | {cpu} | {rss} |\n",
            config.name(),
            median(&cpus),
        ));
        bars.push((config.name(), r.median));
    }
    let (swmon, swmon_cpu) = paired(index(Config::Swmon), 0);
    let (hybrid, hybrid_cpu) = paired(index(Config::Hybrid), index(Config::AuditdSeed));
    let chart = chart(&bars);
    fs::write(root().join("BENCHMARKS-configs.svg"), chart)?;
    let body = format!(
        "{table}\nEach round runs every configuration once, in the order above in odd rounds and reversed in \
         even ones; two rounds make an ABBA block, so none and swmon, and auditd + seed rules and the hybrid, \
         run seconds apart and a drift of the machine slower than a block cancels out of their pairs. Every \
         configuration is started afresh for its segment and measured after the same {SETTLE_EXECS} no-op \
         execs (past its start and the teardown of the one before). A ratio is taken within each round, a \
         block's ratio is the geometric mean of its two rounds' ratios, and the table gives the median of the \
         {blocks} block ratios with a confidence interval of at least 95% coverage (exact coverage in the \
         verdicts below) that assumes no distribution (order statistics, binomial: `xtask/src/stats.rs`; it \
         does assume independent blocks). The interval describes the variation between blocks within this \
         one run; runs minutes apart have differed by more than it. The workload's CPU per \
         exec is the user + system time of the storm's thread and its children (`getrusage`: no time waiting \
         for a CPU, no steal time; the exec's kernel work included, BPF programs and audit records alike). \
         Monitor CPU counts the monitoring processes only (swmon, auditd, laurel, execsnoop, and the kernel's \
         kauditd thread where audit rules are loaded), during the storm; audit is enabled (backlog 8192) for \
         every configuration.\n\n\
         Target: exec rate ≥ 0.98 of the configuration without swmon. `met` only when the ≥95% CI of the median \
         of block ratios lies at or above it, `MISSED` only when it lies below, else `not shown`:\n\
         - swmon alone against none: exec rate {}; the workload's CPU per exec (none / swmon) {}.\n\
         - The hybrid against auditd + seed rules: exec rate {}; the workload's CPU per exec (auditd + seed / \
         hybrid) {}.\n\n\
         ![execs/s per configuration, as a ratio to none](BENCHMARKS-configs.svg)\n",
        swmon.verdict(0.98),
        swmon_cpu.verdict(0.98),
        hybrid.verdict(0.98),
        hybrid_cpu.verdict(0.98),
    );
    println!("\n{body}");
    write_section(
        "configs",
        &body,
        &format!("cargo xtask bench configs --count {count} --rounds {rounds}"),
    )
}

/// A horizontal bar chart of ratios to none, as a self-contained SVG.
fn chart(bars: &[(&str, f64)]) -> String {
    let (w, row, left) = (760.0, 34.0, 300.0);
    let h = 50.0 + row * bars.len() as f64;
    let scale = |r: f64| (w - left - 60.0) * r.clamp(0.0, 1.2) / 1.2;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <text x=\"10\" y=\"20\" font-weight=\"bold\">exec storm: execs/s as a ratio to none</text>\n"
    );
    let one = left + scale(1.0);
    for (i, (name, r)) in bars.iter().enumerate() {
        let y = 35.0 + row * i as f64;
        let colour = if *name == "none" {
            "#888"
        } else if name.starts_with("swmon") {
            "#2a7"
        } else {
            "#48c"
        };
        s.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{}</text>\n<rect x=\"{left}\" y=\"{:.0}\" width=\"{:.1}\" height=\"20\" fill=\"{colour}\"/>\n<text x=\"{:.1}\" y=\"{:.0}\">{r:.3}</text>\n",
            left - 8.0,
            y + 15.0,
            name.replace('`', ""),
            y,
            scale(*r),
            left + scale(*r) + 6.0,
            y + 15.0
        ));
    }
    s.push_str(&format!("<line x1=\"{one:.1}\" y1=\"28\" x2=\"{one:.1}\" y2=\"{:.0}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/>\n</svg>\n", h - 8.0));
    s
}

/// Follows swmon's output file and notes when each line appears.
struct Follower {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(SystemTime, String)>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Follower {
    fn start(path: PathBuf) -> Follower {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s2, seen2) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = thread::spawn(move || {
            let mut offset = 0usize;
            let mut partial = String::new();
            while !s2.load(Ordering::Relaxed) {
                if let Ok(bytes) = fs::read(&path) {
                    if bytes.len() > offset {
                        let now = SystemTime::now();
                        partial.push_str(&String::from_utf8_lossy(&bytes[offset..]));
                        offset = bytes.len();
                        while let Some(i) = partial.find('\n') {
                            let line: String = partial.drain(..=i).collect();
                            if let Ok(mut v) = seen2.lock() {
                                v.push((now, line));
                            }
                        }
                    }
                }
                thread::sleep(Duration::from_micros(500));
            }
        });
        Follower {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<(SystemTime, serde_json::Value)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let seen = self.seen.lock().map(|v| v.clone()).unwrap_or_default();
        seen.into_iter()
            .filter_map(|(t, l)| serde_json::from_str(&l).ok().map(|v| (t, v)))
            .collect()
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    // "2026-11-26T09:44:13.857180Z": the bench's own clock is the same host's.
    let out = Command::new("date")
        .args(["-u", "-d", s, "+%s.%N"])
        .output()
        .ok()?;
    let secs: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

pub fn latency(runs: u32) -> Result<()> {
    let _host = HostAudit::take()?;
    let copy = work()?.join("mydpkg");
    fs::copy("/usr/bin/dpkg", &copy)?;
    let auditd = Auditd::start(None)?;
    let swmon = Swmon::start(&["--audit-rules", "seed"])?;
    let follow = Follower::start(swmon.out.clone());
    let mut pids = HashMap::new();
    for i in 0..runs {
        let (cmd, kind) = if i % 5 == 4 {
            (copy.as_path(), "ebpf_only")
        } else {
            (Path::new("/usr/bin/dpkg"), "confirmed")
        };
        let child = Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .spawn()?;
        pids.insert(child.id(), kind);
        let mut child = child;
        child.wait()?;
        thread::sleep(Duration::from_millis(20));
    }
    // The last ebpf_only runs are decided after their wait.
    thread::sleep(Duration::from_millis(2500));
    let seen = follow.finish();
    swmon.stop()?;
    auditd.stop();
    let mut lat: HashMap<&'static str, Vec<f64>> = HashMap::new();
    let mut verdict_mismatch = 0;
    for (at, e) in &seen {
        let Some(pid) = e["process"]["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
        else {
            continue;
        };
        let Some(kind) = pids.get(&pid) else { continue };
        if e["swmon"]["verdict"] != *kind {
            verdict_mismatch += 1;
            continue;
        }
        let Some(start) = e["process"]["start"].as_str().and_then(parse_time) else {
            continue;
        };
        let ms = at
            .duration_since(start)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        lat.entry(kind).or_default().push(ms);
    }
    let mut row = |kind: &'static str| {
        let v = lat.entry(kind).or_default();
        let n = v.len();
        (n, percentile(v, 0.5), percentile(v, 0.99))
    };
    let (cn, c50, c99) = row("confirmed");
    let (en, e50, e99) = row("ebpf_only");
    let body = format!(
        "| verdict | runs | p50 | p99 | target |\n|---|---|---|---|---|\n\
         | confirmed (`dpkg --version`, seed rule) | {cn} | {c50:.1} ms | {c99:.1} ms | p99 ≤ 50 ms: {} |\n\
         | ebpf_only (a renamed copy of dpkg) | {en} | {e50:.1} ms | {e99:.1} ms | ≤ wait (2000 ms) + 50 ms: {} |\n\n\
         From the exec (`process.start`, the kernel's clock) to the line in swmon's output (seen by a reader \
         polling the file every 0.5 ms), with swmon + auditd + seed rules. Runs with an unexpected verdict: \
         {verdict_mismatch}. A run's event is written at its exit, so the time includes the run itself \
         (`dpkg --version`: about 2 ms).\n",
        if c99 <= 50.0 { "met" } else { "MISSED" },
        if e99 <= 2050.0 { "met" } else { "MISSED" },
    );
    println!("\n{body}");
    write_section(
        "latency",
        &body,
        &format!("cargo xtask bench latency --runs {runs}"),
    )
}

/// Runs `runs` installer execs (dpkg and a renamed copy) while two storm
/// threads exec the no-op as fast as they can; returns the installer pids.
fn storm_with_installs(noop: &Path, runs: u32, copy: &Path) -> Result<(Vec<u32>, f64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(Mutex::new(0u64));
    let mut storms = Vec::new();
    for _ in 0..2 {
        let (stop, count, noop) = (Arc::clone(&stop), Arc::clone(&count), noop.to_owned());
        storms.push(thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if Command::new(&noop).status().is_ok() {
                    n += 1;
                }
            }
            if let Ok(mut c) = count.lock() {
                *c += n;
            }
        }));
    }
    let start = Instant::now();
    let mut pids = Vec::new();
    for i in 0..runs {
        let bin = if i % 2 == 0 {
            Path::new("/usr/bin/dpkg")
        } else {
            copy
        };
        let mut child = Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .spawn()?;
        pids.push(child.id());
        child.wait()?;
    }
    stop.store(true, Ordering::Relaxed);
    for s in storms {
        let _ = s.join();
    }
    let rate = *count.lock().map_err(|_| anyhow::anyhow!("storm counter"))? as f64
        / start.elapsed().as_secs_f64();
    Ok((pids, rate))
}

/// The audit rule that records the passing storm's execs; deleted when
/// dropped, however the bench ends.
struct StormRule(Vec<String>);

impl StormRule {
    fn add(path: &Path) -> Result<StormRule> {
        let rule: Vec<String> = [
            "always,exit",
            "-F",
            "arch=b64",
            "-S",
            "execve",
            "-F",
            &format!("path={}", path.display()),
            "-k",
            STORM_KEY,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let args: Vec<&str> = std::iter::once("-a")
            .chain(rule.iter().map(String::as_str))
            .collect();
        auditctl(&args)?;
        Ok(StormRule(rule))
    }
}

impl Drop for StormRule {
    fn drop(&mut self) {
        let args: Vec<&str> = std::iter::once("-d")
            .chain(self.0.iter().map(String::as_str))
            .collect();
        let _ = auditctl(&args);
    }
}

const STORM_KEY: &str = "swmon-bench-storm";

/// Two threads exec `bin` (which the kernel filter passes: it is named
/// like an installer) as fast as they can for `secs`; returns every pid
/// and the rate.
fn passing_storm(bin: &Path, secs: u64) -> Result<(Vec<u32>, f64)> {
    let end = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..2 {
        let bin = bin.to_owned();
        threads.push(thread::spawn(move || {
            let mut pids = Vec::new();
            while Instant::now() < end {
                if let Ok(mut c) = Command::new(&bin).spawn() {
                    pids.push(c.id());
                    let _ = c.wait();
                }
            }
            pids
        }));
    }
    let mut pids = Vec::new();
    for t in threads {
        pids.extend(
            t.join()
                .map_err(|_| anyhow::anyhow!("a storm thread panicked"))?,
        );
    }
    let rate = pids.len() as f64 / start.elapsed().as_secs_f64();
    Ok((pids, rate))
}

/// The passing storm under swmon with default buffers: every exec is an
/// installer run with an audit record, so the ring buffer, the audit
/// socket, every stage and the writer all carry the full rate.
fn passing_storm_section(noop: &Path, secs: u64) -> Result<String> {
    let dir = work()?.join("storm");
    fs::create_dir_all(&dir)?;
    let fake = dir.join("dpkg");
    fs::copy(noop, &fake)?;
    let auditd = Auditd::start(None)?;
    let swmon = Swmon::start(&["--audit-rules", "seed"])?;
    let rule = StormRule::add(&fake)?;
    let (pids, rate) = passing_storm(&fake, secs)?;
    // Runs are decided at their exit (their record is there by then) or
    // after the audit wait (2 s).
    thread::sleep(Duration::from_millis(3000));
    drop(rule);
    let events = swmon.stop()?;
    auditd.stop();
    let mut verdicts: HashMap<u64, String> = HashMap::new();
    for e in &events {
        if let Some(pid) = e["process"]["pid"].as_u64() {
            verdicts.insert(pid, e["swmon"]["verdict"].as_str().unwrap_or("").to_owned());
        }
    }
    let missing = pids
        .iter()
        .filter(|p| !verdicts.contains_key(&u64::from(**p)))
        .count();
    let with_verdict = |verdict: &str| {
        pids.iter()
            .filter(|p| verdicts.get(&u64::from(**p)).is_some_and(|v| v == verdict))
            .count()
    };
    let confirmed = with_verdict("confirmed");
    let audit_only = with_verdict("audit_only");
    let c = events
        .iter()
        .rev()
        .find(|e| e["event"]["action"] == "monitor-stopped")
        .map(|e| e["swmon"]["counters"].clone())
        .unwrap_or_default();
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    let alerts = events
        .iter()
        .filter(|e| {
            e["event"]["action"] == "events-lost" || e["event"]["action"] == "ebpf-events-lost"
        })
        .count();
    Ok(format!(
        "\n### A storm of passing execs\n\n\
         Two threads exec a static no-op named `dpkg` (the kernel filter passes it by name; an \
         audit rule `-S execve -F path=<it>` records each) as fast as they can for {secs} s, \
         beside a private auditd, swmon with `--audit-rules seed` and default buffers. A run \
         whose exit record was lost is still reported (without its exit code, ended by the \
         sweep); `runs without exit` counts those. A run whose exec record the ring buffer \
         could not take (`kernel lost`, exec / exit) is reported from its audit record alone \
         (`audit_only`).\n\n\
         | execs/s | installer runs | reported | missing | confirmed | audit_only | runs without exit | kernel lost (exec / exit) | queue drops (kernel / audit / writer) | audit overruns | audit serial gaps | loss alerts |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {rate:.0} | {} | {} | {missing} | {confirmed} | {audit_only} | {} | {} / {} | {} / {} / {} | {} | {} | {alerts} |\n\n\
         Target: zero installer runs lost — {}.\n",
        pids.len(),
        pids.len() - missing,
        n("exits_missing"),
        n("exec_reserve_failed"),
        n("exit_reserve_failed"),
        n("kernel_queue_dropped"),
        n("audit_queue_dropped"),
        n("writer_dropped"),
        c["audit"]["overruns"].as_u64().unwrap_or(0),
        c["audit"]["assembler"]["serial_gaps"].as_u64().unwrap_or(0),
        if missing == 0 { "met" } else { "MISSED" },
    ))
}

pub fn loss(runs: u32) -> Result<()> {
    let bin = noop()?;
    let _host = HostAudit::take()?;
    let copy = work()?.join("mydpkg");
    fs::copy("/usr/bin/dpkg", &copy)?;
    let mut body = String::from(
        "| buffers | storm execs/s | installer runs | reported | missing | kernel lost (ring buffer) | audit overruns | audit serial gaps |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut verdicts = Vec::new();
    for (label, args) in [
        (
            "default (4 MiB ring, 8 MiB audit socket)",
            vec!["--audit-rules", "seed", "--audit-wait-ms", "500"],
        ),
        (
            "shrunk (16 KiB ring, 4 KiB audit socket)",
            vec![
                "--audit-rules",
                "seed",
                "--audit-wait-ms",
                "500",
                "--ring-buffer-size",
                "16384",
                "--audit-rcvbuf",
                "4096",
            ],
        ),
    ] {
        let auditd = Auditd::start(None)?;
        let swmon = Swmon::start(&args)?;
        let (pids, rate) = storm_with_installs(&bin, runs, &copy)?;
        thread::sleep(Duration::from_millis(1500));
        let events = swmon.stop()?;
        auditd.stop();
        let reported: std::collections::HashSet<u64> = events
            .iter()
            .filter_map(|e| e["process"]["pid"].as_u64())
            .collect();
        let missing = pids
            .iter()
            .filter(|p| !reported.contains(&u64::from(**p)))
            .count();
        let c = events
            .iter()
            .rev()
            .find(|e| e["event"]["action"] == "monitor-stopped")
            .map(|e| e["swmon"]["counters"].clone())
            .unwrap_or_default();
        let lost = c["lost"].as_u64().unwrap_or(0);
        let overruns = c["audit"]["overruns"].as_u64().unwrap_or(0);
        let gaps = c["audit"]["assembler"]["serial_gaps"].as_u64().unwrap_or(0);
        body.push_str(&format!(
            "| {label} | {rate:.0} | {} | {} | {missing} | {lost} | {overruns} | {gaps} |\n",
            pids.len(),
            pids.len() - missing
        ));
        verdicts.push((label, missing, lost, overruns + gaps));
    }
    let (_, m0, l0, a0) = verdicts[0];
    let (_, m1, l1, a1) = verdicts[1];
    body.push_str(&format!(
        "\nWith the default buffers: {} (target: zero installer runs lost, zero loss counted). \
         With shrunk buffers: {} installer runs missing, {l1} kernel events and {a1} audit overruns/gaps \
         counted: {}.\n",
        if m0 == 0 && l0 == 0 && a0 == 0 { "none lost, nothing counted — met" } else { "MISSED" },
        m1,
        if m1 as u64 <= l1 { "every missing run is covered by the kernel's loss count" } else { "MISSED: loss not fully counted" },
    ));
    body.push_str(&passing_storm_section(&bin, 10)?);
    println!("\n{body}");
    let _ = std::io::stdout().flush();
    write_section(
        "loss",
        &body,
        &format!("cargo xtask bench loss --runs {runs}"),
    )
}
