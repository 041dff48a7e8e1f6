//! Benchmarks. Every figure is a ratio measured side by side in one run,
//! configurations alternated round by round, on these noisy machines:
//! compare, don't quote single absolute times. Results are printed and
//! written into BENCHMARKS.md between markers, with the machine, kernel,
//! date and the command.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::{root, sh};

#[derive(Subcommand, Clone)]
pub enum Which {
    /// Exec storms without and with swmon, side by side in one run: a
    /// static no-op binary (the ordinary exec), and `python3 -c pass` (an
    /// interpreter exec, which the kernel's argv scan reads).
    Exec {
        /// Execs of the no-op per round and configuration.
        #[arg(long, default_value_t = 4000)]
        count: u32,
        /// `python3 -c pass` execs per round and configuration.
        #[arg(long, default_value_t = 300)]
        python_count: u32,
        /// Rounds (each runs every configuration once, alternating).
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// Another swmon binary (another build, e.g. main's) measured in
        /// the same rounds as a third configuration, for an A/B of two
        /// builds against the same `none`; the table is printed only
        /// (BENCHMARKS.md is left as it is).
        #[arg(long, value_name = "BIN")]
        compare: Option<PathBuf>,
    },
    /// The exec storm under every configuration: none, swmon, auditd with
    /// the seed rules or an execve-all rule, the hybrid, laurel, execsnoop.
    Configs {
        /// Execs per round and configuration.
        #[arg(long, default_value_t = 8000)]
        count: u32,
        #[arg(long, default_value_t = 7)]
        rounds: u32,
    },
    /// Exec-to-event latency of installer runs, confirmed and ebpf_only.
    Latency {
        /// Confirmed runs (`dpkg --version`), and as many / 5 ebpf_only ones.
        #[arg(long, default_value_t = 100)]
        runs: u32,
    },
    /// Installer runs under a maximal exec storm: none lost; then buffers
    /// shrunk until loss happens, and it is counted.
    Loss {
        /// Installer runs interleaved with the storm.
        #[arg(long, default_value_t = 1000)]
        runs: u32,
    },
    /// Everything above and the audit parser, in one go.
    All,
    /// Audit parser and assembler throughput on recorded audit text.
    Audit {
        /// Passes over the recorded records.
        #[arg(long, default_value_t = 4000)]
        passes: u32,
    },
}

pub fn run(which: Which) -> Result<()> {
    match which {
        Which::Exec {
            count,
            python_count,
            rounds,
            compare,
        } => exec(count, python_count, rounds, compare.as_deref()),
        Which::Audit { passes } => audit(passes),
        Which::Configs { count, rounds } => crate::suite::configs(count, rounds),
        Which::Latency { runs } => crate::suite::latency(runs),
        Which::Loss { runs } => crate::suite::loss(runs),
        Which::All => {
            exec(4000, 300, 5, None)?;
            crate::suite::configs(8000, 7)?;
            crate::suite::latency(100)?;
            crate::suite::loss(1000)?;
            audit(4000)
        }
    }
}

/// A static binary that only exits: the cheapest exec there is, so the
/// monitor's share of each exec is as visible as it can be.
pub(crate) fn noop() -> Result<PathBuf> {
    let dir = root().join("target/bench");
    fs::create_dir_all(&dir)?;
    let src = dir.join("noop.S");
    let bin = dir.join("noop");
    fs::write(
        &src,
        ".globl _start\n_start:\n  mov $60, %eax\n  xor %edi, %edi\n  syscall\n",
    )?;
    sh(Command::new("gcc")
        .args(["-nostdlib", "-static", "-o"])
        .arg(&bin)
        .arg(&src))?;
    Ok(bin)
}

/// Runs `count` execs of `bin`, one after another; returns execs per second.
pub(crate) fn storm(bin: &Path, count: u32) -> Result<f64> {
    storm_of(bin, &[], count)
}

/// The interpreter of the interpreter storm: the system's, by the name
/// the kernel filter knows it by.
const PYTHON: &str = "/usr/bin/python3";

/// Runs `count` execs of `bin ARGS`, one after another; returns execs per
/// second.
fn storm_of(bin: &Path, args: &[&str], count: u32) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..count {
        let status = Command::new(bin)
            .args(args)
            .status()
            .with_context(|| format!("exec {}", bin.display()))?;
        if !status.success() {
            bail!("{} failed: {status}", bin.display());
        }
    }
    Ok(f64::from(count) / start.elapsed().as_secs_f64())
}

struct Swmon {
    child: Child,
    out: PathBuf,
}

impl Swmon {
    fn start(bin: &Path) -> Result<Swmon> {
        let out = root().join("target/bench/events.jsonl");
        let _ = fs::remove_file(&out);
        let child = Command::new(bin)
            .args(["run", "--output"])
            .arg(&out)
            .stdout(Stdio::null())
            .spawn()
            .context("start swmon")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !fs::read_to_string(&out).is_ok_and(|t| t.contains("monitor-started")) {
            if Instant::now() > deadline {
                bail!("swmon did not start");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(Swmon { child, out })
    }

    /// CPU seconds (user + system) used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (ticks(11) + ticks(12)) / hz
    }

    /// Peak resident set in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Stops swmon; returns its monitor-stopped counters.
    fn stop(mut self) -> Result<serde_json::Value> {
        // SAFETY: a signal to the child we started, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("swmon exited with {status}");
        }
        let text = fs::read_to_string(&self.out)?;
        let last = text.lines().last().context("no events")?;
        let v: serde_json::Value = serde_json::from_str(last)?;
        Ok(v["swmon"]["counters"].clone())
    }
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One workload's rates, none and with swmon, round by round.
#[derive(Default)]
struct Rates {
    none: Vec<f64>,
    with: Vec<f64>,
    /// With `--compare`'s binary.
    other: Vec<f64>,
}

impl Rates {
    /// Median of the per-round ratios (each round ran both back to back).
    fn round_ratio(&self) -> f64 {
        Self::ratio_of(&self.with, &self.none)
    }

    fn ratio_of(with: &[f64], none: &[f64]) -> f64 {
        let mut r: Vec<f64> = with.iter().zip(none).map(|(w, n)| w / n).collect();
        median(&mut r)
    }

    fn row(&self, name: &str, rounds: u32) -> String {
        let spread = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0, f64::max);
            format!("{lo:.0}–{hi:.0}")
        };
        let (mut none, mut with) = (self.none.clone(), self.with.clone());
        let (n, w) = (median(&mut none), median(&mut with));
        let mut row = format!(
            "| {name} | none | {n:.0} | {} | 1.000 |\n\
             | {name} | swmon | {w:.0} | {} | {:.3} (of medians: {:.3}, {rounds} rounds) |\n",
            spread(&self.none),
            spread(&self.with),
            self.round_ratio(),
            w / n,
        );
        if !self.other.is_empty() {
            let o = median(&mut self.other.clone());
            row.push_str(&format!(
                "| {name} | swmon (--compare) | {o:.0} | {} | {:.3} (of medians: {:.3}, {rounds} rounds) |\n",
                spread(&self.other),
                Self::ratio_of(&self.other, &self.none),
                o / n,
            ));
        }
        row
    }
}

fn exec(count: u32, python_count: u32, rounds: u32, compare: Option<&Path>) -> Result<()> {
    let this = root().join("target/release/swmon");
    let bin = noop()?;
    let python = Path::new(PYTHON);
    // Warm the page cache and the exec path.
    storm(&bin, count / 4)?;
    storm_of(python, &["-c", "pass"], python_count / 4)?;
    let mut noop_rates = Rates::default();
    let mut python_rates = Rates::default();
    let mut cpu = 0.0;
    let mut rss = 0;
    let mut seen = 0u64;
    let mut passed = 0u64;
    let mut lost = 0u64;
    let mut dropped = 0u64;
    // None, this build, `--compare`'s.
    let mut configs: Vec<Option<&Path>> = vec![None, Some(&this)];
    configs.extend(compare.map(Some));
    for round in 0..rounds {
        // Rotate which goes first, so drift in the machine hits all.
        let mut order = configs.clone();
        order.rotate_left(round as usize % configs.len());
        for config in order {
            let other = config.is_some_and(|b| b != this);
            let s = match config {
                Some(bin) => Some(Swmon::start(bin)?),
                None => None,
            };
            let cpu0 = s.as_ref().map_or(0.0, Swmon::cpu_seconds);
            let a = storm(&bin, count)?;
            let b = storm_of(python, &["-c", "pass"], python_count)?;
            if let Some(s) = s {
                cpu += s.cpu_seconds() - cpu0;
                rss = rss.max(s.peak_rss_kib());
                let c = s.stop()?;
                seen += c["seen"].as_u64().unwrap_or(0);
                passed += c["passed"].as_u64().unwrap_or(0);
                lost += c["lost"].as_u64().unwrap_or(0);
                dropped += c["interpreter_dropped"].as_u64().unwrap_or(0);
                if other {
                    noop_rates.other.push(a);
                    python_rates.other.push(b);
                } else {
                    noop_rates.with.push(a);
                    python_rates.with.push(b);
                }
            } else {
                noop_rates.none.push(a);
                python_rates.none.push(b);
            }
        }
        eprintln!(
            "round {}: no-op none {:.0}/s swmon {:.0}/s; python3 -c pass none {:.1}/s swmon {:.1}/s",
            round + 1,
            noop_rates.none[noop_rates.none.len() - 1],
            noop_rates.with[noop_rates.with.len() - 1],
            python_rates.none[python_rates.none.len() - 1],
            python_rates.with[python_rates.with.len() - 1],
        );
    }
    let total = f64::from((count + python_count) * rounds) * (configs.len() - 1) as f64;
    let (r_noop, r_python) = (noop_rates.round_ratio(), python_rates.round_ratio());
    let table = format!(
        "| workload | configuration | execs/s (median of {rounds}) | spread | ratio to none (median of per-round ratios) |\n\
         |---|---|---|---|---|\n\
         {}{}\n\
         Each round runs both workloads without swmon and with it, back to back (the order alternating). \
         The no-op is an ordinary exec (the filter's few map lookups); `{PYTHON} -c pass` is an interpreter \
         exec, whose argv the kernel scans whole (`bpf_loop`) and whose fd 0 it checks, then drops.\n\n\
         swmon while it ran: {:.3} CPU seconds per 1,000 execs ({:.2} s for {total:.0} execs), \
         peak RSS {:.1} MiB; the kernel filter saw {seen} execs, passed {passed} to user space, \
         dropped {dropped} interpreter execs after the scan, lost {lost}.\n",
        noop_rates.row("no-op", rounds),
        python_rates.row("python3 -c pass", rounds),
        cpu * 1000.0 / total,
        cpu,
        rss as f64 / 1024.0,
    );
    println!("\n{table}");
    let verdict = |r: f64| if r >= 0.98 { "met" } else { "MISSED" };
    let target = format!(
        "Target: ratio ≥ 0.98 — no-op {r_noop:.3}: {}; python3 -c pass {r_python:.3}: {}.\n",
        verdict(r_noop),
        verdict(r_python)
    );
    println!("{target}");
    if let Some(bin) = compare {
        println!(
            "(--compare {}: the seen/passed/CPU figures above sum both swmon builds; \
             BENCHMARKS.md left as it is)",
            bin.display()
        );
        return Ok(());
    }
    write_section(
        "exec",
        &format!("{table}\n{target}"),
        &format!(
            "cargo xtask bench exec --count {count} --python-count {python_count} --rounds {rounds}"
        ),
    )
}

fn audit(passes: u32) -> Result<()> {
    let data = root().join("swmon/tests/data/audit");
    let out = Command::new("cargo")
        .current_dir(root())
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "swmon",
            "--example",
            "audit_throughput",
            "--",
        ])
        .arg(data.join("netlink-watch-rules.txt"))
        .arg(data.join("auditd-log-seed-rules.log"))
        .arg(passes.to_string())
        .output()
        .context("run the audit_throughput example")?;
    if !out.status.success() {
        bail!(
            "audit_throughput failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let (records, assemble, parse, log) = (
        get("records "),
        get("netlink_parse_assemble_per_s "),
        get("netlink_parse_per_s "),
        get("log_parse_per_s "),
    );
    let target = if assemble >= 1_000_000.0 {
        "met"
    } else {
        "MISSED"
    };
    let body = format!(
        "| stage (one core) | records/s | ratio to the 1,000,000/s target |\n|---|---|---|\n\
         | netlink: parse + assemble by serial | {assemble:.0} | {:.1} |\n\
         | netlink: parse only | {parse:.0} | {:.1} |\n\
         | auditd log (ENRICHED): parse only | {log:.0} | {:.1} |\n\n\
         {records:.0} real records (`swmon/tests/data/audit/netlink-watch-rules.txt` replayed with \
         serials rewritten so every event is new).\n\nTarget: ≥ 1,000,000 records/s per core — {target}.\n",
        assemble / 1e6,
        parse / 1e6,
        log / 1e6,
    );
    println!("\n{body}");
    write_section(
        "audit",
        &body,
        &format!("cargo xtask bench audit --passes {passes}"),
    )
}

/// Replaces the section between `<!-- bench:NAME -->` markers in BENCHMARKS.md.
pub(crate) fn write_section(name: &str, body: &str, command: &str) -> Result<()> {
    let path = root().join("BENCHMARKS.md");
    let text = fs::read_to_string(&path).unwrap_or_else(|_| "# swmon benchmarks\n".to_owned());
    let begin = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name\t: ").map(str::to_owned))
        .unwrap_or_default();
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let section = format!(
        "{begin}\nMeasured {date} on {cpu} ({cores} cores), kernel {}, with `{command}`.\n\n{body}{end}",
        kernel.trim()
    );
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{}{}", &text[..a], section, &text[b + end.len()..])
        }
        _ => format!("{}\n{}\n", text.trim_end(), section),
    };
    fs::write(&path, new)?;
    eprintln!("xtask: wrote the {name} section of {}", path.display());
    Ok(())
}
