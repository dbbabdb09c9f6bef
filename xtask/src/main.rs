//! `cargo xtask`: project tasks beyond `cargo build`.
//!
//! - `cargo xtask test`: every test of the project, the one command CI and
//!   the README use: installs kcat and the e2e venv when missing
//!   (`.ci/install-test-tools`), builds the Wasm guests (`wasm`, which the
//!   host's tests run), runs `cargo test --workspace`, the plugins' and
//!   connectors' native unit tests (Rust, Python, JavaScript, C), then the
//!   end-to-end suite.
//! - `cargo xtask e2e`: only the end-to-end suite (`tests/e2e`): builds
//!   `target/release/sluice`, then runs real Kafka clients (kcat,
//!   confluent-kafka, kafka-python) against it with the venv's pytest.
//! - `cargo xtask wasm`: builds every guest (plugins, connectors and SDK
//!   templates, in Rust, Python, JavaScript and C) into
//!   `target/wasm/<name>.wasm`; see
//!   [`wasm`].
//! - `cargo xtask demo`: the README's first command: builds the Rust
//!   guests (the bundled connectors and plugins; they need only the
//!   `wasm32-wasip2` target), then runs `sluice demo` from a release build.
//! - `cargo xtask lint`: formatting, clippy, and the dependency rules of the
//!   architecture (storage must not see tokio, the Kafka protocol or
//!   wasmtime).
//!
//! Each task shells out to cargo and fails with the step that failed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

mod wasm;
use clap::{Parser, Subcommand};
use wasm::{wasm, wasm_rust};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Sluice project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every test: unit, integration, crash and recovery tests, then
    /// the end-to-end suite.
    Test {
        /// Extra arguments passed to `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Run only the end-to-end suite: real Kafka clients against a release
    /// build of `sluice`.
    E2e {
        /// Extra arguments passed to pytest (after `--`), e.g. `-k crash`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build every guest (plugins, connectors and SDK templates, every language) as a
    /// component into `target/wasm/<name>.wasm`.
    Wasm,
    /// Build the Rust guests, then run `sluice demo`: a pipeline end to end.
    Demo {
        /// Extra arguments passed to `sluice demo` (after `--`), e.g.
        /// `--events 100000`.
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
    ("sluice-protocol", &["tokio", "wasmtime", "sluice-storage"]),
    ("sluice-broker", &["wasmtime", "sluice-wasm-host"]),
    (
        "sluice-wasm-host",
        &[
            "kafka-protocol",
            "sluice-storage",
            "sluice-protocol",
            "sluice-broker",
        ],
    ),
];

/// What the end-to-end suite needs beyond Rust, and how to install it.
const E2E_SETUP: &str =
    "run `bash .ci/install-test-tools` (`cargo xtask test` does), or install by hand: \
     `apt-get install -y kcat && python3 -m venv .venv && \
     .venv/bin/pip install -r tests/e2e/requirements.txt`";

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

pub(crate) fn run(step: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("xtask: {step}");
    let status = command
        .status()
        .with_context(|| format!("could not start {step}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Installs kcat and the e2e venv when missing (idempotent), so the
/// README's test command works on a fresh machine.
fn install_test_tools() -> anyhow::Result<()> {
    let root = workspace_root();
    run(
        "bash .ci/install-test-tools",
        Command::new("bash")
            .current_dir(&root)
            .arg(root.join(".ci/install-test-tools")),
    )
}

/// Builds the release binary and runs `tests/e2e` with the venv's pytest.
/// Missing tools are an error, never a skip: a suite that silently does not
/// run looks the same as one that passes.
fn e2e(args: &[String]) -> anyhow::Result<()> {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    if !python.is_file() {
        bail!("no Python venv at {}: {E2E_SETUP}", python.display());
    }
    let imports = Command::new(&python)
        .args([
            "-c",
            "import confluent_kafka, kafka, pytest, pytest_timeout",
        ])
        .output()
        .with_context(|| format!("could not start {}", python.display()))?;
    if !imports.status.success() {
        bail!(
            "the venv lacks a package of tests/e2e/requirements.txt ({}): {E2E_SETUP}",
            String::from_utf8_lossy(&imports.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
    }
    if Command::new("kcat").arg("-V").output().is_err() {
        bail!("kcat is not on PATH: {E2E_SETUP}");
    }
    run(
        "cargo build --release -p sluice",
        cargo()
            .current_dir(&root)
            .args(["build", "--release", "-p", "sluice"]),
    )?;
    let target_dir = target_dir(&root);
    run(
        ".venv/bin/python -m pytest tests/e2e -q",
        Command::new(&python)
            .current_dir(&root)
            .env("SLUICE_BIN", target_dir.join("release/sluice"))
            .args(["-m", "pytest", "tests/e2e", "-q"])
            .args(args),
    )
}

/// The directory cargo builds into: `CARGO_TARGET_DIR` or `target/`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs the guest workspaces' unit tests natively (`plugins/`, then
/// `connectors/`): guests keep their logic in plain functions so it is
/// testable without a Wasm runtime.
fn plugin_tests() -> anyhow::Result<()> {
    let root = workspace_root();
    for home in wasm::GUEST_HOMES {
        run(
            &format!("cargo test ({home}/, native)"),
            cargo()
                .current_dir(&root)
                .arg("test")
                .arg("--manifest-path")
                .arg(root.join(home).join("Cargo.toml"))
                .arg("--target-dir")
                .arg(target_dir(&root).join("wasm-build")),
        )?;
    }
    Ok(())
}

/// The native tests of the Python, JavaScript and C guest code: the SDKs
/// and the `mask` ports (their JSON and SHA-256 code), run without Wasm.
fn guest_sdk_tests() -> anyhow::Result<()> {
    let root = workspace_root();
    run(
        "pytest sdk/python plugins/mask-py",
        Command::new(root.join(".venv/bin/python"))
            .current_dir(&root)
            .args(["-m", "pytest", "-q", "sdk/python", "plugins/mask-py"]),
    )?;
    run(
        "node --test plugins/mask-js/",
        Command::new("node")
            .current_dir(&root)
            .args(["--test", "plugins/mask-js/"]),
    )?;
    for script in ["sdk/c/test.sh", "plugins/mask-c/test.sh"] {
        run(
            &format!("bash {script}"),
            Command::new("bash").current_dir(&root).arg(script),
        )?;
    }
    Ok(())
}

/// Builds the components the demo runs, then `sluice demo` in release
/// mode from the workspace root (where its `pipelines/demo` default is).
fn demo(args: &[String]) -> anyhow::Result<()> {
    wasm_rust()?;
    let root = workspace_root();
    run(
        "cargo run --release -p sluice -- demo",
        cargo()
            .current_dir(&root)
            .args(["run", "--release", "-p", "sluice", "--", "demo"])
            .arg("--components")
            .arg(target_dir(&root).join("wasm"))
            .args(args),
    )
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
        Task::Test { args } => install_test_tools()
            // The host's tests run the guests: build them first.
            .and_then(|()| wasm())
            .and_then(|()| {
                run(
                    "cargo test --workspace",
                    cargo().args(["test", "--workspace", "--"]).args(args),
                )
            })
            .and_then(|()| plugin_tests())
            .and_then(|()| guest_sdk_tests())
            .and_then(|()| e2e(&[])),
        Task::E2e { args } => e2e(&args),
        Task::Wasm => wasm(),
        Task::Demo { args } => demo(&args),
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
