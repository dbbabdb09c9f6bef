//! InitProducerId: a producer id for an idempotent producer, at epoch 0.
//!
//! Ids are never reused, even across restarts (see `producer.rs`). A
//! producer that asks again (v3+ sends its current id and epoch, e.g. after
//! a fatal sequence error) gets a new id, as Kafka gives one to every
//! producer without a transactional id.
//!
//! Transactions are not supported: a transactional id is refused with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which every client reports as a
//! fatal, non-retriable error naming the transactional id, so the
//! application learns at once instead of retrying forever (an empty
//! transactional id is INVALID_REQUEST, as in Kafka). Idempotent producers
//! send a null transactional id.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::{debug, error, warn};

use crate::error_code::code;
use crate::state::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    request: InitProducerIdRequest,
    _version: i16,
) -> InitProducerIdResponse {
    debug!(
        transactional = request.transactional_id.is_some(),
        producer_id = request.producer_id.0,
        producer_epoch = request.producer_epoch,
        "init producer id"
    );
    let refused = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(code(error))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(transactional_id) = &request.transactional_id {
        if transactional_id.0.is_empty() {
            return refused(ResponseError::InvalidRequest);
        }
        warn!(transactional_id = %transactional_id.0, "transactions are not supported; refusing the transactional id");
        return refused(ResponseError::TransactionalIdAuthorizationFailed);
    }
    let for_blocking = broker.clone();
    match tokio::task::spawn_blocking(move || for_blocking.producers.allocate()).await {
        Ok(Ok(producer_id)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(0),
        Ok(Err(failure)) => {
            error!(error = %failure, "cannot allocate a producer id");
            // Retriable for clients: the allocator may recover.
            refused(ResponseError::CoordinatorNotAvailable)
        }
        Err(failure) => {
            error!(error = %failure, "producer id allocation failed");
            refused(ResponseError::CoordinatorNotAvailable)
        }
    }
}
