//! [`Admin`]: topics and their configs and watermarks; consumer groups
//! and their lag ([`groups`]).
//!
//! Each method is one question to the cluster, answered as plain data for
//! a CLI table or a JSON document. Nothing here caches: every call asks
//! the brokers again.

pub mod groups;

use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use sluice_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

pub use groups::{GroupDescription, GroupListing, MemberDescription, PartitionLag};

use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::offsets::{list_offsets, OffsetQuery, EARLIEST, LATEST};

/// DescribeConfigs resource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
/// How long the broker may take to create or delete a topic.
const TOPIC_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Checks of Metadata after CreateTopics until the topic has leaders.
const CREATE_VISIBLE_CHECKS: u32 = 50;

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    /// `None` takes the broker's default.
    pub replication_factor: Option<i16>,
    /// Topic configs, Kafka names: `retention.ms` → `3600000`.
    pub configs: Vec<(String, String)>,
}

/// One line of a topic listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: usize,
    pub internal: bool,
}

/// The first and the next offset of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub log_start: i64,
    pub high_watermark: i64,
}

impl Watermarks {
    /// Offsets between the two (records, unless compaction removed some).
    pub fn records(&self) -> i64 {
        (self.high_watermark - self.log_start).max(0)
    }
}

/// A partition with its leader, replicas and watermarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub watermarks: Watermarks,
}

/// Where a config value comes from (DescribeConfigs `config_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on this topic (`--config` at creation, or altered since).
    Topic,
    /// The broker's setting, dynamic or static.
    Broker,
    /// The built-in default.
    Default,
    Other(i8),
}

impl ConfigSource {
    fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::Topic,
            2..=4 => ConfigSource::Broker,
            5 => ConfigSource::Default,
            other => ConfigSource::Other(other),
        }
    }

    /// A short name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Topic => "topic",
            ConfigSource::Broker => "broker",
            ConfigSource::Default => "default",
            ConfigSource::Other(_) => "other",
        }
    }
}

/// One config of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for a sensitive value the broker does not reveal.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
}

/// Everything `topic describe` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<PartitionDescription>,
    pub configs: Vec<ConfigEntry>,
}

/// Administrative operations on a cluster.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    pub fn new(cluster: Arc<Cluster>) -> Admin {
        Admin { cluster }
    }

    /// The cluster this client talks to.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The controller (which creates and deletes topics), or any broker
    /// when metadata names none.
    async fn controller(&self) -> Result<Arc<Connection>> {
        let (_, controller) = self.cluster.cluster_id();
        if controller >= 0 {
            if let Ok(connection) = self.cluster.broker(controller).await {
                return Ok(connection);
            }
        }
        self.cluster.any().await
    }

    /// Creates a topic and waits until metadata shows it with leaders.
    ///
    /// # Errors
    /// The broker's answer, e.g. TOPIC_ALREADY_EXISTS, INVALID_CONFIG
    /// (with its message naming the key), INVALID_PARTITIONS.
    pub async fn create_topic(&self, topic: &NewTopic) -> Result<()> {
        let connection = self.controller().await?;
        let version = connection.version(ApiKey::CreateTopics)?;
        // -1 (the broker's default) exists from v4; older brokers need a number.
        let default_replication = if version >= 4 { -1 } else { 1 };
        let configs = topic
            .configs
            .iter()
            .map(|(name, value)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_value(Some(StrBytes::from_string(value.clone())))
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.name.clone())))
                .with_num_partitions(topic.partitions)
                .with_replication_factor(topic.replication_factor.unwrap_or(default_replication))
                .with_configs(configs)])
            .with_timeout_ms(TOPIC_OPERATION_TIMEOUT.as_millis() as i32);
        let timeout = self.cluster.config().request_timeout + TOPIC_OPERATION_TIMEOUT;
        let response = connection.send_at(request, version, timeout).await?;
        for result in response.topics {
            let resource = || format!("topic {}", result.name.0);
            if let Some(error) = ClientError::from_code(
                ApiKey::CreateTopics,
                resource,
                result.error_code,
                result.error_message.as_deref(),
            ) {
                return Err(error);
            }
        }
        // Creation may finish on the brokers after the answer (it does on
        // Kafka); wait until the topic is usable so the next command works.
        for _ in 0..CREATE_VISIBLE_CHECKS {
            self.cluster.invalidate_topic(&topic.name);
            match self.cluster.topic(&topic.name).await {
                Ok(metadata) if metadata.partitions.iter().all(|p| p.leader >= 0) => return Ok(()),
                Ok(_) | Err(ClientError::UnknownTopic { .. }) => {}
                Err(error) => return Err(error),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Deletes a topic.
    ///
    /// # Errors
    /// The broker's answer, e.g. UNKNOWN_TOPIC_OR_PARTITION.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let connection = self.controller().await?;
        let version = connection.version(ApiKey::DeleteTopics)?;
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(StrBytes::from_string(name.to_owned()))])
            .with_timeout_ms(TOPIC_OPERATION_TIMEOUT.as_millis() as i32);
        let timeout = self.cluster.config().request_timeout + TOPIC_OPERATION_TIMEOUT;
        let response = connection.send_at(request, version, timeout).await?;
        self.cluster.invalidate_topic(name);
        for result in response.responses {
            let resource = || format!("topic {name}");
            if let Some(error) = ClientError::from_code(
                ApiKey::DeleteTopics,
                resource,
                result.error_code,
                result.error_message.as_deref(),
            ) {
                if error.kafka_error()
                    == Some(sluice_protocol::kafka_protocol::error::ResponseError::UnknownTopicOrPartition)
                {
                    return Err(ClientError::UnknownTopic {
                        topic: name.to_owned(),
                    });
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Every topic of the cluster, sorted by name.
    ///
    /// # Errors
    /// A Metadata request's error.
    pub async fn list_topics(&self) -> Result<Vec<TopicSummary>> {
        let snapshot = self.cluster.refresh_all().await?;
        Ok(snapshot
            .topics
            .into_values()
            .map(|topic| TopicSummary {
                name: topic.name,
                partitions: topic.partitions.len(),
                internal: topic.internal,
            })
            .collect())
    }

    /// Log start and high watermark of each partition, in order.
    ///
    /// # Errors
    /// As [`list_offsets`].
    pub async fn watermarks(&self, partitions: &[(Arc<str>, i32)]) -> Result<Vec<Watermarks>> {
        let query = |timestamp| -> Vec<OffsetQuery> {
            partitions
                .iter()
                .map(|(topic, partition)| OffsetQuery {
                    topic: topic.clone(),
                    partition: *partition,
                    timestamp,
                })
                .collect()
        };
        // One partition may appear once per request: two rounds.
        let starts = list_offsets(&self.cluster, &query(EARLIEST)).await?;
        let ends = list_offsets(&self.cluster, &query(LATEST)).await?;
        Ok(starts
            .into_iter()
            .zip(ends)
            .map(|(start, end)| Watermarks {
                log_start: start.offset,
                high_watermark: end.offset,
            })
            .collect())
    }

    /// The configs of a topic, sorted by name.
    ///
    /// # Errors
    /// A DescribeConfigs error for the topic.
    pub async fn topic_configs(&self, name: &str) -> Result<Vec<ConfigEntry>> {
        let connection = self.cluster.any().await?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_owned()))
                .with_configuration_keys(None),
        ]);
        let response = connection.send(request).await?;
        let mut configs = Vec::new();
        for result in response.results {
            let resource = || format!("topic {name}");
            if let Some(error) = ClientError::from_code(
                ApiKey::DescribeConfigs,
                resource,
                result.error_code,
                result.error_message.as_deref(),
            ) {
                return Err(error);
            }
            configs.extend(result.configs.into_iter().map(|config| ConfigEntry {
                name: config.name.to_string(),
                value: config.value.map(|v| v.to_string()),
                source: ConfigSource::from_code(config.config_source),
                read_only: config.read_only,
                sensitive: config.is_sensitive,
            }));
        }
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// A topic's partitions (leaders, replicas, watermarks) and configs.
    ///
    /// # Errors
    /// [`ClientError::UnknownTopic`], or an error of the requests above.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        self.cluster.invalidate_topic(name);
        let metadata = self.cluster.topic(name).await?;
        let topic: Arc<str> = Arc::from(name);
        let partitions: Vec<(Arc<str>, i32)> = metadata
            .partitions
            .iter()
            .map(|p| (topic.clone(), p.partition))
            .collect();
        let watermarks = self.watermarks(&partitions).await?;
        let configs = self.topic_configs(name).await?;
        Ok(TopicDescription {
            name: metadata.name.clone(),
            internal: metadata.internal,
            partitions: metadata
                .partitions
                .iter()
                .zip(watermarks)
                .map(|(p, watermarks)| PartitionDescription {
                    partition: p.partition,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    watermarks,
                })
                .collect(),
            configs,
        })
    }
}
