//! Decoding the records inside one RecordBatch v2.
//!
//! Storage and the broker never need this: they move whole batches. It is
//! for the places that look at individual records (pipeline stages,
//! compaction, tests), and it must accept anything a Kafka client writes
//! while refusing, with an error and never a panic, anything a hostile or
//! corrupt batch contains.
//!
//! Each record in the (decompressed) record section is, as in Kafka's
//! `DefaultRecord`:
//!
//! ```text
//! length varint | attributes i8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value
//! headerCount varint | headers: keyLength varint, key, valueLength varint (-1 = null), value
//! ```
//!
//! Every length is checked against the bytes left in its record, the
//! record's own length must match its fields, the record count must match
//! the header and nothing may follow the last record. Keys, values and
//! header fields are `Bytes` slices of the record section: for an
//! uncompressed batch that is the caller's buffer, so nothing is copied.

use std::ops::Range;

use bytes::Bytes;
use sluice_types::{Offset, Record, RecordHeader, Timestamp};

use crate::compression::{decompress_with_limit, Compression, DECOMPRESSED_BYTES_MAX};
use crate::error::{BatchError, RecordFault};
use crate::header::{check_batch, BatchHeader, TimestampType, HEADER_LEN};
use crate::varint::{read_varint, read_varlong};

/// Smallest possible record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each. Used to
/// bound allocations by what the input can actually hold.
const RECORD_LEN_MIN: usize = 7;
/// Smallest possible header: key length 0 and value length -1.
const HEADER_LEN_MIN: usize = 2;

/// Decodes every record of one whole batch.
///
/// `batch` must hold exactly one batch, as [`crate::Batches`] yields them.
///
/// # Errors
/// Whatever [`RecordIter::new`] or the iteration reports: a bad header or
/// CRC, a decompression failure, or a malformed record.
pub fn decode_records(batch: &Bytes) -> Result<Vec<Record>, BatchError> {
    RecordIter::new(batch)?.collect()
}

/// The records of one batch, decoded one at a time.
///
/// The iterator yields `Err` at most once and then ends. It yields exactly
/// the header's record count of `Ok` records for a valid batch, and an
/// error instead of ending early or leaving bytes unread.
pub struct RecordIter {
    header: BatchHeader,
    /// The uncompressed record section.
    section: Bytes,
    position: usize,
    decoded: i32,
    /// Set for LogAppendTime batches: every record gets the batch's max timestamp.
    timestamp_override: Option<Timestamp>,
    done: bool,
}

impl RecordIter {
    /// Checks the batch (header, CRC) and decompresses its record section,
    /// bounded by [`DECOMPRESSED_BYTES_MAX`].
    ///
    /// # Errors
    /// As [`RecordIter::with_limit`].
    pub fn new(batch: &Bytes) -> Result<RecordIter, BatchError> {
        Self::with_limit(batch, DECOMPRESSED_BYTES_MAX)
    }

    /// As [`RecordIter::new`] with a different bound on the decompressed
    /// record section.
    ///
    /// # Errors
    /// Those of [`check_batch`], [`BatchError::TrailingBytes`] when `batch`
    /// continues past the batch, and those of [`decompress_with_limit`].
    pub fn with_limit(batch: &Bytes, limit_bytes: usize) -> Result<RecordIter, BatchError> {
        let header = check_batch(batch)?;
        let total = header.total_len();
        if batch.len() > total {
            return Err(BatchError::TrailingBytes {
                batch_bytes: total,
                extra_bytes: batch.len() - total,
            });
        }
        let section = match header.compression() {
            Compression::None => batch.slice(HEADER_LEN..total),
            codec => decompress_with_limit(codec, &batch[HEADER_LEN..total], limit_bytes)?,
        };
        let timestamp_override = match header.timestamp_type() {
            TimestampType::LogAppendTime => Some(header.max_timestamp),
            TimestampType::CreateTime => None,
        };
        Ok(RecordIter {
            header,
            section,
            position: 0,
            decoded: 0,
            timestamp_override,
            done: false,
        })
    }

    /// The batch header the records belong to.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Records the header says are still to come.
    pub fn remaining(&self) -> i32 {
        self.header.record_count - self.decoded
    }

    fn fail(&mut self, error: BatchError) -> Option<Result<Record, BatchError>> {
        self.done = true;
        Some(Err(error))
    }

    /// Reads the record at `cursor`; on error `cursor` points at the fault.
    fn read_record(&self, cursor: &mut Cursor<'_>) -> Result<Record, RecordFault> {
        let length = cursor.varint("record length")?;
        let body = cursor.take(length, "record")?;
        // All further reads stay inside this record's declared bytes.
        let mut fields = Cursor {
            buf: &self.section[..body.end],
            position: body.start,
        };
        let result = self.read_fields(&mut fields);
        cursor.position = fields.position;
        let record = result?;
        if fields.position != body.end {
            return Err(RecordFault::LengthMismatch {
                declared: length,
                consumed: fields.position - body.start,
            });
        }
        Ok(record)
    }

    fn read_fields(&self, fields: &mut Cursor<'_>) -> Result<Record, RecordFault> {
        // Record attributes are unused since Kafka 0.11; skip them as Java does.
        fields.take(1, "attributes")?;
        let timestamp_delta = fields.varlong("timestamp delta")?;
        let offset_delta = fields.varint("offset delta")?;
        let key = fields.nullable("key")?;
        let value = fields.nullable("value")?;
        let header_count = fields.varint("header count")?;
        let header_count =
            usize::try_from(header_count).map_err(|_| RecordFault::NegativeLength {
                field: "header count",
                length: header_count,
            })?;
        // A hostile count must not size the allocation; the bytes left must.
        let mut headers = Vec::with_capacity(header_count.min(fields.remaining() / HEADER_LEN_MIN));
        for _ in 0..header_count {
            let key_length = fields.varint("header key length")?;
            let header_key = fields.take(key_length, "header key")?;
            let header_value = fields.nullable("header value")?;
            headers.push(RecordHeader {
                key: self.section.slice(header_key),
                value: header_value.map(|range| self.section.slice(range)),
            });
        }
        let timestamp = self.timestamp_override.unwrap_or(Timestamp(
            // Wrapping, as Java's long arithmetic: the builder computes the
            // delta the same way, so every timestamp round-trips exactly.
            self.header.base_timestamp.0.wrapping_add(timestamp_delta),
        ));
        Ok(Record {
            // Wrapping for the same reason: a hostile base offset must not
            // panic, and a valid one never wraps.
            offset: Offset(
                self.header
                    .base_offset
                    .0
                    .wrapping_add(i64::from(offset_delta)),
            ),
            timestamp,
            key: key.map(|range| self.section.slice(range)),
            value: value.map(|range| self.section.slice(range)),
            headers,
        })
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.decoded == self.header.record_count {
            self.done = true;
            let extra_bytes = self.section.len() - self.position;
            if extra_bytes > 0 {
                return Some(Err(BatchError::TrailingRecordBytes {
                    declared: self.header.record_count,
                    extra_bytes,
                }));
            }
            return None;
        }
        if self.position == self.section.len() {
            let error = BatchError::MissingRecords {
                declared: self.header.record_count,
                decoded: self.decoded,
            };
            return self.fail(error);
        }
        let mut cursor = Cursor {
            buf: &self.section,
            position: self.position,
        };
        match self.read_record(&mut cursor) {
            Ok(record) => {
                self.position = cursor.position;
                self.decoded += 1;
                Some(Ok(record))
            }
            Err(fault) => {
                let error = BatchError::BadRecord {
                    index: self.decoded,
                    position: cursor.position,
                    fault,
                };
                self.fail(error)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // At most the declared count, and never more than the bytes allow
        // (plus one slot for a final error).
        let by_count = usize::try_from(self.remaining()).unwrap_or(0);
        let by_bytes = (self.section.len() - self.position) / RECORD_LEN_MIN;
        (0, Some(by_count.min(by_bytes) + 1))
    }
}

/// A read position in untrusted bytes; every read is bounds-checked and
/// leaves `position` at the start of the field that failed.
struct Cursor<'a> {
    buf: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.position
    }

    fn varint(&mut self, field: &'static str) -> Result<i32, RecordFault> {
        read_varint(self.buf, &mut self.position)
            .map_err(|source| RecordFault::Varint { field, source })
    }

    fn varlong(&mut self, field: &'static str) -> Result<i64, RecordFault> {
        read_varlong(self.buf, &mut self.position)
            .map_err(|source| RecordFault::Varint { field, source })
    }

    /// Takes `length` bytes, returning where they are.
    fn take(&mut self, length: i32, field: &'static str) -> Result<Range<usize>, RecordFault> {
        let len =
            usize::try_from(length).map_err(|_| RecordFault::NegativeLength { field, length })?;
        if len > self.remaining() {
            return Err(RecordFault::LengthPastEnd {
                field,
                length: i64::from(length),
                remaining: self.remaining(),
            });
        }
        let start = self.position;
        self.position += len;
        Ok(start..self.position)
    }

    /// Reads a length (-1 for null) and takes that many bytes.
    fn nullable(&mut self, field: &'static str) -> Result<Option<Range<usize>>, RecordFault> {
        let length_at = self.position;
        let length = self.varint(field)?;
        if length == -1 {
            return Ok(None);
        }
        self.take(length, field).map(Some).inspect_err(|_| {
            // Report the fault at the length field, not after it.
            self.position = length_at;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary;
    use crate::builder::{encode_batch, BatchBuilder, BatchOptions};
    use crate::header::{update_crc, ATTR_TIMESTAMP_LOG_APPEND};
    use crate::varint::{put_varint, put_varlong};
    use proptest::prelude::*;

    /// One batch with a record ("hello" → "world") as a Kafka broker served
    /// it in a Fetch response (from kafka-protocol's documentation).
    const KAFKA_BATCH: [u8; 79] = [
        0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x43, 0x0, 0x0, 0x0, 0x0, 0x2, 0x73,
        0x6d, 0x29, 0x7b, 0x0, 0b00000000, 0x0, 0x0, 0x0, 0x3, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
        0x0, 0x0, 0x0, 0x1, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0,
        0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0, 0x1, 0x22, 0x1, 0xd0, 0xf, 0x2, 0xa, 0x68, 0x65,
        0x6c, 0x6c, 0x6f, 0xa, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x0,
    ];

    /// A batch around a hand-written record section, with a valid CRC.
    fn batch_with_section(record_count: i32, section: &[u8]) -> Bytes {
        let mut batch = vec![0u8; HEADER_LEN];
        batch.extend_from_slice(section);
        let header = BatchHeader {
            base_offset: Offset(100),
            batch_length: (batch.len() - crate::header::LOG_OVERHEAD) as i32,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: record_count.max(1) - 1,
            base_timestamp: Timestamp(1000),
            max_timestamp: Timestamp(1000),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count,
        };
        header.write_to(&mut batch);
        update_crc(&mut batch);
        Bytes::from(batch)
    }

    /// A record whose fields are given as already-encoded bytes.
    fn raw_record(fields: &[u8]) -> Vec<u8> {
        let mut record = Vec::new();
        put_varint(&mut record, fields.len() as i32);
        record.extend_from_slice(fields);
        record
    }

    fn fields(key_len: i32, key: &[u8], value_len: i32, value: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut fields = vec![0u8];
        put_varlong(&mut fields, 5);
        put_varint(&mut fields, 0);
        put_varint(&mut fields, key_len);
        fields.extend_from_slice(key);
        put_varint(&mut fields, value_len);
        fields.extend_from_slice(value);
        fields.extend_from_slice(tail);
        fields
    }

    fn fault(result: Result<Vec<Record>, BatchError>) -> RecordFault {
        match result {
            Err(BatchError::BadRecord { fault, .. }) => fault,
            other => panic!("expected a bad record, got {other:?}"),
        }
    }

    #[test]
    fn decodes_a_batch_kafka_served() {
        let records = decode_records(&Bytes::from_static(&KAFKA_BATCH)).expect("decodes");
        assert_eq!(records.len(), 1);
        // Offset delta 1, timestamp delta 1000 on a base timestamp of 0.
        assert_eq!(records[0].offset, Offset(1));
        assert_eq!(records[0].timestamp, Timestamp(1000));
        assert_eq!(records[0].key.as_deref(), Some(&b"hello"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"world"[..]));
        assert!(records[0].headers.is_empty());
    }

    #[test]
    fn uncompressed_fields_are_slices_of_the_input() {
        let header = RecordHeader {
            key: Bytes::from_static(b"trace"),
            value: Some(Bytes::from_static(b"abc")),
        };
        let mut builder = BatchBuilder::new(BatchOptions::default());
        builder
            .push(
                Timestamp(7),
                Some(b"k1"),
                Some(b"v1"),
                std::slice::from_ref(&header),
            )
            .unwrap();
        let batch = builder.build().unwrap();
        let input = batch.as_ptr() as usize..batch.as_ptr() as usize + batch.len();
        let records = decode_records(&batch).unwrap();
        let record = &records[0];
        let pieces = [
            record.key.as_ref().unwrap(),
            record.value.as_ref().unwrap(),
            &record.headers[0].key,
            record.headers[0].value.as_ref().unwrap(),
        ];
        for piece in pieces {
            assert!(
                input.contains(&(piece.as_ptr() as usize)),
                "{piece:?} was copied"
            );
        }
    }

    #[test]
    fn log_append_time_gives_every_record_the_max_timestamp() {
        let options = BatchOptions {
            timestamp_type: TimestampType::LogAppendTime,
            log_append_time: Some(Timestamp(9_999)),
            ..BatchOptions::default()
        };
        let records = arbitrary::with_offsets(
            &[
                Record::new(Timestamp(5), None, Some(Bytes::from_static(b"a"))),
                Record::new(Timestamp(3), None, Some(Bytes::from_static(b"b"))),
            ],
            Offset::ZERO,
        );
        let batch = encode_batch(options, &records).unwrap();
        let iter = RecordIter::new(&batch).unwrap();
        assert_eq!(
            iter.header().attributes & ATTR_TIMESTAMP_LOG_APPEND,
            ATTR_TIMESTAMP_LOG_APPEND
        );
        let decoded: Vec<Record> = iter.collect::<Result<_, _>>().unwrap();
        assert!(decoded
            .iter()
            .all(|record| record.timestamp == Timestamp(9_999)));
    }

    #[test]
    fn empty_batch_has_no_records() {
        let batch = batch_with_section(0, &[]);
        assert_eq!(decode_records(&batch), Ok(Vec::new()));
    }

    #[test]
    fn hand_written_record_decodes_with_absolute_offset_and_timestamp() {
        let mut fields = vec![0u8];
        put_varlong(&mut fields, -300);
        put_varint(&mut fields, 2);
        put_varint(&mut fields, -1); // null key
        put_varint(&mut fields, 0); // empty value
        put_varint(&mut fields, 1);
        put_varint(&mut fields, 1);
        fields.push(b'h');
        put_varint(&mut fields, -1); // null header value
        let mut section = Vec::new();
        // Two filler records are not needed: offset delta 2 stands alone.
        section.extend(raw_record(&fields));
        let records = decode_records(&batch_with_section(1, &section)).unwrap();
        assert_eq!(records[0].offset, Offset(102));
        assert_eq!(records[0].timestamp, Timestamp(700));
        assert_eq!(records[0].key, None);
        assert_eq!(records[0].value, Some(Bytes::new()));
        assert_eq!(records[0].headers[0].key, Bytes::from_static(b"h"));
        assert_eq!(records[0].headers[0].value, None);
    }

    #[test]
    fn negative_lengths_other_than_null_are_rejected() {
        let section = raw_record(&fields(-2, b"", 0, b"", &[0]));
        assert_eq!(
            fault(decode_records(&batch_with_section(1, &section))),
            RecordFault::NegativeLength {
                field: "key",
                length: -2
            }
        );
        let mut tail = Vec::new();
        put_varint(&mut tail, -1); // header count
        let section = raw_record(&fields(-1, b"", -1, b"", &tail));
        assert!(matches!(
            fault(decode_records(&batch_with_section(1, &section))),
            RecordFault::NegativeLength {
                field: "header count",
                ..
            }
        ));
        let mut tail = Vec::new();
        put_varint(&mut tail, 1);
        put_varint(&mut tail, -1); // header key may not be null
        put_varint(&mut tail, -1);
        let section = raw_record(&fields(-1, b"", -1, b"", &tail));
        assert!(matches!(
            fault(decode_records(&batch_with_section(1, &section))),
            RecordFault::NegativeLength {
                field: "header key",
                ..
            }
        ));
    }

    #[test]
    fn lengths_past_the_record_are_rejected() {
        // The value claims 1000 bytes; the record (and the batch) hold 3.
        let section = raw_record(&fields(-1, b"", 1000, b"abc", &[]));
        let result = decode_records(&batch_with_section(1, &section));
        assert!(matches!(
            fault(result),
            RecordFault::LengthPastEnd {
                field: "value",
                length: 1000,
                ..
            }
        ));
        // The value fits in the section but not in its own record.
        let mut section = raw_record(&fields(-1, b"", 4, b"", &[]));
        section.extend_from_slice(b"abcd\0");
        assert!(decode_records(&batch_with_section(1, &section)).is_err());
        // A record length beyond the section.
        let mut section = Vec::new();
        put_varint(&mut section, i32::MAX);
        section.extend_from_slice(&[0; 10]);
        assert!(matches!(
            fault(decode_records(&batch_with_section(1, &section))),
            RecordFault::LengthPastEnd {
                field: "record",
                ..
            }
        ));
    }

    #[test]
    fn record_length_must_match_its_fields() {
        let mut section = Vec::new();
        let body = fields(-1, b"", -1, b"", &[0]);
        put_varint(&mut section, body.len() as i32 + 2);
        section.extend_from_slice(&body);
        section.extend_from_slice(&[0, 0]);
        assert_eq!(
            fault(decode_records(&batch_with_section(1, &section))),
            RecordFault::LengthMismatch {
                declared: body.len() as i32 + 2,
                consumed: body.len()
            }
        );
    }

    #[test]
    fn record_count_must_match_the_records() {
        let one = raw_record(&fields(-1, b"", -1, b"", &[0]));
        assert_eq!(
            decode_records(&batch_with_section(2, &one)),
            Err(BatchError::MissingRecords {
                declared: 2,
                decoded: 1
            })
        );
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(
            decode_records(&batch_with_section(1, &two)),
            Err(BatchError::TrailingRecordBytes {
                declared: 1,
                extra_bytes: one.len()
            })
        );
        let mut garbage = one.clone();
        garbage.push(0xff);
        assert!(matches!(
            decode_records(&batch_with_section(1, &garbage)),
            Err(BatchError::TrailingRecordBytes { extra_bytes: 1, .. })
        ));
    }

    #[test]
    fn a_lying_huge_record_count_does_not_allocate_for_it() {
        let one = raw_record(&fields(-1, b"", -1, b"", &[0]));
        let iter = RecordIter::new(&batch_with_section(i32::MAX, &one)).unwrap();
        assert!(iter.size_hint().1.unwrap() <= 2);
        assert!(matches!(
            iter.collect::<Result<Vec<_>, _>>(),
            Err(BatchError::MissingRecords { decoded: 1, .. })
        ));
        // A header count of i32::MAX with nothing behind it.
        let mut tail = Vec::new();
        put_varint(&mut tail, i32::MAX);
        let section = raw_record(&fields(-1, b"", -1, b"", &tail));
        assert!(decode_records(&batch_with_section(1, &section)).is_err());
    }

    #[test]
    fn bytes_after_the_batch_are_rejected() {
        let mut padded = KAFKA_BATCH.to_vec();
        padded.push(0);
        assert_eq!(
            decode_records(&Bytes::from(padded)),
            Err(BatchError::TrailingBytes {
                batch_bytes: 79,
                extra_bytes: 1
            })
        );
    }

    #[test]
    fn iterator_stops_after_its_error() {
        let one = raw_record(&fields(-1, b"", -1, b"", &[0]));
        let mut iter = RecordIter::new(&batch_with_section(3, &one)).unwrap();
        assert!(iter.next().unwrap().is_ok());
        assert_eq!(iter.remaining(), 2);
        assert!(iter.next().unwrap().is_err());
        assert!(iter.next().is_none());
    }

    #[test]
    fn decompression_bomb_is_refused_at_the_limit() {
        // 4 MiB of one record's worth of zeros compresses to a few KiB.
        let records = vec![Record::new(
            Timestamp(0),
            None,
            Some(Bytes::from(vec![0u8; 4 << 20])),
        )];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let options = BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            };
            let batch = encode_batch(options, &records).unwrap();
            assert!(batch.len() < 1 << 20, "{codec:?} barely compressed");
            assert!(matches!(
                RecordIter::with_limit(&batch, 1 << 20).err(),
                Some(BatchError::DecompressedTooLarge { .. })
            ));
            assert_eq!(decode_records(&batch).unwrap().len(), 1);
        }
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let records = arbitrary::with_offsets(
            &[
                Record::new(Timestamp(1), Some(Bytes::from_static(b"k")), None),
                Record::new(Timestamp(2), None, Some(Bytes::from_static(b"value"))),
            ],
            Offset::ZERO,
        );
        for codec in [Compression::None, Compression::Zstd] {
            let options = BatchOptions {
                compression: codec,
                ..BatchOptions::default()
            };
            let batch = encode_batch(options, &records).unwrap();
            for cut in 0..batch.len() {
                assert!(decode_records(&batch.slice(..cut)).is_err(), "cut at {cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_single_bit_flip_is_an_error(
            records in arbitrary::records(5),
            codec in arbitrary::codec(),
            bit in any::<prop::sample::Index>(),
        ) {
            let options = BatchOptions { compression: codec, ..BatchOptions::default() };
            let batch = encode_batch(options, &records).unwrap();
            let mut flipped = batch.to_vec();
            let bit = bit.index(flipped.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            let result = decode_records(&Bytes::from(flipped));
            // The base offset and leader epoch lie outside the CRC: a flip
            // there changes offsets but is otherwise accepted.
            let byte = bit / 8;
            if !(0..8).contains(&byte) && !(12..16).contains(&byte) {
                prop_assert!(result.is_err(), "flip at bit {} accepted", bit);
            }
        }

        #[test]
        fn random_mutations_never_panic(
            records in arbitrary::records(5),
            codec in arbitrary::codec(),
            mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            fix_crc in any::<bool>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let options = BatchOptions { compression: codec, ..BatchOptions::default() };
            let batch = encode_batch(options, &records).unwrap();
            let mut mutated = batch.to_vec();
            for (at, byte) in mutations {
                let at = at.index(mutated.len());
                mutated[at] = byte;
            }
            // Without a CRC fix nearly every mutation stops at the CRC;
            // fixing it drives the mutation into the record parser.
            if fix_crc && mutated.len() >= HEADER_LEN {
                update_crc(&mut mutated);
            }
            mutated.truncate(cut.index(mutated.len() + 1).max(1));
            if let Ok(iter) = RecordIter::with_limit(&Bytes::from(mutated), 1 << 20) {
                for record in iter {
                    let _ = record;
                }
            }
        }

        #[test]
        fn mutated_record_sections_never_panic(
            section in proptest::collection::vec(any::<u8>(), 0..200),
            record_count in prop_oneof![0i32..4, any::<i32>()],
        ) {
            let _ = decode_records(&batch_with_section(record_count.max(0), &section));
        }
    }
}
