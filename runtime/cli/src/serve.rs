//! `sluice serve`: run the broker until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use sluice_broker::{BrokerConfig, RunningBroker};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory: topics, segments, consumer offsets.
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_DATA",
        default_value = "./sluice-data"
    )]
    data: PathBuf,
    /// Address for Kafka clients.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9092")]
    kafka: SocketAddr,
    /// Address for HTTP: health, admin API, console, metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9644")]
    http: SocketAddr,
    /// host:port clients are told to connect to (default: the --kafka address).
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Create unknown topics when a client asks for them.
    #[arg(long)]
    auto_create_topics: bool,
    /// Partitions of an auto-created topic.
    #[arg(long, value_name = "N", default_value_t = 1)]
    default_partitions: u32,
    /// Largest request accepted, in bytes; a larger one closes its connection.
    #[arg(long, value_name = "BYTES", default_value_t = 100 << 20)]
    max_frame_bytes: usize,
    /// Connections served at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-broker")
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = BrokerConfig::new(&args.data);
    config.kafka_addr = args.kafka;
    config.http_addr = args.http;
    config.advertised_addr = args.advertise;
    config.auto_create_topics = args.auto_create_topics;
    config.default_partitions = args.default_partitions.max(1);
    config.max_frame_bytes = args.max_frame_bytes;
    config.max_connections = args.max_connections.max(1);
    let broker = RunningBroker::start(config)
        .await
        .with_context(|| format!("start the broker with data in {}", args.data.display()))?;
    eprintln!(
        "sluice broker: Kafka on {}, HTTP on {}, data in {}",
        broker.kafka_addr,
        broker.http_addr,
        args.data.display()
    );
    wait_for_signal().await?;
    eprintln!("sluice broker: shutting down (finishing in-flight requests, syncing files)");
    broker.shutdown().await.context("shut down cleanly")?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listen for SIGINT")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
