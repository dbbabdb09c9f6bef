//! Sluice's partition log: the storage engine under the broker and the
//! pipelines.
//!
//! | module | job |
//! |---|---|
//! | [`store`] | topics on disk: create, open, delete, list |
//! | [`partition`] | one partition: append, read by offset or time, watermarks |
//! | `writer` | the per-partition writer thread: offsets, grouping, rolls |
//! | `syncer` | the fsync thread: group commit, acks, high watermark |
//! | [`segment`] | active and sealed segments, their files |
//! | [`segment_view`] | reads within one segment: by offset, by timestamp |
//! | [`index`], [`time_index`] | sparse offset and time index formats |
//! | [`index_builder`] | the entries both indexes get as batches go by |
//! | [`recovery`] | opening a partition: tail scan, torn-tail truncation |
//! | [`retention`] | deleting old segments by age and size |
//! | [`compaction`] | keeping the latest record per key |
//! | [`config`] | per-topic settings |
//!
//! Batches are stored exactly as Kafka's RecordBatch v2 (see
//! `sluice-batch`), so the broker serves stored bytes to consumers as they
//! are. This crate is synchronous and must not depend on tokio, the Kafka
//! protocol or wasmtime: it builds and tests in seconds, and both the broker
//! and the pipeline engine use it.

pub mod compaction;
pub mod config;
pub mod error;
pub mod index;
pub mod index_builder;
pub mod partition;
pub mod recovery;
pub mod retention;
pub mod segment;
pub mod segment_view;
pub mod store;
mod syncer;
pub mod time_index;
mod writer;

pub use config::{CleanupPolicy, FsyncPolicy, LogConfig};
pub use error::{Result, StorageError};
pub use partition::{AppendInfo, Partition, ReadResult, Watermarks};
pub use recovery::RecoveryReport;
pub use store::{Store, Topic};
