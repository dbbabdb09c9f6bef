//! The partition's writer thread: the only place offsets are assigned.
//!
//! Appends arrive on a bounded channel. The writer takes everything queued
//! (up to a group limit), checks every batch, stamps base offsets, writes
//! the whole group with one vectored write and, under `fsync = "batch"`,
//! one fsync; then it acknowledges the whole group. Appends that arrive
//! during an fsync wait for the next one: that is group commit, and it is
//! what lets many concurrent producers share the cost of an fsync.
//!
//! The writer also rolls segments (size, age, offset span) and runs the
//! interval fsync timer. It never touches sealed segments after sealing
//! them; retention and compaction do that under the maintenance lock.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_batch::{BatchError, BatchHeader, Batches};
use sluice_types::Offset;
use tracing::{debug, error, trace};

use crate::config::FsyncPolicy;
use crate::error::{Result, StorageError};
use crate::partition::{AppendInfo, Shared};
use crate::recovery::LEADER_EPOCH;
use crate::segment::ActiveSegment;
use crate::syncer::{self, SyncJob, SYNC_QUEUE_CAPACITY};

/// Callback run on the writer thread when an append is acknowledged.
pub type Reply = Box<dyn FnOnce(Result<AppendInfo>) + Send>;

/// Most appends taken into one group (one write, one fsync).
const GROUP_APPENDS_MAX: usize = 256;
/// Most bytes taken into one group.
const GROUP_BYTES_MAX: usize = 32 << 20;
/// How often the writer wakes when idle, to roll aged segments.
const IDLE_TICK: Duration = Duration::from_millis(500);

pub(crate) enum Command {
    Append { batches: Bytes, done: Reply },
    Flush { done: SyncSender<Result<()>> },
    Roll { done: SyncSender<Result<()>> },
    Close { done: SyncSender<Result<()>> },
}

pub(crate) struct LogWriter {
    shared: Arc<Shared>,
    active: ActiveSegment,
    receiver: Receiver<Command>,
    /// True when bytes were written since the last fsync.
    unsynced: bool,
    last_sync: Instant,
    /// The fsync thread, under `fsync = "batch"`.
    syncer: Option<(SyncSender<SyncJob>, std::thread::JoinHandle<()>)>,
}

/// One append of a group, checked and stamped, waiting for its ack.
struct Staged {
    info: AppendInfo,
    done: Reply,
}

impl LogWriter {
    /// # Errors
    /// When the fsync thread cannot be started.
    pub fn new(
        shared: Arc<Shared>,
        active: ActiveSegment,
        receiver: Receiver<Command>,
    ) -> Result<Self> {
        let syncer = if shared.config.fsync == FsyncPolicy::Batch {
            let (sender, jobs) = sync_channel(SYNC_QUEUE_CAPACITY);
            let for_thread = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("log-fsync {}", shared.name))
                .spawn(move || syncer::run(for_thread, jobs))
                .map_err(StorageError::io("spawn fsync thread for", &shared.dir))?;
            Some((sender, handle))
        } else {
            None
        };
        Ok(LogWriter {
            shared,
            active,
            receiver,
            unsynced: false,
            last_sync: Instant::now(),
            syncer,
        })
    }

    /// Waits for the fsync thread to acknowledge everything queued.
    fn stop_syncer(&mut self) {
        if let Some((sender, handle)) = self.syncer.take() {
            drop(sender);
            if handle.join().is_err() {
                error!(partition = %self.shared.name, "fsync thread panicked");
            }
        }
    }

    pub fn run(mut self) {
        loop {
            let first = match self.receiver.recv_timeout(self.wake_after()) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.on_tick();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut appends = Vec::new();
            let mut group_bytes = 0;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Append { batches, done } => {
                        group_bytes += batches.len();
                        appends.push((batches, done));
                        if appends.len() < GROUP_APPENDS_MAX && group_bytes < GROUP_BYTES_MAX {
                            next = self.receiver.try_recv().ok();
                        }
                    }
                    other => {
                        // Control commands apply after the appends queued before them.
                        self.append_group(std::mem::take(&mut appends));
                        if self.control(other) {
                            self.stop_syncer();
                            return;
                        }
                        next = self.receiver.try_recv().ok();
                    }
                }
            }
            self.append_group(appends);
        }
        self.stop_syncer();
        if let Err(error) = self.sync() {
            error!(partition = %self.shared.name, %error, "final fsync failed");
        }
    }

    /// Handles a non-append command; true when the writer must stop.
    fn control(&mut self, command: Command) -> bool {
        match command {
            Command::Append { .. } => unreachable!("appends are grouped by run"),
            Command::Flush { done } => {
                let _ = done.send(self.sync());
                false
            }
            Command::Roll { done } => {
                let result = if self.active.is_empty() {
                    Ok(())
                } else {
                    self.roll()
                };
                let _ = done.send(result);
                false
            }
            Command::Close { done } => {
                let _ = done.send(self.sync());
                true
            }
        }
    }

    fn wake_after(&self) -> Duration {
        match self.shared.config.fsync {
            FsyncPolicy::Interval { interval_ms } if self.unsynced => {
                let interval = Duration::from_millis(interval_ms);
                interval
                    .saturating_sub(self.last_sync.elapsed())
                    .max(Duration::from_millis(1))
            }
            _ => IDLE_TICK,
        }
    }

    fn on_tick(&mut self) {
        if let FsyncPolicy::Interval { interval_ms } = self.shared.config.fsync {
            if self.unsynced && self.last_sync.elapsed() >= Duration::from_millis(interval_ms) {
                if let Err(error) = self.sync() {
                    self.go_offline(&error);
                }
            }
        }
        if self.segment_aged() {
            if let Err(error) = self.roll() {
                self.go_offline(&error);
            }
        }
    }

    fn segment_aged(&self) -> bool {
        self.active
            .first_append
            .is_some_and(|first| first.elapsed() >= self.shared.config.segment_age_max())
    }

    fn offline_reason(&self) -> Option<String> {
        self.shared
            .state
            .read()
            .expect("state lock poisoned")
            .offline
            .clone()
    }

    fn go_offline(&self, error: &StorageError) {
        error!(partition = %self.shared.name, %error, "log write failed; partition offline until reopened");
        self.shared
            .state
            .write()
            .expect("state lock poisoned")
            .offline = Some(error.to_string());
    }

    /// Checks the batches of one append; returns their headers.
    fn check(&self, batches: &Bytes) -> Result<Vec<(BatchHeader, Bytes)>> {
        let invalid = |position, source| StorageError::InvalidBatch {
            partition: self.shared.name.clone(),
            position,
            source,
        };
        let mut iter = Batches::new(batches.clone(), true);
        let mut out = Vec::new();
        for item in iter.by_ref() {
            let position = out
                .iter()
                .map(|(h, _): &(BatchHeader, Bytes)| h.total_len())
                .sum();
            let (header, bytes) = item.map_err(|e| invalid(position, e))?;
            if header.record_count == 0 {
                return Err(invalid(position, BatchError::Empty));
            }
            out.push((header, bytes));
        }
        if iter.position() != batches.len() || out.is_empty() {
            return Err(invalid(
                iter.position(),
                BatchError::Truncated {
                    needed: batches.len().max(sluice_batch::HEADER_LEN),
                    available: batches.len() - iter.position(),
                },
            ));
        }
        if batches.len() as u64 > self.shared.config.segment_bytes {
            return Err(StorageError::BatchTooLarge {
                partition: self.shared.name.clone(),
                bytes: batches.len(),
                limit: self.shared.config.segment_bytes,
            });
        }
        Ok(out)
    }

    /// Writes one group of appends and acknowledges it.
    fn append_group(&mut self, appends: Vec<(Bytes, Reply)>) {
        if appends.is_empty() {
            return;
        }
        if let Some(reason) = self.offline_reason() {
            for (_, done) in appends {
                done(Err(StorageError::Offline {
                    partition: self.shared.name.clone(),
                    reason: reason.clone(),
                }));
            }
            return;
        }
        let mut staged: Vec<Staged> = Vec::with_capacity(appends.len());
        let mut pending: Vec<(BatchHeader, [u8; 16], Bytes)> = Vec::new();
        let mut pending_bytes = 0u64;
        let mut next_offset = self.active.next_offset;
        let mut failure: Option<StorageError> = None;
        for (batches, done) in appends {
            if failure.is_some() {
                staged.push(Staged {
                    info: dummy_info(),
                    done,
                });
                continue;
            }
            let checked = match self.check(&batches) {
                Ok(checked) => checked,
                Err(error) => {
                    debug!(partition = %self.shared.name, %error, "append rejected");
                    done(Err(error));
                    continue;
                }
            };
            if self.roll_due(pending_bytes + batches.len() as u64, &checked) {
                if let Err(error) = self.write_pending(&mut pending).and_then(|()| self.roll()) {
                    failure = Some(error);
                    staged.push(Staged {
                        info: dummy_info(),
                        done,
                    });
                    continue;
                }
                pending_bytes = 0;
            }
            let base_offset = next_offset;
            let mut next = base_offset;
            for (mut header, bytes) in checked {
                header.base_offset = next;
                header.partition_leader_epoch = LEADER_EPOCH;
                let mut prefix = [0u8; 16];
                prefix[..8].copy_from_slice(&next.0.to_be_bytes());
                prefix[8..12].copy_from_slice(&header.batch_length.to_be_bytes());
                prefix[12..16].copy_from_slice(&LEADER_EPOCH.to_be_bytes());
                next = header.next_offset();
                pending.push((header, prefix, bytes));
            }
            pending_bytes += batches.len() as u64;
            next_offset = next;
            let log_start = self
                .shared
                .state
                .read()
                .expect("state lock poisoned")
                .log_start;
            staged.push(Staged {
                info: AppendInfo {
                    base_offset,
                    last_offset: next.plus(-1),
                    log_start,
                },
                done,
            });
        }
        let result = match failure {
            Some(error) => Err(error),
            None => self.write_pending(&mut pending),
        };
        let result = match result {
            Ok(()) if self.syncer.is_some() => {
                // The fsync thread acknowledges once the group is durable.
                let job = SyncJob {
                    segment: self.active.shared.clone(),
                    leo: self.active.next_offset,
                    readable_len: self.active.log_len,
                    acks: staged.into_iter().map(|s| (s.info, s.done)).collect(),
                };
                let (sender, _) = self.syncer.as_ref().expect("checked above");
                self.shared.state.write().expect("state lock poisoned").leo = job.leo;
                match sender.send(job) {
                    Ok(()) => return,
                    Err(std::sync::mpsc::SendError(job)) => {
                        let error = StorageError::Closed {
                            partition: self.shared.name.clone(),
                        };
                        staged = job
                            .acks
                            .into_iter()
                            .map(|(info, done)| Staged { info, done })
                            .collect();
                        Err(error)
                    }
                }
            }
            Ok(()) => self.commit(),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                for Staged { info, done } in staged {
                    done(Ok(info));
                }
            }
            Err(error) => {
                self.go_offline(&error);
                let reason = error.to_string();
                for Staged { done, .. } in staged {
                    done(Err(StorageError::Offline {
                        partition: self.shared.name.clone(),
                        reason: reason.clone(),
                    }));
                }
            }
        }
    }

    /// True when `incoming_bytes` more would overflow the active segment,
    /// it is too old, or its relative offsets would overflow `u32`.
    fn roll_due(&self, incoming_bytes: u64, checked: &[(BatchHeader, Bytes)]) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let records: i64 = checked
            .iter()
            .map(|(h, _)| i64::from(h.last_offset_delta) + 1)
            .sum();
        let span = self.active.next_offset.0 - self.active.base_offset().0 + records;
        self.active.size_bytes() + incoming_bytes > self.shared.config.segment_bytes
            || span >= i64::from(u32::MAX)
            || self.segment_aged()
    }

    fn write_pending(&mut self, pending: &mut Vec<(BatchHeader, [u8; 16], Bytes)>) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        trace!(partition = %self.shared.name, batches = pending.len(), "writing group");
        self.active.write_batches(pending)?;
        self.active.publish_indexes()?;
        self.unsynced = true;
        pending.clear();
        Ok(())
    }

    /// Makes written batches durable per policy and moves the watermarks.
    fn commit(&mut self) -> Result<()> {
        match self.shared.config.fsync {
            FsyncPolicy::Batch => self.sync()?,
            FsyncPolicy::Interval { interval_ms } => {
                if self.last_sync.elapsed() >= Duration::from_millis(interval_ms) {
                    self.sync()?;
                }
            }
            FsyncPolicy::Never => {}
        }
        self.publish_watermarks();
        Ok(())
    }

    fn publish_watermarks(&self) {
        let hw = {
            let mut state = self.shared.state.write().expect("state lock poisoned");
            state.leo = self.active.next_offset;
            state.hw = self.active.next_offset;
            state.active_readable = self.active.log_len;
            state.hw
        };
        self.shared.notify_hw(hw);
    }

    fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.active.sync_log()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Seals the active segment and opens the next one at the log end.
    fn roll(&mut self) -> Result<()> {
        let next_offset = self.active.next_offset;
        let interval = self.shared.config.index_interval_bytes;
        // Seal (fsync) before the next segment exists: recovery treats the
        // last segment as the one that may have a torn tail.
        self.active.finish()?;
        let fresh = ActiveSegment::create(&self.shared.dir, next_offset, interval)?;
        sync_dir(&self.shared.dir)?;
        let old = std::mem::replace(&mut self.active, fresh);
        let sealed = Arc::new(old.seal()?);
        self.unsynced = false;
        debug!(partition = %self.shared.name, base_offset = %sealed.base_offset, next_offset = %next_offset, "segment rolled");
        let hw = {
            let mut state = self.shared.state.write().expect("state lock poisoned");
            state.sealed.push(sealed);
            state.active = self.active.shared.clone();
            state.active_readable = 0;
            state.leo = next_offset;
            state.hw = next_offset;
            state.hw
        };
        self.shared.notify_hw(hw);
        Ok(())
    }
}

fn dummy_info() -> AppendInfo {
    AppendInfo {
        base_offset: Offset(-1),
        last_offset: Offset(-1),
        log_start: Offset(-1),
    }
}

/// fsyncs a directory so a file created in it survives a power loss.
pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("fsync directory", dir))
}
