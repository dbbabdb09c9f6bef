//! One handler per Kafka API, and the dispatch from a decoded request to
//! its handler.
//!
//! A handler takes the typed request and returns the typed response; it
//! never sees bytes or sockets. Failures become error codes inside the
//! response (mapped in `error_code.rs`), as Kafka clients expect.

mod api_versions;
mod create_topics;
mod delete_topics;
mod describe_configs;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod produce;
mod sync_group;

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::RequestHeader;
use sluice_protocol::{RequestKind, ResponseKind};

use crate::state::Broker;

/// Runs the handler of `body`; `None` means no response is sent (Produce
/// with acks=0).
/// `peer` is the client's address (DescribeGroups shows it per member).
pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    peer: SocketAddr,
    body: RequestKind,
) -> Option<ResponseKind> {
    let version = header.request_api_version;
    Some(match body {
        RequestKind::ApiVersions(request) => {
            ResponseKind::ApiVersions(api_versions::handle(request, version))
        }
        RequestKind::Metadata(request) => {
            ResponseKind::Metadata(metadata::handle(broker, request, version).await)
        }
        RequestKind::Produce(request) => {
            ResponseKind::Produce(produce::handle(broker, header, request).await?)
        }
        RequestKind::Fetch(request) => {
            ResponseKind::Fetch(fetch::handle(broker, request, version).await)
        }
        RequestKind::ListOffsets(request) => {
            ResponseKind::ListOffsets(list_offsets::handle(broker, request, version).await)
        }
        RequestKind::CreateTopics(request) => {
            ResponseKind::CreateTopics(create_topics::handle(broker, request, version).await)
        }
        RequestKind::DeleteTopics(request) => {
            ResponseKind::DeleteTopics(delete_topics::handle(broker, request, version).await)
        }
        RequestKind::DescribeConfigs(request) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(broker, request, version))
        }
        RequestKind::InitProducerId(request) => {
            ResponseKind::InitProducerId(init_producer_id::handle(broker, request, version).await)
        }
        RequestKind::FindCoordinator(request) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(broker, request, version))
        }
        RequestKind::JoinGroup(request) => {
            ResponseKind::JoinGroup(join_group::handle(broker, header, peer, request).await)
        }
        RequestKind::SyncGroup(request) => {
            ResponseKind::SyncGroup(sync_group::handle(broker, request, version).await)
        }
        RequestKind::Heartbeat(request) => {
            ResponseKind::Heartbeat(heartbeat::handle(broker, request, version))
        }
        RequestKind::LeaveGroup(request) => {
            ResponseKind::LeaveGroup(leave_group::handle(broker, request, version))
        }
        RequestKind::OffsetCommit(request) => {
            ResponseKind::OffsetCommit(offset_commit::handle(broker, request, version).await)
        }
        RequestKind::OffsetFetch(request) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(broker, request, version))
        }
        RequestKind::ListGroups(request) => {
            ResponseKind::ListGroups(list_groups::handle(broker, request, version))
        }
        RequestKind::DescribeGroups(request) => {
            ResponseKind::DescribeGroups(describe_groups::handle(broker, request, version))
        }
    })
}
