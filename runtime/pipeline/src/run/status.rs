//! What `sluice pipeline list` and `status` show: per stage its state,
//! records in and out, errors, dead letters, lag and last error.
//!
//! Stages update their counters with relaxed atomics on the hot path;
//! readers take a [`StageReport`] snapshot, which is what the HTTP API
//! serves as JSON.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where a stage is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageState {
    Starting,
    /// Another worker holds this source's lease; this one takes over if
    /// that worker goes away.
    Standby,
    Running,
    /// Failing and retrying with backoff; the last error says why.
    Retrying,
    /// Stopped by an error (`on_error = "stop"`, or a component that cannot
    /// start); the last error says why.
    Failed,
    Stopped,
}

impl StageState {
    /// The word `pipeline status` prints.
    pub fn name(self) -> &'static str {
        match self {
            StageState::Starting => "starting",
            StageState::Standby => "standby",
            StageState::Running => "running",
            StageState::Retrying => "retrying",
            StageState::Failed => "failed",
            StageState::Stopped => "stopped",
        }
    }
}

/// Live counters of one stage.
#[derive(Debug)]
pub struct StageStatus {
    pub id: String,
    pub component: String,
    state: Mutex<StageState>,
    version: Mutex<String>,
    last_error: Mutex<Option<ErrorNote>>,
    records_in: AtomicU64,
    records_out: AtomicU64,
    errors: AtomicU64,
    dead_lettered: AtomicU64,
    /// Records between the stage's position and the end of its topic;
    /// -1 where it does not apply (sources).
    lag: AtomicI64,
    /// Secret values to blank out of error messages.
    secrets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorNote {
    pub message: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

impl StageStatus {
    /// A stage's status; error messages it keeps have every one of
    /// `secrets` (of 4 bytes or more) replaced with `***`.
    pub fn new(
        id: impl Into<String>,
        component: impl Into<String>,
        secrets: Vec<String>,
    ) -> Arc<StageStatus> {
        Arc::new(StageStatus {
            id: id.into(),
            component: component.into(),
            state: Mutex::new(StageState::Starting),
            version: Mutex::new(String::new()),
            last_error: Mutex::new(None),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            lag: AtomicI64::new(-1),
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        })
    }

    pub fn set_state(&self, state: StageState) {
        *self.state.lock().expect("status lock") = state;
    }

    pub fn state(&self) -> StageState {
        *self.state.lock().expect("status lock")
    }

    /// The running component's version (`NAME@DIGEST`).
    pub fn set_version(&self, version: &str) {
        *self.version.lock().expect("status lock") = version.to_string();
    }

    pub fn records_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn records_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn dead_lettered(&self, n: usize) {
        self.dead_lettered.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn set_lag(&self, lag: i64) {
        self.lag.store(lag, Ordering::Relaxed);
    }

    /// Counts an error and keeps it as the last one (secrets blanked out).
    pub fn error(&self, message: impl Into<String>) {
        self.note(message);
    }

    /// As [`StageStatus::error`], returning the message as kept: what may
    /// be logged.
    pub fn note(&self, message: impl Into<String>) -> String {
        let message = self.redact(message.into());
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("status lock") = Some(ErrorNote {
            message: message.clone(),
            at: now_ms(),
        });
        message
    }

    /// `message` with the stage's secret values replaced with `***`.
    pub fn redact(&self, mut message: String) -> String {
        for secret in &self.secrets {
            if message.contains(secret.as_str()) {
                message = message.replace(secret.as_str(), "***");
            }
        }
        message
    }

    pub fn report(&self) -> StageReport {
        StageReport {
            id: self.id.clone(),
            component: self.component.clone(),
            version: self.version.lock().expect("status lock").clone(),
            state: self.state(),
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            lag: Some(self.lag.load(Ordering::Relaxed)).filter(|lag| *lag >= 0),
            last_error: self.last_error.lock().expect("status lock").clone(),
        }
    }
}

/// A snapshot of one stage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StageReport {
    pub id: String,
    pub component: String,
    pub version: String,
    pub state: StageState,
    pub records_in: u64,
    pub records_out: u64,
    pub errors: u64,
    pub dead_lettered: u64,
    pub lag: Option<i64>,
    pub last_error: Option<ErrorNote>,
}

/// A snapshot of one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PipelineReport {
    pub name: String,
    pub file: String,
    /// Set when the file could not be loaded, checked or started; its
    /// stages (if any) are the ones still running from before.
    pub error: Option<String>,
    pub stages: Vec<StageReport>,
}

impl PipelineReport {
    /// Why the pipeline is not running as planned: its file did not start,
    /// or one of its stages failed.
    pub fn failure(&self) -> Option<String> {
        if let Some(error) = &self.error {
            return Some(format!(
                "pipeline {} ({}) did not start:\n{error}",
                self.name, self.file
            ));
        }
        self.stages
            .iter()
            .find(|stage| stage.state == StageState::Failed)
            .map(|stage| {
                let error = stage.last_error.as_ref().map_or("", |e| e.message.as_str());
                format!("pipeline {}: stage {} failed: {error}", self.name, stage.id)
            })
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
