//! [`Producer`]: records in, batches out, acknowledgements back.
//!
//! | module | one job |
//! |---|---|
//! | [`accumulator`] | per-partition batches inside a byte budget; linger; flush |
//! | [`sender`] | the background task: batches → Produce requests → settle or retry |
//! | [`delivery`] | one shared outcome per batch, one [`Delivery`] handle per record |
//!
//! `send` picks the partition (explicit, murmur2 of the key, or sticky for
//! keyless records; see [`crate::partitioner`]), waits for buffer space if
//! the cluster is slower than the caller, appends the record to its
//! partition's open batch and returns at once. The sender sends a batch
//! when it is full or has lingered, with up to
//! `max_in_flight_per_partition` batches per partition in flight: with the
//! default of 1 a partition's records are stored in the order they were
//! sent, retries included.
//!
//! Without idempotence a retry after a lost response may store a batch
//! twice (at-least-once), as a Kafka producer with
//! `enable.idempotence=false` does. With [`ProducerConfig::idempotent`] the
//! producer asks InitProducerId for an id before its first record, numbers
//! each partition's batches, and the broker drops a retried batch it
//! already has. Not done: recovering from a batch that failed for good
//! (Java bumps the epoch and renumbers); later batches of that partition
//! then fail with OUT_OF_ORDER_SEQUENCE_NUMBER.

mod accumulator;
mod delivery;
mod sender;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sluice_batch::Compression;
use sluice_protocol::kafka_protocol::messages::{ApiKey, InitProducerIdRequest};
use sluice_types::{RecordHeader, Timestamp};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

pub use delivery::{Delivery, RecordMetadata};

use accumulator::{
    record_bytes, Accumulator, AppendError, BatchLimits, ProducerIdentity, RecordParts,
};
use sender::{Sender, SenderMetrics, SenderSettings};

use crate::cluster::Cluster;
use crate::error::{ClientError, Result};

/// How many replicas must have a batch before the broker acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// No acknowledgement: the broker sends no response and offsets are
    /// unknown (-1). Fastest; a failed write goes unnoticed.
    None,
    /// The leader has appended it.
    Leader,
    /// Every in-sync replica has it (on Sluice: appended and, with the
    /// default fsync policy, fsync'd).
    #[default]
    All,
}

impl Acks {
    /// The value of Produce's `acks` field.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses `0`, `1`, `all` or `-1`, as Kafka's `acks` setting.
    pub fn parse(text: &str) -> Option<Acks> {
        match text {
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            "all" | "-1" => Some(Acks::All),
            _ => None,
        }
    }
}

/// Producer settings; see each field for what it bounds.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub acks: Acks,
    /// Codec for every batch.
    pub compression: Compression,
    /// How long a batch that is not full waits for more records.
    pub linger: Duration,
    /// A batch closes before it grows past this (uncompressed) size. A
    /// single larger record gets a batch of its own.
    pub batch_bytes_max: usize,
    /// Records buffered and not yet acknowledged, in bytes; `send` waits
    /// while it is full.
    pub buffer_bytes_max: usize,
    /// Largest Produce request; batches for one broker beyond it go in
    /// further requests.
    pub request_bytes_max: usize,
    /// Batches of one partition in flight at once. With 1 (the default)
    /// a partition keeps the send order even across retries; more lets one
    /// partition overlap requests but a retry may reorder.
    pub max_in_flight_per_partition: usize,
    /// How long the broker may wait for replication before answering.
    pub ack_timeout: Duration,
    /// Attempts after a retriable failure before a batch fails.
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Number batches so retries never duplicate records. Needs
    /// `acks = All` and one batch in flight per partition.
    pub idempotent: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_bytes_max: 512 << 10,
            buffer_bytes_max: 64 << 20,
            request_bytes_max: 4 << 20,
            max_in_flight_per_partition: 1,
            ack_timeout: Duration::from_secs(30),
            retries: 5,
            retry_backoff: Duration::from_millis(100),
            idempotent: false,
        }
    }
}

impl ProducerConfig {
    fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(ClientError::InvalidConfig { reason });
        if self.batch_bytes_max < 1024 {
            return invalid(format!(
                "batch_bytes_max is {} bytes; it must be at least 1024",
                self.batch_bytes_max
            ));
        }
        if self.buffer_bytes_max < self.batch_bytes_max {
            return invalid(format!(
                "buffer_bytes_max ({}) must hold at least one batch (batch_bytes_max {})",
                self.buffer_bytes_max, self.batch_bytes_max
            ));
        }
        if self.max_in_flight_per_partition == 0 {
            return invalid("max_in_flight_per_partition must be at least 1".into());
        }
        if self.idempotent && (self.acks != Acks::All || self.max_in_flight_per_partition != 1) {
            return invalid(
                "an idempotent producer needs acks=all and max_in_flight_per_partition=1".into(),
            );
        }
        Ok(())
    }
}

/// What a producer has done so far.
#[derive(Debug, Clone, Default)]
pub struct ProducerStats {
    pub requests: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Records acknowledged.
    pub records: u64,
    /// Bytes of acknowledged batches, as sent (compressed).
    pub batch_bytes: u64,
    pub retries: u64,
    pub failed_batches: u64,
    /// Produce request latencies (write to response).
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
}

/// One record to send. Key, value and headers are borrowed: the producer
/// copies them into its batch, so the caller's buffers are free as soon as
/// `send` returns.
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    pub topic: &'a str,
    /// `None` lets the producer choose (by key, else sticky).
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    /// `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeader],
    /// `None` stamps the time of `send`.
    pub timestamp: Option<Timestamp>,
}

/// A Kafka producer; share it behind an `Arc` across tasks.
pub struct Producer {
    accumulator: Arc<Accumulator>,
    /// Whether to ask for a producer id before the first record.
    idempotent: bool,
    identity: OnceCell<ProducerIdentity>,
    cluster: Arc<Cluster>,
    metrics: Arc<SenderMetrics>,
    /// Largest record accepted: it must fit the buffer and one request.
    record_bytes_max: usize,
    sender: JoinHandle<()>,
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.sender.abort();
        if !self.accumulator.is_idle() {
            self.accumulator
                .abandon(ClientError::Closed { what: "producer" });
        }
    }
}

impl Producer {
    /// Starts a producer on `cluster`. Must be called inside a tokio
    /// runtime: the sender task is spawned on it.
    ///
    /// # Errors
    /// [`ClientError::InvalidConfig`] for settings that cannot work.
    pub fn new(cluster: Arc<Cluster>, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let limits = BatchLimits {
            batch_bytes_max: config.batch_bytes_max,
            linger: config.linger,
            compression: config.compression,
            max_in_flight_per_partition: config.max_in_flight_per_partition,
        };
        let accumulator = Arc::new(Accumulator::new(limits, config.buffer_bytes_max));
        let metrics = Arc::new(SenderMetrics::default());
        let sender = Arc::new(Sender {
            accumulator: accumulator.clone(),
            cluster: cluster.clone(),
            settings: SenderSettings {
                acks: config.acks.code(),
                compression: config.compression,
                ack_timeout: config.ack_timeout,
                request_timeout: cluster.config().request_timeout,
                request_bytes_max: config.request_bytes_max,
                retries: config.retries,
                retry_backoff: config.retry_backoff,
            },
            metrics: metrics.clone(),
        });
        Ok(Producer {
            accumulator,
            idempotent: config.idempotent,
            identity: OnceCell::new(),
            cluster,
            metrics,
            record_bytes_max: config.buffer_bytes_max.min(config.request_bytes_max),
            sender: tokio::spawn(sender.run()),
        })
    }

    /// Queues a record for `topic`; see [`Producer::send_record`].
    ///
    /// # Errors
    /// As [`Producer::send_record`].
    pub async fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<Delivery> {
        self.send_record(ProducerRecord {
            topic,
            partition,
            key,
            value,
            headers,
            timestamp: None,
        })
        .await
    }

    /// Queues a record and returns once it is in a batch, waiting first
    /// while the buffer is full. Await the returned [`Delivery`] for its
    /// offset, or call [`Producer::flush`].
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`], [`ClientError::UnknownPartition`],
    /// [`ClientError::RecordTooLarge`], or a metadata request's error.
    /// Failures to deliver come later, through the [`Delivery`] or `flush`.
    pub async fn send_record(&self, record: ProducerRecord<'_>) -> Result<Delivery> {
        let parts = RecordParts {
            partition: record.partition,
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp: record.timestamp.unwrap_or_else(Timestamp::now),
        };
        let bytes = record_bytes(&parts);
        if bytes > self.record_bytes_max {
            return Err(ClientError::RecordTooLarge {
                topic: record.topic.to_owned(),
                record_bytes: bytes,
                limit_bytes: self.record_bytes_max,
            });
        }
        if self.idempotent && !self.identity.initialized() {
            let identity = self
                .identity
                .get_or_try_init(|| init_producer_id(&self.cluster))
                .await?;
            self.accumulator.set_identity(*identity);
        }
        self.accumulator.reserve(bytes).await?;
        let mut refreshed = false;
        loop {
            match self.accumulator.append(record.topic, &parts, bytes) {
                Ok(delivery) => return Ok(delivery),
                Err(AppendError::Failed(error)) => {
                    self.accumulator.release(bytes);
                    return Err(error);
                }
                Err(AppendError::NeedMetadata) if refreshed => {
                    self.accumulator.release(bytes);
                    let partitions = match self.cluster.topic(record.topic).await {
                        Ok(topic) => topic.partitions.len(),
                        Err(error) => return Err(error),
                    };
                    return Err(ClientError::UnknownPartition {
                        topic: record.topic.to_owned(),
                        partition: record.partition.unwrap_or(-1),
                        partitions,
                    });
                }
                Err(AppendError::NeedMetadata) => {
                    refreshed = true;
                    self.cluster.invalidate_topic(record.topic);
                    match self.cluster.topic(record.topic).await {
                        Ok(topic) => self
                            .accumulator
                            .set_partitions(record.topic, topic.partitions.len()),
                        Err(error) => {
                            self.accumulator.release(bytes);
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// Sends everything buffered without waiting for linger, and waits
    /// until every record sent before the call is acknowledged or failed.
    ///
    /// # Errors
    /// The first delivery failure since the previous flush (a
    /// [`ClientError::Delivery`] naming the partition and record count).
    pub async fn flush(&self) -> Result<()> {
        match self.accumulator.flush().await {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Flushes, then stops the sender.
    ///
    /// # Errors
    /// As [`Producer::flush`].
    pub async fn close(self) -> Result<()> {
        self.flush().await
    }

    /// Counters and request latencies so far.
    pub fn stats(&self) -> ProducerStats {
        let m = &self.metrics;
        ProducerStats {
            requests: m.requests.load(Ordering::Relaxed),
            batches: m.batches.load(Ordering::Relaxed),
            records: m.records.load(Ordering::Relaxed),
            batch_bytes: m.batch_bytes.load(Ordering::Relaxed),
            retries: m.retries.load(Ordering::Relaxed),
            failed_batches: m.failed_batches.load(Ordering::Relaxed),
            latency_p50: m.request_latency.quantile(0.5),
            latency_p99: m.request_latency.quantile(0.99),
            latency_max: m.request_latency.max(),
        }
    }
}

/// Asks any broker for a producer id and epoch (no transactional id).
async fn init_producer_id(cluster: &Cluster) -> Result<ProducerIdentity> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let connection = cluster.any().await?;
        // The field defaults to an empty transactional id; null means none.
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let response = connection.send(request).await?;
        let resource = || "an idempotent producer".to_string();
        match ClientError::from_code(ApiKey::InitProducerId, resource, response.error_code, None) {
            None => {
                return Ok(ProducerIdentity {
                    producer_id: response.producer_id.0,
                    producer_epoch: response.producer_epoch,
                })
            }
            Some(error) if error.is_retriable() && attempt <= cluster.config().retries => {
                tokio::time::sleep(cluster.config().retry_backoff).await;
            }
            Some(error) => return Err(error),
        }
    }
}
