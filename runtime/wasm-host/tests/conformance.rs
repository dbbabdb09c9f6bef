//! The four `mask` implementations agree to the byte.
//!
//! Every case of `tests/conformance/mask/cases.json` (unicode, nested
//! objects, numbers as written, values that are not JSON objects, empty
//! batches) runs through `mask.wasm` (Rust, the reference) and through
//! `mask-py.wasm`, `mask-js.wasm` and `mask-c.wasm`: one `process` call per
//! batch, empty batches included. Each output record (key, value, headers,
//! timestamp, target) must equal the reference's, byte for byte. The
//! reference's own correctness is covered by its unit tests
//! (`plugins/mask`); the behaviour is specified in `plugins/README.md`.
//!
//! Components come from `cargo xtask wasm` (→ `target/wasm/`), or from
//! `SLUICE_WASM_DIR`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use sluice_types::{Record, RecordHeader, Timestamp};
use sluice_wasm_host::{
    EngineConfig, Grants, Output, StageLimits, TransformComponent, TransformInstance, WasmEngine,
};

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    config: serde_json::Value,
    batches: Vec<Vec<FixtureRecord>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureRecord {
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    value_hex: Option<String>,
    headers: Vec<FixtureHeader>,
    timestamp: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureHeader {
    key: String,
    value: Option<String>,
}

impl FixtureRecord {
    fn record(&self) -> Record {
        let value = match (&self.value, &self.value_hex) {
            (_, Some(hex)) => Some(Bytes::from(decode_hex(hex))),
            (Some(text), None) => Some(Bytes::from(text.clone().into_bytes())),
            (None, None) => None,
        };
        let mut record = Record::new(
            Timestamp(self.timestamp),
            self.key.clone().map(|k| Bytes::from(k.into_bytes())),
            value,
        );
        record.headers = self
            .headers
            .iter()
            .map(|h| RecordHeader {
                key: Bytes::from(h.key.clone().into_bytes()),
                value: h.value.clone().map(|v| Bytes::from(v.into_bytes())),
            })
            .collect();
        record
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("fixture hex"))
        .collect()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases() -> Vec<Case> {
    let path = repo_root().join("tests/conformance/mask/cases.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn engine() -> &'static WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let cache_dir = repo_root().join("target/wasm-cache");
        WasmEngine::new(EngineConfig {
            cache_dir: Some(cache_dir),
            ..EngineConfig::default()
        })
        .expect("engine")
    })
}

fn component(name: &str) -> Arc<TransformComponent> {
    let dir = std::env::var_os("SLUICE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/wasm"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "guest component {} is missing: run `cargo xtask wasm` (or set SLUICE_WASM_DIR)",
        path.display()
    );
    engine()
        .load_transform(&path)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Interpreted guests (Python, JavaScript) carry their runtime in linear
/// memory and start slower than compiled ones.
fn limits() -> StageLimits {
    StageLimits {
        memory_max_bytes: 256 << 20,
        deadline: Duration::from_secs(30),
        ..StageLimits::default()
    }
}

/// Runs every case through `name`: per case, the outputs of each batch.
async fn run_all(name: &str) -> Vec<(String, Vec<Vec<Output>>)> {
    let component = component(name);
    let mut results = Vec::new();
    for case in cases() {
        let mut instance =
            TransformInstance::new(Arc::clone(&component), name, limits(), Grants::default());
        instance
            .init(&case.config.to_string())
            .await
            .unwrap_or_else(|e| panic!("{name}: case {:?}: init: {e}", case.name));
        let mut outputs = Vec::new();
        for batch in &case.batches {
            let records = batch.iter().map(FixtureRecord::record).collect();
            outputs.push(
                instance
                    .process_batch(records)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: case {:?}: {e}", case.name)),
            );
        }
        results.push((case.name, outputs));
    }
    results
}

fn show(bytes: &Option<Bytes>) -> String {
    match bytes {
        None => "null".into(),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => format!("{text:?}"),
            Err(_) => format!("{bytes:?}"),
        },
    }
}

async fn assert_matches_reference(name: &str) {
    let reference = run_all("mask").await;
    let other = run_all(name).await;
    let mut mismatches = Vec::new();
    for ((case, expected), (_, got)) in reference.iter().zip(&other) {
        for (batch, (expected, got)) in expected.iter().zip(got).enumerate() {
            if expected.len() != got.len() {
                mismatches.push(format!(
                    "case {case:?} batch {batch}: {} outputs, reference has {}",
                    got.len(),
                    expected.len()
                ));
                continue;
            }
            for (index, (expected, got)) in expected.iter().zip(got).enumerate() {
                if expected != got {
                    mismatches.push(format!(
                        "case {case:?} batch {batch} record {index}:\n  reference value {}\n  {name} value {}\n  (keys {} / {}, targets {:?} / {:?}, headers equal: {})",
                        show(&expected.record.value),
                        show(&got.record.value),
                        show(&expected.record.key),
                        show(&got.record.key),
                        expected.target,
                        got.target,
                        expected.record.headers == got.record.headers,
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name} differs from the reference mask in {} place(s):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The fixtures exercise what they claim: some values are masked, some
/// pass unchanged, and some batches are empty.
#[tokio::test]
async fn fixtures_cover_masked_unchanged_and_empty() {
    let reference = run_all("mask").await;
    let cases = cases();
    let (mut changed, mut unchanged, mut empty) = (0, 0, 0);
    for ((_, outputs), case) in reference.iter().zip(&cases) {
        for (batch, input) in outputs.iter().zip(&case.batches) {
            if input.is_empty() {
                empty += 1;
            }
            assert_eq!(batch.len(), input.len(), "mask emits one output per record");
            for (output, record) in batch.iter().zip(input) {
                if output.record.value == record.record().value {
                    unchanged += 1;
                } else {
                    changed += 1;
                }
            }
        }
    }
    assert!(changed >= 10, "{changed} masked values");
    assert!(unchanged >= 10, "{unchanged} unchanged values");
    assert!(empty >= 3, "{empty} empty batches");
}

#[tokio::test]
async fn mask_py_matches_the_reference() {
    assert_matches_reference("mask-py").await;
}

#[tokio::test]
async fn mask_js_matches_the_reference() {
    assert_matches_reference("mask-js").await;
}

#[tokio::test]
async fn mask_c_matches_the_reference() {
    assert_matches_reference("mask-c").await;
}
