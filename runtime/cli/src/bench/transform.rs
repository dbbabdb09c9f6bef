//! `sluice bench transform`: what a Wasm transform stage costs next to the
//! same stage without Wasm, partition to partition on the embedded log.
//!
//! A fresh partition (fsync never, in a temp dir) is filled, before any
//! clock starts, with N records of S-byte JSON values
//! `{"id":N,"keep":true|false,"pad":"xxx…"}` (`keep` true for even ids) in
//! batches of 1,000. Then it is copied to a fresh partition three ways,
//! each timed from the first read to the last acknowledged append:
//!
//! - `none`: read a stored batch, decode its records, encode them into a
//!   new batch, append. A transform stage has to decode records to hand
//!   them to a guest and encode what comes back, so this, not appending
//!   the stored bytes as they are, is the baseline: the difference to the
//!   next two is the Wasm call alone.
//! - `passthrough`: the same, with each decoded batch going through
//!   `passthrough.wasm` (the identity guest) in one call.
//! - `filter`: through `filter.wasm` with
//!   `{"field":"keep","op":"eq","value":true}`, which keeps every other
//!   record. Its rate counts input records.
//!
//! Appends are queued without waiting for each acknowledgement, as a
//! stage's sink would queue them; the log's writer thread acknowledges
//! them in order, so the last one's acknowledgement ends the clock. Every
//! copy's record count is checked (all records, or exactly the kept ones),
//! so a bench that lost records fails instead of printing a figure.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_batch::{decode_records, encode_batch, BatchBuilder, BatchOptions, Batches};
use sluice_storage::{FsyncPolicy, LogConfig, Partition};
use sluice_types::{Offset, Record, Timestamp};
use sluice_wasm_host::{Grants, StageLimits, TransformComponent, TransformInstance};

use super::disk::run_dir;

const RECORDS_PER_BATCH: u64 = 1_000;
/// Bytes per read call: a handful of stored batches.
const READ_BYTES: usize = 1 << 20;
/// The standard cases: 2,000,000 × 100 B and 500,000 × 1 KiB.
const DEFAULT_CASES: [(u64, usize); 2] = [(2_000_000, 100), (500_000, 1024)];
/// Keeps the records whose `keep` field is true: every even id.
const FILTER_CONFIG: &str = r#"{"field":"keep","op":"eq","value":true}"#;

#[derive(Debug, Args)]
pub struct TransformBenchArgs {
    /// Number of records to copy.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Value size of each record, in bytes (at least 40).
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Directory holding passthrough.wasm and filter.wasm, as built by
    /// `cargo xtask wasm`.
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_WASM_DIR",
        default_value = "target/wasm"
    )]
    wasm_dir: PathBuf,
}

/// The two guests, loaded once for every case.
struct Guests {
    passthrough: Arc<TransformComponent>,
    filter: Arc<TransformComponent>,
}

pub fn run(args: TransformBenchArgs) -> anyhow::Result<ExitCode> {
    let cases: Vec<(u64, usize)> = match (args.records, args.size) {
        (None, None) => DEFAULT_CASES.to_vec(),
        (records, size) => vec![(records.unwrap_or(2_000_000), size.unwrap_or(100))],
    };
    let engine = crate::transform::engine()?;
    let load = |name: &str| {
        let path = args.wasm_dir.join(format!("{name}.wasm"));
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: build the guests with `cargo xtask wasm` (or pass --wasm-dir)",
            path.display()
        );
        Ok(engine.load_transform(&path)?)
    };
    let guests = Guests {
        passthrough: load("passthrough")?,
        filter: load("filter")?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    for (records, size) in cases {
        run_case(&runtime, &guests, records, size)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_case(
    runtime: &tokio::runtime::Runtime,
    guests: &Guests,
    records: u64,
    size: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(records > 0, "--records must be at least 1");
    let (_temp, run_dir) = run_dir(None, "sluice-bench-transform")?;
    let input = open(run_dir.path(), "input-0")?;
    let progress = progress_bar(records, "fill");
    fill(&input, records, size, &progress)?;
    progress.finish_and_clear();

    let none = copy(&input, run_dir.path(), "none", None)?;
    let mut passthrough = instance(runtime, &guests.passthrough, "{}")?;
    let passthrough = copy(
        &input,
        run_dir.path(),
        "passthrough",
        Some((runtime, &mut passthrough)),
    )?;
    let mut filter = instance(runtime, &guests.filter, FILTER_CONFIG)?;
    let filter = copy(
        &input,
        run_dir.path(),
        "filter",
        Some((runtime, &mut filter)),
    )?;
    input.close().context("close the input partition")?;

    let kept = records.div_ceil(2);
    for (copied, expected) in [(&none, records), (&passthrough, records), (&filter, kept)] {
        anyhow::ensure!(
            copied.read == records && copied.appended == expected,
            "{}: read {} of {records} records and appended {} (expected {expected})",
            copied.mode,
            copied.read,
            copied.appended
        );
    }

    let rate = |copied: &Copied| records as f64 / copied.seconds;
    eprintln!(
        "  {records} records × {size} B JSON values, batches of {RECORDS_PER_BATCH}, fsync never, in {}",
        run_dir.path().display()
    );
    for copied in [&none, &passthrough, &filter] {
        eprintln!(
            "  {:11} {:.2} s, {:.1} MB/s of values in, {} records out",
            copied.mode,
            copied.seconds,
            (records * size as u64) as f64 / copied.seconds / 1e6,
            copied.appended,
        );
    }
    println!(
        "bench transform: none {:.0} rec/s, passthrough {:.0} rec/s ({:.2} of none), filter {:.0} rec/s",
        rate(&none),
        rate(&passthrough),
        rate(&passthrough) / rate(&none),
        rate(&filter),
    );
    Ok(())
}

fn open(dir: &Path, name: &str) -> anyhow::Result<Partition> {
    let config = LogConfig {
        fsync: FsyncPolicy::Never,
        ..LogConfig::default()
    };
    Partition::open(&dir.join(name), name, config).with_context(|| format!("open partition {name}"))
}

fn instance(
    runtime: &tokio::runtime::Runtime,
    component: &Arc<TransformComponent>,
    config: &str,
) -> anyhow::Result<TransformInstance> {
    let stage = format!("bench-{}", component.name());
    let mut instance = TransformInstance::new(
        component.clone(),
        &stage,
        StageLimits::default(),
        Grants::default(),
    );
    runtime.block_on(instance.init(config))?;
    Ok(instance)
}

fn progress_bar(total: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "  {prefix:11} {bar:40} {human_pos}/{human_len} records {per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(label.to_owned());
    bar
}

/// The value of record `id`: a JSON object of exactly `size` bytes.
fn value(id: u64, size: usize) -> anyhow::Result<Vec<u8>> {
    let head = format!("{{\"id\":{id},\"keep\":{},\"pad\":\"", id % 2 == 0);
    let tail = "\"}";
    let pad = size.checked_sub(head.len() + tail.len()).with_context(|| {
        format!(
            "--size {size} is too small for a record's JSON value (at least {} bytes)",
            head.len() + tail.len()
        )
    })?;
    let mut value = Vec::with_capacity(size);
    value.extend_from_slice(head.as_bytes());
    value.resize(head.len() + pad, b'x');
    value.extend_from_slice(tail.as_bytes());
    Ok(value)
}

/// Appends `records` records to `log`, untimed.
fn fill(log: &Partition, records: u64, size: usize, progress: &ProgressBar) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let mut appender = Appender::new(log);
    let mut id = 0;
    while id < records {
        let count = RECORDS_PER_BATCH.min(records - id);
        let mut builder =
            BatchBuilder::with_capacity(BatchOptions::default(), count as usize * (size + 32));
        for id in id..id + count {
            builder.push(now, None, Some(&value(id, size)?), &[])?;
        }
        appender.push(builder.build()?, count)?;
        progress.inc(count);
        id += count;
    }
    let appended = appender.finish()?;
    anyhow::ensure!(
        appended == records,
        "filled {appended} of {records} records"
    );
    Ok(())
}

/// One timed copy.
struct Copied {
    mode: &'static str,
    seconds: f64,
    /// Records read from the input partition.
    read: u64,
    /// Records in the output partition afterwards.
    appended: u64,
}

/// Copies `input` to a fresh partition, through the guest when given.
fn copy(
    input: &Partition,
    dir: &Path,
    mode: &'static str,
    mut guest: Option<(&tokio::runtime::Runtime, &mut TransformInstance)>,
) -> anyhow::Result<Copied> {
    let output = open(dir, &format!("{mode}-0"))?;
    let total = input.watermarks().hw.0 as u64;
    let progress = progress_bar(total, mode);
    let mut appender = Appender::new(&output);
    let mut read = 0u64;
    let mut next = Offset::ZERO;
    let started = Instant::now();
    loop {
        let result = input.read(next, READ_BYTES)?;
        if result.batches.is_empty() {
            break;
        }
        for item in Batches::new(result.batches, false) {
            let (header, batch) = item?;
            next = header.next_offset();
            // Zero-copy: the records' bytes are slices of the read buffer.
            let records = decode_records(&batch)?;
            let count = records.len() as u64;
            read += count;
            let records: Vec<Record> = match &mut guest {
                None => records,
                Some((runtime, instance)) => runtime
                    .block_on(instance.process_batch(records))
                    .with_context(|| format!("{mode}: batch at offset {}", header.base_offset))?
                    .into_iter()
                    .map(|output| output.record)
                    .collect(),
            };
            if !records.is_empty() {
                let out = records.len() as u64;
                appender.push(encode_batch(BatchOptions::default(), &records)?, out)?;
            }
            progress.inc(count);
        }
    }
    let appended = appender.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    let in_log = output.watermarks().leo.0 as u64;
    anyhow::ensure!(
        in_log == appended,
        "{mode}: the output partition holds {in_log} records, {appended} were acknowledged"
    );
    output.close().context("close the output partition")?;
    Ok(Copied {
        mode,
        seconds,
        read,
        appended,
    })
}

/// Queues appends without waiting for each acknowledgement; [`finish`]
/// appends the last batch and waits for it, which (the writer acknowledges
/// in order) means every earlier one is acknowledged too.
///
/// [`finish`]: Appender::finish
struct Appender<'a> {
    log: &'a Partition,
    /// The batch held back to be appended last, and its record count.
    last: Option<(Bytes, u64)>,
    acknowledged: Arc<AtomicU64>,
    /// The first append that failed, if any.
    failure: Arc<Mutex<Option<String>>>,
}

impl<'a> Appender<'a> {
    fn new(log: &'a Partition) -> Self {
        Self {
            log,
            last: None,
            acknowledged: Arc::new(AtomicU64::new(0)),
            failure: Arc::new(Mutex::new(None)),
        }
    }

    /// Queues the batch before this one (blocking while the log's queue is
    /// full) and holds this one back.
    fn push(&mut self, batch: Bytes, records: u64) -> anyhow::Result<()> {
        let Some((previous, count)) = self.last.replace((batch, records)) else {
            return Ok(());
        };
        let acknowledged = self.acknowledged.clone();
        let failure = self.failure.clone();
        self.log.append_with(
            previous,
            Box::new(move |result| match result {
                Ok(_) => {
                    acknowledged.fetch_add(count, Ordering::Relaxed);
                }
                Err(error) => {
                    let mut failure = failure.lock().expect("failure slot poisoned");
                    failure.get_or_insert_with(|| error.to_string());
                }
            }),
        )?;
        Ok(())
    }

    /// Appends the held-back batch and returns the records acknowledged.
    fn finish(mut self) -> anyhow::Result<u64> {
        if let Some((batch, count)) = self.last.take() {
            self.log.append(batch)?;
            self.acknowledged.fetch_add(count, Ordering::Relaxed);
        }
        if let Some(error) = self.failure.lock().expect("failure slot poisoned").take() {
            anyhow::bail!("an append to {} failed: {error}", self.log.name());
        }
        Ok(self.acknowledged.load(Ordering::Relaxed))
    }
}
