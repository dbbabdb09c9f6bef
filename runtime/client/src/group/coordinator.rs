//! The group coordinator's APIs, one function per request: JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch.
//!
//! Each function builds its request for the negotiated version (fields
//! moved between versions: LeaveGroup names members in a list from v3,
//! OffsetFetch batches groups from v8) and returns the answer with its
//! error codes untouched. What an error code means for the member (rejoin,
//! find the coordinator again, give up) is decided in [`super`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::kafka_protocol::messages::leave_group_request::MemberIdentity;
use sluice_protocol::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use sluice_protocol::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use sluice_protocol::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use super::assignor::{PROTOCOL_TYPE, RANGE};
use crate::connection::Connection;
use crate::error::{ClientError, Result};

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// Timeouts of a membership.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionTimeouts {
    pub session: Duration,
    pub rebalance: Duration,
}

/// Sends JoinGroup. It blocks on the coordinator until every member has
/// (re)joined, so it may take up to the rebalance timeout.
pub(crate) async fn join_group(
    connection: &Connection,
    group: &str,
    member_id: &str,
    timeouts: SessionTimeouts,
    subscription: Bytes,
) -> Result<JoinGroupResponse> {
    let version = connection.version(ApiKey::JoinGroup)?;
    let mut request = JoinGroupRequest::default()
        .with_group_id(group_id(group))
        .with_session_timeout_ms(millis(timeouts.session))
        .with_member_id(text(member_id))
        .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str(RANGE))
            .with_metadata(subscription)]);
    if version >= 1 {
        request = request.with_rebalance_timeout_ms(millis(timeouts.rebalance));
    }
    // The coordinator holds the request until the rebalance completes.
    let timeout = timeouts.rebalance + Duration::from_secs(5);
    connection.send_at(request, version, timeout).await
}

/// Sends SyncGroup; the leader passes every member's assignment, the
/// others none.
pub(crate) async fn sync_group(
    connection: &Connection,
    group: &str,
    generation_id: i32,
    member_id: &str,
    assignments: Vec<(String, Bytes)>,
    timeouts: SessionTimeouts,
) -> Result<SyncGroupResponse> {
    let version = connection.version(ApiKey::SyncGroup)?;
    let assignments = assignments
        .into_iter()
        .map(|(member, assignment)| {
            SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member))
                .with_assignment(assignment)
        })
        .collect();
    let mut request = SyncGroupRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation_id)
        .with_member_id(text(member_id))
        .with_assignments(assignments);
    if version >= 5 {
        request = request
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name(Some(StrBytes::from_static_str(RANGE)));
    }
    // Followers wait for the leader's SyncGroup.
    let timeout = timeouts.rebalance + Duration::from_secs(5);
    connection.send_at(request, version, timeout).await
}

/// Sends Heartbeat; returns its error code.
pub(crate) async fn heartbeat(
    connection: &Connection,
    group: &str,
    generation_id: i32,
    member_id: &str,
) -> Result<i16> {
    let request = HeartbeatRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id(generation_id)
        .with_member_id(text(member_id));
    Ok(connection.send(request).await?.error_code)
}

/// Sends LeaveGroup for `member_id`; returns the first error code.
pub(crate) async fn leave_group(
    connection: &Connection,
    group: &str,
    member_id: &str,
) -> Result<i16> {
    let version = connection.version(ApiKey::LeaveGroup)?;
    let request = LeaveGroupRequest::default().with_group_id(group_id(group));
    let request = if version >= 3 {
        let mut member = MemberIdentity::default().with_member_id(text(member_id));
        if version >= 5 {
            member = member.with_reason(Some(StrBytes::from_static_str("the consumer is closing")));
        }
        request.with_members(vec![member])
    } else {
        request.with_member_id(text(member_id))
    };
    let timeout = connection.request_timeout();
    let response = connection.send_at(request, version, timeout).await?;
    let member_error = response
        .members
        .iter()
        .map(|m| m.error_code)
        .find(|&c| c != 0);
    Ok(if response.error_code != 0 {
        response.error_code
    } else {
        member_error.unwrap_or(0)
    })
}

/// Commits `offsets` (topic, partition, next offset to read) for a member
/// of `generation_id`, or for no generation (-1, an admin commit). Returns
/// each partition's error code.
pub(crate) async fn commit_offsets(
    connection: &Connection,
    group: &str,
    generation_id: i32,
    member_id: &str,
    offsets: &[(Arc<str>, i32, i64)],
) -> Result<Vec<(String, i32, i16)>> {
    let version = connection.version(ApiKey::OffsetCommit)?;
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let entry = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset);
        match topics.iter_mut().find(|t| *t.name.0 == **topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(text(topic)))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let mut request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(text(member_id))
        .with_topics(topics);
    if version <= 4 {
        // -1: keep the offsets as long as the broker's retention says.
        request = request.with_retention_time_ms(-1);
    }
    let response = connection.send(request).await?;
    let mut codes = Vec::new();
    for topic in response.topics {
        for partition in topic.partitions {
            codes.push((
                topic.name.0.to_string(),
                partition.partition_index,
                partition.error_code,
            ));
        }
    }
    Ok(codes)
}

/// The committed offsets of `group`, asked over `connection` to its
/// coordinator: for the given topic-partitions, or
/// for every partition the group has committed when `partitions` is
/// `None`. Partitions without a commit are left out.
///
/// # Errors
/// A group-level error code (e.g. NOT_COORDINATOR) or a partition's.
pub async fn committed_offsets(
    connection: &Connection,
    group: &str,
    partitions: Option<&BTreeMap<String, Vec<i32>>>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let version = connection.version(ApiKey::OffsetFetch)?;
    let resource = || format!("group {group}");
    let mut committed = BTreeMap::new();
    let mut record = |topic: &str, partition: i32, offset: i64, code: i16| -> Result<()> {
        let resource = || format!("group {group} {topic}-{partition}");
        if let Some(error) = ClientError::from_code(ApiKey::OffsetFetch, resource, code, None) {
            return Err(error);
        }
        if offset >= 0 {
            committed.insert((topic.to_owned(), partition), offset);
        }
        Ok(())
    };
    if version >= 8 {
        let topics = partitions.map(|p| {
            p.iter()
                .map(|(topic, partitions)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(TopicName(text(topic)))
                        .with_partition_indexes(partitions.clone())
                })
                .collect()
        });
        let request =
            OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(topics)]);
        let response = connection
            .send_at(request, version, connection.request_timeout())
            .await?;
        for answer in response.groups {
            if let Some(error) =
                ClientError::from_code(ApiKey::OffsetFetch, resource, answer.error_code, None)
            {
                return Err(error);
            }
            for topic in answer.topics {
                for p in topic.partitions {
                    record(
                        &topic.name.0,
                        p.partition_index,
                        p.committed_offset,
                        p.error_code,
                    )?;
                }
            }
        }
    } else {
        let topics = partitions.map(|p| {
            p.iter()
                .map(|(topic, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(text(topic)))
                        .with_partition_indexes(partitions.clone())
                })
                .collect()
        });
        let request = OffsetFetchRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics);
        let response = connection
            .send_at(request, version, connection.request_timeout())
            .await?;
        if let Some(error) =
            ClientError::from_code(ApiKey::OffsetFetch, resource, response.error_code, None)
        {
            return Err(error);
        }
        for topic in response.topics {
            for p in topic.partitions {
                record(
                    &topic.name.0,
                    p.partition_index,
                    p.committed_offset,
                    p.error_code,
                )?;
            }
        }
    }
    Ok(committed)
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
