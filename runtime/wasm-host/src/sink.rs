//! One live `sink` instance: `open`, then `write` batches and `flush`.
//!
//! The pipeline commits a sink's consumer offsets only after `flush`
//! succeeded. After a trap the instance is dropped and the next call
//! re-opens a fresh one; what was written since the last successful flush
//! may be lost in the guest, so the pipeline re-reads from its committed
//! offsets (at-least-once; sinks write idempotently, e.g. by document id).

use std::sync::Arc;

use sluice_types::{Record, TopicPartition};

use crate::bindings::sink::Sink;
use crate::convert::to_wit;
use crate::error::{Call, StageError};
use crate::grants::Grants;
use crate::instance::{Live, Sandbox};
use crate::limits::StageLimits;
use crate::load::{GuestComponent, Pre, World};

/// A record the sink refused, by its index in the written batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub reason: String,
}

/// An instance of a `sink` component serving one stage.
pub struct SinkInstance {
    sandbox: Sandbox,
    config: Option<String>,
    live: Option<Live<Sink>>,
}

impl SinkInstance {
    /// # Panics
    ///
    /// When `component` is not a `sink` component (load it with
    /// [`WasmEngine::load_sink`](crate::WasmEngine::load_sink)).
    pub fn new(
        component: Arc<GuestComponent>,
        stage: &str,
        limits: StageLimits,
        grants: Grants,
    ) -> Self {
        Self {
            sandbox: Sandbox::new(component, World::Sink, stage, limits, grants),
            config: None,
            live: None,
        }
    }

    pub fn component(&self) -> &GuestComponent {
        &self.sandbox.component
    }

    /// Calls the guest's `open` with its config.
    pub async fn open(&mut self, config_json: &str) -> Result<(), StageError> {
        self.config = None;
        self.live = None;
        self.instantiate_and_open(config_json).await?;
        self.config = Some(config_json.to_owned());
        Ok(())
    }

    /// Writes one batch read from `origin`; returns the records the sink
    /// refused (by index), which go to the dead-letter topic.
    pub async fn write(
        &mut self,
        origin: Option<&TopicPartition>,
        records: Vec<Record>,
    ) -> Result<Vec<Rejected>, StageError> {
        let batch_len = records.len();
        let call = Call::Write { batch_len };
        self.ensure_live(call).await?;
        let batch = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                to_wit(origin, record).map_err(|reason| StageError::InvalidRecord {
                    component: self.sandbox.name(),
                    call,
                    index,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let live = self.live.as_mut().expect("live above");
        self.sandbox.arm(&mut live.store);
        let result = live.bindings.call_write(&mut live.store, &batch).await;
        self.sandbox
            .settle(&mut self.live, call, result)?
            .into_iter()
                .map(|r| {
                    let index = r.index as usize;
                    if index >= batch_len {
                        return Err(StageError::Guest {
                            component: self.sandbox.name(),
                            call,
                            kind: crate::GuestErrorKind::Internal,
                            message: format!(
                                "rejected record index {index} is outside the batch of {batch_len} (reason: {})",
                                r.reason
                            ),
                        });
                    }
                    Ok(Rejected { index, reason: r.reason })
                })
                .collect()
    }

    /// Makes everything written so far durable in the outside system.
    pub async fn flush(&mut self) -> Result<(), StageError> {
        let call = Call::Flush;
        self.ensure_live(call).await?;
        let live = self.live.as_mut().expect("live above");
        self.sandbox.arm(&mut live.store);
        let result = live.bindings.call_flush(&mut live.store).await;
        self.sandbox.settle(&mut self.live, call, result)
    }

    async fn ensure_live(&mut self, call: Call) -> Result<(), StageError> {
        if self.live.is_some() {
            return Ok(());
        }
        let Some(config) = self.config.clone() else {
            return Err(StageError::NotInitialized {
                component: self.sandbox.name(),
                call,
                first: Call::Open,
            });
        };
        tracing::info!(stage = %self.sandbox.stage, component = %self.sandbox.component.name, "re-opening the sink after a failed call");
        self.instantiate_and_open(&config).await
    }

    async fn instantiate_and_open(&mut self, config_json: &str) -> Result<(), StageError> {
        let call = Call::Open;
        let Pre::Sink(pre) = &self.sandbox.component.pre else {
            unreachable!("checked in SinkInstance::new");
        };
        let mut store = self.sandbox.new_store();
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings,
            Err(error) => return Err(self.sandbox.instantiate_error(call, error, &store)),
        };
        self.sandbox.arm(&mut store);
        match bindings
            .call_open(&mut store, &config_json.to_owned())
            .await
        {
            Ok(Ok(())) => {
                self.live = Some(Live { store, bindings });
                Ok(())
            }
            Ok(Err(error)) => Err(self.sandbox.guest_error(call, error)),
            Err(error) => Err(self.sandbox.classify(call, error, Some(&store))),
        }
    }
}
