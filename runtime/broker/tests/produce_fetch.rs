//! The data path over the wire: topics created, described and deleted;
//! batches produced and fetched back byte for byte; long polls; offsets
//! listed; idempotent producers; and connections that send garbage. Each
//! test starts a real broker on loopback with a temporary data directory
//! and talks Kafka to it over TCP.

mod common;

use bytes::Bytes;
use common::{batch, idempotent_batch, start, Client};
use sluice_batch::Batches;
use sluice_protocol::kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig,
};
use sluice_protocol::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::fetch_response::PartitionData;
use sluice_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use sluice_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use sluice_protocol::kafka_protocol::messages::produce_response::PartitionProduceResponse;
use sluice_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    FetchRequest, InitProducerIdRequest, ListOffsetsRequest, ProduceRequest, TopicName,
};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::RequestKind;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const CORRUPT_MESSAGE: i16 = 2;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUIRED_ACKS: i16 = 21;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_RECORD: i16 = 87;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// What an idempotent producer sends: no transactional id.
fn idempotent_init() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
}

fn create_request(topic: &str, partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(-1)])
}

async fn create(client: &mut Client, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let response = client
        .create_topics(7, create_request(topic, partitions))
        .await?;
    anyhow::ensure!(
        response.topics[0].error_code == 0,
        "create {topic}: {:?}",
        response.topics[0]
    );
    Ok(())
}

fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

async fn produce(
    client: &mut Client,
    version: i16,
    topic: &str,
    acks: i16,
    records: Bytes,
) -> anyhow::Result<PartitionProduceResponse> {
    let response = client
        .produce(version, produce_request(topic, 0, acks, records))
        .await?;
    Ok(response.responses[0].partition_responses[0].clone())
}

fn fetch_request(
    topic: &str,
    partitions: &[(i32, i64)],
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(50 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&(partition, offset)| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )])
}

async fn fetch(
    client: &mut Client,
    version: i16,
    topic: &str,
    offset: i64,
) -> anyhow::Result<PartitionData> {
    let response = client
        .fetch(version, fetch_request(topic, &[(0, offset)], 0, 0))
        .await?;
    anyhow::ensure!(response.error_code == 0, "fetch failed: {response:?}");
    Ok(response.responses[0].partitions[0].clone())
}

/// The whole batches in a Fetch response's records.
fn batches_of(records: &Option<Bytes>) -> Vec<Bytes> {
    let records = records.clone().unwrap_or_default();
    Batches::new(records, true)
        .map(|item| item.expect("valid batch").1)
        .collect()
}

fn base_offset(stored: &Bytes) -> i64 {
    i64::from_be_bytes(stored[..8].try_into().expect("8 bytes"))
}

/// A stored batch is the produced one with the base offset and the leader
/// epoch filled in; every other byte is the producer's.
fn assert_stored_as_sent(stored: &Bytes, sent: &Bytes, offset: i64) {
    assert_eq!(stored.len(), sent.len());
    assert_eq!(base_offset(stored), offset, "base offset");
    assert_eq!(&stored[8..12], &sent[8..12], "batch length");
    assert_eq!(&stored[12..16], &0i32.to_be_bytes(), "leader epoch");
    assert_eq!(&stored[16..], &sent[16..], "the rest is as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_described_and_deleted() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;

    let configured = CreatableTopic::default()
        .with_name(name("orders"))
        .with_num_partitions(3)
        .with_replication_factor(1)
        .with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("60000"))),
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("cleanup.policy"))
                .with_value(Some(StrBytes::from_static_str("compact"))),
        ]);
    let response = client
        .create_topics(
            7,
            CreateTopicsRequest::default().with_topics(vec![configured.clone()]),
        )
        .await?;
    let created = &response.topics[0];
    assert_eq!(created.error_code, 0, "{created:?}");
    assert_eq!((created.num_partitions, created.replication_factor), (3, 1));
    let configs = created.configs.as_ref().expect("v7 lists configs");
    let retention = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("60000"));
    assert_eq!(retention.config_source, 1, "set for this topic");

    // The same topic again, an oversized replication factor, a bad config,
    // a bad name, no partitions: each refused with its own code.
    let again = client.create_topics(2, create_request("orders", 1)).await?;
    assert_eq!(again.topics[0].error_code, TOPIC_ALREADY_EXISTS);
    let replicated = CreatableTopic::default()
        .with_name(name("replicated"))
        .with_num_partitions(1)
        .with_replication_factor(3);
    let bad_config = CreatableTopic::default()
        .with_name(name("bad-config"))
        .with_num_partitions(1)
        .with_replication_factor(-1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("soon")))]);
    let refused = client
        .create_topics(
            5,
            CreateTopicsRequest::default().with_topics(vec![
                replicated,
                bad_config,
                create_request("bad/name", 1).topics.remove(0),
                create_request("empty", 0).topics.remove(0),
            ]),
        )
        .await?;
    let codes: Vec<i16> = refused.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            INVALID_REPLICATION_FACTOR,
            INVALID_CONFIG,
            INVALID_TOPIC_EXCEPTION,
            INVALID_PARTITIONS
        ]
    );
    let message = refused.topics[1]
        .error_message
        .as_deref()
        .unwrap_or_default();
    assert!(message.contains("retention.ms"), "{message}");

    // validate_only checks without creating.
    let validated = client
        .create_topics(7, create_request("dry-run", 2).with_validate_only(true))
        .await?;
    assert_eq!(validated.topics[0].error_code, 0);
    assert_eq!(validated.topics[0].num_partitions, 2);

    let describe = |topic: &str, keys: Option<Vec<&'static str>>| {
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(
                keys.map(|keys| keys.into_iter().map(StrBytes::from_static_str).collect()),
            )])
    };
    let described = client.describe_configs(4, describe("orders", None)).await?;
    let result = &described.results[0];
    assert_eq!(result.error_code, 0);
    let entry = |key: &str| {
        result
            .configs
            .iter()
            .find(|c| c.name.as_str() == key)
            .expect(key)
    };
    assert_eq!(entry("cleanup.policy").value.as_deref(), Some("compact"));
    assert_eq!(entry("cleanup.policy").config_source, 1);
    assert_eq!(entry("cleanup.policy").config_type, 7, "a list");
    assert_eq!(
        entry("segment.bytes").config_source,
        5,
        "the broker default"
    );
    assert_eq!(entry("segment.bytes").config_type, 3, "an int");
    let filtered = client
        .describe_configs(1, describe("orders", Some(vec!["retention.ms"])))
        .await?;
    let names: Vec<&str> = filtered.results[0]
        .configs
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["retention.ms"]);
    let missing = client
        .describe_configs(4, describe("dry-run", None))
        .await?;
    assert_eq!(missing.results[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let broker_configs = client
        .describe_configs(
            4,
            DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(StrBytes::from_static_str("0")),
            ]),
        )
        .await?;
    let auto_create = broker_configs.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "auto.create.topics.enable")
        .expect("auto.create.topics.enable");
    assert_eq!(auto_create.value.as_deref(), Some("false"));

    let delete = |topics: &[&str]| {
        DeleteTopicsRequest::default().with_topic_names(topics.iter().map(|t| name(t)).collect())
    };
    let deleted = client
        .delete_topics(5, delete(&["orders", "never-was", "__consumer_offsets"]))
        .await?;
    let codes: Vec<i16> = deleted.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [0, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION]
    );
    let gone = client.delete_topics(1, delete(&["orders"])).await?;
    assert_eq!(gone.responses[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let recreated = client.create_topics(2, create_request("orders", 1)).await?;
    assert_eq!(recreated.topics[0].error_code, 0, "the name is free again");

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_batches_are_fetched_back_as_sent() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "events", 1).await?;

    let sent = [
        batch(&["a", "b", "c"], 1_000),
        batch(&["d"], 2_000),
        batch(&["e", "f"], 3_000),
    ];
    let first = produce(&mut client, 9, "events", 1, sent[0].clone()).await?;
    assert_eq!(
        (first.error_code, first.base_offset, first.log_start_offset),
        (0, 0, 0)
    );
    let second = produce(&mut client, 3, "events", -1, sent[1].clone()).await?;
    assert_eq!((second.error_code, second.base_offset), (0, 3));
    let third = produce(&mut client, 7, "events", -1, sent[2].clone()).await?;
    assert_eq!((third.error_code, third.base_offset), (0, 4));

    for version in [4, 11, 12] {
        let from_start = fetch(&mut client, version, "events", 0).await?;
        assert_eq!(from_start.error_code, 0);
        assert_eq!(
            (from_start.high_watermark, from_start.last_stable_offset),
            (6, 6)
        );
        if version >= 5 {
            assert_eq!(from_start.log_start_offset, 0);
        }
        let stored = batches_of(&from_start.records);
        assert_eq!(stored.len(), 3, "v{version}");
        for ((stored, sent), offset) in stored.iter().zip(&sent).zip([0, 3, 4]) {
            assert_stored_as_sent(stored, sent, offset);
        }
    }
    // From the start of the second batch, and from inside the first: a
    // batch is never split, so the latter starts at offset 0 again.
    let middle = batches_of(&fetch(&mut client, 12, "events", 3).await?.records);
    assert_eq!(middle.iter().map(base_offset).collect::<Vec<_>>(), [3, 4]);
    assert_stored_as_sent(&middle[1], &sent[2], 4);
    let inside = batches_of(&fetch(&mut client, 12, "events", 1).await?.records);
    assert_eq!(base_offset(&inside[0]), 0);
    // At the high watermark: nothing yet. Past it: out of range.
    let at_end = fetch(&mut client, 12, "events", 6).await?;
    assert_eq!(
        (at_end.error_code, at_end.records.as_ref().map(Bytes::len)),
        (0, Some(0))
    );
    let past_end = fetch(&mut client, 12, "events", 7).await?;
    assert_eq!(past_end.error_code, OFFSET_OUT_OF_RANGE);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_refuses_what_kafka_refuses() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "checked", 1).await?;

    let unknown = produce(&mut client, 9, "nowhere", 1, batch(&["x"], 1)).await?;
    assert_eq!(
        (unknown.error_code, unknown.base_offset),
        (UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    let internal = produce(&mut client, 9, "__consumer_offsets", 1, batch(&["x"], 1)).await?;
    assert_eq!(internal.error_code, INVALID_TOPIC_EXCEPTION);
    let mut corrupt = batch(&["x"], 1).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let refused = produce(&mut client, 9, "checked", 1, Bytes::from(corrupt)).await?;
    assert_eq!(refused.error_code, CORRUPT_MESSAGE, "{refused:?}");
    assert!(
        refused
            .error_message
            .as_deref()
            .unwrap_or_default()
            .contains("CRC"),
        "{refused:?}"
    );
    let two = Bytes::from([batch(&["x"], 1).to_vec(), batch(&["y"], 1).to_vec()].concat());
    let refused = produce(&mut client, 9, "checked", 1, two).await?;
    assert_eq!(refused.error_code, INVALID_RECORD);
    let refused = produce(&mut client, 9, "checked", 2, batch(&["x"], 1)).await?;
    assert_eq!(refused.error_code, INVALID_REQUIRED_ACKS);
    let transactional = produce_request("checked", 0, -1, batch(&["x"], 1))
        .with_transactional_id(Some(StrBytes::from_static_str("tx").into()));
    let refused = client.produce(9, transactional).await?;
    assert_eq!(
        refused.responses[0].partition_responses[0].error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    // None of it reached the log.
    assert_eq!(
        fetch(&mut client, 12, "checked", 0).await?.high_watermark,
        0
    );

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_answers_when_data_arrives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut consumer = Client::connect(broker.kafka_addr).await?;
    let mut producer = Client::connect(broker.kafka_addr).await?;
    create(&mut producer, "live", 1).await?;

    // Far longer than the response wait of the test client (10 s): only a
    // wake-up by the produce below can answer this fetch in time.
    let waiting = fetch_request("live", &[(0, 0)], 60_000, 1);
    consumer.send(12, RequestKind::Fetch(waiting)).await?;
    let sent = batch(&["hello"], 5);
    let produced = produce(&mut producer, 9, "live", 1, sent.clone()).await?;
    assert_eq!(produced.error_code, 0);

    let (_, response) = consumer.receive(ApiKey::Fetch, 12).await?;
    let sluice_protocol::ResponseKind::Fetch(response) = response else {
        anyhow::bail!("not a fetch response");
    };
    let stored = batches_of(&response.responses[0].partitions[0].records);
    assert_eq!(stored.len(), 1, "the fetch answered with the new batch");
    assert_stored_as_sent(&stored[0], &sent, 0);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_with_nothing_to_read_answers_empty_after_max_wait() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "quiet", 2).await?;

    let response = client
        .fetch(12, fetch_request("quiet", &[(0, 0), (1, 0)], 200, 1))
        .await?;
    assert_eq!(response.error_code, 0);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions.len(), 2, "every partition asked for is answered");
    for partition in partitions {
        assert_eq!(partition.error_code, 0);
        assert_eq!(partition.records.as_ref().map(Bytes::len), Some(0));
    }

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_limits_and_sessions_follow_kafka() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "wide", 2).await?;
    let big = batch(&["x".repeat(2_000).as_str()], 1);
    for partition in [0, 1] {
        let response = client
            .produce(9, produce_request("wide", partition, 1, big.clone()))
            .await?;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }

    // Both partitions' limits are below one batch: the first partition
    // with data still gets its whole batch, the second nothing.
    let mut small = fetch_request("wide", &[(0, 0), (1, 0)], 0, 0);
    for partition in &mut small.topics[0].partitions {
        partition.partition_max_bytes = 100;
    }
    let response = client.fetch(12, small).await?;
    let sizes: Vec<usize> = response.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, Bytes::len))
        .collect();
    assert_eq!(sizes, [big.len(), 0]);
    // The request's max_bytes counts the same way.
    let capped =
        fetch_request("wide", &[(0, 0), (1, 0)], 0, 0).with_max_bytes(big.len() as i32 + 10);
    let response = client.fetch(12, capped).await?;
    let sizes: Vec<usize> = response.responses[0]
        .partitions
        .iter()
        .map(|p| p.records.as_ref().map_or(0, Bytes::len))
        .collect();
    assert_eq!(sizes, [big.len(), 0]);

    // Sessions: a full fetch that asks for one (epoch 0, as kafka-python
    // sends) is answered in full without one; a session epoch names a
    // session this broker never created.
    let initial = fetch_request("wide", &[(0, 0)], 0, 0)
        .with_session_id(0)
        .with_session_epoch(0);
    let response = client.fetch(12, initial).await?;
    assert_eq!((response.error_code, response.session_id), (0, 0));
    assert_eq!(
        batches_of(&response.responses[0].partitions[0].records).len(),
        1
    );
    let incremental = fetch_request("wide", &[(0, 0)], 0, 0)
        .with_session_id(77)
        .with_session_epoch(1);
    let response = client.fetch(7, incremental).await?;
    assert_eq!(response.error_code, FETCH_SESSION_ID_NOT_FOUND);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_with_acks_zero_gets_no_response() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "fire", 1).await?;

    let sent = batch(&["and forget"], 9);
    client
        .send(
            9,
            RequestKind::Produce(produce_request("fire", 0, 0, sent.clone())),
        )
        .await?;
    let asked = client
        .send(3, RequestKind::ApiVersions(ApiVersionsRequest::default()))
        .await?;
    let (header, _) = client.receive(ApiKey::ApiVersions, 3).await?;
    assert_eq!(
        header.correlation_id, asked,
        "the next response is the next request's"
    );

    // The batch was appended all the same.
    let response = client
        .fetch(12, fetch_request("fire", &[(0, 0)], 5_000, 1))
        .await?;
    let stored = batches_of(&response.responses[0].partitions[0].records);
    assert_stored_as_sent(&stored[0], &sent, 0);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_listed_by_position_and_by_time() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "timed", 1).await?;
    for (values, timestamp) in [
        (&["a", "b"][..], 1_000),
        (&["c"][..], 2_000),
        (&["d", "e"][..], 3_000),
    ] {
        assert_eq!(
            produce(&mut client, 9, "timed", 1, batch(values, timestamp))
                .await?
                .error_code,
            0
        );
    }

    let list = |topic: &str, timestamps: &[i64]| {
        ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    timestamps
                        .iter()
                        .map(|&timestamp| {
                            ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )])
    };
    for version in [1, 4, 6] {
        let response = client
            .list_offsets(version, list("timed", &[-2, -1, 1_500, 3_000, 9_999]))
            .await?;
        let answers: Vec<(i16, i64, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.offset, p.timestamp))
            .collect();
        assert_eq!(
            answers,
            [
                (0, 0, -1),
                (0, 5, -1),
                (0, 2, 2_000),
                (0, 3, 3_000),
                (0, -1, -1)
            ],
            "v{version}"
        );
    }
    let unknown = client.list_offsets(6, list("untimed", &[-1])).await?;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_is_stored_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "exactly", 1).await?;

    let init = client.init_producer_id(4, idempotent_init()).await?;
    assert_eq!(init.error_code, 0);
    assert_eq!(init.producer_epoch, 0);
    let producer_id = init.producer_id.0;

    let first = idempotent_batch(producer_id, 0, 0, &["a", "b", "c"]);
    let original = produce(&mut client, 9, "exactly", -1, first.clone()).await?;
    let retried = produce(&mut client, 9, "exactly", -1, first.clone()).await?;
    assert_eq!((original.error_code, original.base_offset), (0, 0));
    assert_eq!(
        (retried.error_code, retried.base_offset),
        (0, 0),
        "answered as the original"
    );
    let stored = fetch(&mut client, 12, "exactly", 0).await?;
    assert_eq!(stored.high_watermark, 3, "stored once");

    let gap = produce(
        &mut client,
        9,
        "exactly",
        -1,
        idempotent_batch(producer_id, 0, 5, &["x"]),
    )
    .await?;
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    let next = produce(
        &mut client,
        9,
        "exactly",
        -1,
        idempotent_batch(producer_id, 0, 3, &["d"]),
    )
    .await?;
    assert_eq!((next.error_code, next.base_offset), (0, 3));
    // A new epoch starts over at 0 and fences the old one.
    let bumped = produce(
        &mut client,
        9,
        "exactly",
        -1,
        idempotent_batch(producer_id, 1, 0, &["e"]),
    )
    .await?;
    assert_eq!((bumped.error_code, bumped.base_offset), (0, 4));
    let fenced = produce(
        &mut client,
        9,
        "exactly",
        -1,
        idempotent_batch(producer_id, 0, 4, &["f"]),
    )
    .await?;
    assert_eq!(fenced.error_code, INVALID_PRODUCER_EPOCH);
    assert_eq!(
        fetch(&mut client, 12, "exactly", 0).await?.high_watermark,
        5
    );

    let transactional = InitProducerIdRequest::default()
        .with_transactional_id(Some(StrBytes::from_static_str("tx").into()));
    let refused = client.init_producer_id(4, transactional).await?;
    assert_eq!(refused.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_ids_and_sequences_survive_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "durable", 1).await?;
    let mut before = Vec::new();
    for version in [0, 4] {
        before.push(
            client
                .init_producer_id(version, idempotent_init())
                .await?
                .producer_id
                .0,
        );
    }
    let producer_id = before[1];
    let sent = idempotent_batch(producer_id, 0, 0, &["a", "b"]);
    assert_eq!(
        produce(&mut client, 9, "durable", -1, sent.clone())
            .await?
            .base_offset,
        0
    );
    let plain = batch(&["c"], 1);
    assert_eq!(
        produce(&mut client, 9, "durable", -1, plain)
            .await?
            .base_offset,
        2
    );
    broker.shutdown().await?;

    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    let after = client
        .init_producer_id(4, idempotent_init())
        .await?
        .producer_id
        .0;
    assert!(
        before.iter().all(|&id| id < after),
        "{after} repeats one of {before:?}"
    );
    // The producer retries its batch after the restart: still recognised.
    let retried = produce(&mut client, 9, "durable", -1, sent).await?;
    assert_eq!((retried.error_code, retried.base_offset), (0, 0));
    let next = produce(
        &mut client,
        9,
        "durable",
        -1,
        idempotent_batch(producer_id, 0, 2, &["d"]),
    )
    .await?;
    assert_eq!((next.error_code, next.base_offset), (0, 3));
    let gap = produce(
        &mut client,
        9,
        "durable",
        -1,
        idempotent_batch(producer_id, 0, 9, &["e"]),
    )
    .await?;
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_their_own_connection() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut bystander = Client::connect(broker.kafka_addr).await?;
    bystander
        .api_versions(3, ApiVersionsRequest::default())
        .await?;

    // A whole frame whose payload is not a request.
    let mut garbage = Client::connect(broker.kafka_addr).await?;
    garbage
        .send_raw(&[0, 0, 0, 6, 0x7f, 0x7f, 1, 2, 3, 4])
        .await?;
    assert!(garbage.closed_by_broker().await?, "garbage frame");

    // A Produce request whose body stops early.
    let mut truncated = Client::connect(broker.kafka_addr).await?;
    let header_only = [
        0u8, 0, 0, 12, // size
        0, 0, 0, 9, // Produce v9
        0, 0, 0, 1, // correlation id
        0xff, 0xff, // null client id
        0,    // no tagged fields
        1,    // and a body that ends at once
    ];
    truncated.send_raw(&header_only[..16]).await?;
    assert!(truncated.closed_by_broker().await?, "truncated body");

    // A frame cut off by the peer hanging up.
    let mut cut = Client::connect(broker.kafka_addr).await?;
    cut.send_raw(&[0, 0, 0, 100, 1, 2, 3]).await?;
    cut.finish_sending().await?;
    assert!(cut.closed_by_broker().await?, "frame cut short");

    create(&mut bystander, "still-here", 1).await?;
    let produced = produce(&mut bystander, 9, "still-here", 1, batch(&["ok"], 1)).await?;
    assert_eq!(produced.error_code, 0);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_limit_closes_the_connection() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = common::config(dir.path());
    config.max_frame_bytes = 1024;
    let broker = sluice_broker::RunningBroker::start(config).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "bounded", 1).await?;

    // Only the size prefix is sent: the broker refuses before the payload.
    client.send_raw(&4096u32.to_be_bytes()).await?;
    assert!(client.closed_by_broker().await?);
    let mut other = Client::connect(broker.kafka_addr).await?;
    let produced = produce(&mut other, 9, "bounded", 1, batch(&["small"], 1)).await?;
    assert_eq!(produced.error_code, 0);

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_appends_to_many_partitions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    create(&mut client, "spread", 4).await?;

    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("spread"))
            .with_partition_data(
                (0..5)
                    .map(|partition| {
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch(&["v"; 2], 1)))
                    })
                    .collect(),
            )]);
    let response = client.produce(9, request).await?;
    let answers: Vec<(i32, i16, i64)> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code, p.base_offset))
        .collect();
    assert_eq!(
        answers,
        [
            (0, 0, 0),
            (1, 0, 0),
            (2, 0, 0),
            (3, 0, 0),
            (4, UNKNOWN_TOPIC_OR_PARTITION, -1)
        ]
    );
    let all = fetch_request("spread", &[(0, 0), (1, 0), (2, 0), (3, 0)], 0, 0);
    let fetched = client.fetch(12, all).await?;
    for partition in &fetched.responses[0].partitions {
        assert_eq!(
            partition.high_watermark, 2,
            "partition {}",
            partition.partition_index
        );
    }

    broker.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_fetches_span_segments_and_arrive_whole() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = start(dir.path()).await?;
    let mut client = Client::connect(broker.kafka_addr).await?;
    let small_segments = CreatableTopic::default()
        .with_name(name("bulk"))
        .with_num_partitions(2)
        .with_replication_factor(-1)
        .with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("segment.bytes"))
            .with_value(Some(StrBytes::from_static_str("4194304")))]);
    let created = client
        .create_topics(
            7,
            CreateTopicsRequest::default().with_topics(vec![small_segments]),
        )
        .await?;
    assert_eq!(created.topics[0].error_code, 0);

    // About 9 MB per partition in 900 kB batches: several sealed (mapped)
    // segments each, and responses far larger than a socket buffer, so
    // the vectored writes of the chunks are partial.
    let mut sent: [Vec<Bytes>; 2] = [Vec::new(), Vec::new()];
    for i in 0..10 {
        for partition in [0, 1] {
            let value = format!("{partition}{i}").repeat(300_000);
            let records = batch(&[value.as_str()], i64::from(i));
            let response = client
                .produce(9, produce_request("bulk", partition, 1, records.clone()))
                .await?;
            assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
            sent[partition as usize].push(records);
        }
    }

    let mut next = [0i64, 0];
    let mut received: [Vec<Bytes>; 2] = [Vec::new(), Vec::new()];
    while next.iter().any(|&offset| offset < 10) {
        let mut request = fetch_request("bulk", &[(0, next[0]), (1, next[1])], 0, 0);
        for partition in &mut request.topics[0].partitions {
            partition.partition_max_bytes = 16 << 20;
        }
        let response = client.fetch(12, request).await?;
        for partition in &response.responses[0].partitions {
            assert_eq!(partition.error_code, 0);
            let index = partition.partition_index as usize;
            for stored in batches_of(&partition.records) {
                if base_offset(&stored) >= next[index] {
                    next[index] = base_offset(&stored) + 1;
                    received[index].push(stored);
                }
            }
        }
    }
    for partition in 0..2 {
        assert_eq!(received[partition].len(), 10);
        for (offset, (stored, sent)) in received[partition].iter().zip(&sent[partition]).enumerate()
        {
            assert_stored_as_sent(stored, sent, offset as i64);
        }
    }

    broker.shutdown().await?;
    Ok(())
}
