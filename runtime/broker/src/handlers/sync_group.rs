//! SyncGroup: the leader hands in every member's assignment and every
//! member gets its own; followers wait for the leader. v5 and later carry
//! the protocol type and name, which must match the group's.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::group::SyncRequest;
use crate::state::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    request: SyncGroupRequest,
    version: i16,
) -> SyncGroupResponse {
    let since_v5 = |text: Option<StrBytes>| text.filter(|_| version >= 5).map(|t| t.to_string());
    let sync = SyncRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        generation_id: request.generation_id,
        protocol_type: since_v5(request.protocol_type),
        protocol_name: since_v5(request.protocol_name),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    debug!(
        group = %sync.group_id,
        member = %sync.member_id,
        generation = sync.generation_id,
        assignments = sync.assignments.len(),
        "sync group"
    );
    match broker.groups.sync(sync).await {
        Ok(assigned) => SyncGroupResponse::default()
            .with_protocol_type(assigned.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(assigned.protocol_name.map(StrBytes::from_string))
            .with_assignment(assigned.assignment),
        Err(error) => SyncGroupResponse::default().with_error_code(error.code()),
    }
}
