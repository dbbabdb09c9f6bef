//! The host against the real guests in `plugins/`: a batch round-trips
//! through `passthrough`; `misbehave` in each mode is stopped by the right
//! limit and the host keeps serving; a bad config and an unrepresentable
//! record are refused with the right error.
//!
//! The components come from `cargo xtask wasm` (→ `target/wasm/<name>.wasm`),
//! or from the directory in `SLUICE_WASM_DIR`. A missing component fails the
//! test with the command to run.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_types::{Record, RecordHeader, Timestamp, TopicPartition};
use sluice_wasm_host::{
    Call, Grants, GuestErrorKind, StageError, StageLimits, TransformComponent, TransformInstance,
    WasmEngine,
};

fn guest(engine: &WasmEngine, name: &str) -> Arc<TransformComponent> {
    engine
        .load_transform(support::guest_path(name))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn engine() -> &'static WasmEngine {
    support::engine()
}

fn batch(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut record = Record::new(
                Timestamp(1_700_000_000_000 + i as i64),
                (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
                (i % 3 != 0).then(|| Bytes::from(format!("value-{i}"))),
            );
            record.headers.push(RecordHeader {
                key: Bytes::from_static(b"trace"),
                value: Some(Bytes::from(vec![i as u8, 0, 255])),
            });
            record
        })
        .collect()
}

async fn misbehave(engine: &WasmEngine, mode: &str, limits: StageLimits) -> TransformInstance {
    let mut instance = TransformInstance::new(
        guest(engine, "misbehave"),
        "misbehave",
        limits,
        Grants::default(),
    );
    instance
        .init(&format!(r#"{{"mode": "{mode}"}}"#))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    instance
}

#[tokio::test]
async fn batch_round_trips_through_passthrough() {
    let engine = engine();
    let mut instance = TransformInstance::new(
        guest(engine, "passthrough"),
        "pass",
        StageLimits::default(),
        Grants::default(),
    );
    instance.init("{}").await.unwrap();
    let input = batch(100);
    let tp = TopicPartition::new("orders", 3);
    let outputs = instance
        .process_batch_from(Some(&tp), input.clone())
        .await
        .unwrap();
    assert_eq!(outputs.len(), input.len());
    for (output, record) in outputs.iter().zip(&input) {
        assert_eq!(output.target, None);
        assert_eq!(output.record.key, record.key);
        assert_eq!(output.record.value, record.value);
        assert_eq!(output.record.headers, record.headers);
        assert_eq!(output.record.timestamp, record.timestamp);
    }
    // An empty batch is a batch too.
    assert!(instance.process_batch(Vec::new()).await.unwrap().is_empty());
}

#[tokio::test]
async fn loop_is_interrupted_within_its_deadline() {
    let engine = engine();
    let limits = StageLimits {
        deadline: Duration::from_millis(200),
        ..StageLimits::default()
    };
    let mut instance = misbehave(engine, "loop", limits).await;
    let started = Instant::now();
    let error = instance.process_batch(batch(3)).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, StageError::Deadline { .. }), "{error}");
    assert!(error.to_string().contains("batch of 3 records"), "{error}");
    // One epoch tick (10 ms) of slack, plus scheduling on a busy machine.
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(600), "{elapsed:?}");
}

#[tokio::test]
async fn oom_stops_at_the_memory_cap() {
    let engine = engine();
    let limits = StageLimits {
        memory_max_bytes: 16 << 20,
        ..StageLimits::default()
    };
    let mut instance = misbehave(engine, "oom", limits).await;
    let error = instance.process_batch(batch(1)).await.unwrap_err();
    match &error {
        StageError::OutOfMemory {
            requested_bytes,
            memory_max_bytes,
            ..
        } => {
            assert_eq!(*memory_max_bytes, 16 << 20);
            assert!(*requested_bytes > 16 << 20, "{error}");
        }
        other => panic!("expected OutOfMemory, got {other}"),
    }
}

#[tokio::test]
async fn trap_leaves_the_host_serving_the_next_batch() {
    let engine = engine();
    let mut trapping = misbehave(engine, "trap", StageLimits::default()).await;
    for _ in 0..2 {
        let error = trapping.process_batch(batch(5)).await.unwrap_err();
        assert!(matches!(error, StageError::Trap { .. }), "{error}");
        let text = error.to_string();
        assert!(
            text.contains("`misbehave`") && text.contains("batch of 5 records"),
            "{text}"
        );
        // The guest's panic message reaches the error through its stderr.
        assert!(text.contains("trap on purpose"), "{text}");
    }
    // The same engine keeps serving other stages.
    let mut pass = TransformInstance::new(
        guest(engine, "passthrough"),
        "pass",
        StageLimits::default(),
        Grants::default(),
    );
    pass.init("{}").await.unwrap();
    assert_eq!(pass.process_batch(batch(2)).await.unwrap().len(), 2);
}

#[tokio::test]
async fn http_without_grant_is_permission_denied_naming_the_grant() {
    let engine = engine();
    let mut instance = misbehave(engine, "http", StageLimits::default()).await;
    let error = instance.process_batch(batch(1)).await.unwrap_err();
    match &error {
        StageError::Guest { kind, message, .. } => {
            assert_eq!(*kind, GuestErrorKind::PermissionDenied);
            assert!(message.contains("`http` grant"), "{message}");
            assert!(message.contains("stage `misbehave`"), "{message}");
        }
        other => panic!("expected a permission-denied guest error, got {other}"),
    }
    assert!(!error.discarded_instance());
}

#[tokio::test]
async fn bad_config_is_an_invalid_config_error_from_init() {
    let engine = engine();
    let mut instance = TransformInstance::new(
        guest(engine, "misbehave"),
        "misbehave",
        StageLimits::default(),
        Grants::default(),
    );
    let error = instance.init(r#"{"mode": "dance"}"#).await.unwrap_err();
    match &error {
        StageError::Guest { kind, call, .. } => {
            assert_eq!(*kind, GuestErrorKind::InvalidConfig);
            assert_eq!(*call, Call::Init);
        }
        other => panic!("expected an invalid-config guest error, got {other}"),
    }
    // Without a successful init there is nothing to replay: batches are refused.
    let error = instance.process_batch(batch(1)).await.unwrap_err();
    assert!(
        matches!(error, StageError::NotInitialized { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn non_utf8_header_key_is_refused_before_the_call() {
    let engine = engine();
    let mut instance = TransformInstance::new(
        guest(engine, "passthrough"),
        "pass",
        StageLimits::default(),
        Grants::default(),
    );
    instance.init("{}").await.unwrap();
    let mut records = batch(3);
    records[2].headers.push(RecordHeader {
        key: Bytes::from_static(b"\xff\xfe"),
        value: None,
    });
    let error = instance.process_batch(records).await.unwrap_err();
    assert!(
        matches!(error, StageError::InvalidRecord { index: 2, .. }),
        "{error}"
    );
    assert!(!error.discarded_instance());
    assert_eq!(instance.process_batch(batch(3)).await.unwrap().len(), 3);
}
