//! The cluster as a Metadata response describes it: brokers, and per topic
//! its partitions with their leaders.
//!
//! Plain owned data, built once per Metadata response and shared behind an
//! `Arc`, so readers never hold a lock while they use it. Deciding when to
//! refresh it is [`crate::cluster::Cluster`]'s job.

use std::collections::BTreeMap;

use sluice_protocol::kafka_protocol::messages::MetadataResponse;

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// The `host:port` to dial.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub partition: i32,
    /// Node id of the leader; -1 while there is none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Error code for this partition (e.g. LEADER_NOT_AVAILABLE); 0 if none.
    pub error_code: i16,
}

/// One topic and its partitions, sorted by partition number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub internal: bool,
    /// Indexed by partition number: `partitions[p].partition == p`.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The partition, if the topic has it.
    pub fn partition(&self, partition: i32) -> Option<&PartitionMetadata> {
        usize::try_from(partition)
            .ok()
            .and_then(|index| self.partitions.get(index))
    }
}

/// What one Metadata response says.
#[derive(Debug, Clone, Default)]
pub struct MetadataSnapshot {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    /// Topics the response described without an error.
    pub topics: BTreeMap<String, TopicMetadata>,
    /// Topics the response answered with an error code, e.g.
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub topic_errors: BTreeMap<String, i16>,
}

impl MetadataSnapshot {
    /// Reads a Metadata response. Partitions are sorted by number; a topic
    /// whose partition numbers have gaps is kept as an error (it cannot be
    /// indexed by partition number).
    pub fn from_response(response: MetadataResponse) -> MetadataSnapshot {
        let brokers = response
            .brokers
            .into_iter()
            .map(|broker| {
                let info = BrokerInfo {
                    node_id: broker.node_id.0,
                    host: broker.host.to_string(),
                    port: broker.port,
                    rack: broker.rack.map(|rack| rack.to_string()),
                };
                (info.node_id, info)
            })
            .collect();
        let mut topics = BTreeMap::new();
        let mut topic_errors = BTreeMap::new();
        for topic in response.topics {
            let Some(name) = topic.name.map(|name| name.0.to_string()) else {
                continue;
            };
            if topic.error_code != 0 {
                topic_errors.insert(name, topic.error_code);
                continue;
            }
            let mut partitions: Vec<PartitionMetadata> = topic
                .partitions
                .into_iter()
                .map(|partition| PartitionMetadata {
                    partition: partition.partition_index,
                    leader: partition.leader_id.0,
                    leader_epoch: partition.leader_epoch,
                    replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
                    isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
                    error_code: partition.error_code,
                })
                .collect();
            partitions.sort_by_key(|partition| partition.partition);
            let dense = partitions
                .iter()
                .enumerate()
                .all(|(index, partition)| partition.partition == index as i32);
            if !dense {
                // UNKNOWN_SERVER_ERROR: the topic cannot be used as described.
                topic_errors.insert(name, -1);
                continue;
            }
            topics.insert(
                name.clone(),
                TopicMetadata {
                    name,
                    internal: topic.is_internal,
                    partitions,
                },
            );
        }
        MetadataSnapshot {
            cluster_id: response.cluster_id.map(|id| id.to_string()),
            controller_id: response.controller_id.0,
            brokers,
            topics,
            topic_errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_protocol::kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use sluice_protocol::kafka_protocol::messages::{BrokerId, TopicName};
    use sluice_protocol::kafka_protocol::protocol::StrBytes;

    use super::*;

    fn topic(name: &str, partitions: &[i32], error_code: i16) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.into()))))
            .with_error_code(error_code)
            .with_partitions(
                partitions
                    .iter()
                    .map(|&index| {
                        MetadataResponsePartition::default()
                            .with_partition_index(index)
                            .with_leader_id(BrokerId(7))
                    })
                    .collect(),
            )
    }

    #[test]
    fn partitions_are_sorted_and_errors_kept_apart() {
        let response = MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(7))
                .with_host(StrBytes::from_static_str("h"))
                .with_port(9)])
            .with_topics(vec![
                topic("a", &[1, 0, 2], 0),
                topic("gappy", &[0, 2], 0),
                topic("missing", &[], 3),
            ]);
        let snapshot = MetadataSnapshot::from_response(response);
        assert_eq!(snapshot.brokers[&7].addr(), "h:9");
        let a = &snapshot.topics["a"];
        assert_eq!(
            a.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(a.partition(2).unwrap().leader, 7);
        assert!(a.partition(3).is_none() && a.partition(-1).is_none());
        assert_eq!(snapshot.topic_errors["missing"], 3);
        assert_eq!(snapshot.topic_errors["gappy"], -1);
    }
}
