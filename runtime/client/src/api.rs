//! Which response type answers which request type, so a call site writes
//! `connection.send(MetadataRequest)` and gets a `MetadataResponse` back
//! instead of matching on `ResponseKind`.
//!
//! `sluice-protocol` deals in the two enums `RequestKind` and
//! `ResponseKind`; this module only pairs their variants up, one line per
//! API.

use sluice_protocol::kafka_protocol::messages::*;
use sluice_protocol::{RequestKind, ResponseKind};

/// A request body with a known API key and response type.
pub trait ApiRequest: Into<RequestKind> {
    /// The API this request belongs to.
    const API_KEY: ApiKey;
    /// The body that answers it.
    type Response;
    /// Takes the typed body out of a decoded response, or `None` if it is
    /// another API's (which the connection never lets happen).
    fn response(kind: ResponseKind) -> Option<Self::Response>;
}

macro_rules! pair {
    ($($api:ident: $request:ident => $response:ident,)*) => {
        $(
            impl ApiRequest for $request {
                const API_KEY: ApiKey = ApiKey::$api;
                type Response = $response;
                fn response(kind: ResponseKind) -> Option<$response> {
                    match kind {
                        ResponseKind::$api(body) => Some(body),
                        _ => None,
                    }
                }
            }
        )*
    };
}

pair! {
    Produce: ProduceRequest => ProduceResponse,
    Fetch: FetchRequest => FetchResponse,
    ListOffsets: ListOffsetsRequest => ListOffsetsResponse,
    Metadata: MetadataRequest => MetadataResponse,
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse,
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse,
    FindCoordinator: FindCoordinatorRequest => FindCoordinatorResponse,
    JoinGroup: JoinGroupRequest => JoinGroupResponse,
    Heartbeat: HeartbeatRequest => HeartbeatResponse,
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse,
    SyncGroup: SyncGroupRequest => SyncGroupResponse,
    DescribeGroups: DescribeGroupsRequest => DescribeGroupsResponse,
    ListGroups: ListGroupsRequest => ListGroupsResponse,
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse,
    CreateTopics: CreateTopicsRequest => CreateTopicsResponse,
    DeleteTopics: DeleteTopicsRequest => DeleteTopicsResponse,
    InitProducerId: InitProducerIdRequest => InitProducerIdResponse,
    DescribeConfigs: DescribeConfigsRequest => DescribeConfigsResponse,
}
