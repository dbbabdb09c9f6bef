//! One rejoin: JoinGroup and SyncGroup until the group agrees on a
//! generation, with the leader's range assignment in between.
//!
//! Each error that only means "again" (MEMBER_ID_REQUIRED with the id to
//! use, REBALANCE_IN_PROGRESS, a coordinator that moved) costs one round,
//! up to [`JOIN_ROUNDS_MAX`].

use std::collections::BTreeMap;

use bytes::Bytes;
use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::ApiKey;
use tracing::warn;

use super::coordinator::{self, SessionTimeouts};
use super::{assignor, GroupConsumer, Membership};
use crate::error::{ClientError, Result};

/// JoinGroup/SyncGroup rounds one rejoin may take.
const JOIN_ROUNDS_MAX: u32 = 20;

impl GroupConsumer {
    /// JoinGroup and SyncGroup until both succeed for one generation.
    pub(super) async fn join_and_sync(&mut self) -> Result<Membership> {
        let group = self.config.group_id.clone();
        let timeouts = SessionTimeouts {
            session: self.config.session_timeout,
            rebalance: self.config.rebalance_timeout,
        };
        let subscription = assignor::encode_subscription(&self.config.topics);
        let mut last_error = None;
        for _ in 0..JOIN_ROUNDS_MAX {
            let connection = match self.coordinator.get().await {
                Ok(connection) => connection,
                Err(error) if error.is_retriable() => {
                    last_error = Some(error);
                    tokio::time::sleep(self.cluster.config().retry_backoff).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let joined = coordinator::join_group(
                &connection,
                &group,
                &self.member_id,
                timeouts,
                subscription.clone(),
            )
            .await;
            let joined = match joined {
                Ok(joined) => joined,
                Err(error) if error.is_retriable() => {
                    self.coordinator.reset();
                    last_error = Some(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let resource = || format!("group {group}");
            if let Some(error) =
                ClientError::from_code(ApiKey::JoinGroup, resource, joined.error_code, None)
            {
                match error.kafka_error() {
                    Some(ResponseError::MemberIdRequired) => {
                        self.member_id = joined.member_id.to_string();
                    }
                    Some(ResponseError::UnknownMemberId) => self.member_id.clear(),
                    Some(ResponseError::RebalanceInProgress) => {}
                    _ if error.is_retriable() => {
                        self.coordinator.reset();
                        tokio::time::sleep(self.cluster.config().retry_backoff).await;
                    }
                    _ => return Err(error),
                }
                last_error = Some(error);
                continue;
            }
            self.member_id = joined.member_id.to_string();
            let leader = joined.leader == joined.member_id;
            let assignments = if leader {
                let members: Vec<(String, Bytes)> = joined
                    .members
                    .iter()
                    .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                    .collect();
                self.assign(&group, &members).await?
            } else {
                Vec::new()
            };
            let synced = coordinator::sync_group(
                &connection,
                &group,
                joined.generation_id,
                &self.member_id,
                assignments,
                timeouts,
            )
            .await;
            let synced = match synced {
                Ok(synced) => synced,
                Err(error) if error.is_retriable() => {
                    self.coordinator.reset();
                    last_error = Some(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            if let Some(error) =
                ClientError::from_code(ApiKey::SyncGroup, resource, synced.error_code, None)
            {
                match error.kafka_error() {
                    Some(ResponseError::UnknownMemberId) => self.member_id.clear(),
                    Some(ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration) => {
                    }
                    _ if error.is_retriable() => self.coordinator.reset(),
                    _ => return Err(error),
                }
                last_error = Some(error);
                continue;
            }
            let assignment = assignor::decode_assignment(&synced.assignment).map_err(|bad| {
                ClientError::Group {
                    group: group.clone(),
                    reason: format!("the leader's assignment cannot be read: {}", bad.0),
                }
            })?;
            return Ok(Membership {
                generation_id: joined.generation_id,
                leader,
                assignment,
            });
        }
        Err(ClientError::Group {
            group,
            reason: format!(
                "no stable membership after {JOIN_ROUNDS_MAX} join attempts (last: {})",
                last_error.map_or_else(|| "none".into(), |e| e.to_string())
            ),
        })
    }

    /// The leader's job: a range assignment of every member's topics,
    /// encoded per member.
    async fn assign(
        &self,
        group: &str,
        members: &[(String, Bytes)],
    ) -> Result<Vec<(String, Bytes)>> {
        let mut subscriptions = BTreeMap::new();
        for (member, metadata) in members {
            let topics =
                assignor::decode_subscription(metadata).map_err(|bad| ClientError::Group {
                    group: group.to_owned(),
                    reason: format!(
                        "member {member} sent a subscription that cannot be read: {}",
                        bad.0
                    ),
                })?;
            subscriptions.insert(member.clone(), topics);
        }
        let mut topics: Vec<&str> = subscriptions
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let snapshot = self.cluster.refresh(&topics).await?;
        let partitions: BTreeMap<String, i32> = snapshot
            .topics
            .iter()
            .map(|(name, topic)| (name.clone(), topic.partitions.len() as i32))
            .collect();
        for missing in topics.iter().filter(|t| !partitions.contains_key(**t)) {
            warn!(group, topic = %missing, "subscribed topic does not exist; nothing assigned from it");
        }
        let assignment = assignor::range_assign(&subscriptions, &partitions);
        Ok(assignment
            .into_iter()
            .map(|(member, assigned)| (member, assignor::encode_assignment(&assigned)))
            .collect())
    }
}
