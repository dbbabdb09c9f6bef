//! The bundled `file` connector (`connectors/file-source`,
//! `connectors/file-sink`) against real files in a temp dir, and the two
//! `files` functions it is built on, `read-range` and `append`.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{json, Value};
use sluice_types::{Offset, Record, RecordHeader, Timestamp, TopicPartition};
use sluice_wasm_host::{
    Grants, GuestErrorKind, SinkInstance, SourceBatch, SourceInstance, StageError, StageLimits,
};

use support::{denied, probe};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Each record as (key, value) text.
fn keyed(batch: &SourceBatch) -> Vec<(Option<String>, String)> {
    let text = |b: &Bytes| String::from_utf8(b.to_vec()).unwrap();
    batch
        .records
        .iter()
        .map(|r| (r.key.as_ref().map(text), text(r.value.as_ref().unwrap())))
        .collect()
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn guest_error_kind(error: &StageError) -> Option<GuestErrorKind> {
    match error {
        StageError::Guest { kind, .. } => Some(*kind),
        _ => None,
    }
}

#[tokio::test]
async fn the_source_follows_a_growing_file_and_resumes_at_its_checkpoint() {
    let component = support::load("file-source", |e, p| e.load_source(p));
    let dir = tempfile::tempdir().unwrap();
    let grants = Grants::none().with_files(dir.path());
    let config = r#"{"path": "in/orders.jsonl", "key": "id"}"#;
    let mut source = SourceInstance::new(
        component.clone(),
        "orders-in",
        StageLimits::default(),
        grants.clone(),
    );
    source.open(config, None).await.unwrap();

    // No file yet: empty batches, until it appears.
    let batch = source.poll(10).await.unwrap();
    assert_eq!(
        batch,
        SourceBatch {
            records: vec![],
            checkpoint: None
        }
    );

    let first_three = "{\"id\": \"a\", \"n\": 1}\n{\"id\": 2, \"n\": 2}\r\nnot json\n";
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let path = dir.path().join("in/orders.jsonl");
    std::fs::write(&path, format!("{first_three}{{\"id\": \"d\"")).unwrap();
    let before_ms = now_ms();
    let batch = source.poll(10).await.unwrap();
    let after_ms = now_ms();
    assert_eq!(
        keyed(&batch),
        [
            (Some("a".into()), r#"{"id": "a", "n": 1}"#.into()),
            (Some("2".into()), r#"{"id": 2, "n": 2}"#.into()),
            (None, "not json".into()),
        ],
        "three complete lines; the fourth waits for its newline"
    );
    let first_checkpoint = first_three.len().to_string().into_bytes();
    assert_eq!(batch.checkpoint.as_ref(), Some(&first_checkpoint));
    for record in &batch.records {
        assert!(
            (before_ms..=after_ms).contains(&record.timestamp.0),
            "timestamp {} is the wall clock at the poll ({before_ms}..={after_ms})",
            record.timestamp.0
        );
    }
    source.commit(first_checkpoint.clone()).await.unwrap();

    append(&path, ", \"n\": 4}\n{\"id\": \"e\"}\n");
    let batch = source.poll(10).await.unwrap();
    let rest = [
        (Some("d".into()), r#"{"id": "d", "n": 4}"#.into()),
        (Some("e".into()), r#"{"id": "e"}"#.into()),
    ];
    assert_eq!(keyed(&batch), rest);
    let end = std::fs::metadata(&path).unwrap().len().to_string();
    assert_eq!(batch.checkpoint, Some(end.into_bytes()));
    let batch = source.poll(10).await.unwrap();
    assert_eq!(
        batch,
        SourceBatch {
            records: vec![],
            checkpoint: None
        }
    );

    // A restart at the first checkpoint reads line 4 on again.
    let mut restarted = SourceInstance::new(component, "orders-in", StageLimits::default(), grants);
    restarted
        .open(config, Some(first_checkpoint))
        .await
        .unwrap();
    assert_eq!(keyed(&restarted.poll(10).await.unwrap()), rest);
}

#[tokio::test]
async fn the_sink_appends_one_json_line_per_record_on_flush() {
    let component = support::load("file-sink", |e, p| e.load_sink(p));
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkInstance::new(
        component,
        "orders-out",
        StageLimits::default(),
        Grants::none().with_files(dir.path()),
    );
    sink.open(r#"{"path": "out/orders.jsonl"}"#).await.unwrap();

    let mut first = Record::new(
        Timestamp(1_700_000_000_000),
        Some(Bytes::from_static(b"k1")),
        Some(Bytes::from_static(br#"{"id": 1, "tags": ["x"]}"#)),
    );
    first.offset = Offset(41);
    first.headers = vec![
        RecordHeader {
            key: Bytes::from_static(b"trace"),
            value: Some(Bytes::from_static(b"t-1")),
        },
        RecordHeader {
            key: Bytes::from_static(b"empty"),
            value: None,
        },
        RecordHeader {
            key: Bytes::from_static(b"trace"),
            value: Some(Bytes::from_static(b"t-2")),
        },
    ];
    let origin = TopicPartition::new("orders", 3);
    assert!(sink
        .write(Some(&origin), vec![first])
        .await
        .unwrap()
        .is_empty());
    let second = Record::new(
        Timestamp(5),
        None,
        Some(Bytes::from_static(&[0xff, 0xfe, 0x00])),
    );
    assert!(sink.write(None, vec![second]).await.unwrap().is_empty());

    let path = dir.path().join("out/orders.jsonl");
    assert!(!path.exists(), "nothing lands before flush");
    sink.flush().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains(r#""headers":{"trace":"t-1","empty":null,"trace":"t-2"}"#),
        "headers keep their order and repeated names: {}",
        lines[0]
    );
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["key"], "k1");
    assert_eq!(
        first["value"],
        json!({"id": 1, "tags": ["x"]}),
        "a JSON value is written as JSON"
    );
    assert_eq!(first["timestamp"], 1_700_000_000_000_i64);
    assert_eq!(
        (&first["topic"], &first["partition"], &first["offset"]),
        (&json!("orders"), &json!(3), &json!(41))
    );
    let second: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(
        second,
        json!({
            "key": null,
            "value": {"base64": "//4A"},
            "headers": {},
            "timestamp": 5,
            "topic": null,
            "partition": null,
            "offset": null,
        })
    );

    // A second flush appends; an empty one leaves the file alone.
    sink.write(
        None,
        vec![Record::new(
            Timestamp(6),
            None,
            Some(Bytes::from_static(b"third")),
        )],
    )
    .await
    .unwrap();
    sink.flush().await.unwrap();
    sink.flush().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.ends_with(
        "{\"key\":null,\"value\":\"third\",\"headers\":{},\"timestamp\":6,\
         \"topic\":null,\"partition\":null,\"offset\":null}\n"
    ));
}

#[tokio::test]
async fn the_sink_cuts_a_line_a_crash_left_short_before_appending() {
    let component = support::load("file-sink", |e, p| e.load_sink(p));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    // Two whole lines, then part of a third, as a kill during an append
    // leaves them; the tail spans more than one read of the file's end.
    let whole = format!(
        "{{\"n\":1}}\n{{\"n\":2,\"pad\":\"{}\"}}\n",
        "x".repeat(70_000)
    );
    let torn = format!("{{\"n\":3,\"pad\":\"{}", "y".repeat(70_000));
    std::fs::write(&path, format!("{whole}{torn}")).unwrap();
    let mut sink = SinkInstance::new(
        component,
        "out",
        StageLimits::default(),
        Grants::none().with_files(dir.path()),
    );
    sink.open(r#"{"path": "out.jsonl"}"#).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    sink.write(
        None,
        vec![Record::new(
            Timestamp(7),
            None,
            Some(Bytes::from_static(b"four")),
        )],
    )
    .await
    .unwrap();
    sink.flush().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&whole));
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    assert_eq!(text.lines().count(), 3);

    // A file that is one cut line, with no newline at all, is emptied.
    std::fs::write(&path, "{\"n\":").unwrap();
    let component = support::load("file-sink", |e, p| e.load_sink(p));
    let mut sink = SinkInstance::new(
        component,
        "out",
        StageLimits::default(),
        Grants::none().with_files(dir.path()),
    );
    sink.open(r#"{"path": "out.jsonl"}"#).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}

#[tokio::test]
async fn read_range_and_append_stay_inside_the_granted_directory() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let outside_file = outside.path().join("x");
    std::fs::write(&outside_file, "outside").unwrap();
    let absolute = outside_file.to_str().unwrap();
    let results = probe(
        Grants::none().with_files(root.path()),
        &[
            json!({"append": ["logs/a.txt", "hello "]}),
            json!({"append": ["logs/a.txt", "world"]}),
            json!({"read_range": ["logs/a.txt", 6, 3]}),
            json!({"read_range": ["logs/a.txt", 6, 100]}),
            json!({"read_range": ["logs/a.txt", 11, 100]}),
            json!({"read_range": ["logs/a.txt", 500, 100]}),
            json!({"read_range": ["missing.txt", 0, 10]}),
            json!({"read_range": ["logs/a.txt", 0, (16 << 20) + 1]}),
            json!({"read_range": ["../x", 0, 10]}),
            json!({"read_range": [absolute, 0, 10]}),
            json!({"append": ["../x", "y"]}),
            json!({"append": [absolute, "y"]}),
        ],
    )
    .await;
    assert_eq!(results[0], json!({"ok": null}));
    assert_eq!(results[1], json!({"ok": null}));
    assert_eq!(results[2], json!({"ok": "wor"}));
    assert_eq!(results[3], json!({"ok": "world"}), "fewer bytes at the end");
    assert_eq!(results[4], json!({"ok": ""}), "none at the end");
    assert_eq!(results[5], json!({"ok": ""}), "none past the end");
    assert_eq!(results[6]["error"]["kind"], "invalid-input");
    assert!(
        results[6]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("not found:"),
        "{}",
        results[6]
    );
    assert_eq!(results[7]["error"]["kind"], "invalid-input");
    assert!(
        results[7]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 16777216"),
        "{}",
        results[7]
    );
    for escaped in &results[8..12] {
        denied(escaped, "cannot leave it");
    }
    assert_eq!(
        std::fs::read_to_string(root.path().join("logs/a.txt")).unwrap(),
        "hello world"
    );
    assert_eq!(std::fs::read_to_string(&outside_file).unwrap(), "outside");

    let results = probe(Grants::none(), &[json!({"append": ["a.txt", "x"]})]).await;
    denied(&results[0], "`files` grant");
}

#[tokio::test]
async fn the_connector_refuses_paths_outside_the_grant() {
    let parent = tempfile::tempdir().unwrap();
    let granted = parent.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    let grants = Grants::none().with_files(&granted);

    let component = support::load("file-source", |e, p| e.load_source(p));
    let mut source = SourceInstance::new(
        component.clone(),
        "in",
        StageLimits::default(),
        grants.clone(),
    );
    source.open(r#"{"path": "../x"}"#, None).await.unwrap();
    let error = source.poll(10).await.unwrap_err();
    assert_eq!(
        guest_error_kind(&error),
        Some(GuestErrorKind::PermissionDenied),
        "{error}"
    );
    assert!(error.to_string().contains("cannot leave it"), "{error}");

    let mut source = SourceInstance::new(component, "in", StageLimits::default(), grants.clone());
    let error = source
        .open(r#"{"path": "/etc/hostname"}"#, None)
        .await
        .unwrap_err();
    assert_eq!(
        guest_error_kind(&error),
        Some(GuestErrorKind::InvalidConfig),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("relative to the directory of the stage's `files` grant"),
        "{error}"
    );

    let component = support::load("file-sink", |e, p| e.load_sink(p));
    let mut sink = SinkInstance::new(component, "out", StageLimits::default(), grants);
    // The sink looks at the file's end when it opens (for a line a crash
    // cut short), so a path outside the grant is refused right there.
    let error = sink.open(r#"{"path": "../x"}"#).await.unwrap_err();
    assert_eq!(
        guest_error_kind(&error),
        Some(GuestErrorKind::PermissionDenied),
        "{error}"
    );
    assert!(!parent.path().join("x").exists());
}
