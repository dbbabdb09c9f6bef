//! The fsync thread of a `fsync = "batch"` partition.
//!
//! The writer thread hands each written group here and goes straight on to
//! write the next one, so copying group N+1 into the page cache overlaps
//! with flushing group N to the disk. This thread takes every group queued
//! (one fsync covers all of them: group commit across groups), fsyncs,
//! then moves the high watermark and acknowledges the appends, in order.
//! An append is therefore never acknowledged, nor visible to consumers,
//! before its bytes are on stable storage.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use sluice_types::Offset;
use tracing::error;

use crate::error::{Result, StorageError};
use crate::partition::{AppendInfo, Shared};
use crate::segment::ActiveShared;
use crate::writer::Reply;

/// Groups queued for fsync before the writer waits (bounds unsynced data).
pub(crate) const SYNC_QUEUE_CAPACITY: usize = 4;

/// A written group waiting for its fsync.
pub(crate) struct SyncJob {
    /// The segment the group's last batch went to.
    pub segment: Arc<ActiveShared>,
    /// Log end offset after the group.
    pub leo: Offset,
    /// Bytes of `segment` written after the group.
    pub readable_len: u64,
    pub acks: Vec<(AppendInfo, Reply)>,
}

pub(crate) fn run(shared: Arc<Shared>, jobs: Receiver<SyncJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let result = sync_all(&batch);
        if let Err(error) = &result {
            error!(partition = %shared.name, %error, "fsync failed; partition offline until reopened");
            shared.state.write().expect("state lock poisoned").offline = Some(error.to_string());
        }
        let last = batch.last().expect("at least one job");
        if result.is_ok() {
            let hw = {
                let mut state = shared.state.write().expect("state lock poisoned");
                // A roll may have moved on to a newer segment (and already
                // published everything up to its base): never go backwards.
                if last.leo > state.hw {
                    state.hw = last.leo;
                    if Arc::ptr_eq(&state.active, &last.segment) {
                        state.active_readable = last.readable_len;
                    }
                }
                state.hw
            };
            shared.notify_hw(hw);
        }
        for job in batch {
            for (info, done) in job.acks {
                done(match &result {
                    Ok(()) => Ok(info),
                    Err(error) => Err(StorageError::Offline {
                        partition: shared.name.clone(),
                        reason: error.to_string(),
                    }),
                });
            }
        }
    }
}

/// fsyncs every distinct segment the jobs wrote to (almost always one).
fn sync_all(jobs: &[SyncJob]) -> Result<()> {
    let mut synced: Vec<&Arc<ActiveShared>> = Vec::with_capacity(1);
    for job in jobs {
        if !synced.iter().any(|s| Arc::ptr_eq(s, &job.segment)) {
            job.segment.sync_data()?;
            synced.push(&job.segment);
        }
    }
    Ok(())
}
