//! Everything that can go wrong in the partition log, with the path,
//! partition and offset it went wrong at.

use std::io;
use std::path::PathBuf;

use sluice_batch::BatchError;
use sluice_types::Offset;
use thiserror::Error;

/// A storage failure. Variants carry where it happened; I/O causes are kept
/// as `#[source]` so `{:#}` prints the whole chain.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("partition {partition}: rejected batch at byte {position} of the request: {source}")]
    InvalidBatch {
        partition: String,
        position: usize,
        #[source]
        source: BatchError,
    },
    #[error("partition {partition}: append of {bytes} bytes exceeds the segment limit of {limit} bytes; raise segment.bytes")]
    BatchTooLarge {
        partition: String,
        bytes: usize,
        limit: u64,
    },
    #[error("partition {partition}: offset {offset} is out of range (log start {log_start}, high watermark {hw})")]
    OffsetOutOfRange {
        partition: String,
        offset: Offset,
        log_start: Offset,
        hw: Offset,
    },
    #[error("partition {partition}: the log is offline after an I/O error ({reason}); restart to recover it")]
    Offline { partition: String, reason: String },
    #[error("partition {partition}: the writer has stopped (partition closed)")]
    Closed { partition: String },
    #[error("segment {path}: {reason}")]
    CorruptSegment { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    InvalidConfig { path: PathBuf, reason: String },
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    #[error("topic {name:?} already exists")]
    TopicExists { name: String },
    #[error("topic {name:?} does not exist")]
    UnknownTopic { name: String },
    #[error("topic {topic:?} has no partition {partition}")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("partition {partition}: batch at offset {offset}: {source}")]
    Decode {
        partition: String,
        offset: Offset,
        #[source]
        source: BatchError,
    },
}

impl StorageError {
    /// Wraps an I/O error with the operation and the path it was on.
    pub fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { op, path, source }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
