//! What every stage instance shares, whatever its world: a fresh store per
//! instantiation with the stage's memory cap and deadline, and the
//! translation of a failed call into a [`StageError`].
//!
//! A trap of any kind, an out-of-memory or a deadline hit becomes a
//! [`StageError`] naming the component and the call (with its batch size);
//! the world-specific instance then drops its store, and its next call
//! instantiates a fresh one from the component's template. The host stays
//! up.

use std::sync::Arc;

use wasmtime::{Store, Trap};

use crate::bindings::transform::sluice::pipeline::types as wit;
use crate::error::{Call, GuestErrorKind, GuestStderr, StageError};
use crate::grants::Grants;
use crate::host::HostState;
use crate::limits::{deadline_ticks, StageLimits};
use crate::load::{GuestComponent, World};

/// A live instance: its store and the world's typed bindings.
pub(crate) struct Live<B> {
    pub(crate) store: Store<HostState>,
    pub(crate) bindings: B,
}

/// A stage's component, name, limits and grants.
pub(crate) struct Sandbox {
    pub(crate) component: Arc<GuestComponent>,
    pub(crate) stage: String,
    pub(crate) limits: StageLimits,
    pub(crate) grants: Grants,
}

impl Sandbox {
    /// # Panics
    ///
    /// When `component` is not of `world`: the world-specific instance
    /// types are only built from components loaded for their world.
    pub(crate) fn new(
        component: Arc<GuestComponent>,
        world: World,
        stage: &str,
        limits: StageLimits,
        grants: Grants,
    ) -> Self {
        assert!(
            component.world() == world,
            "component `{}` is a {} component, not a {world}",
            component.name,
            component.world()
        );
        Self {
            component,
            stage: stage.to_owned(),
            limits,
            grants,
        }
    }

    /// The outcome of a call on a live instance: the guest's value, its
    /// error (the instance stays), or a trap (the instance is dropped).
    pub(crate) fn settle<T, B>(
        &self,
        live: &mut Option<Live<B>>,
        call: Call,
        result: wasmtime::Result<Result<T, wit::Error>>,
    ) -> Result<T, StageError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.guest_error(call, error)),
            Err(error) => Err(self.discard(live, call, error)),
        }
    }

    /// A call trapped: drops the live instance and says why the call failed.
    pub(crate) fn discard<B>(
        &self,
        live: &mut Option<Live<B>>,
        call: Call,
        error: wasmtime::Error,
    ) -> StageError {
        let live = live.take();
        self.classify(call, error, live.as_ref().map(|live| &live.store))
    }

    /// A fresh store with the stage's limits, its deadline armed.
    pub(crate) fn new_store(&self) -> Store<HostState> {
        let state = HostState::new(&self.stage, self.grants.clone(), &self.limits);
        let mut store = Store::new(self.component.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        self.arm(&mut store);
        store
    }

    /// Gives the next call the stage's whole deadline.
    pub(crate) fn arm(&self, store: &mut Store<HostState>) {
        store.set_epoch_deadline(deadline_ticks(
            self.limits.deadline,
            self.component.ticker.tick,
        ));
    }

    pub(crate) fn name(&self) -> String {
        self.component.name.clone()
    }

    /// Instantiation failed: a trap (a guest constructor ran away) reads
    /// like any other; anything else is a host-side failure.
    pub(crate) fn instantiate_error(
        &self,
        call: Call,
        error: wasmtime::Error,
        store: &Store<HostState>,
    ) -> StageError {
        if error.downcast_ref::<Trap>().is_some() {
            self.classify(call, error, Some(store))
        } else {
            StageError::Instantiate {
                component: self.name(),
                reason: format!("{error:#}"),
            }
        }
    }

    /// The guest returned an error value; the instance stays usable.
    pub(crate) fn guest_error(&self, call: Call, error: wit::Error) -> StageError {
        StageError::Guest {
            component: self.name(),
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

    /// Tells a deadline, an out-of-memory and other traps apart.
    pub(crate) fn classify(
        &self,
        call: Call,
        error: wasmtime::Error,
        store: Option<&Store<HostState>>,
    ) -> StageError {
        let component = self.name();
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
        // The caller gets the error and decides (retry, dead-letter, stop)
        // and reports it; this is the host's trace of it.
        tracing::debug!(stage = %self.stage, error = %failure, "instance discarded");
        failure
    }
}
