//! Produce: producers' record batches into the partition logs.
//!
//! The records of each partition are appended as the producer sent them,
//! never decoded or re-encoded; the log checks CRCs and assigns offsets.
//! Before that, each partition is checked as Kafka checks it
//! (`ProduceRequest.validateRecords`, `LogValidator`): exactly one
//! RecordBatch v2 (INVALID_RECORD otherwise; CORRUPT_MESSAGE when it is
//! cut short or unreadable), no zstd before v7
//! (UNSUPPORTED_COMPRESSION_TYPE), no control or transactional batches
//! (INVALID_RECORD: clients may not write control batches, and
//! transactions are not supported), and no larger than the topic's
//! `segment.bytes` (RECORD_LIST_TOO_LARGE). Internal topics (`__`) are
//! refused with INVALID_TOPIC_EXCEPTION, as Kafka refuses appends to its
//! own; unknown topics are UNKNOWN_TOPIC_OR_PARTITION, or created when the
//! broker auto-creates topics.
//!
//! Idempotent batches (producer id set) are also CRC-checked here, so that
//! a batch the log would refuse never passes the sequence check; then
//! `append_queue` checks sequences and hands them to the log in one step
//! (see `producer_state` for the rules). A duplicate is not appended and
//! is answered with the original batch's base offset, as Kafka does.
//!
//! Every partition's append is handed to its log first, without awaiting
//! anything in between (so one request's partitions are written
//! concurrently, and pipelined requests reach each log in order); only
//! then are the acknowledgements awaited. With acks=1 and acks=-1 the
//! answer goes out once the log acknowledges, which under `fsync = batch`
//! means after the fsync; with a single replica the two are the same and
//! `timeout_ms` has nothing to wait for. With acks=0 the appends are made
//! and nothing is answered (Kafka would close the connection on an error;
//! here the error is only logged).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use sluice_batch::{check_batch, BatchError, BatchHeader, Compression};
use sluice_protocol::kafka_protocol::messages::produce_request::TopicProduceData;
use sluice_protocol::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use sluice_protocol::kafka_protocol::messages::{ProduceRequest, ProduceResponse, RequestHeader};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use sluice_protocol::kafka_protocol::ResponseError;
use sluice_storage::store::validate_topic_name;
use sluice_storage::{Partition, StorageError, Topic};
use tracing::{debug, info, trace};

use super::metadata::INTERNAL_TOPIC_PREFIX;
use crate::append_queue::{AppendQueue, Submitted};
use crate::error_code::{code, storage_error_code};
use crate::producer_state::{outcome, AppendFailure, IdempotentBatch, OutcomeWatch};
use crate::state::Broker;

/// What an acknowledged append answers with.
struct Appended {
    base_offset: i64,
    log_start: i64,
}

/// One partition, checked and ready to hand to its log.
struct Ready {
    log: Arc<Partition>,
    queue: Arc<AppendQueue>,
    records: Bytes,
    idempotent: Option<IdempotentBatch>,
}

/// One partition after the hand-off.
enum Answer {
    Now(Result<Appended, AppendFailure>),
    Queued(OutcomeWatch),
    Duplicate(OutcomeWatch, Arc<Partition>),
}

fn failure(error: ResponseError, message: impl Into<String>) -> AppendFailure {
    AppendFailure {
        code: code(error),
        message: message.into(),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    header: &RequestHeader,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let version = header.request_api_version;
    let acks = request.acks;
    debug!(
        acks,
        topics = request.topic_data.len(),
        partitions = request
            .topic_data
            .iter()
            .map(|t| t.partition_data.len())
            .sum::<usize>(),
        "produce"
    );
    let request_refusal = if let Some(transactional_id) = &request.transactional_id {
        Some(failure(
            ResponseError::TransactionalIdAuthorizationFailed,
            format!(
                "transactional id {:?}: transactions are not supported",
                transactional_id.0.as_str()
            ),
        ))
    } else if !matches!(acks, -1..=1) {
        Some(failure(
            ResponseError::InvalidRequiredAcks,
            format!("acks must be -1, 0 or 1, got {acks}"),
        ))
    } else {
        None
    };
    let topics = match &request_refusal {
        Some(refusal) => request
            .topic_data
            .iter()
            .map(|_| Err(refusal.clone()))
            .collect(),
        None => resolve_topics(broker, &request.topic_data).await,
    };

    // Check every partition; rebuild producer state where needed.
    let mut plans: Vec<Vec<(i32, Result<Ready, AppendFailure>)>> = Vec::with_capacity(topics.len());
    for (data, topic) in request.topic_data.iter().zip(&topics) {
        let mut partitions = Vec::with_capacity(data.partition_data.len());
        for partition in &data.partition_data {
            let ready = topic.clone().and_then(|topic| {
                prepare(
                    broker,
                    &topic,
                    partition.index,
                    partition.records.as_ref(),
                    version,
                )
            });
            if let Ok(Ready {
                log,
                queue,
                idempotent: Some(_),
                ..
            }) = &ready
            {
                // Immediate once loaded: no await point in steady state.
                queue.load_producers(log).await;
            }
            partitions.push((partition.index, ready));
        }
        plans.push(partitions);
    }

    // Hand everything to the logs; nothing is awaited in this loop.
    let answers: Vec<Vec<(i32, Answer)>> = plans
        .into_iter()
        .map(|partitions| {
            partitions
                .into_iter()
                .map(|(index, ready)| (index, submit(broker, ready)))
                .collect()
        })
        .collect();
    if acks == 0 {
        // No answer carries the refusals; only the broker log shows them.
        for (index, answer) in answers.iter().flatten() {
            if let Answer::Now(Err(refused)) = answer {
                debug!(partition = index, error_code = refused.code, message = %refused.message, "acks=0 produce refused");
            }
        }
        return None;
    }

    let waits = answers.into_iter().map(|partitions| {
        join_all(partitions.into_iter().map(|(index, answer)| async move {
            let appended = match answer {
                Answer::Now(result) => result,
                Answer::Queued(watch) => outcome(watch).await.map(|info| Appended {
                    base_offset: info.base_offset.0,
                    log_start: info.log_start.0,
                }),
                Answer::Duplicate(watch, log) => outcome(watch).await.map(|info| Appended {
                    base_offset: info.base_offset.0,
                    log_start: log.watermarks().log_start.0,
                }),
            };
            partition_response(index, appended)
        }))
    });
    let responses = join_all(waits)
        .await
        .into_iter()
        .zip(request.topic_data)
        .map(|(partitions, data)| {
            TopicProduceResponse::default()
                .with_name(data.name)
                .with_partition_responses(partitions)
        })
        .collect();
    Some(ProduceResponse::default().with_responses(responses))
}

/// The topic of each entry of the request: existing, auto-created (on a
/// blocking thread) when the broker does that, or refused.
async fn resolve_topics(
    broker: &Arc<Broker>,
    topic_data: &[TopicProduceData],
) -> Vec<Result<Arc<Topic>, AppendFailure>> {
    let mut topics = Vec::with_capacity(topic_data.len());
    let mut to_create = Vec::new();
    for (position, data) in topic_data.iter().enumerate() {
        let name = data.name.0.as_str();
        topics.push(if name.starts_with(INTERNAL_TOPIC_PREFIX) {
            Err(failure(
                ResponseError::InvalidTopicException,
                format!("cannot append to internal topic {name:?}"),
            ))
        } else if let Some(topic) = broker.topic(name) {
            Ok(topic)
        } else {
            if broker.config.auto_create_topics && validate_topic_name(name).is_ok() {
                to_create.push((position, name.to_string()));
            }
            Err(failure(
                ResponseError::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            ))
        });
    }
    if to_create.is_empty() {
        return topics;
    }
    let for_blocking = broker.clone();
    let created = tokio::task::spawn_blocking(move || {
        to_create
            .into_iter()
            .map(|(position, name)| {
                let created = match for_blocking.create_topic(&name, None, None) {
                    Ok(topic) => {
                        info!(topic = %name, "auto-created topic");
                        Ok(topic)
                    }
                    // Created meanwhile by another request.
                    Err(StorageError::TopicExists { .. }) => {
                        for_blocking.topic(&name).ok_or_else(|| {
                            failure(
                                ResponseError::UnknownTopicOrPartition,
                                format!("topic {name:?} does not exist"),
                            )
                        })
                    }
                    Err(error) => Err(AppendFailure {
                        code: storage_error_code(&error),
                        message: error.to_string(),
                    }),
                };
                (position, created)
            })
            .collect::<Vec<_>>()
    })
    .await;
    match created {
        Ok(created) => {
            for (position, topic) in created {
                topics[position] = topic;
            }
        }
        Err(error) => debug!(%error, "auto-creating topics failed"),
    }
    topics
}

/// Checks one partition's records and finds its log and queue.
fn prepare(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    records: Option<&Bytes>,
    version: i16,
) -> Result<Ready, AppendFailure> {
    let log = topic.partition(index).cloned().ok_or_else(|| {
        failure(
            ResponseError::UnknownTopicOrPartition,
            format!("topic {:?} has no partition {index}", topic.name),
        )
    })?;
    let records = records
        .filter(|records| !records.is_empty())
        .ok_or_else(|| {
            failure(
                ResponseError::InvalidRecord,
                "a produce request needs one record batch per partition",
            )
        })?;
    let header = check_records(records, version, topic.config.segment_bytes)?;
    trace!(
        partition = %log.name(),
        bytes = records.len(),
        records = header.record_count,
        producer_id = header.producer_id,
        base_sequence = header.base_sequence,
        "batch"
    );
    let queue = broker.producers.append_queue(&topic.name, index, &log);
    Ok(Ready {
        log,
        queue,
        records: records.clone(),
        idempotent: IdempotentBatch::of(&header),
    })
}

/// Kafka's checks of one partition's records; the log checks CRCs again.
fn check_records(
    records: &Bytes,
    version: i16,
    segment_bytes: u64,
) -> Result<BatchHeader, AppendFailure> {
    let header = BatchHeader::parse(records).map_err(|error| match error {
        BatchError::BadMagic { magic } => failure(
            ResponseError::InvalidRecord,
            format!("only record batches of magic 2 are accepted, got magic {magic}"),
        ),
        other => failure(
            ResponseError::CorruptMessage,
            format!("unreadable batch header: {other}"),
        ),
    })?;
    let batch_bytes = header.total_len();
    if records.len() < batch_bytes {
        return Err(failure(
            ResponseError::CorruptMessage,
            format!(
                "batch cut short: its header says {batch_bytes} bytes, {} arrived",
                records.len()
            ),
        ));
    }
    if records.len() > batch_bytes {
        return Err(failure(
            ResponseError::InvalidRecord,
            "a produce request may hold exactly one record batch per partition",
        ));
    }
    if version < 7 && header.compression() == Compression::Zstd {
        return Err(failure(
            ResponseError::UnsupportedCompressionType,
            "zstd-compressed batches need produce v7 or later",
        ));
    }
    if header.is_control() {
        return Err(failure(
            ResponseError::InvalidRecord,
            "clients may not write control batches",
        ));
    }
    if header.is_transactional() {
        return Err(failure(
            ResponseError::InvalidRecord,
            "transactions are not supported",
        ));
    }
    if records.len() as u64 > segment_bytes {
        return Err(failure(
            ResponseError::RecordListTooLarge,
            format!(
                "batch of {} bytes exceeds the topic's segment.bytes ({segment_bytes})",
                records.len()
            ),
        ));
    }
    if header.has_producer_id() {
        check_batch(records)
            .map_err(|error| failure(ResponseError::CorruptMessage, error.to_string()))?;
        if header.record_count == 0 {
            return Err(failure(
                ResponseError::CorruptMessage,
                "a batch needs at least one record",
            ));
        }
    }
    Ok(header)
}

/// Hands one checked partition to its log.
fn submit(broker: &Broker, ready: Result<Ready, AppendFailure>) -> Answer {
    let ready = match ready {
        Ok(ready) => ready,
        Err(refused) => return Answer::Now(Err(refused)),
    };
    let idempotent = ready.idempotent.map(|batch| {
        (
            batch,
            broker.producers.allocated_before_start(batch.producer_id),
        )
    });
    match ready.queue.submit(&ready.log, ready.records, idempotent) {
        Submitted::Queued(watch) => Answer::Queued(watch),
        Submitted::Duplicate(watch) => {
            debug!(partition = %ready.log.name(), producer_id = ?idempotent.map(|(b, _)| b.producer_id), "duplicate batch not appended");
            Answer::Duplicate(watch, ready.log)
        }
        Submitted::Refused(refused) => Answer::Now(Err(refused)),
    }
}

fn partition_response(
    index: i32,
    appended: Result<Appended, AppendFailure>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match appended {
        Ok(appended) => response
            .with_base_offset(appended.base_offset)
            .with_log_start_offset(appended.log_start),
        Err(failed) => {
            debug!(partition = index, error_code = failed.code, message = %failed.message, "produce refused");
            response
                .with_error_code(failed.code)
                .with_base_offset(-1)
                .with_log_start_offset(-1)
                .with_error_message(Some(StrBytes::from_string(failed.message)))
        }
    }
}

#[cfg(test)]
mod tests {
    use sluice_batch::{BatchBuilder, BatchOptions};
    use sluice_types::Timestamp;

    use super::*;

    fn batch(options: BatchOptions) -> Bytes {
        let mut builder = BatchBuilder::new(options);
        builder
            .push(Timestamp(5), Some(b"k"), Some(b"v"), &[])
            .unwrap();
        builder.build().unwrap()
    }

    fn refused_with(records: &Bytes, version: i16) -> i16 {
        check_records(records, version, 1 << 20)
            .err()
            .map_or(0, |failure| failure.code)
    }

    #[test]
    fn records_are_checked_as_kafka_checks_them() {
        let good = batch(BatchOptions::default());
        assert_eq!(refused_with(&good, 9), 0);
        let two = Bytes::from([good.to_vec(), good.to_vec()].concat());
        assert_eq!(refused_with(&two, 9), 87, "two batches");
        assert_eq!(
            refused_with(&good.slice(..good.len() - 1), 9),
            2,
            "cut short"
        );
        assert_eq!(refused_with(&good.slice(..20), 9), 2, "no whole header");
        let mut magic_one = good.to_vec();
        magic_one[16] = 1;
        assert_eq!(refused_with(&Bytes::from(magic_one), 9), 87, "magic 1");
        let zstd = batch(BatchOptions {
            compression: Compression::Zstd,
            ..BatchOptions::default()
        });
        assert_eq!(refused_with(&zstd, 6), 76);
        assert_eq!(refused_with(&zstd, 7), 0);
        let transactional = batch(BatchOptions {
            transactional: true,
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: 0,
            ..BatchOptions::default()
        });
        assert_eq!(refused_with(&transactional, 9), 87);
        assert_eq!(
            check_records(&good, 9, 10).err().map(|f| f.code),
            Some(18),
            "over segment.bytes"
        );
    }

    #[test]
    fn idempotent_batches_are_crc_checked_before_their_sequence() {
        let idempotent = batch(BatchOptions {
            producer_id: 3,
            producer_epoch: 0,
            base_sequence: 0,
            ..BatchOptions::default()
        });
        assert_eq!(refused_with(&idempotent, 9), 0);
        let mut flipped = idempotent.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(refused_with(&Bytes::from(flipped), 9), 2);
        // Without a producer id the log is the one to check the CRC.
        let mut plain = batch(BatchOptions::default()).to_vec();
        let last = plain.len() - 1;
        plain[last] ^= 1;
        assert_eq!(refused_with(&Bytes::from(plain), 9), 0);
    }
}
