//! What the host's integration tests share: the engine, the guests built
//! by `cargo xtask wasm`, and a real PostgreSQL server.

#![allow(dead_code)]

pub mod postgres;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sluice_wasm_host::{EngineConfig, GuestComponent, LoadError, WasmEngine};

/// One engine per test binary, as in the host process.
pub fn engine() -> &'static WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| WasmEngine::new(EngineConfig::default()).expect("engine"))
}

/// `target/wasm/<name>.wasm`, or `$SLUICE_WASM_DIR/<name>.wasm`; missing
/// fails the test with the command to run.
pub fn guest_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("SLUICE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "guest component {} is missing: run `cargo xtask wasm` (or set SLUICE_WASM_DIR)",
        path.display()
    );
    path
}

pub fn load(
    name: &str,
    load: impl FnOnce(&WasmEngine, PathBuf) -> Result<Arc<GuestComponent>, LoadError>,
) -> Arc<GuestComponent> {
    load(engine(), guest_path(name)).unwrap_or_else(|e| panic!("{e}"))
}
