//! The backbone as an external Kafka-compatible cluster (Apache Kafka,
//! Redpanda, another Sluice), reached through librdkafka (`rdkafka`): the
//! client every Kafka deployment has been tested against, with its
//! consumer-group protocol, rebalancing and idempotent producer.
//!
//! librdkafka's blocking calls (commit, seek, watermarks, topic creation)
//! run in `block_in_place` so the async runtime's other tasks go on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sluice_client::ConsumerRecord;
use sluice_types::{RecordHeader, Timestamp};
use tokio::task::block_in_place;

use super::backbone::Outgoing;
use crate::plan::{Start, TopicPlan};

/// How long librdkafka's blocking calls may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a group reader asks for the partitions' ends (lag).
const LAG_EVERY: Duration = Duration::from_secs(2);

/// A producer and admin client on the cluster.
pub struct KafkaBackbone {
    brokers: String,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
}

fn config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "sluice-pipelines");
    config
}

impl KafkaBackbone {
    /// # Errors
    /// A client that cannot be created (bad settings); an unreachable
    /// cluster shows later, as errors of the calls.
    pub fn connect(brokers: &str) -> Result<KafkaBackbone, KafkaError> {
        let producer = config(brokers)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "60000")
            .create()?;
        let admin = config(brokers).create()?;
        Ok(KafkaBackbone {
            brokers: brokers.to_string(),
            producer,
            admin,
        })
    }

    /// Creates the topic unless it exists.
    pub async fn ensure_topic(&self, topic: &TopicPlan) -> Result<(), String> {
        let configs: Vec<(&str, &str)> = topic
            .configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut new = NewTopic::new(&topic.name, topic.partitions, TopicReplication::Fixed(-1));
        for (key, value) in &configs {
            new = new.set(key, value);
        }
        let results = self
            .admin
            .create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(CALL_TIMEOUT)),
            )
            .await
            .map_err(|e| e.to_string())?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
            }
        }
        Ok(())
    }

    /// Appends and waits for every acknowledgement (acks = all).
    pub async fn append_all(&self, records: &[Outgoing<'_>]) -> Result<(), String> {
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for header in record.headers {
                headers = headers.insert(Header {
                    key: std::str::from_utf8(&header.key).unwrap_or("?"),
                    value: header.value.as_deref(),
                });
            }
            let mut future = FutureRecord::<[u8], [u8]>::to(record.topic).headers(headers);
            if let Some(key) = record.key {
                future = future.key(key);
            }
            if let Some(value) = record.value {
                future = future.payload(value);
            }
            if let Some(timestamp) = record.timestamp {
                future = future.timestamp(timestamp.0);
            }
            loop {
                match self.producer.send_result(future) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        future = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => return Err(error.to_string()),
                }
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error.to_string()),
                Err(_) => return Err("the producer was dropped".into()),
            }
        }
        Ok(())
    }

    /// Joins `group_id` reading `topic`.
    pub fn join(&self, group_id: &str, topic: &str, start: Start) -> Result<KafkaGroup, String> {
        let (reset, from_time) = match start {
            Start::Earliest => ("earliest", None),
            Start::Latest => ("latest", None),
            // Found per partition at its first record (see `poll`).
            Start::Timestamp(ms) => ("earliest", Some(ms)),
        };
        let consumer: StreamConsumer = config(&self.brokers)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", reset)
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "range")
            .create()
            .map_err(|e| e.to_string())?;
        consumer.subscribe(&[topic]).map_err(|e| e.to_string())?;
        Ok(KafkaGroup {
            consumer,
            positions: BTreeMap::new(),
            lag: -1,
            lag_at: None,
            from_time,
            first_offsets: BTreeMap::new(),
        })
    }
}

/// A member of a consumer group through librdkafka.
pub struct KafkaGroup {
    consumer: StreamConsumer,
    /// Next offset to read, per partition, from what `poll` returned.
    positions: BTreeMap<(Arc<str>, i32), i64>,
    lag: i64,
    lag_at: Option<Instant>,
    /// `start = "@TIMESTAMP"`: partitions the group never committed start
    /// at the first record at or after this time.
    from_time: Option<i64>,
    /// Per partition seen, the first offset to deliver (0 when the group
    /// had committed one: everything fetched counts).
    first_offsets: BTreeMap<(Arc<str>, i32), i64>,
}

impl KafkaGroup {
    /// For `start = "@TIMESTAMP"`: the first offset of the partition to
    /// deliver, looked up the first time a record of it arrives. A partition
    /// the group has committed starts there (librdkafka already did); one it
    /// has not is moved to the first record at or after the time (the end
    /// when there is none).
    fn first_offset(
        consumer: &StreamConsumer,
        first_offsets: &mut BTreeMap<(Arc<str>, i32), i64>,
        from_time: Option<i64>,
        topic: &Arc<str>,
        partition: i32,
    ) -> Result<i64, String> {
        let key = (topic.clone(), partition);
        if let Some(first) = first_offsets.get(&key) {
            return Ok(*first);
        }
        let Some(ms) = from_time else {
            return Ok(0);
        };
        let mut asked = TopicPartitionList::new();
        asked.add_partition(topic, partition);
        let committed = block_in_place(|| consumer.committed_offsets(asked, CALL_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let has_commit = committed
            .find_partition(topic, partition)
            .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= 0));
        let first = if has_commit {
            0
        } else {
            let mut by_time = TopicPartitionList::new();
            by_time
                .add_partition_offset(topic, partition, Offset::Offset(ms))
                .map_err(|e| e.to_string())?;
            let found = block_in_place(|| consumer.offsets_for_times(by_time, CALL_TIMEOUT))
                .map_err(|e| e.to_string())?;
            let offset = match found.find_partition(topic, partition).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) if offset >= 0 => offset,
                // No record at or after the time: start at the end.
                _ => {
                    let (_, high) = block_in_place(|| {
                        consumer.fetch_watermarks(topic, partition, CALL_TIMEOUT)
                    })
                    .map_err(|e| e.to_string())?;
                    high
                }
            };
            block_in_place(|| {
                consumer.seek(topic, partition, Offset::Offset(offset), CALL_TIMEOUT)
            })
            .map_err(|e| e.to_string())?;
            offset
        };
        first_offsets.insert(key, first);
        Ok(first)
    }

    /// Up to `max` records, waiting at most `wait` for the first.
    pub async fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ConsumerRecord>, String> {
        let mut records = Vec::new();
        let mut deadline = tokio::time::Instant::now() + wait;
        while records.len() < max {
            let message = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_) => break,
                Ok(Err(error)) => return Err(error.to_string()),
                Ok(Ok(message)) => message,
            };
            let topic: Arc<str> = Arc::from(message.topic());
            let (partition, offset) = (message.partition(), message.offset());
            if self.from_time.is_some()
                && offset
                    < Self::first_offset(
                        &self.consumer,
                        &mut self.first_offsets,
                        self.from_time,
                        &topic,
                        partition,
                    )?
            {
                // Before the start time: fetched ahead of the seek.
                continue;
            }
            let headers = message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|header| RecordHeader {
                            key: Bytes::copy_from_slice(header.key.as_bytes()),
                            value: header.value.map(Bytes::copy_from_slice),
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.positions
                .insert((topic.clone(), message.partition()), message.offset() + 1);
            records.push(ConsumerRecord {
                topic,
                partition: message.partition(),
                offset: message.offset(),
                timestamp: Timestamp(message.timestamp().to_millis().unwrap_or(0)),
                key: message.key().map(Bytes::copy_from_slice),
                value: message.payload().map(Bytes::copy_from_slice),
                headers,
            });
            // After the first record, take only what arrives right away.
            if records.len() == 1 {
                deadline = deadline.min(tokio::time::Instant::now() + Duration::from_millis(5));
            }
        }
        Ok(records)
    }

    /// Commits what `poll` returned.
    pub fn commit(&mut self) -> Result<(), String> {
        if self.positions.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.positions {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| e.to_string())?;
        }
        block_in_place(|| self.consumer.commit(&list, CommitMode::Sync)).map_err(|e| e.to_string())
    }

    /// Reads the partitions again from these offsets.
    pub fn rewind(&mut self, offsets: &[(Arc<str>, i32, i64)]) {
        for (topic, partition, offset) in offsets {
            let sought = block_in_place(|| {
                self.consumer
                    .seek(topic, *partition, Offset::Offset(*offset), CALL_TIMEOUT)
            });
            if let Err(error) = sought {
                tracing::warn!(%topic, partition, %error, "seek failed; the next owner re-reads from the last commit");
            }
            self.positions.insert((topic.clone(), *partition), *offset);
        }
    }

    /// Records between the positions and the partitions' ends, refreshed
    /// every few seconds.
    pub fn lag(&mut self) -> i64 {
        if self.lag_at.is_some_and(|at| at.elapsed() < LAG_EVERY) {
            return self.lag;
        }
        self.lag_at = Some(Instant::now());
        let Ok(assignment) = self.consumer.assignment() else {
            return self.lag;
        };
        let mut lag = 0;
        for element in assignment.elements() {
            let watermarks = block_in_place(|| {
                self.consumer.fetch_watermarks(
                    element.topic(),
                    element.partition(),
                    Duration::from_secs(2),
                )
            });
            if let Ok((_, high)) = watermarks {
                let position = self
                    .positions
                    .get(&(Arc::from(element.topic()), element.partition()))
                    .copied();
                if let Some(position) = position {
                    lag += (high - position).max(0);
                }
            }
        }
        self.lag = lag;
        lag
    }

    /// Commits and leaves the group.
    pub fn close(mut self) -> Result<(), String> {
        let committed = self.commit();
        self.consumer.unsubscribe();
        committed
    }
}

/// Which worker runs a source, and the source's checkpoint, kept in the
/// cluster: the member of the group `<pipeline>.<source>` that is assigned
/// the one partition of [`LEASE_TOPIC`] runs the source, and the
/// checkpoint is that group's committed offset metadata (hex). A commit
/// from a member that lost the partition in a rebalance is refused, so
/// two workers never both advance one source.
pub struct KafkaLease {
    consumer: StreamConsumer,
}

/// The one-partition topic whose partition the sources' groups share out.
pub const LEASE_TOPIC: &str = "_sluice-source-leases";

impl KafkaBackbone {
    /// Joins the lease group `group_id`.
    pub fn lease(&self, group_id: &str) -> Result<KafkaLease, String> {
        let consumer: StreamConsumer = config(&self.brokers)
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "range")
            .create()
            .map_err(|e| e.to_string())?;
        consumer
            .subscribe(&[LEASE_TOPIC])
            .map_err(|e| e.to_string())?;
        Ok(KafkaLease { consumer })
    }
}

impl KafkaLease {
    /// Serves the group's rebalances; true while this worker holds the
    /// lease.
    pub async fn held(&mut self) -> bool {
        // Nothing is ever written to the lease topic: polling only lets
        // librdkafka run the group protocol.
        let _ = tokio::time::timeout(Duration::from_millis(10), self.consumer.recv()).await;
        self.consumer
            .assignment()
            .is_ok_and(|assignment| assignment.count() > 0)
    }

    /// The checkpoint the last holder saved.
    pub fn checkpoint(&self) -> Result<Option<Vec<u8>>, String> {
        let committed =
            block_in_place(|| self.consumer.committed(CALL_TIMEOUT)).map_err(|e| e.to_string())?;
        let Some(element) = committed.find_partition(LEASE_TOPIC, 0) else {
            return Ok(None);
        };
        let metadata = element.metadata();
        if metadata.is_empty() {
            return Ok(None);
        }
        decode_hex(metadata)
            .map(Some)
            .ok_or_else(|| format!("the saved checkpoint is not hex: {metadata:?}"))
    }

    /// Saves the checkpoint; refused when this worker no longer holds the
    /// lease.
    pub fn save(&self, checkpoint: &[u8]) -> Result<(), String> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(LEASE_TOPIC, 0, Offset::Offset(0))
            .map_err(|e| e.to_string())?;
        let hex: String = checkpoint.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(mut element) = list.find_partition(LEASE_TOPIC, 0) {
            element.set_metadata(hex);
        }
        block_in_place(|| self.consumer.commit(&list, CommitMode::Sync)).map_err(|e| e.to_string())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
