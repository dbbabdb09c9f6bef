//! The two ways a component fails: it is refused at load time
//! ([`LoadError`]), or one call into it fails ([`StageError`]).
//!
//! Both carry what the operator needs to act: the file path for a refused
//! component, the component and the batch size for a failed call. A failed
//! call is never a panic and never takes the host down.

use std::path::PathBuf;
use std::time::Duration;

/// Why a `.wasm` file was not accepted as a component of the world asked for.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read component {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is a core Wasm module, not a component: build the guest for \
         `wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: PathBuf },
    #[error("{path} is not a Wasm component: {reason}")]
    NotComponent { path: PathBuf, reason: String },
    #[error(
        "{path} does not target the `{world}` world of {contract}: {reason}",
        contract = crate::CONTRACT
    )]
    WrongWorld {
        path: PathBuf,
        world: &'static str,
        reason: String,
    },
    #[error(
        "{path} was built against contract `{found}`, this host implements {expected}: \
         rebuild the guest with the matching SDK",
        expected = crate::CONTRACT
    )]
    ContractVersion { path: PathBuf, found: String },
    #[error("{path} cannot be linked against the host: {reason}")]
    Link { path: PathBuf, reason: String },
    #[error("component cache {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}

/// The kind of an error a guest returned, as the contract's `error-kind`
/// defines it; it decides what the pipeline does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestErrorKind {
    InvalidConfig,
    InvalidInput,
    Unavailable,
    PermissionDenied,
    Internal,
}

/// One call into a stage failed. The host keeps serving: after a trap,
/// deadline or out-of-memory the instance is discarded and the next call
/// gets a fresh one.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The guest returned `error { kind, message }`.
    #[error("component `{component}` failed {call}: {kind:?}: {message}")]
    Guest {
        component: String,
        call: Call,
        kind: GuestErrorKind,
        message: String,
    },
    /// The call ran past the stage's deadline and was interrupted.
    #[error(
        "component `{component}` exceeded its {deadline:?} deadline in {call}; \
         the instance was discarded (raise `limits.deadline` or make the stage cheaper)"
    )]
    Deadline {
        component: String,
        call: Call,
        deadline: Duration,
    },
    /// The guest asked for more linear memory than the stage's cap allows.
    #[error(
        "component `{component}` ran out of memory in {call}: it asked for {requested_bytes} bytes, \
         the cap is {memory_max_bytes}; the instance was discarded"
    )]
    OutOfMemory {
        component: String,
        call: Call,
        requested_bytes: usize,
        memory_max_bytes: usize,
    },
    /// Any other trap (a panic in the guest, `unreachable`, a stack overflow).
    #[error(
        "component `{component}` trapped in {call}; the instance was discarded: {trap}{stderr}"
    )]
    Trap {
        component: String,
        call: Call,
        trap: String,
        /// The tail of what the guest wrote to stderr (a Rust panic message).
        stderr: GuestStderr,
    },
    /// A record cannot be expressed in the contract's types.
    #[error("component `{component}` cannot be given record {index} of {call}: {reason}")]
    InvalidRecord {
        component: String,
        call: Call,
        index: usize,
        reason: String,
    },
    /// A fresh instance could not be created (after a trap, or at first use).
    #[error("component `{component}` cannot be instantiated: {reason}")]
    Instantiate { component: String, reason: String },
    /// A call other than the first (`init`, `open`) came before the first
    /// succeeded.
    #[error("component `{component}`: {call} called before {first} succeeded")]
    NotInitialized {
        component: String,
        call: Call,
        first: Call,
    },
}

impl StageError {
    /// True when the instance that produced this error was discarded.
    pub fn discarded_instance(&self) -> bool {
        matches!(
            self,
            StageError::Deadline { .. } | StageError::OutOfMemory { .. } | StageError::Trap { .. }
        )
    }
}

/// Which call failed, with the batch size where there is a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A transform's `init`.
    Init,
    /// A transform's `process`.
    Process { batch_len: usize },
    /// A source's or sink's `open`.
    Open,
    /// A source's `poll`.
    Poll { max_records: u32 },
    /// A source's `commit`.
    Commit,
    /// A sink's `write`.
    Write { batch_len: usize },
    /// A sink's `flush`.
    Flush,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let batch = |f: &mut std::fmt::Formatter<'_>, name: &str, len: usize| match len {
            1 => write!(f, "`{name}` of a batch of 1 record"),
            len => write!(f, "`{name}` of a batch of {len} records"),
        };
        match *self {
            Call::Init => f.write_str("`init`"),
            Call::Process { batch_len } => batch(f, "process", batch_len),
            Call::Open => f.write_str("`open`"),
            Call::Poll { max_records } => write!(f, "`poll` (up to {max_records} records)"),
            Call::Commit => f.write_str("`commit`"),
            Call::Write { batch_len } => batch(f, "write", batch_len),
            Call::Flush => f.write_str("`flush`"),
        }
    }
}

/// What a trapped guest last wrote to stderr, shown after the trap.
#[derive(Debug, Clone, Default)]
pub struct GuestStderr(pub String);

impl std::fmt::Display for GuestStderr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.trim();
        if text.is_empty() {
            Ok(())
        } else {
            write!(f, "\nguest stderr:\n{text}")
        }
    }
}
