//! proptest strategies for records, shared by the codec's unit tests so
//! every round-trip test draws from the same awkward cases: null and empty
//! keys and values, headers with null values, and timestamps on both sides
//! of the first record's.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use sluice_types::{Offset, Record, RecordHeader, Timestamp};

use crate::compression::Compression;

/// Any codec Kafka defines.
pub fn codec() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd),
    ]
}

/// Bytes that are often empty and sometimes long enough to span varint widths.
pub fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..8),
        2 => vec(any::<u8>(), 60..200),
        1 => Just(Vec::new()),
    ]
    .prop_map(Bytes::from)
}

pub fn header() -> impl Strategy<Value = RecordHeader> {
    (bytes(), proptest::option::of(bytes())).prop_map(|(key, value)| RecordHeader { key, value })
}

/// Records with offset 0, timestamps around one base, some of them before it.
pub fn records(len_max: usize) -> impl Strategy<Value = Vec<Record>> {
    let timestamp_base = prop_oneof![Just(0i64), Just(1_700_000_000_000i64), any::<i64>()];
    (timestamp_base, vec(record_parts(), 1..=len_max)).prop_map(|(base, parts)| {
        parts
            .into_iter()
            .map(|(delta, key, value, headers)| Record {
                offset: Offset::ZERO,
                timestamp: Timestamp(base.wrapping_add(delta)),
                key,
                value,
                headers,
            })
            .collect()
    })
}

type RecordParts = (i64, Option<Bytes>, Option<Bytes>, Vec<RecordHeader>);

fn record_parts() -> impl Strategy<Value = RecordParts> {
    let delta = prop_oneof![-1000i64..1000, any::<i64>()];
    (
        delta,
        proptest::option::of(bytes()),
        proptest::option::of(bytes()),
        vec(header(), 0..3),
    )
}

/// What decoding returns for `records` encoded from `base_offset`: the
/// same records with offsets assigned in order.
pub fn with_offsets(records: &[Record], base_offset: Offset) -> Vec<Record> {
    records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            offset: base_offset.plus(i as i64),
            ..record.clone()
        })
        .collect()
}
