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
        let partition = partition_for_key(customer.as_bytes(), topic.partitions.len());
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

/// Kafka's default partitioner for keyed records: murmur2 of the key,
/// made positive, modulo the partition count.
pub fn partition_for_key(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions
}

/// Murmur2 as Kafka's `Utils.murmur2` computes it (seed 0x9747b28c).
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    match tail.len() {
        3 => {
            h ^= u32::from(tail[2]) << 16;
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= u32::from(tail[1]) << 8;
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= u32::from(tail[0]);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 4] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "{:?}",
                std::str::from_utf8(key)
            );
        }
    }
}
