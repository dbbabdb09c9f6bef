//! Why bytes could not become a Kafka message, or a message could not
//! become bytes.
//!
//! Two enums: [`FrameError`] is all that can go wrong while cutting frames
//! out of a byte stream, and [`ProtocolError`] covers everything from the
//! frame to the typed message. Both are plain enums (no boxing): they are
//! produced per request on the broker's hot path. The one allocation is the
//! cause text of a codec failure, which `kafka-protocol` reports as an
//! `anyhow::Error` that we flatten to a `String` so the enum stays `Clone`
//! and `Eq`.
//!
//! Every variant says what to do next: most mean "close the connection",
//! and [`ProtocolError::api_versions_fallback`] picks out the one case
//! Kafka answers instead.

use std::fmt;

use kafka_protocol::messages::ApiKey;
use thiserror::Error;

use crate::versions;

/// A size prefix that no frame may carry.
///
/// Either one means the byte stream cannot be trusted any more (there is no
/// way to find the next frame boundary), so the connection must be closed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error(
        "frame of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes; close the \
         connection, or raise the max frame size if the peer is a legitimate client"
    )]
    TooLarge {
        size_bytes: usize,
        limit_bytes: usize,
    },
    #[error(
        "frame size prefix is negative ({size}); the peer is not speaking the Kafka \
         protocol, close the connection"
    )]
    NegativeSize { size: i32 },
}

/// Which part of a message a codec failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePart {
    /// The request or response header (correlation id, client id, ...).
    Header,
    /// The API-specific body.
    Body,
}

impl fmt::Display for MessagePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessagePart::Header => "header",
            MessagePart::Body => "body",
        })
    }
}

/// A frame that is not a message Sluice can handle, or a message that
/// cannot be encoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The size prefix itself is unusable.
    #[error(transparent)]
    Frame(#[from] FrameError),

    /// The frame is too short to hold the API key and version that every
    /// request starts with.
    #[error(
        "request frame of {frame_bytes} bytes is too short to hold an API key and version; \
         close the connection"
    )]
    TooShort { frame_bytes: usize },

    /// The API key is not part of the Kafka protocol as this build knows
    /// it, so not even the header layout is known.
    #[error("unknown API key {api_key}; the peer is not speaking Kafka, close the connection")]
    UnknownApiKey { api_key: i16 },

    /// A Kafka API that Sluice does not serve at any version. Kafka closes
    /// the connection in this case.
    #[error(
        "{api_key:?} (key {key}) v{api_version} is not served by Sluice (correlation id \
         {correlation_id}); close the connection",
        key = *.api_key as i16
    )]
    UnsupportedApi {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
    },

    /// An API Sluice serves, at a version outside its advertised range.
    /// Kafka closes the connection, except for ApiVersions, which it
    /// answers; see [`ProtocolError::api_versions_fallback`].
    #[error(
        "{api_key:?} v{api_version} is not supported, Sluice serves {served} (correlation id \
         {correlation_id}); the client ignored the ApiVersions answer, close the connection",
        served = served_versions(*.api_key)
    )]
    UnsupportedVersion {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
    },

    /// `kafka-protocol` could not decode the header or body: the message
    /// is truncated or malformed.
    #[error("cannot decode {part} of {api_key:?} v{api_version}: {cause}; close the connection")]
    Decode {
        api_key: ApiKey,
        api_version: i16,
        part: MessagePart,
        cause: String,
    },

    /// `kafka-protocol` refused to encode the message, typically because a
    /// field is set that the chosen version cannot carry and the schema
    /// does not mark as ignorable (ignorable ones are dropped silently).
    #[error(
        "cannot encode {part} of {api_key:?} v{api_version}: {cause}; clear the fields this \
         version does not have, or pick another version"
    )]
    Encode {
        api_key: ApiKey,
        api_version: i16,
        part: MessagePart,
        cause: String,
    },

    /// The header (or the caller) names one API and the body is another.
    #[error("a {body:?} body cannot be sent as {api_key:?}; this is a bug in the caller")]
    BodyMismatch { api_key: ApiKey, body: ApiKey },
}

impl ProtocolError {
    /// The correlation id to answer when this error is an ApiVersions
    /// request at a version Sluice does not know.
    ///
    /// Kafka answers such a request instead of closing the connection (a
    /// client sends the newest ApiVersions it knows before it knows what
    /// the broker speaks). The answer is
    /// [`crate::response::encode_unsupported_api_versions`].
    pub fn api_versions_fallback(&self) -> Option<i32> {
        match self {
            ProtocolError::UnsupportedVersion {
                api_key: ApiKey::ApiVersions,
                correlation_id,
                ..
            } => Some(*correlation_id),
            _ => None,
        }
    }

    /// Builds a [`ProtocolError::Decode`] from a `kafka-protocol` error.
    /// Its error is an `anyhow::Error`, whose alternate `Display` prints the
    /// whole cause chain; taking any `Display` keeps `anyhow` out of this
    /// crate's dependencies.
    pub(crate) fn decode(
        api_key: ApiKey,
        api_version: i16,
        part: MessagePart,
        cause: &impl fmt::Display,
    ) -> ProtocolError {
        ProtocolError::Decode {
            api_key,
            api_version,
            part,
            cause: format!("{cause:#}"),
        }
    }

    /// Builds a [`ProtocolError::Encode`] from a `kafka-protocol` error.
    pub(crate) fn encode(
        api_key: ApiKey,
        api_version: i16,
        part: MessagePart,
        cause: &impl fmt::Display,
    ) -> ProtocolError {
        ProtocolError::Encode {
            api_key,
            api_version,
            part,
            cause: format!("{cause:#}"),
        }
    }
}

fn served_versions(api_key: ApiKey) -> String {
    match versions::supported(api_key) {
        Some(range) => format!("v{}..=v{}", range.start(), range.end()),
        None => "no version".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_version_names_the_served_range() {
        let error = ProtocolError::UnsupportedVersion {
            api_key: ApiKey::Produce,
            api_version: 13,
            correlation_id: 7,
        };
        assert_eq!(
            error.to_string(),
            "Produce v13 is not supported, Sluice serves v3..=v9 (correlation id 7); the client \
             ignored the ApiVersions answer, close the connection"
        );
    }

    #[test]
    fn unsupported_api_names_the_key_number() {
        let error = ProtocolError::UnsupportedApi {
            api_key: ApiKey::SaslHandshake,
            api_version: 1,
            correlation_id: 2,
        };
        assert_eq!(
            error.to_string(),
            "SaslHandshake (key 17) v1 is not served by Sluice (correlation id 2); close the \
             connection"
        );
    }

    #[test]
    fn only_an_unsupported_api_versions_request_is_answered() {
        let api_versions = ProtocolError::UnsupportedVersion {
            api_key: ApiKey::ApiVersions,
            api_version: 5,
            correlation_id: 9,
        };
        assert_eq!(api_versions.api_versions_fallback(), Some(9));
        let unserved = ProtocolError::UnsupportedApi {
            api_key: ApiKey::ApiVersions,
            api_version: 5,
            correlation_id: 9,
        };
        assert_eq!(unserved.api_versions_fallback(), None);
    }
}
