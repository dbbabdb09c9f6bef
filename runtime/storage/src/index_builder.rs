//! Building the sparse offset and time indexes while batches go by.
//!
//! The append path and recovery both feed every batch through an
//! [`IndexBuilder`], so a log gets the same indexes whether they were
//! written as it grew or rebuilt after a crash.

use sluice_batch::BatchHeader;
use sluice_types::{Offset, Timestamp};

use crate::index::IndexEntry;
use crate::segment::relative;
use crate::time_index::TimeIndexEntry;

/// Keeps sparse index entries while batches are appended or scanned.
///
/// Shared by the append path and recovery so both produce identical
/// indexes for the same log.
#[derive(Debug, Default, Clone)]
pub struct IndexBuilder {
    pub interval_bytes: u32,
    bytes_since_entry: u64,
    /// Running maximum timestamp of the segment.
    pub max_timestamp: Option<Timestamp>,
    last_time_entry: Option<Timestamp>,
}

impl IndexBuilder {
    pub fn new(interval_bytes: u32) -> Self {
        IndexBuilder {
            interval_bytes,
            ..Default::default()
        }
    }

    /// Resumes after existing entries, e.g. when reopening a segment.
    pub fn resume(interval_bytes: u32, last_time_entry: Option<Timestamp>) -> Self {
        IndexBuilder {
            interval_bytes,
            max_timestamp: last_time_entry,
            last_time_entry,
            ..Default::default()
        }
    }

    /// Records one batch at `position`; pushes the entries it earns.
    ///
    /// When an offset entry is due for this batch, a time entry covering
    /// every batch *before* it is pushed first. So at each offset entry the
    /// time index is complete up to that batch, and recovery can resume at
    /// any offset entry knowing the running maximum from the time index.
    pub fn on_batch(
        &mut self,
        segment_base: Offset,
        position: u64,
        header: &BatchHeader,
        index_out: &mut Vec<u8>,
        time_out: &mut Vec<u8>,
    ) {
        if position > 0 && self.bytes_since_entry >= u64::from(self.interval_bytes) {
            self.push_time_entry(segment_base, header.base_offset.plus(-1), time_out);
            let entry = IndexEntry {
                relative_offset: relative(segment_base, header.base_offset),
                position: position as u32,
            };
            index_out.extend_from_slice(&entry.encode());
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += header.total_len() as u64;
        if self
            .max_timestamp
            .is_none_or(|max| header.max_timestamp > max)
        {
            self.max_timestamp = Some(header.max_timestamp);
        }
    }

    /// Writes the running maximum if it is newer than the last time entry;
    /// done on seal so the time index ends with the segment's maximum.
    pub fn push_time_entry(
        &mut self,
        segment_base: Offset,
        last_offset: Offset,
        time_out: &mut Vec<u8>,
    ) {
        if let Some(max) = self.max_timestamp {
            if self.last_time_entry.is_none_or(|last| max > last) {
                let entry = TimeIndexEntry {
                    timestamp: max,
                    relative_offset: relative(segment_base, last_offset),
                };
                time_out.extend_from_slice(&entry.encode());
                self.last_time_entry = Some(max);
            }
        }
    }
}
