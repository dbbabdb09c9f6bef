//! The log the pipelines run against, reached as Kafka clients reach it:
//! the embedded broker over loopback through Sluice's own client, or an
//! external Kafka-compatible cluster through librdkafka ([`super::kafka`]).
//!
//! Going through the Kafka protocol even on one machine keeps one code
//! path for both, and every stage gets the broker's guarantees as any
//! client does: acks from the log before a source checkpoints, consumer
//! groups for sinks and transforms, committed offsets in the broker.

use std::sync::Arc;
use std::time::Duration;

use sluice_client::admin::NewTopic;
use sluice_client::{
    Acks, Admin, ClientConfig, ClientError, Cluster, ConsumerConfig, ConsumerRecord, Delivery,
    GroupConfig, GroupConsumer, Producer, ProducerConfig, ProducerRecord, StartFrom,
};
use sluice_types::{Record, RecordHeader, Timestamp};

use super::kafka::{KafkaBackbone, KafkaGroup, KafkaLease};
use crate::plan::{Start, TopicPlan};

/// A connection to the backbone shared by every stage of every pipeline.
pub enum Backbone {
    /// Sluice's own client: the embedded broker (and `sluice replay`).
    Native(NativeBackbone),
    /// librdkafka: an external cluster (`--backbone`, `[backbone] brokers`).
    Kafka(KafkaBackbone),
}

/// The backbone through Sluice's own client.
pub struct NativeBackbone {
    pub cluster: Arc<Cluster>,
    producer: Producer,
    admin: Admin,
}

/// A record to append and the topic it goes to.
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [RecordHeader],
    pub timestamp: Option<Timestamp>,
}

impl<'a> Outgoing<'a> {
    pub fn record(topic: &'a str, record: &'a Record) -> Outgoing<'a> {
        Outgoing {
            topic,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
            timestamp: (record.timestamp.0 > 0).then_some(record.timestamp),
        }
    }
}

impl Backbone {
    /// Connects to `brokers` (`host:port`, comma-separated) with Sluice's
    /// own client.
    ///
    /// # Errors
    /// No broker reachable.
    pub async fn connect(brokers: &str) -> Result<Backbone, ClientError> {
        NativeBackbone::connect(brokers).await.map(Backbone::Native)
    }

    /// An external cluster at `brokers`, through librdkafka.
    ///
    /// # Errors
    /// Settings librdkafka refuses.
    pub fn external(brokers: &str) -> Result<Backbone, String> {
        KafkaBackbone::connect(brokers)
            .map(Backbone::Kafka)
            .map_err(|e| e.to_string())
    }

    /// The cluster handle of Sluice's own client, when that is the client.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        match self {
            Backbone::Native(native) => Some(&native.cluster),
            Backbone::Kafka(_) => None,
        }
    }

    /// Creates the topic unless it exists (an existing one is left as it is).
    ///
    /// # Errors
    /// The cluster refused to create it.
    pub async fn ensure_topic(&self, topic: &TopicPlan) -> Result<(), String> {
        match self {
            Backbone::Native(native) => native.ensure_topic(topic).await.map_err(|e| e.to_string()),
            Backbone::Kafka(kafka) => kafka.ensure_topic(topic).await,
        }
    }

    /// Appends the records and waits until the log acknowledged every one
    /// (acks = all): when this returns Ok, they are durable.
    ///
    /// # Errors
    /// The first record that could not be delivered; some of the others
    /// may have been appended.
    pub async fn append_all(&self, records: &[Outgoing<'_>]) -> Result<(), String> {
        match self {
            Backbone::Native(native) => native.append_all(records).await.map_err(|e| e.to_string()),
            Backbone::Kafka(kafka) => kafka.append_all(records).await,
        }
    }

    /// A source's lease and checkpoint store in the cluster when workers
    /// share an external one; `None` on the embedded broker (one worker).
    pub fn lease(&self, group_id: &str) -> Option<Result<KafkaLease, String>> {
        match self {
            Backbone::Native(_) => None,
            Backbone::Kafka(kafka) => Some(kafka.lease(group_id)),
        }
    }

    /// Joins the consumer group `group_id` reading `topic`; partitions
    /// without a committed offset start at `start`.
    ///
    /// # Errors
    /// The group could not be joined.
    pub async fn join(
        &self,
        group_id: &str,
        topic: &str,
        start: Start,
        poll_records: usize,
    ) -> Result<GroupReader, String> {
        match self {
            Backbone::Native(native) => {
                let mut config = GroupConfig::new(group_id, vec![topic.to_string()]);
                config.start = match start {
                    Start::Earliest => StartFrom::Earliest,
                    Start::Latest => StartFrom::Latest,
                    Start::Timestamp(ms) => StartFrom::Timestamp(ms),
                };
                config.session_timeout = Duration::from_secs(10);
                config.heartbeat_interval = Duration::from_secs(1);
                config.consumer = ConsumerConfig {
                    max_poll_records: poll_records,
                    max_wait: POLL_WAIT,
                    ..ConsumerConfig::default()
                };
                GroupConsumer::join(native.cluster.clone(), config)
                    .await
                    .map(|group| GroupReader::Native(Box::new(group)))
                    .map_err(|e| e.to_string())
            }
            Backbone::Kafka(kafka) => kafka.join(group_id, topic, start).map(GroupReader::Kafka),
        }
    }
}

/// How long a poll waits for records before it returns empty.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// A stage's membership in its consumer group, through either client.
pub enum GroupReader {
    Native(Box<GroupConsumer>),
    Kafka(KafkaGroup),
}

impl GroupReader {
    /// Up to `max` records of the assigned partitions (rejoining first
    /// when the group rebalances).
    pub async fn poll(&mut self, max: usize) -> Result<Vec<ConsumerRecord>, String> {
        match self {
            GroupReader::Native(group) => group.poll_max(max).await.map_err(|e| e.to_string()),
            GroupReader::Kafka(group) => group.poll(max, POLL_WAIT).await,
        }
    }

    /// Commits the positions after the records `poll` returned.
    pub async fn commit(&mut self) -> Result<(), String> {
        match self {
            GroupReader::Native(group) => group.commit().await.map(drop).map_err(|e| e.to_string()),
            GroupReader::Kafka(group) => group.commit(),
        }
    }

    /// Reads partitions again from these offsets (a batch that failed).
    pub fn rewind(&mut self, offsets: &[(Arc<str>, i32, i64)]) {
        match self {
            GroupReader::Native(group) => group.rewind(offsets),
            GroupReader::Kafka(group) => group.rewind(offsets),
        }
    }

    /// Records between the positions and the ends of the partitions.
    pub fn lag(&mut self) -> i64 {
        match self {
            GroupReader::Native(group) => {
                let consumer = group.consumer();
                let mut lag = 0;
                for (topic, partition, position) in consumer.positions() {
                    if let Some(high) = consumer.high_watermark(&topic, partition) {
                        if high >= 0 {
                            lag += (high - position).max(0);
                        }
                    }
                }
                lag
            }
            GroupReader::Kafka(group) => group.lag(),
        }
    }

    /// Commits and leaves the group, so the others take the partitions
    /// over at once.
    pub async fn close(self) -> Result<(), String> {
        match self {
            GroupReader::Native(group) => (*group).close().await.map_err(|e| e.to_string()),
            GroupReader::Kafka(group) => group.close(),
        }
    }
}

impl NativeBackbone {
    /// Connects to `brokers` (`host:port`, comma-separated).
    ///
    /// # Errors
    /// No broker reachable.
    pub async fn connect(brokers: &str) -> Result<NativeBackbone, ClientError> {
        let bootstrap = brokers
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        let mut config = ClientConfig::new(bootstrap);
        config.client_id = "sluice-pipelines".into();
        let cluster = Cluster::connect(config).await?;
        let producer = Producer::new(
            cluster.clone(),
            ProducerConfig {
                acks: Acks::All,
                linger: Duration::from_millis(2),
                idempotent: true,
                ..ProducerConfig::default()
            },
        )?;
        Ok(NativeBackbone {
            admin: Admin::new(cluster.clone()),
            cluster,
            producer,
        })
    }

    /// Creates the topic unless it exists. An existing topic is left as it
    /// is (its partitions and configs are not changed).
    ///
    /// # Errors
    /// The broker refused to create it.
    pub async fn ensure_topic(&self, topic: &TopicPlan) -> Result<(), ClientError> {
        self.cluster.invalidate_topic(&topic.name);
        if self.cluster.topic(&topic.name).await.is_ok() {
            return Ok(());
        }
        let created = self
            .admin
            .create_topic(&NewTopic {
                name: topic.name.clone(),
                partitions: topic.partitions,
                replication_factor: None,
                configs: topic.configs.clone(),
            })
            .await;
        match created {
            Ok(()) => Ok(()),
            Err(error) => {
                // Another worker may have created it meanwhile.
                self.cluster.invalidate_topic(&topic.name);
                match self.cluster.topic(&topic.name).await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(error),
                }
            }
        }
    }

    /// Appends the records and waits until the log acknowledged every one
    /// (acks = all): when this returns Ok, they are durable.
    ///
    /// # Errors
    /// The first record that could not be queued or delivered; some of the
    /// others may have been appended.
    pub async fn append_all(&self, records: &[Outgoing<'_>]) -> Result<(), ClientError> {
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(records.len());
        for record in records {
            deliveries.push(
                self.producer
                    .send_record(ProducerRecord {
                        topic: record.topic,
                        partition: None,
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                        timestamp: record.timestamp,
                    })
                    .await?,
            );
        }
        // Not `Producer::flush`: the producer is shared, and its flush
        // reports the first failure of any stage.
        for delivery in deliveries {
            delivery.wait().await?;
        }
        Ok(())
    }
}
