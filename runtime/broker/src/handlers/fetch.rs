//! Fetch: stored batches to consumers, exactly as stored, long-polling
//! until enough bytes are there.
//!
//! - Records are the bytes `Partition::read` returns, whole batches, never
//!   decoded; `fetch_encoding` sends them without copying. The first batch
//!   may start before the fetch offset, as in Kafka; clients skip ahead.
//! - Limits follow Kafka (`ReplicaManager.readFromLog`): partitions are
//!   read in request order, each with at most its `partition_max_bytes`
//!   and what is left of `max_bytes`, except that the first partition with
//!   data always gets one whole batch, however large, so a consumer is
//!   never stuck behind a big batch. Later partitions get only the whole
//!   batches that fit.
//! - Long polling: the response goes out at once when any partition has
//!   an error or `min_bytes` are there; otherwise the handler waits on the
//!   partitions' high-watermark wake-ups, registered *before* reading so a
//!   wake-up between the read and the wait is not lost, and reads again,
//!   until `min_bytes` or `max_wait_ms` (capped at [`MAX_WAIT_MS_MAX`]).
//! - Reads run on a blocking thread: the active segment is read with
//!   `pread`, and the mapped pages of sealed segments are touched there
//!   (best effort), so the socket write later does not fault them in on a
//!   reactor thread.
//! - Sessions (KIP-227): this broker never creates one, as Kafka does when
//!   its session cache is full. A full fetch (session epoch 0 or -1) gets a
//!   full answer with session id 0, which tells librdkafka and kafka-python
//!   alike to keep sending full fetches. Any other epoch names a session
//!   this broker never gave out: FETCH_SESSION_ID_NOT_FOUND, at top level.
//! - No transactions, so the last stable offset is the high watermark and
//!   `read_committed` reads the same as `read_uncommitted`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::select_all;
use sluice_batch::header::peek_total_len;
use sluice_protocol::kafka_protocol::messages::fetch_response::{
    FetchableTopicResponse, PartitionData,
};
use sluice_protocol::kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::recovery::LEADER_EPOCH;
use sluice_storage::Partition;
use sluice_types::Offset;
use tokio::time::Instant;
use tracing::debug;

use crate::error_code::{code, storage_error_code};
use crate::state::Broker;

/// The longest a fetch waits for data, whatever it asks.
pub const MAX_WAIT_MS_MAX: i32 = 300_000;

/// Touching one byte per page faults a whole page in.
const PAGE_BYTES: usize = 4096;

/// The error for a request's `current_leader_epoch`, if it is not ours
/// (every partition's leader epoch is [`LEADER_EPOCH`]; -1 means "not
/// checked").
pub(super) fn leader_epoch_error(requested: i32) -> Option<i16> {
    match requested {
        epoch if epoch < 0 || epoch == LEADER_EPOCH => None,
        epoch if epoch < LEADER_EPOCH => Some(code(ResponseError::FencedLeaderEpoch)),
        _ => Some(code(ResponseError::UnknownLeaderEpoch)),
    }
}

/// One partition of the request.
struct Wanted {
    topic: TopicName,
    partition: i32,
    fetch_offset: Offset,
    partition_max_bytes: usize,
    /// The log, or why there is none to read.
    log: Result<Arc<Partition>, i16>,
}

/// What was read for one partition.
enum Read {
    Batches {
        batches: Bytes,
        hw: Offset,
        log_start: Offset,
    },
    Error(i16),
}

pub async fn handle(broker: &Arc<Broker>, request: FetchRequest, version: i16) -> FetchResponse {
    if version >= 7 && !matches!(request.session_epoch, 0 | -1) {
        debug!(
            session_id = request.session_id,
            session_epoch = request.session_epoch,
            "fetch in an unknown session"
        );
        return FetchResponse::default()
            .with_error_code(code(ResponseError::FetchSessionIdNotFound));
    }
    let wanted: Vec<Wanted> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|partition| {
                let log = match leader_epoch_error(partition.current_leader_epoch) {
                    Some(error) => Err(error),
                    None => broker
                        .partition(&topic.topic.0, partition.partition)
                        .ok_or(code(ResponseError::UnknownTopicOrPartition)),
                };
                Wanted {
                    topic: topic.topic.clone(),
                    partition: partition.partition,
                    fetch_offset: Offset(partition.fetch_offset),
                    partition_max_bytes: usize::try_from(partition.partition_max_bytes)
                        .unwrap_or(0),
                    log,
                }
            })
        })
        .collect();
    let max_bytes = usize::try_from(request.max_bytes).unwrap_or(0);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX) as u64);
    debug!(
        partitions = wanted.len(),
        min_bytes,
        max_bytes,
        max_wait_ms = max_wait.as_millis() as u64,
        isolation_level = request.isolation_level,
        "fetch"
    );
    let deadline = Instant::now() + max_wait;
    let watches: Vec<_> = wanted
        .iter()
        .filter(|wanted| wanted.log.is_ok())
        .filter_map(|wanted| broker.hw_watch(&wanted.topic.0, wanted.partition))
        .collect();
    let wanted = Arc::new(wanted);
    loop {
        // Registered before reading: a high watermark that moves after the
        // read below wakes the wait that follows it.
        let mut wake_ups: Vec<_> = watches
            .iter()
            .map(|notify| Box::pin(notify.notified()))
            .collect();
        for wake_up in &mut wake_ups {
            wake_up.as_mut().enable();
        }
        let reading = wanted.clone();
        let reads = match tokio::task::spawn_blocking(move || read_all(&reading, max_bytes)).await {
            Ok(reads) => reads,
            Err(error) => {
                debug!(%error, "fetch read failed");
                let failed = code(ResponseError::KafkaStorageError);
                wanted.iter().map(|_| Read::Error(failed)).collect()
            }
        };
        let available: usize = reads
            .iter()
            .map(|read| match read {
                Read::Batches { batches, .. } => batches.len(),
                Read::Error(_) => 0,
            })
            .sum();
        let any_error = reads.iter().any(|read| matches!(read, Read::Error(_)));
        if available >= min_bytes || any_error || wake_ups.is_empty() || Instant::now() >= deadline
        {
            debug!(bytes = available, "fetch answered");
            return response(&wanted, reads, request.isolation_level);
        }
        tokio::select! {
            _ = select_all(wake_ups) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Reads every wanted partition within the limits (see the module docs).
/// Blocking.
fn read_all(wanted: &[Wanted], max_bytes: usize) -> Vec<Read> {
    let mut budget = max_bytes;
    let mut first_with_data = true;
    wanted
        .iter()
        .map(|wanted| {
            let log = match &wanted.log {
                Ok(log) => log,
                Err(error) => return Read::Error(*error),
            };
            let limit = wanted.partition_max_bytes.min(budget);
            if limit == 0 && !first_with_data {
                // Nothing would fit; only the offset's validity matters.
                let marks = log.watermarks();
                if wanted.fetch_offset < marks.log_start || wanted.fetch_offset > marks.hw {
                    return Read::Error(code(ResponseError::OffsetOutOfRange));
                }
                return Read::Batches {
                    batches: Bytes::new(),
                    hw: marks.hw,
                    log_start: marks.log_start,
                };
            }
            match log.read(wanted.fetch_offset, limit) {
                Ok(read) => {
                    // The log returns at least one whole batch; only the
                    // first partition with data may keep one that is over
                    // the limit.
                    let batches = if first_with_data {
                        read.batches
                    } else {
                        whole_batches_within(read.batches, limit)
                    };
                    if !batches.is_empty() {
                        first_with_data = false;
                        budget = budget.saturating_sub(batches.len());
                        touch_pages(&batches);
                    }
                    Read::Batches {
                        batches,
                        hw: read.hw,
                        log_start: read.log_start,
                    }
                }
                Err(error) => {
                    debug!(partition = %log.name(), %error, "fetch read refused");
                    Read::Error(storage_error_code(&error))
                }
            }
        })
        .collect()
}

/// The longest run of whole batches at the start of `batches` that fits
/// in `limit` bytes.
fn whole_batches_within(batches: Bytes, limit: usize) -> Bytes {
    let mut end = 0;
    while let Some(len) = peek_total_len(&batches[end..]) {
        if end + len > limit || end + len > batches.len() {
            break;
        }
        end += len;
    }
    batches.slice(..end)
}

/// Faults in the pages of `bytes` here, on a blocking thread, rather than
/// in the socket write on a reactor thread.
fn touch_pages(bytes: &Bytes) {
    for position in (0..bytes.len()).step_by(PAGE_BYTES) {
        std::hint::black_box(bytes[position]);
    }
}

fn response(wanted: &[Wanted], reads: Vec<Read>, isolation_level: i8) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for (wanted, read) in wanted.iter().zip(reads) {
        let partition = match read {
            Read::Batches {
                batches,
                hw,
                log_start,
            } => PartitionData::default()
                .with_partition_index(wanted.partition)
                .with_high_watermark(hw.0)
                .with_last_stable_offset(hw.0)
                .with_log_start_offset(log_start.0)
                .with_records(Some(batches)),
            Read::Error(error) => PartitionData::default()
                .with_partition_index(wanted.partition)
                .with_error_code(error)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1),
        }
        // As Kafka: a (empty) list of aborted transactions for
        // read_committed, none for read_uncommitted.
        .with_aborted_transactions((isolation_level == 1).then(Vec::new));
        match topics.last_mut() {
            Some(topic) if topic.topic == wanted.topic => topic.partitions.push(partition),
            _ => topics.push(
                FetchableTopicResponse::default()
                    .with_topic(wanted.topic.clone())
                    .with_partitions(vec![partition]),
            ),
        }
    }
    FetchResponse::default().with_responses(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_batches_are_cut_at_the_limit() {
        // Three fake batches: 12-byte prefix (offset, length) plus body.
        let mut bytes = Vec::new();
        for body in [20usize, 30, 40] {
            bytes.extend_from_slice(&0i64.to_be_bytes());
            bytes.extend_from_slice(&(body as i32).to_be_bytes());
            bytes.extend(std::iter::repeat_n(7u8, body));
        }
        let bytes = Bytes::from(bytes);
        assert_eq!(whole_batches_within(bytes.clone(), 31).len(), 0);
        assert_eq!(whole_batches_within(bytes.clone(), 32).len(), 32);
        assert_eq!(whole_batches_within(bytes.clone(), 75).len(), 74);
        assert_eq!(whole_batches_within(bytes.clone(), 1000).len(), 126);
        let truncated = bytes.slice(..100);
        assert_eq!(whole_batches_within(truncated, 1000).len(), 74);
    }

    #[test]
    fn leader_epochs_other_than_ours_are_refused() {
        assert_eq!(leader_epoch_error(-1), None);
        assert_eq!(leader_epoch_error(0), None);
        assert_eq!(leader_epoch_error(3), Some(75));
    }
}
