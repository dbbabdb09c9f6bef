//! Encode and decode throughput of one 1,000-record batch, per codec,
//! printed next to the physical limit measured in the same run: copying the
//! same number of bytes with `memcpy`.
//!
//! Run with `cargo bench -p sluice-batch --bench batch_codec`. Records are
//! 100-byte JSON-like values without key or headers, the shape of a typical
//! event stream; zstd numbers depend on how compressible they are.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_batch::{BatchBuilder, BatchOptions, Compression, RecordIter};
use sluice_types::Timestamp;

const RECORDS_PER_BATCH: usize = 1_000;
const VALUE_BYTES: usize = 100;
const MEASURE_FOR: Duration = Duration::from_millis(1_500);

fn values() -> Vec<Vec<u8>> {
    (0..RECORDS_PER_BATCH)
        .map(|i| {
            let mut value = format!(
                r#"{{"user":{},"event":"click","page":"/item/{}","ms":{}}}"#,
                i * 7919 % 10_007,
                i % 97,
                1_700_000_000_000u64 + i as u64 * 13
            )
            .into_bytes();
            value.resize(VALUE_BYTES, b' ');
            value
        })
        .collect()
}

fn encode(values: &[Vec<u8>], compression: Compression) -> Bytes {
    let options = BatchOptions {
        compression,
        ..BatchOptions::default()
    };
    let mut builder = BatchBuilder::with_capacity(options, RECORDS_PER_BATCH * (VALUE_BYTES + 8));
    for (i, value) in values.iter().enumerate() {
        let timestamp = Timestamp(1_700_000_000_000 + i as i64);
        builder
            .push(timestamp, None, Some(value), &[])
            .expect("bench records fit in a batch");
    }
    builder.build().expect("bench batch builds")
}

/// Runs `work` repeatedly for about `MEASURE_FOR` and returns runs per second.
fn rate(mut work: impl FnMut()) -> f64 {
    for _ in 0..10 {
        work();
    }
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < MEASURE_FOR {
        for _ in 0..20 {
            work();
        }
        runs += 20;
    }
    runs as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let values = values();
    let plain = encode(&values, Compression::None);
    let source = plain.to_vec();
    let mut target = vec![0u8; source.len()];
    let memcpy_per_s = rate(|| {
        target.copy_from_slice(black_box(&source));
        black_box(&target);
    });
    let memcpy_bytes_per_s = memcpy_per_s * source.len() as f64;
    println!(
        "limit: memcpy of one {}-byte batch: {:.2} GB/s",
        source.len(),
        memcpy_bytes_per_s / 1e9
    );
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batch = encode(&values, codec);
        let encode_per_s = rate(|| {
            black_box(encode(black_box(&values), codec));
        });
        let decode_per_s = rate(|| {
            let mut count = 0usize;
            for record in RecordIter::new(black_box(&batch)).expect("bench batch decodes") {
                black_box(record.expect("bench record decodes"));
                count += 1;
            }
            assert_eq!(count, RECORDS_PER_BATCH);
        });
        let uncompressed_bytes_per_s = |per_s: f64| per_s * plain.len() as f64;
        println!(
            "{:>6}: {:>7} B/batch | encode {:>6.2} M records/s ({:.2}× memcpy) | decode {:>6.2} M records/s ({:.2}× memcpy)",
            codec.name(),
            batch.len(),
            encode_per_s * RECORDS_PER_BATCH as f64 / 1e6,
            uncompressed_bytes_per_s(encode_per_s) / memcpy_bytes_per_s,
            decode_per_s * RECORDS_PER_BATCH as f64 / 1e6,
            uncompressed_bytes_per_s(decode_per_s) / memcpy_bytes_per_s,
        );
    }
}
