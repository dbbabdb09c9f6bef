//! The `source` and `sink` worlds, and what `inspect` tells about a
//! component, against the test guests `probe-source` and `probe-sink`.

mod support;

use std::sync::Arc;

use bytes::Bytes;
use sluice_types::{Offset, Record, Timestamp, TopicPartition};
use sluice_wasm_host::{
    Grant, Grants, LoadError, MemoryState, SinkInstance, SourceInstance, StageError, StageLimits,
    StateStore, World,
};

fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_source_polls_batches_with_checkpoints_and_resumes_after_its_commit() {
    let component = support::load("probe-source", |e, p| e.load_source(p));
    let state = Arc::new(MemoryState::default());
    let grants = Grants::none().with_state(state.clone());
    let mut source = SourceInstance::new(
        component.clone(),
        "counter",
        StageLimits::default(),
        grants.clone(),
    );
    source
        .open(r#"{"records": 5, "use_state": true}"#, None)
        .await
        .unwrap();

    let batch = source.poll(3).await.unwrap();
    assert_eq!(values(&batch.records), ["0", "1", "2"]);
    assert_eq!(batch.checkpoint.as_deref(), Some(&b"3"[..]));
    source.commit(batch.checkpoint.unwrap()).await.unwrap();
    assert_eq!(
        state.get(b"committed").unwrap(),
        Some(b"3".to_vec()),
        "commit reached the guest"
    );

    let batch = source.poll(3).await.unwrap();
    assert_eq!(values(&batch.records), ["3", "4"]);
    let batch = source.poll(3).await.unwrap();
    assert!(
        batch.records.is_empty() && batch.checkpoint.is_none(),
        "nothing more: an empty batch"
    );

    // A restart opens with the stored checkpoint.
    let mut restarted = SourceInstance::new(component, "counter", StageLimits::default(), grants);
    restarted
        .open(r#"{"records": 5}"#, Some(b"4".to_vec()))
        .await
        .unwrap();
    assert_eq!(values(&restarted.poll(10).await.unwrap().records), ["4"]);
}

#[tokio::test]
async fn a_trapped_source_is_reopened_at_its_last_commit() {
    let component = support::load("probe-source", |e, p| e.load_source(p));
    let mut source =
        SourceInstance::new(component, "counter", StageLimits::default(), Grants::none());
    source
        .open(r#"{"records": 10, "trap_at": 4}"#, None)
        .await
        .unwrap();
    let batch = source.poll(2).await.unwrap();
    source.commit(batch.checkpoint.unwrap()).await.unwrap();
    assert_eq!(
        values(&source.poll(2).await.unwrap().records),
        ["2", "3"],
        "polled, not committed"
    );

    let error = source.poll(2).await.unwrap_err();
    assert!(matches!(error, StageError::Trap { .. }), "{error}");
    assert!(
        error.to_string().contains("`poll` (up to 2 records)"),
        "{error}"
    );
    assert_eq!(source.committed(), Some(&b"2"[..]));
    // Re-opened from checkpoint 2: the uncommitted records come again
    // (at-least-once), none is skipped; the guest traps again at 4.
    assert_eq!(values(&source.poll(2).await.unwrap().records), ["2", "3"]);
}

#[tokio::test]
async fn a_sink_writes_rejects_single_records_and_lands_only_on_flush() {
    let component = support::load("probe-sink", |e, p| e.load_sink(p));
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkInstance::new(
        component.clone(),
        "lines",
        StageLimits::default(),
        Grants::none().with_files(dir.path()),
    );
    sink.open(r#"{"path": "out.jsonl"}"#).await.unwrap();
    let origin = TopicPartition::new("orders", 2);
    let records: Vec<Record> = ["a", "reject", "b"]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = Record::new(Timestamp(0), None, Some(Bytes::from(v.to_string())));
            r.offset = Offset(40 + i as i64);
            r
        })
        .collect();
    let rejected = sink.write(Some(&origin), records).await.unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].index, rejected[0].reason.as_str()),
        (1, "rejected by request")
    );
    assert!(
        !dir.path().join("out.jsonl").exists(),
        "nothing lands before flush"
    );
    sink.flush().await.unwrap();
    let written = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(
        written,
        "{\"value\":\"a\",\"topic\":\"orders\",\"partition\":2,\"offset\":40}\n\
         {\"value\":\"b\",\"topic\":\"orders\",\"partition\":2,\"offset\":42}\n"
    );

    // Without the files grant, flush fails naming it.
    let mut ungranted =
        SinkInstance::new(component, "lines", StageLimits::default(), Grants::none());
    ungranted.open(r#"{"path": "out.jsonl"}"#).await.unwrap();
    ungranted
        .write(
            None,
            vec![Record::new(
                Timestamp(0),
                None,
                Some(Bytes::from_static(b"x")),
            )],
        )
        .await
        .unwrap();
    let error = ungranted.flush().await.unwrap_err();
    assert!(error.to_string().contains("`files` grant"), "{error}");
}

#[test]
fn a_component_of_another_world_is_refused_naming_both() {
    let engine = support::engine();
    let error = engine
        .load_sink(support::guest_path("passthrough"))
        .unwrap_err();
    assert!(
        matches!(error, LoadError::WrongWorld { world: "sink", .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("it is a `transform` component"),
        "{error}"
    );
    let error = engine
        .load_transform(support::guest_path("probe-source"))
        .unwrap_err();
    assert!(
        error.to_string().contains("it is a `source` component"),
        "{error}"
    );
}

#[test]
fn inspect_names_worlds_contract_and_grants() {
    let engine = support::engine();
    let mask = engine.inspect(support::guest_path("mask")).unwrap();
    assert_eq!(mask.worlds, [World::Transform]);
    assert_eq!(mask.contract.as_deref(), Some("sluice:pipeline@0.1.0"));
    assert!(mask.grants.is_empty(), "{:?}", mask.grants);
    assert!(mask.contract_matches());

    let misbehave = engine.inspect(support::guest_path("misbehave")).unwrap();
    assert_eq!(misbehave.grants, [Grant::Http]);
    let probe = engine.inspect(support::guest_path("probe")).unwrap();
    assert_eq!(probe.grants, Grant::ALL.to_vec());
    let sink = engine.inspect(support::guest_path("probe-sink")).unwrap();
    assert_eq!(sink.worlds, [World::Sink]);
    assert_eq!(sink.grants, [Grant::Files]);
    assert!(
        sink.imports.iter().any(|i| i.starts_with("wasi:")),
        "{:?}",
        sink.imports
    );
}
