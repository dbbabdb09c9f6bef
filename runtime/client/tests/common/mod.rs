//! What the client's integration tests share: a real broker on a loopback
//! port with a temporary data directory, and a client connected to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_client::admin::NewTopic;
use sluice_client::{Admin, ClientConfig, Cluster, ConsumerRecord, StartFrom};
use tempfile::TempDir;

/// Longest any test waits for records or a rebalance; far above what a
/// working broker needs, so it only ends a test that would hang.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A broker serving from a temp dir; stopped (files synced) by `stop`.
pub struct TestBroker {
    pub broker: RunningBroker,
    pub addr: String,
    _dir: TempDir,
}

impl TestBroker {
    pub async fn start() -> anyhow::Result<TestBroker> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-client-test")
            .tempdir()?;
        let mut config = BrokerConfig::new(dir.path());
        config.kafka_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let broker = RunningBroker::start(config)
            .await
            .context("start the broker")?;
        let addr = broker.kafka_addr.to_string();
        Ok(TestBroker {
            broker,
            addr,
            _dir: dir,
        })
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(vec![self.addr.clone()]);
        config.client_id = "client-tests".into();
        config
    }

    pub async fn cluster(&self) -> anyhow::Result<Arc<Cluster>> {
        Ok(Cluster::connect(self.client_config()).await?)
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin = Admin::new(self.cluster().await?);
        admin
            .create_topic(&NewTopic {
                name: name.into(),
                partitions,
                replication_factor: None,
                configs: Vec::new(),
            })
            .await
            .with_context(|| format!("create topic {name}"))?;
        Ok(())
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.broker.shutdown().await?;
        Ok(())
    }
}

/// Reads every partition of `topic` from `start` until `count` records
/// arrived (failing after [`PATIENCE`]).
pub async fn consume(
    cluster: &Arc<Cluster>,
    topic: &str,
    start: StartFrom,
    count: usize,
) -> anyhow::Result<Vec<ConsumerRecord>> {
    let mut consumer = sluice_client::Consumer::new(cluster.clone(), Default::default());
    consumer.assign_topic(topic, start).await?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut records = Vec::new();
    while records.len() < count {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} records arrived",
            records.len()
        );
        records.extend(consumer.poll().await?);
    }
    Ok(records)
}
