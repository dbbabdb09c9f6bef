//! The log the pipelines run against, reached as Kafka clients reach it:
//! the embedded broker over loopback, or any Kafka-compatible cluster.
//!
//! Going through the Kafka protocol even on one machine keeps one code
//! path for both, and every stage gets the broker's guarantees as any
//! client does: acks from the log before a source checkpoints, consumer
//! groups for sinks and transforms, committed offsets in the broker.

use std::sync::Arc;
use std::time::Duration;

use sluice_client::admin::NewTopic;
use sluice_client::{
    Acks, Admin, ClientConfig, ClientError, Cluster, Delivery, Producer, ProducerConfig,
    ProducerRecord,
};
use sluice_types::{Record, RecordHeader, Timestamp};

use crate::plan::TopicPlan;

/// A connection to the backbone shared by every stage of every pipeline.
pub struct Backbone {
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
    /// Connects to `brokers` (`host:port`, comma-separated).
    ///
    /// # Errors
    /// No broker reachable.
    pub async fn connect(brokers: &str) -> Result<Backbone, ClientError> {
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
        Ok(Backbone {
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
