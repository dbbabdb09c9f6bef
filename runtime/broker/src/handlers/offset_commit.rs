//! OffsetCommit: partitions that do not exist get
//! UNKNOWN_TOPIC_OR_PARTITION here; the rest go to the coordinator, which
//! answers once `__consumer_offsets` has them on disk.
//!
//! Version notes: v2–v4 carry a retention time, ignored (committed offsets
//! do not expire in Sluice); v6 adds the leader epoch; v7 the
//! `group_instance_id`.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use sluice_protocol::kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::debug;

use crate::group::{MemberRef, OffsetCommit, PartitionCommit};
use crate::state::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    request: OffsetCommitRequest,
    version: i16,
) -> OffsetCommitResponse {
    let mut commit = OffsetCommit {
        group_id: request.group_id.0.to_string(),
        member: MemberRef {
            member_id: request.member_id.to_string(),
            group_instance_id: request
                .group_instance_id
                .filter(|_| version >= 7)
                .map(|id| id.to_string()),
        },
        generation_id: request.generation_id_or_member_epoch,
        partitions: Vec::new(),
    };
    // Error codes by topic and partition, in request order; `None` marks
    // the partitions handed to the coordinator, in the same order.
    let mut codes: Vec<Vec<(i32, Option<i16>)>> = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let mut topic_codes = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let index = partition.partition_index;
            if broker.partition(name, index).is_none() {
                topic_codes.push((index, Some(ResponseError::UnknownTopicOrPartition.code())));
                continue;
            }
            topic_codes.push((index, None));
            commit.partitions.push(PartitionCommit {
                topic: name.to_string(),
                partition: index,
                offset: partition.committed_offset,
                leader_epoch: if version >= 6 {
                    partition.committed_leader_epoch
                } else {
                    -1
                },
                metadata: partition
                    .committed_metadata
                    .as_deref()
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        codes.push(topic_codes);
    }
    debug!(
        group = %commit.group_id,
        member = %commit.member.member_id,
        generation = commit.generation_id,
        partitions = commit.partitions.len(),
        "offset commit"
    );
    let results = if commit.partitions.is_empty() {
        Vec::new()
    } else {
        broker.groups.commit_offsets(commit).await
    };
    let mut results = results.into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(codes)
        .map(|(topic, topic_codes)| {
            let partitions = topic_codes
                .into_iter()
                .map(|(index, code)| {
                    let code = code.unwrap_or_else(|| match results.next() {
                        Some(Ok(())) => 0,
                        Some(Err(error)) => error.code(),
                        None => ResponseError::UnknownServerError.code(),
                    });
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
