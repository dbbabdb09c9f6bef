//! `sluice bench log`: how close the partition log runs to the disk.
//!
//! Appends N records of S bytes in batches of 1,000 to a fresh partition
//! with `fsync = "batch"`, from 8 concurrent appenders so group commit is
//! exercised, then reads every record back from offset zero and decodes
//! it. Batches are encoded before the clock starts: this measures the log,
//! not the encoder. The same run measures the disk's raw sequential write
//! bandwidth (8 MiB writes + fdatasync) for the ratio.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_batch::{BatchBuilder, BatchOptions, Batches, Compression, RecordIter};
use sluice_storage::{FsyncPolicy, LogConfig, Partition};
use sluice_types::{Offset, Timestamp};

use super::disk::{best_sequential_write_bandwidth, run_dir, PROBE_RUNS};

const APPENDERS: usize = 8;
const RECORDS_PER_BATCH: u64 = 1_000;
/// Bytes per read call on the read-back pass.
const READ_BYTES: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct LogBenchArgs {
    /// Number of records to append.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Value size of each record, in bytes.
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Directory for the partition (default: a fresh temp dir on the same
    /// filesystem as the system temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Durability of the benchmark partition: batch, interval:<ms> or never.
    #[arg(long, default_value = "batch", value_parser = parse_fsync)]
    fsync: FsyncPolicy,
    /// Compression of the appended batches: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none", value_parser = crate::client::parse_compression)]
    compression: Compression,
}

fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    FsyncPolicy::parse(text).ok_or_else(|| "expected batch, never or interval:<ms>".to_string())
}

/// The standard cases: 2,000,000 × 100 B and 500,000 × 1 KiB.
const DEFAULT_CASES: [(u64, usize); 2] = [(2_000_000, 100), (500_000, 1024)];

pub fn run(args: LogBenchArgs) -> anyhow::Result<ExitCode> {
    let cases: Vec<(u64, usize)> = match (args.records, args.size) {
        (None, None) => DEFAULT_CASES.to_vec(),
        (records, size) => vec![(records.unwrap_or(2_000_000), size.unwrap_or(100))],
    };
    for (records, size) in cases {
        run_case(&args, records, size)?;
    }
    Ok(ExitCode::SUCCESS)
}

struct Figures {
    append_records_per_s: f64,
    append_bytes_per_s: f64,
    raw_bytes_per_s: f64,
    read_records_per_s: f64,
}

fn run_case(args: &LogBenchArgs, records: u64, size: usize) -> anyhow::Result<()> {
    anyhow::ensure!(records > 0, "--records must be at least 1");
    // The temp parent (if any) must outlive the run dir inside it.
    let (_temp, run_dir) = run_dir(args.dir.as_deref(), "sluice-bench-log")?;
    let batches = encode_batches(records, size, args.compression)?;
    let log_bytes: u64 = batches.iter().map(|b| b.len() as u64).sum();

    // Raw limit first, so the log's files are not yet in the page cache.
    let probe_bytes = log_bytes.max(256 << 20);
    let (raw_bytes_per_s, probes) = best_sequential_write_bandwidth(run_dir.path(), probe_bytes)?;
    let probes: Vec<String> = probes.iter().map(|b| format!("{:.0}", b / 1e6)).collect();
    eprintln!(
        "  raw disk: {:.1} MB/s sequential write, best of {PROBE_RUNS} ({} MB/s): {} MB in 8 MiB writes + fdatasync, in {}",
        raw_bytes_per_s / 1e6,
        probes.join(", "),
        probe_bytes / 1_000_000,
        run_dir.path().display()
    );

    let config = LogConfig {
        fsync: args.fsync,
        ..LogConfig::default()
    };
    let log = Arc::new(
        Partition::open(&run_dir.path().join("bench-0"), "bench-0", config)
            .context("open the benchmark partition")?,
    );
    let progress = progress_bar(records, "append");
    let (append_seconds, appended) = append_all(&log, batches, &progress)?;
    progress.finish_and_clear();
    anyhow::ensure!(
        appended == records,
        "appended {appended} of {records} records"
    );

    let progress = progress_bar(records, "read");
    let started = Instant::now();
    let read = read_all(&log, &progress)?;
    let read_seconds = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    anyhow::ensure!(read == records, "read back {read} of {records} records");
    log.close().context("close the benchmark partition")?;

    let figures = Figures {
        append_records_per_s: records as f64 / append_seconds,
        append_bytes_per_s: log_bytes as f64 / append_seconds,
        raw_bytes_per_s,
        read_records_per_s: records as f64 / read_seconds,
    };
    eprintln!(
        "  {records} records × {size} B, {} MB on disk, {APPENDERS} appenders, batches of {RECORDS_PER_BATCH}, fsync {}, compression {}",
        log_bytes / 1_000_000,
        args.fsync.to_config_value(),
        args.compression.name(),
    );
    println!(
        "bench log: append {:.0} rec/s {:.1} MB/s ({:.2} of raw disk), read {:.0} rec/s",
        figures.append_records_per_s,
        figures.append_bytes_per_s / 1e6,
        figures.append_bytes_per_s / figures.raw_bytes_per_s,
        figures.read_records_per_s,
    );
    Ok(())
}

fn progress_bar(total: u64, label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "  {prefix:6} {bar:40} {human_pos}/{human_len} records {per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(label);
    bar
}

/// Encodes the records into batches of 1,000 (the last may be smaller).
fn encode_batches(
    records: u64,
    size: usize,
    compression: Compression,
) -> anyhow::Result<Vec<Bytes>> {
    let value: Vec<u8> = (0..size).map(|i| b'a' + (i % 23) as u8).collect();
    let mut batches = Vec::with_capacity(records.div_ceil(RECORDS_PER_BATCH) as usize);
    let now = Timestamp::now();
    let mut done = 0;
    while done < records {
        let count = RECORDS_PER_BATCH.min(records - done);
        let mut builder = BatchBuilder::with_capacity(
            BatchOptions {
                compression,
                ..BatchOptions::default()
            },
            count as usize * (size + 32),
        );
        for _ in 0..count {
            builder.push(now, None, Some(&value), &[])?;
        }
        batches.push(builder.build()?);
        done += count;
    }
    Ok(batches)
}

/// Appends every batch from [`APPENDERS`] threads; returns the seconds it
/// took and the records acknowledged.
fn append_all(
    log: &Arc<Partition>,
    batches: Vec<Bytes>,
    progress: &ProgressBar,
) -> anyhow::Result<(f64, u64)> {
    let mut shares: Vec<Vec<Bytes>> = vec![Vec::new(); APPENDERS];
    for (i, batch) in batches.into_iter().enumerate() {
        shares[i % APPENDERS].push(batch);
    }
    let started = Instant::now();
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let log = log.clone();
            let progress = progress.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut appended = 0;
                for batch in share {
                    let info = log.append(batch)?;
                    let count = (info.last_offset.0 - info.base_offset.0 + 1) as u64;
                    appended += count;
                    progress.inc(count);
                }
                Ok(appended)
            })
        })
        .collect();
    let mut appended = 0;
    for handle in handles {
        appended += handle
            .join()
            .map_err(|_| anyhow::anyhow!("an appender thread panicked"))??;
    }
    Ok((started.elapsed().as_secs_f64(), appended))
}

/// Reads every record from offset zero, decoding each one.
fn read_all(log: &Partition, progress: &ProgressBar) -> anyhow::Result<u64> {
    let mut next = Offset::ZERO;
    let mut count = 0u64;
    let mut value_bytes = 0usize;
    loop {
        let result = log.read(next, READ_BYTES)?;
        if result.batches.is_empty() {
            break;
        }
        for item in Batches::new(result.batches, false) {
            let (header, batch) = item?;
            let mut in_batch = 0;
            for record in RecordIter::new(&batch)? {
                let record = record?;
                if record.offset >= next {
                    value_bytes += record.value.as_ref().map_or(0, |v| v.len());
                    in_batch += 1;
                }
            }
            count += in_batch;
            progress.inc(in_batch);
            next = header.next_offset();
        }
    }
    std::hint::black_box(value_bytes);
    Ok(count)
}
