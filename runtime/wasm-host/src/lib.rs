//! Runs Sluice's Wasm components: engine, contract bindings, host imports,
//! limits.
//!
//! Architecture row: `runtime/wasm-host` → `sluice-wasm-host` depends on
//! `sluice-types` and wasmtime only, never on storage, protocol or broker.
//! The guest contract is `sdk/wit/` (`sluice:pipeline@0.1.0`); this crate
//! generates its host side with `bindgen!` and nothing else defines it.
//!
//! | module | one job |
//! |---|---|
//! | [`engine`] | the process's one wasmtime `Engine`, its epoch ticker and the on-disk compiled-component cache |
//! | [`load`] | reads a `.wasm` file, refuses what is not a `transform` component of this contract version, links it once |
//! | [`limits`] | per-stage memory cap, call deadline; the limiter that tells an out-of-memory apart from other traps |
//! | [`host`] | the store's state and the contract's imports: `log` to `tracing`, everything else denied unless granted |
//! | [`transform`] | one live transform instance: `init`, `process_batch`, re-instantiation after a trap |
//! | `stderr` | the last few KiB a guest wrote to stderr, shown with its trap |
//! | [`error`] | [`LoadError`] (the component is refused) and [`StageError`] (one call failed) |
//!
//! A record's way through: the pipeline hands [`TransformInstance::process_batch`]
//! a `Vec<sluice_types::Record>`; it is converted to the WIT `record` list,
//! passed in one call to the guest's `process` under the stage's deadline and
//! memory cap, and the returned `output` list is converted back to
//! [`Output`]s. Any trap discards the instance; the next batch gets a fresh
//! one, so a misbehaving guest fails its batch and never the host.

pub mod engine;
pub mod error;
pub mod host;
pub mod limits;
pub mod load;
pub mod transform;

mod bindings;
mod stderr;

pub use engine::{EngineConfig, WasmEngine};
pub use error::{Call, GuestErrorKind, LoadError, StageError};
pub use host::{Grant, Grants};
pub use limits::StageLimits;
pub use load::TransformComponent;
pub use transform::{Output, TransformInstance};

/// The contract this host implements; components built against another
/// version are refused at load time.
pub const CONTRACT: &str = "sluice:pipeline@0.1.0";
