//! The admin client against a real broker: a topic's whole life, and the
//! errors operators meet.

mod common;

use std::sync::Arc;

use common::TestBroker;
use sluice_client::admin::{ConfigSource, NewTopic};
use sluice_client::{Admin, ClientError, Producer, ProducerConfig};
use sluice_protocol::kafka_protocol::error::ResponseError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lifecycle_create_list_describe_delete() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let cluster = broker.cluster().await?;
    let admin = Admin::new(cluster.clone());
    admin
        .create_topic(&NewTopic {
            name: "orders".into(),
            partitions: 3,
            replication_factor: None,
            configs: vec![("retention.ms".into(), "3600000".into())],
        })
        .await?;
    let error = admin
        .create_topic(&NewTopic {
            name: "orders".into(),
            partitions: 1,
            replication_factor: None,
            configs: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.kafka_error(),
        Some(ResponseError::TopicAlreadyExists),
        "{error}"
    );

    let listed = admin.list_topics().await?;
    let orders = listed.iter().find(|t| t.name == "orders").expect("listed");
    assert_eq!(orders.partitions, 3);

    let producer = Producer::new(cluster.clone(), ProducerConfig::default())?;
    for i in 0..7 {
        producer
            .send("orders", Some(i % 2), None, Some(b"v"), &[])
            .await?;
    }
    producer.close().await?;

    let description = admin.describe_topic("orders").await?;
    assert_eq!(description.partitions.len(), 3);
    let records: Vec<i64> = description
        .partitions
        .iter()
        .map(|p| p.watermarks.records())
        .collect();
    assert_eq!(records, [4, 3, 0]);
    assert!(description
        .partitions
        .iter()
        .all(|p| p.leader >= 0 && p.watermarks.log_start == 0));
    let retention = description
        .configs
        .iter()
        .find(|c| c.name == "retention.ms")
        .expect("retention.ms described");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::Topic, "set at creation");
    assert!(
        description
            .configs
            .iter()
            .any(|c| c.source == ConfigSource::Default),
        "untouched configs are reported as defaults: {:?}",
        description.configs
    );

    let watermarks = admin.watermarks(&[(Arc::from("orders"), 0)]).await?;
    assert_eq!(watermarks[0].high_watermark, 4);

    admin.delete_topic("orders").await?;
    assert!(admin
        .list_topics()
        .await?
        .iter()
        .all(|t| t.name != "orders"));
    let error = admin.delete_topic("orders").await.unwrap_err();
    assert!(matches!(error, ClientError::UnknownTopic { .. }), "{error}");
    let error = admin.describe_topic("orders").await.unwrap_err();
    assert!(matches!(error, ClientError::UnknownTopic { .. }), "{error}");
    broker.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_is_refused_with_the_brokers_reason() -> anyhow::Result<()> {
    let broker = TestBroker::start().await?;
    let admin = Admin::new(broker.cluster().await?);
    let error = admin
        .create_topic(&NewTopic {
            name: "bad".into(),
            partitions: 1,
            replication_factor: None,
            configs: vec![("retention.ms".into(), "soon".into())],
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.kafka_error(),
        Some(ResponseError::InvalidConfig),
        "{error}"
    );
    assert!(
        error.to_string().contains("retention.ms"),
        "names the key: {error}"
    );
    broker.stop().await
}
