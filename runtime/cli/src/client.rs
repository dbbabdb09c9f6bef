//! What every command that talks to a cluster shares: the `--brokers`
//! flag, the async runtime, and errors turned into a next step.

use std::future::Future;
use std::sync::Arc;

use clap::Args;
use sluice_client::{ClientConfig, ClientError, Cluster, Compression};

/// Where the cluster is.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Brokers to bootstrap from (any one reachable broker is enough).
    #[arg(
        long,
        value_name = "HOST:PORT[,...]",
        env = "SLUICE_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub brokers: String,
}

impl BrokerArgs {
    /// Connects to the cluster.
    pub async fn connect(&self) -> anyhow::Result<Arc<Cluster>> {
        let brokers = ClientConfig::parse_brokers(&self.brokers).map_err(explain)?;
        Cluster::connect(ClientConfig::new(brokers))
            .await
            .map_err(explain)
    }
}

/// Runs a client command's future on a fresh runtime. Two worker threads
/// are enough for a client: one to read and write sockets while the other
/// decodes or prints.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("sluice-client")
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))?;
    runtime.block_on(future)
}

/// Turns a client error into the message a user needs: what failed and
/// what to do about it.
pub fn explain(error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Connect { addr, source } => {
            let reason = match source.kind() {
                std::io::ErrorKind::TimedOut => "no answer in time".to_string(),
                kind => kind.to_string(),
            };
            anyhow::anyhow!(
                "cannot connect to {addr}: {reason} — is `sluice serve` running? (set --brokers \
                 or SLUICE_BROKERS)"
            )
        }
        ClientError::UnknownTopic { topic } => anyhow::anyhow!(
            "topic {topic:?} does not exist; create it with `sluice topic create {topic} \
             --partitions N`, or see `sluice topic list`"
        ),
        other => anyhow::Error::new(other),
    }
}

/// Parses a codec name as Kafka's `compression.type` spells it.
pub fn parse_compression(text: &str) -> Result<Compression, String> {
    Ok(match text {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return Err("expected none, gzip, snappy, lz4 or zstd".into()),
    })
}
