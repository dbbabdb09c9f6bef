//! DeleteTopics: removes topics by name with all their data.
//!
//! Unknown names get UNKNOWN_TOPIC_OR_PARTITION; a name given twice in one
//! request INVALID_REQUEST. Internal topics (`__` names, such as the
//! consumer offsets) are refused with INVALID_TOPIC_EXCEPTION, the code
//! Kafka uses for operations internal topics do not allow. Deleting closes
//! the partitions and removes directories, so it runs on a blocking thread.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use sluice_protocol::kafka_protocol::messages::{
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use tracing::debug;

use super::metadata::INTERNAL_TOPIC_PREFIX;
use crate::error_code::{code, storage_error_code};
use crate::state::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    debug!(topics = request.topic_names.len(), "delete topics");
    let names = request.topic_names;
    let for_blocking = broker.clone();
    let deleting = names.clone();
    let outcomes = tokio::task::spawn_blocking(move || delete_all(&for_blocking, &deleting)).await;
    let outcomes = outcomes.unwrap_or_else(|error| {
        debug!(%error, "delete topics failed");
        let failed = (
            code(ResponseError::UnknownServerError),
            "topic deletion failed; see the broker log".to_string(),
        );
        names.iter().map(|_| Err(failed.clone())).collect()
    });
    let responses = names
        .into_iter()
        .zip(outcomes)
        .map(|(name, outcome)| {
            let result = DeletableTopicResult::default().with_name(Some(name));
            match outcome {
                Ok(()) => result,
                Err((error, message)) => {
                    let result = result.with_error_code(error);
                    // The message field exists from v5 on.
                    if version >= 5 {
                        result.with_error_message(Some(StrBytes::from_string(message)))
                    } else {
                        result
                    }
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Deletes each topic; per topic, nothing or the error code and message.
/// Blocking.
fn delete_all(broker: &Broker, names: &[TopicName]) -> Vec<Result<(), (i16, String)>> {
    let mut mentions: HashMap<&str, usize> = HashMap::new();
    for name in names {
        *mentions.entry(name.0.as_str()).or_default() += 1;
    }
    names
        .iter()
        .map(|name| {
            let name = name.0.as_str();
            if mentions.get(name).copied().unwrap_or(0) > 1 {
                return Err((
                    code(ResponseError::InvalidRequest),
                    format!("topic {name:?} appears more than once in the request"),
                ));
            }
            if name.starts_with(INTERNAL_TOPIC_PREFIX) {
                return Err((
                    code(ResponseError::InvalidTopicException),
                    format!("topic {name:?} is internal to the broker and cannot be deleted"),
                ));
            }
            broker.delete_topic(name).map_err(|error| {
                debug!(topic = name, %error, "topic not deleted");
                (storage_error_code(&error), error.to_string())
            })
        })
        .collect()
}
