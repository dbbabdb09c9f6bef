//! Appends to one partition from async handlers: in the order they are
//! submitted, never blocking the submitting thread, and for idempotent
//! producers in one step with their sequence check.
//!
//! Why a queue in front of the log's own: `Partition::append_with` blocks
//! while the log's bounded queue is full, which must not happen on a
//! reactor thread. [`AppendQueue::submit`] hands an append to the log with
//! the non-blocking `try_append_with`. When the log's queue is full, that
//! append and every later one wait here, in order, and one blocking task
//! feeds them to the log as room frees up. This overflow is bounded too
//! ([`OVERFLOW_APPENDS_MAX`]); past it an append is refused with the
//! retriable REQUEST_TIMED_OUT, since the disk is far behind.
//!
//! Order and atomicity: `submit` is synchronous and holds a std `Mutex`
//! (never across an `.await`) over the sequence check and the hand-off, so
//! the appends of one connection reach the log in request order, and no
//! other request slips between a producer's check and its append. The
//! caller awaits the outcome after `submit` returns, so pipelined requests
//! still share one fsync (group commit).
//!
//! After a restart the producer table is empty. On the first idempotent
//! batch to this partition, [`AppendQueue::load_producers`] rebuilds it
//! from the batch headers in the tail of the log (about
//! [`PRODUCER_SCAN_BYTES_MAX`], read off the reactor), so a batch retried
//! across the restart is still recognised. Producers whose batches all lie
//! before that window are accepted at whatever sequence they continue
//! with, as Kafka does for producers whose state expired.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use sluice_batch::{BatchHeader, Batches};
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::partition::NotQueued;
use sluice_storage::{AppendInfo, Partition, StorageError};
use sluice_types::Offset;
use tokio::sync::{watch, OnceCell};
use tracing::{debug, info, warn};

use crate::error_code::{code, storage_error_code};
use crate::producer_state::{AppendFailure, IdempotentBatch, OutcomeWatch, ProducerTable, Verdict};

/// Appends waiting here while the log's queue is full.
pub const OVERFLOW_APPENDS_MAX: usize = 1024;

/// About how many bytes of a partition's tail are scanned to rebuild its
/// producers after a restart.
pub const PRODUCER_SCAN_BYTES_MAX: usize = 32 << 20;

/// Bytes per read while scanning.
const SCAN_READ_BYTES: usize = 1 << 20;
/// Offsets the first scan pass covers, back from the high watermark.
const SCAN_FIRST_SPAN_OFFSETS: i64 = 4096;
/// Scan passes at most (each aims at the byte budget from what the last
/// one saw).
const SCAN_PASSES_MAX: usize = 4;

/// The log's callback type (`sluice_storage`'s `Reply`).
type Reply = Box<dyn FnOnce(sluice_storage::Result<AppendInfo>) + Send>;

/// What became of a submitted append.
#[derive(Debug)]
pub enum Submitted {
    /// Queued; the log's outcome appears on the watch.
    Queued(OutcomeWatch),
    /// A retry of a batch queued or stored earlier: not appended again;
    /// answer with that batch's outcome.
    Duplicate(OutcomeWatch),
    /// Not queued.
    Refused(AppendFailure),
}

/// The ordered way into one partition's log; see the module docs.
pub struct AppendQueue {
    /// The partition this queue was made for; a topic deleted and created
    /// again gets a new queue.
    partition: Weak<Partition>,
    state: Mutex<QueueState>,
    /// Set once the producer table holds what the log's tail says.
    producers_loaded: OnceCell<()>,
}

struct QueueState {
    producers: ProducerTable,
    /// Appends waiting for room in the log's queue, oldest first.
    overflow: VecDeque<(Bytes, Reply)>,
    /// True while a blocking task feeds `overflow` to the log: new appends
    /// go behind it even when it is momentarily empty.
    draining: bool,
    /// Times the log's queue was found full (each starts a drain).
    overflow_episodes: u64,
}

impl AppendQueue {
    pub fn new(partition: &Arc<Partition>) -> Self {
        AppendQueue {
            partition: Arc::downgrade(partition),
            state: Mutex::new(QueueState {
                producers: ProducerTable::new(),
                overflow: VecDeque::new(),
                draining: false,
                overflow_episodes: 0,
            }),
            producers_loaded: OnceCell::new(),
        }
    }

    /// True when this queue belongs to `partition` (and not to an earlier
    /// partition of a topic with the same name).
    pub fn is_for(&self, partition: &Arc<Partition>) -> bool {
        std::ptr::eq(self.partition.as_ptr(), Arc::as_ptr(partition))
    }

    /// False once the partition is gone (its topic deleted).
    pub fn is_live(&self) -> bool {
        self.partition.strong_count() > 0
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().expect("append queue lock poisoned")
    }

    /// Hands `batches` to the log, or refuses it. `idempotent` carries the
    /// producer fields of an idempotent batch, which must pass its
    /// sequence check first; `allocated_before_start` says whether its
    /// producer id predates this broker process. Call
    /// [`AppendQueue::load_producers`] before the first idempotent batch.
    pub fn submit(
        self: &Arc<Self>,
        partition: &Arc<Partition>,
        batches: Bytes,
        idempotent: Option<(IdempotentBatch, bool)>,
    ) -> Submitted {
        debug_assert!(self.is_for(partition), "append queue of another partition");
        let mut state = self.lock();
        if let Some((batch, allocated_before_start)) = &idempotent {
            debug_assert!(self.producers_loaded.initialized(), "producers not loaded");
            match state.producers.check(batch, *allocated_before_start) {
                Verdict::Append => {}
                Verdict::Duplicate(original) => return Submitted::Duplicate(original),
                Verdict::Reject(failure) => return Submitted::Refused(failure),
            }
        }
        let (sender, outcome) = watch::channel(None);
        let done: Reply = Box::new(move |result| {
            let outcome = result.map_err(|error| AppendFailure {
                code: storage_error_code(&error),
                message: error.to_string(),
            });
            sender.send_replace(Some(outcome));
        });
        if state.draining {
            if state.overflow.len() >= OVERFLOW_APPENDS_MAX {
                return Submitted::Refused(AppendFailure {
                    code: code(ResponseError::RequestTimedOut),
                    message: format!(
                        "partition {}: {OVERFLOW_APPENDS_MAX} appends are waiting for the disk; retry later",
                        partition.name()
                    ),
                });
            }
            state.overflow.push_back((batches, done));
        } else {
            match partition.try_append_with(batches, done) {
                Ok(()) => {}
                Err(NotQueued::Full { batches, done }) => {
                    debug!(partition = %partition.name(), "log queue full; appends wait in order");
                    state.overflow.push_back((batches, done));
                    state.draining = true;
                    state.overflow_episodes += 1;
                    let queue = self.clone();
                    let partition = partition.clone();
                    tokio::task::spawn_blocking(move || queue.drain(&partition));
                }
                Err(NotQueued::Closed { .. }) => {
                    let error = StorageError::Closed {
                        partition: partition.name().to_string(),
                    };
                    return Submitted::Refused(AppendFailure {
                        code: storage_error_code(&error),
                        message: error.to_string(),
                    });
                }
            }
        }
        if let Some((batch, _)) = &idempotent {
            state.producers.record(batch, outcome.clone());
        }
        Submitted::Queued(outcome)
    }

    /// Times the log's queue was found full, so appends waited here.
    pub fn overflow_episodes(&self) -> u64 {
        self.lock().overflow_episodes
    }

    /// Feeds the overflow to the log, blocking while its queue is full.
    /// Runs on a blocking thread.
    fn drain(&self, partition: &Partition) {
        loop {
            let (batches, done) = {
                let mut state = self.lock();
                match state.overflow.pop_front() {
                    Some(append) => append,
                    None => {
                        state.draining = false;
                        return;
                    }
                }
            };
            // On error the callback was dropped with the append; its watch
            // reports the failure to whoever waits.
            if let Err(error) = partition.append_with(batches, done) {
                debug!(partition = %partition.name(), %error, "append dropped");
            }
        }
    }

    /// Rebuilds the producer table from the log's tail, once; later calls
    /// return at once.
    pub async fn load_producers(&self, partition: &Arc<Partition>) {
        self.producers_loaded
            .get_or_init(|| async {
                let for_scan = partition.clone();
                let scanned = tokio::task::spawn_blocking(move || scan_tail(&for_scan)).await;
                let mut state = self.lock();
                match scanned {
                    Ok(Ok(headers)) => {
                        for header in &headers {
                            state.producers.record_stored(header);
                        }
                        if !state.producers.is_empty() {
                            info!(
                                partition = %partition.name(),
                                producers = state.producers.len(),
                                batches = headers.len(),
                                "producer state rebuilt from the log"
                            );
                        }
                    }
                    Ok(Err(error)) => {
                        warn!(partition = %partition.name(), %error, "cannot rebuild producer state; unknown producers are accepted as they are");
                        state.producers.mark_state_lost();
                    }
                    Err(error) => {
                        warn!(partition = %partition.name(), %error, "producer state scan failed; unknown producers are accepted as they are");
                        state.producers.mark_state_lost();
                    }
                }
            })
            .await;
    }
}

/// The headers of the batches in about the last
/// [`PRODUCER_SCAN_BYTES_MAX`] bytes below the high watermark, oldest
/// first. Offsets, not bytes, are what reads take, so each pass covers a
/// span of offsets sized from the bytes per offset the previous pass saw.
fn scan_tail(partition: &Partition) -> sluice_storage::Result<Vec<BatchHeader>> {
    let marks = partition.watermarks();
    let mut span = SCAN_FIRST_SPAN_OFFSETS;
    for pass in 1.. {
        let from = Offset(marks.hw.0.saturating_sub(span).max(marks.log_start.0));
        let (headers, bytes) = headers_between(partition, from, marks.hw)?;
        if from <= marks.log_start
            || bytes >= PRODUCER_SCAN_BYTES_MAX / 2
            || pass == SCAN_PASSES_MAX
        {
            return Ok(headers);
        }
        let aimed = span.saturating_mul(PRODUCER_SCAN_BYTES_MAX as i64) / bytes.max(1) as i64;
        span = aimed.clamp(span.saturating_mul(2), span.saturating_mul(64));
    }
    unreachable!("the last pass returns")
}

/// The headers of the batches from the one holding `from` up to `to`, and
/// their total size in bytes.
fn headers_between(
    partition: &Partition,
    from: Offset,
    to: Offset,
) -> sluice_storage::Result<(Vec<BatchHeader>, usize)> {
    let mut headers = Vec::new();
    let mut bytes = 0;
    let mut next = from;
    while next < to {
        let read = partition.read(next, SCAN_READ_BYTES)?;
        let before = headers.len();
        for item in Batches::new(read.batches, false) {
            let (header, batch) = item.map_err(|source| StorageError::Decode {
                partition: partition.name().to_string(),
                offset: next,
                source,
            })?;
            if header.base_offset >= to {
                break;
            }
            bytes += batch.len();
            next = header.next_offset();
            headers.push(header);
        }
        if headers.len() == before {
            break;
        }
    }
    Ok((headers, bytes))
}

#[cfg(test)]
mod tests {
    use sluice_batch::{BatchBuilder, BatchOptions};
    use sluice_storage::LogConfig;
    use sluice_types::Timestamp;

    use super::*;
    use crate::producer_state::outcome;

    fn batch(producer_id: i64, base_sequence: i32, records: usize) -> Bytes {
        let mut builder = BatchBuilder::new(BatchOptions {
            producer_id,
            producer_epoch: 0,
            base_sequence,
            ..BatchOptions::default()
        });
        for _ in 0..records {
            builder
                .push(Timestamp(1), None, Some(b"value"), &[])
                .unwrap();
        }
        builder.build().unwrap()
    }

    fn idempotent(bytes: &Bytes) -> Option<(IdempotentBatch, bool)> {
        let header = BatchHeader::parse(bytes).unwrap();
        IdempotentBatch::of(&header).map(|batch| (batch, false))
    }

    async fn submitted_offset(submitted: Submitted) -> i64 {
        match submitted {
            Submitted::Queued(watch) | Submitted::Duplicate(watch) => {
                outcome(watch).await.unwrap().base_offset.0
            }
            Submitted::Refused(failure) => panic!("refused: {failure:?}"),
        }
    }

    #[tokio::test]
    async fn producers_are_rebuilt_from_the_log_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::default();
        {
            let log = Arc::new(Partition::open(dir.path(), "t-0", config.clone()).unwrap());
            let queue = Arc::new(AppendQueue::new(&log));
            queue.load_producers(&log).await;
            for (sequence, records) in [(0, 2), (2, 3)] {
                let bytes = batch(11, sequence, records);
                let info = idempotent(&bytes);
                submitted_offset(queue.submit(&log, bytes, info)).await;
            }
            let plain = batch(-1, -1, 4);
            submitted_offset(queue.submit(&log, plain, None)).await;
            log.close().unwrap();
        }
        let log = Arc::new(Partition::open(dir.path(), "t-0", config).unwrap());
        let queue = Arc::new(AppendQueue::new(&log));
        queue.load_producers(&log).await;
        let retried = batch(11, 2, 3);
        let info = idempotent(&retried);
        let submitted = queue.submit(&log, retried, info);
        assert!(
            matches!(submitted, Submitted::Duplicate(_)),
            "{submitted:?}"
        );
        assert_eq!(submitted_offset(submitted).await, 2);
        let gap = batch(11, 6, 1);
        let info = idempotent(&gap);
        assert!(matches!(
            queue.submit(&log, gap, info),
            Submitted::Refused(_)
        ));
        let next = batch(11, 5, 1);
        let info = idempotent(&next);
        assert_eq!(submitted_offset(queue.submit(&log, next, info)).await, 9);
    }

    #[tokio::test]
    async fn appends_keep_their_order_when_the_log_queue_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Partition::open(dir.path(), "t-0", LogConfig::default()).unwrap());
        let queue = Arc::new(AppendQueue::new(&log));
        let one_record = batch(-1, -1, 1);
        let mut outcomes = Vec::new();
        // Submitting is much cheaper than writing: the log's queue fills.
        while queue.overflow_episodes() == 0 || outcomes.len() < 3 * OVERFLOW_APPENDS_MAX {
            assert!(outcomes.len() < 500_000, "the log's queue never filled");
            match queue.submit(&log, one_record.clone(), None) {
                Submitted::Queued(watch) => outcomes.push(watch),
                // The overflow is full too: let the disk catch up.
                Submitted::Refused(_) => break,
                Submitted::Duplicate(_) => unreachable!("not idempotent"),
            }
        }
        for (expected, watch) in outcomes.into_iter().enumerate() {
            let info = outcome(watch).await.unwrap();
            assert_eq!(
                info.base_offset,
                Offset(expected as i64),
                "appends reordered"
            );
        }
        log.close().unwrap();
    }

    #[tokio::test]
    async fn a_closed_partition_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Partition::open(dir.path(), "t-0", LogConfig::default()).unwrap());
        let queue = Arc::new(AppendQueue::new(&log));
        log.close().unwrap();
        let submitted = queue.submit(&log, batch(-1, -1, 1), None);
        let Submitted::Refused(failure) = submitted else {
            panic!("not refused: {submitted:?}");
        };
        assert_eq!(failure.code, 56, "{failure:?}");
    }
}
