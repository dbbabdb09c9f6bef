//! The store's state and the contract's imports.
//!
//! `log` is always granted and goes to `tracing` with the stage name.
//! `secrets`, `state`, `http`, `sql` and `files` work only with their grant
//! ([`Grants`]); without it each returns `error { kind: permission-denied }`
//! naming the grant and how to add it. One module per import:
//!
//! | module | import | served by |
//! |---|---|---|
//! | `http` | `http.send` | reqwest, to granted `host:port`s only, no redirects |
//! | `sql` | `sql.query`, `sql.execute` | tokio-postgres, one connection per instance to the granted DSN |
//! | `files` | `files.*` | `std::fs` under the granted directory; paths cannot leave it |
//! | `state` | `state.*` | the stage's [`StateStore`](crate::StateStore) |
//! | here | `log`, `secrets.get` | `tracing`; the granted secret values |
//!
//! WASI p2 is linked only because guests built for `wasm32-wasip2` (and the
//! Python, JavaScript and C runtimes) import it through their standard
//! libraries. Its context grants nothing: no preopened directories, no
//! environment, no arguments, no network, stdin empty, stdout discarded,
//! stderr's last few KiB kept and shown with a trap (a guest's panic
//! message).

mod files;
mod http;
mod sql;
mod state;

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::transform::sluice::pipeline::{log, secrets, types};
use crate::bindings::transform::Transform;
use crate::grants::{Grant, Grants};
use crate::limits::{StageLimiter, StageLimits};
use crate::stderr::StderrTail;

/// How much of a guest's stderr is kept per instance (the newest bytes).
const STDERR_CAPACITY_BYTES: usize = 16 << 10;

/// The data of one instance's store.
pub struct HostState {
    /// The stage's name, on every log line and error the guest causes.
    pub(crate) stage: String,
    pub(crate) grants: Grants,
    pub(crate) limiter: StageLimiter,
    pub(crate) stderr: StderrTail,
    /// The stage's call deadline: the default timeout of `http.send`.
    pub(crate) deadline: Duration,
    /// The stage's PostgreSQL connection, opened on first use.
    pub(crate) sql: Option<sql::Connection>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub(crate) fn new(stage: &str, grants: Grants, limits: &StageLimits) -> Self {
        let stderr = StderrTail::new(STDERR_CAPACITY_BYTES);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            stage: stage.to_owned(),
            grants,
            limiter: StageLimiter::new(limits),
            stderr,
            deadline: limits.deadline,
            sql: None,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// `Ok` when the stage holds `grant`, else the permission-denied error
    /// naming it.
    fn check(&self, grant: Grant, function: &str) -> Result<(), types::Error> {
        if self.grants.allows(grant) {
            return Ok(());
        }
        tracing::debug!(stage = %self.stage, function, grant = grant.key(), "import denied");
        Err(types::Error {
            kind: types::ErrorKind::PermissionDenied,
            message: format!(
                "`{function}` needs the `{key}` grant for stage `{stage}`: add `{example}` \
                 to the stage in the pipeline file",
                key = grant.key(),
                stage = self.stage,
                example = grant.example(),
            ),
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker every instance is created from, whatever its world: the
/// contract's imports (the same interfaces in all three worlds) and WASI p2.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Transform::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let stage = self.stage.as_str();
        match level {
            log::Level::Trace => tracing::trace!(target: "sluice::guest", stage, "{message}"),
            log::Level::Debug => tracing::debug!(target: "sluice::guest", stage, "{message}"),
            log::Level::Info => tracing::info!(target: "sluice::guest", stage, "{message}"),
            log::Level::Warn => tracing::warn!(target: "sluice::guest", stage, "{message}"),
            log::Level::Error => tracing::error!(target: "sluice::guest", stage, "{message}"),
        }
    }
}

impl secrets::Host for HostState {
    fn get(&mut self, name: String) -> Result<String, types::Error> {
        self.check(Grant::Secrets, "secrets.get")?;
        match self.grants.secret(&name) {
            Some(secret) => Ok(secret.expose().to_owned()),
            None => Err(types::Error {
                kind: types::ErrorKind::PermissionDenied,
                message: format!(
                    "`secrets.get`: stage `{stage}` is not granted the secret `{name}` \
                     (granted: {granted}); add it under `grants.secrets` in the pipeline file",
                    stage = self.stage,
                    granted = self.grants.secret_names().collect::<Vec<_>>().join(", "),
                ),
            }),
        }
    }
}
