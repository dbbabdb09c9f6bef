//! Vocabulary shared by every Sluice crate: offsets, partitions, timestamps
//! and records.
//!
//! This crate exists so that storage, protocol, the Wasm host and the
//! pipeline engine agree on what an offset or a record *is* without
//! depending on each other. It performs no I/O and depends on nothing but
//! `bytes`.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// The position of a record in a partition, counted from zero.
///
/// Offsets are assigned by the partition log at append time and never
/// change afterwards, even when compaction removes records around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

impl Offset {
    /// The first offset of every partition.
    pub const ZERO: Offset = Offset(0);

    /// The offset `n` records after this one.
    #[must_use]
    pub fn plus(self, n: i64) -> Offset {
        Offset(self.0 + n)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A partition number within a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PartitionId(pub i32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A topic name and one of its partitions, printed Kafka-style as `orders-3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: PartitionId,
}

impl TopicPartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition: PartitionId(partition),
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Milliseconds since the Unix epoch, as Kafka timestamps are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The wall-clock time now.
    pub fn now() -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since_epoch.as_millis() as i64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One record header: a UTF-8 key by convention (not enforced, as in Kafka)
/// and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: Bytes,
    pub value: Option<Bytes>,
}

/// One record as producers send it and consumers receive it.
///
/// `key` and `value` are `Bytes`, so a record decoded from an uncompressed
/// batch borrows the batch's memory instead of copying it. A `None` value
/// is a tombstone: in a compacted topic it deletes its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset; assigned by the log, ignored when a record is built
    /// for appending.
    pub offset: Offset,
    pub timestamp: Timestamp,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

impl Record {
    /// A record with a value and optional key, no headers, offset zero.
    pub fn new(timestamp: Timestamp, key: Option<Bytes>, value: Option<Bytes>) -> Self {
        Self {
            offset: Offset::ZERO,
            timestamp,
            key,
            value,
            headers: Vec::new(),
        }
    }

    /// True when this record deletes its key in a compacted topic.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}
