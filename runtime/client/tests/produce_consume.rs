//! Producer and consumer against a real broker: every codec, Kafka's key
//! partitioning, every starting position, acks and backpressure.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{consume, TestBroker};
use sluice_client::{
    partition_for_key, Acks, ClientError, Compression, Consumer, ConsumerConfig, Producer,
    ProducerConfig, ProducerRecord, StartFrom,
};
use sluice_types::{RecordHeader, Timestamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_round_trips_keys_values_headers_and_order() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let cluster = broker.cluster().await?;
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = format!("codec-{}", codec.name());
        broker.create_topic(&topic, 3).await?;
        let config = ProducerConfig {
            compression: codec,
            // Small batches, so each partition gets several.
            batch_bytes_max: 4096,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(cluster.clone(), config)?;
        let header = [RecordHeader {
            key: Bytes::from_static(b"trace"),
            value: Some(Bytes::from_static(b"t-1")),
        }];
        for i in 0..600 {
            let key = format!("k{}", i % 17);
            let value = format!("value {i} {}", "x".repeat(i % 50));
            producer
                .send(
                    &topic,
                    None,
                    Some(key.as_bytes()),
                    Some(value.as_bytes()),
                    &header,
                )
                .await?;
        }
        producer.flush().await?;
        let records = consume(&cluster, &topic, StartFrom::Earliest, 600).await?;
        assert_eq!(records.len(), 600, "{topic}");
        let mut per_key: BTreeMap<Bytes, Vec<usize>> = BTreeMap::new();
        let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for record in &records {
            assert_eq!(record.headers, header, "{topic}");
            let value = std::str::from_utf8(record.value.as_deref().unwrap())?;
            let i: usize = value.split(' ').nth(1).unwrap().parse()?;
            let key = record.key.clone().unwrap();
            assert_eq!(key, format!("k{}", i % 17).as_bytes(), "{topic}");
            per_key.entry(key).or_default().push(i);
            offsets
                .entry(record.partition)
                .or_default()
                .push(record.offset);
        }
        for (key, sent) in per_key {
            assert!(
                sent.windows(2).all(|w| w[0] < w[1]),
                "{topic} {key:?} out of order: {sent:?}"
            );
        }
        for (partition, offsets) in offsets {
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(offsets, expected, "{topic}-{partition}");
        }
    }
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_partition_javas_client_picks() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("keyed", 5).await?;
    let cluster = broker.cluster().await?;
    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    let keys: Vec<String> = (0..100).map(|i| format!("customer-{i}")).collect();
    let mut deliveries = Vec::new();
    for key in &keys {
        deliveries.push(
            producer
                .send("keyed", None, Some(key.as_bytes()), Some(b"v"), &[])
                .await?,
        );
    }
    producer.flush().await?;
    for (key, delivery) in keys.iter().zip(deliveries) {
        let metadata = delivery.await?;
        assert_eq!(
            metadata.partition,
            partition_for_key(key.as_bytes(), 5),
            "{key}"
        );
    }
    let records = consume(&cluster, "keyed", StartFrom::Earliest, 100).await?;
    let partitions: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 5, "100 keys reach every partition");
    for record in records {
        let key = record.key.unwrap();
        assert_eq!(record.partition, partition_for_key(&key, 5));
    }
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_records_spread_and_offsets_are_reported() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("spread", 3).await?;
    let cluster = broker.cluster().await?;
    let config = ProducerConfig {
        batch_bytes_max: 2048,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(cluster.clone(), config)?;
    let mut deliveries = Vec::new();
    for i in 0..300 {
        let value = format!("{i:0>40}");
        deliveries.push(
            producer
                .send("spread", None, None, Some(value.as_bytes()), &[])
                .await?,
        );
    }
    producer.flush().await?;
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for delivery in deliveries {
        let metadata = delivery.await?;
        let expected = next.entry(metadata.partition).or_insert(0);
        assert_eq!(
            metadata.offset, *expected,
            "offsets of a partition are consecutive"
        );
        *expected += 1;
    }
    assert_eq!(
        next.len(),
        3,
        "sticky partitioning moves on as batches fill: {next:?}"
    );
    let stats = producer.stats();
    assert_eq!(stats.records, 300);
    assert!(
        stats.batches >= 3 && stats.latency_p99 > Duration::ZERO,
        "{stats:?}"
    );
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_start_at_earliest_latest_an_offset_or_a_timestamp() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("positions", 1).await?;
    let cluster = broker.cluster().await?;
    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    let base = Timestamp::now().0 - 60_000;
    for i in 0..10 {
        let value = format!("r{i}");
        producer
            .send_record(ProducerRecord {
                topic: "positions",
                partition: Some(0),
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
                timestamp: Some(Timestamp(base + i * 1000)),
            })
            .await?;
    }
    producer.flush().await?;
    let first = |records: &[sluice_client::ConsumerRecord]| records[0].offset;
    let earliest = consume(&cluster, "positions", StartFrom::Earliest, 10).await?;
    assert_eq!(first(&earliest), 0);
    assert_eq!(earliest[3].timestamp, Timestamp(base + 3000));
    let from_offset = consume(&cluster, "positions", StartFrom::Offset(4), 6).await?;
    assert_eq!(first(&from_offset), 4);
    assert_eq!(from_offset.len(), 6);
    let from_time = consume(&cluster, "positions", StartFrom::Timestamp(base + 5500), 4).await?;
    assert_eq!(
        first(&from_time),
        6,
        "first record at or after the timestamp"
    );

    // Latest, and a timestamp after every record: only new records.
    for (end, start) in [
        (10, StartFrom::Latest),
        (11, StartFrom::Timestamp(base + 3_600_000)),
    ] {
        let mut consumer = Consumer::new(cluster.clone(), ConsumerConfig::default());
        consumer.assign([(Arc::from("positions"), 0, start)]);
        assert!(
            consumer.poll().await?.is_empty(),
            "{start:?}: nothing new yet"
        );
        assert_eq!(consumer.position("positions", 0), Some(end));
        let delivery = producer
            .send("positions", Some(0), None, Some(b"new"), &[])
            .await?;
        producer.flush().await?;
        let offset = delivery.await?.offset;
        let mut records = Vec::new();
        while records.is_empty() {
            records = consumer.poll().await?;
        }
        assert_eq!(records.len(), 1, "{start:?}");
        assert_eq!(records[0].offset, offset);
        assert_eq!(consumer.position("positions", 0), Some(offset + 1));
    }
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_past_the_end_resets_to_the_policy() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("reset", 1).await?;
    let cluster = broker.cluster().await?;
    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    for i in 0..5 {
        producer
            .send("reset", None, None, Some(format!("{i}").as_bytes()), &[])
            .await?;
    }
    producer.flush().await?;
    let records = consume(&cluster, "reset", StartFrom::Offset(1000), 5).await?;
    assert_eq!(
        records[0].offset, 0,
        "OFFSET_OUT_OF_RANGE went back to earliest"
    );
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_and_a_tiny_buffer_still_deliver_everything() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("pressure", 2).await?;
    let cluster = broker.cluster().await?;
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        let config = ProducerConfig {
            acks,
            // 4 batches of 16 KiB: `send` must wait for acknowledgements.
            batch_bytes_max: 16 << 10,
            buffer_bytes_max: 64 << 10,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(cluster.clone(), config)?;
        let value = [b'p'; 100];
        let mut last = None;
        for _ in 0..5_000 {
            last = Some(
                producer
                    .send("pressure", Some(0), None, Some(&value), &[])
                    .await?,
            );
        }
        producer.close().await?;
        let offset = last.unwrap().await?.offset;
        match acks {
            Acks::None => assert_eq!(offset, -1, "acks=0 learns no offsets"),
            _ => assert!(offset >= 4_999, "{acks:?}: {offset}"),
        }
    }
    let records = consume(&cluster, "pressure", StartFrom::Earliest, 15_000).await?;
    assert_eq!(records.len(), 15_000);
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_and_partitions_are_named() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    broker.create_topic("two", 2).await?;
    let cluster = broker.cluster().await?;
    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    let error = producer
        .send("nope", None, None, Some(b"v"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::UnknownTopic { topic } if topic == "nope"),
        "{error}"
    );
    let error = producer
        .send("two", Some(2), None, Some(b"v"), &[])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "topic \"two\" has 2 partitions, so partition 2 does not exist"
    );
    let huge = vec![0u8; 70 << 20];
    let error = producer
        .send("two", None, None, Some(&huge), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::RecordTooLarge { .. }),
        "{error}"
    );
    producer.close().await?;
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_batches_are_numbered_per_partition() -> anyhow::Result<()> {
    use sluice_batch::Batches;
    use sluice_client::Connection;
    use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use sluice_protocol::kafka_protocol::messages::{FetchRequest, TopicName};

    let broker = TestBroker::start().await?;
    broker.create_topic("numbered", 2).await?;
    let cluster = broker.cluster().await?;
    let config = ProducerConfig {
        idempotent: true,
        batch_bytes_max: 2048,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(cluster.clone(), config)?;
    for i in 0..400 {
        let value = format!("{i:0>30}");
        producer
            .send("numbered", Some(i % 2), None, Some(value.as_bytes()), &[])
            .await?;
    }
    producer.close().await?;

    // The batches as stored: one producer id, sequences without gaps.
    let connection = Connection::connect(&broker.addr, &broker.client_config()).await?;
    let partitions = (0..2)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let response = connection
        .send(FetchRequest::default().with_max_bytes(8 << 20).with_topics(
            vec![FetchTopic::default()
            .with_topic(TopicName("numbered".into()))
            .with_partitions(partitions)],
        ))
        .await?;
    let mut producer_ids = std::collections::BTreeSet::new();
    for partition in &response.responses[0].partitions {
        let mut next_sequence = 0;
        let mut batches = 0;
        for batch in Batches::new(partition.records.clone().unwrap_or_default(), true) {
            let (header, _) = batch?;
            producer_ids.insert((header.producer_id, header.producer_epoch));
            assert_eq!(
                header.base_sequence, next_sequence,
                "partition {}",
                partition.partition_index
            );
            next_sequence += header.record_count;
            batches += 1;
        }
        assert_eq!(
            next_sequence, 200,
            "partition {}",
            partition.partition_index
        );
        assert!(batches > 1, "several batches per partition");
    }
    assert_eq!(producer_ids.len(), 1, "{producer_ids:?}");
    assert!(producer_ids
        .iter()
        .all(|(id, epoch)| *id >= 0 && *epoch >= 0));

    let error = Producer::new(
        cluster.clone(),
        ProducerConfig {
            idempotent: true,
            acks: Acks::Leader,
            ..ProducerConfig::default()
        },
    )
    .err()
    .expect("acks=1 is refused");
    assert!(
        matches!(error, ClientError::InvalidConfig { .. }),
        "{error}"
    );
    broker.stop().await
}
