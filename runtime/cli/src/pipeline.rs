//! `sluice pipeline check FILE…`: validates pipeline files without running
//! them, printing each problem as `FILE:LINE:COL: message` (with a hint
//! where one helps). Exit status 0 when every file is valid, 1 otherwise.
//!
//! `sluice pipeline list` and `sluice pipeline status NAME` ask a running
//! `sluice serve --pipelines DIR` over its HTTP API.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sluice_pipeline::run::{PipelineReport, StageReport, StageState};
use sluice_pipeline::{check_files, CheckOptions};

use crate::table::{count, write_fields, Align, Table};

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Validate pipeline files: schema, topics, components, worlds, grants.
    Check(CheckArgs),
    /// The running pipelines: stages, records in and out, errors, lag.
    List(ServerArgs),
    /// One pipeline's stages: state, version, records, errors, lag, last error.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The HTTP address of `sluice serve`.
    #[arg(
        long,
        value_name = "ADDR",
        env = "SLUICE_HTTP",
        default_value = "127.0.0.1:9644"
    )]
    http: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The pipeline's name.
    name: String,
    #[command(flatten)]
    server: ServerArgs,
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
        PipelineCommand::List(args) => list(args),
        PipelineCommand::Status(args) => status(args),
    }
}

/// GETs `path` from the server's HTTP API.
fn get(server: &ServerArgs, path: &str) -> anyhow::Result<(u16, String)> {
    let url = format!("http://{}{path}", server.http);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .with_context(|| {
                format!(
                    "cannot reach {url}: is `sluice serve --pipelines DIR` running? \
                     (set --http or SLUICE_HTTP)"
                )
            })?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    })
}

fn list(args: ServerArgs) -> anyhow::Result<ExitCode> {
    let (code, body) = get(&args, "/api/pipelines")?;
    anyhow::ensure!(code == 200, "{}", body.trim());
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let reports: Vec<PipelineReport> =
        serde_json::from_str(&body).context("the server's answer is not a pipeline list")?;
    let mut table = Table::new(&[
        ("PIPELINE", Align::Left),
        ("STATE", Align::Left),
        ("STAGES", Align::Right),
        ("IN", Align::Right),
        ("OUT", Align::Right),
        ("ERRORS", Align::Right),
        ("DEAD", Align::Right),
        ("LAG", Align::Right),
    ]);
    for report in &reports {
        let sum = |f: fn(&StageReport) -> u64| report.stages.iter().map(f).sum::<u64>() as i64;
        let lag: i64 = report.stages.iter().filter_map(|s| s.lag).sum();
        table.row(vec![
            report.name.clone(),
            pipeline_state(report).into(),
            report.stages.len().to_string(),
            count(sum(|s| s.records_in)),
            count(sum(|s| s.records_out)),
            count(sum(|s| s.errors)),
            count(sum(|s| s.dead_lettered)),
            count(lag),
        ]);
    }
    let mut out = std::io::stdout().lock();
    if reports.is_empty() {
        writeln!(out, "no pipelines")?;
    } else {
        table.write(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One word for a pipeline: the worst of its stages' states.
fn pipeline_state(report: &PipelineReport) -> &'static str {
    if report.error.is_some() && report.stages.is_empty() {
        return "not started";
    }
    let states: Vec<StageState> = report.stages.iter().map(|s| s.state).collect();
    if states.contains(&StageState::Failed) {
        "failed"
    } else if states.contains(&StageState::Retrying) {
        "retrying"
    } else if states.contains(&StageState::Starting) {
        "starting"
    } else if report.error.is_some() {
        "running (file has errors)"
    } else if states.iter().all(|s| *s == StageState::Stopped) {
        "stopped"
    } else {
        "running"
    }
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let (code, body) = get(&args.server, &format!("/api/pipelines/{}", args.name))?;
    anyhow::ensure!(code == 200, "{}", body.trim());
    if args.server.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let report: PipelineReport =
        serde_json::from_str(&body).context("the server's answer is not a pipeline")?;
    let mut out = std::io::stdout().lock();
    write_fields(
        &mut out,
        &[
            ("pipeline", report.name.clone()),
            ("file", report.file.clone()),
            ("state", pipeline_state(&report).into()),
        ],
    )?;
    if let Some(error) = &report.error {
        writeln!(out, "file error:\n{error}")?;
    }
    writeln!(out)?;
    let mut table = Table::new(&[
        ("STAGE", Align::Left),
        ("STATE", Align::Left),
        ("VERSION", Align::Left),
        ("IN", Align::Right),
        ("OUT", Align::Right),
        ("ERRORS", Align::Right),
        ("DEAD", Align::Right),
        ("LAG", Align::Right),
    ]);
    for stage in &report.stages {
        table.row(vec![
            stage.id.clone(),
            stage.state.name().into(),
            stage.version.clone(),
            count(stage.records_in as i64),
            count(stage.records_out as i64),
            count(stage.errors as i64),
            count(stage.dead_lettered as i64),
            stage.lag.map_or("-".into(), count),
        ]);
    }
    table.write(&mut out)?;
    for stage in &report.stages {
        if let Some(error) = &stage.last_error {
            writeln!(out, "\n{} last error: {}", stage.id, error.message)?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
