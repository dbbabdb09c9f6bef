//! `sluice bench pipeline`: records through a whole pipeline on the
//! embedded broker, file to file, next to a plain file copy.
//!
//! Before any clock starts, N lines of S-byte JSON objects
//! `{"id":N,"pad":"xxx…"}` are written to `input.jsonl` (and synced). Then
//! the same input goes three ways, each into a fresh output file:
//!
//! - raw file copy: one thread reads the input line by line and appends,
//!   per line, the JSON line the file sink writes for a record
//!   (`{"key":null,"value":<line>,"headers":{},"timestamp":…,"topic":"t",
//!   "partition":0,"offset":i}`), then fdatasyncs once; best of three
//!   runs. Any file-to-file pipeline does at least this, so it is the
//!   limit the other two are compared with.
//! - file → topic → file: `file-source.wasm` appends the lines to a topic
//!   of 4 partitions, `file-sink.wasm` writes them out.
//! - with a transform: the source appends to `raw`, the transform
//!   `passthrough.wasm` copies `raw` to `clean`, the sink reads `clean`.
//!
//! Each pipeline gets a fresh broker (in-process, loopback ports, default
//! fsync `batch`) and a fresh engine. Its clock runs from
//! [`Engine::reload`], which starts the stages, until the sink's stage
//! reports N records out; the sink counts records only after its flush,
//! and the file sink's flush syncs its file, so at that point every line
//! is on disk. Afterwards the output file's lines are counted, so a bench
//! that lost or duplicated records fails instead of printing a figure.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_pipeline::run::{Backbone, Engine, EngineConfig, PipelineReport};
use sluice_wasm_host::WasmEngine;

use super::disk::{run_dir, PROBE_RUNS};

/// The standard cases: 1,000,000 × 100 B and 200,000 × 1 KiB.
const DEFAULT_CASES: [(u64, usize); 2] = [(1_000_000, 100), (200_000, 1024)];
/// The components the pipelines run, as `NAME.wasm`.
const COMPONENTS: [&str; 3] = ["file-source", "file-sink", "passthrough"];
/// Partitions of every topic the pipelines declare.
const PARTITIONS: u32 = 4;
/// The file the source reads, in the granted directory.
const INPUT_FILE: &str = "input.jsonl";
/// How often the sink's counter is read while a pipeline runs.
const REPORT_INTERVAL: Duration = Duration::from_millis(20);
/// A pipeline whose sink writes nothing for this long has stalled.
const STALL_MAX: Duration = Duration::from_secs(60);
/// Buffer of the raw copy's reader and writer: syscalls stay negligible.
const COPY_BUFFER_BYTES: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct PipelineBenchArgs {
    /// Number of records (input lines) to pass through.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Size of each input line, in bytes: at least that of
    /// `{"id":N,"pad":""}` for the largest id (22 for 1,000,000 records).
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Directory holding file-source.wasm, file-sink.wasm and
    /// passthrough.wasm, as built by `cargo xtask wasm`.
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_COMPONENTS_DIR",
        default_value = "target/wasm"
    )]
    components: PathBuf,
}

pub fn run(args: PipelineBenchArgs) -> anyhow::Result<ExitCode> {
    let cases: Vec<(u64, usize)> = match (args.records, args.size) {
        (None, None) => DEFAULT_CASES.to_vec(),
        (records, size) => vec![(records.unwrap_or(1_000_000), size.unwrap_or(100))],
    };
    let missing: Vec<String> = COMPONENTS
        .iter()
        .map(|name| format!("{name}.wasm"))
        .filter(|file| !args.components.join(file).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lacks {}: build the components with `cargo xtask wasm`, or point --components at them",
            args.components.display(),
            missing.join(", ")
        );
    }
    // Absolute, so the engine finds the components whatever its dirs.
    let components = std::fs::canonicalize(&args.components)
        .with_context(|| format!("resolve {}", args.components.display()))?;
    let wasm = Arc::new(crate::transform::engine()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-bench")
        .build()
        .context("start the async runtime")?;
    for (records, size) in cases {
        run_case(&runtime, &components, &wasm, records, size)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The two pipelines measured.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// file source → topic → file sink.
    Direct,
    /// file source → `raw` → passthrough → `clean` → file sink.
    Transformed,
}

impl Shape {
    /// The pipeline's name: its file, dirs and output file are named so.
    fn name(self) -> &'static str {
        match self {
            Shape::Direct => "direct",
            Shape::Transformed => "transformed",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Shape::Direct => "file → topic → file",
            Shape::Transformed => "with a transform",
        }
    }

    fn output_file(self) -> String {
        format!("{}.jsonl", self.name())
    }

    /// The pipeline file; `io` is the directory granted to both
    /// connectors, holding the input and the output file.
    fn pipeline_toml(self, io: &Path) -> anyhow::Result<String> {
        let io = io
            .to_str()
            .with_context(|| format!("{} is not UTF-8", io.display()))?;
        // A JSON string is a valid TOML basic string.
        let grants = format!("grants = {{ files = {} }}", serde_json::to_string(io)?);
        let (topics, sink_from, transform) = match self {
            Shape::Direct => (&["records"][..], "records", String::new()),
            Shape::Transformed => (
                &["raw", "clean"][..],
                "clean",
                "[transforms.passthrough]\nfrom = \"raw\"\nto = \"clean\"\nplugin = \"passthrough\"\n\n"
                    .to_string(),
            ),
        };
        let mut toml = String::new();
        for topic in topics {
            toml.push_str(&format!("[topics.{topic}]\npartitions = {PARTITIONS}\n\n"));
        }
        toml.push_str(&format!(
            "[sources.input]\nconnector = \"file\"\ntopic = \"{}\"\n\
             config = {{ path = \"{INPUT_FILE}\", format = \"lines\" }}\n{grants}\n\n",
            topics[0]
        ));
        toml.push_str(&transform);
        toml.push_str(&format!(
            "[sinks.output]\nconnector = \"file\"\nfrom = \"{sink_from}\"\n\
             config = {{ path = \"{}\" }}\n{grants}\n",
            self.output_file()
        ));
        Ok(toml)
    }
}

fn run_case(
    runtime: &tokio::runtime::Runtime,
    components: &Path,
    wasm: &Arc<WasmEngine>,
    records: u64,
    size: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(records > 0, "--records must be at least 1");
    let (_temp, run_dir) = run_dir(None, "sluice-bench-pipeline")?;
    let io = run_dir.path().join("io");
    std::fs::create_dir_all(&io).with_context(|| format!("create {}", io.display()))?;
    let io = std::fs::canonicalize(&io).with_context(|| format!("resolve {}", io.display()))?;
    let input = io.join(INPUT_FILE);
    let input_bytes = write_input(&input, records, size)?;

    // Best of a few runs, as with the disk probes: the limit is what
    // this machine *can* do, which keeps the reported ratios conservative.
    let raw_output = io.join("raw-copy.jsonl");
    let mut raw: Option<RawCopy> = None;
    for _ in 0..PROBE_RUNS {
        let copy = raw_copy(&input, &raw_output)?;
        anyhow::ensure!(
            copy.lines == records,
            "raw file copy: copied {} of {records} lines",
            copy.lines
        );
        remove(&raw_output)?;
        if raw.as_ref().is_none_or(|best| copy.seconds < best.seconds) {
            raw = Some(copy);
        }
    }
    let raw = raw.expect("PROBE_RUNS is at least 1");

    let measure = |shape: Shape| -> anyhow::Result<f64> {
        let dir = run_dir.path().join(shape.name());
        let seconds = runtime.block_on(run_pipeline(
            components,
            wasm.clone(),
            &dir,
            &io,
            shape,
            records,
        ))?;
        let output = io.join(shape.output_file());
        let lines = count_lines(&output)?;
        anyhow::ensure!(
            lines == records,
            "{}: {} holds {lines} lines, expected {records}",
            shape.label(),
            output.display()
        );
        // Frees the disk for the next pipeline; the figure is kept.
        remove(&output)?;
        std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        Ok(seconds)
    };
    let direct = measure(Shape::Direct)?;
    let transformed = measure(Shape::Transformed)?;

    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    eprintln!(
        "  {records} records × {size} B JSON lines ({:.1} MB), in {}",
        input_bytes as f64 / 1e6,
        run_dir.path().display()
    );
    eprintln!(
        "  raw file copy        {:.2} s, best of {PROBE_RUNS}: one thread reads each line and appends the file sink's JSON line for it ({:.1} MB out), one fdatasync at the end",
        raw.seconds,
        raw.bytes as f64 / 1e6
    );
    eprintln!(
        "  file → topic → file  {direct:.2} s: file-source (format lines) → topic of {PARTITIONS} partitions (fsync batch) → file-sink (a sync per flush)"
    );
    eprintln!(
        "  with a transform     {transformed:.2} s: the same through passthrough.wasm, topic raw → topic clean; broker, engine and guests share {cpus} CPUs"
    );
    let rate = |seconds: f64| records as f64 / seconds;
    let payload_bytes = records * size as u64;
    println!(
        "bench pipeline: file → topic → file {:.0} rec/s {:.1} MB/s ({:.3} of raw copy), with a transform {:.0} rec/s ({:.3} of raw copy), raw file copy {:.0} rec/s",
        rate(direct),
        payload_bytes as f64 / direct / 1e6,
        raw.seconds / direct,
        rate(transformed),
        raw.seconds / transformed,
        rate(raw.seconds),
    );
    Ok(())
}

/// Writes `records` lines of exactly `size` bytes (plus `\n`) to `path`
/// and syncs them, so their writeback does not run into a measurement.
/// Returns the file's size.
fn write_input(path: &Path, records: u64, size: usize) -> anyhow::Result<u64> {
    let file = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut writer = BufWriter::with_capacity(COPY_BUFFER_BYTES, file);
    let mut line = Vec::with_capacity(size + 1);
    for id in 0..records {
        line.clear();
        let head = format!("{{\"id\":{id},\"pad\":\"");
        let tail = "\"}";
        let pad = size.checked_sub(head.len() + tail.len()).with_context(|| {
            format!(
                "--size {size} is too small for record {id}'s JSON line (at least {} bytes)",
                head.len() + tail.len()
            )
        })?;
        line.extend_from_slice(head.as_bytes());
        line.resize(head.len() + pad, b'x');
        line.extend_from_slice(tail.as_bytes());
        line.push(b'\n');
        writer
            .write_all(&line)
            .with_context(|| format!("write {}", path.display()))?;
    }
    let file = writer
        .into_inner()
        .with_context(|| format!("write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("fsync {}", path.display()))?;
    Ok(records * (size as u64 + 1))
}

/// The raw file copy, timed.
struct RawCopy {
    seconds: f64,
    lines: u64,
    /// Bytes written to the output.
    bytes: u64,
}

/// Copies `input` to `output` as the file sink would write its lines,
/// without a broker: see the module doc.
fn raw_copy(input: &Path, output: &Path) -> anyhow::Result<RawCopy> {
    let started = Instant::now();
    let file = File::open(input).with_context(|| format!("open {}", input.display()))?;
    let mut reader = BufReader::with_capacity(COPY_BUFFER_BYTES, file);
    let file = File::create(output).with_context(|| format!("create {}", output.display()))?;
    let mut writer = BufWriter::with_capacity(COPY_BUFFER_BYTES, file);
    let mut line = Vec::new();
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut out = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("read {}", input.display()))?;
        if read == 0 {
            break;
        }
        let value = line.strip_suffix(b"\n").unwrap_or(&line);
        out.clear();
        out.extend_from_slice(b"{\"key\":null,\"value\":");
        out.extend_from_slice(value);
        writeln!(
            out,
            ",\"headers\":{{}},\"timestamp\":{},\"topic\":\"t\",\"partition\":0,\"offset\":{lines}}}",
            now_ms()
        )
        .expect("writing to a Vec cannot fail");
        writer
            .write_all(&out)
            .with_context(|| format!("write {}", output.display()))?;
        bytes += out.len() as u64;
        lines += 1;
    }
    let file = writer
        .into_inner()
        .with_context(|| format!("write {}", output.display()))?;
    file.sync_data()
        .with_context(|| format!("fdatasync {}", output.display()))?;
    Ok(RawCopy {
        seconds: started.elapsed().as_secs_f64(),
        lines,
        bytes,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs one pipeline on a fresh broker with its data in `dir`; returns
/// the seconds from `reload` until the sink reported every record out.
async fn run_pipeline(
    components: &Path,
    wasm: Arc<WasmEngine>,
    dir: &Path,
    io: &Path,
    shape: Shape,
    records: u64,
) -> anyhow::Result<f64> {
    let broker_dir = dir.join("broker");
    let state_dir = dir.join("state");
    let pipelines_dir = dir.join("pipelines");
    for dir in [&broker_dir, &state_dir, &pipelines_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let file = pipelines_dir.join(format!("{}.toml", shape.name()));
    std::fs::write(&file, shape.pipeline_toml(io)?)
        .with_context(|| format!("write {}", file.display()))?;

    let mut config = BrokerConfig::new(&broker_dir);
    config.kafka_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = RunningBroker::start(config)
        .await
        .with_context(|| format!("start the broker with data in {}", broker_dir.display()))?;
    let brokers = broker.kafka_addr.to_string();
    let result = match Backbone::connect(&brokers).await {
        Ok(backbone) => {
            let engine = Engine::new(
                EngineConfig {
                    pipelines_dir,
                    components_dir: components.to_path_buf(),
                    state_dir,
                },
                Arc::new(backbone),
                wasm,
            );
            let started = Instant::now();
            engine.reload().await;
            let waited = wait_for_sink(&engine, shape, records).await;
            let seconds = started.elapsed().as_secs_f64();
            engine.shutdown().await;
            waited.map(|()| seconds)
        }
        Err(error) => {
            Err(anyhow::Error::new(error).context(format!("connect to the broker at {brokers}")))
        }
    };
    broker
        .shutdown()
        .await
        .context("shut the benchmark broker down")?;
    result
}

/// Polls the engine's reports until the sink has written `records`
/// records; fails on a stage that failed or a sink that stalled.
async fn wait_for_sink(engine: &Engine, shape: Shape, records: u64) -> anyhow::Result<()> {
    let progress = ProgressBar::new(records);
    progress.set_style(
        ProgressStyle::with_template(
            "  {prefix:20} {bar:40} {human_pos}/{human_len} records {per_sec}",
        )
        .expect("valid template"),
    );
    progress.set_prefix(shape.label());
    let mut written = 0;
    let mut last_progress = Instant::now();
    let result = loop {
        let reports = engine.reports().await;
        if let Err(error) = check_health(&reports) {
            break Err(error);
        }
        let out = reports
            .iter()
            .flat_map(|r| &r.stages)
            .find(|s| s.id == "sink:output")
            .map_or(0, |s| s.records_out);
        if out >= records {
            break Ok(());
        }
        if out > written {
            written = out;
            last_progress = Instant::now();
            progress.set_position(out);
        }
        if last_progress.elapsed() > STALL_MAX {
            break Err(anyhow::anyhow!(
                "{}: the sink wrote {written} of {records} records, then nothing for {} s; stages: {}",
                shape.label(),
                STALL_MAX.as_secs(),
                stage_counts(&reports)
            ));
        }
        tokio::time::sleep(REPORT_INTERVAL).await;
    };
    progress.finish_and_clear();
    result
}

/// Fails on a pipeline that did not start or a stage that stopped.
fn check_health(reports: &[PipelineReport]) -> anyhow::Result<()> {
    match reports.iter().find_map(PipelineReport::failure) {
        Some(failure) => bail!("{failure}"),
        None => Ok(()),
    }
}

/// `source:input 0 in 1000 out, sink:output 800 in 800 out (lag 200)`.
fn stage_counts(reports: &[PipelineReport]) -> String {
    let stages: Vec<String> = reports
        .iter()
        .flat_map(|r| &r.stages)
        .map(|s| {
            let lag = s.lag.map_or(String::new(), |lag| format!(" (lag {lag})"));
            format!(
                "{} {} in {} out{lag} [{}]",
                s.id,
                s.records_in,
                s.records_out,
                s.state.name()
            )
        })
        .collect();
    stages.join(", ")
}

/// Lines (`\n` bytes) in the file at `path`.
fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut lines = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .with_context(|| format!("read {}", path.display()))?;
        if read == 0 {
            return Ok(lines);
        }
        lines += buffer[..read].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

fn remove(path: &Path) -> anyhow::Result<()> {
    std::fs::remove_file(path).with_context(|| format!("remove {}", path.display()))
}
