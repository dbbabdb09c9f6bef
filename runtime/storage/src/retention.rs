//! Deleting old data: whole sealed segments, by age and by total size.
//!
//! Only a prefix of the sealed segments is ever deleted, so the log stays
//! contiguous and the log start offset simply moves to the first remaining
//! segment. The active segment is never deleted; it ages out by rolling
//! (`segment.ms`) first. Readers holding a deleted segment's mapping keep
//! reading it until they let go.

use std::fs;

use sluice_types::{Offset, Timestamp};
use tracing::info;

use crate::error::{Result, StorageError};
use crate::partition::Partition;
use crate::segment::{segment_path, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

/// What one retention pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub log_start: Offset,
}

impl Partition {
    /// Deletes sealed segments past `retention.ms` (by their newest record's
    /// timestamp, compared with `now`) or beyond `retention.bytes`.
    ///
    /// # Errors
    /// I/O errors removing files. The in-memory log has already dropped the
    /// segment by then; a file left behind is removed on the next open.
    pub fn enforce_retention(&self, now: Timestamp) -> Result<RetentionOutcome> {
        let shared = self.shared();
        let _maintenance = shared
            .maintenance
            .lock()
            .expect("maintenance lock poisoned");
        let config = &shared.config;
        let (doomed, log_start) = {
            let mut state = shared.state.write().expect("state lock poisoned");
            let total: u64 =
                state.sealed.iter().map(|s| s.size_bytes()).sum::<u64>() + state.active_readable;
            let mut remaining = total;
            let mut count = 0;
            for segment in &state.sealed {
                let expired = config.retention_ms.is_some_and(|ms| {
                    segment
                        .max_timestamp
                        .is_some_and(|max| now.0.saturating_sub(max.0) > ms as i64)
                });
                let oversized = config
                    .retention_bytes
                    .is_some_and(|limit| remaining > limit);
                if !(expired || oversized) {
                    break;
                }
                remaining -= segment.size_bytes();
                count += 1;
            }
            let doomed: Vec<_> = state.sealed.drain(..count).collect();
            if let Some(first) = state.sealed.first() {
                state.log_start = state.log_start.max(first.base_offset);
            } else if count > 0 {
                state.log_start = state.log_start.max(state.active.base_offset);
            }
            (doomed, state.log_start)
        };
        let mut outcome = RetentionOutcome {
            log_start,
            ..Default::default()
        };
        for segment in doomed {
            for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                let path = segment_path(&shared.dir, segment.base_offset, suffix);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::io("remove", path)(e)),
                }
            }
            info!(partition = %shared.name, base_offset = %segment.base_offset, bytes = segment.size_bytes(), "retention deleted segment");
            outcome.segments_deleted += 1;
            outcome.bytes_deleted += segment.size_bytes();
        }
        Ok(outcome)
    }
}
