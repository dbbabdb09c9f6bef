//! `sluice demo`: the embedded log end to end, on a fresh data directory.
//!
//! Creates a topic with three partitions, appends keyed records (a key
//! always lands on the same partition), reads every partition back from
//! offset zero, finds a record by timestamp, and reopens the store to show
//! the data survived.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use sluice_batch::{decode_records, BatchBuilder, BatchOptions, Batches, Compression};
use sluice_client::partition_for_key;
use sluice_storage::{LogConfig, Store};
use sluice_types::{Offset, Timestamp};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data directory (default: a fresh temp dir, removed afterwards).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Records to append.
    #[arg(long, default_value_t = 30)]
    records: u32,
}

const TOPIC: &str = "demo-orders";
const PARTITIONS: u32 = 3;

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let temp;
    let data = match args.data {
        Some(dir) => dir,
        None => {
            temp = tempfile::Builder::new().prefix("sluice-demo").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let store = Store::open(&data).with_context(|| format!("open store in {}", data.display()))?;
    let topic = match store.topic(TOPIC) {
        Some(topic) => topic,
        None => store.create_topic(TOPIC, PARTITIONS, LogConfig::default())?,
    };
    println!("data dir   {}", data.display());
    println!("topic      {TOPIC} ({} partitions)", topic.partitions.len());
    let started = Timestamp::now();
    let customers = ["ada", "grace", "linus", "barbara", "ken"];
    // One batch per partition, as a producer would send them.
    let mut builders: Vec<BatchBuilder> = (0..topic.partitions.len())
        .map(|_| {
            BatchBuilder::new(BatchOptions {
                compression: Compression::Zstd,
                ..BatchOptions::default()
            })
        })
        .collect();
    for i in 0..args.records {
        let customer = customers[i as usize % customers.len()];
        let partition = partition_for_key(customer.as_bytes(), topic.partitions.len()) as usize;
        let value = format!(
            "{{\"order\":{i},\"customer\":\"{customer}\",\"amount\":{}}}",
            10 + i * 7 % 90
        );
        builders[partition].push(
            Timestamp(started.0 + i64::from(i)),
            Some(customer.as_bytes()),
            Some(value.as_bytes()),
            &[],
        )?;
    }
    for (partition, builder) in builders.into_iter().enumerate() {
        if builder.is_empty() {
            continue;
        }
        let info = topic.partitions[partition].append(builder.build()?)?;
        println!(
            "appended   partition {partition}: offsets {}..={}",
            info.base_offset, info.last_offset
        );
    }
    println!();
    println!("{:<9} {:>6}  {:<8} VALUE", "PARTITION", "OFFSET", "KEY");
    for (id, partition) in topic.partitions.iter().enumerate() {
        let read = partition.read(Offset::ZERO, 1 << 20)?;
        for item in Batches::new(read.batches, true) {
            let (_, batch) = item?;
            for record in decode_records(&batch)?.iter().rev().take(2).rev() {
                println!(
                    "{:<9} {:>6}  {:<8} {}",
                    id,
                    record.offset,
                    String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()),
                    String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()),
                );
            }
        }
    }
    let target = Timestamp(started.0 + i64::from(args.records / 2));
    if let Some((offset, at)) = topic.partitions[0].offset_for_timestamp(target)? {
        println!(
            "\nfirst record at or after t+{} on partition 0: offset {offset} (t+{})",
            target.0 - started.0,
            at.0 - started.0
        );
    }
    drop(topic);
    store.close()?;
    drop(store);
    let store = Store::open(&data)?;
    let topic = store.topic(TOPIC).context("topic lost on reopen")?;
    let total: i64 = topic
        .partitions
        .iter()
        .map(|p| p.watermarks().hw.0 - p.watermarks().log_start.0)
        .sum();
    println!(
        "reopened   {total} records on disk across {} partitions",
        topic.partitions.len()
    );
    Ok(ExitCode::SUCCESS)
}
