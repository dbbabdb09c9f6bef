//! Why a batch could not be read or built.

use thiserror::Error;

use crate::varint::VarintError;

/// A malformed, truncated or undecodable RecordBatch.
///
/// Plain enum (no boxing): these errors are produced on the append and
/// recovery hot paths.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch truncated: needs {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    #[error("unsupported magic byte {magic}: only RecordBatch v2 (magic 2) is accepted")]
    BadMagic { magic: i8 },
    #[error("impossible batch length {batch_length}")]
    BadLength { batch_length: i32 },
    #[error("invalid batch header: {reason}")]
    BadHeader { reason: &'static str },
    #[error("unknown compression codec in attributes {attributes:#06x}")]
    UnknownCompression { attributes: i16 },
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("corrupt record section: {reason}")]
    BadRecords { reason: String },
    #[error("{codec} compression failed: {reason}")]
    Compression { codec: &'static str, reason: String },
    #[error("a batch needs at least one record")]
    Empty,
    #[error(
        "{codec} record section decompresses past the {limit_bytes}-byte limit; \
         the batch is corrupt or a decompression bomb"
    )]
    DecompressedTooLarge {
        codec: &'static str,
        limit_bytes: usize,
    },
    #[error("record {index} at byte {position} of the record section: {fault}")]
    BadRecord {
        /// Zero-based index of the record within the batch.
        index: i32,
        /// Byte position in the (decompressed) record section where the fault was found.
        position: usize,
        #[source]
        fault: RecordFault,
    },
    #[error("header declares {declared} records but the record section ends after {decoded}")]
    MissingRecords { declared: i32, decoded: i32 },
    #[error("{extra_bytes} bytes follow the {declared} records the header declares")]
    TrailingRecordBytes { declared: i32, extra_bytes: usize },
    #[error(
        "{extra_bytes} bytes follow the batch ({batch_bytes} bytes); \
         pass exactly one batch, or split a buffer with `Batches`"
    )]
    TrailingBytes {
        batch_bytes: usize,
        extra_bytes: usize,
    },
    #[error(
        "offset delta {offset_delta} does not follow {previous}: \
         offset deltas in a batch must strictly increase"
    )]
    OffsetDeltaNotIncreasing { previous: i32, offset_delta: i32 },
    #[error("last offset delta {requested} is below the last record's offset delta {last_record}")]
    LastOffsetDeltaTooSmall { requested: i32, last_record: i32 },
    #[error("{what} of {len_bytes} bytes does not fit in a batch (at most {max_bytes})")]
    TooLarge {
        what: &'static str,
        len_bytes: usize,
        max_bytes: usize,
    },
}

/// What is wrong with one record inside a batch.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RecordFault {
    #[error("bad varint in {field}: {source}")]
    Varint {
        field: &'static str,
        #[source]
        source: VarintError,
    },
    #[error("{field} length {length} is negative")]
    NegativeLength { field: &'static str, length: i32 },
    #[error("{field} length {length} exceeds the {remaining} bytes left")]
    LengthPastEnd {
        field: &'static str,
        length: i64,
        remaining: usize,
    },
    #[error("record length {declared} does not match the {consumed} bytes its fields take")]
    LengthMismatch { declared: i32, consumed: usize },
}
