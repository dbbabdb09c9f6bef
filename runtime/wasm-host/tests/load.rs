//! Loading refuses what is not a `transform` component of this contract
//! version, with an error naming the file and the reason; a dummy transform
//! loads, and its stubs trap without taking the host down.
//!
//! The fixtures are dummy components made by `fixtures/regen.sh`.

use std::path::{Path, PathBuf};

use sluice_types::{Record, Timestamp};
use sluice_wasm_host::{
    EngineConfig, LoadError, StageError, StageLimits, TransformInstance, WasmEngine,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn engine() -> WasmEngine {
    WasmEngine::new(EngineConfig::default()).expect("engine")
}

#[test]
fn core_module_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    // The smallest valid core module: header only.
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let error = engine().load_transform(&path).unwrap_err();
    assert!(
        matches!(&error, LoadError::CoreModule { path: p } if *p == path),
        "{error}"
    );
    assert!(error.to_string().contains("wasm32-wasip2"), "{error}");
}

#[test]
fn garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.wasm");
    std::fs::write(&path, b"this is not wasm").unwrap();
    let error = engine().load_transform(&path).unwrap_err();
    assert!(
        matches!(&error, LoadError::NotComponent { path: p, .. } if *p == path),
        "{error}"
    );
}

#[test]
fn truncated_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.wasm");
    let bytes = std::fs::read(fixture("dummy-transform.wasm")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = engine().load_transform(&path).unwrap_err();
    assert!(matches!(&error, LoadError::NotComponent { .. }), "{error}");
}

#[test]
fn missing_file_is_refused_with_its_path() {
    let error = engine().load_transform("/nonexistent/x.wasm").unwrap_err();
    assert!(matches!(&error, LoadError::Read { .. }), "{error}");
    assert!(error.to_string().contains("/nonexistent/x.wasm"), "{error}");
}

#[test]
fn component_of_another_world_is_refused() {
    let path = fixture("dummy-sink.wasm");
    let error = engine().load_transform(&path).unwrap_err();
    match &error {
        LoadError::WrongWorld {
            path: p,
            world,
            reason,
        } => {
            assert_eq!(*p, path);
            assert_eq!(*world, "transform");
            assert!(reason.contains("init, process"), "{reason}");
            assert!(reason.contains("open, write, flush"), "{reason}");
        }
        other => panic!("expected WrongWorld, got {other:?}"),
    }
}

#[test]
fn other_contract_version_is_refused() {
    let path = fixture("transform-next-version.wasm");
    let error = engine().load_transform(&path).unwrap_err();
    match &error {
        LoadError::ContractVersion { path: p, found } => {
            assert_eq!(*p, path);
            assert_eq!(found, "sluice:pipeline@0.2.0");
        }
        other => panic!("expected ContractVersion, got {other:?}"),
    }
    assert!(
        error.to_string().contains("sluice:pipeline@0.1.0"),
        "{error}"
    );
}

#[test]
fn dummy_transform_loads_once_per_digest() {
    let engine = engine();
    let first = engine
        .load_transform(fixture("dummy-transform.wasm"))
        .unwrap();
    let again = engine
        .load_transform(fixture("dummy-transform.wasm"))
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    assert_eq!(first.name(), "dummy-transform");
}

#[test]
fn compiled_component_cache_is_written_and_reused() {
    let cache = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..EngineConfig::default()
    };
    WasmEngine::new(config.clone())
        .unwrap()
        .load_transform(fixture("dummy-transform.wasm"))
        .unwrap();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].extension().unwrap(), "cwasm");
    let written = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();

    // A second engine (a restart) loads from the cache without rewriting it.
    WasmEngine::new(config)
        .unwrap()
        .load_transform(fixture("dummy-transform.wasm"))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&entries[0]).unwrap().modified().unwrap(),
        written
    );
}

#[tokio::test]
async fn dummy_stub_traps_and_the_host_serves_the_next_call() {
    let engine = engine();
    let component = engine
        .load_transform(fixture("dummy-transform.wasm"))
        .unwrap();
    let mut instance = TransformInstance::new(
        component,
        "dummy",
        StageLimits::default(),
        Default::default(),
    );

    for _ in 0..2 {
        let error = instance.init("{}").await.unwrap_err();
        assert!(
            matches!(&error, StageError::Trap { component, .. } if component == "dummy-transform"),
            "{error}"
        );
        assert!(error.discarded_instance());
    }
    let batch = vec![Record::new(Timestamp(1), None, Some("v".into()))];
    let error = instance.process_batch(batch).await.unwrap_err();
    assert!(
        matches!(error, StageError::NotInitialized { .. }),
        "{error}"
    );
}
