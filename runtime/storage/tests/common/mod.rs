//! Helpers shared by the storage integration tests: building batches,
//! opening partitions in temp dirs, reading everything back.
#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use sluice_batch::{decode_records, BatchBuilder, BatchOptions, Batches, Compression};
use sluice_storage::{LogConfig, Partition};
use sluice_types::{Offset, Record, Timestamp};

/// A batch of `count` records `key-{first+i}` → `value-{first+i}` padded
/// to `value_len`, all stamped `timestamp`.
pub fn batch(
    first: u64,
    count: u64,
    value_len: usize,
    timestamp: i64,
    codec: Compression,
) -> Bytes {
    let mut builder = BatchBuilder::new(BatchOptions {
        compression: codec,
        ..BatchOptions::default()
    });
    for i in first..first + count {
        let key = format!("key-{i}");
        builder
            .push(
                Timestamp(timestamp),
                Some(key.as_bytes()),
                Some(&value(i, value_len)),
                &[],
            )
            .unwrap();
    }
    builder.build().unwrap()
}

/// The value `batch` writes for record number `i`.
pub fn value(i: u64, len: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    while v.len() < len {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v
}

/// A batch with explicit keys and values (None value = tombstone).
pub fn keyed_batch(records: &[(&str, Option<&str>)], timestamp: i64) -> Bytes {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    for (key, value) in records {
        builder
            .push(
                Timestamp(timestamp),
                Some(key.as_bytes()),
                value.map(str::as_bytes),
                &[],
            )
            .unwrap();
    }
    builder.build().unwrap()
}

pub fn small_segments(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

pub fn open(dir: &Path, config: LogConfig) -> Partition {
    Partition::open(dir, "test-0", config).unwrap()
}

/// Every record from `from` to the high watermark, decoded.
pub fn read_all(partition: &Partition, from: Offset) -> Vec<Record> {
    let mut records = Vec::new();
    let mut next = from;
    loop {
        let result = partition.read(next, 64 * 1024).unwrap();
        if result.batches.is_empty() {
            break;
        }
        for item in Batches::new(result.batches.clone(), true) {
            let (header, batch) = item.unwrap();
            for record in decode_records(&batch).unwrap() {
                if record.offset >= next {
                    records.push(record);
                }
            }
            next = header.next_offset();
        }
        if next >= result.hw {
            break;
        }
    }
    records
}
