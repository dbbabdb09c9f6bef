//! One request and one response per served API, at any served version,
//! with non-default values in the fields that version carries (and
//! defaults elsewhere, since `kafka-protocol` refuses to encode a field the
//! version lacks).

#![allow(dead_code)] // each test crate uses a different part

use bytes::Bytes;
use sluice_protocol::kafka_protocol::messages::*;
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::{RequestKind, ResponseKind};

pub fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(name: &'static str) -> TopicName {
    TopicName(s(name))
}

fn group(name: &'static str) -> GroupId {
    GroupId(s(name))
}

/// A stand-in for a RecordBatch: the codec never looks inside.
pub fn records() -> Bytes {
    Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x2a opaque record batch bytes")
}

pub fn header(api_key: ApiKey, api_version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(s("sluice-test")))
}

pub fn request(api_key: ApiKey, v: i16) -> RequestKind {
    match api_key {
        ApiKey::Produce => ProduceRequest::default()
            .with_transactional_id(None)
            .with_acks(-1)
            .with_timeout_ms(1500)
            .with_topic_data(vec![produce_request::TopicProduceData::default()
                .with_name(topic("orders"))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(3)
                        .with_records(Some(records())),
                ])])
            .into(),
        ApiKey::Fetch => FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(52_428_800)
            .with_isolation_level(1)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(3)
                    .with_fetch_offset(4096)
                    .with_partition_max_bytes(1_048_576)])])
            .into(),
        ApiKey::ListOffsets => ListOffsetsRequest::default()
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(3)
                        .with_timestamp(-2),
                ])])
            .into(),
        ApiKey::Metadata => MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders"))),
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic("audit"))),
            ]))
            .into(),
        ApiKey::OffsetCommit => OffsetCommitRequest::default()
            .with_group_id(group("billing"))
            .with_generation_id_or_member_epoch(7)
            .with_member_id(s("member-1"))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(3)
                            .with_committed_offset(4096)
                            .with_committed_metadata(Some(s("checkpoint"))),
                    ]),
            ])
            .into(),
        ApiKey::OffsetFetch if v < 8 => OffsetFetchRequest::default()
            .with_group_id(group("billing"))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic("orders"))
                    .with_partition_indexes(vec![0, 3]),
            ]))
            .into(),
        ApiKey::OffsetFetch => OffsetFetchRequest::default()
            .with_require_stable(true)
            .with_groups(vec![
                offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(group("billing"))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopics::default()
                            .with_name(topic("orders"))
                            .with_partition_indexes(vec![0, 3]),
                    ])),
            ])
            .into(),
        ApiKey::FindCoordinator if v < 4 => FindCoordinatorRequest::default()
            .with_key(s("billing"))
            .into(),
        ApiKey::FindCoordinator => FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![s("billing"), s("audit")])
            .into(),
        ApiKey::JoinGroup => JoinGroupRequest::default()
            .with_group_id(group("billing"))
            .with_session_timeout_ms(45_000)
            .with_member_id(s("member-1"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\x00\x01subscription"))])
            .into(),
        ApiKey::Heartbeat => HeartbeatRequest::default()
            .with_group_id(group("billing"))
            .with_generation_id(7)
            .with_member_id(s("member-1"))
            .into(),
        ApiKey::LeaveGroup if v < 3 => LeaveGroupRequest::default()
            .with_group_id(group("billing"))
            .with_member_id(s("member-1"))
            .into(),
        ApiKey::LeaveGroup => LeaveGroupRequest::default()
            .with_group_id(group("billing"))
            .with_members(vec![leave_group_request::MemberIdentity::default()
                .with_member_id(s("member-1"))
                .with_group_instance_id(Some(s("instance-1")))])
            .into(),
        ApiKey::SyncGroup => SyncGroupRequest::default()
            .with_group_id(group("billing"))
            .with_generation_id(7)
            .with_member_id(s("member-1"))
            .with_assignments(vec![
                sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("member-1"))
                    .with_assignment(Bytes::from_static(b"\x00\x01assignment")),
            ])
            .into(),
        ApiKey::DescribeGroups => DescribeGroupsRequest::default()
            .with_groups(vec![group("billing"), group("audit")])
            .into(),
        ApiKey::ListGroups if v < 4 => ListGroupsRequest::default().into(),
        ApiKey::ListGroups => ListGroupsRequest::default()
            .with_states_filter(vec![s("Stable")])
            .into(),
        ApiKey::ApiVersions if v < 3 => ApiVersionsRequest::default().into(),
        ApiKey::ApiVersions => ApiVersionsRequest::default()
            .with_client_software_name(s("sluice-cli"))
            .with_client_software_version(s("0.1.0"))
            .into(),
        ApiKey::CreateTopics => CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_validate_only(true)
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(topic("orders"))
                .with_num_partitions(6)
                .with_replication_factor(1)
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("86400000"))),
                ])])
            .into(),
        ApiKey::DeleteTopics => DeleteTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topic_names(vec![topic("orders"), topic("audit")])
            .into(),
        ApiKey::InitProducerId => InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000)
            .into(),
        ApiKey::DescribeConfigs => DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configuration_keys(Some(vec![s("retention.ms")])),
            ])
            .into(),
        other => panic!("{other:?} is not served"),
    }
}

pub fn response(api_key: ApiKey, v: i16) -> ResponseKind {
    match api_key {
        ApiKey::Produce => ProduceResponse::default()
            .with_responses(vec![produce_response::TopicProduceResponse::default()
                .with_name(topic("orders"))
                .with_partition_responses(vec![
                    produce_response::PartitionProduceResponse::default()
                        .with_index(3)
                        .with_base_offset(4096)
                        .with_log_append_time_ms(1_700_000_000_000),
                ])])
            .with_throttle_time_ms(10)
            .into(),
        ApiKey::Fetch => FetchResponse::default()
            .with_throttle_time_ms(10)
            .with_responses(vec![fetch_response::FetchableTopicResponse::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![fetch_response::PartitionData::default()
                    .with_partition_index(3)
                    .with_high_watermark(5000)
                    .with_last_stable_offset(5000)
                    .with_records(Some(records()))])])
            .into(),
        ApiKey::ListOffsets => ListOffsetsResponse::default()
            .with_topics(vec![
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(3)
                            .with_timestamp(-1)
                            .with_offset(4096),
                    ]),
            ])
            .into(),
        ApiKey::Metadata => MetadataResponse::default()
            .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(s("127.0.0.1"))
                .with_port(9092)])
            .with_topics(vec![metadata_response::MetadataResponseTopic::default()
                .with_name(Some(topic("orders")))
                .with_partitions(vec![
                    metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(3)
                        .with_leader_id(BrokerId(1))
                        .with_replica_nodes(vec![BrokerId(1)])
                        .with_isr_nodes(vec![BrokerId(1)]),
                ])])
            .into(),
        ApiKey::OffsetCommit => OffsetCommitResponse::default()
            .with_topics(vec![
                offset_commit_response::OffsetCommitResponseTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        offset_commit_response::OffsetCommitResponsePartition::default()
                            .with_partition_index(3)
                            .with_error_code(27),
                    ]),
            ])
            .into(),
        ApiKey::OffsetFetch if v < 8 => OffsetFetchResponse::default()
            .with_topics(vec![
                offset_fetch_response::OffsetFetchResponseTopic::default()
                    .with_name(topic("orders"))
                    .with_partitions(vec![
                        offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(3)
                            .with_committed_offset(4096)
                            .with_metadata(Some(s("checkpoint"))),
                    ]),
            ])
            .into(),
        ApiKey::OffsetFetch => OffsetFetchResponse::default()
            .with_groups(vec![
                offset_fetch_response::OffsetFetchResponseGroup::default()
                    .with_group_id(group("billing"))
                    .with_topics(vec![
                        offset_fetch_response::OffsetFetchResponseTopics::default()
                            .with_name(topic("orders"))
                            .with_partitions(vec![
                                offset_fetch_response::OffsetFetchResponsePartitions::default()
                                    .with_partition_index(3)
                                    .with_committed_offset(4096)
                                    .with_metadata(Some(s("checkpoint"))),
                            ]),
                    ]),
            ])
            .into(),
        ApiKey::FindCoordinator if v < 4 => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(1))
            .with_host(s("127.0.0.1"))
            .with_port(9092)
            .into(),
        ApiKey::FindCoordinator => FindCoordinatorResponse::default()
            .with_coordinators(vec![find_coordinator_response::Coordinator::default()
                .with_key(s("billing"))
                .with_node_id(BrokerId(1))
                .with_host(s("127.0.0.1"))
                .with_port(9092)])
            .into(),
        ApiKey::JoinGroup => JoinGroupResponse::default()
            .with_generation_id(7)
            .with_protocol_name(Some(s("range")))
            .with_leader(s("member-1"))
            .with_member_id(s("member-1"))
            .with_members(vec![join_group_response::JoinGroupResponseMember::default(
            )
            .with_member_id(s("member-1"))
            .with_metadata(Bytes::from_static(b"\x00\x01subscription"))])
            .into(),
        ApiKey::Heartbeat => HeartbeatResponse::default().with_error_code(27).into(),
        ApiKey::LeaveGroup if v < 3 => LeaveGroupResponse::default().with_error_code(25).into(),
        ApiKey::LeaveGroup => LeaveGroupResponse::default()
            .with_members(vec![leave_group_response::MemberResponse::default()
                .with_member_id(s("member-1"))
                .with_error_code(25)])
            .into(),
        ApiKey::SyncGroup => SyncGroupResponse::default()
            .with_assignment(Bytes::from_static(b"\x00\x01assignment"))
            .into(),
        ApiKey::DescribeGroups => DescribeGroupsResponse::default()
            .with_groups(vec![describe_groups_response::DescribedGroup::default()
                .with_group_id(group("billing"))
                .with_group_state(s("Stable"))
                .with_protocol_type(s("consumer"))
                .with_protocol_data(s("range"))
                .with_members(vec![
                    describe_groups_response::DescribedGroupMember::default()
                        .with_member_id(s("member-1"))
                        .with_client_id(s("rdkafka"))
                        .with_client_host(s("/127.0.0.1")),
                ])])
            .into(),
        ApiKey::ListGroups => ListGroupsResponse::default()
            .with_groups(vec![list_groups_response::ListedGroup::default()
                .with_group_id(group("billing"))
                .with_protocol_type(s("consumer"))])
            .into(),
        ApiKey::ApiVersions => sluice_protocol::versions::api_versions_response().into(),
        ApiKey::CreateTopics => CreateTopicsResponse::default()
            .with_topics(vec![create_topics_response::CreatableTopicResult::default(
            )
            .with_name(topic("orders"))
            .with_error_code(36)
            .with_error_message(Some(s("Topic 'orders' already exists.")))])
            .into(),
        ApiKey::DeleteTopics => DeleteTopicsResponse::default()
            .with_responses(vec![delete_topics_response::DeletableTopicResult::default(
            )
            .with_name(Some(topic("orders")))
            .with_error_code(3)])
            .into(),
        ApiKey::InitProducerId => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(1001))
            .with_producer_epoch(0)
            .into(),
        ApiKey::DescribeConfigs => DescribeConfigsResponse::default()
            .with_results(vec![
                describe_configs_response::DescribeConfigsResult::default()
                    .with_resource_type(2)
                    .with_resource_name(s("orders"))
                    .with_configs(vec![
                        describe_configs_response::DescribeConfigsResourceResult::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("86400000")))
                            .with_config_source(5),
                    ]),
            ])
            .into(),
        other => panic!("{other:?} is not served"),
    }
}
