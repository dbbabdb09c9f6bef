//! Kafka's RecordBatch v2: the one format Sluice writes to disk, serves to
//! consumers and accepts from producers.
//!
//! Storage reads only [`header`]; the broker serves stored bytes as they
//! are; only producers, compaction and pipeline stages that look inside
//! records use the record codec. Keeping the format in its own crate lets
//! storage and the protocol layer share it without depending on each other.
//! It must not do I/O.

pub mod compression;
pub mod error;
pub mod header;

pub use compression::Compression;
pub use error::BatchError;
pub use header::{check_batch, BatchHeader, Batches, HEADER_LEN};
