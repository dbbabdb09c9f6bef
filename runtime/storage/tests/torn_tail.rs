//! Recovery of a log whose last batch was cut short or damaged.
//!
//! For every byte position the last batch can be cut at, and for every bit
//! of it flipped, reopening must keep exactly the whole batches before it,
//! truncate the rest, and continue appending at the right offset.

mod common;

use std::fs::{self, OpenOptions};
use std::path::Path;

use common::*;
use sluice_batch::Compression;
use sluice_storage::{LogConfig, Partition};
use sluice_types::Offset;

const SEGMENT: &str = "00000000000000000000.log";

/// Writes 5 batches of 3 records (offsets 0..15), closes, returns the
/// log's bytes and where its last batch starts.
fn prepare(dir: &Path, config: &LogConfig) -> (Vec<u8>, usize) {
    {
        let log = open(dir, config.clone());
        for i in 0..5 {
            log.append(batch(i * 3, 3, 24, 100 + i as i64, Compression::None))
                .unwrap();
        }
    }
    let bytes = fs::read(dir.join(SEGMENT)).unwrap();
    let last_len = batch(12, 3, 24, 104, Compression::None).len();
    (bytes.clone(), bytes.len() - last_len)
}

/// Reopens with `bytes` as the segment and checks the log holds exactly
/// offsets 0..12 and takes the next append at 12.
fn assert_recovers_to_four_batches(dir: &Path, config: &LogConfig, bytes: &[u8], case: &str) {
    fs::write(dir.join(SEGMENT), bytes).unwrap();
    let log = Partition::open(dir, "test-0", config.clone()).unwrap();
    assert_eq!(log.watermarks().hw, Offset(12), "{case}");
    let records = read_all(&log, Offset::ZERO);
    assert_eq!(records.len(), 12, "{case}");
    let info = log
        .append(batch(12, 2, 24, 200, Compression::None))
        .unwrap();
    assert_eq!(info.base_offset, Offset(12), "{case}");
    assert_eq!(read_all(&log, Offset::ZERO).len(), 14, "{case}");
    drop(log);
    // A second reopen sees a clean log.
    let log = Partition::open(dir, "test-0", config.clone()).unwrap();
    assert_eq!(log.recovery_report().truncated_bytes, 0, "{case}");
    assert_eq!(log.watermarks().hw, Offset(14), "{case}");
}

#[test]
fn a_last_batch_cut_at_every_byte_is_truncated() {
    let config = LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let (bytes, last_start) = prepare(dir.path(), &config);
    for cut in last_start..bytes.len() {
        let case_dir = tempfile::tempdir().unwrap();
        assert_recovers_to_four_batches(
            case_dir.path(),
            &config,
            &bytes[..cut],
            &format!("cut at {cut}"),
        );
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_last_batch_is_truncated() {
    let config = LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let (bytes, last_start) = prepare(dir.path(), &config);
    for bit in last_start * 8..bytes.len() * 8 {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let case_dir = tempfile::tempdir().unwrap();
        assert_recovers_to_four_batches(case_dir.path(), &config, &damaged, &format!("bit {bit}"));
    }
}

#[test]
fn index_files_that_are_missing_or_garbage_are_rebuilt() {
    let config = LogConfig {
        index_interval_bytes: 64,
        ..small_segments(2048)
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path(), config.clone());
        for i in 0..40 {
            log.append(batch(i * 3, 3, 30, 1000 + i as i64, Compression::None))
                .unwrap();
        }
        assert!(log.segment_count() > 2);
    }
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".index") || n.ends_with(".timeindex"))
        .collect();
    names.sort();
    // Delete one sealed index, fill another with garbage, zero the active one's tail.
    fs::remove_file(dir.path().join(&names[0])).unwrap();
    fs::write(dir.path().join(&names[2]), b"garbage!garbage").unwrap();
    let active_index = dir
        .path()
        .join(names.iter().rev().find(|n| n.ends_with(".index")).unwrap());
    let file = OpenOptions::new().append(true).open(&active_index).unwrap();
    file.set_len(file.metadata().unwrap().len() + 24).unwrap();
    let log = open(dir.path(), config);
    assert!(log.recovery_report().rebuilt_indexes >= 2);
    let records = read_all(&log, Offset::ZERO);
    assert_eq!(records.len(), 120);
    for from in [0, 1, 50, 77, 119] {
        assert_eq!(read_all(&log, Offset(from)).len() as i64, 120 - from);
    }
    let found = log
        .offset_for_timestamp(sluice_types::Timestamp(1020))
        .unwrap();
    assert_eq!(found.map(|f| f.0), Some(Offset(60)));
}

#[test]
fn opening_a_large_partition_scans_only_the_tail() {
    let config = LogConfig {
        index_interval_bytes: 4096,
        ..small_segments(4 << 20)
    };
    let dir = tempfile::tempdir().unwrap();
    let total_bytes;
    {
        let log = open(dir.path(), config.clone());
        for i in 0..600u64 {
            log.append(batch(i * 100, 100, 400, i as i64, Compression::None))
                .unwrap();
        }
        total_bytes = log.size_bytes();
        assert!(log.segment_count() >= 5);
    }
    let log = open(dir.path(), config);
    let report = log.recovery_report();
    assert!(total_bytes > 20 << 20, "log of {total_bytes} bytes");
    assert!(
        report.bytes_scanned < 200 << 10,
        "opening {total_bytes} bytes scanned {} bytes",
        report.bytes_scanned
    );
    assert_eq!(log.watermarks().hw, Offset(60_000));
}
