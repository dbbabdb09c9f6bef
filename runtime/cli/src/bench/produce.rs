//! `sluice bench produce`: the whole path, client to disk and back, on
//! this machine.
//!
//! Starts a broker in-process on loopback ports with a fresh data dir
//! (fsync per the flag, `batch` by default), creates a topic, and drives it
//! with Sluice's own client: N records of S bytes, acks=all, keyless so
//! the sticky partitioner fills one batch per partition at a time. The
//! producer runs up to one request per partition at once. Then a consumer
//! reads every record back from the earliest offset, decoding each one.
//! Produce time runs from the first `send` to the end of `flush` (every
//! record acknowledged); the p99 is over the producer's per-request
//! latencies. The same run measures the disk's raw sequential write
//! bandwidth, the limit a durable produce compares with.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_client::admin::NewTopic;
use sluice_client::{
    Acks, Admin, ClientConfig, Cluster, Compression, Consumer, ConsumerConfig, Producer,
    ProducerConfig, StartFrom,
};
use sluice_storage::FsyncPolicy;

use super::disk::{best_sequential_write_bandwidth, run_dir, PROBE_RUNS};
use crate::client::parse_compression;

const TOPIC: &str = "bench";
/// The standard cases: 2,000,000 × 100 B and 500,000 × 1 KiB.
const DEFAULT_CASES: [(u64, usize); 2] = [(2_000_000, 100), (500_000, 1024)];
/// Largest batch: big batches amortise per-request and per-fsync costs.
const BATCH_BYTES_MAX: usize = 1 << 20;

#[derive(Debug, Args)]
pub struct ProduceBenchArgs {
    /// Number of records to produce (and consume).
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Value size of each record, in bytes.
    #[arg(long, value_name = "BYTES")]
    size: Option<usize>,
    /// Partitions of the benchmark topic (one produce request in flight
    /// per partition).
    #[arg(long, value_name = "N", default_value_t = 8)]
    partitions: i32,
    /// Durability of the benchmark topic: batch, interval:<ms> or never.
    #[arg(long, default_value = "batch", value_parser = parse_fsync)]
    fsync: FsyncPolicy,
    /// Batch compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    compression: Compression,
    /// Directory for the broker's data (default: a fresh temp dir).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    FsyncPolicy::parse(text).ok_or_else(|| "expected batch, never or interval:<ms>".to_string())
}

pub fn run(args: ProduceBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.partitions >= 1, "--partitions must be at least 1");
    let cases: Vec<(u64, usize)> = match (args.records, args.size) {
        (None, None) => DEFAULT_CASES.to_vec(),
        (records, size) => vec![(records.unwrap_or(2_000_000), size.unwrap_or(100))],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-bench")
        .build()
        .context("start the async runtime")?;
    for (records, size) in cases {
        runtime.block_on(run_case(&args, records, size))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_case(args: &ProduceBenchArgs, records: u64, size: usize) -> anyhow::Result<()> {
    anyhow::ensure!(records > 0, "--records must be at least 1");
    // The temp parent (if any) must outlive the run dir inside it.
    let (_temp, run_dir) = run_dir(args.dir.as_deref(), "sluice-bench-produce")?;
    let payload_bytes = records * size as u64;

    // Raw limit first, while the page cache holds nothing of the run.
    let probe_bytes = payload_bytes.max(256 << 20);
    let probe_dir = run_dir.path().to_path_buf();
    let (raw_bytes_per_s, probes) = tokio::task::spawn_blocking(move || {
        best_sequential_write_bandwidth(&probe_dir, probe_bytes)
    })
    .await
    .context("the disk probe panicked")??;
    let probes: Vec<String> = probes.iter().map(|b| format!("{:.0}", b / 1e6)).collect();
    eprintln!(
        "  raw disk: {:.1} MB/s sequential write, best of {PROBE_RUNS} ({} MB/s): {} MB in 8 MiB writes + fdatasync, in {}",
        raw_bytes_per_s / 1e6,
        probes.join(", "),
        probe_bytes / 1_000_000,
        run_dir.path().display()
    );

    let mut config = BrokerConfig::new(run_dir.path().join("broker"));
    config.kafka_addr = ([127, 0, 0, 1], 0).into();
    config.http_addr = ([127, 0, 0, 1], 0).into();
    config.default_log_config.fsync = args.fsync;
    let broker = RunningBroker::start(config)
        .await
        .context("start the benchmark broker")?;
    let cluster = Cluster::connect(ClientConfig::new(vec![broker.kafka_addr.to_string()]))
        .await
        .context("connect to the benchmark broker")?;
    Admin::new(cluster.clone())
        .create_topic(&NewTopic {
            name: TOPIC.into(),
            partitions: args.partitions,
            replication_factor: None,
            configs: Vec::new(),
        })
        .await
        .context("create the benchmark topic")?;

    let produced = produce(&cluster, args, records, size).await?;
    let consumed = consume(&cluster, records, size).await?;
    broker
        .shutdown()
        .await
        .context("stop the benchmark broker")?;

    let produce_records_per_s = records as f64 / produced.seconds;
    let produce_bytes_per_s = payload_bytes as f64 / produced.seconds;
    let consume_records_per_s = records as f64 / consumed;
    let consume_bytes_per_s = payload_bytes as f64 / consumed;
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    eprintln!(
        "  {records} records × {size} B, topic of {} partitions, acks=all, fsync {}, compression {}, batches up to {} KiB; {} requests, {:.1} MB of batches on the wire; broker and client share {cpus} CPUs",
        args.partitions,
        args.fsync.to_config_value(),
        args.compression.name(),
        BATCH_BYTES_MAX >> 10,
        produced.requests,
        produced.batch_bytes as f64 / 1e6,
    );
    eprintln!(
        "  limit: produce wrote {:.1} MB/s of batches = {:.2} × raw disk ({:.1} MB/s, measured now); consume ran {:.2} × the produce rate",
        produced.batch_bytes as f64 / produced.seconds / 1e6,
        produced.batch_bytes as f64 / produced.seconds / raw_bytes_per_s,
        raw_bytes_per_s / 1e6,
        consume_records_per_s / produce_records_per_s,
    );
    println!(
        "bench produce: produce {:.0} rec/s {:.1} MB/s, consume {:.0} rec/s {:.1} MB/s, p99 produce latency {:.1} ms",
        produce_records_per_s,
        produce_bytes_per_s / 1e6,
        consume_records_per_s,
        consume_bytes_per_s / 1e6,
        produced.p99.as_secs_f64() * 1e3,
    );
    Ok(())
}

struct Produced {
    seconds: f64,
    requests: u64,
    batch_bytes: u64,
    p99: Duration,
}

async fn produce(
    cluster: &Arc<Cluster>,
    args: &ProduceBenchArgs,
    records: u64,
    size: usize,
) -> anyhow::Result<Produced> {
    let config = ProducerConfig {
        acks: Acks::All,
        compression: args.compression,
        batch_bytes_max: BATCH_BYTES_MAX,
        // Room for two batches per partition: one in flight, one filling.
        buffer_bytes_max: (2 * BATCH_BYTES_MAX * args.partitions as usize).max(64 << 20),
        request_bytes_max: BATCH_BYTES_MAX + (64 << 10),
        ..ProducerConfig::default()
    };
    let producer = Producer::new(cluster.clone(), config)?;
    let value: Vec<u8> = (0..size).map(|i| b'a' + (i % 23) as u8).collect();
    let started = Instant::now();
    for _ in 0..records {
        producer.send(TOPIC, None, None, Some(&value), &[]).await?;
    }
    producer
        .flush()
        .await
        .context("produce the benchmark records")?;
    let seconds = started.elapsed().as_secs_f64();
    let stats = producer.stats();
    anyhow::ensure!(
        stats.records == records,
        "{} of {records} records acknowledged",
        stats.records
    );
    Ok(Produced {
        seconds,
        requests: stats.requests,
        batch_bytes: stats.batch_bytes,
        p99: stats.latency_p99,
    })
}

/// Reads every record back; returns the seconds it took.
async fn consume(cluster: &Arc<Cluster>, records: u64, size: usize) -> anyhow::Result<f64> {
    let mut consumer = Consumer::new(cluster.clone(), ConsumerConfig::default());
    consumer.assign_topic(TOPIC, StartFrom::Earliest).await?;
    let started = Instant::now();
    let mut seen = 0u64;
    let mut value_bytes = 0usize;
    let mut progress = started;
    while seen < records {
        let batch = consumer
            .poll()
            .await
            .context("consume the benchmark records")?;
        if !batch.is_empty() {
            progress = Instant::now();
        }
        anyhow::ensure!(
            progress.elapsed() < Duration::from_secs(60),
            "consumed {seen} of {records} records, then nothing for a minute"
        );
        seen += batch.len() as u64;
        value_bytes += batch
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
    }
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        value_bytes as u64 == records * size as u64,
        "consumed {value_bytes} value bytes, expected {}",
        records * size as u64
    );
    Ok(seconds)
}
