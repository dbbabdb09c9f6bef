//! `cargo xtask`: project tasks beyond `cargo build`.
//!
//! - `cargo xtask test`: every test of the project, the one command CI and
//!   the README use.
//! - `cargo xtask lint`: formatting, clippy, and the dependency rules of the
//!   architecture (storage must not see tokio, the Kafka protocol or
//!   wasmtime).
//!
//! Each task shells out to cargo and fails with the step that failed.

use std::process::{Command, ExitCode};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Sluice project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every test: unit, integration, crash and recovery tests.
    Test {
        /// Extra arguments passed to `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Check formatting, clippy and crate dependency rules.
    Lint,
    /// Check only the crate dependency rules.
    CheckDeps,
}

/// Crates that must stay free of heavy or upward dependencies, and what
/// they must not depend on (normal dependencies only).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "sluice-types",
        &["tokio", "kafka-protocol", "wasmtime", "sluice-storage"],
    ),
    (
        "sluice-batch",
        &["tokio", "kafka-protocol", "wasmtime", "sluice-storage"],
    ),
    ("sluice-storage", &["tokio", "kafka-protocol", "wasmtime"]),
];

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {step}");
    let status = command
        .status()
        .with_context(|| format!("could not start {step}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

fn check_deps() -> anyhow::Result<()> {
    for (krate, forbidden) in FORBIDDEN {
        let output = cargo()
            .args([
                "tree", "-p", krate, "-e", "normal", "--prefix", "none", "--format", "{p}",
            ])
            .output()
            .with_context(|| format!("cargo tree -p {krate}"))?;
        if !output.status.success() {
            bail!(
                "cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if forbidden.contains(&name) {
                bail!("{krate} must not depend on {name} (found in `cargo tree -p {krate} -e normal`)");
            }
        }
        eprintln!("xtask: {krate} depends on none of {}", forbidden.join(", "));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test { args } => run(
            "cargo test --workspace",
            cargo().args(["test", "--workspace", "--"]).args(args),
        ),
        Task::Lint => run(
            "cargo fmt --all --check",
            cargo().args(["fmt", "--all", "--check"]),
        )
        .and_then(|()| {
            run(
                "cargo clippy --workspace --all-targets -- -D warnings",
                cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
            )
        })
        .and_then(|()| check_deps()),
        Task::CheckDeps => check_deps(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
