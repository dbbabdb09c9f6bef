//! Kafka's RecordBatch v2: the one format Sluice writes to disk, serves to
//! consumers and accepts from producers.
//!
//! Storage reads only [`header`]; the broker serves stored bytes as they
//! are; only producers, compaction and pipeline stages that look inside
//! records use the record codec. Keeping the format in its own crate lets
//! storage and the protocol layer share it without depending on each other.
//! It must not do I/O.
//!
//! | module | one job |
//! |---|---|
//! | [`header`] | the 61-byte header in place, CRC-32C, splitting a buffer into batches |
//! | [`varint`] | zigzag varints, the integer encoding inside records |
//! | [`compression`] | the codecs and the exact stream formats Kafka clients use |
//! | [`records`] | decoding the records of one batch, zero-copy when uncompressed |
//! | [`builder`] | encoding records into one batch, as Java's producer does |
//! | [`error`] | why a batch could not be read or built |
//!
//! Errors are one plain enum, [`BatchError`], without boxing: they are
//! produced on the append and fetch paths, where a batch from a producer or
//! from disk may be corrupt or hostile, and decoding must never panic.

#[cfg(test)]
mod arbitrary;
pub mod builder;
pub mod compression;
pub mod error;
pub mod header;
pub mod records;
pub mod varint;

pub use builder::{encode_batch, BatchBuilder, BatchOptions};
pub use compression::{
    compress, compress_into, decompress, decompress_with_limit, Compression, DECOMPRESSED_BYTES_MAX,
};
pub use error::{BatchError, RecordFault};
pub use header::{check_batch, BatchHeader, Batches, TimestampType, HEADER_LEN};
pub use records::{decode_records, RecordIter};
pub use varint::VarintError;
