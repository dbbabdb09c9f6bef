//! What the consumer-group tests share: a broker on loopback ports with a
//! temporary data directory, a Kafka connection that sends typed requests
//! (built on `sluice_protocol`, the codec the broker itself uses), a group
//! member that runs the join/sync/heartbeat steps a consumer runs, and the
//! consumer protocol's subscription and assignment bytes.
//!
//! Each member has its own connection, as a real consumer's coordinator
//! connection: the broker answers one connection's requests in order, so a
//! JoinGroup that waits for a rebalance would hold up anything behind it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_protocol::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartitions;
use sluice_protocol::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use sluice_protocol::kafka_protocol::messages::leave_group_request::MemberIdentity;
use sluice_protocol::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use sluice_protocol::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, RequestHeader,
    SyncGroupRequest, SyncGroupResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_protocol::{decode_response, encode_request, FrameDecoder, RequestKind, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one response before failing: far above
/// what a working broker needs (the longest wait is a rebalance, bounded
/// by the timeouts the tests choose), so it only ends a test that hangs.
pub const RESPONSE_WAIT: Duration = Duration::from_secs(20);

/// The JoinGroup version members speak: v4+ needs MEMBER_ID_REQUIRED, v5
/// is what librdkafka 2.x sends.
pub const JOIN_VERSION: i16 = 5;

/// Session timeout of members that are not meant to time out.
pub const LONG_SESSION_MS: i32 = 30_000;

/// Broker settings for a test: loopback, ports picked by the OS, and
/// session timeouts down to 100 ms allowed (Kafka's minimum is 6 s).
pub fn config(data_dir: &Path) -> BrokerConfig {
    let mut config = BrokerConfig::new(data_dir);
    config.kafka_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.groups.session_timeout_min = Duration::from_millis(100);
    config
}

pub async fn start(data_dir: &Path) -> anyhow::Result<RunningBroker> {
    RunningBroker::start(config(data_dir))
        .await
        .context("starting the broker")
}

/// The error code Kafka uses for `error`.
pub fn code(error: ResponseError) -> i16 {
    error.code()
}

/// A Kafka connection that sends typed requests and reads typed responses.
pub struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    next_correlation_id: i32,
    client_id: String,
}

macro_rules! typed_calls {
    ($($method:ident($request:ident) -> $variant:ident($response:ident);)*) => {
        $(
            pub async fn $method(
                &mut self,
                version: i16,
                request: sluice_protocol::kafka_protocol::messages::$request,
            ) -> anyhow::Result<sluice_protocol::kafka_protocol::messages::$response> {
                match self.call(version, RequestKind::$variant(request)).await? {
                    ResponseKind::$variant(response) => Ok(response),
                    other => bail!("expected a {} response, got {other:?}", stringify!($variant)),
                }
            }
        )*
    };
}

impl Connection {
    pub async fn connect(addr: SocketAddr, client_id: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: BytesMut::new(),
            next_correlation_id: 1,
            client_id: client_id.to_string(),
        })
    }

    /// Sends `body` at `version` and reads its response.
    pub async fn call(&mut self, version: i16, body: RequestKind) -> anyhow::Result<ResponseKind> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let api_key = body.api_key();
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let frame = encode_request(&header, &body)
            .with_context(|| format!("encoding {api_key:?} v{version}"))?;
        self.stream
            .write_all(&frame)
            .await
            .context("sending a request")?;
        let payload = tokio::time::timeout(RESPONSE_WAIT, self.read_frame())
            .await
            .with_context(|| format!("no {api_key:?} response within {RESPONSE_WAIT:?}"))??;
        let (response_header, response) = decode_response(api_key, version, payload)
            .with_context(|| format!("decoding {api_key:?} v{version}"))?;
        ensure!(
            response_header.correlation_id == correlation_id,
            "response to correlation id {} while waiting for {correlation_id}",
            response_header.correlation_id
        );
        Ok(response)
    }

    async fn read_frame(&mut self) -> anyhow::Result<Bytes> {
        loop {
            if let Some(frame) = FrameDecoder::default().decode(&mut self.buffer)? {
                return Ok(frame);
            }
            if self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .context("reading a response")?
                == 0
            {
                bail!("the broker closed the connection");
            }
        }
    }

    typed_calls! {
        find_coordinator(FindCoordinatorRequest) -> FindCoordinator(FindCoordinatorResponse);
        join_group(JoinGroupRequest) -> JoinGroup(JoinGroupResponse);
        sync_group(SyncGroupRequest) -> SyncGroup(SyncGroupResponse);
        heartbeat(HeartbeatRequest) -> Heartbeat(HeartbeatResponse);
        leave_group(LeaveGroupRequest) -> LeaveGroup(LeaveGroupResponse);
        offset_commit(OffsetCommitRequest) -> OffsetCommit(OffsetCommitResponse);
        offset_fetch(OffsetFetchRequest) -> OffsetFetch(OffsetFetchResponse);
        list_groups(ListGroupsRequest) -> ListGroups(ListGroupsResponse);
        describe_groups(DescribeGroupsRequest) -> DescribeGroups(DescribeGroupsResponse);
    }
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
            connection: Connection::connect(addr, client_id).await?,
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
