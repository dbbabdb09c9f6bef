//! Encoding records into one RecordBatch v2, byte-compatible with what
//! Kafka's Java producer (`MemoryRecordsBuilder`) writes.
//!
//! Producers in pipeline stages and compaction encode batches of about a
//! thousand records at millions of records per second, so records are
//! written straight into one growing buffer that already holds room for the
//! header: no allocation per record, and for uncompressed batches no copy
//! when the batch is finished. A compressed batch is compressed once, at
//! [`BatchBuilder::build`], into a second buffer that starts with the header.
//!
//! As in Java, the base timestamp is the first record's timestamp (later
//! records may be earlier; their deltas are negative), the max timestamp is
//! the largest record timestamp, and the CRC-32C covers everything from the
//! attributes to the end.

use bytes::Bytes;
use sluice_types::{Offset, Record, RecordHeader, Timestamp};

use crate::compression::{compress_into, Compression};
use crate::error::BatchError;
use crate::header::{
    update_crc, BatchHeader, TimestampType, ATTR_TRANSACTIONAL, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
};
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Largest batch the length field can describe, in bytes, header included.
const BATCH_BYTES_MAX: usize = i32::MAX as usize + LOG_OVERHEAD;

/// The batch-level fields of a batch to build. The defaults are what a
/// non-idempotent Java producer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Codec for the record section.
    pub compression: Compression,
    /// Offset of the record with offset delta 0. Producers send 0 and the
    /// log overwrites it on append (outside the CRC).
    pub base_offset: Offset,
    /// -1 (`NO_PARTITION_LEADER_EPOCH`) from producers; the leader stamps
    /// its epoch on append.
    pub partition_leader_epoch: i32,
    /// -1 unless the producer is idempotent or transactional.
    pub producer_id: i64,
    /// -1 unless the producer is idempotent or transactional.
    pub producer_epoch: i16,
    /// Sequence number of the first record; -1 without idempotence.
    pub base_sequence: i32,
    /// Whether timestamps are the producer's or the log's.
    pub timestamp_type: TimestampType,
    /// For [`TimestampType::LogAppendTime`]: the time the log stamps, stored
    /// as the max timestamp and read back as every record's timestamp.
    /// `None` uses the largest record timestamp. Ignored for CreateTime.
    pub log_append_time: Option<Timestamp>,
    /// Sets the transactional attribute bit.
    pub transactional: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            compression: Compression::None,
            base_offset: Offset::ZERO,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            timestamp_type: TimestampType::CreateTime,
            log_append_time: None,
            transactional: false,
        }
    }
}

/// Accumulates records and encodes them as one batch.
#[derive(Debug)]
pub struct BatchBuilder {
    options: BatchOptions,
    /// [`HEADER_LEN`] placeholder bytes, then the uncompressed records.
    buf: Vec<u8>,
    record_count: i32,
    /// Offset delta of the last record pushed, if any.
    last_record_delta: Option<i32>,
    /// Kept from a batch being rewritten whose last records were dropped.
    last_offset_delta: Option<i32>,
    /// The first record's timestamp: every delta is relative to it.
    base_timestamp: Timestamp,
    max_timestamp: Timestamp,
}

impl BatchBuilder {
    /// An empty builder.
    pub fn new(options: BatchOptions) -> Self {
        Self::with_capacity(options, 0)
    }

    /// An empty builder whose buffer already holds `record_bytes` of records.
    pub fn with_capacity(options: BatchOptions, record_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN + record_bytes);
        buf.resize(HEADER_LEN, 0);
        BatchBuilder {
            options,
            buf,
            record_count: 0,
            last_record_delta: None,
            last_offset_delta: None,
            base_timestamp: Timestamp(0),
            max_timestamp: Timestamp(i64::MIN),
        }
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.record_count as usize
    }

    /// True until the first record is pushed.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Bytes the batch takes so far without compression, header included:
    /// exact for [`Compression::None`], an upper estimate otherwise (unless
    /// the records do not compress at all).
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record with the next offset delta: one past the last
    /// record's, which is the number of records pushed so far when only
    /// `push` is used.
    ///
    /// # Errors
    /// As [`BatchBuilder::push_with_offset_delta`].
    pub fn push(
        &mut self,
        timestamp: Timestamp,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<(), BatchError> {
        // Saturating: past i32::MAX the delta cannot grow, which
        // `push_with_offset_delta` reports as not increasing.
        let offset_delta = self
            .last_record_delta
            .map_or(0, |last| last.saturating_add(1));
        self.push_with_offset_delta(offset_delta, timestamp, key, value, headers)
    }

    /// Appends a record that keeps an offset delta of its own, as compaction
    /// does with the survivors of a batch.
    ///
    /// # Errors
    /// [`BatchError::OffsetDeltaNotIncreasing`] unless `offset_delta` is
    /// above the previous record's (and non-negative);
    /// [`BatchError::TooLarge`] when a field or the batch outgrows what the
    /// format's i32 lengths can hold. The builder is unchanged on error.
    pub fn push_with_offset_delta(
        &mut self,
        offset_delta: i32,
        timestamp: Timestamp,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<(), BatchError> {
        let previous = self.last_record_delta.unwrap_or(-1);
        if offset_delta <= previous {
            return Err(BatchError::OffsetDeltaNotIncreasing {
                previous,
                offset_delta,
            });
        }
        let base_timestamp = if self.record_count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        // Wrapping, as Java computes it; the decoder wraps back exactly.
        let timestamp_delta = timestamp.0.wrapping_sub(base_timestamp.0);

        let mut body_len = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
        body_len += nullable_len("key", key)?;
        body_len += nullable_len("value", value)?;
        let header_count = to_i32("header count", headers.len())?;
        body_len += varint_len(header_count);
        for header in headers {
            body_len += nullable_len("header key", Some(&header.key))?;
            body_len += nullable_len("header value", header.value.as_deref())?;
        }
        let body_len_i32 = to_i32("record", body_len)?;
        let record_len = varint_len(body_len_i32) + body_len;
        if self.buf.len() + record_len > BATCH_BYTES_MAX {
            return Err(too_large(
                "batch",
                self.buf.len() + record_len,
                BATCH_BYTES_MAX,
            ));
        }

        // Every check passed: write the record in one go.
        let buf = &mut self.buf;
        buf.reserve(record_len);
        put_varint(buf, body_len_i32);
        buf.push(0); // record attributes: unused, always 0
        put_varlong(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_nullable(buf, key);
        put_nullable(buf, value);
        put_varint(buf, header_count);
        for header in headers {
            put_nullable(buf, Some(&header.key));
            put_nullable(buf, header.value.as_deref());
        }

        // Cannot overflow: records take at least 7 bytes and the batch at
        // most BATCH_BYTES_MAX, so fewer than i32::MAX / 7 fit.
        self.record_count += 1;
        self.last_record_delta = Some(offset_delta);
        self.base_timestamp = base_timestamp;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Keeps a batch's original last offset delta when it is rewritten
    /// without its last records, so the offsets after it stay where they are.
    ///
    /// # Errors
    /// [`BatchError::LastOffsetDeltaTooSmall`] when a record already pushed
    /// has a larger offset delta (checked again at build).
    pub fn set_last_offset_delta(&mut self, last_offset_delta: i32) -> Result<(), BatchError> {
        check_last_offset_delta(last_offset_delta, self.last_record_delta.unwrap_or(0))?;
        self.last_offset_delta = Some(last_offset_delta);
        Ok(())
    }

    /// Writes the header and CRC (compressing the records first if asked)
    /// and returns the finished batch.
    ///
    /// # Errors
    /// [`BatchError::Empty`] without records;
    /// [`BatchError::LastOffsetDeltaTooSmall`] when records were pushed past
    /// a delta set with [`BatchBuilder::set_last_offset_delta`];
    /// [`BatchError::Compression`] or [`BatchError::TooLarge`] from compression.
    pub fn build(self) -> Result<Bytes, BatchError> {
        let Some(last_record_delta) = self.last_record_delta else {
            return Err(BatchError::Empty);
        };
        let last_offset_delta = match self.last_offset_delta {
            Some(kept) => check_last_offset_delta(kept, last_record_delta).map(|()| kept)?,
            None => last_record_delta,
        };
        let options = self.options;
        let max_timestamp = match options.timestamp_type {
            TimestampType::CreateTime => self.max_timestamp,
            TimestampType::LogAppendTime => options.log_append_time.unwrap_or(self.max_timestamp),
        };
        let mut attributes =
            options.compression.attribute_bits() | options.timestamp_type.attribute_bits();
        if options.transactional {
            attributes |= ATTR_TRANSACTIONAL;
        }
        let mut batch = match options.compression {
            Compression::None => self.buf,
            codec => {
                let records = &self.buf[HEADER_LEN..];
                // Compressed sections are smaller than the input in practice;
                // half is a cheap first guess that `compress_into` grows from.
                let mut out = Vec::with_capacity(HEADER_LEN + records.len() / 2);
                out.resize(HEADER_LEN, 0);
                compress_into(codec, records, &mut out)?;
                if out.len() > BATCH_BYTES_MAX {
                    return Err(too_large("compressed batch", out.len(), BATCH_BYTES_MAX));
                }
                out
            }
        };
        let header = BatchHeader {
            base_offset: options.base_offset,
            // Checked against BATCH_BYTES_MAX on every push and after compression.
            batch_length: (batch.len() - LOG_OVERHEAD) as i32,
            partition_leader_epoch: options.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes,
            last_offset_delta,
            base_timestamp: self.base_timestamp,
            max_timestamp,
            producer_id: options.producer_id,
            producer_epoch: options.producer_epoch,
            base_sequence: options.base_sequence,
            record_count: self.record_count,
        };
        header.write_to(&mut batch);
        update_crc(&mut batch);
        Ok(Bytes::from(batch))
    }
}

/// Encodes `records` as one batch with offset deltas 0, 1, 2, … in order.
/// The records' own `offset` fields are ignored, as for any append: the
/// batch's offsets come from `options.base_offset`.
///
/// # Errors
/// As [`BatchBuilder::push`] and [`BatchBuilder::build`].
pub fn encode_batch(options: BatchOptions, records: &[Record]) -> Result<Bytes, BatchError> {
    let estimate: usize = records
        .iter()
        .map(|record| {
            let key = record.key.as_ref().map_or(0, Bytes::len);
            let value = record.value.as_ref().map_or(0, Bytes::len);
            // Fixed fields and lengths take about 16 bytes per record.
            16 + key + value + record.headers.len() * 8
        })
        .sum();
    let mut builder = BatchBuilder::with_capacity(options, estimate);
    for record in records {
        builder.push(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        )?;
    }
    builder.build()
}

fn check_last_offset_delta(requested: i32, last_record: i32) -> Result<(), BatchError> {
    if requested < last_record {
        return Err(BatchError::LastOffsetDeltaTooSmall {
            requested,
            last_record,
        });
    }
    Ok(())
}

fn too_large(what: &'static str, len_bytes: usize, max_bytes: usize) -> BatchError {
    BatchError::TooLarge {
        what,
        len_bytes,
        max_bytes,
    }
}

fn to_i32(what: &'static str, len: usize) -> Result<i32, BatchError> {
    i32::try_from(len).map_err(|_| too_large(what, len, i32::MAX as usize))
}

/// Encoded size of a nullable byte field: its length varint plus its bytes.
#[inline]
fn nullable_len(what: &'static str, field: Option<&[u8]>) -> Result<usize, BatchError> {
    match field {
        None => Ok(1),
        Some(bytes) => Ok(varint_len(to_i32(what, bytes.len())?) + bytes.len()),
    }
}

/// Writes a nullable byte field whose length [`nullable_len`] checked.
#[inline]
fn put_nullable(buf: &mut Vec<u8>, field: Option<&[u8]>) {
    match field {
        None => put_varint(buf, -1),
        Some(bytes) => {
            put_varint(buf, bytes.len() as i32);
            buf.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary;
    use crate::header::{check_batch, ATTR_TIMESTAMP_LOG_APPEND};
    use crate::records::decode_records;
    use proptest::prelude::*;

    fn value(text: &'static str) -> Option<Bytes> {
        Some(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn defaults_are_what_a_java_producer_writes() {
        let options = BatchOptions::default();
        assert_eq!(options.compression, Compression::None);
        assert_eq!(options.base_offset, Offset::ZERO);
        assert_eq!(
            (
                options.partition_leader_epoch,
                options.producer_id,
                options.producer_epoch
            ),
            (-1, -1, -1)
        );
        assert_eq!(options.base_sequence, -1);
        assert_eq!(options.timestamp_type, TimestampType::CreateTime);
        assert!(!options.transactional);
    }

    #[test]
    fn header_fields_follow_the_records() {
        let options = BatchOptions {
            compression: Compression::Lz4,
            base_offset: Offset(500),
            partition_leader_epoch: 7,
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 10,
            transactional: true,
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options);
        builder
            .push(Timestamp(2_000), None, Some(b"a"), &[])
            .unwrap();
        builder
            .push(Timestamp(1_000), None, Some(b"b"), &[])
            .unwrap();
        builder
            .push(Timestamp(3_000), None, Some(b"c"), &[])
            .unwrap();
        assert_eq!(builder.len(), 3);
        let batch = builder.build().unwrap();
        let header = check_batch(&batch).expect("valid CRC");
        assert_eq!(header.total_len(), batch.len());
        assert_eq!(header.base_offset, Offset(500));
        assert_eq!(header.partition_leader_epoch, 7);
        // Java's base timestamp is the first record's, not the smallest.
        assert_eq!(header.base_timestamp, Timestamp(2_000));
        assert_eq!(header.max_timestamp, Timestamp(3_000));
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.record_count, 3);
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (42, 3, 10)
        );
        assert_eq!(header.compression(), Compression::Lz4);
        assert!(header.is_transactional());
        assert_eq!(header.timestamp_type(), TimestampType::CreateTime);
        let timestamps: Vec<i64> = decode_records(&batch)
            .unwrap()
            .iter()
            .map(|record| record.timestamp.0)
            .collect();
        assert_eq!(timestamps, [2_000, 1_000, 3_000]);
    }

    #[test]
    fn log_append_time_sets_the_bit_and_the_max_timestamp() {
        let options = BatchOptions {
            timestamp_type: TimestampType::LogAppendTime,
            log_append_time: Some(Timestamp(77)),
            ..BatchOptions::default()
        };
        let mut builder = BatchBuilder::new(options);
        builder.push(Timestamp(5), None, None, &[]).unwrap();
        let header = check_batch(&builder.build().unwrap()).unwrap();
        assert_ne!(header.attributes & ATTR_TIMESTAMP_LOG_APPEND, 0);
        assert_eq!(header.max_timestamp, Timestamp(77));
        assert_eq!(header.base_timestamp, Timestamp(5));
    }

    #[test]
    fn empty_builder_does_not_build() {
        let builder = BatchBuilder::new(BatchOptions::default());
        assert!(builder.is_empty());
        assert_eq!(builder.build(), Err(BatchError::Empty));
    }

    #[test]
    fn estimated_size_is_exact_without_compression() {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        assert_eq!(builder.estimated_size(), HEADER_LEN);
        let header = RecordHeader {
            key: Bytes::from_static(b"h"),
            value: None,
        };
        builder
            .push(Timestamp(1), Some(b"key"), Some(&[7; 300]), &[header])
            .unwrap();
        builder.push(Timestamp(-1), None, None, &[]).unwrap();
        let estimate = builder.estimated_size();
        assert_eq!(builder.build().unwrap().len(), estimate);
    }

    #[test]
    fn compaction_keeps_offset_deltas_and_the_last_offset_delta() {
        let mut builder = BatchBuilder::new(BatchOptions {
            base_offset: Offset(1_000),
            ..BatchOptions::default()
        });
        builder
            .push_with_offset_delta(1, Timestamp(1), Some(b"a"), value("1").as_deref(), &[])
            .unwrap();
        builder
            .push_with_offset_delta(4, Timestamp(4), Some(b"b"), None, &[])
            .unwrap();
        // A delta that does not increase is refused and changes nothing.
        assert_eq!(
            builder.push_with_offset_delta(4, Timestamp(5), None, None, &[]),
            Err(BatchError::OffsetDeltaNotIncreasing {
                previous: 4,
                offset_delta: 4
            })
        );
        assert_eq!(builder.len(), 2);
        builder.set_last_offset_delta(9).unwrap();
        // `push` continues after the last record's delta.
        builder.push(Timestamp(6), None, None, &[]).unwrap();
        let batch = builder.build().unwrap();
        let header = check_batch(&batch).unwrap();
        assert_eq!(header.last_offset_delta, 9);
        assert_eq!(header.next_offset(), Offset(1_010));
        let offsets: Vec<i64> = decode_records(&batch)
            .unwrap()
            .iter()
            .map(|r| r.offset.0)
            .collect();
        assert_eq!(offsets, [1_001, 1_004, 1_005]);
    }

    #[test]
    fn last_offset_delta_below_a_record_is_refused() {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        assert!(builder.set_last_offset_delta(-1).is_err());
        builder.set_last_offset_delta(0).unwrap();
        builder
            .push_with_offset_delta(3, Timestamp(0), None, None, &[])
            .unwrap();
        assert_eq!(
            builder.set_last_offset_delta(2),
            Err(BatchError::LastOffsetDeltaTooSmall {
                requested: 2,
                last_record: 3
            })
        );
        // The delta kept earlier is now too small too: build says so.
        assert_eq!(
            builder.build(),
            Err(BatchError::LastOffsetDeltaTooSmall {
                requested: 0,
                last_record: 3
            })
        );
    }

    #[test]
    fn negative_first_offset_delta_is_refused() {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        assert!(builder
            .push_with_offset_delta(-1, Timestamp(0), None, None, &[])
            .is_err());
        let mut full = BatchBuilder::new(BatchOptions::default());
        full.push_with_offset_delta(i32::MAX, Timestamp(0), None, None, &[])
            .unwrap();
        assert!(full.push(Timestamp(0), None, None, &[]).is_err());
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let records = arbitrary::with_offsets(
            &[
                Record::new(Timestamp(i64::MAX), None, value("max")),
                Record::new(Timestamp(i64::MIN), None, value("min")),
                Record::new(Timestamp(-1), None, value("before the epoch")),
            ],
            Offset::ZERO,
        );
        let batch = encode_batch(BatchOptions::default(), &records).unwrap();
        assert_eq!(decode_records(&batch).unwrap(), records);
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(
            records in arbitrary::records(40),
            codec in arbitrary::codec(),
            base_offset in prop_oneof![Just(0i64), 0i64..1 << 40],
        ) {
            let options = BatchOptions {
                compression: codec,
                base_offset: Offset(base_offset),
                ..BatchOptions::default()
            };
            let batch = encode_batch(options, &records).unwrap();
            let header = check_batch(&batch).unwrap();
            prop_assert_eq!(header.compression(), codec);
            prop_assert_eq!(header.record_count as usize, records.len());
            prop_assert_eq!(header.max_timestamp, records.iter().map(|r| r.timestamp).max().unwrap());
            let decoded = decode_records(&batch).unwrap();
            prop_assert_eq!(decoded, arbitrary::with_offsets(&records, Offset(base_offset)));
        }
    }
}
