//! ApiVersions: which APIs and versions this broker speaks. Clients ask
//! first and pick the highest version both sides know.

use sluice_protocol::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use sluice_protocol::versions::api_versions_response;

pub fn handle(_request: ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    api_versions_response()
}
