//! The `swmon` command line; everything it runs lives in the library.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use swmon::{
    ebpf::LoadOptions,
    report::{self, ReportFormat, ReportOptions},
    run::{self, RunOptions},
    sink::Format,
};

#[derive(Parser)]
#[command(
    version,
    about = "Catches every software install on this host and proves it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Watch installer runs until SIGINT or SIGTERM.
    Run {
        /// Where events go (`-` for standard output).
        #[arg(long, short, default_value = "-")]
        output: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
        /// Kernel ring-buffer size in bytes (a power of two, at least 4096).
        #[arg(long, default_value_t = 4 << 20, value_parser = ring_size)]
        ring_buffer_size: u32,
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
        /// Where the report goes (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn time_bound(s: &str) -> Result<i64, String> {
    report::time_bound(s).map_err(|e| e.to_string())
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
    let text = report::render(&r, format)?;
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("can't write the report to {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("can't write the report to standard output")?;
        }
    }
    Ok(())
}

fn ring_size(s: &str) -> Result<u32, String> {
    let n: u32 = s.parse().map_err(|e| format!("{e}"))?;
    if n < 4096 || !n.is_power_of_two() {
        return Err(format!("{n} is not a power of two of at least 4096"));
    }
    Ok(n)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            output,
            format,
            ring_buffer_size,
        } => {
            let options = RunOptions {
                output,
                format,
                load: LoadOptions {
                    ring_buffer_bytes: ring_buffer_size,
                    ..LoadOptions::default()
                },
            };
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(run::run(options)).map_err(anyhow::Error::from))
        }
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swmon: {e:#}");
            ExitCode::FAILURE
        }
    }
}
