//! `sluice pipeline check FILE…`: validates pipeline files without running
//! them, printing each problem as `FILE:LINE:COL: message` (with a hint
//! where one helps). Exit status 0 when every file is valid, 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use sluice_pipeline::{check_files, CheckOptions};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Validate pipeline files: schema, topics, components, worlds, grants.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Pipeline files (`.toml`) to check together: a topic declared in one
    /// may be read by another.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Where bundled connectors and plugins are (`NAME.wasm`,
    /// `NAME-source.wasm`, `NAME-sink.wasm`).
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_COMPONENTS_DIR",
        default_value = "target/wasm"
    )]
    components: PathBuf,
}

pub fn run(command: PipelineCommand) -> anyhow::Result<ExitCode> {
    match command {
        PipelineCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let engine = crate::transform::engine()?;
    let options = CheckOptions {
        components_dir: args.components,
    };
    let diagnostics = check_files(&args.files, &options, &engine);
    for diagnostic in &diagnostics {
        eprintln!("{diagnostic}");
    }
    if diagnostics.is_empty() {
        println!("{} pipeline file(s) ok", args.files.len());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} problem(s) in {} pipeline file(s)",
            diagnostics.len(),
            args.files.len()
        );
        Ok(ExitCode::FAILURE)
    }
}
