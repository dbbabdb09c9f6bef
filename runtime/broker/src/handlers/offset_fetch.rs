//! OffsetFetch: a group's committed offsets; -1 for partitions it never
//! committed. v1 names the partitions; v2–v7 may ask for all (null
//! topics); v8 and later ask for several groups at once.
//!
//! `require_stable` (v7+) needs nothing: Sluice has no transactional
//! offset commits that could be pending.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use sluice_protocol::kafka_protocol::messages::{
    OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::group::{CommittedOffset, FetchedOffsets};
use crate::state::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let topics = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let fetched = fetch(broker, group.group_id.0.as_str(), topics);
                OffsetFetchResponseGroup::default()
                    .with_group_id(group.group_id)
                    .with_topics(batched_topics(fetched))
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    // v1 cannot ask for all topics; a null list there means none.
    let topics = match request.topics {
        None if version < 2 => Some(Vec::new()),
        topics => topics.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect()
        }),
    };
    let fetched = fetch(broker, request.group_id.0.as_str(), topics);
    OffsetFetchResponse::default().with_topics(single_topics(fetched))
}

fn fetch(
    broker: &Broker,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> FetchedOffsets {
    debug!(
        group = group_id,
        all_topics = topics.is_none(),
        "offset fetch"
    );
    broker.groups.fetch_offsets(group_id, topics)
}

/// Offset, leader epoch and metadata of a partition; -1, -1, "" without a
/// commit, as Kafka answers.
fn fields(committed: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match committed {
        Some(c) => (c.offset, c.leader_epoch, StrBytes::from_string(c.metadata)),
        None => (-1, -1, StrBytes::new()),
    }
}

fn single_topics(fetched: FetchedOffsets) -> Vec<OffsetFetchResponseTopic> {
    fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| {
                    let (offset, leader_epoch, metadata) = fields(committed);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(leader_epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partitions(partitions)
        })
        .collect()
}

fn batched_topics(fetched: FetchedOffsets) -> Vec<OffsetFetchResponseTopics> {
    fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, committed)| {
                    let (offset, leader_epoch, metadata) = fields(committed);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(leader_epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partitions(partitions)
        })
        .collect()
}
