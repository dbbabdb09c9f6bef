//! `__consumer_offsets`, the log that makes committed offsets survive a
//! restart: creating it, replaying it when the coordinator opens, and
//! appending to it in the order the coordinator accepted commits.
//!
//! The topic has one partition, `cleanup.policy = compact`, no retention
//! and `fsync = batch`, so an acknowledged append is on disk and only
//! superseded records are ever removed. The record format is in
//! `record.rs`.
//!
//! Appending: handlers are async, but [`Partition::append_with`] may block
//! while the partition's queue is full. So one thread, `offsets-writer`,
//! feeds the partition from a bounded tokio channel: a handler awaits room
//! in the channel (backpressure without blocking a reactor thread), the
//! thread hands batches to the partition in the order they were sent, and
//! the partition's acknowledgement (on its fsync thread, in log order) runs
//! the caller's `on_ack` and then wakes the caller. The order matters: two
//! commits of one partition must reach the log in the order they were
//! accepted, or a replay would restore the older one. The thread ends when
//! the coordinator closes the channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sluice_batch::{decode_records, BatchBuilder, BatchOptions, Batches};
use sluice_storage::{AppendInfo, CleanupPolicy, LogConfig, Partition, StorageError, Store};
use sluice_types::{Offset, Timestamp};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::config::GroupConfig;
use super::offsets::OffsetTable;
use super::record::{decode_group_value, decode_offset_value, GroupValue, RecordKey};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Batches waiting for the writer thread before senders wait for room.
const APPEND_QUEUE_CAPACITY: usize = 256;

/// Bytes asked for per read while replaying.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// A record to append: key and value, `None` for a tombstone.
pub(crate) type LogRecord = (Vec<u8>, Option<Vec<u8>>);

/// Runs on the partition's fsync thread once an append is acknowledged.
type AckCallback = Box<dyn FnOnce(Result<AppendInfo, StorageError>) + Send>;

struct Job {
    batch: Bytes,
    done: AckCallback,
}

/// What a replay of the log found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    pub offsets: OffsetTable,
    /// Each group's metadata at its last completed rebalance.
    pub groups: HashMap<String, GroupValue>,
}

/// The appending side of `__consumer_offsets`.
pub(crate) struct OffsetsLog {
    partition: Arc<Partition>,
    /// `None` once closed; the writer thread then drains what is queued
    /// and ends.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl OffsetsLog {
    /// Opens (creating if needed) the offsets topic, replays it, and starts
    /// the writer thread. Blocking: call it off the reactor.
    ///
    /// # Errors
    /// Storage errors creating or reading the topic, a record whose value
    /// cannot be read (see `record.rs`), or a thread that cannot start.
    pub fn open(
        store: &Store,
        config: &GroupConfig,
    ) -> Result<(OffsetsLog, Replayed), StorageError> {
        let topic = match store.topic(OFFSETS_TOPIC) {
            Some(topic) => topic,
            None => store.create_topic(OFFSETS_TOPIC, 1, offsets_log_config(config))?,
        };
        let partition =
            topic
                .partition(0)
                .cloned()
                .ok_or_else(|| StorageError::UnknownPartition {
                    topic: OFFSETS_TOPIC.into(),
                    partition: 0,
                })?;
        let mut replayed = replay(&partition)?;
        forget_groups_without_offsets(&partition, &mut replayed)?;
        let (sender, mut receiver) = mpsc::channel::<Job>(APPEND_QUEUE_CAPACITY);
        let for_thread = partition.clone();
        std::thread::Builder::new()
            .name("offsets-writer".into())
            .spawn(move || {
                while let Some(job) = receiver.blocking_recv() {
                    // On failure the job's callback is dropped unrun, which
                    // its caller sees as a closed log.
                    if let Err(error) = for_thread.append_with(job.batch, job.done) {
                        warn!(%error, "offsets log refused an append");
                    }
                }
            })
            .map_err(StorageError::io(
                "start the writer thread of",
                partition.dir(),
            ))?;
        let log = OffsetsLog {
            partition,
            jobs: Mutex::new(Some(sender)),
        };
        Ok((log, replayed))
    }

    /// Appends `records` as one batch and returns once it is durable.
    /// `on_ack` runs just before, on the log's fsync thread and in log
    /// order, and only if the append succeeded; keep it short.
    ///
    /// The batch is queued before the first `.await` that can wait on
    /// anything but room in the queue, so appends reach the log in the
    /// order this function was first polled.
    ///
    /// # Errors
    /// [`StorageError::Closed`] once the coordinator has shut down, or
    /// whatever the partition reports (I/O errors, an offline log).
    pub async fn append(
        &self,
        records: Vec<LogRecord>,
        on_ack: impl FnOnce() + Send + 'static,
    ) -> Result<(), StorageError> {
        let closed = || StorageError::Closed {
            partition: self.partition.name().to_string(),
        };
        let batch = self.encode(&records)?;
        let (done_sender, done) = oneshot::channel();
        let job = Job {
            batch,
            done: Box::new(move |result: Result<AppendInfo, StorageError>| {
                if result.is_ok() {
                    on_ack();
                }
                // The caller may be gone (shutdown); the log is written anyway.
                let _ = done_sender.send(result);
            }),
        };
        let sender = self
            .jobs
            .lock()
            .expect("offsets writer lock poisoned")
            .clone()
            .ok_or_else(closed)?;
        sender.send(job).await.map_err(|_| closed())?;
        done.await.map_err(|_| closed())?.map(|_| ())
    }

    /// Queues `records` without waiting for them, for writes nobody waits
    /// on (a tombstone of a group that went away). Queued in call order
    /// like [`OffsetsLog::append`]; dropped with a warning when the queue is
    /// full or closed, which costs only a stale record in the log.
    pub fn append_detached(&self, records: Vec<LogRecord>) {
        let batch = match self.encode(&records) {
            Ok(batch) => batch,
            Err(error) => {
                warn!(%error, "could not encode a record for {OFFSETS_TOPIC}");
                return;
            }
        };
        let job = Job {
            batch,
            done: Box::new(|result: Result<AppendInfo, StorageError>| {
                if let Err(error) = result {
                    warn!(%error, "a detached append to {OFFSETS_TOPIC} failed");
                }
            }),
        };
        let jobs = self.jobs.lock().expect("offsets writer lock poisoned");
        if let Some(Err(error)) = jobs.as_ref().map(|sender| sender.try_send(job)) {
            warn!(%error, "a detached append to {OFFSETS_TOPIC} was dropped");
        }
    }

    /// Stops taking appends; the writer thread finishes what is queued.
    pub fn close(&self) {
        self.jobs
            .lock()
            .expect("offsets writer lock poisoned")
            .take();
    }

    fn encode(&self, records: &[LogRecord]) -> Result<Bytes, StorageError> {
        let now = Timestamp::now();
        let mut builder = BatchBuilder::new(BatchOptions::default());
        let invalid = |source| StorageError::InvalidBatch {
            partition: self.partition.name().to_string(),
            position: 0,
            source,
        };
        for (key, value) in records {
            builder
                .push(now, Some(key), value.as_deref(), &[])
                .map_err(invalid)?;
        }
        builder.build().map_err(invalid)
    }
}

/// The settings of `__consumer_offsets` when Sluice creates it.
fn offsets_log_config(config: &GroupConfig) -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        retention_ms: None,
        retention_bytes: None,
        segment_bytes: config.offsets_segment_bytes,
        ..LogConfig::default()
    }
}

/// Deletes (with tombstones) the group records of groups that have no
/// committed offsets left: such a group has no members after a restart and
/// nothing to show, so it is forgotten, as it would have been had the
/// broker kept running. Blocking.
fn forget_groups_without_offsets(
    partition: &Partition,
    replayed: &mut Replayed,
) -> Result<(), StorageError> {
    let stale: Vec<String> = replayed
        .groups
        .keys()
        .filter(|group| !replayed.offsets.has_group(group))
        .cloned()
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    let mut builder = BatchBuilder::new(BatchOptions::default());
    let invalid = |source| StorageError::InvalidBatch {
        partition: partition.name().to_string(),
        position: 0,
        source,
    };
    for group in &stale {
        let key = RecordKey::Group {
            group: group.clone(),
        }
        .encode();
        builder.push(now, Some(&key), None, &[]).map_err(invalid)?;
        replayed.groups.remove(group);
    }
    partition.append(builder.build().map_err(invalid)?)?;
    info!(
        groups = stale.len(),
        "forgot groups without committed offsets"
    );
    Ok(())
}

/// Reads the whole partition and rebuilds the committed offsets and group
/// metadata: later records win, tombstones delete.
fn replay(partition: &Partition) -> Result<Replayed, StorageError> {
    let mut replayed = Replayed::default();
    let marks = partition.watermarks();
    let mut next = marks.log_start;
    let mut records = 0u64;
    while next < marks.hw {
        let read = partition.read(next, REPLAY_READ_BYTES)?;
        let before = next;
        for item in Batches::new(read.batches, false) {
            let (header, batch) = item.map_err(|source| StorageError::Decode {
                partition: partition.name().to_string(),
                offset: next,
                source,
            })?;
            let from = next;
            next = next.max(header.next_offset());
            if header.is_control() {
                continue;
            }
            let decoded = decode_records(&batch).map_err(|source| StorageError::Decode {
                partition: partition.name().to_string(),
                offset: header.base_offset,
                source,
            })?;
            // The first batch of a read may start before `from`.
            for record in decoded.into_iter().filter(|r| r.offset >= from) {
                apply(
                    partition,
                    &mut replayed,
                    record.offset,
                    record.key,
                    record.value,
                )?;
                records += 1;
            }
        }
        if next == before {
            // Nothing below the high watermark could be read: stop rather
            // than spin. Cannot happen with a consistent log.
            warn!(partition = partition.name(), offset = %next, hw = %marks.hw, "offsets replay stopped early");
            break;
        }
    }
    info!(
        records,
        groups = replayed.offsets.group_ids().count(),
        "committed offsets loaded from {OFFSETS_TOPIC}"
    );
    Ok(replayed)
}

/// Applies one replayed record. Records that are not Sluice's (no key, or
/// a key it cannot read) are skipped with a warning: they cannot be
/// offsets it wrote, and a client producing junk to the topic must not
/// stop the broker from starting. A value it cannot read under a key it
/// knows is an error, since skipping it could rewind a group.
fn apply(
    partition: &Partition,
    replayed: &mut Replayed,
    offset: Offset,
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> Result<(), StorageError> {
    let key = match key.as_deref().map(RecordKey::decode) {
        Some(Ok(key)) => key,
        Some(Err(error)) => {
            warn!(%offset, %error, "skipping a {OFFSETS_TOPIC} record with an unknown key");
            return Ok(());
        }
        None => {
            warn!(%offset, "skipping a {OFFSETS_TOPIC} record without a key");
            return Ok(());
        }
    };
    let corrupt = |error: super::record::FormatError| {
        StorageError::CorruptSegment {
        path: partition.dir().to_path_buf(),
        reason: format!(
            "the {OFFSETS_TOPIC} record at offset {offset} has a value this Sluice cannot read ({error}); \
             start the Sluice version that wrote it, or move {} aside to start without committed offsets",
            partition.dir().display()
        ),
    }
    };
    match (key, value) {
        (
            RecordKey::Offset {
                group,
                topic,
                partition: index,
            },
            Some(value),
        ) => {
            let committed = decode_offset_value(&value).map_err(corrupt)?;
            replayed.offsets.commit(&group, &topic, index, committed);
        }
        (
            RecordKey::Offset {
                group,
                topic,
                partition: index,
            },
            None,
        ) => {
            replayed.offsets.delete(&group, &topic, index);
        }
        (RecordKey::Group { group }, Some(value)) => {
            replayed
                .groups
                .insert(group, decode_group_value(&value).map_err(corrupt)?);
        }
        (RecordKey::Group { group }, None) => {
            replayed.groups.remove(&group);
        }
    }
    Ok(())
}
