//! An async Kafka client: how Sluice's own producers and consumers (the
//! CLI now, pipelines later) talk to Sluice or to any Kafka-compatible
//! cluster.
//!
//! | module | one job |
//! |---|---|
//! | [`config`] | where the cluster is, client id, timeouts, retries |
//! | [`connection`] | one TCP connection: ApiVersions, pipelined requests matched in order, timeouts |
//! | [`api`] | which response type answers which request type |
//! | [`metadata`] | brokers, topics, partitions and leaders as Metadata describes them |
//! | [`cluster`] | bootstrap, metadata cache, a connection per broker, group coordinators |
//! | [`partitioner`] | Kafka's key → partition mapping (murmur2) and the sticky partitioner |
//! | [`producer`] | batching per partition, compression, acks, backpressure, flush |
//! | [`offsets`] | ListOffsets: earliest, latest, by timestamp |
//! | [`consumer`] | fetching assigned partitions from a starting position, long-polling |
//! | [`group`] | consumer groups: join, range assignment, heartbeats, commits |
//! | [`admin`] | topics, configs, watermarks, groups and their lag |
//! | [`stats`] | a fixed-size latency histogram |
//! | [`error`] | [`ClientError`]: broker, API, resource and cause |
//!
//! It sits on `sluice-protocol` (framing, codec, version table) and
//! `sluice-batch` (RecordBatch v2), and must not depend on storage, the
//! broker or the Wasm host: it is how things outside the broker reach it.
//! Every queue and buffer has a limit: requests in flight per connection,
//! bytes buffered per producer, bytes per fetch.
//!
//! ```no_run
//! # async fn example() -> Result<(), sluice_client::ClientError> {
//! use sluice_client::{Cluster, ClientConfig, Producer, ProducerConfig};
//!
//! let cluster = Cluster::connect(ClientConfig::new(vec!["127.0.0.1:9092".into()])).await?;
//! let producer = Producer::new(cluster, ProducerConfig::default())?;
//! let delivery = producer.send("orders", None, Some(b"ada"), Some(b"{}"), &[]).await?;
//! producer.flush().await?;
//! println!("stored at offset {}", delivery.await?.offset);
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod api;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod group;
pub mod metadata;
pub mod offsets;
pub mod partitioner;
pub mod producer;
pub mod stats;

pub use admin::Admin;
pub use cluster::Cluster;
pub use config::ClientConfig;
pub use connection::Connection;
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord};
pub use error::{ClientError, Result};
pub use group::{GroupConfig, GroupConsumer};
pub use offsets::StartFrom;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Acks, Delivery, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
pub use sluice_batch::Compression;
