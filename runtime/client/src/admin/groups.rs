//! Consumer groups as an operator sees them: which exist, who is in
//! them, what each member reads, and how far behind each partition is.
//!
//! Lag is the high watermark minus the committed offset, both asked now:
//! ListGroups from every broker (each lists the groups it coordinates),
//! DescribeGroups and OffsetFetch from the group's coordinator, and
//! ListOffsets from the partitions' leaders.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, GroupId, ListGroupsRequest,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use super::Admin;
use crate::error::{ClientError, Result};
use crate::group::assignor::{decode_assignment, PROTOCOL_TYPE};
use crate::group::committed_offsets;
use crate::offsets::{list_offsets, OffsetQuery, LATEST};

/// One group as ListGroups names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// "consumer" for consumer groups.
    pub protocol_type: String,
    /// Stable, PreparingRebalance, CompletingRebalance, Empty, Dead; empty
    /// when the broker's ListGroups version does not tell.
    pub state: String,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Topic → partitions, decoded from the consumer protocol (empty for
    /// other protocol types).
    pub assignment: BTreeMap<String, Vec<i32>>,
}

/// How far a group is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read; `None` without a commit.
    pub committed: Option<i64>,
    /// The high watermark.
    pub log_end: i64,
    /// `log_end - committed`; `None` without a commit.
    pub lag: Option<i64>,
    /// The member assigned the partition, if any.
    pub member_id: Option<String>,
}

/// Everything `group describe` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignment strategy in use ("range").
    pub protocol: String,
    pub members: Vec<MemberDescription>,
    /// Assigned or committed partitions, by topic then partition.
    pub partitions: Vec<PartitionLag>,
}

impl GroupDescription {
    /// Total lag over the partitions that have a commit.
    pub fn total_lag(&self) -> i64 {
        self.partitions.iter().filter_map(|p| p.lag).sum()
    }
}

impl Admin {
    /// Every group of the cluster, sorted by id.
    ///
    /// # Errors
    /// A broker that cannot be reached or answers with an error.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let cluster = self.cluster();
        let mut brokers: Vec<String> = cluster.brokers().values().map(|b| b.addr()).collect();
        if brokers.is_empty() {
            brokers.push(cluster.any().await?.addr().to_owned());
        }
        let mut groups = BTreeMap::new();
        for addr in brokers {
            let connection = cluster.connection(&addr).await?;
            let response = connection.send(ListGroupsRequest::default()).await?;
            let resource = || format!("broker {addr}");
            if let Some(error) =
                ClientError::from_code(ApiKey::ListGroups, resource, response.error_code, None)
            {
                return Err(error);
            }
            for group in response.groups {
                let listing = GroupListing {
                    group_id: group.group_id.0.to_string(),
                    protocol_type: group.protocol_type.to_string(),
                    state: group.group_state.to_string(),
                };
                groups.insert(listing.group_id.clone(), listing);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Members, assignments, committed offsets, log ends and lag of a
    /// group. A group nobody knows comes back in state `Dead` with nothing
    /// in it, as Kafka describes it.
    ///
    /// # Errors
    /// A DescribeGroups or OffsetFetch error other than an unknown group.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let cluster = self.cluster();
        let connection = cluster.coordinator(group).await?;
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))]);
        let response = connection.send(request).await?;
        let Some(described) = response.groups.into_iter().next() else {
            return Err(ClientError::Group {
                group: group.to_owned(),
                reason: "DescribeGroups answered without the group".into(),
            });
        };
        let mut description = GroupDescription {
            group_id: group.to_owned(),
            state: described.group_state.to_string(),
            protocol_type: described.protocol_type.to_string(),
            protocol: described.protocol_data.to_string(),
            members: Vec::new(),
            partitions: Vec::new(),
        };
        let resource = || format!("group {group}");
        if let Some(error) = ClientError::from_code(
            ApiKey::DescribeGroups,
            resource,
            described.error_code,
            described.error_message.as_deref(),
        ) {
            use sluice_protocol::kafka_protocol::error::ResponseError;
            if error.kafka_error() == Some(ResponseError::GroupIdNotFound) {
                description.state = "Dead".into();
                return Ok(description);
            }
            return Err(error);
        }
        let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
        for member in described.members {
            let assignment = if description.protocol_type == PROTOCOL_TYPE {
                decode_assignment(&member.member_assignment).unwrap_or_default()
            } else {
                BTreeMap::new()
            };
            for (topic, partitions) in &assignment {
                for &partition in partitions {
                    owners.insert((topic.clone(), partition), member.member_id.to_string());
                }
            }
            description.members.push(MemberDescription {
                member_id: member.member_id.to_string(),
                client_id: member.client_id.to_string(),
                client_host: member.client_host.to_string(),
                assignment,
            });
        }
        description
            .members
            .sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let committed = committed_offsets(&connection, group, None).await?;
        let mut partitions: BTreeSet<(String, i32)> = committed.keys().cloned().collect();
        partitions.extend(owners.keys().cloned());
        let queries: Vec<OffsetQuery> = partitions
            .iter()
            .map(|(topic, partition)| OffsetQuery {
                topic: Arc::from(topic.as_str()),
                partition: *partition,
                timestamp: LATEST,
            })
            .collect();
        let ends = if queries.is_empty() {
            Vec::new()
        } else {
            list_offsets(cluster, &queries).await?
        };
        for ((topic, partition), end) in partitions.into_iter().zip(ends) {
            let committed = committed.get(&(topic.clone(), partition)).copied();
            let member_id = owners.get(&(topic.clone(), partition)).cloned();
            description.partitions.push(PartitionLag {
                topic,
                partition,
                committed,
                log_end: end.offset,
                lag: committed.map(|c| (end.offset - c).max(0)),
                member_id,
            });
        }
        Ok(description)
    }
}
