//! `sluice bench`: benchmarks that print their figures next to the raw
//! limit of this machine, measured in the same run.

mod disk;
mod log;
mod pipeline;
mod produce;
mod transform;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Append records to a fresh partition with fsync on, then read them all back.
    ///
    /// Without --records/--size it runs both standard cases: 2,000,000 × 100 B
    /// and 500,000 × 1 KiB.
    Log(log::LogBenchArgs),
    /// Produce records to an in-process broker with Sluice's client
    /// (acks=all), then consume them all back.
    ///
    /// Without --records/--size it runs both standard cases: 2,000,000 × 100 B
    /// and 500,000 × 1 KiB. Prints one line per case, with context on stderr.
    Produce(produce::ProduceBenchArgs),
    /// Copy records between two partitions of the embedded log with no
    /// transform, through the identity guest, and through a filter guest.
    ///
    /// Without --records/--size it runs both standard cases: 2,000,000 × 100 B
    /// and 500,000 × 1 KiB. Needs target/wasm/{passthrough,filter}.wasm
    /// (`cargo xtask wasm`). Prints one line per case, with context on stderr.
    Transform(transform::TransformBenchArgs),
    /// Pass records through whole pipelines on an in-process broker, file
    /// to file: file source → topic → file sink, and the same with a
    /// passthrough transform between two topics; next to a plain file copy.
    ///
    /// Without --records/--size it runs both standard cases: 1,000,000 × 100 B
    /// and 200,000 × 1 KiB. Needs target/wasm/{file-source,file-sink,passthrough}.wasm
    /// (`cargo xtask wasm`). Prints one line per case, with context on stderr.
    Pipeline(pipeline::PipelineBenchArgs),
}

pub fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Log(args) => log::run(args),
        BenchCommand::Produce(args) => produce::run(args),
        BenchCommand::Transform(args) => transform::run(args),
        BenchCommand::Pipeline(args) => pipeline::run(args),
    }
}
