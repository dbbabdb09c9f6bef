//! What every request handler shares: the store, the settings, and the
//! per-partition wake-ups that long-polling fetches wait on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_storage::{LogConfig, Partition, StorageError, Store, Topic};
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::producer::ProducerRegistry;

/// The broker's shared state; one `Arc<Broker>` per process.
pub struct Broker {
    pub config: BrokerConfig,
    pub store: Arc<Store>,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Consumer groups and committed offsets.
    pub groups: GroupCoordinator,
    /// Idempotent producers: ids and sequence numbers.
    pub producers: ProducerRegistry,
    /// One `Notify` per partition, poked whenever its high watermark moves.
    /// Created on first use (the first fetch that waits on it).
    watches: Mutex<HashMap<(String, i32), Arc<Notify>>>,
}

impl Broker {
    /// Builds the shared state over an open store: loads committed offsets
    /// and the producer id allocator.
    ///
    /// # Errors
    /// Storage errors while loading either.
    pub fn new(
        config: BrokerConfig,
        store: Arc<Store>,
        advertised_host: String,
        advertised_port: i32,
    ) -> Result<Self, StorageError> {
        let groups = GroupCoordinator::open(&store, config.groups.clone())?;
        let producers = ProducerRegistry::open(&config.data_dir)?;
        Ok(Broker {
            config,
            store,
            advertised_host,
            advertised_port,
            groups,
            producers,
            watches: Mutex::new(HashMap::new()),
        })
    }

    /// The topic, if it exists.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.store.topic(name)
    }

    /// The partition, if its topic exists and has it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.store.topic(topic)?.partition(partition).cloned()
    }

    /// Creates a topic with the broker's defaults filled in.
    ///
    /// # Errors
    /// As [`Store::create_topic`].
    pub fn create_topic(
        &self,
        name: &str,
        partitions: Option<u32>,
        config: Option<LogConfig>,
    ) -> Result<Arc<Topic>, StorageError> {
        self.store.create_topic(
            name,
            partitions.unwrap_or(self.config.default_partitions),
            config.unwrap_or_else(|| self.config.default_log_config.clone()),
        )
    }

    /// Deletes a topic and forgets its wake-ups.
    ///
    /// # Errors
    /// As [`Store::delete_topic`].
    pub fn delete_topic(&self, name: &str) -> Result<(), StorageError> {
        self.store.delete_topic(name)?;
        self.watches
            .lock()
            .expect("watches lock poisoned")
            .retain(|(topic, _), _| topic != name);
        Ok(())
    }

    /// The wake-up of `topic`/`partition`: notified (all waiters) each time
    /// its high watermark moves. `None` when the partition does not exist.
    pub fn hw_watch(&self, topic: &str, partition: i32) -> Option<Arc<Notify>> {
        let log = self.partition(topic, partition)?;
        let mut watches = self.watches.lock().expect("watches lock poisoned");
        let notify = watches
            .entry((topic.to_string(), partition))
            .or_insert_with(|| {
                let notify = Arc::new(Notify::new());
                let for_listener = notify.clone();
                log.on_hw_advance(Box::new(move |_| for_listener.notify_waiters()));
                notify
            })
            .clone();
        Some(notify)
    }
}
