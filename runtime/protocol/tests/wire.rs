//! Exact wire bytes, and what the broker side does with bytes that are not
//! a valid request: truncated, random or hostile. One test per way a frame
//! can be wrong.

mod samples;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_protocol::kafka_protocol::messages::{ApiKey, RequestHeader};
use sluice_protocol::kafka_protocol::protocol::Encodable;
use sluice_protocol::{
    decode_request, encode_request, encode_unsupported_api_versions, FrameDecoder, MessagePart,
    ProtocolError, RequestKind, SUPPORTED_APIS,
};

/// Prefixes `payload` with its size, as a client would put it on the wire.
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut wire = (payload.len() as i32).to_be_bytes().to_vec();
    wire.extend_from_slice(payload);
    wire
}

fn only_frame(wire: &[u8]) -> Bytes {
    let mut buf = BytesMut::from(wire);
    let frame = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    frame
}

#[test]
fn api_versions_v3_as_librdkafka_sends_it() {
    // From the Kafka protocol guide: request header v2 (ApiVersions >= 3
    // is flexible), then ApiVersionsRequest v3.
    let payload: &[u8] = &[
        0x00, 0x12, // request_api_key: 18, ApiVersions
        0x00, 0x03, // request_api_version: 3
        0x00, 0x00, 0x00, 0x01, // correlation_id: 1
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k',
        b'a', // client_id: nullable string, int16 length
        0x00, // header tagged fields: none
        0x0b, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k',
        b'a', // client_software_name: compact string, length + 1
        0x06, b'2', b'.', b'3', b'.', b'0', // client_software_version: compact string
        0x00, // body tagged fields: none
    ];
    let wire = framed(payload);
    assert_eq!(&wire[..4], &[0, 0, 0, 36]);

    let decoded = decode_request(only_frame(&wire)).unwrap();
    assert_eq!(
        decoded.header,
        RequestHeader::default()
            .with_request_api_key(18)
            .with_request_api_version(3)
            .with_correlation_id(1)
            .with_client_id(Some(samples::s("rdkafka")))
    );
    let RequestKind::ApiVersions(body) = &decoded.body else {
        panic!("not ApiVersions: {:?}", decoded.body);
    };
    assert_eq!(body.client_software_name, samples::s("librdkafka"));
    assert_eq!(body.client_software_version, samples::s("2.3.0"));
    assert!(body.unknown_tagged_fields.is_empty());
    assert_eq!(decoded.trailing_bytes, 0);

    // And the client side writes exactly those bytes.
    assert_eq!(
        &encode_request(&decoded.header, &decoded.body).unwrap()[..],
        &wire[..]
    );
}

#[test]
fn api_versions_from_the_future_is_answered_in_the_v0_layout() {
    // ApiVersions v127 with a body this build cannot know: the header
    // (v2, like every flexible ApiVersions) is read for the correlation
    // id, the body is never parsed.
    let payload: &[u8] = &[
        0x00, 0x12, 0x00, 0x7f, // ApiVersions v127
        0x00, 0x00, 0x30, 0x39, // correlation_id: 12345
        0xff, 0xff, // client_id: null
        0x00, // header tagged fields
        0xde, 0xad, 0xbe, 0xef, // some future body
    ];
    let error = decode_request(only_frame(&framed(payload))).unwrap_err();
    let correlation_id = error.api_versions_fallback().expect("answered, not closed");
    assert_eq!(correlation_id, 12345);

    let answer = encode_unsupported_api_versions(correlation_id).unwrap();
    assert_eq!(
        &answer[..],
        &[
            0, 0, 0, 16, // size
            0, 0, 0x30, 0x39, // response header v0: correlation id only
            0, 35, // error_code: UNSUPPORTED_VERSION
            0, 0, 0, 1, // api_keys: int32 count (v0 layout)
            0, 18, 0, 0, 0, 4, // ApiVersions v0..=v4
        ][..]
    );
}

#[test]
fn truncated_produce_request_with_a_consistent_size_prefix_is_a_body_error() {
    let header = samples::header(ApiKey::Produce, 9, 77);
    let wire = encode_request(&header, &samples::request(ApiKey::Produce, 9)).unwrap();
    let mut header_bytes = BytesMut::new();
    header.encode(&mut header_bytes, 2).unwrap();
    let body_start = 4 + header_bytes.len();
    for cut in body_start..wire.len() {
        // The client claims exactly the bytes it sends: the frame is whole,
        // the message inside it is not.
        let frame = only_frame(&framed(&wire[4..cut]));
        let error = decode_request(frame).unwrap_err();
        assert!(
            matches!(
                error,
                ProtocolError::Decode {
                    api_key: ApiKey::Produce,
                    api_version: 9,
                    part: MessagePart::Body,
                    ..
                }
            ),
            "cut at {cut}: {error:?}"
        );
    }
}

#[test]
fn every_request_cut_short_anywhere_is_an_error() {
    for row in SUPPORTED_APIS {
        for version in [row.min_version, row.max_version] {
            let header = samples::header(row.api_key, version, 5);
            let wire = encode_request(&header, &samples::request(row.api_key, version)).unwrap();
            let payload = Bytes::copy_from_slice(&wire[4..]);
            for cut in 0..payload.len() {
                let result = decode_request(payload.slice(..cut));
                assert!(
                    result.is_err(),
                    "{:?} v{version} cut at {cut}: {result:?}",
                    row.api_key
                );
            }
        }
    }
}

/// A valid request header for a served API and version, to put random
/// bytes behind.
fn served_header() -> impl Strategy<Value = Vec<u8>> {
    (0..SUPPORTED_APIS.len(), any::<u16>(), any::<i32>()).prop_map(|(row, pick, correlation_id)| {
        let row = SUPPORTED_APIS[row];
        let span = (row.max_version - row.min_version + 1) as u16;
        let version = row.min_version + (pick % span) as i16;
        let header = samples::header(row.api_key, version, correlation_id);
        let mut buf = BytesMut::new();
        let header_version = row.api_key.request_header_version(version);
        header.encode(&mut buf, header_version).unwrap();
        buf.to_vec()
    })
}

// kafka-protocol 0.18's array decoder calls `Vec::with_capacity` with the
// element count read off the wire before checking that the frame holds
// that many elements. With the system allocator a failed allocation aborts
// the process (not a panic; it cannot be caught), and the frame size limit
// does not bound it. The two tests below run with the allocator every
// Sluice binary installs, which maps huge reservations lazily so decoding
// fails cleanly instead. Without it, they abort this test binary.
#[global_allocator]
static ALLOCATOR: sluice_protocol::alloc_guard::LazyHugeAlloc =
    sluice_protocol::alloc_guard::LazyHugeAlloc;

/// Fourteen bytes that ask for a Metadata v0 topic array of `i32::MAX`
/// entries, about 150 GB of capacity before the first entry is read.
#[test]
fn decode_request_survives_huge_array_counts() {
    let payload: &[u8] = &[
        0x00, 0x03, 0x00, 0x00, // Metadata v0
        0x00, 0x00, 0x00, 0x01, // correlation_id
        0xff, 0xff, // client_id: null
        0x7f, 0xff, 0xff, 0xff, // topics: i32::MAX entries, none present
    ];
    let error = decode_request(only_frame(&framed(payload))).unwrap_err();
    assert!(
        matches!(
            error,
            ProtocolError::Decode {
                part: MessagePart::Body,
                ..
            }
        ),
        "{error:?}"
    );
}

proptest! {
    /// Mostly exercises the key and header checks: a random API key is a
    /// served one 18 times in 65536.
    #[test]
    fn random_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(Bytes::from(frame));
    }

    /// Reaches every body decoder. Found the allocation abort on its
    /// first run; see the comment above.
    #[test]
        fn random_body_behind_a_served_header_never_panics(
        header in served_header(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut frame = header;
        frame.extend_from_slice(&body);
        let _ = decode_request(Bytes::from(frame));
    }
}
