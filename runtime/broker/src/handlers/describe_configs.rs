//! DescribeConfigs: the settings of topics and of this broker, as admin
//! tools (`kafka-configs`, `kcat -L`, AdminClient) show them.
//!
//! - Topic (resource type 2): every setting of the topic's `LogConfig`,
//!   by its Kafka name. A value equal to the broker's default for new
//!   topics is reported as DEFAULT_CONFIG, any other as
//!   DYNAMIC_TOPIC_CONFIG (set for this topic). Not read-only: they were
//!   chosen at creation, though no API alters them yet.
//! - Broker (resource type 4, name empty or this broker's id): a few
//!   settings, read-only, STATIC_BROKER_CONFIG (they come from the
//!   command line or config file).
//! - `configuration_keys` null or empty lists every setting, as in Kafka.
//! - Synonyms are always empty; documentation is not provided.
//!
//! Settings live in memory, so this handler does no I/O.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use sluice_protocol::kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::LogConfig;
use tracing::debug;

use crate::error_code::{code, NONE};
use crate::state::Broker;

/// Kafka's `ConfigResource.Type`.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ConfigSource` values that apply here.
pub(super) const SOURCE_DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub(super) const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
pub(super) const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// Kafka's `ConfigType` values that apply here.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_LIST: i8 = 7;

/// One setting as described to clients.
pub(super) struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: i8,
    pub config_type: i8,
}

/// The settings of a topic with `config`, marked default where they equal
/// `defaults` (the broker's settings for new topics).
pub(super) fn topic_config_entries(config: &LogConfig, defaults: &LogConfig) -> Vec<ConfigEntry> {
    let defaults = defaults.entries();
    config
        .entries()
        .into_iter()
        .map(|(name, value)| {
            let is_default = defaults
                .iter()
                .any(|(key, default)| *key == name && *default == value);
            ConfigEntry {
                name: name.to_string(),
                source: if is_default {
                    SOURCE_DEFAULT_CONFIG
                } else {
                    SOURCE_DYNAMIC_TOPIC_CONFIG
                },
                config_type: topic_config_type(name),
                value,
            }
        })
        .collect()
}

/// The Kafka type of a topic setting, as `kafka-configs` shows it.
fn topic_config_type(name: &str) -> i8 {
    match name {
        "segment.bytes" | "index.interval.bytes" => TYPE_INT,
        "segment.ms" | "retention.bytes" | "retention.ms" | "delete.retention.ms" => TYPE_LONG,
        "cleanup.policy" => TYPE_LIST,
        _ => TYPE_STRING,
    }
}

/// The broker settings described, by their Kafka names.
fn broker_config_entries(broker: &Broker) -> Vec<ConfigEntry> {
    let config = &broker.config;
    let entry = |name: &str, value: String, config_type| ConfigEntry {
        name: name.to_string(),
        value,
        source: SOURCE_STATIC_BROKER_CONFIG,
        config_type,
    };
    let mut entries = vec![
        entry("broker.id", config.node_id.to_string(), TYPE_INT),
        entry(
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            TYPE_BOOLEAN,
        ),
        entry(
            "num.partitions",
            config.default_partitions.to_string(),
            TYPE_INT,
        ),
        entry("default.replication.factor", "1".into(), TYPE_INT),
        entry(
            "socket.request.max.bytes",
            config.max_frame_bytes.to_string(),
            TYPE_INT,
        ),
        entry(
            "max.connections",
            config.max_connections.to_string(),
            TYPE_INT,
        ),
    ];
    // The defaults for new topics, under Kafka's broker-level names.
    for (name, value) in config.default_log_config.entries() {
        let broker_name = match name {
            "segment.bytes" => "log.segment.bytes",
            "segment.ms" => "log.roll.ms",
            "retention.bytes" => "log.retention.bytes",
            "retention.ms" => "log.retention.ms",
            "cleanup.policy" => "log.cleanup.policy",
            _ => continue,
        };
        entries.push(entry(broker_name, value, topic_config_type(name)));
    }
    entries
}

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    debug!(resources = request.resources.len(), "describe configs");
    let results = request
        .resources
        .into_iter()
        .map(|resource| describe(broker, resource, version))
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe(
    broker: &Broker,
    resource: DescribeConfigsResource,
    version: i16,
) -> DescribeConfigsResult {
    let result = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    let name = resource.resource_name.as_str();
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => match broker.topic(name) {
            Some(topic) => Ok(topic_config_entries(
                &topic.config,
                &broker.config.default_log_config,
            )),
            None => Err((
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            )),
        },
        RESOURCE_BROKER if name.is_empty() || name == broker.config.node_id.to_string() => {
            Ok(broker_config_entries(broker))
        }
        RESOURCE_BROKER => Err((
            ResponseError::InvalidRequest,
            format!(
                "broker {name:?} is not this broker ({})",
                broker.config.node_id
            ),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("resource type {other} is not supported; describe a topic (2) or a broker (4)"),
        )),
    };
    let entries = match entries {
        Ok(entries) => entries,
        Err((error, message)) => {
            return result
                .with_error_code(code(error))
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    };
    let read_only = resource.resource_type == RESOURCE_BROKER;
    let configs = entries
        .into_iter()
        // As Kafka: null or empty keys mean every setting.
        .filter(|entry| {
            resource.configuration_keys.as_ref().is_none_or(|keys| {
                keys.is_empty() || keys.iter().any(|key| key.as_str() == entry.name)
            })
        })
        .map(|entry| {
            let described = DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_string(entry.name))
                .with_value(Some(StrBytes::from_string(entry.value)))
                .with_read_only(read_only)
                .with_config_source(entry.source)
                .with_documentation(None);
            if version >= 3 {
                described.with_config_type(entry.config_type)
            } else {
                described
            }
        })
        .collect();
    result
        .with_error_code(NONE)
        .with_error_message(None)
        .with_configs(configs)
}
