//! Records waiting to be sent, batched per partition, inside a fixed byte
//! budget.
//!
//! `send` appends into the partition's open batch; a batch closes when the
//! next record would take it past `batch_bytes_max`, when it has lingered
//! `linger`, or when a flush asks. The sender task takes closed batches
//! with [`Accumulator::drain`] (at most `max_in_flight_per_partition` per
//! partition at a time, oldest first, so records of a partition are sent
//! in order) and settles each with [`Accumulator::complete`] or hands it
//! back with [`Accumulator::retry`].
//!
//! Every record reserves its size from a semaphore of
//! `buffer_bytes_max` permits before it is appended, and the bytes return
//! when its batch settles: a producer faster than the cluster waits in
//! `send` (backpressure) instead of growing memory.
//!
//! The state is one std `Mutex`, held for a push into a batch or a scan of
//! the queues and never across an `.await`; compression happens later, in
//! the sender, outside it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use sluice_batch::{BatchBuilder, BatchOptions, Compression};
use sluice_types::{RecordHeader, Timestamp};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use super::delivery::{BatchOutcome, Delivery};
use crate::error::{ClientError, Result};
use crate::partitioner::{partition_for_key, StickyPartitioner};

/// What the accumulator needs to know of the producer's settings.
#[derive(Debug, Clone)]
pub(crate) struct BatchLimits {
    pub batch_bytes_max: usize,
    pub linger: Duration,
    pub compression: Compression,
    pub max_in_flight_per_partition: usize,
}

/// A record as `send` hands it over.
pub(crate) struct RecordParts<'a> {
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeader],
    pub timestamp: Timestamp,
}

/// The bytes of a batch on its way: still a builder until the sender
/// encodes (and compresses) it, then the encoded batch, kept for retries.
pub(crate) enum Payload {
    Building(BatchBuilder),
    Built(Bytes),
}

/// A batch that takes no more records.
pub(crate) struct ClosedBatch {
    pub topic: Arc<str>,
    pub partition: i32,
    pub payload: Payload,
    pub outcome: Arc<BatchOutcome>,
    pub records: u32,
    /// Buffer permits held by its records; returned when it settles.
    pub reserved_bytes: usize,
    /// Produce attempts so far.
    pub attempts: u32,
}

/// A batch dropped without being settled (its request task was aborted
/// with the producer) fails its records instead of leaving them waiting.
impl Drop for ClosedBatch {
    fn drop(&mut self) {
        if !self.outcome.is_settled() {
            let closed = ClientError::Closed { what: "producer" };
            self.outcome.settle(Err(Arc::new(closed)));
        }
    }
}

struct OpenBatch {
    builder: BatchBuilder,
    outcome: Arc<BatchOutcome>,
    records: u32,
    reserved_bytes: usize,
    opened: Instant,
}

#[derive(Default)]
struct PartitionQueue {
    /// Sequence number of the next batch's first record, for idempotent
    /// producers: batches are numbered as they open, in send order.
    next_sequence: i32,
    open: Option<OpenBatch>,
    /// Closed batches, oldest first.
    ready: VecDeque<ClosedBatch>,
    in_flight: usize,
    /// After a retriable failure, nothing is sent before this.
    backoff_until: Option<Instant>,
}

struct TopicQueues {
    name: Arc<str>,
    partitions: Vec<PartitionQueue>,
    sticky: StickyPartitioner,
}

#[derive(Default)]
struct State {
    topics: HashMap<Arc<str>, TopicQueues>,
    /// Batches opened and not yet settled; zero means idle.
    outstanding: usize,
    /// Flushes waiting: while any is, open batches are sent at once.
    flushes: usize,
    /// The first failed batch since the last flush.
    first_failure: Option<ClientError>,
}

/// Why a record could not be appended yet.
pub(crate) enum AppendError {
    /// The partition count of the topic is not known, or the explicit
    /// partition is beyond it: look the topic up and call again.
    NeedMetadata,
    Failed(ClientError),
}

/// Batches taken by the sender, and when to look again.
pub(crate) struct Drained {
    pub batches: Vec<ClosedBatch>,
    /// The earliest moment a lingering batch (or a backoff) ends.
    pub next_deadline: Option<Instant>,
}

/// An idempotent producer's id and epoch, from InitProducerId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

pub(crate) struct Accumulator {
    limits: BatchLimits,
    /// Set once, before the first record, for idempotent producers; every
    /// batch then carries it and a sequence number.
    identity: OnceLock<ProducerIdentity>,
    state: Mutex<State>,
    buffer: Semaphore,
    buffer_bytes_max: usize,
    /// Wakes the sender: a batch closed or opened, a flush began, a
    /// request settled.
    pub wake: Notify,
    /// Notified when the last outstanding batch settles.
    idle: Notify,
}

/// Bytes a record takes in a batch at most: the value, key and headers,
/// plus the varint lengths, deltas and attributes around them.
pub(crate) fn record_bytes(parts: &RecordParts<'_>) -> usize {
    let headers: usize = parts
        .headers
        .iter()
        .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len) + 10)
        .sum();
    21 + parts.key.map_or(0, <[u8]>::len) + parts.value.map_or(0, <[u8]>::len) + headers
}

impl Accumulator {
    pub(crate) fn new(limits: BatchLimits, buffer_bytes_max: usize) -> Accumulator {
        Accumulator {
            limits,
            identity: OnceLock::new(),
            state: Mutex::new(State::default()),
            buffer: Semaphore::new(buffer_bytes_max.min(Semaphore::MAX_PERMITS)),
            buffer_bytes_max,
            wake: Notify::new(),
            idle: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves half-updated queues, which
        // no caller can repair; propagating it is the honest outcome.
        self.state
            .lock()
            .expect("producer accumulator lock poisoned")
    }

    /// Waits for `bytes` of buffer; the caller must append or
    /// [`Accumulator::release`] them.
    pub(crate) async fn reserve(&self, bytes: usize) -> Result<()> {
        let permits = u32::try_from(bytes)
            .ok()
            .filter(|_| bytes <= self.buffer_bytes_max);
        let Some(permits) = permits else {
            return Err(ClientError::InvalidConfig {
                reason: format!("a record of {bytes} bytes exceeds the producer buffer"),
            });
        };
        match self.buffer.try_acquire_many(permits) {
            Ok(permit) => permit.forget(),
            Err(_) => self
                .buffer
                .acquire_many(permits)
                .await
                .map_err(|_| ClientError::Closed { what: "producer" })?
                .forget(),
        }
        Ok(())
    }

    /// Returns buffer bytes that were reserved and not appended.
    pub(crate) fn release(&self, bytes: usize) {
        self.buffer.add_permits(bytes);
    }

    /// Makes every batch opened from now on idempotent.
    pub(crate) fn set_identity(&self, identity: ProducerIdentity) {
        // Only the first identity counts: batches already numbered with it.
        let _ = self.identity.set(identity);
    }

    /// Tells the accumulator how many partitions `topic` has.
    pub(crate) fn set_partitions(&self, topic: &str, partitions: usize) {
        let mut state = self.state();
        let queues = state
            .topics
            .entry(Arc::from(topic))
            .or_insert_with(|| TopicQueues {
                name: Arc::from(topic),
                partitions: Vec::new(),
                sticky: StickyPartitioner::default(),
            });
        // Partitions are only ever added to a topic.
        if queues.partitions.len() < partitions {
            queues
                .partitions
                .resize_with(partitions, PartitionQueue::default);
        }
    }

    /// Appends a record whose `reserved` bytes are already reserved.
    pub(crate) fn append(
        &self,
        topic: &str,
        parts: &RecordParts<'_>,
        reserved: usize,
    ) -> Result<Delivery, AppendError> {
        let mut state = self.state();
        let state = &mut *state;
        let Some(queues) = state.topics.get_mut(topic) else {
            return Err(AppendError::NeedMetadata);
        };
        let count = queues.partitions.len();
        if count == 0 {
            return Err(AppendError::NeedMetadata);
        }
        let partition = match (parts.partition, parts.key) {
            (Some(partition), _) if partition < 0 => {
                return Err(AppendError::Failed(ClientError::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                    partitions: count,
                }))
            }
            (Some(partition), _) if partition as usize >= count => {
                return Err(AppendError::NeedMetadata)
            }
            (Some(partition), _) => partition,
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => queues.sticky.partition(count),
        };
        let batch_bytes_max = self.limits.batch_bytes_max;
        let is_full = |queue: &PartitionQueue| {
            queue.open.as_ref().is_some_and(|open| {
                open.records > 0 && open.builder.estimated_size() + reserved > batch_bytes_max
            })
        };
        let mut woke = false;
        let mut partition = partition;
        if parts.partition.is_none()
            && parts.key.is_none()
            && is_full(&queues.partitions[partition as usize])
        {
            // As Java's `abortOnNewBatch`: a keyless record that would
            // start a new batch moves on to the next sticky partition.
            let queue = &mut queues.partitions[partition as usize];
            close_open(queue, &queues.name, partition, &mut queues.sticky);
            woke = true;
            partition = queues.sticky.partition(count);
        }
        let queue = &mut queues.partitions[partition as usize];
        if is_full(queue) {
            close_open(queue, &queues.name, partition, &mut queues.sticky);
            woke = true;
        }
        let open = match &mut queue.open {
            Some(open) => open,
            slot @ None => {
                state.outstanding += 1;
                woke = true;
                let mut options = BatchOptions {
                    compression: self.limits.compression,
                    ..BatchOptions::default()
                };
                if let Some(identity) = self.identity.get() {
                    options.producer_id = identity.producer_id;
                    options.producer_epoch = identity.producer_epoch;
                    options.base_sequence = queue.next_sequence;
                }
                let capacity = self.limits.batch_bytes_max.max(reserved);
                slot.insert(OpenBatch {
                    builder: BatchBuilder::with_capacity(options, capacity),
                    outcome: BatchOutcome::new(queues.name.clone(), partition),
                    records: 0,
                    reserved_bytes: 0,
                    opened: Instant::now(),
                })
            }
        };
        let pushed = open
            .builder
            .push(parts.timestamp, parts.key, parts.value, parts.headers);
        if let Err(source) = pushed {
            return Err(AppendError::Failed(ClientError::Encode {
                topic: topic.to_owned(),
                source,
            }));
        }
        let delivery = Delivery {
            batch: open.outcome.clone(),
            index: open.records,
            timestamp: parts.timestamp,
        };
        open.records += 1;
        open.reserved_bytes += reserved;
        if open.builder.estimated_size() >= self.limits.batch_bytes_max {
            close_open(queue, &queues.name, partition, &mut queues.sticky);
            woke = true;
        }
        if woke {
            self.wake.notify_one();
        }
        Ok(delivery)
    }

    /// Takes the batches that may be sent now: per partition, the oldest
    /// closed batches while fewer than `max_in_flight_per_partition` are in
    /// flight, and the open batch too once it has lingered long enough (at
    /// once while a flush waits).
    pub(crate) fn drain(&self, now: Instant) -> Drained {
        let mut state = self.state();
        let flushing = state.flushes > 0;
        let mut batches = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        let mut earliest = |at: Instant| {
            next_deadline = Some(next_deadline.map_or(at, |d| d.min(at)));
        };
        for queues in state.topics.values_mut() {
            for (partition, queue) in queues.partitions.iter_mut().enumerate() {
                let partition = partition as i32;
                if let Some(until) = queue.backoff_until {
                    if until > now {
                        earliest(until);
                        continue;
                    }
                    queue.backoff_until = None;
                }
                while queue.in_flight < self.limits.max_in_flight_per_partition {
                    if queue.ready.is_empty() {
                        let Some(open) = &queue.open else { break };
                        let lingered = open.opened + self.limits.linger;
                        if !flushing && lingered > now {
                            earliest(lingered);
                            break;
                        }
                        close_open(queue, &queues.name, partition, &mut queues.sticky);
                    }
                    let Some(batch) = queue.ready.pop_front() else {
                        break;
                    };
                    queue.in_flight += 1;
                    batches.push(batch);
                }
            }
        }
        Drained {
            batches,
            next_deadline,
        }
    }

    /// Settles a batch the sender is done with, returns its buffer bytes
    /// and wakes a flush if it was the last one.
    pub(crate) fn complete(&self, batch: ClosedBatch, result: Result<i64, Arc<ClientError>>) {
        let idle = {
            let mut state = self.state();
            if let Some(queue) = partition_queue(&mut state, &batch.topic, batch.partition) {
                queue.in_flight -= 1;
            }
            state.outstanding -= 1;
            if let Err(cause) = &result {
                state
                    .first_failure
                    .get_or_insert_with(|| ClientError::Delivery {
                        topic: batch.topic.to_string(),
                        partition: batch.partition,
                        records: batch.records as usize,
                        source: cause.clone(),
                    });
            }
            state.outstanding == 0
        };
        self.buffer.add_permits(batch.reserved_bytes);
        batch.outcome.settle(result);
        if idle {
            self.idle.notify_waiters();
        }
        self.wake.notify_one();
    }

    /// Puts a batch back at the head of its partition's queue, to be sent
    /// again after `backoff`.
    pub(crate) fn retry(&self, batch: ClosedBatch, backoff: Duration) {
        {
            let mut state = self.state();
            let topic = batch.topic.clone();
            let partition = batch.partition;
            if let Some(queue) = partition_queue(&mut state, &topic, partition) {
                queue.in_flight -= 1;
                queue.backoff_until = Some(Instant::now() + backoff);
                queue.ready.push_front(batch);
            }
        }
        self.wake.notify_one();
    }

    /// Sends every batch without waiting for linger and waits until all
    /// batches opened so far (and any opened meanwhile) have settled.
    /// Returns the first delivery failure since the previous flush.
    pub(crate) async fn flush(&self) -> Option<ClientError> {
        self.state().flushes += 1;
        self.wake.notify_one();
        loop {
            let idle = self.idle.notified();
            if self.state().outstanding == 0 {
                break;
            }
            idle.await;
        }
        let mut state = self.state();
        state.flushes -= 1;
        state.first_failure.take()
    }

    /// True when nothing is buffered or in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.state().outstanding == 0
    }

    /// Fails every batch not yet in flight with `error`, for a producer
    /// dropped without `close`.
    pub(crate) fn abandon(&self, error: ClientError) {
        let error = Arc::new(error);
        let mut abandoned = Vec::new();
        {
            let mut state = self.state();
            for queues in state.topics.values_mut() {
                for (partition, queue) in queues.partitions.iter_mut().enumerate() {
                    if queue.open.is_some() {
                        close_open(queue, &queues.name, partition as i32, &mut queues.sticky);
                    }
                    queue.in_flight += queue.ready.len();
                    abandoned.extend(queue.ready.drain(..));
                }
            }
        }
        for batch in abandoned {
            self.complete(batch, Err(error.clone()));
        }
    }
}

/// The sequence after `records` records from `sequence`, wrapping past
/// `i32::MAX` to 0 as Kafka's `DefaultRecordBatch.incrementSequence` does.
fn next_sequence(sequence: i32, records: u32) -> i32 {
    let records = records as i32;
    if sequence > i32::MAX - records {
        records - (i32::MAX - sequence) - 1
    } else {
        sequence + records
    }
}

fn partition_queue<'a>(
    state: &'a mut State,
    topic: &str,
    partition: i32,
) -> Option<&'a mut PartitionQueue> {
    state
        .topics
        .get_mut(topic)?
        .partitions
        .get_mut(usize::try_from(partition).ok()?)
}

/// Moves the open batch of `queue` to the back of its ready queue.
fn close_open(
    queue: &mut PartitionQueue,
    topic: &Arc<str>,
    partition: i32,
    sticky: &mut StickyPartitioner,
) {
    if let Some(open) = queue.open.take() {
        sticky.batch_closed(partition);
        queue.next_sequence = next_sequence(queue.next_sequence, open.records);
        queue.ready.push_back(ClosedBatch {
            topic: topic.clone(),
            partition,
            payload: Payload::Building(open.builder),
            outcome: open.outcome,
            records: open.records,
            reserved_bytes: open.reserved_bytes,
            attempts: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accumulator(batch_bytes_max: usize, linger_ms: u64) -> Accumulator {
        let limits = BatchLimits {
            batch_bytes_max,
            linger: Duration::from_millis(linger_ms),
            compression: Compression::None,
            max_in_flight_per_partition: 1,
        };
        Accumulator::new(limits, 1 << 20)
    }

    fn parts<'a>(key: Option<&'a [u8]>, value: &'a [u8]) -> RecordParts<'a> {
        RecordParts {
            partition: None,
            key,
            value: Some(value),
            headers: &[],
            timestamp: Timestamp(1),
        }
    }

    fn append(acc: &Accumulator, parts: &RecordParts<'_>) -> Delivery {
        let bytes = record_bytes(parts);
        match acc.append("t", parts, bytes) {
            Ok(delivery) => delivery,
            Err(AppendError::NeedMetadata) => panic!("metadata"),
            Err(AppendError::Failed(error)) => panic!("{error}"),
        }
    }

    #[test]
    fn unknown_topic_asks_for_metadata() {
        let acc = accumulator(1000, 0);
        let record = parts(None, b"v");
        assert!(matches!(
            acc.append("t", &record, 30),
            Err(AppendError::NeedMetadata)
        ));
        acc.set_partitions("t", 2);
        let explicit = RecordParts {
            partition: Some(2),
            ..parts(None, b"v")
        };
        assert!(matches!(
            acc.append("t", &explicit, 30),
            Err(AppendError::NeedMetadata)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn batches_close_when_full_or_lingered_and_go_one_per_partition() {
        let acc = accumulator(200, 10);
        acc.set_partitions("t", 4);
        let value = [7u8; 50];
        // Keyless records stick to partition 0 until its batch is full.
        let first = append(&acc, &parts(None, &value));
        assert_eq!(first.batch.partition, 0);
        let mut last = first.clone();
        while last.batch.partition == 0 {
            last = append(&acc, &parts(None, &value));
        }
        assert_eq!(last.batch.partition, 1, "moved on after the batch closed");
        // The full batch goes now; partition 1's open batch lingers.
        let drained = acc.drain(Instant::now());
        assert_eq!(drained.batches.len(), 1);
        assert_eq!(drained.batches[0].partition, 0);
        assert_eq!(
            drained.next_deadline,
            Some(Instant::now() + Duration::from_millis(10))
        );
        tokio::time::advance(Duration::from_millis(10)).await;
        let lingered = acc.drain(Instant::now());
        assert_eq!(lingered.batches.len(), 1);
        assert_eq!(lingered.batches[0].partition, 1);
        assert!(!acc.is_idle());
        for batch in drained.batches.into_iter().chain(lingered.batches) {
            acc.complete(batch, Ok(0));
        }
        assert!(acc.is_idle());
        assert_eq!(last.await.unwrap().offset, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_sends_in_order_and_a_retry_goes_first() {
        let acc = accumulator(100, 0);
        acc.set_partitions("t", 1);
        let key: &[u8] = b"k";
        for _ in 0..6 {
            append(&acc, &parts(Some(key), &[1u8; 40]));
        }
        let mut drained = acc.drain(Instant::now()).batches;
        assert_eq!(drained.len(), 1, "one batch in flight per partition");
        assert!(acc.drain(Instant::now()).batches.is_empty());
        let first = drained.pop().unwrap();
        let first_outcome = first.outcome.clone();
        acc.retry(first, Duration::from_millis(50));
        assert!(acc.drain(Instant::now()).batches.is_empty(), "backing off");
        tokio::time::advance(Duration::from_millis(50)).await;
        let again = acc.drain(Instant::now()).batches;
        assert!(
            Arc::ptr_eq(&again[0].outcome, &first_outcome),
            "the retried batch first"
        );
    }

    #[test]
    fn sequences_wrap_as_kafkas() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 5, 5), i32::MAX);
        assert_eq!(next_sequence(i32::MAX - 5, 6), 0);
        assert_eq!(next_sequence(i32::MAX, 3), 2);
    }

    #[tokio::test]
    async fn idempotent_batches_carry_the_producer_and_consecutive_sequences() {
        let acc = accumulator(200, 0);
        acc.set_partitions("t", 1);
        acc.set_identity(ProducerIdentity {
            producer_id: 77,
            producer_epoch: 3,
        });
        for _ in 0..7 {
            append(&acc, &parts(Some(b"k"), &[0u8; 50]));
        }
        let mut sequences = Vec::new();
        loop {
            let mut drained = acc.drain(Instant::now()).batches;
            let Some(mut batch) = drained.pop() else {
                break;
            };
            let Payload::Building(builder) =
                std::mem::replace(&mut batch.payload, Payload::Built(Bytes::new()))
            else {
                unreachable!()
            };
            let bytes = builder.build().unwrap();
            let header = sluice_batch::BatchHeader::parse(&bytes).unwrap();
            assert_eq!((header.producer_id, header.producer_epoch), (77, 3));
            sequences.push((header.base_sequence, header.record_count));
            acc.complete(batch, Ok(0));
        }
        let mut expected = 0;
        for (base, count) in &sequences {
            assert_eq!(*base, expected, "{sequences:?}");
            expected += count;
        }
        assert_eq!(expected, 7);
        assert!(sequences.len() > 1, "{sequences:?}");
    }

    #[tokio::test]
    async fn a_batch_dropped_unsettled_fails_its_records() {
        let acc = accumulator(1000, 0);
        acc.set_partitions("t", 1);
        let delivery = append(&acc, &parts(None, b"v"));
        let batch = acc.drain(Instant::now()).batches.pop().unwrap();
        drop(batch);
        let error = delivery.await.unwrap_err();
        assert!(error.to_string().contains("not delivered"), "{error}");
    }

    #[tokio::test]
    async fn flush_returns_the_first_failure_once() {
        let acc = Arc::new(accumulator(1000, 60_000));
        acc.set_partitions("t", 1);
        append(&acc, &parts(None, b"v"));
        let flusher = {
            let acc = acc.clone();
            tokio::spawn(async move { acc.flush().await })
        };
        // The flush makes the lingering batch sendable at once.
        let batch = loop {
            if let Some(batch) = acc.drain(Instant::now()).batches.pop() {
                break batch;
            }
            tokio::task::yield_now().await;
        };
        acc.complete(batch, Err(Arc::new(ClientError::Closed { what: "test" })));
        let failure = flusher.await.unwrap().expect("the failure");
        assert!(matches!(failure, ClientError::Delivery { records: 1, .. }));
        assert!(acc.flush().await.is_none(), "reported once");
    }
}
