//! The `sluice` binary: argument parsing, logging setup and wiring.
//!
//! Holds no logic of its own: each subcommand module turns typed arguments
//! into calls on the library crates and prints the result. Errors travel
//! up as `anyhow::Error` with context and are printed once, with their
//! cause chain, by `main`.
//!
//! Exit status: 0 on success, 1 on any error, usage errors included;
//! `sluice transform` has its own statuses (see `transform/run.rs`), and
//! its usage errors exit 2.

mod bench;
mod client;
mod consume;
mod demo;
mod group;
mod pipeline;
mod plugin;
mod produce;
mod record_format;
mod replay;
mod serve;
mod table;
mod topic;
mod transform;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Huge allocations are mapped lazily so a hostile request cannot abort the
/// broker (see `sluice_broker::alloc_guard`).
#[global_allocator]
static ALLOCATOR: sluice_broker::alloc_guard::LazyHugeAlloc =
    sluice_broker::alloc_guard::LazyHugeAlloc;

/// Sluice: a Kafka-compatible log broker and WebAssembly data-pipeline platform.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Commands that talk to a cluster take --brokers HOST:PORT[,...] (or SLUICE_BROKERS; \
default 127.0.0.1:9092). Exit status: 0 on success, 1 on any error.

Quick start:
  sluice serve --data ./data &
  sluice topic create orders --partitions 3
  printf 'ada:hello\\ngrace:world\\n' | sluice produce orders --key-separator :
  sluice consume orders -n 2 --format json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker: Kafka protocol and HTTP, until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Write lines from standard input to a topic, one record per line.
    Produce(produce::ProduceArgs),
    /// Print a topic's records, alone or as a member of a consumer group.
    Consume(consume::ConsumeArgs),
    /// List and describe consumer groups: members, offsets, lag.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Run the demo pipelines on an embedded broker: click events → mask → a topic → file sinks, one added later.
    Demo(demo::DemoArgs),
    /// Measure Sluice against the limits of this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a Wasm transform component over records outside a pipeline.
    #[command(subcommand)]
    Transform(transform::TransformCommand),
    /// Inspect Wasm components: worlds, contract version, grants.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Validate pipeline files.
    #[command(subcommand)]
    Pipeline(pipeline::PipelineCommand),
    /// Re-run one sink of a pipeline over a range of its topic: backfill or repair.
    Replay(replay::ReplayArgs),
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
        Command::Serve(args) => serve::run(args),
        Command::Topic(command) => topic::run(command),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Group(command) => group::run(command),
        Command::Demo(args) => demo::run(args),
        Command::Bench(command) => bench::run(command),
        Command::Transform(command) => transform::run(command),
        Command::Plugin(command) => plugin::run(command),
        Command::Pipeline(command) => pipeline::run(command),
        Command::Replay(args) => replay::run(args),
    }
}

fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` go to stdout and succeed; a usage
            // error is an error like any other: exit 1, not clap's 2,
            // except under `sluice transform`, whose scripted callers tell
            // a usage error (2) from dead-lettered records (3).
            let printed = error.print();
            return if !error.use_stderr() && printed.is_ok() {
                ExitCode::SUCCESS
            } else if std::env::args_os()
                .nth(1)
                .is_some_and(|arg| arg == "transform")
            {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            };
        }
    };
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
