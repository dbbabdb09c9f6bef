//! What the host's integration tests share: the engine, the guests built
//! by `cargo xtask wasm`, the `probe` guest's driver, and a real
//! PostgreSQL server.

#![allow(dead_code)]

pub mod postgres;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde_json::Value;
use sluice_types::{Record, Timestamp};
use sluice_wasm_host::{
    EngineConfig, Grants, GuestComponent, LoadError, StageLimits, TransformInstance, WasmEngine,
};

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

/// Runs each command through the `probe` guest (`plugins/probe`) with
/// `grants`, and returns its JSON results: `{"ok": …}` or
/// `{"error": {"kind", "message"}}`.
pub async fn probe(grants: Grants, commands: &[Value]) -> Vec<Value> {
    let component = load("probe", |e, p| e.load_transform(p));
    let mut instance = TransformInstance::new(component, "probe", StageLimits::default(), grants);
    instance.init("{}").await.unwrap_or_else(|e| panic!("{e}"));
    let records = commands
        .iter()
        .map(|c| Record::new(Timestamp(0), None, Some(Bytes::from(c.to_string()))))
        .collect();
    instance
        .process_batch(records)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|o| serde_json::from_slice(o.record.value.as_deref().unwrap()).unwrap())
        .collect()
}

/// Asserts that `result` is a permission-denied error whose message holds
/// `needle`.
pub fn denied(result: &Value, needle: &str) {
    assert_eq!(result["error"]["kind"], "permission-denied", "{result}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{message:?} should name {needle:?}"
    );
}
