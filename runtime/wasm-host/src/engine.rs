//! The process's one wasmtime [`Engine`], its epoch ticker, and the on-disk
//! cache of compiled components.
//!
//! One engine per process: compiled code, the linker and the instance
//! templates are shared by every stage. The engine runs with the component
//! model, async calls (a stage's call runs on a fiber the pipeline's task
//! can await; wasmtime 48 enables them with the `async` feature) and epoch
//! interruption; a ticker thread advances the epoch
//! every [`EngineConfig::epoch_tick`], which is what enforces call deadlines.
//!
//! Compiling a component with Cranelift takes seconds on two cores, so the
//! compiled artifact is written to `cache_dir` under a key made of the wasm
//! bytes' SHA-256 and the engine's compatibility hash (wasmtime version and
//! settings). A restart deserializes it instead of recompiling; an entry the
//! engine rejects is recompiled and overwritten.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::error::LoadError;
use crate::host::HostState;
use crate::load::{GuestComponent, World};

/// Engine-wide settings; per-stage settings are [`crate::StageLimits`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where compiled components are kept across restarts; `None` compiles
    /// every time.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances: the resolution of call deadlines.
    pub epoch_tick: Duration,
    /// Largest wasm stack a call may use, in bytes. Engine-wide because
    /// wasmtime sets it on the `Config`.
    pub max_wasm_stack_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(10),
            // wasmtime's own default; the async fiber stack (2 MiB) stays
            // above it as wasmtime requires.
            max_wasm_stack_bytes: 512 << 10,
        }
    }
}

/// The shared engine, its linker, and the components loaded so far.
pub struct WasmEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: EngineConfig,
    /// Loaded components by digest of their wasm bytes and world, so a
    /// component used by several stages is compiled and linked once.
    pub(crate) loaded: Mutex<HashMap<(String, World), Arc<GuestComponent>>>,
    /// Shared with every loaded component: deadlines keep working while any
    /// instance is alive, even after this struct is dropped.
    pub(crate) ticker: Arc<Ticker>,
}

impl WasmEngine {
    /// Builds the engine and the linker and starts the epoch ticker.
    pub fn new(config: EngineConfig) -> wasmtime::Result<Self> {
        let mut wasm_config = Config::new();
        wasm_config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack_bytes);
        let engine = Engine::new(&wasm_config)?;
        let linker = crate::host::linker(&engine)?;

        let ticker = Arc::new(Ticker::start(&engine, config.epoch_tick)?);
        Ok(Self {
            engine,
            linker,
            config,
            loaded: Mutex::new(HashMap::new()),
            ticker,
        })
    }

    /// The underlying wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes`, or reads the compiled form from the cache.
    pub(crate) fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
        digest: &str,
    ) -> Result<Component, LoadError> {
        let compile = || {
            Component::new(&self.engine, bytes).map_err(|e| LoadError::NotComponent {
                path: path.to_owned(),
                reason: format!("{e:#}"),
            })
        };
        let Some(cache_dir) = &self.config.cache_dir else {
            return compile();
        };
        let entry = cache_dir.join(format!("{digest}-{}.cwasm", self.compatibility_key()));
        if entry.is_file() {
            // SAFETY: `cache_dir` belongs to this host and only ever holds
            // artifacts this function wrote from `Component::serialize`;
            // wasmtime still checks the header and engine compatibility and
            // refuses an entry from another version or configuration.
            match unsafe { Component::deserialize_file(&self.engine, &entry) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(
                    entry = %entry.display(), error = %format!("{e:#}"),
                    "compiled-component cache entry refused; recompiling"
                ),
            }
        }
        let component = compile()?;
        let cache_error = |reason: String| LoadError::Cache {
            path: entry.clone(),
            reason,
        };
        let serialized = component
            .serialize()
            .map_err(|e| cache_error(format!("cannot serialize: {e:#}")))?;
        std::fs::create_dir_all(cache_dir).map_err(|e| cache_error(e.to_string()))?;
        // Write then rename, so a crash never leaves a torn entry under the
        // final name.
        let partial = entry.with_extension("cwasm.partial");
        std::fs::write(&partial, &serialized).map_err(|e| cache_error(e.to_string()))?;
        std::fs::rename(&partial, &entry).map_err(|e| cache_error(e.to_string()))?;
        Ok(component)
    }

    /// A short key for the engine's version and settings.
    fn compatibility_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// The thread that advances the engine's epoch; stops when dropped.
pub(crate) struct Ticker {
    pub(crate) tick: Duration,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> std::io::Result<Self> {
        let engine = engine.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("sluice-wasm-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(Self {
            tick,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread wakes within one tick; a panic there only means
            // the epoch stopped advancing, which no longer matters.
            let _ = thread.join();
        }
    }
}

/// The hex SHA-256 of a component's bytes: its identity for caching.
pub(crate) fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    hash.iter().map(|b| format!("{b:02x}")).collect()
}
