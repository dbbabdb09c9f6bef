//! The `sluice` binary: argument parsing, logging setup and wiring.
//!
//! Holds no logic of its own: each subcommand module turns typed arguments
//! into calls on the library crates and prints the result. Errors travel
//! up as `anyhow::Error` with context and are printed once, with their
//! cause chain, by `main`.

mod bench;
mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sluice: a Kafka-compatible log broker and WebAssembly data-pipeline platform.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded log end to end: create a topic, append, read back.
    Demo(demo::DemoArgs),
    /// Measure Sluice against the limits of this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(command) => bench::run(command),
    }
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`sluice ... | head`) is not a failure.
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
