//! LeaveGroup: members leave at once instead of waiting out their session,
//! and the group rebalances. v0–v2 name one member; v3 and later a batch,
//! each by member id or by `group_instance_id`, with an error each.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::leave_group_response::MemberResponse;
use sluice_protocol::kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::debug;

use crate::group::MemberRef;
use crate::state::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    request: LeaveGroupRequest,
    version: i16,
) -> LeaveGroupResponse {
    let group_id = request.group_id.0.to_string();
    let members: Vec<MemberRef> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| MemberRef {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|id| id.to_string()),
            })
            .collect()
    } else {
        vec![MemberRef {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    debug!(group = %group_id, members = members.len(), "leave group");
    let results = match broker.groups.leave(&group_id, &members) {
        Ok(results) => results,
        Err(error) => return LeaveGroupResponse::default().with_error_code(error.code()),
    };
    if version < 3 {
        return LeaveGroupResponse::default().with_error_code(results.first().map_or(0, code));
    }
    let responses = request
        .members
        .into_iter()
        .zip(&results)
        .map(|(member, result)| {
            MemberResponse::default()
                .with_member_id(member.member_id)
                .with_group_instance_id(member.group_instance_id)
                .with_error_code(code(result))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}

fn code(result: &Result<(), ResponseError>) -> i16 {
    result.as_ref().err().map_or(0, |error| error.code())
}
