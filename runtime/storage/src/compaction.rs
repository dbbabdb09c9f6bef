//! Compaction: keep only the latest record of each key in sealed segments.
//!
//! For topics with `cleanup.policy = "compact"` (consumer offsets, CDC
//! tables). One pass builds a map from key to its latest offset across the
//! sealed segments, then rewrites each segment that holds superseded
//! records. Offsets never change: a rewritten batch keeps its base offset,
//! its records keep their offset deltas, and the batch keeps its last
//! offset delta even when its last record went. Batches that lose nothing
//! are copied byte for byte; batches that lose everything disappear.
//!
//! A tombstone (a record with a null value) is the latest record of its
//! key until `delete.retention.ms` after its timestamp; then compaction
//! drops it too, so consumers that were behind still get to see the delete.
//!
//! The active segment is never touched, and records in it do not supersede
//! sealed ones until it is sealed (as in Kafka). The swap is crash-safe:
//! output goes to `BASE.log.cleaned`, is fsync'd, renamed to
//! `BASE.log.swap`, and only then replaces `BASE.log`; recovery finishes or
//! discards a swap that was interrupted.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use sluice_batch::{
    decode_records, BatchBuilder, BatchHeader, BatchOptions, Batches, TimestampType,
};
use sluice_types::{Offset, Record, Timestamp};
use tracing::info;

use crate::config::CleanupPolicy;
use crate::error::{Result, StorageError};
use crate::index_builder::IndexBuilder;
use crate::partition::Partition;
use crate::recovery::{CLEANED_SUFFIX, LEADER_EPOCH, SWAP_SUFFIX};
use crate::segment::{segment_path, SealedSegment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::writer::sync_dir;

/// What one compaction pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionOutcome {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// What a compaction pass left behind, so the next pass can tell whether
/// there is anything new to do: the sealed segments as they were after it
/// (base offset and size each), and when its earliest kept tombstone
/// expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionMark {
    sealed: Vec<(Offset, u64)>,
    tombstone_expiry_ms: Option<i64>,
}

fn fingerprint(sealed: &[Arc<SealedSegment>]) -> Vec<(Offset, u64)> {
    sealed
        .iter()
        .map(|s| (s.base_offset, s.size_bytes()))
        .collect()
}

/// Whether compaction keeps `record`, given the latest offset per key.
fn keep(record: &Record, latest: &HashMap<Bytes, Offset>, tombstone_horizon: i64) -> bool {
    let Some(key) = &record.key else {
        // Keyless records cannot be superseded; Kafka refuses them in
        // compacted topics, Sluice keeps what it was given.
        return true;
    };
    if latest.get(key) != Some(&record.offset) {
        return false;
    }
    !(record.is_tombstone() && record.timestamp.0 < tombstone_horizon)
}

impl Partition {
    /// Compacts the sealed segments of a `compact` topic. `now` decides
    /// which tombstones have outlived `delete.retention.ms`. Does nothing for
    /// `delete` topics.
    ///
    /// # Errors
    /// I/O errors, or a sealed batch that cannot be decoded.
    pub fn compact(&self, now: Timestamp) -> Result<CompactionOutcome> {
        let shared = self.shared();
        let mut outcome = CompactionOutcome::default();
        if shared.config.cleanup_policy != CleanupPolicy::Compact {
            return Ok(outcome);
        }
        let mut mark = shared
            .maintenance
            .lock()
            .expect("maintenance lock poisoned");
        let sealed: Vec<Arc<SealedSegment>> = shared
            .state
            .read()
            .expect("state lock poisoned")
            .sealed
            .clone();
        // Nothing sealed since the last pass and no tombstone due: a pass
        // would decode every record only to keep them all.
        if let Some(last) = mark.as_ref() {
            if last.sealed == fingerprint(&sealed)
                && last.tombstone_expiry_ms.is_none_or(|expiry| now.0 < expiry)
            {
                return Ok(outcome);
            }
        }
        let decode = |header: &BatchHeader, batch: &Bytes| {
            decode_records(batch).map_err(|source| StorageError::Decode {
                partition: shared.name.clone(),
                offset: header.base_offset,
                source,
            })
        };
        // Pass 1: the latest offset of every key.
        let mut latest: HashMap<Bytes, Offset> = HashMap::new();
        for segment in &sealed {
            for item in Batches::new(segment.log_bytes().clone(), false) {
                let (header, batch) = item.map_err(|source| StorageError::Decode {
                    partition: shared.name.clone(),
                    offset: segment.base_offset,
                    source,
                })?;
                if header.is_control() {
                    continue;
                }
                for record in decode(&header, &batch)? {
                    if let Some(key) = record.key {
                        latest.insert(key, record.offset);
                    }
                }
            }
        }
        let horizon = now
            .0
            .saturating_sub(shared.config.delete_retention_ms as i64);
        let retention_ms = shared.config.delete_retention_ms as i64;
        let mut tombstone_expiry_ms: Option<i64> = None;
        // Pass 2: rewrite the segments that lose records.
        for segment in &sealed {
            let mut output: Vec<(BatchHeader, Bytes)> = Vec::new();
            let mut removed = 0u64;
            for item in Batches::new(segment.log_bytes().clone(), false) {
                let (header, batch) = item.map_err(|source| StorageError::Decode {
                    partition: shared.name.clone(),
                    offset: segment.base_offset,
                    source,
                })?;
                if header.is_control() {
                    output.push((header, batch));
                    continue;
                }
                let records = decode(&header, &batch)?;
                let kept: Vec<&Record> = records
                    .iter()
                    .filter(|r| keep(r, &latest, horizon))
                    .collect();
                removed += (records.len() - kept.len()) as u64;
                for tombstone in kept.iter().filter(|r| r.key.is_some() && r.is_tombstone()) {
                    let expiry = tombstone.timestamp.0.saturating_add(retention_ms);
                    tombstone_expiry_ms =
                        Some(tombstone_expiry_ms.map_or(expiry, |e| e.min(expiry)));
                }
                if kept.len() == records.len() {
                    output.push((header, batch));
                } else if !kept.is_empty() {
                    let rebuilt =
                        rebuild(&header, &kept).map_err(|source| StorageError::Decode {
                            partition: shared.name.clone(),
                            offset: header.base_offset,
                            source,
                        })?;
                    let header = BatchHeader::parse(&rebuilt).expect("a built batch parses");
                    output.push((header, rebuilt));
                }
            }
            if removed == 0 {
                continue;
            }
            let is_first = shared
                .state
                .read()
                .expect("state lock poisoned")
                .sealed
                .first()
                .is_some_and(|s| s.base_offset == segment.base_offset);
            if output.is_empty() && !is_first {
                // Nothing left: the previous segment's range absorbs this one.
                shared
                    .state
                    .write()
                    .expect("state lock poisoned")
                    .sealed
                    .retain(|s| s.base_offset != segment.base_offset);
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    let path = segment_path(&shared.dir, segment.base_offset, suffix);
                    fs::remove_file(&path).map_err(StorageError::io("remove", &path))?;
                }
                outcome.segments_rewritten += 1;
                outcome.records_removed += removed;
                outcome.bytes_before += segment.size_bytes();
                continue;
            }
            let replacement = self.swap_segment(segment, &output)?;
            outcome.segments_rewritten += 1;
            outcome.records_removed += removed;
            outcome.bytes_before += segment.size_bytes();
            outcome.bytes_after += replacement.size_bytes();
            let mut state = shared.state.write().expect("state lock poisoned");
            if let Some(slot) = state
                .sealed
                .iter_mut()
                .find(|s| s.base_offset == segment.base_offset)
            {
                *slot = Arc::new(replacement);
            }
        }
        *mark = Some(CompactionMark {
            sealed: fingerprint(&shared.state.read().expect("state lock poisoned").sealed),
            tombstone_expiry_ms,
        });
        if outcome.segments_rewritten > 0 {
            info!(partition = %shared.name, segments = outcome.segments_rewritten, records_removed = outcome.records_removed, bytes_before = outcome.bytes_before, bytes_after = outcome.bytes_after, "compacted");
        }
        Ok(outcome)
    }

    /// Writes `batches` as the new content of `segment`, crash-safely, with
    /// fresh indexes; returns the mapped replacement.
    fn swap_segment(
        &self,
        segment: &SealedSegment,
        batches: &[(BatchHeader, Bytes)],
    ) -> Result<SealedSegment> {
        let shared = self.shared();
        let dir = &shared.dir;
        let base = segment.base_offset;
        let cleaned = segment_path(dir, base, CLEANED_SUFFIX);
        let mut builder = IndexBuilder::new(shared.config.index_interval_bytes);
        let (mut index, mut time_index) = (Vec::new(), Vec::new());
        let mut file = fs::File::create(&cleaned).map_err(StorageError::io("create", &cleaned))?;
        let mut position = 0u64;
        let mut last_offset = base.plus(-1);
        for (header, bytes) in batches {
            builder.on_batch(base, position, header, &mut index, &mut time_index);
            file.write_all(bytes)
                .map_err(StorageError::io("write", &cleaned))?;
            position += bytes.len() as u64;
            last_offset = header.last_offset();
        }
        builder.push_time_entry(base, last_offset, &mut time_index);
        file.sync_all()
            .map_err(StorageError::io("fsync", &cleaned))?;
        drop(file);
        let swap = segment_path(dir, base, SWAP_SUFFIX);
        fs::rename(&cleaned, &swap).map_err(StorageError::io("rename", &cleaned))?;
        sync_dir(dir)?;
        // From here on recovery completes the swap if we crash.
        for (suffix, bytes) in [(INDEX_SUFFIX, &index), (TIME_INDEX_SUFFIX, &time_index)] {
            let path = segment_path(dir, base, suffix);
            let _ = fs::remove_file(&path);
            let mut file = fs::File::create(&path).map_err(StorageError::io("create", &path))?;
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(StorageError::io("write", &path))?;
        }
        let log = segment_path(dir, base, LOG_SUFFIX);
        fs::rename(&swap, &log).map_err(StorageError::io("rename", &swap))?;
        sync_dir(dir)?;
        SealedSegment::open(dir, base, segment.next_offset)
    }
}

/// Re-encodes the survivors of a batch with the batch's own fields.
fn rebuild(header: &BatchHeader, kept: &[&Record]) -> Result<Bytes, sluice_batch::BatchError> {
    let log_append = header.attributes & sluice_batch::header::ATTR_TIMESTAMP_LOG_APPEND != 0;
    let options = BatchOptions {
        compression: header.compression(),
        base_offset: header.base_offset,
        partition_leader_epoch: LEADER_EPOCH,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        timestamp_type: if log_append {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        log_append_time: log_append.then_some(header.max_timestamp),
        transactional: header.attributes & sluice_batch::header::ATTR_TRANSACTIONAL != 0,
    };
    let mut builder = BatchBuilder::new(options);
    for record in kept {
        let delta = (record.offset.0 - header.base_offset.0) as i32;
        builder.push_with_offset_delta(
            delta,
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        )?;
    }
    builder.set_last_offset_delta(header.last_offset_delta)?;
    builder.build()
}
