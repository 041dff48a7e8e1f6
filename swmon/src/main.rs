//! The `swmon` command line; everything it runs lives in the library.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use swmon::{
    ebpf::LoadOptions,
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swmon: {e:#}");
            ExitCode::FAILURE
        }
    }
}
