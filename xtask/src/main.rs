//! `cargo xtask`: project tasks beyond `cargo build`.
//!
//! - `cargo xtask test`: every test of the project, the one command CI and
//!   the README use: installs kcat and the e2e venv when missing
//!   (`.ci/install-test-tools`), builds the Wasm guests (`wasm`, which the
//!   host's tests run), runs `cargo test --workspace`, the plugins' native
//!   unit tests, then the end-to-end suite.
//! - `cargo xtask e2e`: only the end-to-end suite (`tests/e2e`): builds
//!   `target/release/sluice`, then runs real Kafka clients (kcat,
//!   confluent-kafka, kafka-python) against it with the venv's pytest.
//! - `cargo xtask wasm`: builds every guest in `plugins/` (its own Cargo
//!   workspace) for `wasm32-wasip2` in release mode and copies each component
//!   to `target/wasm/<name>.wasm`.
//! - `cargo xtask lint`: formatting, clippy, and the dependency rules of the
//!   architecture (storage must not see tokio, the Kafka protocol or
//!   wasmtime).
//!
//! Each task shells out to cargo and fails with the step that failed.

use std::path::{Path, PathBuf};
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
    /// Build every guest in `plugins/` as a component into
    /// `target/wasm/<name>.wasm`.
    Wasm,
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

/// The target Rust guests build for: a `cdylib` becomes a component.
const WASM_TARGET: &str = "wasm32-wasip2";

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

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
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
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Fails unless the toolchain has the standard library for `WASM_TARGET`.
/// Checked in the sysroot rather than through rustup, so it also holds for a
/// toolchain rustup does not manage; installing is left to the caller.
fn check_wasm_target() -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .context("could not start rustc --print sysroot")?;
    if !output.status.success() {
        bail!(
            "rustc --print sysroot failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let target_lib = sysroot.join("lib/rustlib").join(WASM_TARGET);
    if !target_lib.is_dir() {
        bail!(
            "the Rust target {WASM_TARGET} is not installed (no {}): \
             run `rustup target add {WASM_TARGET}`",
            target_lib.display()
        );
    }
    Ok(())
}

/// The guest crates: each directory of `plugins/` with a `Cargo.toml`, by
/// directory name, sorted. The directory name is the package name.
fn guest_names(plugins: &Path) -> anyhow::Result<Vec<String>> {
    let entries =
        std::fs::read_dir(plugins).with_context(|| format!("reading {}", plugins.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", plugins.display()))?;
        if entry.path().join("Cargo.toml").is_file() {
            let name = entry.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{} is not a UTF-8 name", entry.path().display()))?;
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds the guest workspace (`plugins/Cargo.toml`) for `WASM_TARGET` in
/// release mode into `target/wasm-build/`, then copies each component to
/// `target/wasm/<name>.wasm`, the path tests and pipeline files use.
fn wasm() -> anyhow::Result<()> {
    let root = workspace_root();
    check_wasm_target()?;
    let plugins = root.join("plugins");
    let names = guest_names(&plugins)?;
    if names.is_empty() {
        bail!("no guest crates in {}", plugins.display());
    }
    let target = target_dir(&root);
    let build_dir = target.join("wasm-build");
    run(
        &format!("cargo build --release --target {WASM_TARGET} (plugins/)"),
        cargo()
            .current_dir(&root)
            .args(["build", "--release", "--workspace", "--target", WASM_TARGET])
            .arg("--manifest-path")
            .arg(plugins.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&build_dir),
    )?;
    let out_dir = target.join("wasm");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for name in &names {
        // Cargo names a cdylib after its package, with `-` turned into `_`.
        let built = build_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        if !built.is_file() {
            bail!(
                "plugins/{name} built no {}: is it a `cdylib` whose package is named `{name}`?",
                built.display()
            );
        }
        let dest = out_dir.join(format!("{name}.wasm"));
        let bytes = std::fs::copy(&built, &dest)
            .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
        eprintln!("xtask: {} ({bytes} bytes)", dest.display());
    }
    Ok(())
}

/// Runs the guest workspace's unit tests natively: plugins keep their logic
/// in plain functions so it is testable without a Wasm runtime.
fn plugin_tests() -> anyhow::Result<()> {
    let root = workspace_root();
    run(
        "cargo test (plugins/, native)",
        cargo()
            .current_dir(&root)
            .arg("test")
            .arg("--manifest-path")
            .arg(root.join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir(&root).join("wasm-build")),
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
            .and_then(|()| e2e(&[])),
        Task::E2e { args } => e2e(&args),
        Task::Wasm => wasm(),
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
