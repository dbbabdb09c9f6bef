//! ListOffsets: where a consumer starts. Per partition, a timestamp asks
//! for an offset:
//! - `-2` (earliest): the log start offset;
//! - `-1` (latest): the high watermark (with no transactions the last
//!   stable offset is the same, so the isolation level changes nothing);
//! - any other: the first record whose timestamp is at or after it, with
//!   that record's timestamp; offset -1 and timestamp -1 when every record
//!   is older, as Kafka answers.
//!
//! Earliest and latest answer with timestamp -1, as Kafka does. Looking up
//! a timestamp reads and decodes one batch, so lookups run on a blocking
//! thread.

use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use sluice_protocol::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::recovery::LEADER_EPOCH;
use sluice_storage::Partition;
use sluice_types::Timestamp;
use tracing::debug;

use super::fetch::leader_epoch_error;
use crate::error_code::{code, storage_error_code};
use crate::state::Broker;

/// Kafka's `ListOffsetsRequest.EARLIEST_TIMESTAMP`.
const EARLIEST: i64 = -2;
/// Kafka's `ListOffsetsRequest.LATEST_TIMESTAMP`.
const LATEST: i64 = -1;

/// One partition's answer: `(offset, timestamp)` or an error code.
type Found = Result<(i64, i64), i16>;

/// One partition to look up: its index, its log (or why there is none),
/// and the timestamp asked for.
type Lookup = (i32, Result<Arc<Partition>, i16>, i64);

pub async fn handle(
    broker: &Arc<Broker>,
    request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    debug!(
        topics = request.topics.len(),
        isolation_level = request.isolation_level,
        "list offsets"
    );
    // Resolve here, look up on a blocking thread.
    let lookups: Vec<Vec<Lookup>> = request
        .topics
        .iter()
        .map(|topic| {
            topic
                .partitions
                .iter()
                .map(|partition| {
                    let log = match leader_epoch_error(partition.current_leader_epoch) {
                        Some(error) if version >= 4 => Err(error),
                        _ => broker
                            .partition(&topic.name.0, partition.partition_index)
                            .ok_or(code(ResponseError::UnknownTopicOrPartition)),
                    };
                    (partition.partition_index, log, partition.timestamp)
                })
                .collect()
        })
        .collect();
    let found = tokio::task::spawn_blocking(move || {
        lookups
            .into_iter()
            .map(|partitions| {
                partitions
                    .into_iter()
                    .map(|(index, log, timestamp)| {
                        (index, log.and_then(|log| offset_for(&log, timestamp)))
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    })
    .await;
    let found = match found {
        Ok(found) => found,
        Err(error) => {
            debug!(%error, "offset lookup failed");
            let failed = code(ResponseError::KafkaStorageError);
            request
                .topics
                .iter()
                .map(|topic| {
                    topic
                        .partitions
                        .iter()
                        .map(|partition| (partition.partition_index, Err(failed)))
                        .collect()
                })
                .collect()
        }
    };
    let topics = request
        .topics
        .into_iter()
        .zip(found)
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, found)| answer(index, found, version))
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset and timestamp `timestamp` asks for. Blocking.
fn offset_for(log: &Partition, timestamp: i64) -> Found {
    match timestamp {
        EARLIEST => Ok((log.watermarks().log_start.0, -1)),
        LATEST => Ok((log.watermarks().hw.0, -1)),
        _ => match log.offset_for_timestamp(Timestamp(timestamp)) {
            Ok(Some((offset, found))) => Ok((offset.0, found.0)),
            Ok(None) => Ok((-1, -1)),
            Err(error) => {
                debug!(partition = %log.name(), %error, "timestamp lookup failed");
                Err(storage_error_code(&error))
            }
        },
    }
}

fn answer(index: i32, found: Found, version: i16) -> ListOffsetsPartitionResponse {
    let partition = ListOffsetsPartitionResponse::default().with_partition_index(index);
    match found {
        Ok((offset, timestamp)) => {
            let partition = partition.with_offset(offset).with_timestamp(timestamp);
            // The leader epoch field exists from v4 on; "not found" has none.
            if version >= 4 && offset >= 0 {
                partition.with_leader_epoch(LEADER_EPOCH)
            } else {
                partition
            }
        }
        Err(error) => partition.with_error_code(error),
    }
}
