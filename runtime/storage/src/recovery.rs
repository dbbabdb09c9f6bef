//! Opening a partition directory after a clean or unclean stop.
//!
//! Sealed segments were fsync'd with their indexes when they were sealed, so
//! they are trusted as they are; only a missing or malformed index makes
//! recovery scan one of them. The active (last) segment is scanned only from
//! its last trustworthy offset index entry to the end: opening a 10 GB
//! partition reads a few kilobytes, not the log. The first batch that is
//! torn, fails its CRC or breaks offset continuity ends the log: the file is
//! truncated there and the loss is reported.
//!
//! Left-overs of interrupted work are finished or discarded here: a
//! `.log.cleaned` (compaction output not yet swapped in) is deleted, a
//! `.log.swap` (compaction output complete) replaces its segment.

use std::fs;
use std::path::{Path, PathBuf};

use sluice_batch::{check_batch, BatchHeader};
use sluice_types::Offset;
use tracing::{info, warn};

use crate::error::{Result, StorageError};
use crate::index::{self};
use crate::index_builder::IndexBuilder;
use crate::segment::{
    map_file, parse_segment_name, relative, segment_path, ActiveSegment, SealedSegment,
    INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use crate::time_index;

/// The partition leader epoch stamped on every appended batch. A single
/// broker is always leader in epoch 0; recovery rejects any other value,
/// which catches bit flips in this field (the CRC does not cover it).
pub const LEADER_EPOCH: i32 = 0;

/// Suffix of compaction output being written.
pub const CLEANED_SUFFIX: &str = "log.cleaned";
/// Suffix of compaction output ready to replace its segment.
pub const SWAP_SUFFIX: &str = "log.swap";

/// What recovery did, for logs and tests.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    /// Log bytes read to verify batches (CRC and continuity).
    pub bytes_scanned: u64,
    /// Bytes cut off the end of the active segment.
    pub truncated_bytes: u64,
    /// Segments whose index files were rebuilt from the log.
    pub rebuilt_indexes: usize,
    /// Soft problems: foreign files, bad names, empty segments.
    pub warnings: Vec<String>,
}

/// A partition as found on disk, ready for its writer.
pub struct Recovered {
    pub sealed: Vec<SealedSegment>,
    pub active: ActiveSegment,
    pub report: RecoveryReport,
}

/// Result of verifying batches in `log[start..]`.
struct Scan {
    /// Byte position after the last good batch.
    valid_len: u64,
    next_offset: Offset,
    /// Why the scan stopped before the end, if it did.
    stopped: Option<String>,
}

/// Verifies batches from `start` (holding offset `expected`) to the end of
/// `log`, feeding each good one to `builder`.
/// The indexes being rebuilt while a scan runs.
struct Indexes {
    builder: IndexBuilder,
    offsets: Vec<u8>,
    times: Vec<u8>,
}

fn scan(
    log: &[u8],
    start: u64,
    segment_base: Offset,
    mut expected: Offset,
    indexes: &mut Indexes,
    report: &mut RecoveryReport,
) -> Scan {
    let mut position = start as usize;
    let mut stopped = None;
    while position < log.len() {
        let rest = &log[position..];
        let header: BatchHeader = match check_batch(rest) {
            Ok(header) => header,
            Err(error) => {
                stopped = Some(format!("batch at byte {position}: {error}"));
                break;
            }
        };
        report.bytes_scanned += header.total_len() as u64;
        if header.base_offset != expected {
            stopped = Some(format!(
                "batch at byte {position} has base offset {}, expected {expected}",
                header.base_offset
            ));
            break;
        }
        if header.partition_leader_epoch != LEADER_EPOCH {
            stopped = Some(format!(
                "batch at byte {position} has leader epoch {}, expected {LEADER_EPOCH}",
                header.partition_leader_epoch
            ));
            break;
        }
        indexes.builder.on_batch(
            segment_base,
            position as u64,
            &header,
            &mut indexes.offsets,
            &mut indexes.times,
        );
        expected = header.next_offset();
        position += header.total_len();
    }
    Scan {
        valid_len: position as u64,
        next_offset: expected,
        stopped,
    }
}

/// Lists segment base offsets in `dir`, finishing or discarding interrupted
/// compactions and warning about files that do not belong.
fn list_segments(dir: &Path, report: &mut RecoveryReport) -> Result<Vec<Offset>> {
    let mut bases = Vec::new();
    let mut index_files: Vec<(Offset, PathBuf)> = Vec::new();
    let entries = fs::read_dir(dir).map_err(StorageError::io("list", dir))?;
    for entry in entries {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if parse_segment_name(&name, CLEANED_SUFFIX).is_some() {
            warn!(path = %path.display(), "discarding unfinished compaction output");
            fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
        } else if let Some(base) = parse_segment_name(&name, SWAP_SUFFIX) {
            let target = segment_path(dir, base, LOG_SUFFIX);
            info!(path = %path.display(), "completing interrupted compaction");
            for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                remove_if_exists(&segment_path(dir, base, suffix))?;
            }
            fs::rename(&path, &target).map_err(StorageError::io("rename", &path))?;
            if !bases.contains(&base) {
                bases.push(base);
            }
        } else if let Some(base) = parse_segment_name(&name, LOG_SUFFIX) {
            if !bases.contains(&base) {
                bases.push(base);
            }
        } else if let Some(base) = parse_segment_name(&name, INDEX_SUFFIX)
            .or_else(|| parse_segment_name(&name, TIME_INDEX_SUFFIX))
        {
            index_files.push((base, path));
        } else if name.ends_with(".deleted") {
            fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
        } else {
            let message = format!(
                "{}: not a Sluice segment file (segments are named like 00000000000000000000.log); ignored",
                path.display()
            );
            warn!(path = %path.display(), "ignoring foreign file in partition directory");
            report.warnings.push(message);
        }
    }
    for (base, path) in index_files {
        if !bases.contains(&base) {
            warn!(path = %path.display(), "removing index file without a log segment");
            report.warnings.push(format!(
                "{}: index without a segment; removed",
                path.display()
            ));
            fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
        }
    }
    bases.sort();
    Ok(bases)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("remove", path)(e)),
    }
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StorageError::io("read", path)(e)),
    }
}

/// Checks a sealed segment's indexes; rebuilds them from the log when they
/// are missing or malformed.
pub(crate) fn open_sealed(
    dir: &Path,
    base: Offset,
    next_offset: Offset,
    index_interval_bytes: u32,
    report: &mut RecoveryReport,
) -> Result<SealedSegment> {
    let log_path = segment_path(dir, base, LOG_SUFFIX);
    let log_len = fs::metadata(&log_path)
        .map_err(StorageError::io("stat", &log_path))?
        .len();
    let index_path = segment_path(dir, base, INDEX_SUFFIX);
    let time_path = segment_path(dir, base, TIME_INDEX_SUFFIX);
    let index_ok = fs::metadata(&index_path).is_ok() && {
        let bytes = read_or_empty(&index_path)?;
        bytes.len() % index::ENTRY_LEN == 0
            && index::valid_prefix(&bytes, log_len) == index::entry_count(&bytes)
    };
    let time_ok = fs::metadata(&time_path).is_ok() && {
        let bytes = read_or_empty(&time_path)?;
        let span = (next_offset.0 - base.0).max(0) as u64;
        bytes.len() % time_index::ENTRY_LEN == 0
            && time_index::valid_prefix(&bytes, span) == time_index::entry_count(&bytes)
            && (log_len == 0 || !bytes.is_empty())
    };
    if !(index_ok && time_ok) {
        warn!(segment = %log_path.display(), "rebuilding missing or damaged index files");
        report.rebuilt_indexes += 1;
        let log = map_file(&log_path)?;
        let mut builder = IndexBuilder::new(index_interval_bytes);
        let (mut index_out, mut time_out) = (Vec::new(), Vec::new());
        let mut position = 0usize;
        let mut last_offset = base.plus(-1);
        while position < log.len() {
            let header = check_batch(&log[position..]).map_err(|e| StorageError::CorruptSegment {
                path: log_path.clone(),
                reason: format!(
                    "batch at byte {position} of a sealed segment: {e}; move the segment aside to open the partition without it"
                ),
            })?;
            report.bytes_scanned += header.total_len() as u64;
            builder.on_batch(
                base,
                position as u64,
                &header,
                &mut index_out,
                &mut time_out,
            );
            last_offset = header.last_offset();
            position += header.total_len();
        }
        builder.push_time_entry(base, last_offset, &mut time_out);
        write_synced(&index_path, &index_out)?;
        write_synced(&time_path, &time_out)?;
    }
    SealedSegment::open(dir, base, next_offset)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = fs::File::create(path).map_err(StorageError::io("create", path))?;
    use std::io::Write;
    (&file)
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(StorageError::io("write", path))
}

/// Opens the last segment, scanning only after its last good index entry.
fn open_active(
    dir: &Path,
    base: Offset,
    index_interval_bytes: u32,
    report: &mut RecoveryReport,
) -> Result<ActiveSegment> {
    let log_path = segment_path(dir, base, LOG_SUFFIX);
    let log = map_file(&log_path)?;
    let mut index_entries = read_or_empty(&segment_path(dir, base, INDEX_SUFFIX))?;
    let kept = index::valid_prefix(&index_entries, log.len() as u64);
    index_entries.truncate(kept * index::ENTRY_LEN);
    // The last entry must point at a whole, valid batch with the right base
    // offset; entries past a torn tail are dropped one by one.
    let (start, expected) = loop {
        let count = index::entry_count(&index_entries);
        if count == 0 {
            break (0u64, base);
        }
        let entry = index::entry_at(&index_entries, count - 1);
        let expected = base.plus(i64::from(entry.relative_offset));
        let good = check_batch(&log[entry.position as usize..])
            .is_ok_and(|h| h.base_offset == expected && h.partition_leader_epoch == LEADER_EPOCH);
        if good {
            break (u64::from(entry.position), expected);
        }
        index_entries.truncate((count - 1) * index::ENTRY_LEN);
    };
    // Time entries after the resume point are regenerated by the scan.
    let mut time_entries = read_or_empty(&segment_path(dir, base, TIME_INDEX_SUFFIX))?;
    let keep_below = u64::from(relative(base, expected));
    let kept = time_index::valid_prefix(&time_entries, keep_below);
    time_entries.truncate(kept * time_index::ENTRY_LEN);
    let builder = IndexBuilder::resume(
        index_interval_bytes,
        time_index::last(&time_entries).map(|e| e.timestamp),
    );
    let mut indexes = Indexes {
        builder,
        offsets: index_entries,
        times: time_entries,
    };
    let scan_result = scan(&log, start, base, expected, &mut indexes, report);
    if let Some(reason) = &scan_result.stopped {
        let dropped = log.len() as u64 - scan_result.valid_len;
        report.truncated_bytes += dropped;
        warn!(
            segment = %log_path.display(),
            valid_bytes = scan_result.valid_len,
            dropped_bytes = dropped,
            reason = %reason,
            "truncating torn or corrupt log tail to the last whole batch"
        );
    }
    drop(log);
    ActiveSegment::resume(
        dir,
        base,
        scan_result.valid_len,
        scan_result.next_offset,
        indexes.offsets,
        indexes.times,
        indexes.builder,
    )
}

/// Opens (or creates) the partition in `dir`.
///
/// # Errors
/// I/O errors with their path, or [`StorageError::CorruptSegment`] when a
/// sealed segment (not the tail) fails its checks.
pub fn recover(dir: &Path, index_interval_bytes: u32) -> Result<Recovered> {
    fs::create_dir_all(dir).map_err(StorageError::io("create", dir))?;
    let mut report = RecoveryReport::default();
    let mut bases = list_segments(dir, &mut report)?;
    // Empty segments between others hold nothing: drop them. The first one
    // stays even when empty (compaction may empty it): its name records the
    // log start offset.
    let mut kept = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let path = segment_path(dir, base, LOG_SUFFIX);
        let len = fs::metadata(&path)
            .map_err(StorageError::io("stat", &path))?
            .len();
        if len == 0 && i > 0 && i + 1 < bases.len() {
            warn!(segment = %path.display(), "removing empty segment");
            report
                .warnings
                .push(format!("{}: empty segment removed", path.display()));
            for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                remove_if_exists(&segment_path(dir, base, suffix))?;
            }
        } else {
            kept.push(base);
        }
    }
    bases = kept;
    let Some(&last) = bases.last() else {
        let active = ActiveSegment::create(dir, Offset::ZERO, index_interval_bytes)?;
        return Ok(Recovered {
            sealed: Vec::new(),
            active,
            report,
        });
    };
    let mut sealed = Vec::with_capacity(bases.len() - 1);
    for pair in bases.windows(2) {
        sealed.push(open_sealed(
            dir,
            pair[0],
            pair[1],
            index_interval_bytes,
            &mut report,
        )?);
    }
    let active = open_active(dir, last, index_interval_bytes, &mut report)?;
    Ok(Recovered {
        sealed,
        active,
        report,
    })
}
