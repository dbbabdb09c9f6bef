//! Replay: one sink of a pipeline run again over a range of its topic, to
//! backfill a new store or repair a broken one.
//!
//! The range is read with a plain [`Consumer`], never as the sink's
//! consumer group, so the running sink's committed offsets do not move.
//! Each poll goes through the same code as the live sink
//! ([`sink::deliver_poll`]): inline transforms, `write`, dead letters with
//! the same headers to `<pipeline>.dlq`, then `flush`. A poll the sink
//! could not take is read again into a fresh instance, a bounded number of
//! times.
//!
//! Every partition's end is fixed when the replay starts (at most the high
//! watermark then), so a replay ends while live records keep arriving.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sluice_client::offsets::resolve_starts;
use sluice_client::{Admin, ClientError, Consumer, ConsumerConfig, ConsumerRecord, StartFrom};
use sluice_wasm_host::WasmEngine;
use tokio::sync::watch;
use tracing::{info, instrument};

use super::backbone::Backbone;
use super::sink::{self, Outcome, POLL_RECORDS};
use super::stage::{by_partition, Backoff, StageContext};
use super::status::{StageState, StageStatus};
use crate::plan::{parse_timestamp, SinkPlan, TopicPlan};

/// Polls in a row the sink may fail to take before the replay gives up.
const REDELIVERIES_MAX: u32 = 5;

/// Where a replay starts, in every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The oldest record still in the log.
    Earliest,
    /// This offset (the log start, where retention removed it).
    Offset(i64),
    /// The first record with a timestamp at or after this one (ms since
    /// the epoch).
    Timestamp(i64),
}

impl ReplayFrom {
    /// `earliest`, an offset, or `@` and a timestamp (ms since the epoch,
    /// or RFC 3339).
    pub fn parse(text: &str) -> Option<ReplayFrom> {
        match text {
            "earliest" => Some(ReplayFrom::Earliest),
            _ => match parse_bound(text)? {
                Bound::Offset(offset) => Some(ReplayFrom::Offset(offset)),
                Bound::Timestamp(ms) => Some(ReplayFrom::Timestamp(ms)),
            },
        }
    }
}

impl std::fmt::Display for ReplayFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayFrom::Earliest => f.write_str("earliest"),
            ReplayFrom::Offset(offset) => write!(f, "offset {offset}"),
            ReplayFrom::Timestamp(ms) => write!(f, "@{ms}"),
        }
    }
}

/// Where a replay ends, in every partition (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayTo {
    /// Records before this offset.
    Offset(i64),
    /// Records with a timestamp before this one (ms since the epoch).
    Timestamp(i64),
}

impl ReplayTo {
    /// An offset, or `@` and a timestamp (ms since the epoch, or RFC 3339).
    pub fn parse(text: &str) -> Option<ReplayTo> {
        match parse_bound(text)? {
            Bound::Offset(offset) => Some(ReplayTo::Offset(offset)),
            Bound::Timestamp(ms) => Some(ReplayTo::Timestamp(ms)),
        }
    }
}

impl std::fmt::Display for ReplayTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayTo::Offset(offset) => write!(f, "offset {offset}"),
            ReplayTo::Timestamp(ms) => write!(f, "@{ms}"),
        }
    }
}

enum Bound {
    Offset(i64),
    Timestamp(i64),
}

fn parse_bound(text: &str) -> Option<Bound> {
    match text.strip_prefix('@') {
        Some(time) => parse_timestamp(time).map(Bound::Timestamp),
        None => text
            .parse()
            .ok()
            .filter(|offset| *offset >= 0)
            .map(Bound::Offset),
    }
}

/// What to replay. `to: None` means the end of every partition when the
/// replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayRange {
    pub from: ReplayFrom,
    pub to: Option<ReplayTo>,
}

impl ReplayRange {
    /// A range; bounds of one kind must not end before they start.
    ///
    /// # Errors
    /// [`ReplayError::Backwards`] when `to` is before `from`.
    pub fn new(from: ReplayFrom, to: Option<ReplayTo>) -> Result<ReplayRange, ReplayError> {
        if let Some(end) = to {
            let backwards = match (from, end) {
                (ReplayFrom::Offset(from), ReplayTo::Offset(to)) => to < from,
                (ReplayFrom::Timestamp(from), ReplayTo::Timestamp(to)) => to < from,
                _ => false,
            };
            if backwards {
                return Err(ReplayError::Backwards { from, to: end });
            }
        }
        Ok(ReplayRange { from, to })
    }
}

/// Everything a replay needs.
pub struct ReplayJob {
    /// The pipeline's name: its dead-letter topic and state directory.
    pub pipeline: String,
    pub sink: SinkPlan,
    pub backbone: Arc<Backbone>,
    pub wasm: Arc<WasmEngine>,
    /// Where `state` stores live, as for the engine.
    pub state_dir: PathBuf,
    pub range: ReplayRange,
    /// Set to true to stop after the poll being delivered.
    pub stop: watch::Receiver<bool>,
    /// Values to blank out of errors (the plan's `secrets`).
    pub secrets: Vec<String>,
}

/// One partition's share of the range: offsets `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

/// How far a replay got; reported after every flushed poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayProgress {
    pub records_read: u64,
    /// Offsets in the range: the records to read, unless compaction
    /// removed some.
    pub records_total: u64,
    /// Keys, values and headers read.
    pub bytes_read: u64,
}

/// What a finished replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    pub topic: String,
    pub partitions: Vec<PartitionRange>,
    pub records_read: u64,
    /// Records the sink took (after inline transforms, without rejects).
    pub records_written: u64,
    pub dead_lettered: u64,
    pub bytes_read: u64,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the range ends ({to}) before it starts ({from}); swap the two bounds")]
    Backwards { from: ReplayFrom, to: ReplayTo },
    #[error("{what}")]
    Client {
        what: String,
        #[source]
        source: ClientError,
    },
    #[error("{what}")]
    Other { what: String },
    #[error("{stage} cannot start: {message}")]
    Start { stage: String, message: String },
    #[error(
        "{stage} failed after {records_read} records of the range (those were flushed): {message}"
    )]
    Failed {
        stage: String,
        message: String,
        records_read: u64,
    },
    #[error("stopped after {records_read} records of the range (those were flushed)")]
    Stopped { records_read: u64 },
}

/// Runs `job.sink` over `job.range` of its topic; `progress` hears after
/// every flushed poll (and once before the first, with nothing read).
///
/// # Errors
/// The topic cannot be read, the sink cannot start, it keeps failing (or
/// stops, `on_error = "stop"`), or `job.stop` was set.
#[instrument(skip_all, fields(pipeline = %job.pipeline, stage = %job.sink.stage.id))]
pub async fn replay(
    job: ReplayJob,
    progress: &mut (dyn FnMut(&ReplayProgress) + Send),
) -> Result<ReplaySummary, ReplayError> {
    let plan = &job.sink;
    let topic: Arc<str> = Arc::from(plan.from.as_str());
    let partitions = resolve(&job.backbone, &topic, job.range).await?;
    // As the engine does before it starts a pipeline: dead letters need
    // their topic.
    let dead_letters = TopicPlan {
        name: format!("{}.dlq", job.pipeline),
        partitions: 1,
        configs: Vec::new(),
    };
    job.backbone
        .ensure_topic(&dead_letters)
        .await
        .map_err(|message| ReplayError::Other {
            what: format!(
                "creating the dead-letter topic {}: {message}",
                dead_letters.name
            ),
        })?;
    let mut summary = ReplaySummary {
        topic: topic.to_string(),
        partitions: partitions.clone(),
        records_read: 0,
        records_written: 0,
        dead_lettered: 0,
        bytes_read: 0,
    };
    let mut report = ReplayProgress {
        records_total: partitions.iter().map(|p| (p.end - p.start) as u64).sum(),
        ..ReplayProgress::default()
    };
    progress(&report);
    info!(topic = %topic, records = report.records_total, "replay starting");

    let component = plan
        .stage
        .component
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let status = StageStatus::new(&plan.stage.id, component, job.secrets.clone());
    let mut ctx = StageContext {
        pipeline: job.pipeline.clone(),
        backbone: job.backbone.clone(),
        wasm: job.wasm.clone(),
        state_dir: job.state_dir.clone(),
        stop: job.stop.clone(),
        status: status.clone(),
    };
    let start_error = |message: String| ReplayError::Start {
        stage: plan.stage.id.clone(),
        message,
    };
    let mut stages = sink::start(&ctx, plan).await.map_err(start_error)?;
    let mut backoff = Backoff::default();
    if !sink::open(&mut ctx, &mut stages.sink, plan, &mut backoff).await {
        return Err(match status.state() {
            StageState::Failed => start_error(last_error(&status)),
            _ => ReplayError::Stopped { records_read: 0 },
        });
    }

    let mut ends: BTreeMap<i32, i64> = partitions
        .iter()
        .filter(|p| p.start < p.end)
        .map(|p| (p.partition, p.end))
        .collect();
    let mut consumer = Consumer::new(
        cluster(&job.backbone)?.clone(),
        ConsumerConfig {
            max_poll_records: POLL_RECORDS,
            max_wait: Duration::from_millis(200),
            ..ConsumerConfig::default()
        },
    );
    consumer.assign(
        partitions
            .iter()
            .filter(|p| p.start < p.end)
            .map(|p| (topic.clone(), p.partition, StartFrom::Offset(p.start))),
    );
    let mut redeliveries = 0;
    while !ends.is_empty() {
        if ctx.stopping() {
            return Err(ReplayError::Stopped {
                records_read: summary.records_read,
            });
        }
        let mut records =
            consumer
                .poll_max(POLL_RECORDS)
                .await
                .map_err(|source| ReplayError::Client {
                    what: format!("reading {topic}"),
                    source,
                })?;
        records.retain(|r| ends.get(&r.partition).is_some_and(|end| r.offset < *end));
        if !records.is_empty() {
            let starts: Vec<(i32, i64)> = by_partition(&records)
                .iter()
                .map(|run| (run[0].partition, run[0].offset))
                .collect();
            let (outcome, written) =
                sink::deliver_poll(&mut ctx, plan, &mut stages, &records, &mut backoff).await;
            match outcome {
                Outcome::Done => {
                    redeliveries = 0;
                    backoff.reset();
                    summary.records_read += records.len() as u64;
                    summary.records_written += written as u64;
                    summary.bytes_read += records.iter().map(record_bytes).sum::<u64>();
                    report.records_read = summary.records_read;
                    report.bytes_read = summary.bytes_read;
                    progress(&report);
                }
                Outcome::Redeliver if redeliveries < REDELIVERIES_MAX => {
                    redeliveries += 1;
                    for (partition, offset) in starts {
                        consumer.seek(&topic, partition, StartFrom::Offset(offset));
                    }
                    if !sink::open(&mut ctx, &mut stages.sink, plan, &mut backoff).await {
                        return Err(stopped_or_failed(&ctx, &status, &summary));
                    }
                    continue;
                }
                Outcome::Redeliver | Outcome::Stop => {
                    return Err(stopped_or_failed(&ctx, &status, &summary));
                }
            }
        }
        // A partition is done once its position passed its end.
        let before = ends.len();
        ends.retain(|partition, end| {
            consumer
                .position(&topic, *partition)
                .is_none_or(|position| position < *end)
        });
        if ends.len() < before {
            // Partitions still assigned keep their position; the start
            // given here is not used.
            consumer.assign(
                ends.iter()
                    .map(|(partition, end)| (topic.clone(), *partition, StartFrom::Offset(*end))),
            );
        }
    }
    summary.dead_lettered = status.report().dead_lettered;
    info!(
        topic = %topic,
        read = summary.records_read,
        written = summary.records_written,
        dead_lettered = summary.dead_lettered,
        "replay done"
    );
    Ok(summary)
}

/// Replay reads through Sluice's own client (see `Backbone::connect`).
fn cluster(backbone: &Backbone) -> Result<&Arc<sluice_client::Cluster>, ReplayError> {
    backbone.cluster().ok_or_else(|| ReplayError::Other {
        what: "replay reads through Sluice's own client; connect with Backbone::connect".into(),
    })
}

/// Every partition's `start..end`, from the watermarks and ListOffsets.
/// Bounds are clamped to what the log holds now, and an end before its
/// start (bounds of two kinds) makes the partition's share empty.
async fn resolve(
    backbone: &Backbone,
    topic: &Arc<str>,
    range: ReplayRange,
) -> Result<Vec<PartitionRange>, ReplayError> {
    let client = |what: String| move |source| ReplayError::Client { what, source };
    let cluster = cluster(backbone)?;
    let metadata = cluster
        .topic(topic)
        .await
        .map_err(client(format!("looking up topic {topic}")))?;
    let tps: Vec<(Arc<str>, i32)> = metadata
        .partitions
        .iter()
        .map(|p| (topic.clone(), p.partition))
        .collect();
    let watermarks = Admin::new(cluster.clone())
        .watermarks(&tps)
        .await
        .map_err(client(format!("reading the watermarks of {topic}")))?;
    let by_timestamp = |ms: i64| -> Vec<(Arc<str>, i32, StartFrom)> {
        tps.iter()
            .map(|(t, p)| (t.clone(), *p, StartFrom::Timestamp(ms)))
            .collect()
    };
    let starts = match range.from {
        ReplayFrom::Earliest => watermarks.iter().map(|w| w.log_start).collect(),
        ReplayFrom::Offset(offset) => vec![offset; tps.len()],
        ReplayFrom::Timestamp(ms) => resolve_starts(cluster, &by_timestamp(ms))
            .await
            .map_err(client(format!("finding offsets of {topic} by timestamp")))?,
    };
    let ends = match range.to {
        None => watermarks.iter().map(|w| w.high_watermark).collect(),
        Some(ReplayTo::Offset(offset)) => vec![offset; tps.len()],
        Some(ReplayTo::Timestamp(ms)) => resolve_starts(cluster, &by_timestamp(ms))
            .await
            .map_err(client(format!("finding offsets of {topic} by timestamp")))?,
    };
    Ok(tps
        .iter()
        .zip(watermarks)
        .zip(starts.into_iter().zip(ends))
        .map(|(((_, partition), marks), (start, end))| {
            let clamp = |offset: i64| offset.clamp(marks.log_start, marks.high_watermark);
            let start = clamp(start);
            PartitionRange {
                partition: *partition,
                start,
                end: clamp(end).max(start),
            }
        })
        .collect())
}

fn record_bytes(record: &ConsumerRecord) -> u64 {
    let len = |bytes: &Option<bytes::Bytes>| bytes.as_ref().map_or(0, |b| b.len() as u64);
    len(&record.key)
        + len(&record.value)
        + record
            .headers
            .iter()
            .map(|h| h.key.len() as u64 + len(&h.value))
            .sum::<u64>()
}

fn last_error(status: &StageStatus) -> String {
    status
        .report()
        .last_error
        .map_or_else(|| "no error recorded".into(), |note| note.message)
}

fn stopped_or_failed(
    ctx: &StageContext,
    status: &StageStatus,
    summary: &ReplaySummary,
) -> ReplayError {
    if ctx.stopping() {
        ReplayError::Stopped {
            records_read: summary.records_read,
        }
    } else {
        ReplayError::Failed {
            stage: status.id.clone(),
            message: last_error(status),
            records_read: summary.records_read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_parse() {
        assert_eq!(ReplayFrom::parse("earliest"), Some(ReplayFrom::Earliest));
        assert_eq!(ReplayFrom::parse("5000"), Some(ReplayFrom::Offset(5000)));
        assert_eq!(
            ReplayFrom::parse("@1700000000000"),
            Some(ReplayFrom::Timestamp(1_700_000_000_000))
        );
        assert_eq!(
            ReplayTo::parse("@2023-11-14T22:13:20Z"),
            Some(ReplayTo::Timestamp(1_700_000_000_000))
        );
        assert_eq!(ReplayTo::parse("6000"), Some(ReplayTo::Offset(6000)));
        for bad in ["-1", "@", "@x", "latest", ""] {
            assert_eq!(ReplayFrom::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ReplayTo::parse("earliest"), None);
    }

    #[test]
    fn backwards_ranges_are_refused() {
        let range = |from, to| ReplayRange::new(from, Some(to));
        assert!(range(ReplayFrom::Offset(6000), ReplayTo::Offset(5000)).is_err());
        assert!(range(ReplayFrom::Timestamp(2), ReplayTo::Timestamp(1)).is_err());
        assert!(range(ReplayFrom::Offset(5000), ReplayTo::Offset(5000)).is_ok());
        assert!(range(ReplayFrom::Earliest, ReplayTo::Offset(0)).is_ok());
        // Bounds of two kinds are compared per partition once resolved.
        assert!(range(ReplayFrom::Offset(9), ReplayTo::Timestamp(1)).is_ok());
    }
}
