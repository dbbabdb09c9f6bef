//! `sluice plugin inspect FILE.wasm`: what a component is, without running
//! it: the worlds it exports, the contract version it was built against,
//! the grants its imports need, and everything it imports.
//!
//! Exit status: 0 when the component can run on this host, 1 when it
//! cannot (another contract version, no world of the contract, not a
//! component at all), with the reason.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use sluice_wasm_host::{ComponentInfo, World};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show a component's worlds, contract version, grants and imports.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component file (`.wasm`).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Inspect(args) => inspect(args),
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let engine = crate::transform::engine()?;
    let info = engine
        .inspect(&args.file)
        .with_context(|| format!("inspecting {}", args.file.display()))?;
    let problem = problem(&info);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&info, problem.as_deref()))?
        );
    } else {
        print!("{}", text(&info, problem.as_deref()));
    }
    Ok(if problem.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Why the component cannot run on this host, if it cannot.
fn problem(info: &ComponentInfo) -> Option<String> {
    if !info.contract_matches() {
        return Some(format!(
            "built against {}, this host runs {}: rebuild it with the matching SDK",
            info.contract.as_deref().unwrap_or("?"),
            sluice_wasm_host::CONTRACT
        ));
    }
    if info.worlds.is_empty() {
        return Some(format!(
            "it exports no world of {}: a transform exports init and process, a source open, poll \
             and commit, a sink open, write and flush",
            sluice_wasm_host::CONTRACT
        ));
    }
    None
}

fn world_line(world: World) -> String {
    format!("{world} (exports {})", world.exports().join(", "))
}

fn text(info: &ComponentInfo, problem: Option<&str>) -> String {
    let mut out = String::new();
    let rows: Vec<(&str, String)> = vec![
        ("file", info.path.display().to_string()),
        ("size", format!("{} bytes", info.size_bytes)),
        ("sha256", info.digest.clone()),
        (
            "contract",
            info.contract
                .clone()
                .unwrap_or_else(|| "none (imports no sluice:* interface)".into()),
        ),
        (
            "world",
            if info.worlds.is_empty() {
                format!("none (exports {})", info.exports.join(", "))
            } else {
                info.worlds
                    .iter()
                    .map(|w| world_line(*w))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
        (
            "grants",
            if info.grants.is_empty() {
                "none (log only)".into()
            } else {
                info.grants
                    .iter()
                    .map(|g| g.key())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
    ];
    for (label, value) in rows {
        out.push_str(&format!("{label:<9} {value}\n"));
    }
    out.push_str("imports\n");
    for import in &info.imports {
        out.push_str(&format!("  {import}\n"));
    }
    if let Some(problem) = problem {
        out.push_str(&format!("cannot run on this host: {problem}\n"));
    }
    out
}

fn as_json(info: &ComponentInfo, problem: Option<&str>) -> serde_json::Value {
    json!({
        "file": info.path,
        "size_bytes": info.size_bytes,
        "sha256": info.digest,
        "contract": info.contract,
        "worlds": info.worlds.iter().map(|w| w.name()).collect::<Vec<_>>(),
        "exports": info.exports,
        "grants": info.grants.iter().map(|g| g.key()).collect::<Vec<_>>(),
        "imports": info.imports,
        "runs_here": problem.is_none(),
        "problem": problem,
    })
}
