//! What the consumer-group tests add to `common`: a group
//! member that runs the join/sync/heartbeat steps a consumer runs, and the
//! consumer protocol's subscription and assignment bytes.
//!
//! Each member has its own connection, as a real consumer's coordinator
//! connection: the broker answers one connection's requests in order, so a
//! JoinGroup that waits for a rebalance would hold up anything behind it.

#![allow(dead_code)]

/// The broker and the typed connection come from the shared test module.
pub use crate::common::{config, start, Client as Connection, RESPONSE_WAIT};

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::ensure;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use sluice_protocol::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::kafka_protocol::messages::leave_group_request::MemberIdentity;
use sluice_protocol::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice_protocol::kafka_protocol::ResponseError;

/// The JoinGroup version members speak: v4+ needs MEMBER_ID_REQUIRED, v5
/// is what librdkafka 2.x sends.
pub const JOIN_VERSION: i16 = 5;

/// Session timeout of members that are not meant to time out.
pub const LONG_SESSION_MS: i32 = 30_000;

/// The error code Kafka uses for `error`.
pub fn code(error: ResponseError) -> i16 {
    error.code()
}

/// One consumer-group member on its own connection, running the steps a
/// Kafka consumer runs.
pub struct Member {
    pub connection: Connection,
    pub group_id: String,
    /// Empty until the coordinator hands one out.
    pub member_id: String,
    /// The generation of the last successful join.
    pub generation_id: i32,
    pub session_timeout_ms: i32,
    pub topics: Vec<String>,
}

impl Member {
    pub async fn connect(
        addr: SocketAddr,
        client_id: &str,
        group_id: &str,
    ) -> anyhow::Result<Member> {
        Ok(Member {
            connection: Connection::connect_as(addr, client_id).await?,
            group_id: group_id.to_string(),
            member_id: String::new(),
            generation_id: -1,
            session_timeout_ms: LONG_SESSION_MS,
            topics: vec!["orders".into()],
        })
    }

    /// The JoinGroup this member sends: the consumer protocol, `range`.
    pub fn join_request(&self) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_session_timeout_ms(self.session_timeout_ms)
            .with_rebalance_timeout_ms(LONG_SESSION_MS)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(subscription(&self.topics))])
    }

    /// One JoinGroup; remembers the member id and generation it gets.
    pub async fn join_once(&mut self) -> anyhow::Result<JoinGroupResponse> {
        let response = self
            .connection
            .join_group(JOIN_VERSION, self.join_request())
            .await?;
        if response.error_code == code(ResponseError::MemberIdRequired) || response.error_code == 0
        {
            self.member_id = response.member_id.to_string();
        }
        if response.error_code == 0 {
            self.generation_id = response.generation_id;
        }
        Ok(response)
    }

    /// Joins as a consumer does: a first join gets MEMBER_ID_REQUIRED and
    /// is sent again with the member id. Fails on any other error.
    pub async fn join(&mut self) -> anyhow::Result<JoinGroupResponse> {
        let mut response = self.join_once().await?;
        if response.error_code == code(ResponseError::MemberIdRequired) {
            response = self.join_once().await?;
        }
        ensure!(
            response.error_code == 0,
            "join failed with error code {}",
            response.error_code
        );
        Ok(response)
    }

    /// SyncGroup at the member's generation; the leader passes the
    /// assignments, followers nothing.
    pub async fn sync(
        &mut self,
        assignments: Vec<(String, Bytes)>,
    ) -> anyhow::Result<SyncGroupResponse> {
        let assignments = assignments
            .into_iter()
            .map(|(member_id, assignment)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member_id))
                    .with_assignment(assignment)
            })
            .collect();
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_assignments(assignments);
        self.connection.sync_group(5, request).await
    }

    /// One heartbeat; returns its error code.
    pub async fn heartbeat(&mut self) -> anyhow::Result<i16> {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()));
        Ok(self.connection.heartbeat(4, request).await?.error_code)
    }

    /// Heartbeats every 50 ms, as a consumer does between polls, until the
    /// coordinator answers with something other than NONE; returns that.
    pub async fn heartbeat_until_told(&mut self) -> anyhow::Result<i16> {
        let deadline = tokio::time::Instant::now() + RESPONSE_WAIT;
        loop {
            let error_code = self.heartbeat().await?;
            if error_code != 0 {
                return Ok(error_code);
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "heartbeats kept answering NONE for {RESPONSE_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// LeaveGroup v4 (a batch of one).
    pub async fn leave(&mut self) -> anyhow::Result<LeaveGroupResponse> {
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_members(vec![MemberIdentity::default()
                .with_member_id(StrBytes::from_string(self.member_id.clone()))]);
        self.connection.leave_group(4, request).await
    }
}

/// A consumer's subscription metadata (consumer protocol v0).
pub fn subscription(topics: &[String]) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    subscription
        .encode(&mut buf, 0)
        .expect("a subscription encodes");
    buf.freeze()
}

/// A consumer-protocol assignment of `partitions` of `topic` (v0).
pub fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
        AssignedPartitions::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(partitions.to_vec()),
    ]);
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    assignment
        .encode(&mut buf, 0)
        .expect("an assignment encodes");
    buf.freeze()
}

/// The partitions a consumer-protocol assignment gives, by topic.
pub fn assigned(bytes: &Bytes) -> anyhow::Result<Vec<(String, Vec<i32>)>> {
    let mut buf = bytes.clone();
    ensure!(buf.len() >= 2, "assignment of {} bytes", buf.len());
    let version = buf.get_i16();
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, version)?;
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|tp| (tp.topic.0.to_string(), tp.partitions))
        .collect())
}
