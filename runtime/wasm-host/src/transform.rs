//! One live `transform` instance: `init`, then `process_batch` per batch.
//!
//! This is the only caller of the generated `call_init` and `call_process`.
//! Each call runs under the stage's deadline and memory cap; a trap, an
//! out-of-memory or a deadline hit drops the instance, and the next call
//! instantiates a fresh one and replays `init` with the config that last
//! succeeded. The instance is otherwise reused across batches: `init` runs
//! once, not per batch.

use std::sync::Arc;

use sluice_types::{Record, TopicPartition};

use crate::bindings::transform::Transform;
use crate::convert::{from_wit, to_wit};
use crate::error::{Call, StageError};
use crate::grants::Grants;
use crate::instance::{Live, Sandbox};
use crate::limits::StageLimits;
use crate::load::{GuestComponent, Pre, World};

/// A record a transform emitted, and the stage output it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub record: Record,
    /// A named output of the stage; `None` is the stage's default output.
    pub target: Option<String>,
}

/// An instance of a `transform` component serving one stage.
pub struct TransformInstance {
    sandbox: Sandbox,
    /// The config `init` last succeeded with; replayed after a trap.
    config: Option<String>,
    /// `None` before the first call and after a trap discarded the instance.
    live: Option<Live<Transform>>,
}

impl TransformInstance {
    /// An instance of `component` for `stage`; nothing runs until [`init`].
    ///
    /// # Panics
    ///
    /// When `component` is not a `transform` component (load it with
    /// [`WasmEngine::load_transform`](crate::WasmEngine::load_transform)).
    ///
    /// [`init`]: TransformInstance::init
    pub fn new(
        component: Arc<GuestComponent>,
        stage: &str,
        limits: StageLimits,
        grants: Grants,
    ) -> Self {
        Self {
            sandbox: Sandbox::new(component, World::Transform, stage, limits, grants),
            config: None,
            live: None,
        }
    }

    /// The component this instance runs.
    pub fn component(&self) -> &GuestComponent {
        &self.sandbox.component
    }

    /// Calls the guest's `init` with the stage's config as JSON text.
    pub async fn init(&mut self, config_json: &str) -> Result<(), StageError> {
        self.config = None;
        self.live = None;
        self.instantiate_and_init(config_json).await?;
        self.config = Some(config_json.to_owned());
        Ok(())
    }

    /// Runs one batch of records that did not come from a topic.
    pub async fn process_batch(&mut self, records: Vec<Record>) -> Result<Vec<Output>, StageError> {
        self.process_batch_from(None, records).await
    }

    /// Runs one batch; with `origin`, each record tells the guest its
    /// topic-partition and offset.
    pub async fn process_batch_from(
        &mut self,
        origin: Option<&TopicPartition>,
        records: Vec<Record>,
    ) -> Result<Vec<Output>, StageError> {
        let call = Call::Process {
            batch_len: records.len(),
        };
        let Some(config) = self.config.clone() else {
            return Err(StageError::NotInitialized {
                component: self.sandbox.name(),
                call,
                first: Call::Init,
            });
        };
        if self.live.is_none() {
            tracing::info!(stage = %self.sandbox.stage, component = %self.sandbox.component.name, "re-instantiating after a failed call");
            self.instantiate_and_init(&config).await?;
        }
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

        let live = self.live.as_mut().expect("instantiated above");
        self.sandbox.arm(&mut live.store);
        let result = live.bindings.call_process(&mut live.store, &batch).await;
        let outputs = self.sandbox.settle(&mut self.live, call, result)?;
        Ok(outputs
            .into_iter()
            .map(|output| Output {
                record: from_wit(output.record),
                target: output.target,
            })
            .collect())
    }

    /// Creates a fresh instance and runs `init` on it.
    async fn instantiate_and_init(&mut self, config_json: &str) -> Result<(), StageError> {
        let call = Call::Init;
        let Pre::Transform(pre) = &self.sandbox.component.pre else {
            unreachable!("checked in TransformInstance::new");
        };
        let mut store = self.sandbox.new_store();
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings,
            Err(error) => return Err(self.sandbox.instantiate_error(call, error, &store)),
        };
        self.sandbox.arm(&mut store);
        match bindings
            .call_init(&mut store, &config_json.to_owned())
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
