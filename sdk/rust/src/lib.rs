//! `sluice-guest`: write a Sluice transform in Rust as one trait impl and
//! one macro call.
//!
//! ```ignore
//! use sluice_guest::{Error, Output, Record, Transform};
//!
//! struct Passthrough;
//!
//! impl Transform for Passthrough {
//!     fn init(_config: &str) -> Result<Self, Error> {
//!         Ok(Passthrough)
//!     }
//!
//!     fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
//!         Ok(batch.into_iter().map(Output::to_default).collect())
//!     }
//! }
//!
//! sluice_guest::export_transform!(Passthrough);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the result is a
//! component of the `transform` world in `sdk/wit` (`cargo xtask wasm` builds
//! every plugin that way).
//!
//! The bindings are generated here from `sdk/wit`, the only source of the
//! contract; this crate adds the trait, the export glue, constructors for the
//! contract's types and a `log` helper. It holds no transform logic.
//!
//! On a native target the host imports are not linked: `log` writes to
//! stderr instead, and the other imports panic when called. Keep a plugin's
//! logic in plain functions so its unit tests run with `cargo test` on the
//! host.

pub mod bindings {
    //! The bindings `wit-bindgen` generates for the `transform` world.
    //! Plugins reach them through the re-exports at the crate root and
    //! [`host`](crate::host).
    wit_bindgen::generate!({
        path: "../wit",
        world: "transform",
        // Lets a plugin crate export the world through `export_transform!`.
        pub_export_macro: true,
        export_macro_name: "export_transform_world",
        additional_derives: [PartialEq],
    });
}

pub mod source_bindings {
    //! The `source` world's bindings; the shared types and imports are the
    //! ones in [`bindings`](crate::bindings).
    wit_bindgen::generate!({
        path: "../wit",
        world: "source",
        with: {
            "sluice:pipeline/types@0.1.0": crate::bindings::sluice::pipeline::types,
            "sluice:pipeline/log@0.1.0": crate::bindings::sluice::pipeline::log,
            "sluice:pipeline/secrets@0.1.0": crate::bindings::sluice::pipeline::secrets,
            "sluice:pipeline/state@0.1.0": crate::bindings::sluice::pipeline::state,
            "sluice:pipeline/http@0.1.0": crate::bindings::sluice::pipeline::http,
            "sluice:pipeline/sql@0.1.0": crate::bindings::sluice::pipeline::sql,
            "sluice:pipeline/files@0.1.0": crate::bindings::sluice::pipeline::files,
        },
        pub_export_macro: true,
        export_macro_name: "export_source_world",
        additional_derives: [PartialEq],
    });
}

pub mod sink_bindings {
    //! The `sink` world's bindings; the shared types and imports are the
    //! ones in [`bindings`](crate::bindings).
    wit_bindgen::generate!({
        path: "../wit",
        world: "sink",
        with: {
            "sluice:pipeline/types@0.1.0": crate::bindings::sluice::pipeline::types,
            "sluice:pipeline/log@0.1.0": crate::bindings::sluice::pipeline::log,
            "sluice:pipeline/secrets@0.1.0": crate::bindings::sluice::pipeline::secrets,
            "sluice:pipeline/state@0.1.0": crate::bindings::sluice::pipeline::state,
            "sluice:pipeline/http@0.1.0": crate::bindings::sluice::pipeline::http,
            "sluice:pipeline/sql@0.1.0": crate::bindings::sluice::pipeline::sql,
            "sluice:pipeline/files@0.1.0": crate::bindings::sluice::pipeline::files,
        },
        pub_export_macro: true,
        export_macro_name: "export_sink_world",
        additional_derives: [PartialEq],
    });
}

mod export;
mod export_connectors;
mod types;

pub use bindings::sluice::pipeline::types::Rejected;
pub use source_bindings::Batch;

pub use bindings::sluice::pipeline::log::Level;
pub use bindings::sluice::pipeline::types::{Error, ErrorKind, Header, Origin, Output, Record};

/// The host's imports other than `log`. Each works only when the pipeline
/// file grants it to the stage; otherwise it returns an error of kind
/// `permission-denied` that names the missing grant.
pub mod host {
    pub use crate::bindings::sluice::pipeline::{files, http, secrets, sql, state};
}

/// A transform: built once from the stage's config, then called once per
/// batch.
///
/// The host drives one instance per stage; `process` is never called before
/// `init` succeeded, and never concurrently.
pub trait Transform: Sized + Send + 'static {
    /// Builds the transform from the stage's `config` table (JSON text).
    ///
    /// # Errors
    ///
    /// An error of kind `invalid-config` (see [`Error::invalid_config`])
    /// stops the pipeline before it starts.
    fn init(config: &str) -> Result<Self, Error>;

    /// Turns one batch into outputs: it may drop, change, split or route
    /// records.
    ///
    /// # Errors
    ///
    /// An error fails the whole batch; its kind decides what the host does
    /// (dead-letter for `invalid-input`, retry for `unavailable`).
    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error>;
}

/// Writes a message into the host's log, tagged with the pipeline and
/// stage. Always granted. Call it per batch, not per record.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::sluice::pipeline::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{level:?}: {message}");
}

/// A source connector: opened once with its config and the last committed
/// checkpoint, then polled for batches.
pub trait Source: Sized + Send + 'static {
    /// Opens the source, resuming after `checkpoint` (`None` on the first
    /// run).
    ///
    /// # Errors
    ///
    /// `invalid-config` stops the pipeline; `unavailable` is retried.
    fn open(config: &str, checkpoint: Option<Vec<u8>>) -> Result<Self, Error>;

    /// Returns up to `max_records` records and the checkpoint after them;
    /// an empty batch when nothing is available yet.
    ///
    /// # Errors
    ///
    /// `unavailable` is retried with backoff.
    fn poll(&mut self, max_records: u32) -> Result<Batch, Error>;

    /// Everything up to `checkpoint` is durable in the log: acknowledge it
    /// upstream (advance a replication slot, delete a consumed file).
    ///
    /// # Errors
    ///
    /// The checkpoint still counts as committed; the error is logged.
    fn commit(&mut self, checkpoint: Vec<u8>) -> Result<(), Error>;
}

/// A sink connector: opened once with its config, then given batches to
/// write and asked to flush.
pub trait Sink: Sized + Send + 'static {
    /// # Errors
    ///
    /// `invalid-config` stops the pipeline; `unavailable` is retried.
    fn open(config: &str) -> Result<Self, Error>;

    /// Writes one batch; returns the records refused (by index, with a
    /// reason), which go to the dead-letter topic.
    ///
    /// # Errors
    ///
    /// An error fails the whole batch (`unavailable` is retried).
    fn write(&mut self, batch: Vec<Record>) -> Result<Vec<Rejected>, Error>;

    /// Makes everything written durable; the host commits the batches'
    /// offsets only after this succeeds.
    ///
    /// # Errors
    ///
    /// The batches since the last flush are written again.
    fn flush(&mut self) -> Result<(), Error>;
}

#[doc(hidden)]
pub mod __private {
    pub use crate::export::Exports;
    pub use crate::export_connectors::{SinkExports, SourceExports};
}

/// Exports a [`Source`] implementation as the component's `open`, `poll`
/// and `commit`. Call it once, at the connector crate's root.
#[macro_export]
macro_rules! export_source {
    ($ty:ty) => {
        // Only a Wasm build exports the world: natively (a plugin's unit
        // tests) the exports' plain names (`open`, `write`, `flush`) would
        // replace the C library's functions of the same names. There, the
        // impl's functions are only named, so they count as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::Source>::open;
            let _ = <$ty as $crate::Source>::poll;
            let _ = <$ty as $crate::Source>::commit;
        };
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __SluiceSourceExports = $crate::__private::SourceExports<$ty>;
        #[cfg(target_arch = "wasm32")]
        $crate::source_bindings::export_source_world!(
            __SluiceSourceExports with_types_in $crate::source_bindings
        );
    };
}

/// Exports a [`Sink`] implementation as the component's `open`, `write`
/// and `flush`. Call it once, at the connector crate's root.
#[macro_export]
macro_rules! export_sink {
    ($ty:ty) => {
        // Only a Wasm build exports the world: natively (a plugin's unit
        // tests) the exports' plain names (`open`, `write`, `flush`) would
        // replace the C library's functions of the same names. There, the
        // impl's functions are only named, so they count as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::Sink>::open;
            let _ = <$ty as $crate::Sink>::write;
            let _ = <$ty as $crate::Sink>::flush;
        };
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __SluiceSinkExports = $crate::__private::SinkExports<$ty>;
        #[cfg(target_arch = "wasm32")]
        $crate::sink_bindings::export_sink_world!(
            __SluiceSinkExports with_types_in $crate::sink_bindings
        );
    };
}

/// Exports a [`Transform`] implementation as the component's `init` and
/// `process`. Call it once, at the plugin crate's root.
#[macro_export]
macro_rules! export_transform {
    ($ty:ty) => {
        // Only a Wasm build exports the world: natively (a plugin's unit
        // tests) the exports' plain names (`open`, `write`, `flush`) would
        // replace the C library's functions of the same names. There, the
        // impl's functions are only named, so they count as used.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::Transform>::init;
            let _ = <$ty as $crate::Transform>::process;
        };
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __SluiceTransformExports = $crate::__private::Exports<$ty>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_transform_world!(
            __SluiceTransformExports with_types_in $crate::bindings
        );
    };
}
