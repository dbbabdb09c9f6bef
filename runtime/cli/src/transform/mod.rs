//! `sluice transform`: run a transform component outside a pipeline.
//!
//! | module | one job |
//! |---|---|
//! | [`run`] | `sluice transform run`: records from stdin through a component to stdout, failed batches to a dead-letter file |
//! | [`json_lines`] | the JSON-lines form of a record, read and written |
//!
//! The Wasm engine is built here for every command that runs components
//! (`bench transform` too), so they share one compiled-component cache.

pub mod json_lines;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use sluice_wasm_host::{EngineConfig, WasmEngine};

#[derive(Debug, Subcommand)]
pub enum TransformCommand {
    /// Run JSON-lines records from standard input through a transform
    /// component and print what it emits.
    Run(run::RunArgs),
}

pub fn run(command: TransformCommand) -> anyhow::Result<ExitCode> {
    match command {
        TransformCommand::Run(args) => run::run(args),
    }
}

/// Where compiled components are kept between runs: `$SLUICE_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/sluice/wasm`, else `~/.cache/sluice/wasm`; `None`
/// (compile every time) when none of them is set.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = var("SLUICE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let cache_home = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache_home.join("sluice").join("wasm"))
}

/// The process's Wasm engine, with the compiled-component cache.
///
/// # Errors
/// When wasmtime cannot build the engine or start its epoch ticker.
pub fn engine() -> anyhow::Result<WasmEngine> {
    WasmEngine::new(EngineConfig {
        cache_dir: cache_dir(),
        ..EngineConfig::default()
    })
    .map_err(|error| anyhow::anyhow!("{error:#}"))
    .context("start the Wasm engine")
}
