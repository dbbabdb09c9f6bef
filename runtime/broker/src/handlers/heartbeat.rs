//! Heartbeat: keeps a member's session alive, and tells it to rejoin
//! (REBALANCE_IN_PROGRESS) when the group is rebalancing.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use tracing::debug;

use crate::state::Broker;

pub fn handle(broker: &Arc<Broker>, request: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let group_id = request.group_id.0.as_str();
    let member_id = request.member_id.as_str();
    let result = broker
        .groups
        .heartbeat(group_id, member_id, request.generation_id);
    debug!(
        group = group_id,
        member = member_id,
        generation = request.generation_id,
        ?result,
        "heartbeat"
    );
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |error| error.code()))
}
