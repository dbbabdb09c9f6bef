//! [`GroupConsumer`]: a [`Consumer`] whose partitions are handed out by a
//! consumer group, with committed offsets.
//!
//! | module | one job |
//! |---|---|
//! | [`assignor`] | the "consumer" protocol bytes and the "range" assignment |
//! | [`coordinator`] | one function per coordinator request, per version |
//! | `join` | one rejoin: JoinGroup, the leader's assignment, SyncGroup |
//! | `session` | the member's coordinator connection and its heartbeat task |
//!
//! Joining (Kafka's classic, eager protocol): find the coordinator, send
//! JoinGroup (a first JoinGroup without a member id gets
//! MEMBER_ID_REQUIRED and the id to use, then joins again), the leader
//! computes a range assignment for every member, SyncGroup hands each
//! member its partitions, OffsetFetch gives where the group left off
//! (partitions without a commit start at [`GroupConfig::start`]).
//!
//! A heartbeat task keeps the membership alive every
//! `heartbeat_interval`. When it hears REBALANCE_IN_PROGRESS (another
//! member joined or left) it raises a flag; the next `poll` commits the
//! positions, rejoins and carries on with the new assignment. The caller
//! must therefore keep polling: a member that does not rejoin within the
//! rebalance timeout is dropped from the group.

pub mod assignor;
pub mod coordinator;
mod join;
mod session;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::ApiKey;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

pub use coordinator::committed_offsets;

use session::{heartbeat_loop, CoordinatorLink, Signals};

use crate::cluster::Cluster;
use crate::consumer::{Consumer, ConsumerConfig, ConsumerRecord};
use crate::error::{ClientError, Result};
use crate::offsets::StartFrom;

/// Group consumer settings.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub group_id: String,
    /// Topics to consume; partitions are divided among the members.
    pub topics: Vec<String>,
    /// Where a partition without a committed offset starts.
    pub start: StartFrom,
    /// A member silent for this long is dropped from the group.
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin.
    pub rebalance_timeout: Duration,
    /// Time between heartbeats; well under the session timeout.
    pub heartbeat_interval: Duration,
    pub consumer: ConsumerConfig,
}

impl GroupConfig {
    /// Defaults for consuming `topics` in `group_id`, new partitions from
    /// the earliest offset.
    pub fn new(group_id: impl Into<String>, topics: Vec<String>) -> GroupConfig {
        GroupConfig {
            group_id: group_id.into(),
            topics,
            start: StartFrom::Earliest,
            session_timeout: Duration::from_secs(30),
            rebalance_timeout: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(3),
            consumer: ConsumerConfig::default(),
        }
    }
}

/// One generation of membership.
#[derive(Debug, Clone)]
struct Membership {
    generation_id: i32,
    leader: bool,
    assignment: BTreeMap<String, Vec<i32>>,
}

/// A member of a consumer group that consumes the partitions assigned to it.
pub struct GroupConsumer {
    cluster: Arc<Cluster>,
    config: GroupConfig,
    consumer: Consumer,
    /// Kept across rejoins, so the coordinator recognises the member.
    member_id: String,
    membership: Option<Membership>,
    signals: Arc<Signals>,
    coordinator: Arc<CoordinatorLink>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

impl GroupConsumer {
    /// Joins the group and gets a first assignment.
    ///
    /// # Errors
    /// As [`GroupConsumer::poll`]'s rejoin: coordinator errors that
    /// persist, or a group that cannot agree on an assignment.
    pub async fn join(cluster: Arc<Cluster>, config: GroupConfig) -> Result<GroupConsumer> {
        if config.topics.is_empty() {
            return Err(ClientError::InvalidConfig {
                reason: "a group consumer needs at least one topic".into(),
            });
        }
        let consumer = Consumer::new(cluster.clone(), config.consumer.clone());
        let coordinator = Arc::new(CoordinatorLink::new(
            cluster.clone(),
            config.group_id.clone(),
        ));
        let mut group = GroupConsumer {
            cluster,
            config,
            consumer,
            member_id: String::new(),
            membership: None,
            signals: Arc::new(Signals::default()),
            coordinator,
            heartbeat: None,
        };
        group.rejoin().await?;
        Ok(group)
    }

    /// The member id the coordinator gave this consumer.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The current generation, while a member.
    pub fn generation_id(&self) -> Option<i32> {
        self.membership.as_ref().map(|m| m.generation_id)
    }

    /// Whether this member computed the current assignment.
    pub fn is_leader(&self) -> bool {
        self.membership.as_ref().is_some_and(|m| m.leader)
    }

    /// The partitions assigned in the current generation.
    pub fn assignment(&self) -> Vec<(Arc<str>, i32)> {
        self.consumer.assignment()
    }

    /// The consumer underneath, for positions and watermarks.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Rejoins first if the group is rebalancing, then polls the assigned
    /// partitions (see [`Consumer::poll`]).
    ///
    /// # Errors
    /// A rejoin that fails, or [`Consumer::poll`]'s errors.
    pub async fn poll(&mut self) -> Result<Vec<ConsumerRecord>> {
        let max = self.config.consumer.max_poll_records;
        self.poll_max(max).await
    }

    /// As [`GroupConsumer::poll`], returning at most `max_records`.
    ///
    /// # Errors
    /// As [`GroupConsumer::poll`].
    pub async fn poll_max(&mut self, max_records: usize) -> Result<Vec<ConsumerRecord>> {
        if self.membership.is_none() || self.signals.rejoin.swap(false, Ordering::AcqRel) {
            self.rejoin().await?;
        }
        self.consumer.poll_max(max_records).await
    }

    /// Moves partitions back to the given offsets (topic, partition, next
    /// offset to read), dropping what was fetched past them: a stage whose
    /// batch failed re-reads it instead of committing past it.
    pub fn rewind(&mut self, offsets: &[(Arc<str>, i32, i64)]) {
        for (topic, partition, offset) in offsets {
            self.consumer
                .seek(topic, *partition, StartFrom::Offset(*offset));
        }
    }

    /// Commits the positions of every assigned partition (the offset after
    /// the last record `poll` returned). Returns false when the group is
    /// rebalancing and the commit was refused: the partitions' next owner
    /// starts from the previous commit (records may be seen twice).
    ///
    /// # Errors
    /// As [`GroupConsumer::commit_offsets`].
    pub async fn commit(&mut self) -> Result<bool> {
        let positions = self.consumer.positions();
        self.commit_offsets(&positions).await
    }

    /// Commits explicit offsets: (topic, partition, next offset to read).
    ///
    /// # Errors
    /// A commit error other than the rebalance ones (e.g.
    /// OFFSET_METADATA_TOO_LARGE), or a coordinator that stays unreachable.
    pub async fn commit_offsets(&mut self, offsets: &[(Arc<str>, i32, i64)]) -> Result<bool> {
        let Some(membership) = &self.membership else {
            return Ok(false);
        };
        if offsets.is_empty() {
            return Ok(true);
        }
        let group = &self.config.group_id;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let connection = self.coordinator.get().await?;
            let codes = coordinator::commit_offsets(
                &connection,
                group,
                membership.generation_id,
                &self.member_id,
                offsets,
            )
            .await;
            let codes = match codes {
                Ok(codes) => codes,
                Err(error) if error.is_retriable() && attempt <= self.cluster.config().retries => {
                    self.coordinator.reset();
                    continue;
                }
                Err(error) => return Err(error),
            };
            let mut retry = false;
            for (topic, partition, code) in codes {
                let resource = || format!("group {group} {topic}-{partition}");
                let Some(error) =
                    ClientError::from_code(ApiKey::OffsetCommit, resource, code, None)
                else {
                    continue;
                };
                match error.kafka_error() {
                    Some(
                        ResponseError::RebalanceInProgress
                        | ResponseError::IllegalGeneration
                        | ResponseError::UnknownMemberId,
                    ) => {
                        debug!(group = %group, %error, "commit refused; rejoining");
                        self.signals.rejoin.store(true, Ordering::Release);
                        if error.kafka_error() == Some(ResponseError::UnknownMemberId) {
                            self.signals.forget_member_id.store(true, Ordering::Release);
                        }
                        return Ok(false);
                    }
                    _ if error.is_retriable() && attempt <= self.cluster.config().retries => {
                        self.coordinator.reset();
                        retry = true;
                    }
                    _ => return Err(error),
                }
            }
            if !retry {
                return Ok(true);
            }
            tokio::time::sleep(self.cluster.config().retry_backoff).await;
        }
    }

    /// Commits the positions, stops heartbeating and leaves the group, so
    /// the others get its partitions at once instead of after the session
    /// timeout.
    ///
    /// # Errors
    /// The commit's error; leaving is best effort (a member that cannot
    /// leave is dropped when its session times out).
    pub async fn close(mut self) -> Result<()> {
        let committed = self.commit().await;
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        if self.membership.take().is_some() {
            let group = &self.config.group_id;
            let left = async {
                let connection = self.coordinator.get().await?;
                coordinator::leave_group(&connection, group, &self.member_id).await
            }
            .await;
            match left {
                Ok(0) => debug!(group = %group, member = %self.member_id, "left the group"),
                Ok(code) => debug!(group = %group, code, "leaving the group failed"),
                Err(error) => debug!(group = %group, %error, "leaving the group failed"),
            }
        }
        committed.map(drop)
    }

    /// Leaves the current generation (committing what was consumed) and
    /// joins the next one.
    async fn rejoin(&mut self) -> Result<()> {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        if self.membership.is_some() && !self.signals.forget_member_id.load(Ordering::Acquire) {
            // Eager protocol: hand the partitions back with their offsets.
            if let Err(error) = self.commit().await {
                warn!(group = %self.config.group_id, %error, "commit before rejoining failed");
            }
        }
        if self.signals.forget_member_id.swap(false, Ordering::AcqRel) {
            self.member_id.clear();
        }
        self.membership = None;
        self.signals.rejoin.store(false, Ordering::Release);
        self.consumer.assign(Vec::new());

        let membership = self.join_and_sync().await?;
        let coordinator = self.coordinator.get().await?;
        let committed = committed_offsets(
            &coordinator,
            &self.config.group_id,
            Some(&membership.assignment),
        )
        .await?;
        let mut partitions = Vec::new();
        for (topic, assigned) in &membership.assignment {
            let name: Arc<str> = Arc::from(topic.as_str());
            for &partition in assigned {
                let start = match committed.get(&(topic.clone(), partition)) {
                    Some(&offset) => StartFrom::Offset(offset),
                    None => self.config.start,
                };
                partitions.push((name.clone(), partition, start));
            }
        }
        info!(
            group = %self.config.group_id, member = %self.member_id,
            generation = membership.generation_id, leader = membership.leader,
            partitions = partitions.len(), "joined the group"
        );
        self.consumer.assign(partitions);
        self.heartbeat = Some(tokio::spawn(heartbeat_loop(
            self.coordinator.clone(),
            membership.generation_id,
            self.member_id.clone(),
            self.config.heartbeat_interval,
            self.signals.clone(),
        )));
        self.membership = Some(membership);
        Ok(())
    }
}
