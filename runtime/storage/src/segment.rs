//! A segment: one log file of whole batches plus its two sparse indexes.
//!
//! A partition has exactly one [`ActiveSegment`], owned by its writer thread,
//! and any number of [`SealedSegment`]s, which are immutable, memory-mapped
//! and shared with readers. Sealing consumes the active segment, so
//! "appendable" and "read-only" are different types. Readers see a segment
//! through `SegmentView` (`segment_view.rs`), which bounds what they may
//! read: the whole file of a sealed segment, the durable prefix of the
//! active one.
//!
//! Files are named by the segment's base offset, zero-padded to 20 digits:
//! `00000000000000004096.log`, `.index`, `.timeindex`.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use memmap2::Mmap;
use sluice_batch::BatchHeader;
use sluice_types::{Offset, Timestamp};

use crate::error::{Result, StorageError};
use crate::index_builder::IndexBuilder;
use crate::time_index;

pub const LOG_SUFFIX: &str = "log";
pub const INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// `dir/{base_offset:020}.{suffix}`.
pub fn segment_path(dir: &Path, base_offset: Offset, suffix: &str) -> PathBuf {
    dir.join(format!("{:020}.{suffix}", base_offset.0))
}

/// Parses `00000000000000004096.log` into offset 4096; `None` for any other
/// name shape.
pub fn parse_segment_name(file_name: &str, suffix: &str) -> Option<Offset> {
    let stem = file_name.strip_suffix(suffix)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok().map(Offset)
}

/// Maps a whole file read-only. Empty files map to empty `Bytes`.
///
/// The mapping stays valid after the file is unlinked or replaced by a
/// rename (retention, compaction): readers holding it keep their bytes.
/// Sluice never truncates a sealed file in place, which is what would make
/// a mapping fault.
pub fn map_file(path: &Path) -> Result<Bytes> {
    let file = File::open(path).map_err(StorageError::io("open", path))?;
    let len = file
        .metadata()
        .map_err(StorageError::io("stat", path))?
        .len();
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: sealed segment files are never modified in place; they are
    // only replaced by rename or unlinked, which leaves this mapping intact.
    let mmap = unsafe { Mmap::map(&file) }.map_err(StorageError::io("mmap", path))?;
    Ok(Bytes::from_owner(mmap))
}

/// An offset relative to its segment. Segments never span more than
/// `u32::MAX` offsets: the writer rolls before that.
pub fn relative(segment_base: Offset, offset: Offset) -> u32 {
    u32::try_from(offset.0 - segment_base.0).unwrap_or(u32::MAX)
}

/// The immutable part of a segment that readers may touch.
pub struct SealedSegment {
    pub base_offset: Offset,
    /// The offset after this segment's range (the next segment's base).
    pub next_offset: Offset,
    pub max_timestamp: Option<Timestamp>,
    pub path: PathBuf,
    pub(crate) log: Bytes,
    pub(crate) index: Bytes,
    pub(crate) time_index: Bytes,
}

impl SealedSegment {
    /// Maps a sealed segment whose index files are known to be valid.
    pub fn open(dir: &Path, base_offset: Offset, next_offset: Offset) -> Result<SealedSegment> {
        let path = segment_path(dir, base_offset, LOG_SUFFIX);
        let log = map_file(&path)?;
        let index = map_file(&segment_path(dir, base_offset, INDEX_SUFFIX))?;
        let time_index = map_file(&segment_path(dir, base_offset, TIME_INDEX_SUFFIX))?;
        let max_timestamp = time_index::last(&time_index).map(|e| e.timestamp);
        Ok(SealedSegment {
            base_offset,
            next_offset,
            max_timestamp,
            path,
            log,
            index,
            time_index,
        })
    }

    pub fn size_bytes(&self) -> u64 {
        self.log.len() as u64
    }

    /// The whole log file, mapped.
    pub fn log_bytes(&self) -> &Bytes {
        &self.log
    }
}

/// The part of the active segment readers share with the writer.
pub struct ActiveShared {
    pub base_offset: Offset,
    pub path: PathBuf,
    pub(crate) log: File,
    /// Encoded offset index entries, also appended to the `.index` file.
    pub(crate) index: RwLock<Vec<u8>>,
    pub(crate) time_index: RwLock<Vec<u8>>,
    /// Largest timestamp appended so far; `i64::MIN` while empty.
    max_timestamp: AtomicI64,
}

impl ActiveShared {
    /// fsyncs the log file's data (not its index files, which are rebuilt
    /// from the log when needed).
    pub fn sync_data(&self) -> Result<()> {
        // fdatasync is enough: it also flushes the file size, the only
        // metadata reads depend on.
        self.log
            .sync_data()
            .map_err(StorageError::io("fsync", &self.path))
    }

    pub fn max_timestamp(&self) -> Option<Timestamp> {
        let max = self.max_timestamp.load(Ordering::Acquire);
        (max != i64::MIN).then_some(Timestamp(max))
    }
}

/// The one appendable segment of a partition, owned by its writer thread.
pub struct ActiveSegment {
    pub shared: Arc<ActiveShared>,
    dir: PathBuf,
    index_file: File,
    time_index_file: File,
    /// Bytes of the log file written so far (the append position).
    pub log_len: u64,
    /// The offset the next batch gets.
    pub next_offset: Offset,
    builder: IndexBuilder,
    /// Index bytes already written to the files.
    index_written: usize,
    time_index_written: usize,
    /// When this segment got its first batch, for rolling by age.
    pub first_append: Option<std::time::Instant>,
    pending_index: Vec<u8>,
    pending_time_index: Vec<u8>,
}

fn open_rw(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(StorageError::io("open", path))
}

impl ActiveSegment {
    /// Creates the files of a new, empty segment at `base_offset`.
    pub fn create(
        dir: &Path,
        base_offset: Offset,
        index_interval_bytes: u32,
    ) -> Result<ActiveSegment> {
        Self::resume(
            dir,
            base_offset,
            0,
            base_offset,
            Vec::new(),
            Vec::new(),
            IndexBuilder::new(index_interval_bytes),
        )
    }

    /// Opens a segment whose first `log_len` bytes were verified by
    /// recovery, with the index entries recovery kept or rebuilt. The index
    /// files are rewritten to exactly those entries.
    pub fn resume(
        dir: &Path,
        base_offset: Offset,
        log_len: u64,
        next_offset: Offset,
        index_entries: Vec<u8>,
        time_entries: Vec<u8>,
        builder: IndexBuilder,
    ) -> Result<ActiveSegment> {
        let path = segment_path(dir, base_offset, LOG_SUFFIX);
        let log = open_rw(&path, true)?;
        log.set_len(log_len)
            .map_err(StorageError::io("truncate", &path))?;
        (&log)
            .seek(SeekFrom::Start(log_len))
            .map_err(StorageError::io("seek", &path))?;
        let index_path = segment_path(dir, base_offset, INDEX_SUFFIX);
        let index_file = open_rw(&index_path, true)?;
        index_file
            .set_len(0)
            .and_then(|()| index_file.write_all_at(&index_entries, 0))
            .map_err(StorageError::io("write", &index_path))?;
        let time_path = segment_path(dir, base_offset, TIME_INDEX_SUFFIX);
        let time_index_file = open_rw(&time_path, true)?;
        time_index_file
            .set_len(0)
            .and_then(|()| time_index_file.write_all_at(&time_entries, 0))
            .map_err(StorageError::io("write", &time_path))?;
        let max_timestamp = builder.max_timestamp.map_or(i64::MIN, |t| t.0);
        let index_written = index_entries.len();
        let time_index_written = time_entries.len();
        Ok(ActiveSegment {
            shared: Arc::new(ActiveShared {
                base_offset,
                path,
                log,
                index: RwLock::new(index_entries),
                time_index: RwLock::new(time_entries),
                max_timestamp: AtomicI64::new(max_timestamp),
            }),
            dir: dir.to_path_buf(),
            index_file,
            time_index_file,
            log_len,
            next_offset,
            builder,
            index_written,
            time_index_written,
            first_append: (log_len > 0).then(std::time::Instant::now),
            pending_index: Vec::new(),
            pending_time_index: Vec::new(),
        })
    }

    pub fn base_offset(&self) -> Offset {
        self.shared.base_offset
    }

    pub fn is_empty(&self) -> bool {
        self.log_len == 0
    }

    /// Writes batches whose base offsets are already stamped (`prefixes`
    /// holds each batch's new first 16 bytes: base offset, length, leader
    /// epoch), in one vectored write. Index entries are kept in memory until
    /// [`ActiveSegment::publish_indexes`].
    ///
    /// The caller (the partition writer) has checked every batch and
    /// assigned its offsets; this only moves bytes.
    pub fn write_batches(&mut self, batches: &[(BatchHeader, [u8; 16], Bytes)]) -> Result<()> {
        let mut position = self.log_len;
        for (header, _, _) in batches {
            self.builder.on_batch(
                self.shared.base_offset,
                position,
                header,
                &mut self.pending_index,
                &mut self.pending_time_index,
            );
            position += header.total_len() as u64;
            if self.first_append.is_none() {
                self.first_append = Some(std::time::Instant::now());
            }
        }
        // Two slices a batch: the restamped prefix and the untouched rest.
        for chunk in batches.chunks(512) {
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(chunk.len() * 2);
            for (_, prefix, bytes) in chunk {
                slices.push(IoSlice::new(prefix));
                slices.push(IoSlice::new(&bytes[16..]));
            }
            let mut slices = &mut slices[..];
            let mut log = &self.shared.log;
            while !slices.is_empty() {
                let written = log
                    .write_vectored(slices)
                    .map_err(StorageError::io("write", &self.shared.path))?;
                if written == 0 {
                    return Err(StorageError::io("write", &self.shared.path)(
                        std::io::ErrorKind::WriteZero.into(),
                    ));
                }
                IoSlice::advance_slices(&mut slices, written);
            }
        }
        if let Some((header, _, _)) = batches.last() {
            self.next_offset = header.next_offset();
        }
        self.log_len = position;
        Ok(())
    }

    /// Makes index entries of written batches visible to readers and
    /// writes them to the index files (not fsync'd: indexes are rebuilt
    /// from the log when damaged).
    pub fn publish_indexes(&mut self) -> Result<()> {
        if let Some(max) = self.builder.max_timestamp {
            self.shared.max_timestamp.store(max.0, Ordering::Release);
        }
        if !self.pending_index.is_empty() {
            let mut index = self.shared.index.write().expect("index lock poisoned");
            index.extend_from_slice(&self.pending_index);
            drop(index);
            self.index_file
                .write_all_at(&self.pending_index, self.index_written as u64)
                .map_err(StorageError::io(
                    "write",
                    segment_path(&self.dir, self.base_offset(), INDEX_SUFFIX),
                ))?;
            self.index_written += self.pending_index.len();
            self.pending_index.clear();
        }
        if !self.pending_time_index.is_empty() {
            let mut index = self
                .shared
                .time_index
                .write()
                .expect("time index lock poisoned");
            index.extend_from_slice(&self.pending_time_index);
            drop(index);
            self.time_index_file
                .write_all_at(&self.pending_time_index, self.time_index_written as u64)
                .map_err(StorageError::io(
                    "write",
                    segment_path(&self.dir, self.base_offset(), TIME_INDEX_SUFFIX),
                ))?;
            self.time_index_written += self.pending_time_index.len();
            self.pending_time_index.clear();
        }
        Ok(())
    }

    /// fsyncs the log file's data.
    pub fn sync_log(&self) -> Result<()> {
        self.shared.sync_data()
    }

    /// Writes the final time index entry and fsyncs the log and both
    /// indexes. Idempotent; the segment stays appendable.
    pub fn finish(&mut self) -> Result<()> {
        let last_offset = self.next_offset.plus(-1);
        let base = self.base_offset();
        self.builder
            .push_time_entry(base, last_offset, &mut self.pending_time_index);
        self.publish_indexes()?;
        self.sync_log()?;
        for (file, suffix) in [
            (&self.index_file, INDEX_SUFFIX),
            (&self.time_index_file, TIME_INDEX_SUFFIX),
        ] {
            file.sync_all().map_err(StorageError::io(
                "fsync",
                segment_path(&self.dir, base, suffix),
            ))?;
        }
        Ok(())
    }

    /// Finishes the segment and maps it read-only. Consumes the active
    /// segment: nothing can be appended to it afterwards.
    pub fn seal(mut self) -> Result<SealedSegment> {
        self.finish()?;
        SealedSegment::open(&self.dir, self.base_offset(), self.next_offset)
    }

    /// Size of the log file in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.log_len
    }
}
