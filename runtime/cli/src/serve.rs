//! `sluice serve`: run the broker, and with `--pipelines DIR` the
//! pipelines in it, until SIGINT or SIGTERM.
//!
//! With `--backbone HOSTS` there is no embedded broker: the pipelines run
//! against that Kafka-compatible cluster, and HTTP serves only their API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sluice_broker::{BrokerConfig, RunningBroker};
use sluice_pipeline::run::http::EngineSlot;
use sluice_pipeline::run::{Backbone, Engine, EngineConfig};

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
    /// Run the pipeline files (`*.toml`) in DIR, reloading them (and the
    /// `.wasm` files they use) when they change.
    #[arg(long, value_name = "DIR")]
    pipelines: Option<PathBuf>,
    /// Where bundled connectors and plugins are (`NAME.wasm`,
    /// `NAME-source.wasm`, `NAME-sink.wasm`).
    #[arg(
        long,
        value_name = "DIR",
        env = "SLUICE_COMPONENTS_DIR",
        default_value = "target/wasm"
    )]
    components: PathBuf,
    /// Run the pipelines against this Kafka-compatible cluster
    /// (HOST:PORT[,...]) instead of an embedded broker.
    #[arg(long, value_name = "HOSTS", requires = "pipelines")]
    backbone: Option<String>,
    /// Settings file (TOML): `[backbone] brokers = "HOST:PORT,..."`.
    /// Flags given on the command line win over it.
    #[arg(long, value_name = "FILE", env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sluice-broker")
        .build()
        .context("start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(mut args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.config {
        let settings =
            sluice_pipeline::settings::load_settings(path).map_err(|d| anyhow::anyhow!("{d}"))?;
        if args.backbone.is_none() {
            args.backbone = settings.backbone.brokers;
        }
        anyhow::ensure!(
            args.backbone.is_none() || args.pipelines.is_some(),
            "{}: [backbone] brokers is set, so Sluice runs no broker of its own; \
             give it pipelines to run with --pipelines DIR",
            path.display()
        );
    }
    let slot: EngineSlot = Arc::default();
    let routes = sluice_pipeline::run::http::router(slot.clone());
    let (broker, brokers) = match &args.backbone {
        Some(backbone) => {
            let listener = tokio::net::TcpListener::bind(args.http)
                .await
                .with_context(|| format!("bind HTTP on {} (--http)", args.http))?;
            eprintln!(
                "sluice: pipelines against {backbone}, HTTP on {}",
                listener.local_addr()?
            );
            let routes = routes.route(
                "/health",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            );
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, routes).await {
                    tracing::error!(%error, "HTTP server failed");
                }
            });
            (None, backbone.clone())
        }
        None => {
            let mut config = BrokerConfig::new(&args.data);
            config.kafka_addr = args.kafka;
            config.http_addr = args.http;
            config.advertised_addr = args.advertise.clone();
            config.auto_create_topics = args.auto_create_topics;
            config.default_partitions = args.default_partitions.max(1);
            config.max_frame_bytes = args.max_frame_bytes;
            config.max_connections = args.max_connections.max(1);
            let broker = RunningBroker::start_with_routes(config, routes)
                .await
                .with_context(|| {
                    format!("start the broker with data in {}", args.data.display())
                })?;
            eprintln!(
                "sluice broker: Kafka on {}, HTTP on {}, data in {}",
                broker.kafka_addr,
                broker.http_addr,
                args.data.display()
            );
            let brokers = broker.kafka_addr.to_string();
            (Some(broker), brokers)
        }
    };
    let mut engine = None;
    if let Some(dir) = &args.pipelines {
        let started = start_pipelines(&args, dir, &brokers).await?;
        let _ = slot.set(started.0.clone());
        engine = Some(started);
    }
    wait_for_signal().await?;
    if let Some((engine, watcher)) = engine {
        eprintln!("sluice: stopping pipelines (each stage finishes its batch)");
        watcher.abort();
        engine.shutdown().await;
    }
    if let Some(broker) = broker {
        eprintln!("sluice broker: shutting down (finishing in-flight requests, syncing files)");
        broker.shutdown().await.context("shut down cleanly")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects the engine to the backbone, starts every pipeline in `dir`
/// and watches the files.
async fn start_pipelines(
    args: &ServeArgs,
    dir: &Path,
    brokers: &str,
) -> anyhow::Result<(Arc<Engine>, tokio::task::JoinHandle<()>)> {
    anyhow::ensure!(
        dir.is_dir(),
        "--pipelines {}: not a directory",
        dir.display()
    );
    let wasm = Arc::new(crate::transform::engine()?);
    let backbone = if args.backbone.is_some() {
        Backbone::external(brokers)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("connect to the backbone at {brokers}"))?
    } else {
        Backbone::connect(brokers)
            .await
            .with_context(|| format!("connect to the embedded broker at {brokers}"))?
    };
    let engine = Arc::new(Engine::new(
        EngineConfig {
            pipelines_dir: dir.to_path_buf(),
            components_dir: args.components.clone(),
            state_dir: args.data.join("pipelines"),
        },
        Arc::new(backbone),
        wasm,
    ));
    engine.reload().await;
    for report in engine.reports().await {
        match &report.error {
            Some(error) => eprintln!("sluice: pipeline {} not started:\n{error}", report.name),
            None => eprintln!(
                "sluice: pipeline {} running ({} stages)",
                report.name,
                report.stages.len()
            ),
        }
    }
    let watcher =
        sluice_pipeline::run::watch::spawn(engine.clone()).context("watch the pipeline files")?;
    Ok((engine, watcher))
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
