//! The client's side: encode a request as a frame, decode the response
//! frame, and pick the version to speak.
//!
//! Sluice's CLI talks to the broker through this module, so it speaks the
//! same messages the broker decodes. It knows nothing about sockets or
//! retries; matching a response to its request (the correlation id) is the
//! caller's job, since only the caller knows what is in flight.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::Decodable;

use crate::error::{MessagePart, ProtocolError};
use crate::message::encode_message;
use crate::request::RequestKind;
use crate::response::ResponseKind;
use crate::versions;

/// Encodes `header` and `body` as a whole request frame, size prefix
/// included. The header names the API and version; the header's own
/// version follows from them.
///
/// # Errors
///
/// [`ProtocolError::UnknownApiKey`] if the header's key is not a Kafka
/// API, [`ProtocolError::BodyMismatch`] if `body` is another API's, and
/// [`ProtocolError::Encode`] if `kafka-protocol` cannot encode the header
/// or body at that version.
pub fn encode_request(header: &RequestHeader, body: &RequestKind) -> Result<Bytes, ProtocolError> {
    let api_key =
        ApiKey::try_from(header.request_api_key).map_err(|()| ProtocolError::UnknownApiKey {
            api_key: header.request_api_key,
        })?;
    if body.api_key() != api_key {
        return Err(ProtocolError::BodyMismatch {
            api_key,
            body: body.api_key(),
        });
    }
    let api_version = header.request_api_version;
    let header_version = api_key.request_header_version(api_version);
    encode_message(header, header_version, body, api_version)
}

/// Decodes a response frame's payload (size prefix removed), given the
/// API key and version of the request it answers.
///
/// An ApiVersions response that does not decode at `api_version` and
/// carries UNSUPPORTED_VERSION is decoded again at v0, as the Java client
/// does (`ApiVersionsResponse.parse`): a broker that does not know the
/// requested version answers in the v0 layout, and the client retries at
/// the version that answer lists. Trailing bytes are ignored, as on the broker side.
///
/// # Errors
///
/// [`ProtocolError::Decode`] for a truncated or malformed header or body,
/// [`ProtocolError::UnsupportedApi`] if `api_key` is not one Sluice
/// speaks (no request of it could have been encoded).
pub fn decode_response(
    api_key: ApiKey,
    api_version: i16,
    frame: Bytes,
) -> Result<(ResponseHeader, ResponseKind), ProtocolError> {
    let mut buf = frame;
    let header_version = api_key.response_header_version(api_version);
    let header = ResponseHeader::decode(&mut buf, header_version).map_err(|cause| {
        ProtocolError::decode(api_key, api_version, MessagePart::Header, &cause)
    })?;
    let body_start = buf.clone();
    let body = match ResponseKind::decode(api_key, api_version, &mut buf) {
        Some(Ok(body)) => body,
        Some(Err(error)) if is_api_versions_fallback(api_key, api_version, &body_start) => {
            match ResponseKind::decode(api_key, 0, &mut body_start.clone()) {
                Some(Ok(body)) => body,
                // Report the failure at the version that was asked for.
                _ => return Err(error),
            }
        }
        Some(Err(error)) => return Err(error),
        None => {
            return Err(ProtocolError::UnsupportedApi {
                api_key,
                api_version,
                correlation_id: header.correlation_id,
            })
        }
    };
    Ok((header, body))
}

/// Whether a response body that failed to decode may be the v0-layout
/// answer to an ApiVersions request at a version the broker does not know:
/// only then is the body re-read at v0. The error code comes first in every
/// ApiVersions version, so it can be checked before re-reading.
fn is_api_versions_fallback(api_key: ApiKey, api_version: i16, body: &[u8]) -> bool {
    let unsupported_version = ResponseError::UnsupportedVersion.code().to_be_bytes();
    api_key == ApiKey::ApiVersions && api_version != 0 && body.starts_with(&unsupported_version)
}

/// The version of `api_key` to send to a broker that answered ApiVersions
/// with `broker`: the highest version both sides speak, or `None` if there
/// is none (or the broker does not list `api_key`).
pub fn negotiate_version(api_key: ApiKey, broker: &ApiVersionsResponse) -> Option<i16> {
    let ours = versions::supported(api_key)?;
    let theirs = broker
        .api_keys
        .iter()
        .find(|entry| entry.api_key == api_key as i16)?;
    let min = (*ours.start()).max(theirs.min_version);
    let max = (*ours.end()).min(theirs.max_version);
    (min <= max).then_some(max)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{HeartbeatRequest, MetadataRequest};

    use super::*;
    use crate::frame::FrameDecoder;
    use crate::response::{encode_response, encode_unsupported_api_versions};

    fn entry(api_key: ApiKey, min_version: i16, max_version: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(api_key as i16)
            .with_min_version(min_version)
            .with_max_version(max_version)
    }

    fn payload(frame: Bytes) -> Bytes {
        let mut buf = bytes::BytesMut::from(&frame[..]);
        FrameDecoder::default().decode(&mut buf).unwrap().unwrap()
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        let broker = ApiVersionsResponse::default().with_api_keys(vec![
            entry(ApiKey::Produce, 0, 11),
            entry(ApiKey::Fetch, 0, 7),
            entry(ApiKey::Metadata, 13, 13),
        ]);
        assert_eq!(negotiate_version(ApiKey::Produce, &broker), Some(9));
        assert_eq!(negotiate_version(ApiKey::Fetch, &broker), Some(7));
        assert_eq!(
            negotiate_version(ApiKey::Metadata, &broker),
            None,
            "no overlap"
        );
        assert_eq!(
            negotiate_version(ApiKey::JoinGroup, &broker),
            None,
            "not listed"
        );
        assert_eq!(
            negotiate_version(ApiKey::SaslHandshake, &broker),
            None,
            "not ours"
        );
    }

    #[test]
    fn header_and_body_of_different_apis_are_refused() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12);
        let body = RequestKind::Heartbeat(HeartbeatRequest::default());
        assert_eq!(
            encode_request(&header, &body),
            Err(ProtocolError::BodyMismatch {
                api_key: ApiKey::Metadata,
                body: ApiKey::Heartbeat
            })
        );
    }

    #[test]
    fn unknown_api_key_in_header_is_refused() {
        let header = RequestHeader::default().with_request_api_key(-3);
        let body = RequestKind::Metadata(MetadataRequest::default());
        assert_eq!(
            encode_request(&header, &body),
            Err(ProtocolError::UnknownApiKey { api_key: -3 })
        );
    }

    #[test]
    fn v0_fallback_answer_decodes_whatever_version_was_asked() {
        for asked in [0, 3, 4, 9] {
            let frame = payload(encode_unsupported_api_versions(11).unwrap());
            let (header, body) = decode_response(ApiKey::ApiVersions, asked, frame).unwrap();
            assert_eq!(header.correlation_id, 11);
            let ResponseKind::ApiVersions(body) = body else {
                panic!("not ApiVersions: {body:?}");
            };
            assert_eq!(body.error_code, 35, "asked v{asked}");
            assert_eq!(body.api_keys, vec![entry(ApiKey::ApiVersions, 0, 4)]);
        }
    }

    #[test]
    fn truncated_response_is_a_decode_error() {
        let body = ResponseKind::ApiVersions(versions::api_versions_response());
        let frame = payload(encode_response(2, ApiKey::ApiVersions, 3, &body).unwrap());
        for cut in 0..frame.len() {
            let result = decode_response(ApiKey::ApiVersions, 3, frame.slice(..cut));
            assert!(
                matches!(result, Err(ProtocolError::Decode { .. })),
                "cut at {cut}: {result:?}"
            );
        }
    }
}
