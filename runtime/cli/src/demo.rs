//! `sluice demo`: the pipelines of `pipelines/demo/` end to end, in a few
//! seconds, on a fresh broker.
//!
//! Starts the embedded broker on free loopback ports and the pipeline
//! engine on a directory holding `clicks.toml` only, writes generated click
//! events into the file its source follows, and prints once a second how
//! many records each stage has passed on. Halfway through it copies
//! `late-sink.toml` into that directory, as a user would: the engine's
//! watcher starts the new sink, which reads `clicks` from offset zero.
//! Once every sink has caught up it prints what the sink files hold (the
//! counts are lines in those files, not the engine's counters), then shuts
//! the engine and the broker down.
//!
//! Everything lives in one directory (`--data`, or a temp dir removed
//! afterwards): `broker/`, `state/`, `pipelines/` and `io/`, the directory
//! the pipelines are granted as `${env:SLUICE_DEMO_DIR}`. [`clicks`]
//! writes the events; [`sink_files`] reads what the sinks wrote.

mod clicks;
mod sink_files;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_pipeline::run::{Backbone, Engine, EngineConfig, PipelineReport, StageState};
use sluice_pipeline::{check_files, CheckOptions};
use sluice_wasm_host::WasmEngine;

use crate::table::count;
use clicks::{generate, Generated};
use sink_files::{Summary, ARCHIVE_FILE, CHECKOUTS_FILE};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where bundled connectors and plugins are (`cargo xtask demo` or
    /// `cargo xtask wasm` builds them).
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_COMPONENTS_DIR",
        default_value = "target/wasm"
    )]
    components: PathBuf,
    /// Where the demo's pipeline files are: `clicks.toml`, and
    /// `late-sink.toml`, added halfway through.
    #[arg(long, value_name = "DIR", default_value = "pipelines/demo")]
    pipelines: PathBuf,
    /// Click events to generate (over about four seconds).
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    events: u64,
    /// Keep the broker's data, the pipeline state and the event and sink
    /// files in DIR, which must be empty or absent (default: a temp dir,
    /// removed afterwards).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// The pipeline that runs from the start, and the one added halfway.
const FIRST_FILE: &str = "clicks.toml";
const LATE_FILE: &str = "late-sink.toml";
/// The components the two files use, as `NAME.wasm`.
const COMPONENTS: &[&str] = &["file-source", "file-sink", "mask", "filter"];
/// The environment variable the files' `files` grants name.
const IO_DIR_VAR: &str = "SLUICE_DEMO_DIR";
/// The file the source follows, in the io dir.
const EVENTS_FILE: &str = "clicks.jsonl";
/// How long the sinks may take to catch up once the events are written,
/// plus a second per this many events (for a large `--events`).
const CATCH_UP_MAX: Duration = Duration::from_secs(30);
const CATCH_UP_EVENTS_PER_S: u64 = 2_000;

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    let temp;
    let root = match &args.data {
        Some(dir) => {
            let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            anyhow::ensure!(
                empty,
                "--data {}: not empty; the demo starts from nothing, so name a new directory",
                dir.display()
            );
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("sluice-demo")
                .tempdir()
                .context("create a temp dir")?;
            temp.path().to_path_buf()
        }
    };
    let dirs = Dirs::create(&root)?;
    // The engine resolves `${env:NAME}` from the process environment. No
    // other thread exists yet (the async runtime and Wasm engine start
    // below), so no thread can be reading the environment while it changes.
    std::env::set_var(IO_DIR_VAR, &dirs.io);

    let wasm = crate::transform::engine()?;
    let (first, late) = check_pipelines(&args, &wasm)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-demo")
        .build()
        .context("start the async runtime")?;
    runtime.block_on(demo(&args, &dirs, Arc::new(wasm), &first, &late))?;
    if args.data.is_none() {
        println!("\n(the files above are in a temp dir, removed now; `--data DIR` keeps them)");
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo's directories, all under one root.
struct Dirs {
    broker: PathBuf,
    state: PathBuf,
    pipelines: PathBuf,
    /// Granted to the pipelines: the events file and the sinks' files.
    io: PathBuf,
}

impl Dirs {
    fn create(root: &Path) -> anyhow::Result<Dirs> {
        let dirs = Dirs {
            broker: root.join("broker"),
            state: root.join("state"),
            pipelines: root.join("pipelines"),
            io: root.join("io"),
        };
        for dir in [&dirs.broker, &dirs.state, &dirs.pipelines, &dirs.io] {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        // Absolute, so the `files` grants do not depend on the files' dir.
        let io = std::fs::canonicalize(&dirs.io)
            .with_context(|| format!("resolve {}", dirs.io.display()))?;
        Ok(Dirs { io, ..dirs })
    }
}

/// Fails with the next step when a component is missing or a pipeline
/// file does not check; returns the paths of the two files.
fn check_pipelines(args: &DemoArgs, wasm: &WasmEngine) -> anyhow::Result<(PathBuf, PathBuf)> {
    let missing: Vec<String> = COMPONENTS
        .iter()
        .map(|name| format!("{name}.wasm"))
        .filter(|file| !args.components.join(file).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks {}: build the components with `cargo xtask demo` (which then runs this \
             demo) or `cargo xtask wasm`, or point --components at them",
            args.components.display(),
            missing.join(", ")
        );
    }
    let files = [
        args.pipelines.join(FIRST_FILE),
        args.pipelines.join(LATE_FILE),
    ];
    for file in &files {
        anyhow::ensure!(
            file.is_file(),
            "no {}: run the demo from the repository's root, or pass --pipelines DIR",
            file.display()
        );
    }
    let options = CheckOptions {
        components_dir: args.components.clone(),
    };
    let diagnostics = check_files(&files, &options, wasm);
    if !diagnostics.is_empty() {
        let list: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        bail!(
            "the demo's pipeline files have errors:\n{}",
            list.join("\n")
        );
    }
    let [first, late] = files;
    Ok((first, late))
}

async fn demo(
    args: &DemoArgs,
    dirs: &Dirs,
    wasm: Arc<WasmEngine>,
    first: &Path,
    late: &Path,
) -> anyhow::Result<()> {
    let mut config = BrokerConfig::new(&dirs.broker);
    config.kafka_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = RunningBroker::start(config)
        .await
        .with_context(|| format!("start the broker with data in {}", dirs.broker.display()))?;
    println!(
        "broker     Kafka on {}, data in {}",
        broker.kafka_addr,
        dirs.broker.display()
    );
    let result = run_pipelines(args, dirs, wasm, &broker, first, late).await;
    broker
        .shutdown()
        .await
        .context("shut the broker down cleanly")?;
    result
}

async fn run_pipelines(
    args: &DemoArgs,
    dirs: &Dirs,
    wasm: Arc<WasmEngine>,
    broker: &RunningBroker,
    first: &Path,
    late: &Path,
) -> anyhow::Result<()> {
    let brokers = broker.kafka_addr.to_string();
    let backbone = Backbone::connect(&brokers)
        .await
        .with_context(|| format!("connect to the broker at {brokers}"))?;
    let engine = Arc::new(Engine::new(
        EngineConfig {
            pipelines_dir: dirs.pipelines.clone(),
            components_dir: args.components.clone(),
            state_dir: dirs.state.clone(),
        },
        Arc::new(backbone),
        wasm,
    ));
    copy_into(first, &dirs.pipelines)?;
    engine.reload().await;
    println!(
        "pipelines  {} (from {})",
        dirs.pipelines.display(),
        first.display()
    );
    println!("io dir     {} (${IO_DIR_VAR})", dirs.io.display());
    println!();
    let watcher =
        sluice_pipeline::run::watch::spawn(engine.clone()).context("watch the pipelines dir")?;
    let result = follow(args, dirs, &engine, late).await;
    watcher.abort();
    engine.shutdown().await;
    result?.print(&dirs.io)
}

/// Copies `file` into `dir` under its own name.
fn copy_into(file: &Path, dir: &Path) -> anyhow::Result<()> {
    let dest = dir.join(file.file_name().context("a pipeline file has a name")?);
    std::fs::copy(file, &dest)
        .with_context(|| format!("copy {} to {}", file.display(), dest.display()))?;
    Ok(())
}

/// Writes the events, adds the late sink halfway, prints a line a second
/// and returns once both sinks hold every record meant for them.
async fn follow(
    args: &DemoArgs,
    dirs: &Dirs,
    engine: &Engine,
    late: &Path,
) -> anyhow::Result<Summary> {
    let written = Arc::new(AtomicU64::new(0));
    let generator = {
        let path = dirs.io.join(EVENTS_FILE);
        let (events, written) = (args.events, written.clone());
        tokio::task::spawn_blocking(move || generate(&path, events, &written))
    };
    let started = Instant::now();
    let mut expected: Option<Generated> = None;
    let mut late_added_after: Option<u64> = None;
    let mut deadline = None;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut generator = Some(generator);
    loop {
        ticks.tick().await;
        let reports = engine.reports().await;
        check_health(&reports)?;
        let filtering = filtering_sinks(engine, &reports).await;
        let seconds = started.elapsed().as_secs();
        if seconds > 0 {
            println!("{seconds:>3}s  {}", live_line(&reports, &filtering));
        }
        let so_far = written.load(Ordering::Relaxed);
        if late_added_after.is_none() && so_far >= args.events / 2 {
            copy_into(late, &dirs.pipelines)?;
            late_added_after = Some(so_far);
            println!(
                "      + {LATE_FILE} copied into the pipelines dir after {} events: its sink \
                 starts at offset 0 of `clicks`",
                count(so_far as i64)
            );
        }
        if let Some(handle) = generator.take_if(|h| h.is_finished()) {
            let generated = handle.await.context("the event writer panicked")??;
            let extra_s = generated.events / CATCH_UP_EVENTS_PER_S;
            deadline = Some(Instant::now() + CATCH_UP_MAX + Duration::from_secs(extra_s));
            expected = Some(generated);
        }
        let (Some(expected), Some(added_after)) = (&expected, late_added_after) else {
            continue;
        };
        let io = dirs.io.clone();
        let seen = tokio::task::spawn_blocking(move || Summary::read(&io))
            .await
            .context("reading the sink files panicked")??;
        if seen.archive.lines >= expected.events
            && seen.checkouts.lines >= expected.checkouts
            && sinks_caught_up(&reports)
        {
            println!(
                "{:>3}s  caught up: every sink's lag is 0",
                started.elapsed().as_secs()
            );
            return Ok(Summary {
                expected: *expected,
                late_added_after: added_after,
                ..seen
            });
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            bail!(
                "the sinks did not catch up: {} holds {} of {} records, {} holds {} of {}; \
                 stages: {}",
                ARCHIVE_FILE,
                seen.archive.lines,
                expected.events,
                CHECKOUTS_FILE,
                seen.checkouts.lines,
                expected.checkouts,
                live_line(&reports, &filtering)
            );
        }
    }
}

/// Fails on a pipeline that did not start or a stage that stopped.
fn check_health(reports: &[PipelineReport]) -> anyhow::Result<()> {
    match reports.iter().find_map(PipelineReport::failure) {
        Some(failure) => bail!("{failure}"),
        None => Ok(()),
    }
}

/// The ids (`pipeline/sink:name`) of the sinks with inline transforms,
/// which may write fewer records than they read.
async fn filtering_sinks(engine: &Engine, reports: &[PipelineReport]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for report in reports {
        for sink in engine
            .plan(&report.name)
            .await
            .into_iter()
            .flat_map(|p| p.sinks)
        {
            if !sink.transforms.is_empty() {
                ids.insert(format!("{}/{}", report.name, sink.stage.id));
            }
        }
    }
    ids
}

/// `source 6,000 → mask 5,800 → archive 5,500 (lag 300)` per pipeline,
/// stages in flow order: sources, transforms, sinks. A sink in `filtering`
/// also shows how many records it read.
fn live_line(reports: &[PipelineReport], filtering: &BTreeSet<String>) -> String {
    let pipelines: Vec<String> = reports
        .iter()
        .map(|report| {
            let mut stages: Vec<_> = report.stages.iter().collect();
            stages.sort_by_key(|s| (flow_rank(&s.id), s.id.clone()));
            let parts: Vec<String> = stages
                .iter()
                .map(|stage| {
                    let name = stage.id.split_once(':').map_or(&*stage.id, |(_, n)| n);
                    let mut part = format!("{name} {}", count(stage.records_out as i64));
                    let filtered = filtering.contains(&format!("{}/{}", report.name, stage.id));
                    match (filtered, stage.lag) {
                        (true, Some(lag)) => part.push_str(&format!(
                            " of {} read (lag {})",
                            count(stage.records_in as i64),
                            count(lag)
                        )),
                        (false, Some(lag)) if stage.id.starts_with("sink:") => {
                            part.push_str(&format!(" (lag {})", count(lag)));
                        }
                        _ => {}
                    }
                    if stage.state != StageState::Running {
                        part.push_str(&format!(" [{}]", stage.state.name()));
                    }
                    part
                })
                .collect();
            parts.join(" → ")
        })
        .collect();
    pipelines.join("  |  ")
}

fn flow_rank(id: &str) -> u8 {
    match id.split_once(':').map(|(kind, _)| kind) {
        Some("source") => 0,
        Some("transform") => 1,
        _ => 2,
    }
}

/// Both pipelines run, and every transform and sink has read to the end
/// of its topic.
fn sinks_caught_up(reports: &[PipelineReport]) -> bool {
    let late_runs = reports
        .iter()
        .any(|r| r.file.ends_with(LATE_FILE) && !r.stages.is_empty());
    late_runs
        && reports
            .iter()
            .flat_map(|r| &r.stages)
            .filter(|s| !s.id.starts_with("source:"))
            .all(|s| s.state == StageState::Running && s.lag == Some(0))
}

#[cfg(test)]
mod tests {
    use sluice_pipeline::run::StageReport;

    use super::*;

    fn stage(id: &str, records_in: u64, records_out: u64, lag: Option<i64>) -> StageReport {
        StageReport {
            id: id.into(),
            component: String::new(),
            version: String::new(),
            state: StageState::Running,
            records_in,
            records_out,
            errors: 0,
            dead_lettered: 0,
            lag,
            last_error: None,
        }
    }

    fn pipeline(name: &str, stages: Vec<StageReport>) -> PipelineReport {
        PipelineReport {
            name: name.into(),
            file: format!("/p/{name}.toml"),
            error: None,
            stages,
        }
    }

    #[test]
    fn live_line_lists_stages_in_flow_order() {
        // The engine reports stages sorted by id: sink, source, transform.
        let reports = [
            pipeline(
                "clicks",
                vec![
                    // Mid-batch: read, not yet written.
                    stage("sink:archive", 5_600, 5_500, Some(300)),
                    stage("source:click-log", 0, 6_000, None),
                    stage("transform:mask", 5_800, 5_800, Some(200)),
                ],
            ),
            pipeline(
                "late-sink",
                vec![stage("sink:checkouts", 4_000, 400, Some(1_800))],
            ),
        ];
        let filtering = BTreeSet::from(["late-sink/sink:checkouts".to_string()]);
        assert_eq!(
            live_line(&reports, &filtering),
            "click-log 6,000 → mask 5,800 → archive 5,500 (lag 300)  |  \
             checkouts 400 of 4,000 read (lag 1,800)"
        );
    }

    #[test]
    fn caught_up_needs_the_late_sink_and_no_lag() {
        let first = pipeline("clicks", vec![stage("sink:archive", 10, 10, Some(0))]);
        assert!(
            !sinks_caught_up(std::slice::from_ref(&first)),
            "late sink not running yet"
        );
        let late = pipeline("late-sink", vec![stage("sink:checkouts", 10, 1, Some(0))]);
        assert!(sinks_caught_up(&[first.clone(), late]));
        let behind = pipeline("late-sink", vec![stage("sink:checkouts", 5, 1, Some(5))]);
        assert!(!sinks_caught_up(&[first.clone(), behind]));
        let not_polled = pipeline("late-sink", vec![stage("sink:checkouts", 0, 0, None)]);
        assert!(!sinks_caught_up(&[first, not_polled]));
    }
}
