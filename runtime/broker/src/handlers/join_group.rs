//! JoinGroup: turns the request into the coordinator's terms, waits for
//! the rebalance (the response may take up to the rebalance timeout), and
//! answers in the request's version.
//!
//! Version notes: v0 has no rebalance timeout (the session timeout is used,
//! as in Kafka); v4 and later require the MEMBER_ID_REQUIRED round trip;
//! v5 adds `group_instance_id`; v7 adds the protocol type to the response
//! and makes the protocol name nullable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_protocol::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use sluice_protocol::kafka_protocol::messages::{
    JoinGroupRequest, JoinGroupResponse, RequestHeader,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::group::{JoinOutcome, JoinRequest, Protocol};
use crate::state::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    peer: SocketAddr,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let rebalance_timeout_ms = if version >= 1 {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    let join = JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        client_id: header.client_id.as_deref().unwrap_or_default().to_string(),
        // Kafka's form: "/" then the address.
        client_host: format!("/{}", peer.ip()),
        session_timeout: millis(request.session_timeout_ms),
        rebalance_timeout: millis(rebalance_timeout_ms),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: version >= 4,
    };
    debug!(group = %join.group_id, member = %join.member_id, protocols = join.protocols.len(), "join group");
    let outcome = broker.groups.join(join).await;
    response(outcome, version)
}

/// A timeout from the wire; negative ones count as zero (and are refused
/// as too short).
fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let text = StrBytes::from_string;
    // Before v7 the protocol name is not nullable: "" stands for none.
    let protocol_name = match outcome.protocol_name {
        Some(name) => Some(text(name)),
        None if version >= 7 => None,
        None => Some(StrBytes::new()),
    };
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(text(m.member_id))
                .with_group_instance_id(m.group_instance_id.filter(|_| version >= 5).map(text))
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(outcome.error.map_or(0, |error| error.code()))
        .with_generation_id(outcome.generation_id)
        .with_protocol_type(outcome.protocol_type.filter(|_| version >= 7).map(text))
        .with_protocol_name(protocol_name)
        .with_leader(text(outcome.leader_id))
        .with_member_id(text(outcome.member_id))
        .with_members(members)
}
