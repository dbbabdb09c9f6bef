//! The pipeline engine: runs every pipeline file of a directory against
//! the backbone and keeps them running as the files and components change.
//!
//! | module | one job |
//! |---|---|
//! | [`backbone`] | the Kafka cluster the stages read and append to (the embedded broker or another) |
//! | [`kafka`] | an external cluster through librdkafka |
//! | [`stage`] | what every stage shares: context, grants, failure policy, backoff |
//! | [`source`] | connector → topic, checkpoint saved after the log acknowledged |
//! | [`transform`] | topic → plugin → topic, offsets committed after the outputs are in the log; version swaps between batches |
//! | [`sink`] | topic → inline transforms → connector, offsets committed after `flush` |
//! | [`replay`] | one sink run again over a range of its topic, outside its consumer group |
//! | [`dead_letter`] | the headers a dead letter carries |
//! | [`checkpoint`] | source checkpoints on disk, replaced atomically |
//! | [`status`] | counters and states `pipeline list`/`status` show |
//! | [`watch`] | file-system events → a debounced reload |
//! | [`http`] | the JSON API the CLI reads status from |
//!
//! Each stage is one tokio task. [`Engine::reload`] re-reads the
//! directory, checks the files as one set, and diffs each pipeline against
//! what runs: unchanged stages go on untouched, changed or new ones
//! (re)start, removed ones stop (sinks and transforms keep their committed
//! offsets). A transform whose `.wasm` changed is compiled in the
//! background and swapped in between two batches; a file that fails its
//! check keeps its old stages running and reports the error.

pub mod backbone;
pub mod checkpoint;
pub mod dead_letter;
pub mod http;
pub mod kafka;
pub mod replay;
pub mod sink;
pub mod source;
pub mod stage;
pub mod status;
pub mod transform;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sluice_wasm_host::{GuestComponent, WasmEngine};
use tokio::sync::{watch as channel, Mutex};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::check::{check_files, CheckOptions};
use crate::plan::{plan, Plan, SinkPlan, SourcePlan, StagePlan, TopicPlan, TransformPlan};

pub use backbone::Backbone;
pub use status::{PipelineReport, StageReport, StageState};

/// Where the engine finds its inputs and keeps its state.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `*.toml` pipeline files.
    pub pipelines_dir: PathBuf,
    /// Bundled connectors and plugins by name.
    pub components_dir: PathBuf,
    /// Source checkpoints and `state` stores.
    pub state_dir: PathBuf,
}

/// Runs pipelines; share it behind an `Arc`.
pub struct Engine {
    config: EngineConfig,
    backbone: Arc<Backbone>,
    wasm: Arc<WasmEngine>,
    pipelines: Mutex<BTreeMap<PathBuf, Loaded>>,
}

/// One pipeline file and what runs of it.
struct Loaded {
    name: String,
    plan: Option<Plan>,
    error: Option<String>,
    stages: BTreeMap<String, Running>,
}

/// The plan of one stage, of whichever kind.
#[derive(Debug, Clone, PartialEq)]
enum StageKind {
    Source(SourcePlan),
    Transform(TransformPlan),
    Sink(SinkPlan),
}

impl StageKind {
    fn stage(&self) -> &StagePlan {
        match self {
            StageKind::Source(plan) => &plan.stage,
            StageKind::Transform(plan) => &plan.stage,
            StageKind::Sink(plan) => &plan.stage,
        }
    }

    /// Every component file the stage runs.
    fn components(&self) -> Vec<&Path> {
        let mut paths = vec![self.stage().component.as_path()];
        if let StageKind::Sink(plan) = self {
            paths.extend(plan.transforms.iter().map(|t| t.component.as_path()));
        }
        paths
    }
}

struct Running {
    kind: StageKind,
    /// SHA-256 of each component file when the stage (or its last swap)
    /// started, in [`StageKind::components`] order.
    digests: Vec<String>,
    status: Arc<status::StageStatus>,
    stop: channel::Sender<bool>,
    /// New versions of a transform stage's plugin.
    swap: Option<channel::Sender<Option<Arc<GuestComponent>>>>,
    task: JoinHandle<()>,
}

impl Engine {
    pub fn new(config: EngineConfig, backbone: Arc<Backbone>, wasm: Arc<WasmEngine>) -> Engine {
        Engine {
            config,
            backbone,
            wasm,
            pipelines: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Brings what runs in line with the pipeline directory.
    pub async fn reload(&self) {
        let mut pipelines = self.pipelines.lock().await;
        let paths = match pipeline_files(&self.config.pipelines_dir) {
            Ok(paths) => paths,
            Err(error) => {
                warn!(dir = %self.config.pipelines_dir.display(), %error, "cannot list pipeline files");
                return;
            }
        };
        let options = CheckOptions {
            components_dir: self.config.components_dir.clone(),
        };
        let wasm = self.wasm.clone();
        let checked = paths.clone();
        let diagnostics =
            tokio::task::spawn_blocking(move || check_files(&checked, &options, &wasm))
                .await
                .unwrap_or_default();

        // Files that are gone: stop everything they ran.
        let gone: Vec<PathBuf> = pipelines
            .keys()
            .filter(|p| !paths.contains(p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(loaded) = pipelines.remove(&path) {
                info!(pipeline = %loaded.name, "pipeline file removed; stopping its stages");
                for (_, running) in loaded.stages {
                    stop(running).await;
                }
            }
        }

        for path in &paths {
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.file == *path)
                .map(ToString::to_string)
                .collect();
            let loaded = pipelines.entry(path.clone()).or_insert_with(|| Loaded {
                name: path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                plan: None,
                error: None,
                stages: BTreeMap::new(),
            });
            if !errors.is_empty() {
                let error = errors.join("\n");
                warn!(file = %path.display(), "pipeline file has errors; what ran of it keeps running:\n{error}");
                loaded.error = Some(error);
                continue;
            }
            let planned = match crate::load::load(path) {
                Ok(file) => plan(&file, &self.config.components_dir, &|name| {
                    std::env::var(name).ok()
                }),
                Err(diagnostic) => Err(diagnostic.to_string()),
            };
            match planned {
                Ok(plan) => {
                    loaded.error = None;
                    loaded.name = plan.name.clone();
                    self.apply(loaded, plan).await;
                }
                Err(error) => {
                    warn!(file = %path.display(), %error, "pipeline cannot start");
                    loaded.error = Some(error);
                }
            }
        }
    }

    /// Starts, restarts, swaps and stops the stages of one pipeline so
    /// they match `plan`.
    async fn apply(&self, loaded: &mut Loaded, plan: Plan) {
        let mut topics = plan.topics.clone();
        topics.push(TopicPlan {
            name: plan.dead_letter_topic(),
            partitions: 1,
            configs: Vec::new(),
        });
        if matches!(*self.backbone, Backbone::Kafka(_)) && !plan.sources.is_empty() {
            topics.push(TopicPlan {
                name: kafka::LEASE_TOPIC.into(),
                partitions: 1,
                configs: Vec::new(),
            });
        }
        for topic in &topics {
            if let Err(error) = self.backbone.ensure_topic(topic).await {
                let error = format!("creating topic {}: {error}", topic.name);
                warn!(pipeline = %plan.name, %error);
                loaded.error = Some(error);
                return;
            }
        }
        let mut wanted: BTreeMap<String, StageKind> = BTreeMap::new();
        for source in &plan.sources {
            wanted.insert(source.stage.id.clone(), StageKind::Source(source.clone()));
        }
        for transform in &plan.transforms {
            wanted.insert(
                transform.stage.id.clone(),
                StageKind::Transform(transform.clone()),
            );
        }
        for sink in &plan.sinks {
            wanted.insert(sink.stage.id.clone(), StageKind::Sink(sink.clone()));
        }

        let removed: Vec<String> = loaded
            .stages
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in removed {
            if let Some(running) = loaded.stages.remove(&id) {
                info!(pipeline = %plan.name, stage = %id, "stage removed; stopping it");
                stop(running).await;
            }
        }
        for (id, kind) in wanted {
            let digests = digests(&kind);
            if let Some(running) = loaded.stages.get_mut(&id) {
                if running.kind == kind && running.digests == digests {
                    continue;
                } else if running.kind == kind
                    && running.swap.is_some()
                    && !running.task.is_finished()
                {
                    // Only the plugin's file changed: swap between batches.
                    let path = kind.stage().component.clone();
                    let wasm = self.wasm.clone();
                    let loaded_component =
                        tokio::task::spawn_blocking(move || wasm.load_transform(&path)).await;
                    match loaded_component {
                        Ok(Ok(component)) => {
                            info!(pipeline = %plan.name, stage = %id, "new plugin version compiled; swapping at the next batch");
                            running.digests = digests;
                            if let Some(swap) = &running.swap {
                                let _ = swap.send(Some(component));
                            }
                        }
                        Ok(Err(error)) => {
                            let error = format!("new version refused, old one kept: {error}");
                            warn!(pipeline = %plan.name, stage = %id, %error);
                            running.status.error(error);
                            running.digests = digests;
                        }
                        Err(error) => running.status.error(error.to_string()),
                    }
                    continue;
                }
                let running = loaded.stages.remove(&id).expect("present above");
                info!(pipeline = %plan.name, stage = %id, "stage changed; restarting it");
                stop(running).await;
            }
            let running = self.start(&plan.name, kind, digests, plan.secrets.clone());
            loaded.stages.insert(id, running);
        }
        loaded.plan = Some(plan);
    }

    fn start(
        &self,
        pipeline: &str,
        kind: StageKind,
        digests: Vec<String>,
        secrets: Vec<String>,
    ) -> Running {
        let stage = kind.stage();
        let component = stage
            .component
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let status = status::StageStatus::new(&stage.id, component, secrets);
        let (stop, stop_rx) = channel::channel(false);
        let ctx = stage::StageContext {
            pipeline: pipeline.to_string(),
            backbone: self.backbone.clone(),
            wasm: self.wasm.clone(),
            state_dir: self.config.state_dir.clone(),
            stop: stop_rx,
            status: status.clone(),
        };
        let mut swap = None;
        let task = match kind.clone() {
            StageKind::Source(plan) => tokio::spawn(source::run(ctx, plan)),
            StageKind::Transform(plan) => {
                let (sender, receiver) = channel::channel(None);
                swap = Some(sender);
                tokio::spawn(transform::run(ctx, plan, receiver))
            }
            StageKind::Sink(plan) => tokio::spawn(sink::run(ctx, plan)),
        };
        Running {
            kind,
            digests,
            status,
            stop,
            swap,
            task,
        }
    }

    /// Every pipeline with its stages, by name.
    pub async fn reports(&self) -> Vec<PipelineReport> {
        let pipelines = self.pipelines.lock().await;
        let mut reports: Vec<PipelineReport> = pipelines
            .iter()
            .map(|(path, loaded)| PipelineReport {
                name: loaded.name.clone(),
                file: path.display().to_string(),
                error: loaded.error.clone(),
                stages: {
                    // In the order records flow: sources, transforms, sinks.
                    let mut stages: Vec<&Running> = loaded.stages.values().collect();
                    stages.sort_by_key(|r| match r.kind {
                        StageKind::Source(_) => 0,
                        StageKind::Transform(_) => 1,
                        StageKind::Sink(_) => 2,
                    });
                    stages.iter().map(|r| r.status.report()).collect()
                },
            })
            .collect();
        reports.sort_by(|a, b| a.name.cmp(&b.name));
        reports
    }

    /// The running plan of a pipeline, by name.
    pub async fn plan(&self, name: &str) -> Option<Plan> {
        let pipelines = self.pipelines.lock().await;
        pipelines
            .values()
            .find(|loaded| loaded.name == name)
            .and_then(|loaded| loaded.plan.clone())
    }

    /// Every component file a running stage uses (to watch for changes).
    pub async fn component_files(&self) -> Vec<PathBuf> {
        let pipelines = self.pipelines.lock().await;
        pipelines
            .values()
            .flat_map(|loaded| loaded.stages.values())
            .flat_map(|running| running.kind.components())
            .map(Path::to_path_buf)
            .collect()
    }

    /// Stops every stage: each finishes its batch, sinks flush and commit.
    pub async fn shutdown(&self) {
        let mut pipelines = self.pipelines.lock().await;
        let mut all = Vec::new();
        for (_, loaded) in std::mem::take(&mut *pipelines) {
            for (_, running) in loaded.stages {
                let _ = running.stop.send(true);
                all.push(running);
            }
        }
        for running in all {
            let _ = running.task.await;
        }
    }
}

/// Asks a stage to stop and waits until it did.
async fn stop(running: Running) {
    let _ = running.stop.send(true);
    let _ = running.task.await;
}

/// `*.toml` files of `dir`, sorted.
fn pipeline_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn digests(kind: &StageKind) -> Vec<String> {
    kind.components()
        .into_iter()
        .map(|path| match std::fs::read(path) {
            Ok(bytes) => Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            Err(_) => String::new(),
        })
        .collect()
}
