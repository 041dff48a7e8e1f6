//! The `swmon` command line; everything it runs lives in the library.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;

// audit-guard: a panic in `swmon run` removes swmon's audit rules only by
// unwinding through RuleGuard's drop; a build that aborts on panic (a
// profile, RUSTFLAGS `-C panic=abort`) would leave them loaded.
#[cfg(not(panic = "unwind"))]
compile_error!("swmon must be built with panic = \"unwind\": RuleGuard removes the audit rules on a panic only by unwinding");
use clap::{Parser, Subcommand};
use swmon::{
    audit::{
        netlink::ControlSocket,
        ownership::HostTakeover,
        rules::{self, RuleSetName, RulesReport},
        AuditOptions, AuditStream,
    },
    ebpf::LoadOptions,
    report::{self, ReportFormat, ReportOptions},
    run::{self, AuditRunOptions, RulesMode, RunOptions},
    sink::Format,
};

/// The variable that must be set for a test-only option to be taken.
const TEST_ONLY_VAR: &str = "SWMON_TEST_ONLY";
const TEST_HOLD_AUDIT: &str = "hold-audit";

/// The test hold's file sits in a folder owned by root that neither its
/// group nor others may write (no other user can start or end the hold).
fn hold_folder_is_safe(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let m = std::fs::metadata(folder)
        .map_err(|e| format!("its folder {} can't be read: {e}", folder.display()))?;
    if !m.is_dir() {
        return Err(format!("{} is not a folder", folder.display()));
    }
    if m.uid() != 0 {
        return Err(format!(
            "its folder {} is owned by uid {}, not root",
            folder.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!(
            "its folder {} is writable by its group or others (mode {:o})",
            folder.display(),
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

#[derive(Parser)]
#[command(
    version,
    long_version = swmon::version::LONG,
    about = "Catches every software install on this host and proves it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch installer runs until SIGINT, SIGTERM or SIGQUIT (SIGHUP
    /// reopens the output file and reads the config file again).
    Run {
        /// The config file: a `[run]` table of these options by long name
        /// (`installer-dir = ["/opt/bin"]`); options given here override
        /// it. Default /etc/swmon/swmon.toml, if there. SIGHUP reads it
        /// again.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Where events go (`-` for standard output).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
        /// Create the output file 0640 with this group (name or number)
        /// instead of 0600.
        #[arg(long, value_name = "GROUP")]
        output_group: Option<String>,
        /// Also look for installers in this folder (repeatable). Only a
        /// folder owned by root and not writable by group or others, with
        /// parents alike, is used; `$PATH` is never searched.
        #[arg(long = "installer-dir", value_name = "DIR")]
        installer_dirs: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Kernel ring-buffer size in bytes (a power of two, at least 4096).
        #[arg(long, default_value_t = 4 << 20, value_parser = ring_size)]
        ring_buffer_size: u32,
        /// Audit rules to work with: the host's as they are, or the seed set
        /// added for the run (and removed at stop).
        #[arg(long, value_enum, default_value_t = RulesMode::Keep)]
        audit_rules: RulesMode,
        /// Put swmon's audit rules back when someone removes them.
        #[arg(long)]
        restore_rules: bool,
        /// How long a run waits for its audit record before it is
        /// `ebpf_only`, in milliseconds (at most 10000).
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=10_000))]
        audit_wait_ms: u64,
        /// Audit receive buffer to force, in bytes.
        #[arg(long, default_value_t = AuditOptions::default().rcvbuf)]
        audit_rcvbuf: usize,
        /// Watch with the kernel stream alone (no audit cross-check).
        #[arg(long)]
        no_audit: bool,
        /// Write a `heartbeat` event with every counter this often, in
        /// seconds (0: never).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
        heartbeat_secs: u64,
        /// Also ship every event (its JSON line) here; repeatable:
        /// `journald` (or `journald:SOCKET`), `syslog` (RFC 5424 to
        /// /dev/log, or `syslog:unix:SOCKET`), `syslog+tcp://HOST:PORT`
        /// (RFC 5424, octet-counted). A sink that is down or slow never
        /// holds the monitor: its lines wait in its own bounded queue, and
        /// what it loses is counted (`sink_dropped`, `sink_refused`).
        #[arg(long = "sink", value_name = "SPEC")]
        sinks: Vec<swmon::ship::Spec>,
        /// Have the eBPF programs say why they passed or dropped each
        /// candidate exec (an installer name, inode, size or ELF key
        /// matched, or an interpreter whose argv was scanned), as
        /// `ebpf-log` events at this level or above (warn: losses only;
        /// info: each decision; debug: also scan starts and events sent).
        /// Off by default; `--ebpf-log` alone is `info`. Ordinary execs
        /// never log.
        #[arg(long, value_enum, value_name = "LEVEL", num_args = 0..=1,
              require_equals = true, default_missing_value = "info")]
        ebpf_log: Option<swmon::ebpf::log::LogLevel>,
        /// TEST ONLY, hidden: hold audit exec records while this file
        /// exists (refused unless `SWMON_TEST_ONLY=hold-audit`).
        #[arg(long, hide = true, value_name = "PATH")]
        test_hold_audit_while: Option<PathBuf>,
    },
    /// Print what swmon makes of a command line, without running it: the
    /// manager, operation, packages with versions, and scope. Exits 0 when
    /// the command line runs an installer (whatever the operation), 3 when
    /// it runs none (`"manager": null` with `--json`). Local package files
    /// it names (`dpkg -i ./x.deb`) are read for their real name and
    /// version, as the caller can read them; nothing is run.
    Classify {
        /// One JSON object with the event's field names (`manager`,
        /// `operation`, `packages[].name`, `packages[].version`, `scope`).
        #[arg(long)]
        json: bool,
        /// The command line: PROGRAM (a path or a name) and its arguments,
        /// after `--`.
        #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
        argv: Vec<std::ffi::OsString>,
    },
    /// Check whether this host can run `swmon run` as asked, and say how to
    /// fix what is wrong (changes nothing). Exits 0 when swmon can run
    /// (warnings allowed), 1 when a check failed.
    Doctor {
        /// The `swmon run --output` to check (`-` for standard output).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
        /// The `swmon run --output-group` to check the file's mode for.
        #[arg(long, value_name = "GROUP")]
        output_group: Option<String>,
        /// Check for `swmon run --no-audit`: audit's state is then only
        /// reported.
        #[arg(long)]
        no_audit: bool,
        /// One JSON object: `doctor` (shape version), `can_run`, `audit`,
        /// `checks` (`id`, `status`, `what`, `fix`, `details`).
        #[arg(long)]
        json: bool,
    },
    /// Show, install or remove the audit rules swmon relies on.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Print the audit stream (assembled events, health and loss) as JSON
    /// lines until SIGINT or `--count` items; for debugging.
    #[command(hide = true)]
    AuditTail {
        /// Receive buffer to force, in bytes.
        #[arg(long, default_value_t = AuditOptions::default().rcvbuf)]
        rcvbuf: usize,
        /// Only events with this rule key (gap items always print).
        #[arg(long)]
        key: Option<String>,
        /// Stop after this many printed items.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Compare what pure auditd recorded (by rule key) with what swmon saw.
    Report {
        /// swmon's JSON Lines output; repeat for more files.
        #[arg(long = "events", required = true, value_name = "PATH")]
        events: Vec<PathBuf>,
        /// auditd's log (raw or enriched) or `ausearch --raw` output;
        /// repeat for rotated logs.
        #[arg(long = "audit-log", required = true, value_name = "PATH")]
        audit_logs: Vec<PathBuf>,
        /// The audit rule key that means "pure auditd recorded it".
        #[arg(long, default_value = report::DEFAULT_KEY)]
        key: String,
        /// Only runs from this time on (RFC 3339, UTC, or epoch seconds).
        #[arg(long, value_parser = time_bound)]
        since: Option<i64>,
        /// Only runs up to this time.
        #[arg(long, value_parser = time_bound)]
        until: Option<i64>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
        /// Where the report goes (standard output when absent): written to a
        /// temporary file beside it (mode 0600), then renamed over it.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write man pages (`DIR/man`) and shell completions
    /// (`DIR/completions`) made from these definitions; for packaging.
    #[command(hide = true)]
    Generate { dir: PathBuf },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// The audit status, the loaded rules, and which installers found on
    /// this host they record.
    Show {
        /// Also show this set's rules and whether each is loaded.
        #[arg(long, value_enum)]
        set: Option<RuleSetName>,
        #[arg(long)]
        json: bool,
    },
    /// Add the set's rules that are not loaded yet.
    Install {
        #[arg(long, value_enum, default_value = "seed")]
        set: RuleSetName,
        #[arg(long)]
        json: bool,
    },
    /// Delete the set's rules where loaded exactly; nothing else is touched.
    Remove {
        #[arg(long, value_enum, default_value = "seed")]
        set: RuleSetName,
        #[arg(long)]
        json: bool,
    },
}

fn time_bound(s: &str) -> Result<i64, String> {
    report::time_bound(s).map_err(|e| e.to_string())
}

/// `swmon classify`: exit 0 when the command line runs an installer, 3
/// when it runs none.
fn classify_command(json: bool, argv: &[std::ffi::OsString]) -> anyhow::Result<ExitCode> {
    use std::os::unix::ffi::OsStrExt;
    let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
    // Local package files are read as the caller sees and may read them.
    let explained =
        swmon::classify::command::explain_reading_files(&argv, swmon::package_file::Place::of_self);
    let text = if json {
        format!("{}\n", explained.json())
    } else {
        explained.text()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("can't write to standard output")?;
    Ok(if explained.target.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// `swmon doctor`: exit 0 when swmon can run, 1 when it can't.
fn doctor_command(
    output: PathBuf,
    output_group: Option<&str>,
    audit: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let output_group = output_group.map(group_id).transpose()?;
    let report = swmon::doctor::run(&swmon::doctor::Options {
        output,
        output_group,
        audit,
    });
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        report.to_string()
    };
    write_stdout(&text)?;
    Ok(ExitCode::from(report.exit_code()))
}

/// Builds and writes a report; warnings go to standard error as well.
fn write_report(
    options: &ReportOptions,
    format: ReportFormat,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let r = report::build(options)?;
    for w in &r.warnings {
        eprintln!(
            "swmon report: warning: {}",
            swmon::sink::terminal_safe(&w.to_string())
        );
    }
    if r.warnings_suppressed > 0 {
        eprintln!(
            "swmon report: warning: {} more warnings not listed",
            r.warnings_suppressed
        );
    }
    match output {
        Some(path) => {
            let text = report::render(&r, format)?;
            swmon::safe_file::replace(path, text.as_bytes())
                .with_context(|| format!("can't write the report to {}", path.display()))?
        }
        None => {
            let mut out = std::io::stdout().lock();
            report::render_to(&r, format, &mut out)
                .context("can't write the report to standard output")?;
            out.flush()
                .context("can't write the report to standard output")?;
        }
    }
    Ok(())
}

/// A group by name or number.
fn group_id(group: &str) -> anyhow::Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => anyhow::bail!("--output-group: no group named {group:?}"),
        Err(e) => anyhow::bail!("--output-group: can't look up group {group:?}: {e}"),
    }
}

fn ring_size(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if n < 4096 || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two of at least 4096"));
    }
    Ok(n)
}

fn main() -> ExitCode {
    // `swmon run`'s options completed from its config file.
    let (cli, config) =
        swmon::config::parse::<Cli>(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Run {
            config: _,
            output,
            output_group,
            installer_dirs,
            format,
            ring_buffer_size,
            audit_rules,
            restore_rules,
            audit_wait_ms,
            audit_rcvbuf,
            no_audit,
            heartbeat_secs,
            sinks,
            ebpf_log,
            test_hold_audit_while,
        } => {
            if let Some(path) = &test_hold_audit_while {
                // Two keys: the hidden option and the variable. Delaying
                // records on a real host would make verdicts late.
                if std::env::var_os(TEST_ONLY_VAR).as_deref()
                    != Some(std::ffi::OsStr::new(TEST_HOLD_AUDIT))
                {
                    eprintln!(
                        "swmon: --test-hold-audit-while is for swmon's own tests; \
                         it needs {TEST_ONLY_VAR}={TEST_HOLD_AUDIT}"
                    );
                    return ExitCode::FAILURE;
                }
                // Whoever may create or remove the file steers the hold:
                // its folder must be root's and writable by nobody else.
                if let Err(why) = hold_folder_is_safe(path) {
                    eprintln!("swmon: --test-hold-audit-while {}: {why}", path.display());
                    return ExitCode::FAILURE;
                }
                eprintln!(
                    "swmon: TEST ONLY: audit exec records are held while {} exists",
                    path.display()
                );
            }
            let output_group = match output_group.as_deref().map(group_id).transpose() {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("swmon: {e:#}");
                    return ExitCode::FAILURE;
                }
            };
            let options = RunOptions {
                output,
                output_group,
                format,
                load: LoadOptions {
                    ring_buffer_bytes: ring_buffer_size,
                    extra_dirs: installer_dirs,
                    ebpf_log,
                },
                audit: AuditRunOptions {
                    enabled: !no_audit,
                    rules: audit_rules,
                    restore: restore_rules,
                    wait: std::time::Duration::from_millis(audit_wait_ms),
                    rcvbuf: audit_rcvbuf,
                    test_hold: test_hold_audit_while,
                },
                heartbeat: (heartbeat_secs > 0)
                    .then(|| std::time::Duration::from_secs(heartbeat_secs)),
                sinks,
                config,
            };
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(run::run(options)).map_err(anyhow::Error::from))
        }
        Command::Doctor {
            output,
            output_group,
            no_audit,
            json,
        } => {
            return match doctor_command(output, output_group.as_deref(), !no_audit, json) {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "swmon: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules { command } => rules_command(command),
        Command::Classify { json, argv } => {
            return match classify_command(json, &argv) {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "swmon: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::AuditTail { rcvbuf, key, count } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(audit_tail(rcvbuf, key, count))),
        Command::Report {
            events,
            audit_logs,
            key,
            since,
            until,
            format,
            output,
        } => {
            let options = ReportOptions {
                events,
                audit_logs,
                key,
                since,
                until,
            };
            write_report(&options, format, output.as_deref())
        }
        Command::Generate { dir } => {
            swmon::generate::write_all(<Cli as clap::CommandFactory>::command(), &dir)
                .map(drop)
                .with_context(|| format!("can't write the pages under {}", dir.display()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Best effort: a closed or failing stderr must not panic here.
            let _ = writeln!(std::io::stderr(), "swmon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Audit control takes `CAP_AUDIT_CONTROL`, whatever the uid.
fn need_audit_control(what: &str) -> anyhow::Result<()> {
    let missing = swmon::privilege::missing_effective(&[caps::Capability::CAP_AUDIT_CONTROL]);
    if !missing.is_empty() {
        anyhow::bail!("{what} needs CAP_AUDIT_CONTROL (root has it); run it with sudo");
    }
    Ok(())
}

fn rules_command(command: RulesCommand) -> anyhow::Result<()> {
    use std::fmt::Write as _;

    let mut text = String::new();
    need_audit_control("swmon rules")?;
    let mut ctl = ControlSocket::open()?;
    let found = rules::host_installers();
    match command {
        RulesCommand::Show { set, json } => {
            let set_rules = set.map(|s| s.rules(&found));
            let report = RulesReport::build(&mut ctl, &found, set_rules.as_deref())?;
            if json {
                writeln!(text, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                write!(text, "{report}")?;
            }
        }
        RulesCommand::Install { set, json } => {
            let wanted = set.rules(&found);
            // audit-guard: the host takes these rules over (see host_takeover).
            let takeover = HostTakeover::begin().context("can't lock swmon's rule records")?;
            let done = rules::install(&mut ctl, &wanted).context("can't install the rules")?;
            host_takeover(takeover, &wanted, (!json).then_some(&mut text))?;
            if json {
                writeln!(text, "{}", serde_json::to_string_pretty(&done)?)?;
            } else {
                writeln!(
                    text,
                    "added {} rules, {} already loaded (left as they are)",
                    done.added.len(),
                    done.present.len()
                )?;
                for r in &done.added {
                    writeln!(text, "  added    {r}")?;
                }
                for r in &done.present {
                    writeln!(text, "  present  {r}")?;
                }
            }
        }
        RulesCommand::Remove { set, json } => {
            let wanted = set.rules(&found);
            let takeover = HostTakeover::begin().context("can't lock swmon's rule records")?;
            let done = rules::remove(&mut ctl, &wanted).context("can't remove the rules")?;
            host_takeover(takeover, &wanted, (!json).then_some(&mut text))?;
            if json {
                writeln!(text, "{}", serde_json::to_string_pretty(&done)?)?;
            } else {
                writeln!(
                    text,
                    "removed {} rules, {} were not loaded",
                    done.removed.len(),
                    done.absent.len()
                )?;
                for r in &done.removed {
                    writeln!(text, "  removed  {r}")?;
                }
            }
        }
    }
    write_stdout(&text)
}

/// audit-guard: rules an admin installs or removes with `swmon rules` are
/// the host's from now on: dropped from the records of dead `swmon run`s,
/// so the next run does not delete them as leftovers.
fn host_takeover(
    takeover: HostTakeover,
    rules: &[rules::AuditRule],
    text: Option<&mut String>,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;

    match (takeover.finish(rules), text) {
        (Ok(0), _) | (Ok(_), None) => {}
        (Ok(n), Some(text)) => writeln!(
            text,
            "{n} of these rules were recorded by a swmon run that died: now the host's"
        )?,
        (Err(errors), _) => {
            for e in &errors {
                eprintln!("swmon: {e}");
            }
            anyhow::bail!(
                "can't update the records of dead swmon runs under {}: the next swmon run may remove these rules as their leftovers",
                swmon::audit::ownership::STATE_DIR
            );
        }
    }
    Ok(())
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;

    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

async fn audit_tail(rcvbuf: usize, key: Option<String>, count: Option<u64>) -> anyhow::Result<()> {
    use std::io::Write;

    need_audit_control("swmon audit-tail")?;
    let mut stream = AuditStream::open(AuditOptions {
        rcvbuf,
        ..AuditOptions::default()
    })?;
    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        let item = tokio::select! {
            item = stream.next() => item?,
            _ = tokio::signal::ctrl_c() => break,
        };
        if let (Some(key), swmon::audit::AuditItem::Event(e)) = (&key, &item) {
            if !e.keys().iter().any(|k| k == key.as_bytes()) {
                continue;
            }
        }
        writeln!(out, "{}", item.to_json())?;
        out.flush()?;
        printed += 1;
        if count.is_some_and(|c| printed >= c) {
            break;
        }
    }
    eprintln!("{}", serde_json::to_string(&stream.counters())?);
    Ok(())
}
