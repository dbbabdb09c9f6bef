//! `sluice replay PIPELINE SINK --from … [--to …]`: runs one sink of a
//! pipeline again over a range of its topic, to backfill a new store or
//! repair a broken one, without moving the running sink's offsets.
//!
//! The pipeline file is found by name in `--pipelines DIR` and checked
//! with the rest of the directory first; a file with errors is not
//! replayed. Progress (records, MB/s, ETA) goes to stderr when it is a
//! terminal; the summary line always goes to stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_pipeline::run::replay::{
    replay, ReplayFrom, ReplayJob, ReplayProgress, ReplayRange, ReplayTo,
};
use sluice_pipeline::run::Backbone;
use sluice_pipeline::{check_files, load, plan, CheckOptions, PipelineFile};

use crate::client::{block_on, explain, BrokerArgs};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sluice replay orders search --from earliest
  sluice replay orders search --from 5000 --to 6000
  sluice replay orders search --from @2026-11-23T10:00:00Z --to @2026-11-23T11:00:00Z")]
pub struct ReplayArgs {
    /// The pipeline: its `name`, or its file's name without `.toml`.
    pipeline: String,
    /// The sink to run again: its name under `[sinks]`.
    sink: String,
    /// Where to start in every partition: `earliest`, an offset, or
    /// `@TIMESTAMP` (milliseconds since the epoch, or RFC 3339).
    #[arg(long, value_name = "earliest|OFFSET|@TIMESTAMP", value_parser = parse_from)]
    from: ReplayFrom,
    /// Where to stop in every partition (exclusive): an offset, or
    /// `@TIMESTAMP` (records older than it). Default: the end of every
    /// partition when the replay starts.
    #[arg(long, value_name = "OFFSET|@TIMESTAMP", value_parser = parse_to)]
    to: Option<ReplayTo>,
    /// Where the pipeline files (`*.toml`) are.
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_PIPELINES",
        default_value = "pipelines"
    )]
    pipelines: PathBuf,
    /// Where bundled connectors and plugins are (`NAME.wasm`,
    /// `NAME-source.wasm`, `NAME-sink.wasm`).
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_COMPONENTS_DIR",
        default_value = "target/wasm"
    )]
    components: PathBuf,
    #[command(flatten)]
    brokers: BrokerArgs,
    /// The data directory of `sluice serve`: `state` stores are under
    /// DIR/pipelines.
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_DATA",
        default_value = "./sluice-data"
    )]
    data: PathBuf,
}

fn parse_from(text: &str) -> Result<ReplayFrom, String> {
    ReplayFrom::parse(text).ok_or_else(|| {
        "expected `earliest`, an offset (0 or more), or @TIMESTAMP (milliseconds since the \
         epoch, or RFC 3339 such as @2026-11-23T10:00:00Z)"
            .into()
    })
}

fn parse_to(text: &str) -> Result<ReplayTo, String> {
    ReplayTo::parse(text).ok_or_else(|| {
        "expected an offset (0 or more), or @TIMESTAMP (milliseconds since the epoch, or \
         RFC 3339 such as @2026-11-23T10:00:00Z)"
            .into()
    })
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let range = ReplayRange::new(args.from, args.to).context("--from/--to")?;
    let files = pipeline_files(&args.pipelines)?;
    let wasm = crate::transform::engine()?;
    let Some(file) = find(&files, &args.pipeline)? else {
        let names: Vec<String> = files
            .iter()
            .map(|path| match load(path) {
                Ok(file) => file.name(),
                Err(_) => stem(path),
            })
            .collect();
        anyhow::bail!(
            "no pipeline named {:?} in {} (its pipelines: {}); set --pipelines or SLUICE_PIPELINES",
            args.pipeline,
            args.pipelines.display(),
            list(&names)
        );
    };
    let options = CheckOptions {
        components_dir: args.components.clone(),
    };
    let problems: Vec<_> = check_files(&files, &options, &wasm)
        .into_iter()
        .filter(|d| d.file == file.path)
        .collect();
    if !problems.is_empty() {
        for diagnostic in &problems {
            eprintln!("{diagnostic}");
        }
        eprintln!(
            "{} problem(s) in {}; fix them before replaying (see `sluice pipeline check`)",
            problems.len(),
            file.path.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let plan = plan::plan(&file, &args.components, &|name| std::env::var(name).ok())
        .map_err(|error| anyhow::anyhow!("{}: {error}", file.path.display()))?;
    let Some(sink) = plan
        .sinks
        .iter()
        .find(|s| s.stage.name == args.sink)
        .cloned()
    else {
        let names: Vec<String> = plan.sinks.iter().map(|s| s.stage.name.clone()).collect();
        anyhow::bail!(
            "pipeline {} has no sink named {:?} (its sinks: {})",
            plan.name,
            args.sink,
            list(&names)
        );
    };

    let bar = progress_bar();
    let summary = block_on(async {
        let backbone = Backbone::connect(&args.brokers.brokers)
            .await
            .map_err(explain)?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        // Ctrl-C stops after the poll being delivered (flushed), so what
        // was written is complete.
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = stop.send(true);
            }
        });
        let job = ReplayJob {
            pipeline: plan.name.clone(),
            sink,
            backbone: Arc::new(backbone),
            wasm: Arc::new(wasm),
            state_dir: args.data.join("pipelines"),
            range,
            stop: stop_rx,
            secrets: plan.secrets.clone(),
        };
        let bar = bar.clone();
        // The first report comes before anything is read: the rate counts
        // from there, not from checking and compiling.
        let mut reading_since = None;
        let mut progress = move |report: &ReplayProgress| {
            let since = *reading_since.get_or_insert_with(Instant::now);
            bar.set_length(report.records_total);
            bar.set_position(report.records_read);
            let seconds = since.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{:.1} MB/s",
                report.bytes_read as f64 / seconds / 1e6
            ));
        };
        replay(job, &mut progress)
            .await
            .with_context(|| format!("replaying sink {} of pipeline {}", args.sink, plan.name))
    });
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "replayed {} records ({} written, {} dead-lettered) from {} in {:.1} s",
        summary.records_read,
        summary.records_written,
        summary.dead_lettered,
        summary.topic,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The pipeline file named `name`: its `name` key, else its stem.
fn find(files: &[PathBuf], name: &str) -> anyhow::Result<Option<PipelineFile>> {
    for path in files {
        match load(path) {
            Ok(file) if file.name() == name => return Ok(Some(file)),
            Ok(_) => {}
            // A file that does not load is found by its stem; its
            // diagnostic is printed with the check's.
            Err(diagnostic) if stem(path) == name => anyhow::bail!("{diagnostic}"),
            Err(_) => {}
        }
    }
    Ok(None)
}

/// `*.toml` files of `dir`, sorted.
fn pipeline_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the pipeline directory {} (set --pipelines or SLUICE_PIPELINES)",
            dir.display()
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Records done of the range, MB/s and ETA; drawn on stderr only when it
/// is a terminal.
fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "  replaying {bar:40} {human_pos}/{human_len} records  {msg}  ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
