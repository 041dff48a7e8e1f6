//! `cargo xtask bench report`: `swmon report` against `ausearch -k` on the
//! same generated audit log, side by side. The log is made here,
//! deterministically (a fixed seed, byte for byte the same every time):
//! auditd's raw format as a central collector writes it (`node=` prefixes,
//! four hosts, enriched SYSCALL records), keyed installer execs (SYSCALL,
//! EXECVE, CWD, two PATH, PROCTITLE; auditd writes no EOE) among noise (file syscalls under
//! other keys, unkeyed execs, login records) until the file has the size
//! asked for. Every round runs both tools once on it, in alternating order
//! (ABBA), each a child process whose wall time and peak RSS
//! (`getrusage` of the reaped child, `ru_maxrss`) are read; the ratio is
//! taken within the round, and the median of the block ratios is given
//! with its confidence interval (`stats.rs`).

use std::{
    fs,
    io::{BufWriter, Write},
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::{
    bench::write_section,
    root,
    stats::{block_ratios, blocks_of, median, Paired},
};

/// The key of the seed's installer rules (`swmon report`'s default).
const KEY: &str = "software-installer";

/// The hosts of the generated fleet log.
const HOSTS: [&str; 4] = ["web-1", "web-2", "db-1", "build-1"];

/// A small deterministic generator (xorshift64*): the log must be the same
/// bytes on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const INSTALLERS: [(&str, &str, &[&str]); 5] = [
    ("dpkg", "/usr/bin/dpkg", &["dpkg", "-i", "/tmp/pkg-NUM.deb"]),
    (
        "apt-get",
        "/usr/bin/apt-get",
        &["apt-get", "install", "-y", "pkg-NUM"],
    ),
    (
        "pip3",
        "/usr/bin/python3.11",
        &["/usr/bin/python3", "/usr/bin/pip3", "install", "pkg-NUM"],
    ),
    ("npm", "/usr/bin/node", &["npm", "install", "-g", "pkg-NUM"]),
    ("rpm", "/usr/bin/rpm", &["rpm", "-i", "/tmp/pkg-NUM.rpm"]),
];

fn hex(s: &[u8]) -> String {
    s.iter().map(|b| format!("{b:02X}")).collect()
}

/// Writes the log and swmon's events for every tenth keyed run; returns
/// (lines, keyed runs).
fn generate(log: &Path, events: &Path, runs: u64, bytes: u64) -> Result<(u64, u64)> {
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(log)?);
    let mut ev = BufWriter::new(fs::File::create(events)?);
    let mut rng = Rng(0x5eed_f1ee_7000_0001);
    // Serials are each host's own (the kernel's counter), so the hosts'
    // serials collide: records group by host and serial.
    let mut serials = [1_000u64, 1_003, 1_010, 1_042];
    let mut ms: u64 = 1_795_680_000_000;
    let (mut written, mut lines, mut keyed) = (0u64, 0u64, 0u64);
    // Bytes of noise per keyed run, so the runs spread over the whole file.
    let per_run = bytes / runs.max(1);
    let mut noise_budget = 0u64;
    let emit = |out: &mut BufWriter<fs::File>, line: String| -> Result<u64> {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(line.len() as u64 + 1)
    };
    while keyed < runs || written < bytes {
        ms += 1 + rng.below(20);
        let host = rng.below(HOSTS.len() as u64) as usize;
        let node = HOSTS[host];
        serials[host] += 1;
        let mut serial = serials[host];
        let stamp = format!("msg=audit({}.{:03}:{serial}):", ms / 1000, ms % 1000);
        let pid = 2_000 + rng.below(60_000);
        let ppid = 1_000 + rng.below(1_000);
        if keyed < runs && noise_budget >= per_run.saturating_sub(1_100) {
            noise_budget = 0;
            keyed += 1;
            let (comm, exe, args) = INSTALLERS[rng.below(INSTALLERS.len() as u64) as usize];
            let num = rng.below(100_000).to_string();
            let args: Vec<String> = args.iter().map(|a| a.replace("NUM", &num)).collect();
            let mut event = vec![
                format!(
                    "node={node} type=SYSCALL {stamp} arch=c000003e syscall=59 success=yes exit=0 \
                     a0=564426fa03e0 a1=564426f6f860 a2=564426f7db90 a3=4540ae0d1e2c8b6c items=2 \
                     ppid={ppid} pid={pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 \
                     sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"{comm}\" exe=\"{exe}\" \
                     subj=unconfined key=\"{KEY}\"\x1dARCH=x86_64 SYSCALL=execve AUID=\"admin\" \
                     UID=\"root\" GID=\"root\" EUID=\"root\" SUID=\"root\" FSUID=\"root\" \
                     EGID=\"root\" SGID=\"root\" FSGID=\"root\""
                ),
                {
                    let mut l = format!("node={node} type=EXECVE {stamp} argc={}", args.len());
                    for (i, a) in args.iter().enumerate() {
                        l.push_str(&format!(" a{i}=\"{a}\""));
                    }
                    l
                },
                format!("node={node} type=CWD {stamp} cwd=\"/root\""),
                format!(
                    "node={node} type=PATH {stamp} item=0 name=\"{exe}\" inode=1317 dev=fe:01 \
                     mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 \
                     cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" OGID=\"root\""
                ),
                format!(
                    "node={node} type=PATH {stamp} item=1 name=\"/lib64/ld-linux-x86-64.so.2\" \
                     inode=2286 dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL \
                     cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID=\"root\" \
                     OGID=\"root\""
                ),
                format!(
                    "node={node} type=PROCTITLE {stamp} proctitle={}",
                    hex(args.join("\0").as_bytes())
                ),
            ];
            for l in event.drain(..) {
                written += emit(&mut out, l)?;
                lines += 1;
            }
            if keyed % 10 == 0 {
                let secs = ms / 1000;
                let t = format_rfc3339(secs, (ms % 1000) * 1000);
                let args_json = serde_json::to_string(&args)?;
                writeln!(
                    ev,
                    "{{\"@timestamp\":\"{t}\",\"event\":{{\"action\":\"package-install\",\"type\":[\"installation\"]}},\
                     \"host\":{{\"name\":\"{node}\"}},\"process\":{{\"pid\":{pid},\"start\":\"{t}\",\
                     \"executable\":\"{exe}\",\"args\":{args_json},\"parent\":{{\"pid\":{ppid}}}}},\
                     \"swmon\":{{\"verdict\":\"confirmed\",\"audit\":{{\"serial\":{serial}}},\
                     \"run_id\":\"r{keyed}\",\"detected_by\":[\"exec\",\"audit\"]}}}}"
                )?;
            }
            continue;
        }
        // Noise: one event of several kinds, about 1 KB a keyed run's worth
        // added to the budget per line written.
        let before = written;
        match rng.below(64) {
            0..=26 => {
                // A file syscall under another key, with its records.
                let file = format!("/var/lib/app/data-{}.db", rng.below(1_000_000));
                for l in [
                    format!(
                        "node={node} type=SYSCALL {stamp} arch=c000003e syscall=257 success=yes \
                         exit=3 a0=ffffff9c a1=7ffd5e1c2f10 a2=241 a3=1b6 items=2 ppid={ppid} \
                         pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 \
                         egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=3 comm=\"app\" \
                         exe=\"/usr/bin/app\" subj=unconfined key=\"data-watch\"\x1dARCH=x86_64 \
                         SYSCALL=openat AUID=\"admin\" UID=\"app\" GID=\"app\" EUID=\"app\" \
                         SUID=\"app\" FSUID=\"app\" EGID=\"app\" SGID=\"app\" FSGID=\"app\""
                    ),
                    format!("node={node} type=CWD {stamp} cwd=\"/srv/app\""),
                    format!(
                        "node={node} type=PATH {stamp} item=0 name=\"/var/lib/app/\" inode=77 \
                         dev=fe:01 mode=040755 ouid=1000 ogid=1000 rdev=00:00 nametype=PARENT \
                         cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
                    ),
                    format!(
                        "node={node} type=PATH {stamp} item=1 name=\"{file}\" inode=78 dev=fe:01 \
                         mode=0100644 ouid=1000 ogid=1000 rdev=00:00 nametype=CREATE cap_fp=0 \
                         cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
                    ),
                    format!(
                        "node={node} type=PROCTITLE {stamp} proctitle=2F7573722F62696E2F617070002D2D73657276650031"
                    ),
                    ] {
                    written += emit(&mut out, l)?;
                    lines += 1;
                }
            }
            27..=53 => {
                // An exec no installer rule keys (an execve-all rule's).
                for l in [
                    format!(
                        "node={node} type=SYSCALL {stamp} arch=c000003e syscall=59 success=yes \
                         exit=0 a0=55d0 a1=55d8 a2=55e0 a3=0 items=2 ppid={ppid} pid={pid} \
                         auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 \
                         sgid=1000 fsgid=1000 tty=pts1 ses=5 comm=\"ls\" exe=\"/usr/bin/ls\" \
                         subj=unconfined key=\"exec-all\"\x1dARCH=x86_64 SYSCALL=execve \
                         AUID=\"admin\" UID=\"admin\""
                    ),
                    format!("node={node} type=EXECVE {stamp} argc=2 a0=\"ls\" a1=\"-la\""),
                    format!("node={node} type=CWD {stamp} cwd=\"/home/admin\""),
                    format!(
                        "node={node} type=PATH {stamp} item=0 name=\"/usr/bin/ls\" inode=99 \
                         dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 \
                         cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
                    ),
                    format!("node={node} type=PROCTITLE {stamp} proctitle=6C73002D6C61"),
                ] {
                    written += emit(&mut out, l)?;
                    lines += 1;
                }
            }
            54..=62 => {
                // A login's records (one record per event, no EOE).
                for (i, t) in ["USER_ACCT", "CRED_ACQ", "USER_START"].iter().enumerate() {
                    let s = format!("msg=audit({}.{:03}:{}):", ms / 1000, ms % 1000, serial);
                    written += emit(
                        &mut out,
                        format!(
                            "node={node} type={t} {s} pid={pid} uid=0 auid=1000 ses=7 \
                             subj=unconfined msg='op=PAM:session_open grantors=pam_unix \
                             acct=\"admin\" exe=\"/usr/sbin/sshd\" hostname=10.0.0.{i} \
                             addr=10.0.0.{i} terminal=ssh res=success'\x1dUID=\"root\" \
                             AUID=\"admin\""
                        ),
                    )?;
                    lines += 1;
                    serial += 1;
                }
                serials[host] = serial - 1;
            }
            _ => {
                // A failed exec with the installer key (not a run).
                for l in [
                    format!(
                        "node={node} type=SYSCALL {stamp} arch=c000003e syscall=59 success=no \
                         exit=-2 a0=55d0 a1=55d8 a2=55e0 a3=0 items=1 ppid={ppid} pid={pid} \
                         auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 \
                         tty=pts1 ses=5 comm=\"bash\" exe=\"/usr/bin/bash\" subj=unconfined \
                         key=\"{KEY}\"\x1dARCH=x86_64 SYSCALL=execve AUID=\"admin\" UID=\"root\""
                    ),
                    format!("node={node} type=CWD {stamp} cwd=\"/root\""),
                    format!(
                        "node={node} type=PATH {stamp} item=0 name=\"/usr/local/bin/dpkg\" \
                         nametype=UNKNOWN cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
                    ),
                    format!("node={node} type=PROCTITLE {stamp} proctitle=62617368"),
                ] {
                    written += emit(&mut out, l)?;
                    lines += 1;
                }
            }
        }
        noise_budget += written - before;
    }
    out.flush()?;
    ev.flush()?;
    Ok((lines, keyed))
}

/// RFC 3339 UTC with microseconds, for the generated events.
fn format_rfc3339(secs: u64, micros: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One child's wall time (s) and peak RSS (KiB), its stdout thrown away.
fn measure(cmd: &mut Command) -> Result<(f64, u64)> {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {cmd:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = start.elapsed().as_secs_f64();
    if r != pid {
        bail!("wait4 {cmd:?}: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        bail!("{cmd:?} failed ({status:#x}): {err}");
    }
    Ok((secs, usage.ru_maxrss as u64))
}

pub(crate) fn bench(runs: u64, megabytes: u64, rounds: u32, generate_only: bool) -> Result<()> {
    let blocks = blocks_of(rounds)?;
    let dir = root().join("target/bench");
    fs::create_dir_all(&dir)?;
    let log = dir.join(format!("report-{runs}-{megabytes}MB.log"));
    let events = dir.join(format!("report-{runs}-{megabytes}MB.jsonl"));
    let bytes = megabytes * 1_000_000;
    eprintln!("xtask: generating {}", log.display());
    let (lines, keyed) = generate(&log, &events, runs, bytes)?;
    let size = fs::metadata(&log)?.len();
    if generate_only {
        println!("{}\n{}", log.display(), events.display());
        return Ok(());
    }
    crate::build_release()?;
    let bin = root().join("target/release/swmon");
    // Read both once so the page cache holds them for every round.
    for p in [&log, &events] {
        std::io::copy(&mut fs::File::open(p)?, &mut std::io::sink())?;
    }
    let swmon = |out: &mut Vec<(f64, u64)>| -> Result<()> {
        out.push(measure(
            Command::new(&bin)
                .arg("report")
                .arg("--events")
                .arg(&events)
                .arg("--audit-log")
                .arg(&log)
                .args(["--key", KEY]),
        )?);
        Ok(())
    };
    let ausearch = |out: &mut Vec<(f64, u64)>| -> Result<()> {
        out.push(measure(
            Command::new("ausearch")
                .arg("-if")
                .arg(&log)
                .args(["-k", KEY]),
        )?);
        Ok(())
    };
    let (mut s, mut a) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // ABBA: swmon first in rounds 0, 3, 4, 7, ...
        if matches!(round % 4, 0 | 3) {
            swmon(&mut s)?;
            ausearch(&mut a)?;
        } else {
            ausearch(&mut a)?;
            swmon(&mut s)?;
        }
        eprintln!(
            "round {round}: swmon report {:.3} s {} KiB, ausearch -k {:.3} s {} KiB",
            s[round as usize].0, s[round as usize].1, a[round as usize].0, a[round as usize].1
        );
    }
    let time_ratios: Vec<f64> = s.iter().zip(&a).map(|(s, a)| a.0 / s.0).collect();
    let rss_ratios: Vec<f64> = s
        .iter()
        .zip(&a)
        .map(|(s, a)| a.1 as f64 / s.1 as f64)
        .collect();
    let time = Paired::of(&block_ratios(&time_ratios));
    let rss = Paired::of(&block_ratios(&rss_ratios));
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    };
    let secs = |v: &[(f64, u64)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    let mib = |v: &[(f64, u64)]| v.iter().map(|x| x.1 as f64 / 1024.0).collect::<Vec<_>>();
    let (ss, as_, sm, am) = (secs(&s), secs(&a), mib(&s), mib(&a));
    let row = |name: &str, t: &[f64], m: &[f64]| {
        let (tl, th) = range(t);
        let (ml, mh) = range(m);
        format!(
            "| {name} | {:.3} ({tl:.3}–{th:.3}) | {:.1} ({ml:.1}–{mh:.1}) |\n",
            median(t),
            median(m)
        )
    };
    let peak = sm.iter().copied().fold(0.0, f64::max);
    let body = format!(
        "| tool | wall s, median (min–max) | peak RSS MiB, median (min–max) |\n|---|---|---|\n{}{}\n\
         Ratios, ausearch over swmon within each round (above 1: swmon is faster, or smaller), \
         median of {blocks} ABBA blocks [≥95% CI]: time {}; peak RSS {}.\n\n\
         The log: {size} bytes, {lines} lines, {keyed} keyed installer execs among noise \
         (file syscalls under another key, unkeyed execs, logins, failed keyed execs), four \
         hosts by `node=`, generated by the bench (`xtask/src/reportbench.rs`, fixed seed); \
         the events file has swmon's event for every tenth run. `swmon report --events EVENTS \
         --audit-log LOG --key {KEY}` (Markdown to /dev/null) and `ausearch -if LOG -k {KEY}` \
         (to /dev/null) run once each per round, the order alternating (ABBA); wall time from \
         spawn to reaping, peak RSS the reaped child's `ru_maxrss`.\n\n\
         Targets: faster than `ausearch -k` — {}; peak memory under 128 MiB — {} (highest \
         of {rounds} rounds: {peak:.1} MiB).\n",
        row("swmon report", &ss, &sm),
        row("ausearch -k", &as_, &am),
        time.show(),
        rss.show(),
        time.verdict(1.0),
        if peak < 128.0 { "met" } else { "MISSED" },
    );
    println!("\n{body}");
    write_section(
        "report",
        &body,
        &format!(
            "cargo xtask bench report --runs {runs} --megabytes {megabytes} --rounds {rounds}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_times() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_rfc3339(1_795_680_698, 722_000),
            "2026-11-26T08:11:38.722000Z"
        );
        assert_eq!(
            format_rfc3339(951_782_400, 1),
            "2000-02-29T00:00:00.000001Z"
        );
    }
}
