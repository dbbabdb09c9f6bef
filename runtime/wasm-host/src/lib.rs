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
//! | [`load`] | reads a `.wasm` file, refuses what is not a component of the asked world and this contract version, links it once |
//! | [`inspect`] | describes a component without running it: worlds, contract version, grants its imports need |
//! | [`limits`] | per-stage memory cap, call deadline; the limiter that tells an out-of-memory apart from other traps |
//! | [`grants`] | what a stage may use beyond `log`; everything denied by default |
//! | [`state_store`] | the durable per-stage key-value store behind the `state` import |
//! | `host` | the store's state and the contract's imports (`http`, `sql`, `files`, `state`, `secrets`, `log`) |
//! | `instance` | what all instances share: a limited store per instantiation, failed calls → [`StageError`] |
//! | [`transform`] | one live transform instance: `init`, `process_batch`, re-instantiation after a trap |
//! | [`source`] | one live source instance: `open`, `poll`, `commit`, re-opening at the last commit after a trap |
//! | [`sink`] | one live sink instance: `open`, `write` (with rejected records), `flush` |
//! | `convert` | records between `sluice_types::Record` and the contract's `record` |
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
pub mod grants;
pub mod inspect;
pub mod limits;
pub mod load;
pub mod sink;
pub mod source;
pub mod state_store;
pub mod transform;

mod bindings;
mod convert;
mod host;
mod instance;
mod stderr;

pub use engine::{EngineConfig, WasmEngine};
pub use error::{Call, GuestErrorKind, LoadError, StageError};
pub use grants::{Grant, Grants, HttpOrigin, Secret};
pub use inspect::ComponentInfo;
pub use limits::StageLimits;
pub use load::{GuestComponent, TransformComponent, World};
pub use sink::{Rejected, SinkInstance};
pub use source::{SourceBatch, SourceInstance};
pub use state_store::{FileState, MemoryState, StateError, StateStore};
pub use transform::{Output, TransformInstance};

/// The contract this host implements; components built against another
/// version are refused at load time.
pub const CONTRACT: &str = "sluice:pipeline@0.1.0";
