//! ListOffsets: the first offset, the end of the log, or the first offset
//! at or after a timestamp, for many partitions at once.
//!
//! Consumers use it to resolve where to start ([`StartFrom`]) and to reset
//! after OFFSET_OUT_OF_RANGE; the admin client uses it for watermarks and
//! lag. Queries are grouped into one request per partition leader; a
//! partition whose leader moved is retried after a metadata refresh.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_protocol::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use sluice_protocol::kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
use sluice_protocol::kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::cluster::Cluster;
use crate::error::{ClientError, Result};

/// ListOffsets timestamp meaning "the log start offset".
pub const EARLIEST: i64 = -2;
/// ListOffsets timestamp meaning "the log end (high watermark)".
pub const LATEST: i64 = -1;

/// Where a consumer starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest record still in the log.
    Earliest,
    /// Only records appended from now on.
    Latest,
    /// This offset (out of range falls back to the reset policy).
    Offset(i64),
    /// The first record with a timestamp at or after this one (ms since
    /// the epoch); the log end if there is none.
    Timestamp(i64),
}

impl StartFrom {
    /// Parses `earliest`, `latest`, an offset, or `@` and a timestamp in
    /// milliseconds since the epoch.
    pub fn parse(text: &str) -> Option<StartFrom> {
        match text {
            "earliest" | "beginning" => Some(StartFrom::Earliest),
            "latest" | "end" => Some(StartFrom::Latest),
            _ => match text.strip_prefix('@') {
                Some(ms) => ms.parse().ok().map(StartFrom::Timestamp),
                None => text
                    .parse()
                    .ok()
                    .filter(|offset| *offset >= 0)
                    .map(StartFrom::Offset),
            },
        }
    }
}

/// One partition to look up, with the ListOffsets timestamp: [`EARLIEST`],
/// [`LATEST`], or milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetQuery {
    pub topic: Arc<str>,
    pub partition: i32,
    pub timestamp: i64,
}

/// What ListOffsets answered for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset; -1 for a timestamp after every record.
    pub offset: i64,
    /// The found record's timestamp for a timestamp query; -1 otherwise.
    pub timestamp: i64,
}

/// Looks up every query, at most one per topic-partition; the answers come
/// back in query order.
///
/// # Errors
/// A non-retriable error code for any partition (with its name), or a
/// retriable one that persists past [`crate::ClientConfig::retries`].
pub async fn list_offsets(cluster: &Cluster, queries: &[OffsetQuery]) -> Result<Vec<ListedOffset>> {
    let mut answers: Vec<Option<ListedOffset>> = vec![None; queries.len()];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        let mut last_error = None;
        for (index, query) in queries.iter().enumerate() {
            if answers[index].is_some() {
                continue;
            }
            match cluster.leader_id(&query.topic, query.partition).await {
                Ok(leader) => by_leader.entry(leader).or_default().push(index),
                Err(error) if error.is_retriable() => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        for (leader, indexes) in by_leader {
            match ask_leader(cluster, leader, queries, &indexes).await {
                Ok(found) => {
                    for (index, result) in found {
                        match result {
                            Ok(listed) => answers[index] = Some(listed),
                            Err(error) if error.is_retriable() => {
                                cluster.invalidate_topic(&queries[index].topic);
                                last_error = Some(error);
                            }
                            Err(error) => return Err(error),
                        }
                    }
                }
                Err(error) if error.is_retriable() => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        if answers.iter().all(Option::is_some) {
            return Ok(answers.into_iter().flatten().collect());
        }
        let error = last_error.unwrap_or_else(|| ClientError::Kafka {
            api: ApiKey::ListOffsets,
            resource: "the requested partitions".into(),
            error: sluice_protocol::kafka_protocol::error::ResponseError::UnknownServerError,
            message: Some("partitions missing from the response".into()),
        });
        if attempt > cluster.config().retries {
            return Err(error);
        }
        debug!(%error, attempt, "ListOffsets incomplete; retrying");
        tokio::time::sleep(cluster.config().retry_backoff).await;
    }
}

/// The offset each (topic, partition, start) begins at. A timestamp after
/// every record begins at the log end, as Kafka does.
///
/// # Errors
/// As [`list_offsets`].
pub async fn resolve_starts(
    cluster: &Cluster,
    starts: &[(Arc<str>, i32, StartFrom)],
) -> Result<Vec<i64>> {
    let mut offsets = vec![-1; starts.len()];
    let mut queries = Vec::new();
    let mut asked = Vec::new();
    for (index, (topic, partition, start)) in starts.iter().enumerate() {
        let timestamp = match *start {
            StartFrom::Offset(offset) => {
                offsets[index] = offset;
                continue;
            }
            StartFrom::Earliest => EARLIEST,
            StartFrom::Latest => LATEST,
            StartFrom::Timestamp(ms) => ms,
        };
        queries.push(OffsetQuery {
            topic: topic.clone(),
            partition: *partition,
            timestamp,
        });
        asked.push(index);
    }
    if queries.is_empty() {
        return Ok(offsets);
    }
    let found = list_offsets(cluster, &queries).await?;
    let mut beyond = Vec::new();
    for ((query, index), listed) in queries.iter().zip(&asked).zip(found) {
        if listed.offset < 0 {
            beyond.push((
                *index,
                OffsetQuery {
                    timestamp: LATEST,
                    ..query.clone()
                },
            ));
        } else {
            offsets[*index] = listed.offset;
        }
    }
    if !beyond.is_empty() {
        let latest: Vec<OffsetQuery> = beyond.iter().map(|(_, query)| query.clone()).collect();
        for ((index, _), listed) in beyond.iter().zip(list_offsets(cluster, &latest).await?) {
            offsets[*index] = listed.offset;
        }
    }
    Ok(offsets)
}

/// Sends one ListOffsets to `leader` for the queries at `indexes`.
async fn ask_leader(
    cluster: &Cluster,
    leader: i32,
    queries: &[OffsetQuery],
    indexes: &[usize],
) -> Result<Vec<(usize, Result<ListedOffset>)>> {
    let connection = cluster.broker(leader).await?;
    let version = connection.version(ApiKey::ListOffsets)?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for &index in indexes {
        let query = &queries[index];
        let partition = ListOffsetsPartition::default()
            .with_partition_index(query.partition)
            .with_timestamp(query.timestamp);
        match topics.iter_mut().find(|t| *t.name.0 == *query.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(query.topic.to_string())))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    // -1: a consumer, not a follower replica (the field's default is 0).
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics);
    let timeout = cluster.config().request_timeout;
    let response = connection.send_at(request, version, timeout).await?;
    let mut found = Vec::with_capacity(indexes.len());
    for topic in response.topics {
        for partition in topic.partitions {
            let Some(&index) = indexes.iter().find(|&&index| {
                *queries[index].topic == *topic.name.0
                    && queries[index].partition == partition.partition_index
            }) else {
                continue;
            };
            let resource = || format!("{}-{}", topic.name.0, partition.partition_index);
            let result = match ClientError::from_code(
                ApiKey::ListOffsets,
                resource,
                partition.error_code,
                None,
            ) {
                Some(error) => Err(error),
                None => Ok(ListedOffset {
                    offset: partition.offset,
                    timestamp: partition.timestamp,
                }),
            };
            found.push((index, result));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse() {
        assert_eq!(StartFrom::parse("earliest"), Some(StartFrom::Earliest));
        assert_eq!(StartFrom::parse("latest"), Some(StartFrom::Latest));
        assert_eq!(StartFrom::parse("42"), Some(StartFrom::Offset(42)));
        assert_eq!(
            StartFrom::parse("@1700000000000"),
            Some(StartFrom::Timestamp(1_700_000_000_000))
        );
        for bad in ["-1", "@", "@x", "first", ""] {
            assert_eq!(StartFrom::parse(bad), None, "{bad:?}");
        }
    }
}
