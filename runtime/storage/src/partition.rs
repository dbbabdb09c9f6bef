//! One partition: an append-only log of segments, its watermarks, and the
//! read paths (by offset, by timestamp).
//!
//! Appends go through one writer thread per partition (see `writer.rs`),
//! fed by a bounded channel; that thread is the only place offsets are
//! assigned. Readers never wait for it: they take a snapshot of the segment
//! list under a short read lock and read sealed segments from their memory
//! mappings (zero-copy) and the active segment with positional reads, never
//! past the high watermark.
//!
//! Watermarks: `log_start` is the first offset still stored, `leo` (log end
//! offset) the offset the next append gets, `hw` (high watermark) the end
//! of what consumers may read. With `fsync = "batch"` the high watermark
//! only moves after an fsync, so no consumer ever sees a record a crash
//! could take back.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use sluice_types::{Offset, Timestamp};

use crate::compaction::CompactionMark;
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::recovery::{recover, RecoveryReport};
use crate::segment::{ActiveShared, SealedSegment};
use crate::segment_view::SegmentView;
use crate::writer::{Command, LogWriter, Reply};

/// Appends queued per partition before callers block (backpressure).
const APPEND_QUEUE_CAPACITY: usize = 1024;

/// What an acknowledged append got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub base_offset: Offset,
    /// Offset of the last record appended.
    pub last_offset: Offset,
    pub log_start: Offset,
}

/// An append [`Partition::try_append_with`] did not queue, handed back
/// with its callback (which has not run).
pub enum NotQueued {
    /// The queue holds its maximum of appends; the writer is behind.
    Full { batches: Bytes, done: Reply },
    /// The partition is closed; no append will be taken.
    Closed { batches: Bytes, done: Reply },
}

/// Whole batches read from a partition, as stored.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Concatenated RecordBatch v2 bytes. The first batch may start before
    /// the requested offset (a batch is never split); empty at the end.
    pub batches: Bytes,
    pub hw: Offset,
    pub log_start: Offset,
}

/// The watermarks of a partition at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub log_start: Offset,
    pub hw: Offset,
    pub leo: Offset,
}

/// Called with the new high watermark each time it moves.
pub type HwListener = Box<dyn Fn(Offset) + Send + Sync>;

/// State shared by readers and the writer thread. Held only for short,
/// non-blocking sections.
pub(crate) struct LogState {
    pub sealed: Vec<Arc<SealedSegment>>,
    pub active: Arc<ActiveShared>,
    /// Bytes of the active segment at or below the high watermark.
    pub active_readable: u64,
    pub log_start: Offset,
    pub hw: Offset,
    pub leo: Offset,
    /// Set after a failed write or fsync: the log refuses appends until it
    /// is reopened, because the page cache can no longer be trusted.
    pub offline: Option<String>,
}

pub(crate) struct Shared {
    pub name: String,
    pub dir: PathBuf,
    pub config: LogConfig,
    pub state: RwLock<LogState>,
    /// Serialises retention and compaction, which both rewrite the sealed
    /// list, and remembers what the last compaction saw.
    pub maintenance: Mutex<Option<CompactionMark>>,
    /// Signalled whenever the high watermark moves.
    pub hw_changed: Condvar,
    pub hw_mutex: Mutex<()>,
    listeners: Mutex<Vec<HwListener>>,
}

impl Shared {
    pub fn notify_hw(&self, hw: Offset) {
        drop(self.hw_mutex.lock().expect("hw mutex poisoned"));
        self.hw_changed.notify_all();
        for listener in self.listeners.lock().expect("listeners poisoned").iter() {
            listener(hw);
        }
    }
}

/// A partition log, shareable between threads (`Arc<Partition>`).
pub struct Partition {
    shared: Arc<Shared>,
    sender: SyncSender<Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    report: RecoveryReport,
}

impl Partition {
    /// Opens the partition in `dir`, creating it if needed, and recovers
    /// its tail. `name` (e.g. `orders-3`) appears in errors and logs.
    ///
    /// # Errors
    /// I/O errors and corrupt sealed segments, with their paths.
    pub fn open(dir: &Path, name: &str, config: LogConfig) -> Result<Partition> {
        let recovered = recover(dir, config.index_interval_bytes)?;
        let log_start = recovered
            .sealed
            .first()
            .map_or(recovered.active.base_offset(), |s| s.base_offset);
        let leo = recovered.active.next_offset;
        let state = LogState {
            sealed: recovered.sealed.into_iter().map(Arc::new).collect(),
            active: recovered.active.shared.clone(),
            active_readable: recovered.active.log_len,
            log_start,
            hw: leo,
            leo,
            offline: None,
        };
        let shared = Arc::new(Shared {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            config,
            state: RwLock::new(state),
            maintenance: Mutex::new(None),
            hw_changed: Condvar::new(),
            hw_mutex: Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
        });
        let (sender, receiver) = sync_channel(APPEND_QUEUE_CAPACITY);
        let writer = LogWriter::new(shared.clone(), recovered.active, receiver)?;
        let handle = std::thread::Builder::new()
            .name(format!("log-writer {name}"))
            .spawn(move || writer.run())
            .map_err(StorageError::io("spawn writer for", dir))?;
        Ok(Partition {
            shared,
            sender,
            writer: Mutex::new(Some(handle)),
            report: recovered.report,
        })
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.shared.config
    }

    /// What recovery found and did when this partition was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Appends one or more whole RecordBatch v2 batches and waits until the
    /// append is acknowledged under the topic's fsync policy.
    ///
    /// # Errors
    /// [`StorageError::InvalidBatch`] when a batch is malformed or fails its
    /// CRC (nothing of that call is written), I/O errors, or
    /// [`StorageError::Offline`] after an earlier I/O failure.
    pub fn append(&self, batches: Bytes) -> Result<AppendInfo> {
        let (sender, receiver) = sync_channel(1);
        self.append_with(
            batches,
            Box::new(move |result| {
                // The caller may have stopped waiting; nothing to do then.
                let _ = sender.send(result);
            }),
        )?;
        receiver.recv().map_err(|_| StorageError::Closed {
            partition: self.shared.name.clone(),
        })?
    }

    /// Queues an append; `done` runs on the writer thread once it is
    /// acknowledged (or failed). Blocks while the queue is full.
    ///
    /// # Errors
    /// [`StorageError::Closed`] when the partition is closed.
    pub fn append_with(&self, batches: Bytes, done: Reply) -> Result<()> {
        self.sender
            .send(Command::Append { batches, done })
            .map_err(|_| StorageError::Closed {
                partition: self.shared.name.clone(),
            })
    }

    /// Queues an append like [`Partition::append_with`], but never blocks:
    /// when the queue is full (or the partition closed) the append comes
    /// back to the caller, callback not run, so an async caller can retry
    /// from a thread that may block instead of stalling its own.
    ///
    /// # Errors
    /// [`NotQueued`], holding the append.
    pub fn try_append_with(&self, batches: Bytes, done: Reply) -> Result<(), NotQueued> {
        match self.sender.try_send(Command::Append { batches, done }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Command::Append { batches, done })) => {
                Err(NotQueued::Full { batches, done })
            }
            Err(TrySendError::Disconnected(Command::Append { batches, done })) => {
                Err(NotQueued::Closed { batches, done })
            }
            Err(_) => unreachable!("only an append was sent"),
        }
    }

    /// fsyncs everything appended so far.
    ///
    /// # Errors
    /// I/O errors, or [`StorageError::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.control(|done| Command::Flush { done })
    }

    /// Seals the active segment now (if it holds anything) and starts a
    /// new one, as if it had reached its size limit.
    ///
    /// # Errors
    /// I/O errors, or [`StorageError::Closed`].
    pub fn roll(&self) -> Result<()> {
        self.control(|done| Command::Roll { done })
    }

    /// Sends a control command to the writer and waits for its answer.
    fn control(&self, command: impl FnOnce(SyncSender<Result<()>>) -> Command) -> Result<()> {
        let closed = || StorageError::Closed {
            partition: self.shared.name.clone(),
        };
        let (sender, receiver) = sync_channel(1);
        self.sender.send(command(sender)).map_err(|_| closed())?;
        receiver.recv().map_err(|_| closed())?
    }

    /// Current watermarks.
    pub fn watermarks(&self) -> Watermarks {
        let state = self.shared.state.read().expect("state lock poisoned");
        Watermarks {
            log_start: state.log_start,
            hw: state.hw,
            leo: state.leo,
        }
    }

    /// Calls `listener` (on the writer thread; keep it short) every time the
    /// high watermark moves.
    pub fn on_hw_advance(&self, listener: HwListener) {
        self.shared
            .listeners
            .lock()
            .expect("listeners poisoned")
            .push(listener);
    }

    /// Blocks until the high watermark passes `offset` or `timeout` ends;
    /// returns the high watermark.
    pub fn wait_for_hw_above(&self, offset: Offset, timeout: Duration) -> Offset {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = self.shared.hw_mutex.lock().expect("hw mutex poisoned");
        loop {
            let hw = self.watermarks().hw;
            let now = std::time::Instant::now();
            if hw > offset || now >= deadline {
                return hw;
            }
            guard = self
                .shared
                .hw_changed
                .wait_timeout(guard, deadline - now)
                .expect("hw mutex poisoned")
                .0;
        }
    }

    /// Total bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        let state = self.shared.state.read().expect("state lock poisoned");
        state.sealed.iter().map(|s| s.size_bytes()).sum::<u64>() + state.active_readable
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        self.shared
            .state
            .read()
            .expect("state lock poisoned")
            .sealed
            .len()
            + 1
    }

    pub(crate) fn views(&self) -> (Vec<SegmentView>, Watermarks) {
        let state = self.shared.state.read().expect("state lock poisoned");
        let mut views: Vec<SegmentView> = state
            .sealed
            .iter()
            .map(|s| SegmentView::Sealed(s.clone()))
            .collect();
        views.push(SegmentView::Active(
            state.active.clone(),
            state.active_readable,
        ));
        let marks = Watermarks {
            log_start: state.log_start,
            hw: state.hw,
            leo: state.leo,
        };
        (views, marks)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Reads whole batches from `from` on, about `max_bytes` of them (at
    /// least one batch when any exists), from a single segment. An empty
    /// result means `from` is the high watermark: nothing to read yet.
    ///
    /// # Errors
    /// [`StorageError::OffsetOutOfRange`] when `from` is below the log start
    /// or above the high watermark; I/O errors.
    pub fn read(&self, from: Offset, max_bytes: usize) -> Result<ReadResult> {
        let (views, marks) = self.views();
        let out_of_range = || StorageError::OffsetOutOfRange {
            partition: self.shared.name.clone(),
            offset: from,
            log_start: marks.log_start,
            hw: marks.hw,
        };
        if from < marks.log_start || from > marks.hw {
            return Err(out_of_range());
        }
        let empty = ReadResult {
            batches: Bytes::new(),
            hw: marks.hw,
            log_start: marks.log_start,
        };
        if from == marks.hw {
            return Ok(empty);
        }
        let first = views
            .partition_point(|v| v.base_offset() <= from)
            .saturating_sub(1);
        for view in &views[first..] {
            if let Some(batches) = view.read(from, max_bytes)? {
                return Ok(ReadResult {
                    batches,
                    hw: marks.hw,
                    log_start: marks.log_start,
                });
            }
        }
        Ok(empty)
    }

    /// The first record whose timestamp is at or after `timestamp`:
    /// `(offset, its timestamp)`, or `None` when every record is older.
    ///
    /// # Errors
    /// I/O errors, or a batch that cannot be decoded.
    pub fn offset_for_timestamp(
        &self,
        timestamp: Timestamp,
    ) -> Result<Option<(Offset, Timestamp)>> {
        let (views, _) = self.views();
        for view in &views {
            if let Some(found) = view.offset_for_timestamp(timestamp)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Stops the writer after it has written and fsync'd everything queued.
    ///
    /// # Errors
    /// The last fsync's error, if it failed.
    pub fn close(&self) -> Result<()> {
        let (sender, receiver) = sync_channel(1);
        if self.sender.send(Command::Close { done: sender }).is_ok() {
            if let Ok(result) = receiver.recv() {
                result?;
            }
        }
        if let Some(handle) = self.writer.lock().expect("writer handle poisoned").take() {
            if handle.join().is_err() {
                tracing::error!(partition = %self.shared.name, "log writer thread panicked");
            }
        }
        Ok(())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::error!(partition = %self.shared.name, error = %error, "closing partition failed");
        }
    }
}
