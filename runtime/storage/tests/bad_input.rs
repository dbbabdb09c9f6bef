//! Data directories with things in them that Sluice did not put there.

mod common;

use std::fs;

use common::*;
use sluice_batch::Compression;
use sluice_storage::{LogConfig, Partition, StorageError, Store};
use sluice_types::Offset;

#[test]
fn foreign_files_and_badly_named_segments_are_ignored_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), LogConfig::default());
        log.append(batch(0, 3, 10, 1, Compression::None)).unwrap();
    }
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    fs::write(dir.path().join("123.log"), b"not a segment").unwrap();
    fs::write(dir.path().join("0000000000000000000x.log"), b"nope").unwrap();
    fs::create_dir(dir.path().join("subdir")).unwrap();
    let log = open(dir.path(), LogConfig::default());
    let warnings = &log.recovery_report().warnings;
    assert_eq!(warnings.len(), 4, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("123.log") && w.contains("not a Sluice segment")));
    assert_eq!(read_all(&log, Offset::ZERO).len(), 3);
    // The foreign files are left alone.
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn empty_segments_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    // An empty last segment is just an empty log at that base offset...
    fs::write(dir.path().join("00000000000000000000.log"), b"").unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert_eq!(log.watermarks().hw, Offset(0));
    log.append(batch(0, 2, 10, 1, Compression::None)).unwrap();
    log.roll().unwrap();
    log.append(batch(2, 2, 10, 1, Compression::None)).unwrap();
    drop(log);
    // ...and an empty segment between others is removed with a warning.
    fs::write(dir.path().join("00000000000000000001.log"), b"").unwrap();
    let log = open(dir.path(), LogConfig::default());
    assert!(log
        .recovery_report()
        .warnings
        .iter()
        .any(|w| w.contains("empty segment")));
    assert_eq!(read_all(&log, Offset::ZERO).len(), 4);
}

#[test]
fn a_corrupt_sealed_segment_without_index_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_segments(1024));
        for i in 0..20 {
            log.append(batch(i * 2, 2, 100, 1, Compression::None))
                .unwrap();
        }
    }
    let first = dir.path().join("00000000000000000000.log");
    let mut bytes = fs::read(&first).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&first, bytes).unwrap();
    fs::remove_file(dir.path().join("00000000000000000000.index")).unwrap();
    let error = Partition::open(dir.path(), "test-0", small_segments(1024))
        .err()
        .unwrap();
    assert!(matches!(error, StorageError::CorruptSegment { .. }));
    let message = error.to_string();
    assert!(
        message.contains("00000000000000000000.log") && message.contains("CRC"),
        "{message}"
    );
}

#[test]
fn a_store_skips_junk_and_reports_broken_topic_metadata() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let topic = store
            .create_topic("orders", 3, LogConfig::default())
            .unwrap();
        topic.partitions[2]
            .append(batch(0, 1, 10, 1, Compression::None))
            .unwrap();
        assert!(matches!(
            store.create_topic("orders", 1, LogConfig::default()),
            Err(StorageError::TopicExists { .. })
        ));
        assert!(matches!(
            store.create_topic("bad/name", 1, LogConfig::default()),
            Err(StorageError::InvalidTopicName { .. })
        ));
        store
            .create_topic("doomed", 1, LogConfig::default())
            .unwrap();
        store.delete_topic("doomed").unwrap();
    }
    fs::create_dir_all(dir.path().join("topics/not a topic")).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let names: Vec<String> = store.topics().iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, vec!["orders"]);
    assert_eq!(
        store.topic("orders").unwrap().partitions[2].watermarks().hw,
        Offset(1)
    );
    drop(store);
    fs::write(
        dir.path().join("topics/orders/topic.json"),
        b"{\"partitions\": 3, \"colour\": 1}",
    )
    .unwrap();
    let error = Store::open(dir.path()).err().unwrap().to_string();
    assert!(
        error.contains("topic.json") && error.contains("colour"),
        "{error}"
    );
}
