//! ListGroups: every group with its protocol type; v4 adds the state (and
//! a filter on it), v5 the group type (and a filter on it). All of
//! Sluice's groups are of Kafka's "classic" type.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::list_groups_response::ListedGroup;
use sluice_protocol::kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::state::Broker;

/// The type of every group this coordinator runs.
const GROUP_TYPE: &str = "classic";

pub fn handle(
    broker: &Arc<Broker>,
    request: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    let states = if version >= 4 {
        request.states_filter
    } else {
        Vec::new()
    };
    let types = if version >= 5 {
        request.types_filter
    } else {
        Vec::new()
    };
    debug!(states = states.len(), types = types.len(), "list groups");
    if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case(GROUP_TYPE)) {
        return ListGroupsResponse::default();
    }
    let groups = broker
        .groups
        .list_groups()
        .into_iter()
        .filter(|g| {
            states.is_empty()
                || states
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(g.state.as_str()))
        })
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            match version {
                5.. => listed
                    .with_group_state(StrBytes::from_static_str(g.state.as_str()))
                    .with_group_type(StrBytes::from_static_str(GROUP_TYPE)),
                4 => listed.with_group_state(StrBytes::from_static_str(g.state.as_str())),
                _ => listed,
            }
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
