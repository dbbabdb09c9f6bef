//! Cross-checks the batch codec against an independent implementation, the
//! `kafka-protocol` crate: its encoder's batches must decode with ours, ours
//! must decode with its decoder, for random records and every codec, and
//! for uncompressed batches with the same inputs the bytes must be equal.
//!
//! `kafka-protocol` compresses lz4 with the C liblz4 (frames with content
//! and block checksums) and zstd in streaming mode (frames without a
//! content size), so these tests also cover those wire variants.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use proptest::collection::vec;
use proptest::prelude::*;
use sluice_batch::{
    check_batch, decode_records, encode_batch, BatchBuilder, BatchOptions, Compression,
    TimestampType,
};
use sluice_types::{Offset, Record, RecordHeader, Timestamp};

const CODECS: [(Compression, KpCompression); 5] = [
    (Compression::None, KpCompression::None),
    (Compression::Gzip, KpCompression::Gzip),
    (Compression::Snappy, KpCompression::Snappy),
    (Compression::Lz4, KpCompression::Lz4),
    (Compression::Zstd, KpCompression::Zstd),
];

/// Batch-level fields both encoders are given.
#[derive(Debug, Clone, Copy)]
struct Producer {
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
}

fn producer() -> impl Strategy<Value = Producer> {
    let idempotent = (0i64..1 << 40, 0i16..100, 0i32..1 << 30, any::<bool>());
    let plain = Just((-1i64, -1i16, -1i32, false));
    (
        prop_oneof![Just(0i64), 0i64..1 << 50],
        prop_oneof![Just(-1i32), 0i32..1000],
        prop_oneof![plain, idempotent],
    )
        .prop_map(
            |(base_offset, leader_epoch, (id, epoch, sequence, txn))| Producer {
                base_offset,
                leader_epoch,
                producer_id: id,
                producer_epoch: epoch,
                base_sequence: sequence,
                transactional: txn,
            },
        )
}

fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![vec(any::<u8>(), 0..6), vec(any::<u8>(), 50..300)].prop_map(Bytes::from)
}

/// Records as `kafka-protocol` can represent them: header keys are unique
/// UTF-8 strings (its headers are a map keyed by string).
fn records(sorted_timestamps: bool) -> impl Strategy<Value = Vec<Record>> {
    let header_values = vec(proptest::option::of(payload()), 0..4);
    let record = (
        -5_000i64..5_000,
        proptest::option::of(payload()),
        proptest::option::of(payload()),
        header_values,
    );
    (
        prop_oneof![Just(0i64), 1_600_000_000_000i64..1_800_000_000_000],
        vec(record, 1..30),
    )
        .prop_map(move |(base, parts)| {
            let mut deltas: Vec<i64> = parts.iter().map(|part| part.0).collect();
            if sorted_timestamps {
                deltas.sort_unstable();
            }
            parts
                .into_iter()
                .zip(deltas)
                .map(|((_, key, value, header_values), delta)| Record {
                    offset: Offset::ZERO,
                    timestamp: Timestamp(base + delta),
                    key,
                    value,
                    headers: header_values
                        .into_iter()
                        .enumerate()
                        .map(|(i, value)| RecordHeader {
                            key: Bytes::from(format!("header-{i}-é")),
                            value,
                        })
                        .collect(),
                })
                .collect()
        })
}

fn options(producer: Producer, compression: Compression) -> BatchOptions {
    BatchOptions {
        compression,
        base_offset: Offset(producer.base_offset),
        partition_leader_epoch: producer.leader_epoch,
        producer_id: producer.producer_id,
        producer_epoch: producer.producer_epoch,
        base_sequence: producer.base_sequence,
        transactional: producer.transactional,
        ..BatchOptions::default()
    }
}

fn to_kp(records: &[Record], producer: Producer) -> Vec<KpRecord> {
    records
        .iter()
        .enumerate()
        .map(|(i, record)| KpRecord {
            transactional: producer.transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: producer.leader_epoch,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            timestamp_type: KpTimestampType::Creation,
            offset: producer.base_offset + i as i64,
            sequence: producer.base_sequence.wrapping_add(i as i32),
            timestamp: record.timestamp.0,
            key: record.key.clone(),
            value: record.value.clone(),
            headers: record
                .headers
                .iter()
                .map(|header| {
                    let key = StrBytes::try_from(header.key.clone()).expect("UTF-8 header key");
                    (key, header.value.clone())
                })
                .collect(),
        })
        .collect()
}

fn kp_encode(records: &[KpRecord], compression: KpCompression) -> Bytes {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options).expect("kafka-protocol encodes");
    buf.freeze()
}

/// Our records as `kafka-protocol` decodes them, with the batch fields it
/// copies into every record checked along the way.
fn kp_decode(batch: &Bytes, producer: Producer) -> Vec<Record> {
    let mut buf = batch.clone();
    let set = RecordBatchDecoder::decode(&mut buf).expect("kafka-protocol decodes our batch");
    assert!(buf.is_empty(), "kafka-protocol left bytes unread");
    set.records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            assert_eq!(record.producer_id, producer.producer_id);
            assert_eq!(record.producer_epoch, producer.producer_epoch);
            assert_eq!(record.partition_leader_epoch, producer.leader_epoch);
            assert_eq!(record.transactional, producer.transactional);
            assert_eq!(
                record.sequence,
                producer.base_sequence.wrapping_add(i as i32)
            );
            Record {
                offset: Offset(record.offset),
                timestamp: Timestamp(record.timestamp),
                key: record.key,
                value: record.value,
                headers: record
                    .headers
                    .into_iter()
                    .map(|(key, value)| RecordHeader {
                        key: key.into_bytes(),
                        value,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn with_offsets(records: &[Record], base_offset: i64) -> Vec<Record> {
    records
        .iter()
        .enumerate()
        .map(|(i, record)| Record {
            offset: Offset(base_offset + i as i64),
            ..record.clone()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn their_batches_decode_with_ours(records in records(false), producer in producer()) {
        let kp_records = to_kp(&records, producer);
        for (ours, theirs) in CODECS {
            let batch = kp_encode(&kp_records, theirs);
            let header = check_batch(&batch).unwrap();
            prop_assert_eq!(header.compression(), ours);
            prop_assert_eq!(header.producer_id, producer.producer_id);
            prop_assert_eq!(header.base_sequence, producer.base_sequence);
            prop_assert_eq!(header.is_transactional(), producer.transactional);
            let decoded = decode_records(&batch).unwrap();
            prop_assert_eq!(decoded, with_offsets(&records, producer.base_offset), "{:?}", ours);
        }
    }

    #[test]
    fn our_batches_decode_with_theirs(records in records(false), producer in producer()) {
        for (ours, _) in CODECS {
            let batch = encode_batch(options(producer, ours), &records).unwrap();
            let decoded = kp_decode(&batch, producer);
            prop_assert_eq!(decoded, with_offsets(&records, producer.base_offset), "{:?}", ours);
        }
    }

    #[test]
    fn uncompressed_bytes_are_identical(records in records(true), producer in producer()) {
        // With timestamps in order, the first record's timestamp (Java's
        // base) is also the smallest (kafka-protocol's base).
        let ours = encode_batch(options(producer, Compression::None), &records).unwrap();
        let theirs = kp_encode(&to_kp(&records, producer), KpCompression::None);
        prop_assert_eq!(ours, theirs);
    }
}

#[test]
fn log_append_time_is_understood_by_both() {
    let producer = Producer {
        base_offset: 10,
        leader_epoch: 1,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
    let mut builder = BatchBuilder::new(BatchOptions {
        timestamp_type: TimestampType::LogAppendTime,
        log_append_time: Some(Timestamp(1_000)),
        ..options(producer, Compression::Zstd)
    });
    builder.push(Timestamp(5), None, Some(b"a"), &[]).unwrap();
    builder.push(Timestamp(7), None, Some(b"b"), &[]).unwrap();
    let batch = builder.build().unwrap();
    let mut buf = batch.clone();
    let set = RecordBatchDecoder::decode(&mut buf).unwrap();
    assert!(set
        .records
        .iter()
        .all(|record| record.timestamp_type == KpTimestampType::LogAppend));
    let ours = decode_records(&batch).unwrap();
    assert!(ours
        .iter()
        .all(|record| record.timestamp == Timestamp(1_000)));
}

#[test]
fn a_large_batch_spanning_many_compression_blocks_crosses_over() {
    // 2,000 records of 200 bytes: several lz4 and snappy blocks.
    let records: Vec<Record> = (0..2_000u32)
        .map(|i| {
            let value = format!("{i:0>200}");
            Record::new(Timestamp(i64::from(i)), None, Some(Bytes::from(value)))
        })
        .collect();
    let producer = Producer {
        base_offset: 0,
        leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        transactional: false,
    };
    for (ours, theirs) in CODECS {
        let batch = encode_batch(options(producer, ours), &records).unwrap();
        assert_eq!(
            kp_decode(&batch, producer),
            with_offsets(&records, 0),
            "{ours:?}"
        );
        let batch = kp_encode(&to_kp(&records, producer), theirs);
        assert_eq!(
            decode_records(&batch).unwrap(),
            with_offsets(&records, 0),
            "{ours:?}"
        );
    }
}
