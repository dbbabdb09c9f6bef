//! Each SDK's template (`sdk/<language>/template`, built by `cargo xtask
//! wasm` as `<language>-template.wasm`) is a working pass-through: what a
//! user copies to start a transform runs as it is.

mod support;

use std::time::Duration;

use bytes::Bytes;
use sluice_types::{Record, RecordHeader, Timestamp};
use sluice_wasm_host::{Grants, StageLimits, TransformInstance};

async fn passes_records_through(name: &str) {
    let component = support::load(name, |e, p| e.load_transform(p));
    // Interpreted guests carry their runtime in linear memory.
    let limits = StageLimits {
        memory_max_bytes: 256 << 20,
        deadline: Duration::from_secs(30),
        ..StageLimits::default()
    };
    let mut instance = TransformInstance::new(component, name, limits, Grants::none());
    instance
        .init("{}")
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut record = Record::new(
        Timestamp(1_700_000_000_123),
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static("{\"zoë\": 1}".as_bytes())),
    );
    record.headers.push(RecordHeader {
        key: Bytes::from_static(b"trace"),
        value: Some(Bytes::from_static(b"\x00\xff")),
    });
    let tombstone = Record::new(Timestamp(5), Some(Bytes::from_static(b"gone")), None);
    let outputs = instance
        .process_batch(vec![record.clone(), tombstone.clone()])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let records: Vec<Record> = outputs.iter().map(|o| o.record.clone()).collect();
    assert_eq!(records, [record, tombstone], "{name}");
    assert!(outputs.iter().all(|o| o.target.is_none()), "{name}");
    let empty = instance
        .process_batch(vec![])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(empty.is_empty(), "{name}");
}

#[tokio::test]
async fn the_python_template_passes_records_through() {
    passes_records_through("python-template").await;
}

#[tokio::test]
async fn the_js_template_passes_records_through() {
    passes_records_through("js-template").await;
}

#[tokio::test]
async fn the_c_template_passes_records_through() {
    passes_records_through("c-template").await;
}
