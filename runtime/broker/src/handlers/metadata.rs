//! Metadata: the brokers (just this one) and the topics with their
//! partitions, each led by this broker. Unknown topics are created here
//! when the client allows it and the broker has auto-creation on.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, MetadataRequest, MetadataResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::Topic;
use tracing::info;

use crate::error_code::{code, storage_error_code};
use crate::state::Broker;

/// Topics whose name starts like this are Sluice's own (consumer offsets).
pub const INTERNAL_TOPIC_PREFIX: &str = "__";

pub async fn handle(
    broker: &Arc<Broker>,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    let mut topics = Vec::new();
    // v0: an empty list means all topics; v1+: null means all, empty none.
    let wanted: Option<Vec<String>> = match request.topics {
        None => None,
        Some(list) if list.is_empty() && version == 0 => None,
        Some(list) => Some(
            list.into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
    };
    match wanted {
        None => {
            for topic in broker.store.topics() {
                topics.push(describe(&topic, node));
            }
        }
        Some(names) => {
            let may_create = broker.config.auto_create_topics
                && (version < 4 || request.allow_auto_topic_creation);
            for name in names {
                let topic = match broker.topic(&name) {
                    Some(topic) => Ok(topic),
                    None if may_create && !name.starts_with(INTERNAL_TOPIC_PREFIX) => {
                        // Creating a topic creates files: off the reactor.
                        let creator = broker.clone();
                        let topic_name = name.clone();
                        let created = tokio::task::spawn_blocking(move || {
                            creator.create_topic(&topic_name, None, None)
                        })
                        .await
                        .expect("topic creation does not panic");
                        if created.is_ok() {
                            info!(topic = %name, "auto-created topic");
                        }
                        created.map_err(|e| storage_error_code(&e))
                    }
                    None => Err(code(ResponseError::UnknownTopicOrPartition)),
                };
                topics.push(match topic {
                    Ok(topic) => describe(&topic, node),
                    Err(error_code) => MetadataResponseTopic::default()
                        .with_error_code(error_code)
                        .with_name(Some(TopicName(StrBytes::from_string(name)))),
                });
            }
        }
    }
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(broker.advertised_host.clone()))
            .with_port(broker.advertised_port)])
        .with_cluster_id(Some(StrBytes::from_string(
            broker.config.cluster_id.clone(),
        )))
        .with_controller_id(node)
        .with_topics(topics)
}

fn describe(topic: &Topic, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions.len() as i32)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_is_internal(topic.name.starts_with(INTERNAL_TOPIC_PREFIX))
        .with_partitions(partitions)
}
