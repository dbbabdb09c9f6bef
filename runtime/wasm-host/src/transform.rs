//! One live `transform` instance: `init`, then `process_batch` per batch.
//!
//! This is the only caller of the generated `call_init` and `call_process`.
//! Each call runs under the stage's deadline (an epoch deadline that traps)
//! and memory cap (the store's limiter). A trap of any kind, an
//! out-of-memory or a deadline hit becomes a [`StageError`] naming the
//! component and the batch size; the instance is then dropped, and the next
//! call instantiates a fresh one from the component's `InstancePre` and
//! replays `init` with the config that last succeeded. The host stays up.
//!
//! Records are converted from [`sluice_types::Record`] to the contract's
//! `record` and back. Keys, values and header values are copied into the
//! guest's memory by the canonical ABI either way; the conversion copies
//! each once more into a `Vec<u8>`, a cost left for when profiling shows it.

use std::sync::Arc;

use bytes::Bytes;
use sluice_types::{Offset, Record, RecordHeader, Timestamp, TopicPartition};
use wasmtime::{Store, Trap};

use crate::bindings::sluice::pipeline::types as wit;
use crate::bindings::Transform;
use crate::error::{Call, GuestErrorKind, GuestStderr, StageError};
use crate::host::{Grants, HostState};
use crate::limits::{deadline_ticks, StageLimits};
use crate::load::TransformComponent;

/// A record a transform emitted, and the stage output it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub record: Record,
    /// A named output of the stage; `None` is the stage's default output.
    pub target: Option<String>,
}

/// An instance of a `transform` component serving one stage.
pub struct TransformInstance {
    component: Arc<TransformComponent>,
    stage: String,
    limits: StageLimits,
    grants: Grants,
    /// The config `init` last succeeded with; replayed after a trap.
    config: Option<String>,
    /// `None` before the first call and after a trap discarded the instance.
    live: Option<Live>,
}

struct Live {
    store: Store<HostState>,
    bindings: Transform,
}

impl TransformInstance {
    /// An instance of `component` for `stage`; nothing runs until [`init`].
    ///
    /// [`init`]: TransformInstance::init
    pub fn new(
        component: Arc<TransformComponent>,
        stage: &str,
        limits: StageLimits,
        grants: Grants,
    ) -> Self {
        Self {
            component,
            stage: stage.to_owned(),
            limits,
            grants,
            config: None,
            live: None,
        }
    }

    /// The component this instance runs.
    pub fn component(&self) -> &TransformComponent {
        &self.component
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
                component: self.component.name.clone(),
            });
        };
        if self.live.is_none() {
            tracing::info!(stage = %self.stage, component = %self.component.name, "re-instantiating after a failed call");
            self.instantiate_and_init(&config).await?;
        }
        let batch = records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                to_wit(origin, record).map_err(|reason| StageError::InvalidRecord {
                    component: self.component.name.clone(),
                    call,
                    index,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let live = self.live.as_mut().expect("instantiated above");
        live.store.set_epoch_deadline(deadline_ticks(
            self.limits.deadline,
            self.component.ticker.tick,
        ));
        let result = live.bindings.call_process(&mut live.store, &batch).await;
        match result {
            Ok(Ok(outputs)) => Ok(outputs.into_iter().map(from_wit).collect()),
            Ok(Err(error)) => Err(self.guest_error(call, error)),
            Err(error) => Err(self.discard(call, error)),
        }
    }

    /// Creates a fresh instance and runs `init` on it.
    async fn instantiate_and_init(&mut self, config_json: &str) -> Result<(), StageError> {
        let call = Call::Init;
        let state = HostState::new(&self.stage, self.grants.clone(), &self.limits);
        let mut store = Store::new(self.component.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        let ticks = deadline_ticks(self.limits.deadline, self.component.ticker.tick);
        // Instantiation can run guest code (start functions, constructors).
        store.set_epoch_deadline(ticks);
        let bindings = match self.component.pre.instantiate_async(&mut store).await {
            Ok(bindings) => bindings,
            // A trap while instantiating (a guest constructor ran away)
            // reads like any other; anything else is a host-side failure.
            Err(error) if error.downcast_ref::<Trap>().is_some() => {
                return Err(self.classify(call, error, Some(&store)));
            }
            Err(error) => {
                return Err(StageError::Instantiate {
                    component: self.component.name.clone(),
                    reason: format!("{error:#}"),
                })
            }
        };
        store.set_epoch_deadline(ticks);
        match bindings
            .call_init(&mut store, &config_json.to_owned())
            .await
        {
            Ok(Ok(())) => {
                self.live = Some(Live { store, bindings });
                Ok(())
            }
            Ok(Err(error)) => Err(self.guest_error(call, error)),
            Err(error) => Err(self.classify(call, error, Some(&store))),
        }
    }

    /// The guest returned an error value; the instance stays usable.
    fn guest_error(&self, call: Call, error: wit::Error) -> StageError {
        StageError::Guest {
            component: self.component.name.clone(),
            call,
            kind: match error.kind {
                wit::ErrorKind::InvalidConfig => GuestErrorKind::InvalidConfig,
                wit::ErrorKind::InvalidInput => GuestErrorKind::InvalidInput,
                wit::ErrorKind::Unavailable => GuestErrorKind::Unavailable,
                wit::ErrorKind::PermissionDenied => GuestErrorKind::PermissionDenied,
                wit::ErrorKind::Internal => GuestErrorKind::Internal,
            },
            message: error.message,
        }
    }

    /// A call trapped: drops the instance and says why it failed.
    fn discard(&mut self, call: Call, error: wasmtime::Error) -> StageError {
        let live = self.live.take();
        self.classify(call, error, live.as_ref().map(|live| &live.store))
    }

    /// Tells a deadline, an out-of-memory and other traps apart.
    fn classify(
        &self,
        call: Call,
        error: wasmtime::Error,
        store: Option<&Store<HostState>>,
    ) -> StageError {
        let component = self.component.name.clone();
        let (refused_memory_bytes, stderr) = match store {
            Some(store) => {
                let state = store.data();
                (state.limiter.refused_memory_bytes, state.stderr.contents())
            }
            None => (None, String::new()),
        };
        let failure = if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            StageError::Deadline {
                component,
                call,
                deadline: self.limits.deadline,
            }
        } else if let Some(requested_bytes) = refused_memory_bytes {
            StageError::OutOfMemory {
                component,
                call,
                requested_bytes,
                memory_max_bytes: self.limits.memory_max_bytes,
            }
        } else {
            // The trap's kind, not wasmtime's whole report: the guest
            // backtrace goes to the debug log, the panic message (stderr)
            // into the error.
            tracing::debug!(stage = %self.stage, "guest trap: {error:?}");
            let trap = match error.downcast_ref::<Trap>() {
                Some(trap) => trap.to_string(),
                None => format!("{error:#}"),
            };
            StageError::Trap {
                component,
                call,
                trap,
                stderr: GuestStderr(stderr),
            }
        };
        tracing::warn!(stage = %self.stage, error = %failure, "instance discarded");
        failure
    }
}

/// Converts a record for the guest; fails on a header key that is not
/// UTF-8 (the contract's keys are strings, and changing them silently
/// would corrupt the record).
fn to_wit(origin: Option<&TopicPartition>, record: Record) -> Result<wit::Record, String> {
    let headers = record
        .headers
        .into_iter()
        .map(|header| {
            let key = String::from_utf8(header.key.to_vec())
                .map_err(|_| format!("header key {:?} is not UTF-8", header.key))?;
            Ok(wit::Header {
                key,
                value: header.value.map(|v| v.to_vec()),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(wit::Record {
        key: record.key.map(|k| k.to_vec()),
        value: record.value.map(|v| v.to_vec()),
        headers,
        timestamp: record.timestamp.0,
        origin: origin.map(|tp| wit::Origin {
            topic: tp.topic.to_string(),
            partition: tp.partition.0,
            offset: record.offset.0,
        }),
    })
}

/// Converts a guest's output back. The offset is left at zero: the log
/// assigns it when the record is appended.
fn from_wit(output: wit::Output) -> Output {
    let record = output.record;
    Output {
        record: Record {
            offset: Offset::ZERO,
            timestamp: Timestamp(record.timestamp),
            key: record.key.map(Bytes::from),
            value: record.value.map(Bytes::from),
            headers: record
                .headers
                .into_iter()
                .map(|header| RecordHeader {
                    key: Bytes::from(header.key),
                    value: header.value.map(Bytes::from),
                })
                .collect(),
        },
        target: output.target,
    }
}
