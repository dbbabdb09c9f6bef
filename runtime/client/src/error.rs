//! Why a client call failed: which broker, which API, which topic-partition
//! or group, and the cause.
//!
//! One enum for the whole crate. Socket and codec failures carry the broker
//! address and the API in flight; a Kafka error code in a response carries
//! the resource it was about (`topic orders`, `orders-3`, `group billing`)
//! and the broker's own message when it sent one. Causes are kept as
//! `#[source]` so `{:#}` prints the whole chain.

use std::io;
use std::sync::Arc;

use sluice_batch::BatchError;
use sluice_protocol::kafka_protocol::error::ResponseError;
use sluice_protocol::kafka_protocol::messages::ApiKey;
use sluice_protocol::{FrameError, ProtocolError};
use thiserror::Error;

/// A failed client call.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No TCP connection (refused, unreachable, or no answer in time).
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },

    /// The socket failed while a request was being written or awaited. The
    /// connection is dropped; the next request opens a new one.
    #[error("connection to {addr} failed during {api:?}")]
    Io {
        addr: String,
        api: ApiKey,
        #[source]
        source: io::Error,
    },

    /// The broker closed the connection before answering.
    #[error(
        "{addr} closed the connection before answering {api:?}; the broker may be shutting \
         down or may have rejected the request (see its log)"
    )]
    Disconnected { addr: String, api: ApiKey },

    /// No answer within the request timeout. The connection is dropped,
    /// since the answers behind this one can no longer be trusted to come.
    #[error(
        "{api:?} to {addr} got no answer within {timeout_ms} ms; the broker may be overloaded \
         (raise the request timeout) or unreachable"
    )]
    Timeout {
        addr: String,
        api: ApiKey,
        timeout_ms: u64,
    },

    /// A request could not be encoded or a response decoded.
    #[error("{api:?} with {addr}")]
    Protocol {
        addr: String,
        api: ApiKey,
        #[source]
        source: ProtocolError,
    },

    /// The broker sent a frame size no response may have.
    #[error("bad response frame from {addr}")]
    Frame {
        addr: String,
        #[source]
        source: FrameError,
    },

    /// A response answered another request: the stream is out of step.
    #[error(
        "{addr} answered correlation id {received} where {expected} ({api:?}) was due; the \
         connection is out of step and is closed"
    )]
    CorrelationMismatch {
        addr: String,
        api: ApiKey,
        expected: i32,
        received: i32,
    },

    /// The broker and this client share no version of an API.
    #[error(
        "{addr} serves no version of {api:?} that this client speaks; upgrade the broker or \
         use a client that matches it"
    )]
    UnsupportedApi { addr: String, api: ApiKey },

    /// A Kafka error code in a response.
    #[error("{api:?} for {resource}: {}{}", code_name(*error), message_suffix(message))]
    Kafka {
        api: ApiKey,
        /// What the error is about: `topic orders`, `orders-3`, `group g`.
        resource: String,
        error: ResponseError,
        /// The broker's own explanation, when it sent one.
        message: Option<String>,
    },

    /// The topic does not exist on the cluster.
    #[error(
        "topic {topic:?} does not exist; create it first (or enable topic auto-creation on the \
         broker)"
    )]
    UnknownTopic { topic: String },

    /// The topic exists but has no such partition.
    #[error(
        "topic {topic:?} has {partitions} partitions, so partition {partition} does not exist"
    )]
    UnknownPartition {
        topic: String,
        partition: i32,
        partitions: usize,
    },

    /// Metadata names no reachable leader for the partition.
    #[error(
        "{topic}-{partition} has no leader in the cluster metadata (leader {leader}); retry \
         once the cluster has elected one"
    )]
    NoLeader {
        topic: String,
        partition: i32,
        leader: i32,
    },

    /// Metadata names a broker it does not list.
    #[error("broker {node_id} is not in the cluster metadata; it may have left the cluster")]
    UnknownBroker { node_id: i32 },

    /// Fetched bytes that are not valid record batches.
    #[error("{topic}-{partition}: fetched data at offset {offset} cannot be decoded")]
    Batch {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: BatchError,
    },

    /// A record or batch could not be encoded.
    #[error("{topic}: cannot encode the record")]
    Encode {
        topic: String,
        #[source]
        source: BatchError,
    },

    /// A record larger than the producer can ever buffer or send.
    #[error(
        "record of {record_bytes} bytes for {topic} exceeds the producer's limit of \
         {limit_bytes} bytes (max batch and buffer size); raise the limit or split the record"
    )]
    RecordTooLarge {
        topic: String,
        record_bytes: usize,
        limit_bytes: usize,
    },

    /// A setting that cannot work, caught before anything is sent.
    #[error("invalid client setting: {reason}")]
    InvalidConfig { reason: String },

    /// A group member could not take part in its group.
    #[error("group {group}: {reason}")]
    Group { group: String, reason: String },

    /// The producer or consumer was closed before the call finished.
    #[error("the {what} is closed")]
    Closed { what: &'static str },

    /// Records of one batch that were not delivered; the cause is shared by
    /// every record of the batch.
    #[error("{records} record(s) for {topic}-{partition} not delivered")]
    Delivery {
        topic: String,
        partition: i32,
        records: usize,
        #[source]
        source: Arc<ClientError>,
    },
}

impl ClientError {
    /// The Kafka error code, when this is an error answered by a broker.
    pub fn kafka_error(&self) -> Option<ResponseError> {
        match self {
            ClientError::Kafka { error, .. } => Some(*error),
            ClientError::Delivery { source, .. } => source.kafka_error(),
            _ => None,
        }
    }

    /// Whether the same call may succeed if repeated after a metadata
    /// refresh or a reconnect: lost connections, timeouts, leadership moves.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Io { .. }
            | ClientError::Disconnected { .. }
            | ClientError::Timeout { .. }
            | ClientError::NoLeader { .. } => true,
            ClientError::Kafka { error, .. } => error.is_retriable(),
            _ => false,
        }
    }

    /// Builds [`ClientError::Kafka`] from a response's error code, or
    /// `None` for code 0.
    pub(crate) fn from_code(
        api: ApiKey,
        resource: impl FnOnce() -> String,
        code: i16,
        message: Option<&str>,
    ) -> Option<ClientError> {
        let error = ResponseError::try_from_code(code)?;
        Some(ClientError::Kafka {
            api,
            resource: resource(),
            error,
            message: message.filter(|m| !m.is_empty()).map(str::to_owned),
        })
    }
}

/// `Result` with [`ClientError`].
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Kafka's own name for an error code (`NOT_LEADER_OR_FOLLOWER`), which is
/// what operators search for; `kafka-protocol` prints the Rust variant name.
pub fn code_name(error: ResponseError) -> String {
    if let ResponseError::Unknown(code) = error {
        return format!("UNKNOWN_ERROR_CODE_{code}");
    }
    let camel = format!("{error}");
    let mut name = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(message) => format!(" ({message})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_are_kafkas() {
        assert_eq!(
            code_name(ResponseError::NotLeaderOrFollower),
            "NOT_LEADER_OR_FOLLOWER"
        );
        assert_eq!(
            code_name(ResponseError::UnknownTopicOrPartition),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
        assert_eq!(
            code_name(ResponseError::Unknown(999)),
            "UNKNOWN_ERROR_CODE_999"
        );
    }

    #[test]
    fn kafka_error_names_api_resource_and_message() {
        let error = ClientError::from_code(
            ApiKey::CreateTopics,
            || "topic orders".into(),
            36,
            Some("Topic 'orders' already exists."),
        )
        .unwrap();
        assert_eq!(
            error.to_string(),
            "CreateTopics for topic orders: TOPIC_ALREADY_EXISTS (Topic 'orders' already exists.)"
        );
        assert!(ClientError::from_code(ApiKey::Produce, String::new, 0, None).is_none());
    }
}
