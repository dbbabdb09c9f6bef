//! What every stage task shares: the context it runs in, building its
//! grants, deciding what to do with a failed batch, backoff, and the
//! conversion of consumed records.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice_client::ConsumerRecord;
use sluice_types::Record;
use sluice_wasm_host::{FileState, Grants, GuestComponent, GuestErrorKind, StageError, WasmEngine};
use tokio::sync::watch;
use tracing::warn;

use super::backbone::{Backbone, GroupReader, Outgoing};
use super::dead_letter::{dead_letter, Failure, Origin};
use super::status::{StageState, StageStatus};
use crate::plan::{GrantsPlan, StagePlan};
use crate::spec::OnError;

/// What a stage task needs from the engine.
pub struct StageContext {
    pub pipeline: String,
    pub backbone: Arc<Backbone>,
    pub wasm: Arc<WasmEngine>,
    /// Source checkpoints and `state` stores live under here.
    pub state_dir: PathBuf,
    /// Set to true to stop the stage at its next batch boundary.
    pub stop: watch::Receiver<bool>,
    pub status: Arc<StageStatus>,
}

impl StageContext {
    pub fn dead_letter_topic(&self) -> String {
        format!("{}.dlq", self.pipeline)
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps for `duration` or until the stage is told to stop; true when
    /// it should stop.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        if self.stopping() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(duration) => self.stopping(),
            _ = self.stop.changed() => true,
        }
    }

    /// Marks the stage failed with `error` (secrets blanked) and logs it.
    pub fn fail(&self, error: String) {
        let error = self.status.note(error);
        warn!(pipeline = %self.pipeline, stage = %self.status.id, %error, "stage failed");
        self.status.set_state(StageState::Failed);
    }

    /// Marks the stage stopped, unless it failed.
    pub fn stopped(&self) {
        if self.status.state() != StageState::Failed {
            self.status.set_state(StageState::Stopped);
        }
    }

    /// The next records of the stage's group; `Nothing` after a poll that
    /// returned none or failed (counted, after a backoff), `Stop` when the
    /// stage is told to stop while backing off.
    pub async fn poll(
        &mut self,
        group: &mut GroupReader,
        topic: &str,
        max: usize,
        backoff: &mut Backoff,
    ) -> Polled {
        match group.poll(max).await {
            Ok(records) => {
                self.status.set_lag(group.lag());
                if records.is_empty() {
                    Polled::Nothing
                } else {
                    Polled::Records(records)
                }
            }
            Err(error) => {
                self.status.error(format!("reading {topic}: {error}"));
                if self.sleep(backoff.delay()).await {
                    Polled::Stop
                } else {
                    Polled::Nothing
                }
            }
        }
    }

    /// The consumer group of a stage reading a topic.
    pub fn group_id(&self, stage: &str) -> String {
        format!("{}.{}", self.pipeline, stage)
    }

    /// The stage's grants; `state` opens (or creates) its store under
    /// `state_dir/<pipeline>/<stage>.state`.
    pub fn grants(&self, plan: &StagePlan) -> Result<Grants, String> {
        grants(
            &plan.grants,
            &self.state_dir.join(&self.pipeline).join(format!(
                "{}.state",
                plan.id.replace([':', '/', '[', ']'], "_")
            )),
        )
    }

    /// Loads the stage's component in the background (a cache miss
    /// compiles it).
    pub async fn load(&self, plan: &StagePlan) -> Result<Arc<GuestComponent>, String> {
        let wasm = self.wasm.clone();
        let path = plan.component.clone();
        let world = plan_world(plan);
        tokio::task::spawn_blocking(move || match world {
            "source" => wasm.load_source(&path),
            "sink" => wasm.load_sink(&path),
            _ => wasm.load_transform(&path),
        })
        .await
        .map_err(|e| format!("loading the component panicked: {e}"))?
        .map_err(|e| e.to_string())
    }

    /// Appends `records` to the dead-letter topic, retrying until it
    /// worked or the stage stops (a dead letter is never dropped).
    pub async fn dead_letter(
        &mut self,
        records: &[(Record, Option<Origin<'_>>)],
        failure: &Failure<'_>,
    ) -> bool {
        let topic = self.dead_letter_topic();
        let letters: Vec<Record> = records
            .iter()
            .map(|(record, origin)| dead_letter(record, failure, *origin))
            .collect();
        let outgoing: Vec<Outgoing<'_>> = letters
            .iter()
            .map(|record| Outgoing::record(&topic, record))
            .collect();
        let mut backoff = Backoff::default();
        loop {
            match self.backbone.append_all(&outgoing).await {
                Ok(()) => {
                    self.status.dead_lettered(records.len());
                    return true;
                }
                Err(error) => {
                    self.status
                        .error(format!("appending to dead-letter topic {topic}: {error}"));
                    self.status.set_state(StageState::Retrying);
                    if self.sleep(backoff.delay()).await {
                        return false;
                    }
                }
            }
        }
    }
}

fn plan_world(plan: &StagePlan) -> &'static str {
    if plan.id.contains("/transforms[") || plan.id.starts_with("transform:") {
        "transform"
    } else if plan.id.starts_with("source:") {
        "source"
    } else {
        "sink"
    }
}

/// Host grants from resolved plan grants.
pub fn grants(plan: &GrantsPlan, state_path: &std::path::Path) -> Result<Grants, String> {
    let mut grants = Grants::none();
    for origin in &plan.http {
        grants = grants.with_http(origin.clone());
    }
    if let Some(dsn) = &plan.sql {
        grants = grants.with_sql(dsn.clone());
    }
    if let Some(dir) = &plan.files {
        grants = grants.with_files(dir.clone());
    }
    for (name, value) in &plan.secrets {
        grants = grants.with_secret(name.clone(), value.clone());
    }
    if plan.state {
        let store = FileState::open(state_path).map_err(|e| e.to_string())?;
        grants = grants.with_state(Arc::new(store));
    }
    Ok(grants)
}

/// The version a status and a dead letter show: `NAME@DIGEST12`.
pub fn version(component: &GuestComponent) -> String {
    format!(
        "{}@{}",
        component.name(),
        &component.digest()[..12.min(component.digest().len())]
    )
}

/// What to do with a batch whose call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the same call again after a backoff.
    Retry,
    DeadLetter,
    Skip,
    Stop,
}

/// Attempts at a call before `on_error` applies: an outside system that
/// is unavailable gets several, a trap gets one more on a fresh instance,
/// a guest that says the input is bad gets none.
pub fn decide(error: &StageError, attempt: u32, on_error: OnError) -> Next {
    let retries = match error {
        StageError::Guest {
            kind: GuestErrorKind::Unavailable,
            ..
        } => 5,
        StageError::Guest {
            kind: GuestErrorKind::InvalidConfig | GuestErrorKind::PermissionDenied,
            ..
        } => 0,
        StageError::Guest { .. } | StageError::InvalidRecord { .. } => 0,
        StageError::Deadline { .. }
        | StageError::OutOfMemory { .. }
        | StageError::Trap { .. }
        | StageError::Instantiate { .. }
        | StageError::NotInitialized { .. } => 1,
    };
    if attempt < retries {
        return Next::Retry;
    }
    match on_error {
        OnError::DeadLetter => Next::DeadLetter,
        OnError::Skip => Next::Skip,
        OnError::Stop => Next::Stop,
    }
}

/// Exponential backoff with jitter: 100 ms doubling to 10 s.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn delay(&mut self) -> Duration {
        let base = 100u64 << self.attempt.min(7);
        self.attempt += 1;
        let base = base.min(10_000);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A consumed record as the host's record type (bytes shared, not copied).
pub fn to_record(record: &ConsumerRecord) -> Record {
    Record {
        offset: sluice_types::Offset(record.offset),
        timestamp: record.timestamp,
        key: record.key.clone(),
        value: record.value.clone(),
        headers: record.headers.clone(),
    }
}

/// What [`StageContext::poll`] got.
pub enum Polled {
    Records(Vec<ConsumerRecord>),
    Nothing,
    Stop,
}

/// Where each partition's run of `records` starts: what a failed batch
/// rewinds to.
pub fn run_starts(records: &[ConsumerRecord]) -> Vec<(Arc<str>, i32, i64)> {
    by_partition(records)
        .iter()
        .map(|run| (run[0].topic.clone(), run[0].partition, run[0].offset))
        .collect()
}

/// Consumed records split into runs of one partition, in order.
pub fn by_partition(records: &[ConsumerRecord]) -> Vec<&[ConsumerRecord]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        if i == records.len()
            || records[i].partition != records[start].partition
            || records[i].topic != records[start].topic
        {
            if i > start {
                runs.push(&records[start..i]);
            }
            start = i;
        }
    }
    runs
}
