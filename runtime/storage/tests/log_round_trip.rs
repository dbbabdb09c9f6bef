//! Appends and reads: offsets, every codec, segment rolls, reopen, time.

mod common;

use common::*;
use proptest::prelude::*;
use sluice_batch::{BatchBuilder, BatchOptions, Compression};
use sluice_storage::{FsyncPolicy, LogConfig, StorageError};
use sluice_types::{Offset, RecordHeader, Timestamp};

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

#[test]
fn every_codec_round_trips_from_every_offset() {
    for codec in CODECS {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_segments(1024));
        let mut next = 0;
        for _ in 0..20 {
            let info = log
                .append(batch(next, 7, 50, 1_000 + next as i64, codec))
                .unwrap();
            assert_eq!(info.base_offset, Offset(next as i64));
            assert_eq!(info.last_offset, Offset(next as i64 + 6));
            next += 7;
        }
        assert!(
            log.segment_count() >= 3,
            "{codec:?}: expected segment rolls"
        );
        let marks = log.watermarks();
        assert_eq!(
            (marks.log_start, marks.hw, marks.leo),
            (Offset(0), Offset(140), Offset(140))
        );
        for from in 0..140 {
            let records = read_all(&log, Offset(from));
            assert_eq!(records.len() as i64, 140 - from, "{codec:?} from {from}");
            for (i, record) in records.iter().enumerate() {
                let n = from as u64 + i as u64;
                assert_eq!(record.offset, Offset(n as i64));
                assert_eq!(record.key.as_deref(), Some(format!("key-{n}").as_bytes()));
                assert_eq!(record.value.as_deref(), Some(&value(n, 50)[..]));
            }
        }
        // Reading at the high watermark is empty, past it is out of range.
        assert!(log.read(Offset(140), 1024).unwrap().batches.is_empty());
        assert!(matches!(
            log.read(Offset(141), 1024),
            Err(StorageError::OffsetOutOfRange { .. })
        ));
    }
}

#[test]
fn reopen_keeps_everything_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), small_segments(2048));
        for i in 0..30 {
            log.append(batch(i * 3, 3, 40, 10, Compression::Zstd))
                .unwrap();
        }
    }
    let log = open(dir.path(), small_segments(2048));
    assert_eq!(log.watermarks().hw, Offset(90));
    assert_eq!(log.recovery_report().truncated_bytes, 0);
    let info = log.append(batch(90, 5, 40, 10, Compression::None)).unwrap();
    assert_eq!(info.base_offset, Offset(90));
    let records = read_all(&log, Offset::ZERO);
    assert_eq!(records.len(), 95);
    assert!(records
        .iter()
        .enumerate()
        .all(|(i, r)| r.offset == Offset(i as i64)));
}

#[test]
fn stored_bytes_are_the_appended_bytes_with_a_new_base_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    log.append(batch(0, 4, 10, 5, Compression::None)).unwrap();
    let appended = batch(4, 3, 10, 6, Compression::Lz4);
    log.append(appended.clone()).unwrap();
    let read = log.read(Offset(4), 1 << 20).unwrap().batches;
    assert_eq!(read.len(), appended.len());
    assert_eq!(&read[..8], &4i64.to_be_bytes());
    // Bytes 12..16 carry the leader epoch the log stamps (0); producers send -1.
    assert_eq!(&read[12..16], &0i32.to_be_bytes());
    assert_eq!(&read[16..], &appended[16..]);
    assert!(sluice_batch::header::verify_crc(&read));
}

#[test]
fn read_by_timestamp_finds_the_first_record_at_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(2048));
    // Batch i holds 4 records stamped 1000 + 10*i + j.
    for i in 0..60i64 {
        let mut builder = BatchBuilder::new(BatchOptions::default());
        for j in 0..4 {
            builder
                .push(
                    Timestamp(1000 + 10 * i + j),
                    Some(b"k"),
                    Some(&[b'v'; 60]),
                    &[],
                )
                .unwrap();
        }
        log.append(builder.build().unwrap()).unwrap();
    }
    assert!(log.segment_count() > 3);
    for target in (990..1600).step_by(3) {
        // Oracle: record 4*i + j has timestamp 1000 + 10*i + j.
        let expected = (0..240i64)
            .map(|n| (n, 1000 + 10 * (n / 4) + n % 4))
            .find(|&(_, t)| t >= target);
        let found = log.offset_for_timestamp(Timestamp(target)).unwrap();
        assert_eq!(
            found,
            expected.map(|(n, t)| (Offset(n), Timestamp(t))),
            "target {target}"
        );
    }
}

#[test]
fn timestamps_that_go_backwards_are_still_found() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), small_segments(4096));
    let stamps = [500i64, 100, 900, 300, 700, 200, 1000, 50];
    for (i, &t) in stamps.iter().cycle().take(64).enumerate() {
        log.append(batch(i as u64, 1, 100, t, Compression::None))
            .unwrap();
    }
    for target in [0, 60, 150, 450, 800, 950, 1000, 1001] {
        let expected = stamps
            .iter()
            .cycle()
            .take(64)
            .position(|&t| t >= target)
            .map(|n| (Offset(n as i64), Timestamp(stamps[n % stamps.len()])));
        assert_eq!(
            log.offset_for_timestamp(Timestamp(target)).unwrap(),
            expected,
            "target {target}"
        );
    }
}

#[test]
fn segments_roll_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let aged = LogConfig {
        segment_ms: 1,
        ..LogConfig::default()
    };
    let log = open(dir.path(), aged);
    // Each append waits for an fsync, so a millisecond passes within a few.
    let mut appended = 0;
    while log.segment_count() < 3 && appended < 10_000 {
        log.append(batch(appended, 1, 10, 1, Compression::None))
            .unwrap();
        appended += 1;
    }
    assert!(
        log.segment_count() >= 3,
        "no age roll after {appended} appends"
    );
    assert_eq!(read_all(&log, Offset::ZERO).len() as u64, appended);
    // With the default age (7 days) the same appends stay in one segment.
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    for i in 0..appended.min(50) {
        log.append(batch(i, 1, 10, 1, Compression::None)).unwrap();
    }
    assert_eq!(log.segment_count(), 1);
}

#[test]
fn headers_and_null_fields_survive() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let mut builder = BatchBuilder::new(BatchOptions::default());
    let headers = vec![RecordHeader {
        key: "trace".into(),
        value: Some("abc".into()),
    }];
    builder
        .push(Timestamp(1), None, Some(b"v"), &headers)
        .unwrap();
    builder.push(Timestamp(2), Some(b"k"), None, &[]).unwrap();
    log.append(builder.build().unwrap()).unwrap();
    let records = read_all(&log, Offset::ZERO);
    assert_eq!(records[0].headers, headers);
    assert_eq!(records[0].key, None);
    assert_eq!(records[1].value, None);
}

#[test]
fn invalid_batches_are_rejected_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), LogConfig::default());
    let good = batch(0, 2, 10, 1, Compression::None);
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        log.append(bad.into()),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert!(matches!(
        log.append(good.slice(..good.len() - 3)),
        Err(StorageError::InvalidBatch { .. })
    ));
    assert!(log.append(bytes::Bytes::new()).is_err());
    assert_eq!(log.watermarks().leo, Offset(0));
    assert_eq!(log.append(good).unwrap().base_offset, Offset(0));
}

#[test]
fn every_fsync_policy_acknowledges_and_reads_back() {
    for fsync in [
        FsyncPolicy::Batch,
        FsyncPolicy::Interval { interval_ms: 5 },
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            fsync,
            ..small_segments(8192)
        };
        {
            let log = open(dir.path(), config.clone());
            for i in 0..50 {
                log.append(batch(i * 2, 2, 100, 1, Compression::None))
                    .unwrap();
            }
        }
        let log = open(dir.path(), config);
        assert_eq!(read_all(&log, Offset::ZERO).len(), 100, "{fsync:?}");
    }
}

#[test]
fn concurrent_appenders_get_disjoint_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(open(dir.path(), small_segments(64 * 1024)));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        log.append(batch(t * 1000 + i, 10, 20, 1, Compression::None))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ranges: Vec<(i64, i64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .map(|info| (info.base_offset.0, info.last_offset.0))
        .collect();
    ranges.sort();
    for (i, (base, last)) in ranges.iter().enumerate() {
        assert_eq!((*base, *last), (i as i64 * 10, i as i64 * 10 + 9));
    }
    assert_eq!(read_all(&log, Offset::ZERO).len(), 4000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_batches_round_trip(
        batches in proptest::collection::vec(
            (1u64..20, 0usize..300, 0usize..5),
            1..30,
        ),
        segment_bytes in 8192u64..32768,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), small_segments(segment_bytes));
        let mut expected = Vec::new();
        let mut next = 0u64;
        for (count, len, codec) in batches {
            log.append(batch(next, count, len, next as i64, CODECS[codec])).unwrap();
            for i in next..next + count {
                expected.push((i, value(i, len)));
            }
            next += count;
        }
        let records = read_all(&log, Offset::ZERO);
        prop_assert_eq!(records.len(), expected.len());
        for (record, (n, value)) in records.iter().zip(&expected) {
            prop_assert_eq!(record.offset, Offset(*n as i64));
            prop_assert_eq!(record.value.as_deref(), Some(&value[..]));
        }
    }
}
