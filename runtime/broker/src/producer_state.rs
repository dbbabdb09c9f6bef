//! One partition's idempotent producers: the epoch and sequence number each
//! has reached, and its last five batches, so that a retried batch is
//! answered with its first offset instead of being appended twice.
//!
//! The rules are Kafka's (`ProducerStateManager`), per producer id and
//! partition:
//! - an older epoch than the last seen is refused (INVALID_PRODUCER_EPOCH);
//! - a newer epoch starts over and must begin at sequence 0 (the Java
//!   client bumps its epoch by itself after an unresolved sequence);
//! - a batch with the same first and last sequence as one of the last
//!   [`RECENT_BATCHES_MAX`] is a duplicate: not appended, answered with the
//!   original's outcome;
//! - otherwise the first sequence must follow the last one (sequences wrap
//!   from `i32::MAX` to 0), or the batch is OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! A batch is recorded when it is queued, before the log acknowledges it,
//! together with a watch on its outcome: a pipelined next batch must
//! already see it, and a duplicate that arrives while it is pending waits
//! for it. A batch the log then fails (I/O; everything else is checked
//! before queueing) is forgotten the next time its producer is checked, so
//! the producer's retry of it is accepted.
//!
//! Producers this table does not know: sequence 0 starts tracking. Any
//! other sequence is accepted too (as Kafka does since KIP-360) when the
//! producer's state may have been lost: its id was allocated before this
//! broker started (see `append_queue` for the rebuild from the log after a
//! restart), or this table has evicted producers to stay within
//! [`PRODUCERS_PER_PARTITION_MAX`]. Otherwise it is out of order.

use std::collections::{HashMap, VecDeque};

use sluice_batch::BatchHeader;
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::AppendInfo;
use tokio::sync::watch;

use crate::error_code::code;

/// Batches remembered per producer and partition for duplicate detection;
/// Kafka clients keep at most five requests in flight with idempotence.
pub const RECENT_BATCHES_MAX: usize = 5;

/// Producers tracked per partition; the least recently used is forgotten
/// beyond this (a forgotten producer's next batch is accepted as is).
pub const PRODUCERS_PER_PARTITION_MAX: usize = 10_000;

/// Why an append failed: the Kafka error code and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendFailure {
    pub code: i16,
    pub message: String,
}

/// How an append ended: what the log assigned, or why it failed.
pub type AppendOutcome = Result<AppendInfo, AppendFailure>;

/// Where an append's outcome appears: `None` until the log acknowledges
/// it. A sender dropped without a value means the append was dropped
/// unacknowledged (the partition closed).
pub type OutcomeWatch = watch::Receiver<Option<AppendOutcome>>;

fn dropped() -> AppendFailure {
    AppendFailure {
        code: code(ResponseError::KafkaStorageError),
        message: "the partition closed before the append was acknowledged".into(),
    }
}

/// The outcome if it is known yet.
pub fn outcome_now(watch: &OutcomeWatch) -> Option<AppendOutcome> {
    if let Some(outcome) = watch.borrow().as_ref() {
        return Some(outcome.clone());
    }
    // Err: the sender is gone, and it never sent (checked just above).
    watch.has_changed().is_err().then(|| Err(dropped()))
}

/// Waits for the outcome.
pub async fn outcome(mut watch: OutcomeWatch) -> AppendOutcome {
    // Err only when the sender is gone without a value: never acknowledged.
    let waited = watch
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|outcome| outcome.clone());
    waited.unwrap_or_else(|| Err(dropped()))
}

/// `sequence` moved on by `increment`, wrapping from `i32::MAX` to 0 as
/// Kafka's sequence numbers do.
pub fn sequence_after(sequence: i32, increment: i32) -> i32 {
    ((i64::from(sequence) + i64::from(increment)) % (i64::from(i32::MAX) + 1)) as i32
}

/// What sequence checks need of an idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotentBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

impl IdempotentBatch {
    /// The batch's producer fields, or `None` when it has no producer id.
    pub fn of(header: &BatchHeader) -> Option<IdempotentBatch> {
        header.has_producer_id().then(|| IdempotentBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_sequence: header.base_sequence,
            last_sequence: sequence_after(header.base_sequence, header.last_offset_delta),
        })
    }
}

/// What to do with an idempotent batch.
#[derive(Debug)]
pub enum Verdict {
    /// In sequence: queue it, then [`ProducerTable::record`] it.
    Append,
    /// Already queued or stored: answer with that append's outcome.
    Duplicate(OutcomeWatch),
    /// Refused with a Kafka error code.
    Reject(AppendFailure),
}

/// One batch of a producer, recent enough to be retried.
#[derive(Debug)]
struct RecentBatch {
    first_sequence: i32,
    last_sequence: i32,
    outcome: OutcomeWatch,
}

#[derive(Debug)]
struct ProducerState {
    epoch: i16,
    /// The last sequence before `recent` (of the newest batch pushed out
    /// of it), if any.
    sequence_floor: Option<i32>,
    /// Oldest first; at most [`RECENT_BATCHES_MAX`].
    recent: VecDeque<RecentBatch>,
    /// `ProducerTable::clock` when last checked, for eviction.
    last_used: u64,
}

impl ProducerState {
    fn new(epoch: i16) -> Self {
        ProducerState {
            epoch,
            sequence_floor: None,
            recent: VecDeque::with_capacity(RECENT_BATCHES_MAX),
            last_used: 0,
        }
    }

    /// Forgets batches the log has failed.
    fn settle(&mut self) {
        self.recent
            .retain(|batch| !matches!(outcome_now(&batch.outcome), Some(Err(_))));
    }

    /// The sequence the next batch must start with.
    fn next_sequence(&self) -> i32 {
        self.recent
            .back()
            .map(|batch| batch.last_sequence)
            .or(self.sequence_floor)
            .map_or(0, |last| sequence_after(last, 1))
    }

    fn push(&mut self, batch: &IdempotentBatch, outcome: OutcomeWatch) {
        if batch.epoch != self.epoch {
            *self = ProducerState {
                last_used: self.last_used,
                ..ProducerState::new(batch.epoch)
            };
        }
        if self.recent.len() == RECENT_BATCHES_MAX {
            if let Some(oldest) = self.recent.pop_front() {
                self.sequence_floor = Some(oldest.last_sequence);
            }
        }
        self.recent.push_back(RecentBatch {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence,
            outcome,
        });
    }
}

/// The idempotent producers of one partition; see the module docs.
#[derive(Debug, Default)]
pub struct ProducerTable {
    producers: HashMap<i64, ProducerState>,
    /// Counts checks; orders producers by last use.
    clock: u64,
    /// Set once a producer was evicted: an unknown producer may then be
    /// one whose state this table dropped.
    state_lost: bool,
}

impl ProducerTable {
    pub fn new() -> Self {
        ProducerTable::default()
    }

    /// Producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Decides what to do with `batch`. `allocated_before_start` says the
    /// producer id was handed out before this broker started, so its state
    /// may have been lost with the restart.
    pub fn check(&mut self, batch: &IdempotentBatch, allocated_before_start: bool) -> Verdict {
        self.clock += 1;
        let reject = |error: ResponseError, message: String| {
            Verdict::Reject(AppendFailure {
                code: code(error),
                message,
            })
        };
        let pid = batch.producer_id;
        if batch.epoch < 0 || batch.first_sequence < 0 {
            return reject(
                ResponseError::InvalidRecord,
                format!("producer {pid}: an idempotent batch needs an epoch and a sequence number (got epoch {}, sequence {})", batch.epoch, batch.first_sequence),
            );
        }
        let Some(state) = self.producers.get_mut(&pid) else {
            if batch.first_sequence == 0 || allocated_before_start || self.state_lost {
                return Verdict::Append;
            }
            return reject(
                ResponseError::OutOfOrderSequenceNumber,
                format!(
                    "producer {pid} has no batch on this partition yet, so its first must have sequence 0, not {}",
                    batch.first_sequence
                ),
            );
        };
        state.last_used = self.clock;
        state.settle();
        if batch.epoch < state.epoch {
            return reject(
                ResponseError::InvalidProducerEpoch,
                format!(
                    "producer {pid}: epoch {} is older than the current epoch {}",
                    batch.epoch, state.epoch
                ),
            );
        }
        if batch.epoch > state.epoch {
            if batch.first_sequence == 0 {
                return Verdict::Append;
            }
            return reject(
                ResponseError::OutOfOrderSequenceNumber,
                format!(
                    "producer {pid}: a new epoch ({}) must start at sequence 0, not {}",
                    batch.epoch, batch.first_sequence
                ),
            );
        }
        if let Some(original) = state.recent.iter().find(|recent| {
            recent.first_sequence == batch.first_sequence
                && recent.last_sequence == batch.last_sequence
        }) {
            return Verdict::Duplicate(original.outcome.clone());
        }
        let expected = state.next_sequence();
        if batch.first_sequence != expected {
            return reject(
                ResponseError::OutOfOrderSequenceNumber,
                format!(
                    "producer {pid} epoch {}: expected sequence {expected}, got {}",
                    batch.epoch, batch.first_sequence
                ),
            );
        }
        Verdict::Append
    }

    /// Records a batch that [`ProducerTable::check`] let through and that
    /// has been queued; `outcome` is where its result will appear.
    pub fn record(&mut self, batch: &IdempotentBatch, outcome: OutcomeWatch) {
        if !self.producers.contains_key(&batch.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            self.evict_least_recently_used();
        }
        let clock = self.clock;
        let state = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerState::new(batch.epoch));
        state.last_used = clock;
        state.push(batch, outcome);
    }

    /// Records a batch found in the log while rebuilding this table after
    /// a restart, oldest first. Batches of an older epoch than one already
    /// seen are skipped.
    pub fn record_stored(&mut self, header: &BatchHeader) {
        let Some(batch) = IdempotentBatch::of(header) else {
            return;
        };
        if header.is_control() || batch.epoch < 0 {
            return;
        }
        if let Some(state) = self.producers.get(&batch.producer_id) {
            if batch.epoch < state.epoch {
                return;
            }
        }
        let info = AppendInfo {
            base_offset: header.base_offset,
            last_offset: header.last_offset(),
            log_start: header.base_offset,
        };
        let (_, outcome) = watch::channel(Some(Ok(info)));
        self.record(&batch, outcome);
    }

    /// Declares that producers may be missing (the rebuild could not read
    /// the log), so unknown producers are accepted at any sequence.
    pub fn mark_state_lost(&mut self) {
        self.state_lost = true;
    }

    fn evict_least_recently_used(&mut self) {
        let oldest = self
            .producers
            .iter()
            .min_by_key(|(_, state)| state.last_used)
            .map(|(pid, _)| *pid);
        if let Some(pid) = oldest {
            self.producers.remove(&pid);
            self.state_lost = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_types::Offset;

    use super::*;

    fn batch(producer_id: i64, epoch: i16, first_sequence: i32, records: i32) -> IdempotentBatch {
        IdempotentBatch {
            producer_id,
            epoch,
            first_sequence,
            last_sequence: sequence_after(first_sequence, records - 1),
        }
    }

    fn stored_at(offset: i64) -> (watch::Sender<Option<AppendOutcome>>, OutcomeWatch) {
        let info = AppendInfo {
            base_offset: Offset(offset),
            last_offset: Offset(offset),
            log_start: Offset(0),
        };
        watch::channel(Some(Ok(info)))
    }

    fn append(table: &mut ProducerTable, batch: &IdempotentBatch, offset: i64) {
        assert!(
            matches!(table.check(batch, false), Verdict::Append),
            "{batch:?}"
        );
        table.record(batch, stored_at(offset).1);
    }

    fn rejected_with(verdict: Verdict) -> i16 {
        match verdict {
            Verdict::Reject(failure) => failure.code,
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn in_sequence_batches_are_appended_and_gaps_refused() {
        let mut table = ProducerTable::new();
        append(&mut table, &batch(7, 0, 0, 3), 0);
        append(&mut table, &batch(7, 0, 3, 2), 3);
        let gap = table.check(&batch(7, 0, 6, 1), false);
        assert_eq!(rejected_with(gap), 45);
        let repeat_of_older_range = table.check(&batch(7, 0, 1, 1), false);
        assert_eq!(rejected_with(repeat_of_older_range), 45);
    }

    #[test]
    fn a_retried_batch_is_a_duplicate_with_its_original_outcome() {
        let mut table = ProducerTable::new();
        append(&mut table, &batch(7, 0, 0, 3), 40);
        append(&mut table, &batch(7, 0, 3, 1), 43);
        let Verdict::Duplicate(original) = table.check(&batch(7, 0, 0, 3), false) else {
            panic!("not a duplicate");
        };
        assert_eq!(
            outcome_now(&original).unwrap().unwrap().base_offset,
            Offset(40)
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut table = ProducerTable::new();
        for i in 0..6 {
            append(&mut table, &batch(7, 0, i, 1), i64::from(i));
        }
        assert!(matches!(
            table.check(&batch(7, 0, 1, 1), false),
            Verdict::Duplicate(_)
        ));
        assert_eq!(rejected_with(table.check(&batch(7, 0, 0, 1), false)), 45);
        append(&mut table, &batch(7, 0, 6, 1), 6);
    }

    #[test]
    fn epochs_fence_older_ones_and_restart_sequences() {
        let mut table = ProducerTable::new();
        append(&mut table, &batch(7, 1, 0, 2), 0);
        assert_eq!(rejected_with(table.check(&batch(7, 0, 2, 1), false)), 47);
        assert_eq!(rejected_with(table.check(&batch(7, 2, 2, 1), false)), 45);
        append(&mut table, &batch(7, 2, 0, 1), 2);
        assert_eq!(rejected_with(table.check(&batch(7, 1, 2, 1), false)), 47);
        append(&mut table, &batch(7, 2, 1, 1), 3);
    }

    #[test]
    fn unknown_producers_start_at_zero_unless_their_state_may_be_lost() {
        let mut table = ProducerTable::new();
        assert_eq!(rejected_with(table.check(&batch(9, 0, 5, 1), false)), 45);
        assert!(matches!(
            table.check(&batch(9, 0, 5, 1), true),
            Verdict::Append
        ));
        assert!(matches!(
            table.check(&batch(9, 0, 0, 1), false),
            Verdict::Append
        ));
        table.mark_state_lost();
        assert!(matches!(
            table.check(&batch(9, 0, 5, 1), false),
            Verdict::Append
        ));
    }

    #[test]
    fn a_failed_batch_is_forgotten_so_its_retry_is_accepted() {
        let mut table = ProducerTable::new();
        append(&mut table, &batch(7, 0, 0, 1), 0);
        let failing = batch(7, 0, 1, 2);
        assert!(matches!(table.check(&failing, false), Verdict::Append));
        let (sender, outcome) = watch::channel(None);
        table.record(&failing, outcome);
        // Pending: the retry waits for the original.
        assert!(matches!(
            table.check(&failing, false),
            Verdict::Duplicate(_)
        ));
        sender.send_replace(Some(Err(AppendFailure {
            code: 56,
            message: "disk gone".into(),
        })));
        assert!(matches!(table.check(&failing, false), Verdict::Append));
        // Dropped unacknowledged counts as failed too.
        let (sender, outcome) = watch::channel(None);
        table.record(&failing, outcome);
        drop(sender);
        assert!(matches!(table.check(&failing, false), Verdict::Append));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(sequence_after(i32::MAX, 1), 0);
        assert_eq!(sequence_after(i32::MAX - 1, 3), 1);
        let mut table = ProducerTable::new();
        append(&mut table, &batch(7, 0, 0, 1), 0);
        // As if billions of records later: the next batch ends at i32::MAX.
        table.record(&batch(7, 0, i32::MAX - 1, 2), stored_at(1).1);
        assert_eq!(rejected_with(table.check(&batch(7, 0, 1, 1), false)), 45);
        append(&mut table, &batch(7, 0, 0, 3), 3);
    }

    #[test]
    fn the_least_recently_used_producer_is_evicted_at_the_limit() {
        let mut table = ProducerTable::new();
        for pid in 0..PRODUCERS_PER_PARTITION_MAX as i64 {
            append(&mut table, &batch(pid, 0, 0, 1), pid);
        }
        // Producer 0 is used again, so producer 1 is the oldest.
        append(&mut table, &batch(0, 0, 1, 1), 0);
        append(
            &mut table,
            &batch(PRODUCERS_PER_PARTITION_MAX as i64, 0, 0, 1),
            0,
        );
        assert_eq!(table.len(), PRODUCERS_PER_PARTITION_MAX);
        assert!(table.producers.contains_key(&0));
        assert!(!table.producers.contains_key(&1));
        // Evicted state: its next batch is taken as is.
        assert!(matches!(
            table.check(&batch(1, 0, 1, 1), false),
            Verdict::Append
        ));
    }
}
