//! Sluice's broker: existing Kafka clients (librdkafka, kafka-python, kcat,
//! the Java client) talk to it unchanged.
//!
//! | module | job |
//! |---|---|
//! | [`server`] | accept loop, connection limit, shutdown |
//! | [`connection`] | one connection: frames in, responses out in order |
//! | `handlers` | one file per Kafka API |
//! | [`state`] | what handlers share: the store, settings, hw wake-ups |
//! | [`group`] | the group coordinator: membership, rebalances, committed offsets |
//! | [`producer`] | idempotent producers: ids, and per partition the [`append_queue`] |
//! | [`append_queue`] | appends to one partition, in order, never blocking; sequence checks |
//! | [`producer_state`] | one partition's idempotent producers: sequences, recent batches |
//! | [`fetch_encoding`] | Fetch responses as chunks around the stored record bytes (no copy) |
//! | [`error_code`] | storage failures → Kafka error codes, in one place |
//! | [`maintenance`] | retention and compaction on a timer |
//! | [`http`] | health (and later admin API, console, metrics) |
//!
//! Depends on the storage engine and the protocol codec; never on the Wasm
//! host or the pipeline engine (they meet at the log).

pub mod append_queue;
pub mod config;
pub mod connection;
pub mod error;
pub mod error_code;
pub mod fetch_encoding;
pub mod group;
mod handlers;
pub mod http;
pub mod maintenance;
pub mod producer;
pub mod producer_state;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_storage::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

/// The allocator binaries serving Kafka clients must install.
pub use sluice_protocol::alloc_guard;

pub use config::BrokerConfig;
pub use error::BrokerError;
pub use state::Broker;

/// A broker that is listening, with the addresses it actually bound.
pub struct RunningBroker {
    pub kafka_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    kafka_task: JoinHandle<()>,
    http_task: JoinHandle<()>,
    maintenance_task: JoinHandle<()>,
}

impl RunningBroker {
    /// Opens the store, binds both listeners and starts serving.
    ///
    /// # Errors
    /// A listener that cannot bind, or a data directory that cannot be
    /// opened.
    pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
        RunningBroker::start_with_routes(config, axum::Router::new()).await
    }

    /// As [`RunningBroker::start`], also serving `routes` on the HTTP
    /// listener (the pipeline engine's API, which the broker knows nothing
    /// about).
    ///
    /// # Errors
    /// As [`RunningBroker::start`].
    pub async fn start_with_routes(
        config: BrokerConfig,
        routes: axum::Router,
    ) -> Result<RunningBroker, BrokerError> {
        let kafka_listener = TcpListener::bind(config.kafka_addr)
            .await
            .map_err(|source| BrokerError::Bind {
                what: "Kafka clients",
                addr: config.kafka_addr,
                flag: "kafka",
                source,
            })?;
        let http_listener = TcpListener::bind(config.http_addr)
            .await
            .map_err(|source| BrokerError::Bind {
                what: "HTTP",
                addr: config.http_addr,
                flag: "http",
                source,
            })?;
        let kafka_addr = kafka_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;
        let data_dir = config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
            .await
            .expect("store open does not panic")?;
        let (host, port) = match &config.advertised_addr {
            Some(addr) => match addr.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_string(),
                    port.parse().unwrap_or(kafka_addr.port() as i32),
                ),
                None => (addr.clone(), kafka_addr.port() as i32),
            },
            None => (kafka_addr.ip().to_string(), kafka_addr.port() as i32),
        };
        let store = Arc::new(store);
        let broker = tokio::task::spawn_blocking(move || Broker::new(config, store, host, port))
            .await
            .expect("broker state load does not panic")?;
        let broker = Arc::new(broker);
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let kafka_task = tokio::spawn(server::run(
            broker.clone(),
            kafka_listener,
            shutdown_receiver.clone(),
        ));
        let maintenance_task =
            tokio::spawn(maintenance::run(broker.clone(), shutdown_receiver.clone()));
        let mut http_shutdown = shutdown_receiver;
        let app = http::router(broker.clone()).merge(routes);
        let http_task = tokio::spawn(async move {
            let serve = axum::serve(http_listener, app).with_graceful_shutdown(async move {
                let _ = http_shutdown.changed().await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "HTTP server failed");
            }
        });
        info!(%kafka_addr, %http_addr, data = %broker.config.data_dir.display(), "broker serving");
        Ok(RunningBroker {
            kafka_addr,
            http_addr,
            broker,
            shutdown,
            kafka_task,
            http_task,
            maintenance_task,
        })
    }

    /// Stops accepting, lets in-flight requests finish, then fsyncs and
    /// closes every partition.
    ///
    /// # Errors
    /// The first partition that failed to close.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        let _ = self.shutdown.send(true);
        // Answers JoinGroups and SyncGroups still waiting for a rebalance,
        // so connections can drain now rather than at a rebalance timeout.
        self.broker.groups.shutdown();
        let _ = self.kafka_task.await;
        let _ = self.http_task.await;
        let _ = self.maintenance_task.await;
        let store = self.broker.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("store close does not panic")?;
        info!("broker stopped");
        Ok(())
    }
}
