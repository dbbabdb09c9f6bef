//! The broker's side of a request: from a frame's payload to a typed
//! request, or to an error that says how to answer.
//!
//! [`decode_request`] follows Kafka's own order (`RequestHeader.parse`,
//! then `SocketServer`'s enabled-API check, then the body): peek the API
//! key and version, derive the header version from them, decode the header
//! (so every later error carries the correlation id), check the version
//! table, decode the body. It must not interpret the request; that is the
//! broker handlers' job.
//!
//! Decisions that follow Kafka:
//! - An unknown API key, an API Sluice does not serve, and a version
//!   outside the table are errors; Kafka closes the connection for all
//!   three (`SocketServer.parseRequestHeader`).
//! - An ApiVersions request at an unknown version is answered instead
//!   (`ApiKeys.isVersionEnabled` lets any ApiVersions version through, and
//!   `RequestContext` answers it at v0 without parsing its body): see
//!   [`ProtocolError::api_versions_fallback`] and
//!   [`crate::response::encode_unsupported_api_versions`].
//! - Bytes left in the frame after the body are tolerated. Kafka's
//!   `AbstractRequest.parseRequest` never checks `buffer.remaining()` after
//!   parsing, so a client Kafka accepts must not be cut off here; the count
//!   is kept in [`DecodedRequest::trailing_bytes`] so the broker can log it.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest,
    RequestHeader, SyncGroupRequest,
};
use kafka_protocol::protocol::Decodable;

use crate::error::{MessagePart, ProtocolError};
use crate::message::message_kind;
use crate::versions;

message_kind! {
    /// A request body, one variant per API in
    /// [`crate::versions::SUPPORTED_APIS`], each named after its `ApiKey`.
    pub enum RequestKind {
        Produce(ProduceRequest),
        Fetch(FetchRequest),
        ListOffsets(ListOffsetsRequest),
        Metadata(MetadataRequest),
        OffsetCommit(OffsetCommitRequest),
        OffsetFetch(OffsetFetchRequest),
        FindCoordinator(FindCoordinatorRequest),
        JoinGroup(JoinGroupRequest),
        Heartbeat(HeartbeatRequest),
        LeaveGroup(LeaveGroupRequest),
        SyncGroup(SyncGroupRequest),
        DescribeGroups(DescribeGroupsRequest),
        ListGroups(ListGroupsRequest),
        ApiVersions(ApiVersionsRequest),
        CreateTopics(CreateTopicsRequest),
        DeleteTopics(DeleteTopicsRequest),
        InitProducerId(InitProducerIdRequest),
        DescribeConfigs(DescribeConfigsRequest),
    }
}

/// A request as the broker receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// Names the API and version the response must be encoded at, and the
    /// correlation id it must echo.
    pub header: RequestHeader,
    /// The request itself, decoded at `header.request_api_version`.
    pub body: RequestKind,
    /// Bytes left in the frame after the body. Tolerated, as Kafka does;
    /// non-zero means the client encodes something this version does not
    /// have, which is worth a debug log.
    pub trailing_bytes: usize,
}

/// Bytes that hold the API key and version at the start of every request.
const KEY_AND_VERSION_BYTES: usize = 4;

/// Decodes one request from a frame's payload (size prefix removed, as
/// returned by [`crate::frame::FrameDecoder::decode`]).
///
/// `bytes` fields such as Produce `records` stay slices of `frame`: no
/// record byte is copied.
///
/// # Errors
///
/// - [`ProtocolError::TooShort`], [`ProtocolError::UnknownApiKey`]: not a
///   Kafka request; close the connection.
/// - [`ProtocolError::UnsupportedApi`],
///   [`ProtocolError::UnsupportedVersion`]: carry the correlation id.
///   Answer an ApiVersions one (see
///   [`ProtocolError::api_versions_fallback`]), close the connection for
///   the others.
/// - [`ProtocolError::Decode`]: truncated or malformed header or body;
///   close the connection.
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, ProtocolError> {
    let (api_key, api_version) = peek_key_and_version(&frame)?;
    let api_key =
        ApiKey::try_from(api_key).map_err(|()| ProtocolError::UnknownApiKey { api_key })?;

    let mut buf = frame;
    let header_version = api_key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut buf, header_version).map_err(|cause| {
        ProtocolError::decode(api_key, api_version, MessagePart::Header, &cause)
    })?;
    let correlation_id = header.correlation_id;

    let Some(served) = versions::supported(api_key) else {
        return Err(ProtocolError::UnsupportedApi {
            api_key,
            api_version,
            correlation_id,
        });
    };
    if !served.contains(&api_version) {
        return Err(ProtocolError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
        });
    }

    let body = match RequestKind::decode(api_key, api_version, &mut buf) {
        Some(body) => body?,
        // The version table and `RequestKind` list the same APIs (a unit
        // test holds them together), so this is only reachable if they
        // drift; answer it like any API Sluice does not serve.
        None => {
            return Err(ProtocolError::UnsupportedApi {
                api_key,
                api_version,
                correlation_id,
            })
        }
    };
    Ok(DecodedRequest {
        header,
        body,
        trailing_bytes: buf.len(),
    })
}

/// The API key and version every request header starts with.
fn peek_key_and_version(frame: &[u8]) -> Result<(i16, i16), ProtocolError> {
    match frame.get(..KEY_AND_VERSION_BYTES) {
        Some(&[k0, k1, v0, v1]) => Ok((i16::from_be_bytes([k0, k1]), i16::from_be_bytes([v0, v1]))),
        _ => Err(ProtocolError::TooShort {
            frame_bytes: frame.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::{Encodable, Request};

    use super::*;
    use crate::versions::SUPPORTED_APIS;

    /// A payload of `header` (at the header version its API implies)
    /// followed by `body_bytes`.
    fn payload(header: &RequestHeader, body_bytes: &[u8]) -> Bytes {
        let api_key = ApiKey::try_from(header.request_api_key).unwrap();
        let mut buf = BytesMut::new();
        let header_version = api_key.request_header_version(header.request_api_version);
        header.encode(&mut buf, header_version).unwrap();
        buf.put_slice(body_bytes);
        buf.freeze()
    }

    fn header(api_key: ApiKey, api_version: i16, correlation_id: i32) -> RequestHeader {
        RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(api_version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some("test".into()))
    }

    #[test]
    fn every_served_api_has_a_request_variant() {
        let empty = Bytes::new();
        for row in SUPPORTED_APIS {
            let decoded = RequestKind::decode(row.api_key, row.max_version, &mut empty.clone());
            assert!(decoded.is_some(), "{:?} has no RequestKind", row.api_key);
        }
    }

    #[test]
    fn variant_names_match_kafka_protocol_keys() {
        let body = RequestKind::from(ProduceRequest::default());
        assert_eq!(body.api_key() as i16, ProduceRequest::KEY);
        let body = RequestKind::from(DescribeConfigsRequest::default());
        assert_eq!(body.api_key() as i16, DescribeConfigsRequest::KEY);
    }

    #[test]
    fn frames_shorter_than_key_and_version_are_too_short() {
        for len in 0..KEY_AND_VERSION_BYTES {
            let frame = Bytes::from(vec![0; len]);
            assert_eq!(
                decode_request(frame),
                Err(ProtocolError::TooShort { frame_bytes: len })
            );
        }
    }

    #[test]
    fn unknown_api_key_is_rejected_before_the_header() {
        let frame = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            decode_request(frame),
            Err(ProtocolError::UnknownApiKey { api_key: 0x7f00 })
        );
    }

    #[test]
    fn unserved_api_carries_the_correlation_id() {
        let frame = payload(
            &header(ApiKey::SaslHandshake, 1, 41),
            &[0, 5, b'P', b'L', b'A', b'I', b'N'],
        );
        assert_eq!(
            decode_request(frame),
            Err(ProtocolError::UnsupportedApi {
                api_key: ApiKey::SaslHandshake,
                api_version: 1,
                correlation_id: 41
            })
        );
    }

    #[test]
    fn version_outside_the_table_carries_the_correlation_id() {
        // Produce v13 names topics by id; kafka-protocol could decode it,
        // Sluice does not serve it.
        let frame = payload(&header(ApiKey::Produce, 13, 7), &[]);
        let error = decode_request(frame).unwrap_err();
        assert_eq!(
            error,
            ProtocolError::UnsupportedVersion {
                api_key: ApiKey::Produce,
                api_version: 13,
                correlation_id: 7
            }
        );
        assert_eq!(error.api_versions_fallback(), None);
    }

    #[test]
    fn newer_api_versions_is_flagged_for_the_fallback_answer() {
        // A client from the future: ApiVersions v9, header v2, a body this
        // build cannot know. The body is never parsed.
        let frame = payload(&header(ApiKey::ApiVersions, 9, 3), &[0xde, 0xad]);
        let error = decode_request(frame).unwrap_err();
        assert_eq!(error.api_versions_fallback(), Some(3));
    }

    #[test]
    fn truncated_header_is_a_header_decode_error() {
        let full = payload(&header(ApiKey::Metadata, 12, 1), &[]);
        let error = decode_request(full.slice(..full.len() - 2)).unwrap_err();
        assert!(
            matches!(
                error,
                ProtocolError::Decode {
                    api_key: ApiKey::Metadata,
                    api_version: 12,
                    part: MessagePart::Header,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn trailing_bytes_are_tolerated_and_counted() {
        // Heartbeat v0: group id, generation id, member id.
        let mut body = BytesMut::new();
        HeartbeatRequest::default()
            .with_group_id(kafka_protocol::messages::GroupId("g".into()))
            .with_generation_id(3)
            .with_member_id("m".into())
            .encode(&mut body, 0)
            .unwrap();
        body.put_slice(b"extra");
        let decoded = decode_request(payload(&header(ApiKey::Heartbeat, 0, 9), &body)).unwrap();
        assert_eq!(decoded.trailing_bytes, 5);
        let RequestKind::Heartbeat(heartbeat) = decoded.body else {
            panic!("not a heartbeat: {:?}", decoded.body);
        };
        assert_eq!(heartbeat.generation_id, 3);
    }
}
