//! The APIs and versions Sluice serves, and the ApiVersions answer that
//! advertises them.
//!
//! A Kafka client starts every connection with ApiVersions and then uses,
//! per API, the highest version both sides know. This table is therefore a
//! promise: every version in it must decode with `kafka-protocol` (its
//! `Message::VERSIONS` for both the request and the response) and must mean
//! nothing the broker cannot do. The ranges are chosen so that librdkafka
//! 2.x (and kcat on top of it), kafka-python 2.x and the Java client find a
//! common version for every API they need.
//!
//! Two reasons cap a range below what `kafka-protocol` could decode:
//! - the version names topics by topic id instead of by name (Sluice has no
//!   topic ids, so it could not resolve them; it sends the zero id where a
//!   version only *returns* ids, as Kafka does for topics without one);
//! - the version exists only to carry a feature Sluice does not have
//!   (transactions v2, two-phase commit, share groups, tiered storage,
//!   KIP-848 consumer groups), so advertising it would promise behaviour
//!   the broker cannot give.
//!
//! Minimums are `kafka-protocol`'s: it no longer decodes the versions
//! Kafka 4.0 removed (KIP-896), such as Produce v0-v2 (message formats 0
//! and 1, which Sluice does not store anyway).
//!
//! This module must not decide anything per request; the broker handlers
//! do that.

use std::ops::RangeInclusive;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

/// One row of the version table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    /// The API this row is about.
    pub api_key: ApiKey,
    /// Oldest version served; `min_version <= max_version`.
    pub min_version: i16,
    /// Newest version served.
    pub max_version: i16,
}

const fn api(api_key: ApiKey, min_version: i16, max_version: i16) -> SupportedApi {
    SupportedApi {
        api_key,
        min_version,
        max_version,
    }
}

/// Every API Sluice serves, in API key order.
pub const SUPPORTED_APIS: [SupportedApi; 18] = [
    // v3 is the first version carrying RecordBatch v2, the only format
    // Sluice stores. Capped at 9 (the first flexible version): v10 (KIP-951)
    // promises leader hints on NOT_LEADER_OR_FOLLOWER, v11 adds the
    // TRANSACTION_ABORTABLE error and v12 changes what a transactional batch
    // means (transactions v2, KIP-890); none of them helps a single node
    // without transactions. v13 names topics by id.
    api(ApiKey::Produce, 3, 9),
    // v4 is the first version that returns RecordBatch v2. Capped at 12
    // (first flexible version, with LastFetchedEpoch): v13 and later name
    // topics by id (KIP-516).
    api(ApiKey::Fetch, 4, 12),
    // Capped at 6 (first flexible version; earliest, latest and
    // by-timestamp lookups): v7 lets the client ask for the offset of the
    // largest timestamp (-3, KIP-734), v8 and v9 for tiered-storage offsets
    // (-4, -5; KIP-405, KIP-1005), v10 adds a timeout for asynchronous
    // remote lookups (KIP-1075). Raise to 7 once the broker answers -3
    // from the time index.
    api(ApiKey::ListOffsets, 1, 6),
    // v10 to v12 return topic ids (sent as zero) and v12 lets a client ask
    // by id, which is answered UNKNOWN_TOPIC_ID. Capped at 12: v13 exists
    // for the top-level REBOOTSTRAP_REQUIRED error of KIP-1102, a
    // multi-cluster feature. Note v0 reads an empty topic list as "all
    // topics"; the handler must honour that.
    api(ApiKey::Metadata, 0, 12),
    // v2 is kafka-protocol's minimum (v0-v1 were removed by KIP-896).
    // Capped at 9: kafka-protocol 0.18 decodes requests only up to 9, and
    // v10 replaces topic names with topic ids.
    api(ApiKey::OffsetCommit, 2, 9),
    // Same cap as OffsetCommit: requests decode up to 9, v10 uses topic
    // ids. v8 and later batch several groups in one request.
    api(ApiKey::OffsetFetch, 1, 9),
    // Capped at 5: v6 only adds share-group coordinator lookups (KIP-932).
    // v4 and later batch several keys in one request.
    api(ApiKey::FindCoordinator, 0, 5),
    // The classic group protocol in full; v4 and later require the
    // two-step join (MEMBER_ID_REQUIRED).
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    // v6 reports an unknown group as GROUP_ID_NOT_FOUND (KIP-1043).
    api(ApiKey::DescribeGroups, 0, 6),
    // v5 adds a group type filter (KIP-848); Sluice's groups are all
    // "classic".
    api(ApiKey::ListGroups, 0, 5),
    // v3 is what librdkafka sends first. v4 only changes the meaning of
    // SupportedFeatures.MinVersion (KAFKA-17011), which Sluice leaves
    // empty.
    api(ApiKey::ApiVersions, 0, 4),
    // v7 returns topic ids, sent as zero.
    api(ApiKey::CreateTopics, 2, 7),
    // Capped at 5: v6 lets the client name topics by id.
    api(ApiKey::DeleteTopics, 1, 5),
    // Idempotent producers need this. Capped at 5: kafka-protocol 0.18
    // decodes requests only up to 5, and v6 is two-phase commit (KIP-939).
    api(ApiKey::InitProducerId, 0, 5),
    // v1 is kafka-protocol's minimum (v0 was removed by KIP-896).
    api(ApiKey::DescribeConfigs, 1, 4),
];

/// The versions of `api_key` that Sluice serves, or `None` if it serves
/// none.
pub fn supported(api_key: ApiKey) -> Option<RangeInclusive<i16>> {
    SUPPORTED_APIS
        .iter()
        .find(|row| row.api_key == api_key)
        .map(|row| row.min_version..=row.max_version)
}

/// The ApiVersions response body that advertises [`SUPPORTED_APIS`]. It
/// encodes at every ApiVersions version; no features are advertised.
pub fn api_versions_response() -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS.iter().map(api_version).collect();
    ApiVersionsResponse::default()
        .with_error_code(0)
        .with_api_keys(api_keys)
}

/// The answer to an ApiVersions request at a version Sluice does not know.
///
/// As Kafka does (KIP-511, `ApiVersionsRequest.getErrorResponse`), it
/// carries UNSUPPORTED_VERSION and lists only the ApiVersions range: that is
/// all the client needs to retry at a version both sides know, and the
/// retry gets the full table. It must be encoded at v0; see
/// [`crate::response::encode_unsupported_api_versions`].
pub fn unsupported_api_versions_response() -> ApiVersionsResponse {
    let api_versions = SUPPORTED_APIS
        .iter()
        .find(|row| row.api_key == ApiKey::ApiVersions)
        .map(api_version);
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_versions.into_iter().collect())
}

fn api_version(row: &SupportedApi) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(row.api_key as i16)
        .with_min_version(row.min_version)
        .with_max_version(row.max_version)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Message, VersionRange};

    use super::*;

    /// What kafka-protocol can both decode and encode, for requests and
    /// responses of `api_key`.
    fn codec_range(api_key: ApiKey) -> VersionRange {
        fn both<Req: Message, Resp: Message>() -> VersionRange {
            Req::VERSIONS.intersect(&Resp::VERSIONS)
        }
        match api_key {
            ApiKey::Produce => both::<ProduceRequest, ProduceResponse>(),
            ApiKey::Fetch => both::<FetchRequest, FetchResponse>(),
            ApiKey::ListOffsets => both::<ListOffsetsRequest, ListOffsetsResponse>(),
            ApiKey::Metadata => both::<MetadataRequest, MetadataResponse>(),
            ApiKey::OffsetCommit => both::<OffsetCommitRequest, OffsetCommitResponse>(),
            ApiKey::OffsetFetch => both::<OffsetFetchRequest, OffsetFetchResponse>(),
            ApiKey::FindCoordinator => both::<FindCoordinatorRequest, FindCoordinatorResponse>(),
            ApiKey::JoinGroup => both::<JoinGroupRequest, JoinGroupResponse>(),
            ApiKey::Heartbeat => both::<HeartbeatRequest, HeartbeatResponse>(),
            ApiKey::LeaveGroup => both::<LeaveGroupRequest, LeaveGroupResponse>(),
            ApiKey::SyncGroup => both::<SyncGroupRequest, SyncGroupResponse>(),
            ApiKey::DescribeGroups => both::<DescribeGroupsRequest, DescribeGroupsResponse>(),
            ApiKey::ListGroups => both::<ListGroupsRequest, ListGroupsResponse>(),
            ApiKey::ApiVersions => both::<ApiVersionsRequest, ApiVersionsResponse>(),
            ApiKey::CreateTopics => both::<CreateTopicsRequest, CreateTopicsResponse>(),
            ApiKey::DeleteTopics => both::<DeleteTopicsRequest, DeleteTopicsResponse>(),
            ApiKey::InitProducerId => both::<InitProducerIdRequest, InitProducerIdResponse>(),
            ApiKey::DescribeConfigs => both::<DescribeConfigsRequest, DescribeConfigsResponse>(),
            other => panic!("{other:?} is not in the table"),
        }
    }

    #[test]
    fn every_range_is_within_what_kafka_protocol_decodes_and_encodes() {
        for row in SUPPORTED_APIS {
            let codec = codec_range(row.api_key);
            assert!(row.min_version <= row.max_version, "{row:?}");
            assert!(
                codec.min <= row.min_version && row.max_version <= codec.max,
                "{row:?} is outside kafka-protocol's {codec}"
            );
        }
    }

    #[test]
    fn table_is_in_api_key_order_without_duplicates() {
        let keys: Vec<i16> = SUPPORTED_APIS
            .iter()
            .map(|row| row.api_key as i16)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn caps_that_keep_topic_ids_out() {
        // Each of these versions names topics by id; serving it would need
        // a topic id registry Sluice does not have.
        assert_eq!(supported(ApiKey::Produce), Some(3..=9));
        assert_eq!(supported(ApiKey::Fetch), Some(4..=12));
        assert_eq!(supported(ApiKey::Metadata), Some(0..=12));
        assert_eq!(supported(ApiKey::DeleteTopics), Some(1..=5));
        assert_eq!(supported(ApiKey::OffsetCommit), Some(2..=9));
    }

    #[test]
    fn unserved_apis_have_no_range() {
        assert_eq!(supported(ApiKey::SaslHandshake), None);
        assert_eq!(supported(ApiKey::AddPartitionsToTxn), None);
    }

    #[test]
    fn api_versions_response_lists_every_row() {
        let response = api_versions_response();
        assert_eq!(response.error_code, 0);
        assert_eq!(response.api_keys.len(), SUPPORTED_APIS.len());
        for (entry, row) in response.api_keys.iter().zip(SUPPORTED_APIS) {
            assert_eq!(
                (entry.api_key, entry.min_version, entry.max_version),
                (row.api_key as i16, row.min_version, row.max_version)
            );
        }
    }

    #[test]
    fn unsupported_answer_lists_only_api_versions() {
        let response = unsupported_api_versions_response();
        assert_eq!(response.error_code, 35);
        assert_eq!(response.api_keys.len(), 1);
        assert_eq!(response.api_keys[0].api_key, 18);
        assert_eq!(
            response.api_keys[0].min_version..=response.api_keys[0].max_version,
            supported(ApiKey::ApiVersions).unwrap()
        );
    }
}
