//! The store's state and the contract's imports.
//!
//! `log` is always granted and goes to `tracing` with the stage name.
//! `secrets`, `state`, `http`, `sql` and `files` are denied unless the
//! pipeline file grants them to the stage; today no grant can be given yet,
//! so each returns `error { kind: permission-denied }` naming the grant.
//! [`Grants`] is where granting will be added, one field per import.
//!
//! WASI p2 is linked only because Rust guests built for `wasm32-wasip2`
//! import it through `std`. Its context grants nothing: no preopened
//! directories, no environment, no arguments, no network, stdin empty,
//! stdout discarded, stderr's last few KiB kept and shown with a trap (a
//! guest's panic message).

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::sluice::pipeline::{files, http, log, secrets, sql, state, types};
use crate::bindings::Transform;
use crate::limits::{StageLimiter, StageLimits};
use crate::stderr::StderrTail;

/// How much of a guest's stderr is kept per instance (the newest bytes).
const STDERR_CAPACITY_BYTES: usize = 16 << 10;

/// A host import that needs a grant in the pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Secrets,
    State,
    Http,
    Sql,
    Files,
}

impl Grant {
    /// The key that grants it in a stage's table of the pipeline file.
    pub fn key(self) -> &'static str {
        match self {
            Grant::Secrets => "secrets",
            Grant::State => "state",
            Grant::Http => "http",
            Grant::Sql => "sql",
            Grant::Files => "files",
        }
    }

    /// An example of the grant, for error messages.
    fn example(self) -> &'static str {
        match self {
            Grant::Secrets => r#"secrets = ["name"]"#,
            Grant::State => "state = true",
            Grant::Http => r#"http = ["host:port"]"#,
            Grant::Sql => r#"sql = "dsn-name""#,
            Grant::Files => r#"files = "dir""#,
        }
    }
}

/// What a stage may use beyond `log`. Everything is denied by default.
///
/// Granting is not implemented yet: each import will get a field here
/// (allowed secret names, `host:port`s, a DSN name, a directory), checked
/// by its host function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grants {}

impl Grants {
    /// Whether the stage may use `grant`.
    pub fn allows(&self, grant: Grant) -> bool {
        match grant {
            Grant::Secrets | Grant::State | Grant::Http | Grant::Sql | Grant::Files => false,
        }
    }
}

/// The data of one instance's store.
pub struct HostState {
    /// The stage's name, on every log line and error the guest causes.
    pub(crate) stage: String,
    pub(crate) grants: Grants,
    pub(crate) limiter: StageLimiter,
    pub(crate) stderr: StderrTail,
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

    /// A grantable import that is not implemented yet, once granted.
    fn unimplemented(&self, function: &str) -> types::Error {
        types::Error {
            kind: types::ErrorKind::Unavailable,
            message: format!("`{function}` is not implemented by this host yet"),
        }
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

/// The linker every transform instance is created from: the contract's
/// imports and WASI p2.
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
    fn get(&mut self, _name: String) -> Result<String, types::Error> {
        self.check(Grant::Secrets, "secrets.get")?;
        Err(self.unimplemented("secrets.get"))
    }
}

impl state::Host for HostState {
    fn get(&mut self, _key: Vec<u8>) -> Result<Option<Vec<u8>>, types::Error> {
        self.check(Grant::State, "state.get")?;
        Err(self.unimplemented("state.get"))
    }

    fn set(&mut self, _key: Vec<u8>, _value: Vec<u8>) -> Result<(), types::Error> {
        self.check(Grant::State, "state.set")?;
        Err(self.unimplemented("state.set"))
    }

    fn delete(&mut self, _key: Vec<u8>) -> Result<(), types::Error> {
        self.check(Grant::State, "state.delete")?;
        Err(self.unimplemented("state.delete"))
    }
}

impl http::Host for HostState {
    fn send(&mut self, _request: http::Request) -> Result<http::Response, types::Error> {
        self.check(Grant::Http, "http.send")?;
        Err(self.unimplemented("http.send"))
    }
}

impl sql::Host for HostState {
    fn query(
        &mut self,
        _statement: String,
        _params: Vec<sql::Value>,
    ) -> Result<sql::Rows, types::Error> {
        self.check(Grant::Sql, "sql.query")?;
        Err(self.unimplemented("sql.query"))
    }

    fn execute(
        &mut self,
        _statement: String,
        _params: Vec<sql::Value>,
    ) -> Result<u64, types::Error> {
        self.check(Grant::Sql, "sql.execute")?;
        Err(self.unimplemented("sql.execute"))
    }
}

impl files::Host for HostState {
    fn read(&mut self, _path: String) -> Result<Vec<u8>, types::Error> {
        self.check(Grant::Files, "files.read")?;
        Err(self.unimplemented("files.read"))
    }

    fn write(&mut self, _path: String, _contents: Vec<u8>) -> Result<(), types::Error> {
        self.check(Grant::Files, "files.write")?;
        Err(self.unimplemented("files.write"))
    }

    fn list_dir(&mut self, _dir: String) -> Result<Vec<String>, types::Error> {
        self.check(Grant::Files, "files.list-dir")?;
        Err(self.unimplemented("files.list-dir"))
    }

    fn remove(&mut self, _path: String) -> Result<(), types::Error> {
        self.check(Grant::Files, "files.remove")?;
        Err(self.unimplemented("files.remove"))
    }
}
