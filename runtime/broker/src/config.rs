//! Broker settings, with the defaults a single-machine Sluice runs with.

use std::net::SocketAddr;
use std::path::PathBuf;

use sluice_storage::LogConfig;

use crate::group::GroupConfig;

/// How a broker listens, stores and limits.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where topics live (`DATA/topics/...`).
    pub data_dir: PathBuf,
    /// Kafka protocol listener; port 0 picks a free port (tests).
    pub kafka_addr: SocketAddr,
    /// HTTP listener: health, admin API, metrics.
    pub http_addr: SocketAddr,
    /// `host:port` given to clients in Metadata; defaults to the bound
    /// Kafka address.
    pub advertised_addr: Option<String>,
    /// Create unknown topics on Metadata or Produce, as Kafka's
    /// `auto.create.topics.enable` (off by default in Sluice).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic or of CreateTopics with -1.
    pub default_partitions: u32,
    /// Settings of topics created without explicit configs.
    pub default_log_config: LogConfig,
    /// Largest request frame accepted; a larger one closes the connection
    /// (Kafka's `socket.request.max.bytes`).
    pub max_frame_bytes: usize,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// Requests of one connection processed concurrently (responses still
    /// go out in request order, as the protocol requires).
    pub max_in_flight_per_connection: usize,
    /// This broker's node id in Metadata.
    pub node_id: i32,
    pub cluster_id: String,
    /// How often retention and compaction run over every partition.
    pub maintenance_interval: std::time::Duration,
    /// Consumer groups: rebalance delay, session timeout bounds, limits.
    pub groups: GroupConfig,
}

impl BrokerConfig {
    /// Defaults for a broker with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            data_dir: data_dir.into(),
            kafka_addr: SocketAddr::from(([127, 0, 0, 1], 9092)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 9644)),
            advertised_addr: None,
            auto_create_topics: false,
            default_partitions: 1,
            default_log_config: LogConfig::default(),
            max_frame_bytes: 100 << 20,
            max_connections: 1024,
            max_in_flight_per_connection: 16,
            node_id: 0,
            cluster_id: "sluice".into(),
            maintenance_interval: std::time::Duration::from_secs(30),
            groups: GroupConfig::default(),
        }
    }
}
