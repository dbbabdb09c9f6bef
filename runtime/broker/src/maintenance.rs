//! Background log maintenance: retention and compaction for every
//! partition, on a timer.
//!
//! Kafka checks retention every `log.retention.check.interval.ms` and runs
//! its cleaner continuously; Sluice does both in one pass every
//! [`BrokerConfig::maintenance_interval`](crate::BrokerConfig). Each pass
//! runs on a blocking thread (it reads and rewrites files), one partition
//! at a time, so it never competes with appends for more than one core.

use std::sync::Arc;

use sluice_types::Timestamp;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::state::Broker;

/// Runs maintenance passes until `shutdown` turns true.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let interval = broker.config.maintenance_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let store = broker.store.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let now = Timestamp::now();
            for topic in store.topics() {
                for partition in &topic.partitions {
                    match partition.enforce_retention(now) {
                        Ok(outcome) if outcome.segments_deleted > 0 => {
                            debug!(
                                partition = partition.name(),
                                deleted = outcome.segments_deleted,
                                "retention pass"
                            );
                        }
                        Ok(_) => {}
                        Err(error) => {
                            warn!(partition = partition.name(), %error, "retention failed")
                        }
                    }
                    if let Err(error) = partition.compact(now) {
                        warn!(partition = partition.name(), %error, "compaction failed");
                    }
                }
            }
        });
        if let Err(error) = pass.await {
            warn!(%error, "maintenance pass panicked");
        }
    }
}
