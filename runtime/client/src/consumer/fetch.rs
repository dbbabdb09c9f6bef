//! One Fetch round trip: the request for one leader's partitions, and the
//! response turned into decoded records per partition.
//!
//! This module does not decide what to fetch or where records go next;
//! [`super::Consumer`] does. It only knows the wire: which fields a Fetch
//! needs, that a response may start before the asked offset (a batch is
//! served whole) and end with a partial batch (skipped, fetched again
//! next time), and that control batches carry no user records.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sluice_batch::{Batches, RecordIter};
use sluice_protocol::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use sluice_protocol::kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;

use super::ConsumerRecord;
use crate::connection::Connection;
use crate::error::{ClientError, Result};

/// One partition in a Fetch request.
#[derive(Debug, Clone)]
pub(crate) struct FetchAsk {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// The partition's seek epoch when asked; an answer for an older
    /// epoch is stale and dropped.
    pub epoch: u64,
}

/// Limits of one Fetch request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchLimits {
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
}

/// The answer for one partition.
pub(crate) enum PartitionAnswer {
    /// Record batches, not yet decoded, and where to fetch next.
    Records {
        batches: Bytes,
        next_offset: i64,
        high_watermark: i64,
    },
    /// A Kafka error code for this partition.
    Error(ClientError),
}

/// Sends one Fetch for `asks` over `connection` (to their leader) and
/// waits up to the request timeout plus `max_wait`.
pub(crate) async fn fetch(
    connection: &Connection,
    asks: &[FetchAsk],
    limits: FetchLimits,
) -> Result<FetchResponse> {
    let version = connection.version(ApiKey::Fetch)?;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ask in asks {
        let partition = FetchPartition::default()
            .with_partition(ask.partition)
            .with_fetch_offset(ask.offset)
            .with_partition_max_bytes(limits.partition_max_bytes);
        match topics.iter_mut().find(|t| *t.topic.0 == *ask.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(ask.topic.to_string())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let max_wait_ms = i32::try_from(limits.max_wait.as_millis()).unwrap_or(i32::MAX);
    // Sessionless fetches (session id 0, epoch -1): every request names
    // every partition, which keeps the client stateless across brokers.
    let request = FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(limits.min_bytes)
        .with_max_bytes(limits.max_bytes)
        .with_topics(topics);
    let timeout = connection.request_timeout() + limits.max_wait;
    connection.send_at(request, version, timeout).await
}

/// Splits a Fetch response into one answer per asked partition (in the
/// order of `asks`; partitions the response leaves out are not listed).
/// Only batch headers are read here, enough to know where the next Fetch
/// starts; records are decoded later with [`decode`], while that Fetch is
/// already on its way.
pub(crate) fn answers(response: FetchResponse, asks: &[FetchAsk]) -> Vec<(usize, PartitionAnswer)> {
    let mut answers = Vec::with_capacity(asks.len());
    for topic in response.responses {
        for partition in topic.partitions {
            let Some(index) = asks.iter().position(|ask| {
                *ask.topic == *topic.topic.0 && ask.partition == partition.partition_index
            }) else {
                continue;
            };
            let ask = &asks[index];
            let resource = || format!("{}-{}", ask.topic, ask.partition);
            if let Some(error) =
                ClientError::from_code(ApiKey::Fetch, resource, partition.error_code, None)
            {
                answers.push((index, PartitionAnswer::Error(error)));
                continue;
            }
            let batches = partition.records.unwrap_or_default();
            let answer = match next_offset(ask, &batches) {
                Ok(next_offset) => PartitionAnswer::Records {
                    batches,
                    next_offset,
                    high_watermark: partition.high_watermark,
                },
                Err(error) => PartitionAnswer::Error(error),
            };
            answers.push((index, answer));
        }
    }
    answers
}

/// The offset after the last whole batch in `bytes` (the asked offset
/// when there is none), from the batch headers alone.
fn next_offset(ask: &FetchAsk, bytes: &Bytes) -> Result<i64> {
    let mut next_offset = ask.offset;
    for item in Batches::new(bytes.clone(), false) {
        let (header, _) = item.map_err(|source| ClientError::Batch {
            topic: ask.topic.to_string(),
            partition: ask.partition,
            offset: next_offset,
            source,
        })?;
        next_offset = next_offset.max(header.next_offset().0);
    }
    Ok(next_offset)
}

/// The records of one partition's answer, decoded as they are taken, so
/// no more records exist at once than `poll` hands out.
pub(crate) struct AnswerRecords {
    ask: FetchAsk,
    batches: Batches,
    /// The batch being read.
    current: Option<RecordIter>,
}

impl AnswerRecords {
    pub(crate) fn new(ask: FetchAsk, bytes: Bytes) -> AnswerRecords {
        AnswerRecords {
            ask,
            // CRCs are checked once, by `RecordIter::new`.
            batches: Batches::new(bytes, false),
            current: None,
        }
    }

    fn batch_error(&self, offset: i64, source: sluice_batch::BatchError) -> ClientError {
        ClientError::Batch {
            topic: self.ask.topic.to_string(),
            partition: self.ask.partition,
            offset,
            source,
        }
    }

    /// Appends records at or after the asked offset to `out` until it
    /// holds `max`; returns true once every whole batch is read.
    pub(crate) fn take_into(&mut self, out: &mut Vec<ConsumerRecord>, max: usize) -> Result<bool> {
        while out.len() < max {
            if let Some(iter) = &mut self.current {
                match iter.next() {
                    Some(Ok(record)) => {
                        if record.offset.0 >= self.ask.offset {
                            out.push(ConsumerRecord {
                                topic: self.ask.topic.clone(),
                                partition: self.ask.partition,
                                offset: record.offset.0,
                                timestamp: record.timestamp,
                                key: record.key,
                                value: record.value,
                                headers: record.headers,
                            });
                        }
                        continue;
                    }
                    Some(Err(source)) => {
                        let offset = iter.header().base_offset.0;
                        self.current = None;
                        return Err(self.batch_error(offset, source));
                    }
                    None => self.current = None,
                }
            }
            let offset = self.ask.offset;
            match self.batches.next() {
                None => return Ok(true),
                Some(Err(source)) => return Err(self.batch_error(offset, source)),
                Some(Ok((header, batch))) => {
                    if header.next_offset().0 <= self.ask.offset || header.is_control() {
                        continue;
                    }
                    let iter = RecordIter::new(&batch)
                        .map_err(|source| self.batch_error(header.base_offset.0, source))?;
                    self.current = Some(iter);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use sluice_batch::{BatchBuilder, BatchOptions, Compression};
    use sluice_types::{Offset, Timestamp};

    use super::*;

    fn batch(base_offset: i64, values: &[&str]) -> Bytes {
        let mut builder = BatchBuilder::new(BatchOptions {
            base_offset: Offset(base_offset),
            compression: Compression::Lz4,
            ..BatchOptions::default()
        });
        for value in values {
            builder
                .push(Timestamp(1), None, Some(value.as_bytes()), &[])
                .unwrap();
        }
        builder.build().unwrap()
    }

    fn decode(ask: &FetchAsk, bytes: Bytes) -> Result<(Vec<ConsumerRecord>, i64)> {
        let next = next_offset(ask, &bytes)?;
        let mut records = Vec::new();
        let mut answer = AnswerRecords::new(ask.clone(), bytes);
        // Small steps, as `poll` with a small limit takes them.
        loop {
            let step = records.len() + 2;
            if answer.take_into(&mut records, step)? {
                break;
            }
        }
        Ok((records, next))
    }

    fn ask(offset: i64) -> FetchAsk {
        FetchAsk {
            topic: "t".into(),
            partition: 0,
            offset,
            epoch: 0,
        }
    }

    #[test]
    fn records_before_the_asked_offset_and_a_partial_tail_are_skipped() {
        let first = batch(10, &["a", "b", "c"]);
        let second = batch(13, &["d", "e"]);
        let mut bytes = first.to_vec();
        bytes.extend_from_slice(&second);
        // A partial third batch, as a fetch cut at its byte limit returns.
        bytes.extend_from_slice(&batch(15, &["f"])[..20]);
        let (records, next) = decode(&ask(11), Bytes::from(bytes)).unwrap();
        let values: Vec<_> = records.iter().map(|r| r.value.clone().unwrap()).collect();
        assert_eq!(values, ["b", "c", "d", "e"]);
        assert_eq!(records[0].offset, 11);
        assert_eq!(next, 15);
    }

    #[test]
    fn nothing_whole_keeps_the_asked_offset() {
        let partial = batch(0, &["x"]).slice(..30);
        let (records, next) = decode(&ask(0), partial).unwrap();
        assert!(records.is_empty());
        assert_eq!(next, 0);
    }

    #[test]
    fn a_corrupt_batch_names_the_partition_and_offset() {
        let mut bytes = batch(7, &["x"]).to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let error = decode(&ask(7), Bytes::from(bytes)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("t-0: fetched data at offset 7"),
            "{error}"
        );
    }
}
