//! Retention (by size and age) and compaction (latest record per key).

mod common;

use std::collections::HashMap;

use common::*;
use sluice_batch::Compression;
use sluice_storage::{CleanupPolicy, LogConfig, StorageError};
use sluice_types::{Offset, Timestamp};

#[test]
fn retention_by_size_deletes_old_segments_and_moves_the_log_start() {
    let config = LogConfig {
        retention_bytes: Some(6000),
        retention_ms: None,
        ..small_segments(2048)
    };
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config.clone());
    for i in 0..60 {
        log.append(batch(i * 2, 2, 100, 1, Compression::None))
            .unwrap();
    }
    let before = log.size_bytes();
    let outcome = log.enforce_retention(Timestamp::now()).unwrap();
    assert!(outcome.segments_deleted > 0);
    assert!(
        log.size_bytes() <= 6000 + 2048,
        "{} bytes left of {before}",
        log.size_bytes()
    );
    let start = log.watermarks().log_start;
    assert_eq!(start, outcome.log_start);
    assert!(start > Offset(0));
    // Below the log start is out of range; from it, everything is there.
    assert!(matches!(
        log.read(Offset(0), 100),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let records = read_all(&log, start);
    assert_eq!(records.first().unwrap().offset, start);
    assert_eq!(records.len() as i64, 120 - start.0);
    drop(log);
    // The deletion is on disk: a reopen agrees.
    let log = open(dir.path(), config);
    assert_eq!(log.watermarks().log_start, start);
    assert_eq!(read_all(&log, start).len() as i64, 120 - start.0);
}

#[test]
fn retention_by_age_uses_the_newest_record_of_each_segment() {
    let config = LogConfig {
        retention_ms: Some(1000),
        ..small_segments(1024)
    };
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), config);
    // Old records (t = 10_000 + i), then new ones (t = 50_000 + i).
    for i in 0..20 {
        log.append(batch(i * 2, 2, 100, 10_000 + i as i64, Compression::None))
            .unwrap();
    }
    log.roll().unwrap();
    for i in 20..40 {
        log.append(batch(i * 2, 2, 100, 50_000 + i as i64, Compression::None))
            .unwrap();
    }
    // At t = 50_500 every old segment is past 1 s; new ones are not.
    let outcome = log.enforce_retention(Timestamp(50_500)).unwrap();
    assert!(outcome.segments_deleted >= 3);
    assert_eq!(log.watermarks().log_start, Offset(40));
    assert_eq!(read_all(&log, Offset(40)).len(), 40);
    // Nothing more to delete at the same time.
    assert_eq!(
        log.enforce_retention(Timestamp(50_500))
            .unwrap()
            .segments_deleted,
        0
    );
}

fn compacted_config() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        delete_retention_ms: 10_000,
        retention_ms: None,
        ..small_segments(1024)
    }
}

#[test]
fn compaction_keeps_the_latest_record_per_key_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compacted_config());
    let mut latest: HashMap<String, (i64, String)> = HashMap::new();
    let mut offset = 0i64;
    for round in 0..12 {
        let values: Vec<String> = (0..5).map(|k| format!("v{round}-{k}")).collect();
        let records: Vec<(String, String)> = (0..5)
            .map(|k| (format!("k{}", (k + round) % 7), values[k].clone()))
            .collect();
        let refs: Vec<(&str, Option<&str>)> = records
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        log.append(keyed_batch(&refs, 1_000 + round as i64))
            .unwrap();
        for (k, v) in &records {
            latest.insert(k.clone(), (offset, v.clone()));
            offset += 1;
        }
    }
    log.roll().unwrap();
    let outcome = log.compact(Timestamp(2_000)).unwrap();
    assert!(outcome.records_removed > 0);
    assert!(outcome.bytes_after < outcome.bytes_before);
    let check = |log: &sluice_storage::Partition| {
        let records = read_all(log, Offset::ZERO);
        assert_eq!(records.len(), latest.len());
        for record in &records {
            let key = String::from_utf8(record.key.clone().unwrap().to_vec()).unwrap();
            let (expected_offset, expected_value) = &latest[&key];
            assert_eq!(record.offset, Offset(*expected_offset), "key {key}");
            assert_eq!(record.value.as_deref(), Some(expected_value.as_bytes()));
        }
        // Reads from every offset still work across the gaps.
        for from in 0..offset {
            let tail = read_all(log, Offset(from));
            assert_eq!(
                tail.len(),
                records.iter().filter(|r| r.offset.0 >= from).count()
            );
        }
        assert_eq!(log.watermarks().hw, Offset(offset));
    };
    check(&log);
    drop(log);
    let log = open(dir.path(), compacted_config());
    check(&log);
    // Appends continue after the compacted range.
    assert_eq!(
        log.append(keyed_batch(&[("k1", Some("new"))], 3_000))
            .unwrap()
            .base_offset,
        Offset(offset)
    );
}

#[test]
fn tombstones_are_kept_for_delete_retention_then_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compacted_config());
    log.append(keyed_batch(&[("a", Some("1")), ("b", Some("1"))], 1_000))
        .unwrap();
    log.append(keyed_batch(&[("a", None)], 2_000)).unwrap();
    log.roll().unwrap();
    // Within delete.retention.ms the tombstone stays (and hides "a"=1).
    log.compact(Timestamp(5_000)).unwrap();
    let records = read_all(&log, Offset::ZERO);
    let summary: Vec<(i64, Option<&[u8]>)> = records
        .iter()
        .map(|r| (r.offset.0, r.value.as_deref()))
        .collect();
    assert_eq!(summary, vec![(1, Some(&b"1"[..])), (2, None)]);
    // After it, the tombstone goes too.
    log.compact(Timestamp(2_000 + 10_001)).unwrap();
    let records = read_all(&log, Offset::ZERO);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].offset, Offset(1));
}

#[test]
fn compaction_leaves_delete_topics_and_the_active_segment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(1024));
    log.append(keyed_batch(&[("a", Some("1")), ("a", Some("2"))], 1))
        .unwrap();
    log.roll().unwrap();
    assert_eq!(log.compact(Timestamp(10)).unwrap().records_removed, 0);
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), compacted_config());
    log.append(keyed_batch(&[("a", Some("1")), ("a", Some("2"))], 1))
        .unwrap();
    assert_eq!(log.compact(Timestamp(10)).unwrap().records_removed, 0);
    assert_eq!(read_all(&log, Offset::ZERO).len(), 2);
}

#[test]
fn an_interrupted_compaction_swap_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), compacted_config());
        log.append(keyed_batch(&[("a", Some("1")), ("b", Some("1"))], 1))
            .unwrap();
        log.roll().unwrap();
        log.append(keyed_batch(&[("c", Some("1"))], 1)).unwrap();
    }
    // Simulate a crash after the compacted output was renamed to .swap: the
    // swap holds only "b" (as if "a" had been superseded).
    let swap = dir.path().join("00000000000000000000.log.swap");
    let mut bytes = keyed_batch(&[("b", Some("1"))], 1).to_vec();
    bytes[12..16].copy_from_slice(&0i32.to_be_bytes());
    std::fs::write(&swap, &bytes).unwrap();
    // And a stale .cleaned left by an earlier interrupted pass.
    std::fs::write(
        dir.path().join("00000000000000000000.log.cleaned"),
        b"partial",
    )
    .unwrap();
    let log = open(dir.path(), compacted_config());
    assert!(!swap.exists());
    assert!(!dir.path().join("00000000000000000000.log.cleaned").exists());
    let records = read_all(&log, Offset::ZERO);
    let keys: Vec<&[u8]> = records.iter().map(|r| r.key.as_deref().unwrap()).collect();
    assert_eq!(keys, vec![&b"b"[..], &b"c"[..]]);
}
