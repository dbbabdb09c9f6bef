//! The broker's side of a response: from a typed response to a whole
//! frame, ready to write to the socket.
//!
//! The response header version comes from `kafka-protocol`'s
//! `ApiKey::response_header_version`. It is v0 for every ApiVersions
//! response whatever its version: a client must be able to read the answer
//! before it knows which versions the broker speaks, so that header never
//! became flexible.
//!
//! Copies: `kafka-protocol` writes `bytes` fields with `put_slice`, so
//! [`encode_response`] copies a Fetch response's `records` once into the
//! frame. The frame is sized up front so nothing else is copied.
//! [`encode_response_into`] writes into any [`ByteBufMut`] instead: a
//! buffer whose `put_slice` recognises the record bytes can keep them as
//! separate chunks and the frame goes out with a vectored write, without
//! that copy (the broker's `fetch_encoding` does this). The size prefix is
//! computed first, so such a buffer is only ever appended to.

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, CreateTopicsResponse, DeleteTopicsResponse,
    DescribeConfigsResponse, DescribeGroupsResponse, FetchResponse, FindCoordinatorResponse,
    HeartbeatResponse, InitProducerIdResponse, JoinGroupResponse, LeaveGroupResponse,
    ListGroupsResponse, ListOffsetsResponse, MetadataResponse, OffsetCommitResponse,
    OffsetFetchResponse, ProduceResponse, ResponseHeader, SyncGroupResponse,
};

use kafka_protocol::protocol::buf::ByteBufMut;

use crate::error::ProtocolError;
use crate::message::{encode_message, encode_message_into, message_kind};
use crate::versions;

message_kind! {
    /// A response body, one variant per API in
    /// [`crate::versions::SUPPORTED_APIS`], mirroring
    /// [`crate::request::RequestKind`].
    pub enum ResponseKind {
        Produce(ProduceResponse),
        Fetch(FetchResponse),
        ListOffsets(ListOffsetsResponse),
        Metadata(MetadataResponse),
        OffsetCommit(OffsetCommitResponse),
        OffsetFetch(OffsetFetchResponse),
        FindCoordinator(FindCoordinatorResponse),
        JoinGroup(JoinGroupResponse),
        Heartbeat(HeartbeatResponse),
        LeaveGroup(LeaveGroupResponse),
        SyncGroup(SyncGroupResponse),
        DescribeGroups(DescribeGroupsResponse),
        ListGroups(ListGroupsResponse),
        ApiVersions(ApiVersionsResponse),
        CreateTopics(CreateTopicsResponse),
        DeleteTopics(DeleteTopicsResponse),
        InitProducerId(InitProducerIdResponse),
        DescribeConfigs(DescribeConfigsResponse),
    }
}

/// Encodes a response as a whole frame: size prefix, response header
/// echoing `correlation_id`, then `body` at `api_version`.
///
/// `api_key` and `api_version` are the request's; the version is not
/// checked against the version table, so the ApiVersions fallback (v0)
/// goes through here too.
///
/// # Errors
///
/// [`ProtocolError::BodyMismatch`] if `body` is not an `api_key` response;
/// [`ProtocolError::Encode`] if `kafka-protocol` cannot encode `body` at
/// `api_version` (for example a field is set that this version does not
/// have). Both are bugs in the handler that built the response.
pub fn encode_response(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &ResponseKind,
) -> Result<Bytes, ProtocolError> {
    if body.api_key() != api_key {
        return Err(ProtocolError::BodyMismatch {
            api_key,
            body: body.api_key(),
        });
    }
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(api_version);
    encode_message(&header, header_version, body, api_version)
}

/// As [`encode_response`], but appends the frame to `buf`, any
/// [`ByteBufMut`], and returns its length (size prefix included).
///
/// # Errors
///
/// As [`encode_response`]; on error `buf` may hold part of the frame.
pub fn encode_response_into<B: ByteBufMut>(
    correlation_id: i32,
    api_key: ApiKey,
    api_version: i16,
    body: &ResponseKind,
    buf: &mut B,
) -> Result<usize, ProtocolError> {
    if body.api_key() != api_key {
        return Err(ProtocolError::BodyMismatch {
            api_key,
            body: body.api_key(),
        });
    }
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = api_key.response_header_version(api_version);
    encode_message_into(&header, header_version, body, api_version, buf)
}

/// The whole frame that answers an ApiVersions request at a version Sluice
/// does not know (see [`ProtocolError::api_versions_fallback`]).
///
/// It is what Kafka sends: response header v0, then an ApiVersions v0 body
/// (error code, then an `int32`-counted array of key, min and max; no
/// throttle time, no tagged fields) with UNSUPPORTED_VERSION (35) and the
/// ApiVersions range, so the client can retry at a version both sides
/// know. Clients parse it as v0 whatever version they asked for.
///
/// # Errors
///
/// None in practice: the body is fixed and encodes at v0.
pub fn encode_unsupported_api_versions(correlation_id: i32) -> Result<Bytes, ProtocolError> {
    let body = ResponseKind::ApiVersions(versions::unsupported_api_versions_response());
    encode_response(correlation_id, ApiKey::ApiVersions, 0, &body)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_groups_response;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::TopicName;

    use super::*;
    use crate::error::MessagePart;
    use crate::versions::SUPPORTED_APIS;

    #[test]
    fn every_served_api_has_a_response_variant() {
        for row in SUPPORTED_APIS {
            let decoded = ResponseKind::decode(row.api_key, row.max_version, &mut Bytes::new());
            assert!(decoded.is_some(), "{:?} has no ResponseKind", row.api_key);
        }
    }

    #[test]
    fn unsupported_api_versions_answer_is_the_v0_layout() {
        let frame = encode_unsupported_api_versions(0x0102_0304).unwrap();
        let served = versions::supported(ApiKey::ApiVersions).unwrap();
        let mut expected = vec![
            0, 0, 0, 16, // size: 4 + 2 + 4 + 6
            1, 2, 3, 4, // response header v0: correlation id, nothing else
            0, 35, // error_code UNSUPPORTED_VERSION
            0, 0, 0, 1, // api_keys: int32 count, not a compact array
            0, 18, // ApiVersions
        ];
        expected.extend_from_slice(&served.start().to_be_bytes());
        expected.extend_from_slice(&served.end().to_be_bytes());
        assert_eq!(&frame[..], &expected[..]);
    }

    #[test]
    fn api_versions_responses_use_header_v0_even_when_flexible() {
        let body = ResponseKind::ApiVersions(versions::api_versions_response());
        let frame = encode_response(5, ApiKey::ApiVersions, 3, &body).unwrap();
        // Header v1 would put a tagged-field count (0) right after the
        // correlation id; v0 goes straight to the body's error code (0, 0)
        // and the compact array length (entries + 1).
        assert_eq!(&frame[4..8], &5i32.to_be_bytes());
        assert_eq!(&frame[8..10], &[0, 0]);
        assert_eq!(frame[10] as usize, SUPPORTED_APIS.len() + 1);
    }

    #[test]
    fn flexible_responses_get_header_v1() {
        let body = ResponseKind::Heartbeat(HeartbeatResponse::default());
        let frame = encode_response(5, ApiKey::Heartbeat, 4, &body).unwrap();
        // size, correlation id, empty tagged fields, then throttle (0) and
        // error code (0) and the body's own empty tagged fields.
        assert_eq!(
            &frame[..],
            &[0, 0, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn body_of_another_api_is_refused() {
        let body = ResponseKind::Heartbeat(HeartbeatResponse::default());
        assert_eq!(
            encode_response(1, ApiKey::Fetch, 12, &body),
            Err(ProtocolError::BodyMismatch {
                api_key: ApiKey::Fetch,
                body: ApiKey::Heartbeat
            })
        );
    }

    #[test]
    fn field_this_version_lacks_is_an_encode_error() {
        // Authorized operations exist from DescribeGroups v3 on, and the
        // schema does not mark them ignorable. (Ignorable fields, such as
        // the throttle time before v1, are dropped silently instead.)
        let body =
            ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(vec![
                describe_groups_response::DescribedGroup::default().with_authorized_operations(0),
            ]));
        let error = encode_response(1, ApiKey::DescribeGroups, 0, &body).unwrap_err();
        assert!(
            matches!(
                error,
                ProtocolError::Encode {
                    api_key: ApiKey::DescribeGroups,
                    api_version: 0,
                    part: MessagePart::Body,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn encode_response_into_writes_the_same_frame() {
        let body = ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(27));
        let frame = encode_response(9, ApiKey::Heartbeat, 4, &body).unwrap();
        let mut buf = b"earlier".to_vec();
        let written = encode_response_into(9, ApiKey::Heartbeat, 4, &body, &mut buf).unwrap();
        assert_eq!(written, frame.len());
        assert_eq!(&buf[..7], b"earlier");
        assert_eq!(&buf[7..], &frame[..]);
        assert_eq!(
            encode_response_into(9, ApiKey::Fetch, 4, &body, &mut buf),
            Err(ProtocolError::BodyMismatch {
                api_key: ApiKey::Fetch,
                body: ApiKey::Heartbeat
            })
        );
    }

    #[test]
    fn fetch_records_are_copied_into_the_frame() {
        let records = Bytes::from(vec![0xab; 64 * 1024]);
        let body = ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(TopicName("orders".into()))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(3)
                    .with_records(Some(records.clone()))]),
        ]));
        let frame = encode_response(1, ApiKey::Fetch, 12, &body).unwrap();
        let found = frame
            .windows(records.len())
            .position(|window| window == &records[..])
            .expect("records are in the frame");
        // kafka-protocol copies them: the frame does not point into
        // `records`.
        let records_range = records.as_ptr_range();
        assert!(!records_range.contains(&frame[found..].as_ptr()));
    }
}
