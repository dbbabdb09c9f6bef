//! Reading one segment: finding the batch that holds an offset, cutting
//! whole batches up to a byte budget, and finding the first record at or
//! after a timestamp.
//!
//! Sealed segments are read from their memory mapping (the returned
//! `Bytes` are slices of it: no copy); the active segment with positional
//! reads, never past the bytes at or below the high watermark.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sluice_batch::{BatchHeader, HEADER_LEN};
use sluice_types::{Offset, Timestamp};

use crate::error::{Result, StorageError};
use crate::index::{self, IndexEntry};
use crate::segment::{relative, ActiveShared, SealedSegment};
use crate::time_index::{self, TimeIndexEntry};

/// A segment as a reader sees it: which bytes exist and how to get them.
#[derive(Clone)]
pub enum SegmentView {
    Sealed(Arc<SealedSegment>),
    /// The active segment and how many of its bytes are readable (those at
    /// or below the high watermark).
    Active(Arc<ActiveShared>, u64),
}

impl SegmentView {
    pub fn base_offset(&self) -> Offset {
        match self {
            SegmentView::Sealed(s) => s.base_offset,
            SegmentView::Active(a, _) => a.base_offset,
        }
    }

    pub fn max_timestamp(&self) -> Option<Timestamp> {
        match self {
            SegmentView::Sealed(s) => s.max_timestamp,
            SegmentView::Active(a, _) => a.max_timestamp(),
        }
    }

    fn readable_len(&self) -> u64 {
        match self {
            SegmentView::Sealed(s) => s.log.len() as u64,
            SegmentView::Active(_, len) => *len,
        }
    }

    fn path(&self) -> &Path {
        match self {
            SegmentView::Sealed(s) => &s.path,
            SegmentView::Active(a, _) => &a.path,
        }
    }

    /// `len` bytes at `position`: a slice of the mapping for a sealed
    /// segment (no copy), a positional read for the active one.
    fn bytes_at(&self, position: u64, len: usize) -> Result<Bytes> {
        match self {
            SegmentView::Sealed(s) => {
                let start = position as usize;
                Ok(s.log.slice(start..start + len))
            }
            SegmentView::Active(a, _) => {
                let mut buf = BytesMut::zeroed(len);
                a.log
                    .read_exact_at(&mut buf, position)
                    .map_err(StorageError::io("read", &a.path))?;
                Ok(buf.freeze())
            }
        }
    }

    fn index_lookup(&self, relative_offset: u32) -> Option<IndexEntry> {
        match self {
            SegmentView::Sealed(s) => index::lookup(&s.index, relative_offset),
            SegmentView::Active(a, _) => index::lookup(
                &a.index.read().expect("index lock poisoned"),
                relative_offset,
            ),
        }
    }

    fn time_lookup(&self, timestamp: Timestamp) -> Option<TimeIndexEntry> {
        match self {
            SegmentView::Sealed(s) => time_index::last_before(&s.time_index, timestamp),
            SegmentView::Active(a, _) => time_index::last_before(
                &a.time_index.read().expect("time index lock poisoned"),
                timestamp,
            ),
        }
    }

    /// The header of the batch at `position`, if a whole header is there.
    fn header_at(&self, position: u64) -> Result<Option<BatchHeader>> {
        if position + HEADER_LEN as u64 > self.readable_len() {
            return Ok(None);
        }
        let bytes = self.bytes_at(position, HEADER_LEN)?;
        let header = BatchHeader::parse(&bytes).map_err(|e| StorageError::CorruptSegment {
            path: self.path().to_path_buf(),
            reason: format!("batch header at byte {position}: {e}"),
        })?;
        if position + header.total_len() as u64 > self.readable_len() {
            return Ok(None);
        }
        Ok(Some(header))
    }

    /// Byte position of the first batch holding an offset ≥ `from`.
    fn seek(&self, from: Offset) -> Result<Option<(u64, BatchHeader)>> {
        let rel = relative(self.base_offset(), from.max(self.base_offset()));
        let mut position = self.index_lookup(rel).map_or(0, |e| u64::from(e.position));
        while let Some(header) = self.header_at(position)? {
            if header.last_offset() >= from {
                return Ok(Some((position, header)));
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }

    /// Whole batches starting with the one that holds `from` (or the first
    /// one after it), up to `max_bytes` but always at least one batch.
    /// `None` when the segment holds nothing at or after `from`.
    pub fn read(&self, from: Offset, max_bytes: usize) -> Result<Option<Bytes>> {
        let Some((start, first)) = self.seek(from)? else {
            return Ok(None);
        };
        let mut end = start + first.total_len() as u64;
        while let Some(header) = self.header_at(end)? {
            let next_end = end + header.total_len() as u64;
            if next_end - start > max_bytes as u64 {
                break;
            }
            end = next_end;
        }
        self.bytes_at(start, (end - start) as usize).map(Some)
    }

    /// The first record at or after `timestamp` in this segment:
    /// `(offset, record timestamp)`, or `None` when every record is older.
    pub fn offset_for_timestamp(
        &self,
        timestamp: Timestamp,
    ) -> Result<Option<(Offset, Timestamp)>> {
        if self.max_timestamp().is_none_or(|max| max < timestamp) {
            return Ok(None);
        }
        let from = self.time_lookup(timestamp).map_or(self.base_offset(), |e| {
            self.base_offset().plus(i64::from(e.relative_offset) + 1)
        });
        let Some((mut position, _)) = self.seek(from)? else {
            return Ok(None);
        };
        while let Some(header) = self.header_at(position)? {
            if header.max_timestamp >= timestamp {
                let batch = self.bytes_at(position, header.total_len())?;
                let records = sluice_batch::decode_records(&batch).map_err(|source| {
                    StorageError::Decode {
                        partition: self.path().display().to_string(),
                        offset: header.base_offset,
                        source,
                    }
                })?;
                if let Some(record) = records
                    .iter()
                    .find(|r| r.offset >= from && r.timestamp >= timestamp)
                {
                    return Ok(Some((record.offset, record.timestamp)));
                }
            }
            position += header.total_len() as u64;
        }
        Ok(None)
    }
}
