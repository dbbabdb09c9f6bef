//! DescribeGroups: each group's state, protocol and members. Member
//! metadata and assignments are shown while the group is Stable, as in
//! Kafka. An unknown group is "Dead" with no error before v6, and
//! GROUP_ID_NOT_FOUND from v6 on (KIP-1043).

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use sluice_protocol::kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::debug;

use crate::group::GroupState;
use crate::state::Broker;

/// `authorized_operations` when the client did not ask for them.
const OPERATIONS_OMITTED: i32 = i32::MIN;
/// READ (3), DELETE (6) and DESCRIBE (8), Kafka's operations on a group, as
/// a bit set: Sluice has no ACLs, so every client may do all of them.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub fn handle(
    broker: &Arc<Broker>,
    request: DescribeGroupsRequest,
    version: i16,
) -> DescribeGroupsResponse {
    debug!(groups = request.groups.len(), "describe groups");
    let operations = if version >= 3 && request.include_authorized_operations {
        GROUP_OPERATIONS
    } else {
        OPERATIONS_OMITTED
    };
    let dead = StrBytes::from_static_str(GroupState::Dead.as_str());
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let Some(group) = broker.groups.describe_group(group_id.0.as_str()) else {
                let unknown = DescribedGroup::default().with_group_state(dead.clone());
                if version >= 6 {
                    let message = format!("Group {} not found.", group_id.0.as_str());
                    return unknown
                        .with_group_id(group_id)
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(StrBytes::from_string(message)));
                }
                return unknown.with_group_id(group_id);
            };
            let members = group
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(
                            m.group_instance_id
                                .filter(|_| version >= 4)
                                .map(StrBytes::from_string),
                        )
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata)
                        .with_member_assignment(m.assignment)
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(group_id)
                .with_group_state(StrBytes::from_static_str(group.state.as_str()))
                .with_protocol_type(StrBytes::from_string(group.protocol_type))
                .with_protocol_data(StrBytes::from_string(group.protocol))
                .with_members(members)
                .with_authorized_operations(operations)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
