//! FindCoordinator: this broker coordinates every consumer group. It has
//! no transaction coordinator, so transactional producers are told none
//! is available (they fail rather than hang on a coordinator that would
//! not understand them).

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::find_coordinator_response::Coordinator;
use sluice_protocol::kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::debug;

use crate::state::Broker;

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

pub fn handle(
    broker: &Arc<Broker>,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    debug!(
        key_type = request.key_type,
        keys = request.coordinator_keys.len().max(1),
        "find coordinator"
    );
    let found = lookup(broker, request.key_type);
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let (node_id, host, port, error_code, error_message) = parts(&found);
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(node_id)
                    .with_host(host)
                    .with_port(port)
                    .with_error_code(error_code)
                    .with_error_message(error_message)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let (node_id, host, port, error_code, error_message) = parts(&found);
    let response = FindCoordinatorResponse::default()
        .with_node_id(node_id)
        .with_host(host)
        .with_port(port)
        .with_error_code(error_code);
    if version >= 1 {
        response.with_error_message(error_message)
    } else {
        response
    }
}

/// This broker's address, or why it is not the coordinator for that kind
/// of key.
fn lookup(
    broker: &Broker,
    key_type: i8,
) -> Result<(BrokerId, String, i32), (ResponseError, &'static str)> {
    match key_type {
        KEY_TYPE_GROUP => Ok((
            BrokerId(broker.config.node_id),
            broker.advertised_host.clone(),
            broker.advertised_port,
        )),
        KEY_TYPE_TRANSACTION => Err((
            ResponseError::CoordinatorNotAvailable,
            "Sluice has no transaction coordinator; transactions are not supported",
        )),
        _ => Err((
            ResponseError::InvalidRequest,
            "unknown coordinator key type",
        )),
    }
}

type Parts = (BrokerId, StrBytes, i32, i16, Option<StrBytes>);

/// The response fields; on errors the "no node" address, as Kafka sends.
fn parts(found: &Result<(BrokerId, String, i32), (ResponseError, &'static str)>) -> Parts {
    match found {
        Ok((node_id, host, port)) => (
            *node_id,
            StrBytes::from_string(host.clone()),
            *port,
            0,
            None,
        ),
        Err((error, message)) => (
            BrokerId(-1),
            StrBytes::new(),
            -1,
            error.code(),
            Some(StrBytes::from_static_str(message)),
        ),
    }
}
