//! CreateTopics: new topics, each checked the way Kafka checks it, then
//! created in the store (or only checked, with `validate_only`).
//!
//! Per topic, in order: a name given twice in one request
//! (INVALID_REQUEST), the name (INVALID_TOPIC_EXCEPTION, also when it
//! differs from an existing topic only by '.' versus '_', which Kafka
//! refuses because metric names would clash), existence
//! (TOPIC_ALREADY_EXISTS), partitions (-1 is the broker default; at least
//! 1, at most [`PARTITIONS_PER_TOPIC_MAX`]; INVALID_PARTITIONS),
//! replication factor (-1 or 1 on this single broker;
//! INVALID_REPLICATION_FACTOR), a manual assignment (only this broker,
//! partitions 0..n; INVALID_REPLICA_ASSIGNMENT), and each config through
//! `LogConfig::set` over the broker's defaults (INVALID_CONFIG, with
//! `set`'s message). From v5 the answer carries the partition count, the
//! replication factor and every setting with its source.
//!
//! Creating a topic writes files, so the whole request runs on a blocking
//! thread. `timeout_ms` has nothing to wait for: creation is done when the
//! answer goes out.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::create_topics_request::CreatableTopic;
use sluice_protocol::kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use sluice_protocol::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::store::validate_topic_name;
use sluice_storage::LogConfig;
use tracing::debug;

use super::describe_configs::topic_config_entries;
use crate::error_code::{code, storage_error_code};
use crate::state::Broker;

/// Most partitions a topic may have: each partition runs a writer and an
/// fsync thread.
pub const PARTITIONS_PER_TOPIC_MAX: u32 = 1000;

/// A topic that passed every check: what it is (or would be) created with.
struct Planned {
    partitions: u32,
    config: LogConfig,
}

/// A refusal: the Kafka error code and a message for the client.
type Refusal = (i16, String);

fn refusal(error: ResponseError, message: impl Into<String>) -> Refusal {
    (code(error), message.into())
}

pub async fn handle(
    broker: &Arc<Broker>,
    request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    debug!(
        topics = request.topics.len(),
        validate_only = request.validate_only,
        "create topics"
    );
    let names: Vec<_> = request
        .topics
        .iter()
        .map(|topic| topic.name.clone())
        .collect();
    let for_blocking = broker.clone();
    let created =
        tokio::task::spawn_blocking(move || create_all(&for_blocking, request, version)).await;
    match created {
        Ok(response) => response,
        Err(error) => {
            debug!(%error, "create topics failed");
            let topics = names
                .into_iter()
                .map(|name| {
                    CreatableTopicResult::default()
                        .with_name(name)
                        .with_error_code(code(ResponseError::UnknownServerError))
                        .with_error_message(Some(StrBytes::from_static_str(
                            "topic creation failed; see the broker log",
                        )))
                })
                .collect();
            CreateTopicsResponse::default().with_topics(topics)
        }
    }
}

/// Checks and creates every topic of the request. Blocking.
fn create_all(broker: &Broker, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut mentions: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *mentions.entry(topic.name.0.to_string()).or_default() += 1;
    }
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let planned = if mentions.get(name).copied().unwrap_or(0) > 1 {
                Err(refusal(
                    ResponseError::InvalidRequest,
                    format!("topic {name:?} appears more than once in the request"),
                ))
            } else {
                plan(broker, topic).and_then(|planned| {
                    if request.validate_only {
                        return Ok(planned);
                    }
                    broker
                        .create_topic(name, Some(planned.partitions), Some(planned.config.clone()))
                        .map(|_| planned)
                        .map_err(|error| (storage_error_code(&error), error.to_string()))
                })
            };
            result(broker, topic, planned, version)
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Runs the checks of one topic.
fn plan(broker: &Broker, topic: &CreatableTopic) -> Result<Planned, Refusal> {
    let name = topic.name.0.as_str();
    validate_topic_name(name)
        .map_err(|error| refusal(ResponseError::InvalidTopicException, error.to_string()))?;
    if broker.topic(name).is_some() {
        return Err(refusal(
            ResponseError::TopicAlreadyExists,
            format!("topic {name:?} already exists"),
        ));
    }
    let collision_key = name.replace('.', "_");
    if let Some(other) = broker
        .store
        .topics()
        .into_iter()
        .find(|other| other.name.replace('.', "_") == collision_key)
    {
        return Err(refusal(
            ResponseError::InvalidTopicException,
            format!(
                "topic {name:?} collides with existing topic {:?}: names that differ only in '.' and '_' are not allowed",
                other.name
            ),
        ));
    }
    let partitions = partition_count(broker, topic)?;
    let mut config = broker.config.default_log_config.clone();
    for setting in &topic.configs {
        let key = setting.name.as_str();
        let Some(value) = &setting.value else {
            return Err(refusal(
                ResponseError::InvalidConfig,
                format!("config {key:?} has no value"),
            ));
        };
        config
            .set(key, value.as_str())
            .map_err(|message| refusal(ResponseError::InvalidConfig, message))?;
    }
    Ok(Planned { partitions, config })
}

/// The partition count from `num_partitions`, `replication_factor` and
/// the manual assignment, whichever the request uses.
fn partition_count(broker: &Broker, topic: &CreatableTopic) -> Result<u32, Refusal> {
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(refusal(
                ResponseError::InvalidRequest,
                "give either a replica assignment or num_partitions and replication_factor, not both",
            ));
        }
        let node = broker.config.node_id;
        let indexes: BTreeSet<i32> = topic
            .assignments
            .iter()
            .map(|a| a.partition_index)
            .collect();
        let contiguous = indexes.len() == topic.assignments.len()
            && indexes
                .iter()
                .copied()
                .eq(0..topic.assignments.len() as i32);
        let only_here = topic
            .assignments
            .iter()
            .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == node);
        if !contiguous || !only_here {
            return Err(refusal(
                ResponseError::InvalidReplicaAssignment,
                format!("assign partitions 0..n, each to this broker ({node}) only"),
            ));
        }
        return check_partitions(topic.assignments.len() as i64);
    }
    match topic.replication_factor {
        -1 | 1 => {}
        factor if factor > 1 => {
            return Err(refusal(
                ResponseError::InvalidReplicationFactor,
                format!("replication factor {factor} is larger than the number of brokers (1)"),
            ))
        }
        factor => {
            return Err(refusal(
                ResponseError::InvalidReplicationFactor,
                format!("replication factor must be 1 or -1 (the default), got {factor}"),
            ))
        }
    }
    match topic.num_partitions {
        -1 => Ok(broker.config.default_partitions),
        count => check_partitions(i64::from(count)),
    }
}

fn check_partitions(count: i64) -> Result<u32, Refusal> {
    match u32::try_from(count) {
        Ok(count) if (1..=PARTITIONS_PER_TOPIC_MAX).contains(&count) => Ok(count),
        _ => Err(refusal(
            ResponseError::InvalidPartitions,
            format!("a topic needs 1 to {PARTITIONS_PER_TOPIC_MAX} partitions, got {count}"),
        )),
    }
}

fn result(
    broker: &Broker,
    topic: &CreatableTopic,
    planned: Result<Planned, Refusal>,
    version: i16,
) -> CreatableTopicResult {
    let result = CreatableTopicResult::default().with_name(topic.name.clone());
    match planned {
        Ok(planned) => {
            let result = result.with_error_message(None);
            if version < 5 {
                return result;
            }
            let configs = topic_config_entries(&planned.config, &broker.config.default_log_config)
                .into_iter()
                .map(|entry| {
                    CreatableTopicConfigs::default()
                        .with_name(StrBytes::from_string(entry.name))
                        .with_value(Some(StrBytes::from_string(entry.value)))
                        .with_config_source(entry.source)
                })
                .collect();
            result
                .with_num_partitions(planned.partitions as i32)
                .with_replication_factor(1)
                .with_configs(Some(configs))
        }
        Err((error, message)) => {
            debug!(topic = %topic.name.0, error_code = error, %message, "topic not created");
            result
                .with_error_code(error)
                .with_error_message(Some(StrBytes::from_string(message)))
        }
    }
}
