//! One live `source` instance: `open`, then `poll` and `commit`.
//!
//! The pipeline polls a batch, appends its records to the log, and once
//! they are durable calls [`SourceInstance::commit`] with the batch's
//! checkpoint; the instance remembers it. After a trap, the next call
//! re-instantiates and re-opens the source with the last committed
//! checkpoint, so it resumes after what is durable: records polled but not
//! yet committed are polled again (at-least-once), never skipped.

use std::sync::Arc;

use sluice_types::Record;

use crate::bindings::source::Source;
use crate::convert::from_wit;
use crate::error::{Call, StageError};
use crate::grants::Grants;
use crate::instance::{Live, Sandbox};
use crate::limits::StageLimits;
use crate::load::{GuestComponent, Pre, World};

/// What one `poll` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBatch {
    /// May be empty when nothing is available yet.
    pub records: Vec<Record>,
    /// The position after these records; `None` when it did not move.
    pub checkpoint: Option<Vec<u8>>,
}

/// An instance of a `source` component serving one stage.
pub struct SourceInstance {
    sandbox: Sandbox,
    /// The config `open` last succeeded with.
    config: Option<String>,
    /// The last checkpoint committed (or the one opened with).
    committed: Option<Vec<u8>>,
    live: Option<Live<Source>>,
}

impl SourceInstance {
    /// # Panics
    ///
    /// When `component` is not a `source` component (load it with
    /// [`WasmEngine::load_source`](crate::WasmEngine::load_source)).
    pub fn new(
        component: Arc<GuestComponent>,
        stage: &str,
        limits: StageLimits,
        grants: Grants,
    ) -> Self {
        Self {
            sandbox: Sandbox::new(component, World::Source, stage, limits, grants),
            config: None,
            committed: None,
            live: None,
        }
    }

    pub fn component(&self) -> &GuestComponent {
        &self.sandbox.component
    }

    /// The last committed checkpoint: where a restart resumes.
    pub fn committed(&self) -> Option<&[u8]> {
        self.committed.as_deref()
    }

    /// Calls the guest's `open` with its config and the checkpoint to
    /// resume after (`None` on the first run).
    pub async fn open(
        &mut self,
        config_json: &str,
        checkpoint: Option<Vec<u8>>,
    ) -> Result<(), StageError> {
        self.config = None;
        self.live = None;
        self.committed = checkpoint;
        self.instantiate_and_open(config_json).await?;
        self.config = Some(config_json.to_owned());
        Ok(())
    }

    /// Asks for up to `max_records` records.
    pub async fn poll(&mut self, max_records: u32) -> Result<SourceBatch, StageError> {
        let call = Call::Poll { max_records };
        self.ensure_live(call).await?;
        let live = self.live.as_mut().expect("live above");
        self.sandbox.arm(&mut live.store);
        let result = live.bindings.call_poll(&mut live.store, max_records).await;
        let batch = self.sandbox.settle(&mut self.live, call, result)?;
        Ok(SourceBatch {
            records: batch.records.into_iter().map(from_wit).collect(),
            checkpoint: batch.checkpoint,
        })
    }

    /// Tells the guest that everything up to `checkpoint` is durable. The
    /// checkpoint counts as committed even when the guest's `commit` fails:
    /// the records are in the log, so a re-open must not poll them again.
    pub async fn commit(&mut self, checkpoint: Vec<u8>) -> Result<(), StageError> {
        let call = Call::Commit;
        self.committed = Some(checkpoint.clone());
        self.ensure_live(call).await?;
        let live = self.live.as_mut().expect("live above");
        self.sandbox.arm(&mut live.store);
        let result = live
            .bindings
            .call_commit(&mut live.store, &checkpoint)
            .await;
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
        tracing::info!(stage = %self.sandbox.stage, component = %self.sandbox.component.name, "re-opening the source after a failed call");
        self.instantiate_and_open(&config).await
    }

    async fn instantiate_and_open(&mut self, config_json: &str) -> Result<(), StageError> {
        let call = Call::Open;
        let Pre::Source(pre) = &self.sandbox.component.pre else {
            unreachable!("checked in SourceInstance::new");
        };
        let mut store = self.sandbox.new_store();
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings,
            Err(error) => return Err(self.sandbox.instantiate_error(call, error, &store)),
        };
        self.sandbox.arm(&mut store);
        let checkpoint = self.committed.clone();
        match bindings
            .call_open(&mut store, &config_json.to_owned(), checkpoint.as_ref())
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
