//! Every served API, at its oldest and newest served version, through the
//! whole path: client encode → framing → broker decode, and broker encode
//! → framing → client decode.

mod samples;

use bytes::{Bytes, BytesMut};
use sluice_protocol::kafka_protocol::messages::ApiKey;
use sluice_protocol::{
    decode_request, decode_response, encode_request, encode_response, FrameDecoder, ResponseKind,
    SUPPORTED_APIS,
};

/// Each served API at its two ends of the version table.
fn cases() -> impl Iterator<Item = (ApiKey, i16)> {
    SUPPORTED_APIS.iter().flat_map(|row| {
        [
            (row.api_key, row.min_version),
            (row.api_key, row.max_version),
        ]
    })
}

/// The one frame in `wire`, cut out the way a connection would.
fn only_frame(wire: Bytes) -> Bytes {
    let mut buf = BytesMut::from(&wire[..]);
    let frame = FrameDecoder::default()
        .decode(&mut buf)
        .expect("valid size prefix")
        .expect("a whole frame");
    assert!(buf.is_empty(), "exactly one frame");
    frame
}

#[test]
fn every_request_round_trips_at_min_and_max_version() {
    for (correlation_id, (api_key, version)) in (100..).zip(cases()) {
        let header = samples::header(api_key, version, correlation_id);
        let body = samples::request(api_key, version);
        let wire = encode_request(&header, &body)
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
        let decoded = decode_request(only_frame(wire))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
        assert_eq!(decoded.header, header, "{api_key:?} v{version}");
        assert_eq!(decoded.body, body, "{api_key:?} v{version}");
        assert_eq!(decoded.trailing_bytes, 0, "{api_key:?} v{version}");
    }
}

#[test]
fn every_response_round_trips_at_min_and_max_version() {
    for (correlation_id, (api_key, version)) in (100..).zip(cases()) {
        let body = samples::response(api_key, version);
        let wire = encode_response(correlation_id, api_key, version, &body)
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
        let (header, decoded) = decode_response(api_key, version, only_frame(wire))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
        assert_eq!(
            header.correlation_id, correlation_id,
            "{api_key:?} v{version}"
        );
        assert_eq!(decoded, body, "{api_key:?} v{version}");
    }
}

#[test]
fn samples_carry_non_default_values() {
    // A round trip of default structs would pass even if the codec dropped
    // fields on the way.
    for (api_key, version) in cases() {
        let request = samples::request(api_key, version);
        let body_has_no_fields = matches!(
            (api_key, version),
            (ApiKey::ApiVersions, 0..=2) | (ApiKey::ListGroups, 0..=3)
        );
        if !body_has_no_fields {
            assert_ne!(request, default_request(&request), "{api_key:?} v{version}");
        }
        let response = samples::response(api_key, version);
        assert_ne!(
            response,
            default_response(&response),
            "{api_key:?} v{version}"
        );
    }
}

#[test]
fn produce_records_are_a_slice_of_the_frame() {
    let header = samples::header(ApiKey::Produce, 9, 1);
    let frame = only_frame(encode_request(&header, &samples::request(ApiKey::Produce, 9)).unwrap());
    let decoded = decode_request(frame.clone()).unwrap();
    let sluice_protocol::RequestKind::Produce(produce) = decoded.body else {
        panic!("not a produce request");
    };
    let records = produce.topic_data[0].partition_data[0]
        .records
        .as_ref()
        .unwrap();
    assert_eq!(records, &samples::records());
    assert!(
        frame.as_ptr_range().contains(&records.as_ptr()),
        "records were copied out of the frame"
    );
}

fn default_request(like: &sluice_protocol::RequestKind) -> sluice_protocol::RequestKind {
    use sluice_protocol::kafka_protocol::messages::*;
    use sluice_protocol::RequestKind as R;
    match like {
        R::Produce(_) => ProduceRequest::default().into(),
        R::Fetch(_) => FetchRequest::default().into(),
        R::ListOffsets(_) => ListOffsetsRequest::default().into(),
        R::Metadata(_) => MetadataRequest::default().into(),
        R::OffsetCommit(_) => OffsetCommitRequest::default().into(),
        R::OffsetFetch(_) => OffsetFetchRequest::default().into(),
        R::FindCoordinator(_) => FindCoordinatorRequest::default().into(),
        R::JoinGroup(_) => JoinGroupRequest::default().into(),
        R::Heartbeat(_) => HeartbeatRequest::default().into(),
        R::LeaveGroup(_) => LeaveGroupRequest::default().into(),
        R::SyncGroup(_) => SyncGroupRequest::default().into(),
        R::DescribeGroups(_) => DescribeGroupsRequest::default().into(),
        R::ListGroups(_) => ListGroupsRequest::default().into(),
        R::ApiVersions(_) => ApiVersionsRequest::default().into(),
        R::CreateTopics(_) => CreateTopicsRequest::default().into(),
        R::DeleteTopics(_) => DeleteTopicsRequest::default().into(),
        R::InitProducerId(_) => InitProducerIdRequest::default().into(),
        R::DescribeConfigs(_) => DescribeConfigsRequest::default().into(),
    }
}

fn default_response(like: &ResponseKind) -> ResponseKind {
    use sluice_protocol::kafka_protocol::messages::*;
    use ResponseKind as R;
    match like {
        R::Produce(_) => ProduceResponse::default().into(),
        R::Fetch(_) => FetchResponse::default().into(),
        R::ListOffsets(_) => ListOffsetsResponse::default().into(),
        R::Metadata(_) => MetadataResponse::default().into(),
        R::OffsetCommit(_) => OffsetCommitResponse::default().into(),
        R::OffsetFetch(_) => OffsetFetchResponse::default().into(),
        R::FindCoordinator(_) => FindCoordinatorResponse::default().into(),
        R::JoinGroup(_) => JoinGroupResponse::default().into(),
        R::Heartbeat(_) => HeartbeatResponse::default().into(),
        R::LeaveGroup(_) => LeaveGroupResponse::default().into(),
        R::SyncGroup(_) => SyncGroupResponse::default().into(),
        R::DescribeGroups(_) => DescribeGroupsResponse::default().into(),
        R::ListGroups(_) => ListGroupsResponse::default().into(),
        R::ApiVersions(_) => ApiVersionsResponse::default().into(),
        R::CreateTopics(_) => CreateTopicsResponse::default().into(),
        R::DeleteTopics(_) => DeleteTopicsResponse::default().into(),
        R::InitProducerId(_) => InitProducerIdResponse::default().into(),
        R::DescribeConfigs(_) => DescribeConfigsResponse::default().into(),
    }
}
