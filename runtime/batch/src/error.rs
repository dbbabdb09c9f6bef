//! Why a batch could not be read or built.

use thiserror::Error;

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
    Compression {
        codec: &'static str,
        reason: String,
    },
    #[error("a batch needs at least one record")]
    Empty,
}
