//! The broker runs retention and compaction on its own.

use std::time::{Duration, Instant};

use sluice_batch::{BatchBuilder, BatchOptions};
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_storage::{CleanupPolicy, LogConfig};
use sluice_types::{Offset, Timestamp};

fn batch(key: &str, value: &str) -> bytes::Bytes {
    let mut builder = BatchBuilder::new(BatchOptions::default());
    builder
        .push(
            Timestamp::now(),
            Some(key.as_bytes()),
            Some(&value.as_bytes().repeat(20)),
            &[],
        )
        .unwrap();
    builder.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_compaction_run_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::new(dir.path());
    config.kafka_addr = "127.0.0.1:0".parse().unwrap();
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.maintenance_interval = Duration::from_millis(50);
    let broker = RunningBroker::start(config).await.unwrap();
    let store = broker.broker.store.clone();
    let (deleted, compacted) = tokio::task::spawn_blocking(move || {
        let small = LogConfig {
            segment_bytes: 1024,
            retention_bytes: Some(2048),
            ..LogConfig::default()
        };
        let deleted = store.create_topic("deleted", 1, small.clone()).unwrap();
        let compacted = store
            .create_topic(
                "compacted",
                1,
                LogConfig {
                    cleanup_policy: CleanupPolicy::Compact,
                    retention_bytes: None,
                    ..small
                },
            )
            .unwrap();
        for i in 0..60 {
            deleted.partitions[0]
                .append(batch("k", &format!("v{i}")))
                .unwrap();
            compacted.partitions[0]
                .append(batch(&format!("k{}", i % 3), &format!("v{i}")))
                .unwrap();
        }
        (deleted, compacted)
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let retained = deleted.partitions[0].watermarks().log_start > Offset(0);
        let shrunk = compacted.partitions[0].size_bytes() < 3 * 1024;
        if retained && shrunk {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "maintenance did not run: log start {}, compacted size {}",
            deleted.partitions[0].watermarks().log_start,
            compacted.partitions[0].size_bytes()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((deleted, compacted));
    broker.shutdown().await.unwrap();
}
