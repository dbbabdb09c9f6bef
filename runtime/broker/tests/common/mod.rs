//! What the broker's integration tests (produce/fetch and groups) share: a broker on loopback ports
//! with a temporary data directory, a small Kafka client that speaks typed
//! requests over a real TCP connection (built on `sluice_protocol`, the
//! codec the broker itself uses), and record batches to produce.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use sluice_batch::{BatchBuilder, BatchOptions};
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_protocol::kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::{decode_response, encode_request, FrameDecoder, RequestKind, ResponseKind};
use sluice_types::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for any one response before failing: far above
/// what a working broker needs (the longest wait is a rebalance, bounded
/// by the timeouts the tests choose), so it only ends a test that hangs.
pub const RESPONSE_WAIT: Duration = Duration::from_secs(20);

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

/// A Kafka connection that sends typed requests and reads typed responses.
pub struct Client {
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

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        Client::connect_as(addr, "sluice-test").await
    }

    /// Connects with `client_id` in every request header.
    pub async fn connect_as(addr: SocketAddr, client_id: &str) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buffer: BytesMut::new(),
            next_correlation_id: 1,
            client_id: client_id.to_string(),
        })
    }

    /// Sends `body` at `version`; returns the request's correlation id.
    pub async fn send(&mut self, version: i16, body: RequestKind) -> anyhow::Result<i32> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(body.api_key() as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let frame = encode_request(&header, &body)?;
        self.stream.write_all(&frame).await?;
        Ok(correlation_id)
    }

    /// Reads the next response, which answers a request of `api_key` at
    /// `version`.
    pub async fn receive(
        &mut self,
        api_key: ApiKey,
        version: i16,
    ) -> anyhow::Result<(ResponseHeader, ResponseKind)> {
        let frame = tokio::time::timeout(RESPONSE_WAIT, self.read_frame())
            .await
            .context("no response in time")??;
        Ok(decode_response(api_key, version, frame)?)
    }

    async fn read_frame(&mut self) -> anyhow::Result<Bytes> {
        let decoder = FrameDecoder::default();
        loop {
            if let Some(frame) = decoder.decode(&mut self.buffer)? {
                return Ok(frame);
            }
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                bail!("the broker closed the connection");
            }
        }
    }

    /// Sends `body` and reads its response, checking the correlation id.
    pub async fn call(&mut self, version: i16, body: RequestKind) -> anyhow::Result<ResponseKind> {
        let api_key = body.api_key();
        let correlation_id = self.send(version, body).await?;
        let (header, response) = self.receive(api_key, version).await?;
        anyhow::ensure!(
            header.correlation_id == correlation_id,
            "response to request {} arrived for request {correlation_id}",
            header.correlation_id
        );
        Ok(response)
    }

    typed_calls! {
        produce(ProduceRequest) -> Produce(ProduceResponse);
        fetch(FetchRequest) -> Fetch(FetchResponse);
        list_offsets(ListOffsetsRequest) -> ListOffsets(ListOffsetsResponse);
        create_topics(CreateTopicsRequest) -> CreateTopics(CreateTopicsResponse);
        delete_topics(DeleteTopicsRequest) -> DeleteTopics(DeleteTopicsResponse);
        describe_configs(DescribeConfigsRequest) -> DescribeConfigs(DescribeConfigsResponse);
        init_producer_id(InitProducerIdRequest) -> InitProducerId(InitProducerIdResponse);
        api_versions(ApiVersionsRequest) -> ApiVersions(ApiVersionsResponse);
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

    /// Writes raw bytes, whatever they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Stops sending (half-closes the connection).
    pub async fn finish_sending(&mut self) -> anyhow::Result<()> {
        self.stream.shutdown().await?;
        Ok(())
    }

    /// True once the broker has closed the connection (end of stream or
    /// reset) with nothing more to say.
    pub async fn closed_by_broker(&mut self) -> anyhow::Result<bool> {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(RESPONSE_WAIT, self.stream.read(&mut byte)).await {
            Err(_) => Ok(false),
            Ok(Ok(0)) => Ok(true),
            Ok(Ok(_)) => Ok(false),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => Ok(true),
            Ok(Err(error)) => Err(error.into()),
        }
    }
}

/// A batch of records with these values, created at `timestamp_ms`.
pub fn batch(values: &[&str], timestamp_ms: i64) -> Bytes {
    build(BatchOptions::default(), values, timestamp_ms)
}

/// An idempotent producer's batch.
pub fn idempotent_batch(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    values: &[&str],
) -> Bytes {
    let options = BatchOptions {
        producer_id,
        producer_epoch: epoch,
        base_sequence,
        ..BatchOptions::default()
    };
    build(options, values, 1_700_000_000_000)
}

fn build(options: BatchOptions, values: &[&str], timestamp_ms: i64) -> Bytes {
    let mut builder = BatchBuilder::new(options);
    for (i, value) in values.iter().enumerate() {
        let key = format!("key-{i}");
        builder
            .push(
                Timestamp(timestamp_ms),
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                &[],
            )
            .expect("test records fit a batch");
    }
    builder.build().expect("test batch builds")
}
