//! [`Consumer`]: reads assigned partitions from a starting position.
//!
//! Each partition has two offsets: the *fetch offset* (where the next
//! Fetch starts) and the *position* (the offset of the next record `poll`
//! returns, which is what a group commits). A Fetch runs per leader, one at
//! a time, and is re-issued as soon as its answer is in, so the broker
//! reads (or long-polls, `max_wait`/`min_bytes`) while the caller works
//! through the records. A partition is fetched ahead while at most one
//! answer of it waits to be returned, so the buffer holds at most two
//! answers per partition (`partition_max_bytes` each).
//!
//! Starting positions ([`StartFrom`]) are resolved with ListOffsets. An
//! OFFSET_OUT_OF_RANGE answer resets the partition to `reset` (earliest or
//! latest), as Kafka's `auto.offset.reset` does; a leader that moved is
//! found again through a metadata refresh. Every seek bumps the
//! partition's epoch, and answers or buffered records of an older epoch
//! are dropped.
//!
//! This type knows nothing of groups; [`crate::group::GroupConsumer`]
//! decides its assignment.

mod fetch;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_types::{RecordHeader, Timestamp};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, warn};

use fetch::{AnswerRecords, FetchAsk, FetchLimits, PartitionAnswer};

use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::offsets::{resolve_starts, StartFrom};
use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::FetchResponse;

/// A record as a consumer receives it. Key, value and header fields are
/// slices of the fetched bytes, not copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Timestamp,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<RecordHeader>,
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// How long the broker may hold a Fetch waiting for `min_bytes`.
    pub max_wait: Duration,
    /// Bytes the broker waits for before answering early.
    pub min_bytes: i32,
    /// Largest Fetch response.
    pub max_bytes: i32,
    /// Largest answer for one partition in a Fetch (a first batch larger
    /// than this is still served whole).
    pub partition_max_bytes: i32,
    /// Where to go after OFFSET_OUT_OF_RANGE: `Earliest` or `Latest`.
    pub reset: StartFrom,
    /// Records one `poll` returns at most.
    pub max_poll_records: usize,
}

/// The sizes keep each Fetch answer well under 32 MiB, the largest block
/// glibc's allocator recycles (`M_MMAP_THRESHOLD` tops out there): larger
/// answers get fresh pages from the kernel every time, and faulting them
/// in made consuming several times slower in `sluice bench produce`.
impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 16 << 20,
            partition_max_bytes: 1 << 20,
            reset: StartFrom::Earliest,
            max_poll_records: 10_000,
        }
    }
}

type Tp = (Arc<str>, i32);

struct PartitionState {
    /// Set until the starting position is resolved.
    pending: Option<StartFrom>,
    fetch_offset: i64,
    position: i64,
    high_watermark: i64,
    /// Bumped by every seek.
    epoch: u64,
    /// A Fetch for this partition is in flight.
    fetching: bool,
    /// Answers of this partition waiting (decoded or not) to be returned.
    buffered_answers: usize,
}

/// One partition's Fetch answer waiting to be returned.
struct Chunk {
    tp: Tp,
    epoch: u64,
    records: AnswerRecords,
    /// Where the partition's position goes once the chunk is drained.
    next_offset: i64,
}

type FetchOutcome = (i32, Vec<FetchAsk>, Result<FetchResponse>);

/// Fetches records of an explicit set of partitions.
pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    partitions: BTreeMap<Tp, PartitionState>,
    chunks: VecDeque<Chunk>,
    fetches: JoinSet<FetchOutcome>,
    /// Leaders with a Fetch in flight.
    busy_leaders: BTreeSet<i32>,
    /// A decoding error to return from the next `poll`.
    failed: Option<ClientError>,
    /// This consumer's own connection per leader: a Fetch may be held for
    /// `max_wait`, which must not delay anyone else's requests.
    connections: BTreeMap<i32, Arc<Connection>>,
}

impl Consumer {
    /// A consumer with nothing assigned.
    pub fn new(cluster: Arc<Cluster>, config: ConsumerConfig) -> Consumer {
        Consumer {
            cluster,
            config,
            partitions: BTreeMap::new(),
            chunks: VecDeque::new(),
            fetches: JoinSet::new(),
            busy_leaders: BTreeSet::new(),
            connections: BTreeMap::new(),
            failed: None,
        }
    }

    /// The cluster this consumer reads from.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Replaces the assignment. Partitions already assigned keep their
    /// position; new ones start at their given position.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = (Arc<str>, i32, StartFrom)>) {
        let mut next = BTreeMap::new();
        for (topic, partition, start) in partitions {
            let tp = (topic, partition);
            let state = self.partitions.remove(&tp).unwrap_or(PartitionState {
                pending: Some(start),
                fetch_offset: -1,
                position: -1,
                high_watermark: -1,
                epoch: 0,
                fetching: false,
                buffered_answers: 0,
            });
            next.insert(tp, state);
        }
        self.partitions = next;
        let partitions = &self.partitions;
        self.chunks
            .retain(|chunk| partitions.contains_key(&chunk.tp));
    }

    /// Assigns every partition of `topic`, each starting at `start`.
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`] or a metadata request's error.
    pub async fn assign_topic(&mut self, topic: &str, start: StartFrom) -> Result<()> {
        let metadata = self.cluster.topic(topic).await?;
        let name: Arc<str> = Arc::from(topic);
        let mut all: Vec<(Arc<str>, i32, StartFrom)> = self
            .partitions
            .keys()
            .filter(|(t, _)| **t != *topic)
            .map(|(t, p)| (t.clone(), *p, StartFrom::Earliest))
            .collect();
        all.extend(
            metadata
                .partitions
                .iter()
                .map(|p| (name.clone(), p.partition, start)),
        );
        self.assign(all);
        Ok(())
    }

    /// The partitions assigned, in order.
    pub fn assignment(&self) -> Vec<(Arc<str>, i32)> {
        self.partitions.keys().cloned().collect()
    }

    /// Moves `topic`-`partition` to `start`, dropping what was fetched.
    pub fn seek(&mut self, topic: &str, partition: i32, start: StartFrom) {
        let key = (Arc::from(topic), partition);
        if let Some(state) = self.partitions.get_mut(&key) {
            state.pending = Some(start);
            state.epoch += 1;
            state.buffered_answers = 0;
            self.chunks.retain(|chunk| chunk.tp != key);
        }
    }

    /// The offset of the next record `poll` returns for the partition, once
    /// its starting position is resolved.
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.partitions.get(&(Arc::from(topic), partition))?;
        (state.pending.is_none()).then_some(state.position)
    }

    /// Every resolved position: what a group commits.
    pub fn positions(&self) -> Vec<(Arc<str>, i32, i64)> {
        self.partitions
            .iter()
            .filter(|(_, state)| state.pending.is_none())
            .map(|((topic, partition), state)| (topic.clone(), *partition, state.position))
            .collect()
    }

    /// The high watermark from the latest Fetch of the partition (-1
    /// before the first).
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.partitions.get(&(Arc::from(topic), partition))?;
        Some(state.high_watermark)
    }

    /// Returns up to `max_poll_records` records, waiting up to about
    /// `max_wait` for some to arrive; empty when none did.
    ///
    /// # Errors
    /// A partition error that is not retriable (e.g. authorization, a
    /// corrupt batch), an unknown topic, or a retriable one that persists.
    pub async fn poll(&mut self) -> Result<Vec<ConsumerRecord>> {
        let max = self.config.max_poll_records;
        self.poll_max(max).await
    }

    /// As [`Consumer::poll`], returning at most `max_records`.
    ///
    /// # Errors
    /// As [`Consumer::poll`].
    pub async fn poll_max(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let deadline = Instant::now() + self.config.max_wait;
        loop {
            // Fetches first, so the broker reads ahead while records of
            // earlier answers are decoded and handed out.
            self.resolve_positions().await?;
            self.start_fetches().await?;
            let records = self.take_buffered(max_records.max(1));
            if !records.is_empty() {
                return Ok(records);
            }
            if let Some(error) = self.failed.take() {
                return Err(error);
            }
            if self.fetches.is_empty() {
                // Nothing to fetch (nothing assigned, or no leader right
                // now): wait instead of spinning.
                tokio::time::sleep_until(deadline).await;
                return Ok(Vec::new());
            }
            let Some(joined) = self.fetches.join_next().await else {
                continue;
            };
            let (leader, asks, result) = match joined {
                Ok(outcome) => outcome,
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            };
            self.busy_leaders.remove(&leader);
            self.settle_fetch(asks, result).await?;
            if self.chunks.is_empty() && Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }

    /// Takes up to `max` buffered records, advancing positions. A batch
    /// that cannot be decoded stops the taking: the records before it are
    /// returned now, the error by the next `poll`.
    fn take_buffered(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        while out.len() < max && self.failed.is_none() {
            let Some(chunk) = self.chunks.front_mut() else {
                break;
            };
            let Some(state) = self
                .partitions
                .get_mut(&chunk.tp)
                .filter(|state| state.epoch == chunk.epoch)
            else {
                self.chunks.pop_front();
                continue;
            };
            let before = out.len();
            let drained = match chunk.records.take_into(&mut out, max) {
                Ok(drained) => drained,
                Err(error) => {
                    self.failed = Some(error);
                    false
                }
            };
            if out.len() > before {
                state.position = state.position.max(out[out.len() - 1].offset + 1);
            }
            if drained {
                state.position = state.position.max(chunk.next_offset);
                state.buffered_answers -= 1;
                self.chunks.pop_front();
            }
        }
        out
    }

    /// Resolves pending starting positions with ListOffsets.
    async fn resolve_positions(&mut self) -> Result<()> {
        let pending: Vec<(Arc<str>, i32, StartFrom)> = self
            .partitions
            .iter()
            .filter_map(|(tp, state)| state.pending.map(|start| (tp.0.clone(), tp.1, start)))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let offsets = resolve_starts(&self.cluster, &pending).await?;
        for ((topic, partition, _), offset) in pending.into_iter().zip(offsets) {
            if let Some(state) = self.partitions.get_mut(&(topic.clone(), partition)) {
                state.pending = None;
                state.fetch_offset = offset;
                state.position = offset;
                debug!(topic = %topic, partition, offset, "starting position");
            }
        }
        Ok(())
    }

    /// Starts a Fetch for every leader without one, covering its
    /// partitions that have no Fetch in flight and at most one answer
    /// waiting to be returned.
    async fn start_fetches(&mut self) -> Result<()> {
        let mut by_leader: BTreeMap<i32, Vec<FetchAsk>> = BTreeMap::new();
        for (tp, state) in &self.partitions {
            if state.pending.is_some() || state.fetching || state.buffered_answers > 1 {
                continue;
            }
            let leader = match self.cluster.leader_id(&tp.0, tp.1).await {
                Ok(leader) => leader,
                Err(error) if error.is_retriable() => {
                    debug!(topic = %tp.0, partition = tp.1, %error, "no leader yet");
                    continue;
                }
                Err(error) => return Err(error),
            };
            if self.busy_leaders.contains(&leader) {
                continue;
            }
            by_leader.entry(leader).or_default().push(FetchAsk {
                topic: tp.0.clone(),
                partition: tp.1,
                offset: state.fetch_offset,
                epoch: state.epoch,
            });
        }
        let limits = FetchLimits {
            max_wait: self.config.max_wait,
            min_bytes: self.config.min_bytes,
            max_bytes: self.config.max_bytes,
            partition_max_bytes: self.config.partition_max_bytes,
        };
        for (leader, asks) in by_leader {
            let connection = match self.connections.get(&leader) {
                Some(connection) if !connection.is_closed() => connection.clone(),
                _ => match self.cluster.dedicated(leader).await {
                    Ok(connection) => {
                        self.connections.insert(leader, connection.clone());
                        connection
                    }
                    Err(error)
                        if error.is_retriable() || matches!(error, ClientError::Connect { .. }) =>
                    {
                        debug!(leader, %error, "cannot reach the leader; retrying");
                        for ask in &asks {
                            self.cluster.invalidate_topic(&ask.topic);
                        }
                        continue;
                    }
                    Err(error) => return Err(error),
                },
            };
            for ask in &asks {
                if let Some(state) = self.partitions.get_mut(&(ask.topic.clone(), ask.partition)) {
                    state.fetching = true;
                }
            }
            self.busy_leaders.insert(leader);
            self.fetches.spawn(async move {
                let result = fetch::fetch(&connection, &asks, limits).await;
                (leader, asks, result)
            });
        }
        Ok(())
    }

    /// Buffers the records of a Fetch answer and applies its errors.
    async fn settle_fetch(
        &mut self,
        asks: Vec<FetchAsk>,
        result: Result<FetchResponse>,
    ) -> Result<()> {
        for ask in &asks {
            if let Some(state) = self.partitions.get_mut(&(ask.topic.clone(), ask.partition)) {
                state.fetching = false;
            }
        }
        let response = match result {
            Ok(response) => response,
            Err(error) if error.is_retriable() => {
                debug!(%error, "fetch failed; refreshing metadata and retrying");
                for ask in &asks {
                    self.cluster.invalidate_topic(&ask.topic);
                }
                tokio::time::sleep(self.cluster.config().retry_backoff).await;
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let mut undecoded = Vec::new();
        for (index, answer) in fetch::answers(response, &asks) {
            let ask = &asks[index];
            let tp = (ask.topic.clone(), ask.partition);
            let Some(state) = self.partitions.get_mut(&tp) else {
                continue;
            };
            if state.epoch != ask.epoch || state.pending.is_some() {
                continue;
            }
            match answer {
                PartitionAnswer::Records {
                    batches,
                    next_offset,
                    high_watermark,
                } => {
                    state.high_watermark = high_watermark;
                    state.fetch_offset = next_offset;
                    if next_offset == ask.offset {
                        continue;
                    }
                    state.buffered_answers += 1;
                    undecoded.push((index, batches, next_offset));
                }
                PartitionAnswer::Error(error) => match error.kafka_error() {
                    Some(ResponseError::OffsetOutOfRange) => {
                        warn!(
                            topic = %ask.topic, partition = ask.partition, offset = ask.offset,
                            reset = ?self.config.reset, "offset out of range; resetting"
                        );
                        state.pending = Some(self.config.reset);
                        state.epoch += 1;
                        state.buffered_answers = 0;
                        self.chunks.retain(|chunk| chunk.tp != tp);
                    }
                    _ if error.is_retriable() => {
                        debug!(topic = %ask.topic, partition = ask.partition, %error, "retrying");
                        self.cluster.invalidate_topic(&ask.topic);
                    }
                    _ => return Err(error),
                },
            }
        }
        for (index, batches, next_offset) in undecoded {
            let ask = &asks[index];
            let tp = (ask.topic.clone(), ask.partition);
            let Some(state) = self.partitions.get(&tp) else {
                continue;
            };
            self.chunks.push_back(Chunk {
                tp,
                epoch: state.epoch,
                records: AnswerRecords::new(ask.clone(), batches),
                next_offset,
            });
        }
        Ok(())
    }
}
