//! The fixed 61-byte header of a RecordBatch v2, read in place.
//!
//! Storage needs the header of every batch it appends or recovers (base
//! offset, length, CRC, last offset delta, timestamps) but never needs the
//! records themselves, so this module parses only the header and leaves the
//! record section untouched.
//!
//! Layout (big-endian), as in Kafka's `DefaultRecordBatch`:
//!
//! | bytes | field                    |
//! |-------|--------------------------|
//! | 0..8  | base offset              |
//! | 8..12 | batch length (after this field) |
//! | 12..16| partition leader epoch   |
//! | 16    | magic (2)                |
//! | 17..21| CRC-32C of bytes 21..end |
//! | 21..23| attributes               |
//! | 23..27| last offset delta        |
//! | 27..35| base timestamp           |
//! | 35..43| max timestamp            |
//! | 43..51| producer id              |
//! | 51..53| producer epoch           |
//! | 53..57| base sequence            |
//! | 57..61| record count             |
//!
//! The CRC starts at `attributes`, so rewriting the base offset or the
//! leader epoch needs no recompute.

use bytes::Bytes;
use sluice_types::{Offset, Timestamp};

use crate::compression::Compression;
use crate::error::BatchError;

/// Size of the v2 header, record count included.
pub const HEADER_LEN: usize = 61;
/// Bytes before the part counted by the batch length field (base offset + length).
pub const LOG_OVERHEAD: usize = 12;
/// The only magic byte Sluice stores.
pub const MAGIC_V2: i8 = 2;
/// Where the CRC-covered part of a batch starts.
pub const CRC_START: usize = 21;

const LENGTH_AT: usize = 8;
const LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// Attribute bits beyond the compression codec.
pub const ATTR_TIMESTAMP_LOG_APPEND: i16 = 1 << 3;
pub const ATTR_TRANSACTIONAL: i16 = 1 << 4;
pub const ATTR_CONTROL: i16 = 1 << 5;
pub const ATTR_DELETE_HORIZON: i16 = 1 << 6;

/// What the timestamps of a batch mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Each record carries the time its producer created it.
    #[default]
    CreateTime,
    /// The broker stamped the batch when appending it; the batch's max
    /// timestamp is every record's timestamp.
    LogAppendTime,
}

impl TimestampType {
    /// The attribute bits for this timestamp type.
    pub fn attribute_bits(self) -> i16 {
        match self {
            TimestampType::CreateTime => 0,
            TimestampType::LogAppendTime => ATTR_TIMESTAMP_LOG_APPEND,
        }
    }
}

/// A decoded copy of a batch header (the fields are small; copying them is
/// cheaper than re-reading big-endian bytes on every access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: Offset,
    /// Length of the batch after the length field itself.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: Timestamp,
    pub max_timestamp: Timestamp,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

fn be_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn be_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Reads the header at the start of `buf`.
    ///
    /// Checks what can be checked without the body: enough bytes for a
    /// header, the magic byte, a batch length that covers the header, and a
    /// non-negative last offset delta. It does not check the CRC (see
    /// [`verify_crc`]) or that `buf` holds the whole batch (see
    /// [`BatchHeader::total_len`]).
    ///
    /// # Errors
    /// [`BatchError::Truncated`] when `buf` is shorter than a header,
    /// [`BatchError::BadMagic`], [`BatchError::BadLength`] or
    /// [`BatchError::BadHeader`] when a field is impossible.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        let magic = buf[MAGIC_AT] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::BadMagic { magic });
        }
        let batch_length = be_i32(buf, LENGTH_AT);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::BadLength { batch_length });
        }
        let header = BatchHeader {
            base_offset: Offset(be_i64(buf, 0)),
            batch_length,
            partition_leader_epoch: be_i32(buf, LEADER_EPOCH_AT),
            magic,
            crc: u32::from_be_bytes(buf[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
            attributes: be_i16(buf, ATTRIBUTES_AT),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: Timestamp(be_i64(buf, BASE_TIMESTAMP_AT)),
            max_timestamp: Timestamp(be_i64(buf, MAX_TIMESTAMP_AT)),
            producer_id: be_i64(buf, PRODUCER_ID_AT),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_AT),
            base_sequence: be_i32(buf, BASE_SEQUENCE_AT),
            record_count: be_i32(buf, RECORD_COUNT_AT),
        };
        if header.last_offset_delta < 0 || header.record_count < 0 {
            return Err(BatchError::BadHeader {
                reason: "negative last offset delta or record count",
            });
        }
        if Compression::from_attributes(header.attributes).is_none() {
            return Err(BatchError::UnknownCompression {
                attributes: header.attributes,
            });
        }
        Ok(header)
    }

    /// Bytes the whole batch occupies, header included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// The offset of the last record in the batch.
    pub fn last_offset(&self) -> Offset {
        self.base_offset.plus(i64::from(self.last_offset_delta))
    }

    /// The offset the batch after this one starts at.
    pub fn next_offset(&self) -> Offset {
        self.base_offset.plus(i64::from(self.last_offset_delta) + 1)
    }

    /// The codec the records section is compressed with.
    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    /// Whether record timestamps are producer or broker time.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_TIMESTAMP_LOG_APPEND != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// True when the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// True for transaction markers and other control batches.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// True when the producer asked for idempotence (producer id set).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

impl BatchHeader {
    /// Writes this header, CRC field as stored in `self.crc`, into the first
    /// [`HEADER_LEN`] bytes of `buf`. Pair with [`update_crc`] once the
    /// record section is in place.
    ///
    /// # Panics
    /// When `buf` is shorter than a header: callers size it first.
    pub fn write_to(&self, buf: &mut [u8]) {
        assert!(
            buf.len() >= HEADER_LEN,
            "a batch header needs {HEADER_LEN} bytes"
        );
        buf[0..8].copy_from_slice(&self.base_offset.0.to_be_bytes());
        buf[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&self.batch_length.to_be_bytes());
        buf[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        buf[MAGIC_AT] = self.magic as u8;
        buf[CRC_AT..CRC_AT + 4].copy_from_slice(&self.crc.to_be_bytes());
        buf[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&self.attributes.to_be_bytes());
        buf[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&self.last_offset_delta.to_be_bytes());
        buf[BASE_TIMESTAMP_AT..BASE_TIMESTAMP_AT + 8]
            .copy_from_slice(&self.base_timestamp.0.to_be_bytes());
        buf[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8]
            .copy_from_slice(&self.max_timestamp.0.to_be_bytes());
        buf[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&self.producer_id.to_be_bytes());
        buf[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2]
            .copy_from_slice(&self.producer_epoch.to_be_bytes());
        buf[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4]
            .copy_from_slice(&self.base_sequence.to_be_bytes());
        buf[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&self.record_count.to_be_bytes());
    }
}

/// Recomputes the CRC of one whole batch and stores it, after its
/// attributes or records were written or changed.
///
/// # Panics
/// When `batch` is shorter than a header.
pub fn update_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Total length of the batch starting at `buf`, if its length field is
/// there and plausible; `None` when fewer than 12 bytes are available.
pub fn peek_total_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    let batch_length = be_i32(buf, LENGTH_AT);
    if batch_length < 0 {
        return None;
    }
    Some(LOG_OVERHEAD + batch_length as usize)
}

/// CRC-32C of the CRC-covered part of a whole batch.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// True when the stored CRC matches the batch bytes. `batch` must hold
/// exactly one whole batch.
pub fn verify_crc(batch: &[u8]) -> bool {
    batch.len() >= HEADER_LEN
        && u32::from_be_bytes(batch[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"))
            == compute_crc(batch)
}

/// Overwrites the base offset of a batch in place (outside the CRC).
pub fn set_base_offset(batch: &mut [u8], base_offset: Offset) {
    batch[0..8].copy_from_slice(&base_offset.0.to_be_bytes());
}

/// Overwrites the partition leader epoch in place (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Parses and CRC-checks one whole batch at the start of `buf`.
///
/// # Errors
/// As [`BatchHeader::parse`], plus [`BatchError::Truncated`] when `buf`
/// ends inside the batch and [`BatchError::CrcMismatch`] when the CRC does
/// not match.
pub fn check_batch(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    let total = header.total_len();
    if buf.len() < total {
        return Err(BatchError::Truncated {
            needed: total,
            available: buf.len(),
        });
    }
    let computed = compute_crc(&buf[..total]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Iterates over the whole batches in a buffer of concatenated batches,
/// handing out each as a zero-copy `Bytes` slice.
///
/// A buffer that ends in the middle of a batch yields the whole batches
/// and then stops: Kafka's Fetch responses may end with a partial batch,
/// and clients skip it the same way. Corruption in a whole batch yields an
/// error and ends the iteration.
pub struct Batches {
    buf: Bytes,
    position: usize,
    verify_crc: bool,
    done: bool,
}

impl Batches {
    /// Iterates over `buf`, checking each batch's CRC when `verify_crc`.
    pub fn new(buf: Bytes, verify_crc: bool) -> Self {
        Self {
            buf,
            position: 0,
            verify_crc,
            done: false,
        }
    }

    /// Byte position of the next batch (the end of the last one yielded).
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Iterator for Batches {
    type Item = Result<(BatchHeader, Bytes), BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = &self.buf[self.position..];
        let total = peek_total_len(rest)?;
        if rest.len() < total {
            return None;
        }
        let result = if self.verify_crc {
            check_batch(&rest[..total])
        } else {
            BatchHeader::parse(&rest[..total])
        };
        match result {
            Ok(header) => {
                let batch = self.buf.slice(self.position..self.position + total);
                self.position += total;
                Some(Ok((header, batch)))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{BatchBuilder, BatchOptions};
    use proptest::prelude::*;

    fn sample_batch(compression: Compression) -> Bytes {
        let mut builder = BatchBuilder::new(BatchOptions {
            compression,
            base_offset: Offset(40),
            ..BatchOptions::default()
        });
        builder
            .push(Timestamp(10), Some(b"key"), Some(b"value"), &[])
            .unwrap();
        builder
            .push(Timestamp(12), None, Some(b"second"), &[])
            .unwrap();
        builder.build().unwrap()
    }

    #[test]
    fn check_batch_detects_every_flipped_bit_under_the_crc() {
        for codec in [Compression::None, Compression::Zstd] {
            let batch = sample_batch(codec);
            assert!(check_batch(&batch).is_ok());
            for bit in CRC_START * 8..batch.len() * 8 {
                let mut flipped = batch.to_vec();
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    check_batch(&flipped).is_err(),
                    "{codec:?}: flip of bit {bit} passed"
                );
            }
        }
    }

    #[test]
    fn flipped_stored_crc_is_a_mismatch() {
        let mut batch = sample_batch(Compression::None).to_vec();
        batch[CRC_AT] ^= 0x80;
        assert!(matches!(
            check_batch(&batch),
            Err(BatchError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn rewriting_base_offset_and_leader_epoch_keeps_the_crc() {
        let mut batch = sample_batch(Compression::Gzip).to_vec();
        set_base_offset(&mut batch, Offset(1 << 40));
        set_partition_leader_epoch(&mut batch, 12);
        let header = check_batch(&batch).expect("CRC still valid");
        assert_eq!(header.base_offset, Offset(1 << 40));
        assert_eq!(header.partition_leader_epoch, 12);
        assert_eq!(header.last_offset(), Offset((1 << 40) + 1));
    }

    #[test]
    fn truncated_and_padded_buffers() {
        let batch = sample_batch(Compression::None);
        for cut in 0..batch.len() {
            assert!(check_batch(&batch[..cut]).is_err(), "cut at {cut}");
        }
        let mut two = batch.to_vec();
        two.extend_from_slice(&batch);
        two.extend_from_slice(&batch[..20]);
        let found: Vec<_> = Batches::new(Bytes::from(two), true).collect();
        assert_eq!(found.len(), 2, "the partial third batch is skipped");
        assert!(found.iter().all(Result::is_ok));
    }

    #[test]
    fn unknown_codec_and_bad_magic_are_refused() {
        let mut batch = sample_batch(Compression::None).to_vec();
        batch[MAGIC_AT] = 1;
        assert_eq!(
            BatchHeader::parse(&batch),
            Err(BatchError::BadMagic { magic: 1 })
        );
        let mut batch = sample_batch(Compression::None).to_vec();
        batch[ATTRIBUTES_AT + 1] |= 0x7;
        update_crc(&mut batch);
        assert!(matches!(
            check_batch(&batch),
            Err(BatchError::UnknownCompression { .. })
        ));
    }

    proptest! {
        #[test]
        fn write_to_then_parse_round_trips(
            base_offset in any::<i64>(),
            batch_length in 49i32..i32::MAX,
            epoch in any::<i32>(),
            codec in 0i16..5,
            flags in 0i16..16,
            last_offset_delta in 0i32..i32::MAX,
            timestamps in any::<(i64, i64)>(),
            producer in any::<(i64, i16, i32)>(),
            record_count in 0i32..i32::MAX,
        ) {
            let header = BatchHeader {
                base_offset: Offset(base_offset),
                batch_length,
                partition_leader_epoch: epoch,
                magic: MAGIC_V2,
                crc: 0x1234_5678,
                attributes: codec | flags << 3,
                last_offset_delta,
                base_timestamp: Timestamp(timestamps.0),
                max_timestamp: Timestamp(timestamps.1),
                producer_id: producer.0,
                producer_epoch: producer.1,
                base_sequence: producer.2,
                record_count,
            };
            let mut buf = [0u8; HEADER_LEN];
            header.write_to(&mut buf);
            prop_assert_eq!(BatchHeader::parse(&buf), Ok(header));
        }
    }
}
