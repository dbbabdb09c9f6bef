//! The producer's background task: takes closed batches from the
//! accumulator, groups them by partition leader into Produce requests,
//! and settles or retries each batch from the response.
//!
//! One task loops over drain → dispatch → wait; each Produce request runs
//! as its own task, so requests to a broker overlap (bounded by the
//! connection's in-flight limit and by `max_in_flight_per_partition`) and
//! the broker can append one while it fsyncs another. Batches are encoded
//! (and compressed) in the request task, outside the accumulator lock, and
//! compression runs on the blocking pool so it never stalls a reactor
//! thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_batch::Compression;
use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use sluice_protocol::kafka_protocol::messages::produce_response::PartitionProduceResponse;
use sluice_protocol::kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, trace};

use super::accumulator::{Accumulator, ClosedBatch, Payload};
use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::stats::LatencyHistogram;

/// What the sender needs of the producer's settings.
#[derive(Debug, Clone)]
pub(crate) struct SenderSettings {
    /// 0, 1 or -1 (all in-sync replicas).
    pub acks: i16,
    pub compression: Compression,
    /// How long the broker may wait for replication before answering.
    pub ack_timeout: Duration,
    /// Longest wait for a Produce response, on top of `ack_timeout`.
    pub request_timeout: Duration,
    pub request_bytes_max: usize,
    pub retries: u32,
    pub retry_backoff: Duration,
}

/// Counters the sender keeps; read through `Producer::stats`.
#[derive(Debug, Default)]
pub(crate) struct SenderMetrics {
    pub requests: AtomicU64,
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub batch_bytes: AtomicU64,
    pub retries: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Time from writing a Produce request to reading its response.
    pub request_latency: LatencyHistogram,
}

/// Shared by the sender loop and its request tasks.
pub(crate) struct Sender {
    pub accumulator: Arc<Accumulator>,
    pub cluster: Arc<Cluster>,
    pub settings: SenderSettings,
    pub metrics: Arc<SenderMetrics>,
}

impl Sender {
    /// Runs until aborted (the producer aborts it once it has flushed).
    pub(crate) async fn run(self: Arc<Self>) {
        let mut requests = JoinSet::new();
        loop {
            let drained = self.accumulator.drain(Instant::now());
            if !drained.batches.is_empty() {
                self.dispatch(drained.batches, &mut requests).await;
            }
            let deadline = drained.next_deadline;
            tokio::select! {
                _ = self.accumulator.wake.notified() => {}
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
                Some(_) = requests.join_next(), if !requests.is_empty() => {}
            }
        }
    }

    /// Groups batches by leader and starts one request per group (split at
    /// `request_bytes_max`).
    async fn dispatch(self: &Arc<Self>, batches: Vec<ClosedBatch>, requests: &mut JoinSet<()>) {
        let mut by_leader: BTreeMap<i32, Vec<ClosedBatch>> = BTreeMap::new();
        for batch in batches {
            match self.cluster.leader_id(&batch.topic, batch.partition).await {
                Ok(leader) => by_leader.entry(leader).or_default().push(batch),
                Err(error) => self.retry_or_fail(batch, Arc::new(error)),
            }
        }
        for (leader, batches) in by_leader {
            let mut request = Vec::new();
            let mut request_bytes = 0;
            for batch in batches {
                let bytes = batch_size(&batch);
                if !request.is_empty() && request_bytes + bytes > self.settings.request_bytes_max {
                    let full = std::mem::take(&mut request);
                    requests.spawn(self.clone().produce(leader, full));
                    request_bytes = 0;
                }
                request_bytes += bytes;
                request.push(batch);
            }
            if !request.is_empty() {
                requests.spawn(self.clone().produce(leader, request));
            }
        }
    }

    /// Sends one Produce request to `leader` and settles its batches.
    async fn produce(self: Arc<Self>, leader: i32, mut batches: Vec<ClosedBatch>) {
        batches = self.encode(batches).await;
        if batches.is_empty() {
            return;
        }
        let connection = match self.cluster.broker(leader).await {
            Ok(connection) => connection,
            Err(error) => return self.settle_all(batches, error),
        };
        let version = match connection.version(ApiKey::Produce) {
            Ok(version) => version,
            Err(error) => return self.settle_all(batches, error),
        };
        let request = self.request(&batches);
        let started = std::time::Instant::now();
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        if self.settings.acks == 0 {
            match connection.send_without_response(request, version).await {
                Ok(()) => {
                    for batch in batches {
                        self.succeed(batch, -1);
                    }
                }
                Err(error) => self.settle_all(batches, error),
            }
            return;
        }
        let timeout = self.settings.request_timeout + self.settings.ack_timeout;
        let response = connection.send_at(request, version, timeout).await;
        self.metrics.request_latency.record(started.elapsed());
        let response = match response {
            Ok(response) => response,
            Err(error) => return self.settle_all(batches, error),
        };
        let mut answers: BTreeMap<(String, i32), PartitionProduceResponse> = BTreeMap::new();
        for topic in response.responses {
            for partition in topic.partition_responses {
                answers.insert((topic.name.0.to_string(), partition.index), partition);
            }
        }
        for batch in batches {
            let key = (batch.topic.to_string(), batch.partition);
            let Some(answer) = answers.remove(&key) else {
                let error = ClientError::Kafka {
                    api: ApiKey::Produce,
                    resource: format!("{}-{}", batch.topic, batch.partition),
                    error: ResponseError::UnknownServerError,
                    message: Some("the response has no answer for this partition".into()),
                };
                self.retry_or_fail(batch, Arc::new(error));
                continue;
            };
            let message = answer
                .error_message
                .as_deref()
                .map(str::to_owned)
                .or_else(|| {
                    let errors = answer.record_errors.iter();
                    let texts: Vec<String> = errors
                        .filter_map(|e| e.batch_index_error_message.as_deref().map(str::to_owned))
                        .collect();
                    (!texts.is_empty()).then(|| texts.join("; "))
                });
            let resource = || format!("{}-{}", batch.topic, batch.partition);
            // A duplicate is a batch the broker already has: the retry of
            // a batch whose first answer was lost. It is stored once.
            let duplicate = ResponseError::DuplicateSequenceNumber.code();
            let code = if answer.error_code == duplicate {
                0
            } else {
                answer.error_code
            };
            match ClientError::from_code(ApiKey::Produce, resource, code, message.as_deref()) {
                None => self.succeed(batch, answer.base_offset),
                Some(error) => self.retry_or_fail(batch, Arc::new(error)),
            }
        }
    }

    /// Builds each batch's bytes, compressing on the blocking pool.
    /// Batches that fail to encode are settled here and left out.
    async fn encode(&self, batches: Vec<ClosedBatch>) -> Vec<ClosedBatch> {
        let mut encoded = Vec::with_capacity(batches.len());
        for mut batch in batches {
            let builder = match std::mem::replace(&mut batch.payload, Payload::Built(Bytes::new()))
            {
                Payload::Built(bytes) => {
                    batch.payload = Payload::Built(bytes);
                    encoded.push(batch);
                    continue;
                }
                Payload::Building(builder) => builder,
            };
            let built = if self.settings.compression == Compression::None {
                builder.build()
            } else {
                match tokio::task::spawn_blocking(move || builder.build()).await {
                    Ok(built) => built,
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                }
            };
            match built {
                Ok(bytes) => {
                    batch.payload = Payload::Built(bytes);
                    encoded.push(batch);
                }
                Err(source) => {
                    let error = ClientError::Encode {
                        topic: batch.topic.to_string(),
                        source,
                    };
                    self.fail(batch, Arc::new(error));
                }
            }
        }
        encoded
    }

    fn request(&self, batches: &[ClosedBatch]) -> ProduceRequest {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for batch in batches {
            let Payload::Built(bytes) = &batch.payload else {
                unreachable!("batches are encoded before the request is built");
            };
            let data = PartitionProduceData::default()
                .with_index(batch.partition)
                .with_records(Some(bytes.clone()));
            match topics.iter_mut().find(|t| *t.name.0 == *batch.topic) {
                Some(topic) => topic.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(batch.topic.to_string())))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let ack_timeout_ms =
            i32::try_from(self.settings.ack_timeout.as_millis()).unwrap_or(i32::MAX);
        ProduceRequest::default()
            .with_acks(self.settings.acks)
            .with_timeout_ms(ack_timeout_ms)
            .with_topic_data(topics)
    }

    fn succeed(&self, batch: ClosedBatch, base_offset: i64) {
        trace!(topic = %batch.topic, partition = batch.partition, base_offset, records = batch.records, "batch acknowledged");
        self.metrics.batches.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .records
            .fetch_add(u64::from(batch.records), Ordering::Relaxed);
        if let Payload::Built(bytes) = &batch.payload {
            self.metrics
                .batch_bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        self.accumulator.complete(batch, Ok(base_offset));
    }

    fn fail(&self, batch: ClosedBatch, error: Arc<ClientError>) {
        debug!(topic = %batch.topic, partition = batch.partition, %error, "batch failed");
        self.metrics.failed_batches.fetch_add(1, Ordering::Relaxed);
        self.accumulator.complete(batch, Err(error));
    }

    /// Settles every batch of a request that failed as a whole.
    fn settle_all(&self, batches: Vec<ClosedBatch>, error: ClientError) {
        let error = Arc::new(error);
        for batch in batches {
            self.retry_or_fail(batch, error.clone());
        }
    }

    /// Retries a batch after a retriable error (refreshing its topic's
    /// metadata, since the leader may have moved), up to `retries` times;
    /// fails it otherwise.
    fn retry_or_fail(&self, mut batch: ClosedBatch, error: Arc<ClientError>) {
        batch.attempts += 1;
        if !error.is_retriable() || batch.attempts > self.settings.retries {
            return self.fail(batch, error);
        }
        debug!(topic = %batch.topic, partition = batch.partition, attempt = batch.attempts, %error, "retrying batch");
        self.metrics.retries.fetch_add(1, Ordering::Relaxed);
        self.cluster.invalidate_topic(&batch.topic);
        self.accumulator.retry(batch, self.settings.retry_backoff);
    }
}

/// Bytes a batch adds to a request (its uncompressed size until built).
fn batch_size(batch: &ClosedBatch) -> usize {
    match &batch.payload {
        Payload::Building(builder) => builder.estimated_size(),
        Payload::Built(bytes) => bytes.len(),
    }
}
