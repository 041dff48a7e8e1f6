//! Benchmarks. Every figure is a ratio measured side by side in one run,
//! configurations alternated round by round (ABBA), on these noisy
//! machines: compare, don't quote single absolute times. A ratio is taken
//! within each round, the two rounds of an ABBA block are folded into one
//! ratio, and the median over the blocks is given with a confidence
//! interval of at least 95% coverage (`stats.rs`); a target is met or
//! missed only when the interval says so. Results are printed and written into
//! BENCHMARKS.md between markers, with the machine, kernel, date and the
//! command.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::{
    filebench, root, sh,
    stats::{block_ratios, blocks_of, median, Paired},
};

#[derive(Subcommand, Clone)]
pub enum Which {
    /// Exec storms without and with swmon, side by side in one run: a
    /// static no-op binary (the ordinary exec), and `python3 -c pass` (an
    /// interpreter exec, which the kernel's argv scan reads); cached
    /// preads; and two file workloads: file tree operations and `tar -x`.
    Exec {
        /// Execs of the no-op per round and configuration.
        #[arg(long, default_value_t = EXEC_COUNT)]
        count: u32,
        /// `python3 -c pass` execs per round and configuration.
        #[arg(long, default_value_t = EXEC_PYTHON_COUNT)]
        python_count: u32,
        /// Cached 4 KiB `pread`s per round and configuration (the cost the
        /// module-load witness puts on a buffered read of a process that
        /// runs no interpreter).
        #[arg(long, default_value_t = EXEC_READ_COUNT)]
        read_count: u32,
        /// Files per round and configuration of the file tree workload
        /// (create, write 4 KiB, close, rename, chmod, unlink each, in
        /// folders of 1000).
        #[arg(long, default_value_t = EXEC_FILE_COUNT)]
        file_count: u32,
        /// Files of the tarball `tar -x` unpacks once per round and
        /// configuration (built once under target/bench/ and reused; about
        /// 15.5 KiB a file).
        #[arg(long, default_value_t = EXEC_TAR_FILES)]
        tar_files: u32,
        /// Where the file workloads make their trees (default
        /// target/bench/, on the repository's filesystem).
        #[arg(long, value_name = "DIR")]
        file_dir: Option<PathBuf>,
        /// Rounds: each runs every configuration once, in the order of the
        /// round before reversed (ABBA); two rounds make a block, the unit
        /// of the ratios, so even and 12 at least (6 blocks, the fewest
        /// with a 95% CI).
        #[arg(long, default_value_t = EXEC_ROUNDS)]
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
        #[arg(long, default_value_t = crate::suite::CONFIGS_COUNT)]
        count: u32,
        /// Rounds, each in the order of the round before reversed (ABBA);
        /// two rounds make a block, the unit of the ratios, so even and 12
        /// at least.
        #[arg(long, default_value_t = crate::suite::CONFIGS_ROUNDS)]
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
    /// `swmon report` against `ausearch -k` on one generated audit log
    /// (installer runs among noise, four hosts), side by side: wall time
    /// and peak RSS.
    Report {
        /// Keyed installer execs in the log.
        #[arg(long, default_value_t = 30_000)]
        runs: u64,
        /// The log's size, in megabytes (10^6 bytes) at least.
        #[arg(long, default_value_t = 200)]
        megabytes: u64,
        /// Rounds, each running both once, in the order of the round before
        /// reversed (ABBA); even, and 12 at least (6 blocks, the fewest
        /// with a 95% CI).
        #[arg(long, default_value_t = 12)]
        rounds: u32,
        /// Only write the log and events file (under target/bench/) and
        /// print their paths, for profiling by hand.
        #[arg(long)]
        generate_only: bool,
    },
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
            read_count,
            file_count,
            tar_files,
            file_dir,
            rounds,
            compare,
        } => exec(&ExecOptions {
            count,
            python_count,
            read_count,
            file_count,
            tar_files,
            file_dir,
            rounds,
            compare,
        }),
        Which::Audit { passes } => audit(passes),
        Which::Report {
            runs,
            megabytes,
            rounds,
            generate_only,
        } => crate::reportbench::bench(runs, megabytes, rounds, generate_only),
        Which::Configs { count, rounds } => crate::suite::configs(count, rounds),
        Which::Latency { runs } => crate::suite::latency(runs),
        Which::Loss { runs } => crate::suite::loss(runs),
        Which::All => {
            exec(&ExecOptions {
                count: EXEC_COUNT,
                python_count: EXEC_PYTHON_COUNT,
                read_count: EXEC_READ_COUNT,
                file_count: EXEC_FILE_COUNT,
                tar_files: EXEC_TAR_FILES,
                file_dir: None,
                rounds: EXEC_ROUNDS,
                compare: None,
            })?;
            crate::suite::configs(crate::suite::CONFIGS_COUNT, crate::suite::CONFIGS_ROUNDS)?;
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

/// One storm's figures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// Execs per second, by the wall clock.
    pub rate: f64,
    /// CPU time per exec in µs: user + system time of the storm's thread
    /// and of its children (each waited for), from `getrusage`. It leaves
    /// out the time the storm waited for a CPU (other work on the machine,
    /// and the hypervisor's steal time, which a kernel with
    /// `CONFIG_PARAVIRT_TIME_ACCOUNTING` charges to no task) and keeps the
    /// exec's kernel work, BPF programs included: the exec and exit
    /// programs run in the child, the fork program in the storm's thread.
    pub cpu_us: f64,
}

/// User + system µs of this thread and of the children it has waited for.
pub(crate) fn cpu_us_now() -> f64 {
    let of = |who: libc::c_int| {
        // SAFETY: getrusage writes into the zeroed struct it is given.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `who` is one of the two constants below.
        unsafe { libc::getrusage(who, &mut r) };
        let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
        us(r.ru_utime) + us(r.ru_stime)
    };
    of(libc::RUSAGE_THREAD) + of(libc::RUSAGE_CHILDREN)
}

/// Runs `count` execs of `bin`, one after another.
pub(crate) fn storm(bin: &Path, count: u32) -> Result<Sample> {
    storm_of(bin, &[], count)
}

/// The interpreter of the interpreter storm: the system's, by the name
/// the kernel filter knows it by.
const PYTHON: &str = "/usr/bin/python3";

/// Runs `count` execs of `bin ARGS`, one after another, on this thread.
/// The CPU figure counts every child this process reaps meanwhile: the
/// callers reap no other child during a storm.
fn storm_of(bin: &Path, args: &[&str], count: u32) -> Result<Sample> {
    let cpu0 = cpu_us_now();
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
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        rate: f64::from(count) / secs,
        cpu_us: (cpu_us_now() - cpu0) / f64::from(count),
    })
}

/// The 4 KiB file the read workload reads (written once; the page cache
/// holds it after the warm-up).
fn read_file() -> Result<fs::File> {
    let path = root().join("target/bench/read.dat");
    fs::write(&path, [0x5au8; 4096])?;
    fs::File::open(&path).with_context(|| format!("open {}", path.display()))
}

/// Runs `count` 4 KiB `pread`s of `file` at offset 0, one after another,
/// on this thread: a buffered read the page cache serves.
fn read_storm(file: &fs::File, count: u32) -> Result<Sample> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let cpu0 = cpu_us_now();
    let start = Instant::now();
    for _ in 0..count {
        let n = file.read_at(&mut buf, 0).context("pread")?;
        if n != buf.len() {
            bail!("pread read {n} bytes, not {}", buf.len());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample {
        rate: f64::from(count) / secs,
        cpu_us: (cpu_us_now() - cpu0) / f64::from(count),
    })
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
        // From here on a failure ends this swmon (Drop).
        let mut swmon = Swmon { child, out };
        wait_started(&mut swmon.child, &swmon.out)?;
        Ok(swmon)
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

impl Drop for Swmon {
    /// A bench that fails midway still ends the swmon it started (its
    /// rules removed by swmon's own stop); after `stop` this does nothing.
    fn drop(&mut self) {
        end_child(&mut self.child, libc::SIGINT, STOP_GRACE);
    }
}

/// How long a monitor the bench started gets to exit after its signal
/// before it is killed (a drop on a failure path must not hang the bench).
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(20);

/// Waits until `out` holds swmon's `monitor-started` line (60 s at most);
/// an swmon that exits first is reported with its exit status at once.
pub(crate) fn wait_started(child: &mut Child, out: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::read_to_string(out).is_ok_and(|t| t.contains("monitor-started")) {
        if let Some(status) = child.try_wait().context("wait for swmon")? {
            bail!("swmon exited before it started monitoring: {status}");
        }
        if Instant::now() > deadline {
            bail!("swmon did not start within 60 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Ends a child this bench started, if it still runs: `signal` by its pid,
/// then SIGKILL if it has not exited within `grace`; reaps it either way.
pub(crate) fn end_child(child: &mut Child, signal: libc::c_int, grace: Duration) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    // SAFETY: a signal to the child we started, by its pid (not yet reaped).
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// BPF programs' run-time statistics (`run_time_ns`, `run_cnt`) on while
/// this is held: `BPF_ENABLE_STATS` returns a descriptor, and the kernel
/// keeps the statistics on while any such descriptor is open, turning
/// them off when the last one closes, also when xtask is killed. So
/// nothing is left to restore, and `kernel.bpf_stats_enabled` reads as
/// before once this is dropped. Costs two clock reads per program run.
struct BpfStats(#[allow(dead_code)] std::os::fd::OwnedFd);

impl BpfStats {
    fn enable() -> Result<BpfStats> {
        const BPF_ENABLE_STATS: libc::c_long = 32;
        // union bpf_attr's `enable_stats`: { __u32 type }, BPF_STATS_RUN_TIME = 0.
        let attr = [0u32; 4];
        // SAFETY: the bpf syscall reads `size` bytes of `attr`, which is that long.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_ENABLE_STATS,
                attr.as_ptr(),
                std::mem::size_of_val(&attr) as libc::c_uint,
            )
        };
        if fd < 0 {
            bail!("BPF_ENABLE_STATS: {}", std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor the kernel just returned, owned here only.
        Ok(BpfStats(unsafe {
            std::os::fd::FromRawFd::from_raw_fd(fd as i32)
        }))
    }
}

/// The BPF programs process `pid` holds, by program id: (run_time_ns,
/// run_cnt) as its `/proc/PID/fdinfo` shows them. The programs of the
/// tail-call stages count nothing of their own (a tail call is not a new
/// run): their time is in the entry program's.
fn prog_counters(pid: u32) -> BTreeMap<u32, (u64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Some((id, ns, runs)) = parse_prog_fdinfo(&text) {
            out.insert(id, (ns, runs));
        }
    }
    out
}

/// A BPF program descriptor's fdinfo text: `(prog_id, run_time_ns,
/// run_cnt)`, or `None` when it is not a program's or a field is missing
/// or malformed (e.g. a map's descriptor, or a kernel without the stats).
fn parse_prog_fdinfo(text: &str) -> Option<(u32, u64, u64)> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let id = u32::try_from(field("prog_id:")?).ok()?;
    Some((id, field("run_time_ns:")?, field("run_cnt:")?))
}

/// Program names by id, from `bpftool prog show` (the kernel keeps 15
/// bytes of a name; bpftool shows the whole function name from BTF where
/// it has it). Without bpftool, `prog ID`.
fn prog_names(ids: impl Iterator<Item = u32>) -> BTreeMap<u32, String> {
    let shown: Vec<serde_json::Value> = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default();
    ids.map(|id| {
        let name = shown
            .iter()
            .find(|p| p["id"].as_u64() == Some(u64::from(id)))
            .and_then(|p| p["name"].as_str())
            .map_or_else(|| format!("prog {id}"), str::to_owned);
        (id, name)
    })
    .collect()
}

/// Run-time ns and runs per exec of a workload, per program name, between
/// two reads of the counters.
fn kernel_per_exec(
    before: &BTreeMap<u32, (u64, u64)>,
    after: &BTreeMap<u32, (u64, u64)>,
    names: &BTreeMap<u32, String>,
    execs: u32,
) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    for (id, (ns, runs)) in after {
        let (was_ns, was_runs) = before.get(id).copied().unwrap_or((0, 0));
        let name = names
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("prog {id}"));
        let e: &mut (f64, f64) = out.entry(name).or_insert((0.0, 0.0));
        e.0 += ns.saturating_sub(was_ns) as f64 / f64::from(execs);
        e.1 += runs.saturating_sub(was_runs) as f64 / f64::from(execs);
    }
    out
}

/// The workloads of the exec bench: three exec or read storms, then the
/// two file workloads (`filebench.rs`).
const WORKLOADS: [&str; 5] = [
    "no-op",
    "python3 -c pass",
    "4 KiB cached pread",
    "file tree ops",
    "tar -x",
];
/// Index of the first file workload in `WORKLOADS`.
const FILE_WORKLOADS: usize = 3;

/// What one configuration measured, round by round (index: `WORKLOADS`).
#[derive(Default)]
struct Measured {
    samples: [Vec<Sample>; 5],
    /// swmon's kernel programs, ns per exec (read, file) of the workload,
    /// by program name, one value per round.
    kernel: [BTreeMap<String, Vec<f64>>; 5],
    /// Their runs (`run_cnt`) per exec of the workload, likewise.
    kernel_runs: [BTreeMap<String, Vec<f64>>; 5],
    /// Their sum, one value per round.
    kernel_total: [Vec<f64>; 5],
    /// swmon's own CPU seconds during the exec and read storms.
    swmon_cpu: f64,
    /// swmon's own CPU seconds during the file workloads.
    swmon_cpu_files: f64,
    rss_kib: u64,
    /// monitor-stopped's `seen`, `passed`, `lost`, `interpreter_dropped`.
    counters: [u64; 4],
}

/// A configuration's swmon, running from one segment into the next when
/// the next is the same configuration (the two middle halves of ABBA).
struct Instance {
    config: usize,
    swmon: Option<Swmon>,
    names: BTreeMap<u32, String>,
}

impl Instance {
    fn end(self, m: &mut Measured) -> Result<()> {
        if let Some(s) = self.swmon {
            m.rss_kib = m.rss_kib.max(s.peak_rss_kib());
            let c = s.stop()?;
            for (i, k) in ["seen", "passed", "lost", "interpreter_dropped"]
                .iter()
                .enumerate()
            {
                m.counters[i] += c[k].as_u64().unwrap_or(0);
            }
        }
        Ok(())
    }
}

/// The paired ratios of configuration `with` against `base` for one
/// workload, round by round: exec rate with / base, and CPU per exec
/// base / with, so that below 1 is a cost in both.
pub(crate) fn round_ratios(with: &[Sample], base: &[Sample]) -> (Vec<f64>, Vec<f64>) {
    let rate = with
        .iter()
        .zip(base)
        .map(|(w, b)| w.rate / b.rate)
        .collect();
    let cpu = with
        .iter()
        .zip(base)
        .map(|(w, b)| b.cpu_us / w.cpu_us)
        .collect();
    (rate, cpu)
}

/// `round_ratios` folded into one ratio per ABBA block (`block_ratios`),
/// then the median and its interval over the blocks.
pub(crate) fn paired(with: &[Sample], base: &[Sample]) -> (Paired, Paired) {
    let (rate, cpu) = round_ratios(with, base);
    (
        Paired::of(&block_ratios(&rate)),
        Paired::of(&block_ratios(&cpu)),
    )
}

/// The exec bench's order of measured segments: `(round, configuration)`
/// with configuration 0 `none` and 1.. the swmon builds. Block b is rounds
/// 2b and 2b+1: none, the builds, then the builds reversed, none (ABBA),
/// so the block's middle build runs twice in a row and is served by one
/// swmon (consecutive segments of one configuration share an instance,
/// see `exec`). With two builds (`--compare`) the builds' order flips
/// every block, so each build is the shared middle in half the blocks and
/// started afresh for each of its segments in the other half: both are
/// treated alike over the run.
pub(crate) fn exec_schedule(blocks: u32, configs: usize) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    for b in 0..blocks {
        let mut builds: Vec<usize> = (1..configs).collect();
        if b % 2 == 1 {
            builds.reverse();
        }
        let forward: Vec<usize> = std::iter::once(0).chain(builds).collect();
        out.extend(forward.iter().map(|c| (2 * b, *c)));
        out.extend(forward.iter().rev().map(|c| (2 * b + 1, *c)));
    }
    out
}

pub(crate) const EXEC_COUNT: u32 = 1500;
pub(crate) const EXEC_PYTHON_COUNT: u32 = 60;
pub(crate) const EXEC_READ_COUNT: u32 = 200_000;
pub(crate) const EXEC_ROUNDS: u32 = 40;
/// Files of the file tree workload per round and configuration.
pub(crate) const EXEC_FILE_COUNT: u32 = 10_000;
/// Files of the tarball the `tar -x` workload unpacks.
pub(crate) const EXEC_TAR_FILES: u32 = 8_000;

/// The exec bench's arguments (`Which::Exec`).
pub(crate) struct ExecOptions {
    pub count: u32,
    pub python_count: u32,
    pub read_count: u32,
    pub file_count: u32,
    pub tar_files: u32,
    pub file_dir: Option<PathBuf>,
    pub rounds: u32,
    pub compare: Option<PathBuf>,
}
/// No-op execs run before every measured segment, none's included: past a
/// new swmon's start, and past whatever the segment before it left behind
/// (a swmon's teardown), so every segment starts from the same storm.
pub(crate) const SETTLE_EXECS: u32 = 200;
/// The target: exec rate with swmon at least this share of none's.
const TARGET: f64 = 0.98;

fn exec(o: &ExecOptions) -> Result<()> {
    let (count, python_count, read_count, file_count, tar_files, rounds) = (
        o.count,
        o.python_count,
        o.read_count,
        o.file_count,
        o.tar_files,
        o.rounds,
    );
    let compare = o.compare.as_deref();
    if count == 0 || python_count == 0 || read_count == 0 || file_count == 0 || tar_files == 0 {
        bail!(
            "--count, --python-count, --read-count, --file-count and --tar-files must be at least 1"
        );
    }
    let blocks = blocks_of(rounds)?;
    let this = root().join("target/release/swmon");
    let noop_bin = noop()?;
    let python = Path::new(PYTHON);
    let bench_dir = root().join("target/bench");
    let mut scratch = filebench::Scratch::new(match &o.file_dir {
        Some(d) => d.join("swmon-bench-files"),
        None => bench_dir.join("files"),
    })?;
    let (tar, tar_bytes, built) = filebench::tarball(&bench_dir, tar_files)?;
    // The programs' statistics unpack a quarter as many files, as the
    // other storms run a quarter of theirs.
    let tar_quarter = (tar_files / 4).max(1);
    let (tar_q, tar_q_bytes, built_q) = filebench::tarball(&bench_dir, tar_quarter)?;
    if built || built_q {
        scratch.removed();
    }
    // Unpacks: one per segment, and one of the quarter per swmon segment;
    // on disk each 1.25 times its tarball at most (sizes rounded up to
    // 4 KiB blocks, folders).
    let builds = 1 + u64::from(compare.is_some());
    let kept = u64::from(rounds) * ((1 + builds) * tar_bytes + builds * tar_q_bytes);
    scratch.check_room(kept / 4 * 5)?;
    // The statistics cost two clock reads per program run: they are on
    // only for the separate, smaller storms that measure the programs'
    // time, never for the storms the ratios come from.
    let stats = BpfStats::enable()
        .map(drop)
        .map_err(|e| eprintln!("xtask: no BPF run-time statistics: {e:#}"))
        .is_ok();
    // Warm the page cache and the exec path.
    storm(&noop_bin, count / 4)?;
    storm_of(python, &["-c", "pass"], python_count / 4)?;
    let data = read_file()?;
    read_storm(&data, read_count / 4)?;
    scratch.tree_ops((file_count / 4).max(1))?;
    filebench::warm(&tar)?;
    filebench::warm(&tar_q)?;
    scratch.settle()?;
    // None, this build, `--compare`'s.
    let mut configs: Vec<Option<&Path>> = vec![None, Some(&this)];
    configs.extend(compare.map(Some));
    let mut measured: Vec<Measured> = configs.iter().map(|_| Measured::default()).collect();
    let mut running: Option<Instance> = None;
    let schedule = exec_schedule(blocks, configs.len());
    for (i, &(round, c)) in schedule.iter().enumerate() {
        // One swmon serves consecutive segments of its configuration (the
        // middle of an ABBA block); any other change starts afresh.
        if running.as_ref().map(|r| r.config) != Some(c) {
            if let Some(r) = running.take() {
                let i = r.config;
                r.end(&mut measured[i])?;
            }
            let swmon = match configs[c] {
                Some(bin) => Some(Swmon::start(bin)?),
                None => None,
            };
            let names = match &swmon {
                Some(s) if stats => prog_names(prog_counters(s.child.id()).into_keys()),
                _ => BTreeMap::new(),
            };
            running = Some(Instance {
                config: c,
                swmon,
                names,
            });
        }
        let Some(r) = running.as_ref() else {
            bail!("no configuration running");
        };
        // The same settle storm before every segment, none's included.
        storm(&noop_bin, SETTLE_EXECS)?;
        let pid = r.swmon.as_ref().map(|s| s.child.id());
        let counters = || pid.map(prog_counters).unwrap_or_default();
        let cpu0 = r.swmon.as_ref().map_or(0.0, Swmon::cpu_seconds);
        let a = storm(&noop_bin, count)?;
        let b = storm_of(python, &["-c", "pass"], python_count)?;
        let d = read_storm(&data, read_count)?;
        let cpu1 = r.swmon.as_ref().map_or(0.0, Swmon::cpu_seconds);
        let f = scratch.tree_ops(file_count)?;
        let (t, ()) = scratch.untar(&tar, tar_files, || ())?;
        let m = &mut measured[c];
        if let Some(s) = &r.swmon {
            let cpu2 = s.cpu_seconds();
            m.swmon_cpu += cpu1 - cpu0;
            m.swmon_cpu_files += cpu2 - cpu1;
            if stats {
                // A quarter of each storm again, statistics on (the
                // quarter tarball's unpack counted until tar is reaped).
                let (sc, sp, sr, sf) = (
                    (count / 4).max(1),
                    (python_count / 4).max(1),
                    (read_count / 4).max(1),
                    (file_count / 4).max(1),
                );
                let on = BpfStats::enable()?;
                let k0 = counters();
                storm(&noop_bin, sc)?;
                let k1 = counters();
                storm_of(python, &["-c", "pass"], sp)?;
                let k2 = counters();
                read_storm(&data, sr)?;
                let k3 = counters();
                scratch.tree_ops(sf)?;
                let k4 = counters();
                let (_, k5) = scratch.untar(&tar_q, tar_quarter, || {
                    let k = counters();
                    drop(on);
                    k
                })?;
                for (w, (before, after, n)) in [
                    (&k0, &k1, sc),
                    (&k1, &k2, sp),
                    (&k2, &k3, sr),
                    (&k3, &k4, sf),
                    (&k4, &k5, tar_quarter),
                ]
                .iter()
                .enumerate()
                {
                    let per = kernel_per_exec(before, after, &r.names, *n);
                    if per.is_empty() {
                        continue; // its descriptors unreadable: no figure, not 0
                    }
                    m.kernel_total[w].push(per.values().map(|v| v.0).sum());
                    for (name, (ns, runs)) in per {
                        m.kernel[w].entry(name.clone()).or_default().push(ns);
                        m.kernel_runs[w].entry(name).or_default().push(runs);
                    }
                }
            }
        }
        m.samples[0].push(a);
        m.samples[1].push(b);
        m.samples[2].push(d);
        m.samples[3].push(f);
        m.samples[4].push(t);
        if schedule.get(i + 1).is_none_or(|n| n.0 != round) {
            let last = |c: usize, w: usize| {
                measured[c].samples[w]
                    .last()
                    .map_or((0.0, 0.0), |s| (s.rate, s.cpu_us))
            };
            let ((n0, nc0), (s0, sc0)) = (last(0, 0), last(1, 0));
            let ((n1, nc1), (s1, sc1)) = (last(0, 1), last(1, 1));
            let ((n2, nc2), (s2, sc2)) = (last(0, 2), last(1, 2));
            let ((n3, nc3), (s3, sc3)) = (last(0, 3), last(1, 3));
            let ((n4, nc4), (s4, sc4)) = (last(0, 4), last(1, 4));
            eprintln!(
                "round {} (block {}): no-op none {n0:.0}/s {nc0:.0} µs, swmon {s0:.0}/s {sc0:.0} µs; \
                 python3 -c pass none {n1:.1}/s {nc1:.0} µs, swmon {s1:.1}/s {sc1:.0} µs; \
                 pread none {n2:.0}/s {nc2:.3} µs, swmon {s2:.0}/s {sc2:.3} µs; \
                 file tree ops none {n3:.0}/s {nc3:.1} µs, swmon {s3:.0}/s {sc3:.1} µs; \
                 tar -x none {n4:.0}/s {nc4:.1} µs, swmon {s4:.0}/s {sc4:.1} µs",
                round + 1,
                round / 2 + 1,
            );
        }
    }
    if let Some(r) = running.take() {
        let i = r.config;
        r.end(&mut measured[i])?;
    }
    let label = |c: usize| match c {
        0 => "none",
        1 if compare.is_some() => "swmon (this build)",
        1 => "swmon",
        _ => "swmon (--compare)",
    };
    let mut table = String::from(
        "| workload | configuration | execs (reads, files)/s, median (min–max) | rate / none: median [≥95% CI] | \
         workload CPU µs per exec (read, file), median | CPU none / with: median [≥95% CI] | swmon's BPF programs' own run time, ns per exec (read, file), median |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let mut verdicts = String::new();
    for (w, workload) in WORKLOADS.iter().enumerate() {
        for (c, m) in measured.iter().enumerate() {
            let rates: Vec<f64> = m.samples[w].iter().map(|s| s.rate).collect();
            let cpus: Vec<f64> = m.samples[w].iter().map(|s| s.cpu_us).collect();
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            let (rate, cpu) = if c == 0 {
                ("1".to_owned(), "1".to_owned())
            } else {
                let (r, p) = paired(&m.samples[w], &measured[0].samples[w]);
                if c == 1 && w == 2 {
                    verdicts.push_str(&format!(
                        "- {workload} (no target; the module-load witness's cost on a buffered \
                         read of a process that runs no interpreter), median [≥95% CI]: read rate \
                         {}; CPU per read {}.\n",
                        r.show(),
                        p.show(),
                    ));
                } else if c == 1 && w >= FILE_WORKLOADS {
                    verdicts.push_str(&format!(
                        "- {workload}: the workload's CPU per file {} (the primary figure); file \
                         rate {}.\n",
                        p.verdict(TARGET),
                        r.verdict(TARGET),
                    ));
                } else if c == 1 {
                    verdicts.push_str(&format!(
                        "- {workload}: exec rate {}; the workload's CPU per exec {}.\n",
                        r.verdict(TARGET),
                        p.verdict(TARGET),
                    ));
                }
                (r.show(), p.show())
            };
            let kernel = if c == 0 || m.kernel_total[w].is_empty() {
                "—".to_owned()
            } else {
                format!("{:.0}", median(&m.kernel_total[w]))
            };
            table.push_str(&format!(
                "| {workload} | {} | {:.0} ({lo:.0}–{hi:.0}) | {rate} | {:.3} | {cpu} | {kernel} |\n",
                label(c),
                median(&rates),
                median(&cpus),
            ));
        }
    }
    if compare.is_some() {
        table.push('\n');
        for (w, workload) in WORKLOADS.iter().enumerate() {
            let (r, p) = paired(&measured[1].samples[w], &measured[2].samples[w]);
            table.push_str(&format!(
                "- {workload}, this build against `--compare`'s, same blocks (median [≥95% CI]): exec rate {}, CPU per exec {}.\n",
                r.show(),
                p.show()
            ));
        }
    }
    let m = &measured[1];
    // The tail-call stages count nothing of their own: left out.
    let per_program = |w: usize| {
        m.kernel[w]
            .iter()
            .filter(|(_, v)| v.iter().any(|ns| *ns > 0.0))
            .map(|(name, v)| {
                let runs = m.kernel_runs[w].get(name).map_or(f64::NAN, |r| median(r));
                format!("`{name}` {:.0} ns ({runs:.2} runs)", median(v))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The programs' own time against the exec's CPU time without swmon,
    // both medians of this run: a lower bound on swmon's in-kernel cost
    // (see the text below for what it leaves out).
    let share = |w: usize| {
        let ns = median(&m.kernel_total[w]);
        let cpu = median(
            &measured[0].samples[w]
                .iter()
                .map(|s| s.cpu_us)
                .collect::<Vec<_>>(),
        );
        let share = ns / (cpu * 1000.0);
        format!(
            "{}: {:.0} ns of {:.0} ns, {:.2}% (alone it would cap the ratio at about {:.3})",
            WORKLOADS[w],
            ns,
            cpu * 1000.0,
            share * 100.0,
            1.0 / (1.0 + share)
        )
    };
    let kernel_line = if m.kernel_total.iter().any(Vec::is_empty) {
        "swmon's BPF programs: no run-time statistics (see the warning above).".to_owned()
    } else {
        format!(
            "swmon's BPF programs' own run time, ns per exec of the workload, and their runs \
             per exec (medians over the rounds of each program's `run_time_ns` and `run_cnt` \
             over a separate storm of a quarter of each workload run right after a swmon \
             segment's measured ones, with `BPF_ENABLE_STATS` on for it only: the ratios above \
             are measured with the statistics off, as swmon runs; a program's time \
             includes its tail calls' and `bpf_loop` callbacks', and its runs every other exec, \
             fork, exit and buffered file read on the machine meanwhile (an exec reads its \
             program twice: `swmon_read`'s 2 runs), so a run count near 1 per exec for \
             `sched_process_exec` is the check that the storm is what was counted; for the file \
             workloads, per file: a quarter of the tree-ops loop, and an unpack of a tarball of a \
             quarter as many files, built alike, counted until tar is reaped): no-op: {}; \
             python3 -c pass: {}; 4 KiB cached pread (per read): {}; file tree ops (per file): \
             {}; tar -x (per file unpacked): {}.\n\n\
             Their time as a share of the workload's CPU per exec (read, file) without swmon, \
             both medians of this run: {}; {}; {}; {}; {}. This is the BPF programs' own run time, a lower bound on \
             swmon's in-kernel cost: it leaves out the raw tracepoints' dispatch to the \
             programs; and whatever else swmon costs an exec (caches, its user space \
             competing for a CPU) comes on top. That rest is left to the paired ratios above.",
            per_program(0),
            per_program(1),
            per_program(2),
            per_program(3),
            per_program(4),
            share(0),
            share(1),
            share(2),
            share(3),
            share(4),
        )
    };
    // Every segment of this build: `rounds` of them, each `count +
    // python_count` execs (u64: no overflow for any u32 arguments).
    let total = (u64::from(count) + u64::from(python_count)) as f64 * f64::from(rounds);
    // Likewise the files of the two file workloads.
    let total_files = (u64::from(file_count) + u64::from(tar_files)) as f64 * f64::from(rounds);
    let shown_dir = scratch
        .dir()
        .strip_prefix(root())
        .unwrap_or(scratch.dir())
        .display()
        .to_string();
    let removal = if scratch.keep {
        "The trees are kept until the bench ends and removed then: on ext4 without a journal, \
         creating a file skips, one buffer lookup each, every inode of its group freed in the last \
         60 s to 6 min (`recently_deleted` in the kernel's `find_inode_bit`), so removing each \
         segment's unpacked tree would make the creates of the segments after it slower by an \
         amount the history sets, not the workload (measured: tar's CPU per file 0.24 to 1.4 ms \
         with the removals, 70 µs without). Before the rounds, when it has just removed files \
         itself (a new tarball's generated files, an earlier run's trees), the bench writes the \
         filesystem back (`syncfs`) and waits 62 s, the window of a freed inode whose table \
         block is on disk. Files removed by others on the machine in the same groups still \
         weigh on it."
    } else {
        "Each tree is removed after its segment's timed part."
    };
    let file_text = format!(
        "The two file workloads make a fresh tree for every segment under `{shown_dir}` ({}). \
         File tree ops: {file_count} files per segment, by the bench's own thread with libc \
         calls, in folders of {} (each made with `mkdirat` before its first file and removed \
         after its last, inside the timed part): `openat(O_CREAT|O_EXCL|O_WRONLY)`, a 4 KiB \
         `write`, `close`, `renameat` to a new name in the same folder, `fchmodat` 0755, \
         `unlinkat`, all relative to the folder's descriptor, each file through the whole \
         sequence before the next is made (so a folder holds one file at most and no data \
         reaches the disk). tar -x: `{} -xf` of a tarball of {tar_files} files ({:.0} MB; sizes \
         1–64 KiB, log-uniform; folders of 100 files two levels deep; every eighth file mode \
         0755; owner root) into a fresh folder, timed from tar's spawn to its reaping; the bench \
         builds the tarball once from generated files, byte for byte the same every time \
         (`target/bench/tree-{tar_files}.tar`), and reads it through once before the rounds so \
         that the page cache holds it. {removal} Their rate is files per second and their CPU \
         time per file: the loop thread's, and tar's (`RUSAGE_CHILDREN`) with the bench \
         thread's spawn and wait; both keep the kernel's file work, and so any BPF program on \
         those syscalls or on the page cache's read path (tar reads the tarball), which runs in \
         the calling task. For these two the target is on the CPU time per file, the primary \
         figure (a file loop's wall time swings far more between identical runs than its CPU \
         time); the rate is shown beside it.",
        scratch.fs,
        filebench::FOLDER_FILES,
        filebench::TAR,
        tar_bytes as f64 / 1e6,
    );
    let body = format!(
        "{table}\n\
         Each round runs the five workloads without swmon and with it, back to back; two rounds make \
         an ABBA block (none, swmon, then swmon, none), and one swmon, started afresh for the block, \
         serves its two middle segments (the first measured just after its start, the second \
         warm), so the rounds of a block are not independent of each other and the block is the \
         unit: a drift of the machine slower than a block cancels out of its ratio. Every measured \
         segment, none's included, starts after the same {SETTLE_EXECS} no-op execs (past a new \
         swmon's start, past the teardown of the one before). A ratio is taken within each round, \
         with over without for the exec rate and without over with for CPU time, so below 1 is a \
         cost in both; a block's ratio is the geometric mean of its two rounds' ratios. The table \
         gives the median of the {blocks} block ratios and a confidence interval for it of at least \
         95% coverage (exact coverage in the verdicts below) that assumes no distribution (order \
         statistics of the sorted ratios, binomial: `xtask/src/stats.rs`), though it does assume \
         the blocks are independent draws; it describes the variation between blocks within this \
         one run, and runs minutes apart have differed by more than it. The workload's CPU per exec is the user + system \
         time of the storm's thread and its children (`getrusage`): it leaves out the time spent \
         waiting for a CPU (other work on this shared machine, and the hypervisor's steal time, \
         which this kernel charges to no task) and keeps the exec's kernel work, swmon's BPF \
         programs included (they run in the exec'ing task, and the fork program in its parent); \
         swmon's user-space work runs on threads of its own and is counted below. The no-op is \
         an ordinary exec (the filter's few map lookups); `{PYTHON} -c pass` is an interpreter \
         exec, whose argv the kernel scans whole (`bpf_loop`) and whose fd 0 it checks, then \
         drops, and whose buffered reads the module-load witness checks. The 4 KiB cached \
         `pread` loop ({read_count} reads of one 4 KiB file the page cache holds, by the bench's \
         own thread, which runs no interpreter) is the cost swmon puts on a buffered read: the \
         module-load witness's raw tracepoint on the page cache's read path, which returns after \
         one array load for a process that runs no interpreter; its rate is reads per second, its \
         CPU time per read. {file_text}\n\n\
         {kernel_line}\n\n\
         swmon while it ran{}: {:.3} CPU seconds per 1,000 execs ({:.2} s for {total:.0} execs \
         and the reads), {:.3} CPU seconds per 1,000 files during the file workloads ({:.2} s \
         for {total_files:.0} files), \
         peak RSS {:.1} MiB; the kernel filter saw {} execs, passed {} to user space, dropped {} \
         interpreter execs after the scan, lost {}.\n",
        if compare.is_some() { " (this build)" } else { "" },
        m.swmon_cpu * 1000.0 / total,
        m.swmon_cpu,
        m.swmon_cpu_files * 1000.0 / total_files,
        m.swmon_cpu_files,
        m.rss_kib as f64 / 1024.0,
        m.counters[0],
        m.counters[1],
        m.counters[3],
        m.counters[2],
    );
    let target = format!(
        "Target: exec rate with swmon ≥ {TARGET} of none's; for the file workloads, CPU per \
         file with swmon ≤ none's / {TARGET} (CPU none / with ≥ {TARGET}). `met` only when the ≥95% CI of the \
         median of block ratios lies at or above it, `MISSED` only when the CI lies below it, \
         else `not shown`:\n{verdicts}"
    );
    println!("\n{body}\n{target}");
    if let Some(bin) = compare {
        println!("(--compare {}: BENCHMARKS.md left as it is)", bin.display());
        return Ok(());
    }
    write_section(
        "exec",
        &format!("{body}\n{target}"),
        &format!(
            "cargo xtask bench exec --count {count} --python-count {python_count} --read-count {read_count} \
             --file-count {file_count} --tar-files {tar_files}{} --rounds {rounds}",
            o.file_dir
                .as_ref()
                .map(|d| format!(" --file-dir {}", d.display()))
                .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Instances the exec loop starts per configuration: a new one
    /// whenever the configuration differs from the segment before.
    fn instances(schedule: &[(u32, usize)], configs: usize) -> Vec<u32> {
        let mut n = vec![0; configs];
        let mut prev = None;
        for &(_, c) in schedule {
            if prev != Some(c) {
                n[c] += 1;
            }
            prev = Some(c);
        }
        n
    }

    #[test]
    fn schedule_is_abba_blocks_with_one_swmon_each() {
        let s = exec_schedule(3, 2);
        assert_eq!(
            s,
            vec![
                (0, 0),
                (0, 1),
                (1, 1),
                (1, 0),
                (2, 0),
                (2, 1),
                (3, 1),
                (3, 0),
                (4, 0),
                (4, 1),
                (5, 1),
                (5, 0)
            ]
        );
        // Every round measures every configuration once.
        for r in 0..6 {
            let mut cs: Vec<usize> = s.iter().filter(|x| x.0 == r).map(|x| x.1).collect();
            cs.sort_unstable();
            assert_eq!(cs, vec![0, 1], "round {r}");
        }
        // One swmon per block, never shared across blocks.
        assert_eq!(instances(&s, 2)[1], 3);
    }

    #[test]
    fn compare_treats_both_builds_alike() {
        let s = exec_schedule(4, 3);
        assert_eq!(
            &s[..12],
            &[
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 2),
                (1, 1),
                (1, 0),
                (2, 0),
                (2, 2),
                (2, 1),
                (3, 1),
                (3, 2),
                (3, 0)
            ]
        );
        // Over an even number of blocks each build is the shared middle in
        // half of them and started per segment in the other half.
        let n = instances(&s, 3);
        assert_eq!(n[1], n[2]);
        assert_eq!(n[1], 2 + 2 * 2);
    }

    fn sample(rate: f64, cpu_us: f64) -> Sample {
        Sample { rate, cpu_us }
    }

    #[test]
    fn ratios_below_one_are_a_cost() {
        // With swmon: slower and more CPU per exec, in both rounds.
        let with = [sample(90.0, 110.0), sample(80.0, 125.0)];
        let base = [sample(100.0, 100.0), sample(100.0, 100.0)];
        let (rate, cpu) = round_ratios(&with, &base);
        assert_eq!(rate, vec![0.9, 0.8]);
        assert!((cpu[0] - 100.0 / 110.0).abs() < 1e-12);
        assert_eq!(cpu[1], 0.8);
        // The block's ratio: the geometric mean of its two rounds'.
        let p = block_ratios(&rate);
        assert!((p[0] - (0.72f64).sqrt()).abs() < 1e-12, "{p:?}");
        // A zero CPU delta is dropped, not a ratio of infinity.
        let (_, cpu) = round_ratios(&[sample(1.0, 0.0), sample(1.0, 1.0)], &base);
        let (_, pc) = paired(
            &[sample(1.0, 0.0), sample(1.0, 1.0)],
            &[sample(1.0, 1.0), sample(1.0, 1.0)],
        );
        assert!(cpu[0].is_infinite());
        assert_eq!((pc.blocks, pc.dropped), (0, 1));
    }

    #[test]
    fn fdinfo_of_a_program_and_of_others() {
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1058\nprog_type:\t5\n\
                    prog_jited:\t1\nprog_tag:\t2f5c4f1a8b0d3e9c\nmemlock:\t4096\nprog_id:\t42\n\
                    run_time_ns:\t123456\nrun_cnt:\t789\nrecursion_misses:\t0\nverified_insns:\t771\n";
        assert_eq!(parse_prog_fdinfo(prog), Some((42, 123456, 789)));
        // A map's descriptor, a plain file's, a malformed count: none.
        let map = "pos:\t0\nflags:\t02000002\nmap_type:\t27\nmap_id:\t7\n";
        assert_eq!(parse_prog_fdinfo(map), None);
        assert_eq!(parse_prog_fdinfo("pos:\t0\nflags:\t0100000\n"), None);
        let bad = prog.replace("run_cnt:\t789", "run_cnt:\tx");
        assert_eq!(parse_prog_fdinfo(&bad), None);
        let huge = prog.replace("prog_id:\t42", "prog_id:\t99999999999");
        assert_eq!(parse_prog_fdinfo(&huge), None);
    }
}
