//! A sink stage: reads its topic as the consumer group
//! `<pipeline>.<sink>`, runs each partition's records through the inline
//! transforms and `write`s them, then `flush`es, and only after a
//! successful flush commits the offsets. A crash or restart resumes after
//! the last flushed record.
//!
//! A slow sink only falls behind (its lag grows): ingest and other sinks
//! read the log independently. Records the sink rejects, or whose batch
//! keeps failing, go to the dead-letter topic (`on_error`).
//!
//! Starting the instances ([`start`], [`open`]) and delivering one poll
//! ([`deliver_poll`]) know nothing of the group: `sluice replay`
//! ([`super::replay`]) runs them over a range read with a plain consumer.

use sluice_client::ConsumerRecord;
use sluice_types::{Record, TopicPartition};
use sluice_wasm_host::{GuestErrorKind, SinkInstance, StageError};
use tracing::{info, warn};

use super::dead_letter::{Failure, Origin};
use super::stage::{
    by_partition, decide, run_starts, to_record, version, Backoff, Next, Polled, StageContext,
};
use super::status::StageState;
use super::transform::{join, start_instance, Versioned};
use crate::plan::SinkPlan;

/// Records taken per poll.
pub(crate) const POLL_RECORDS: usize = 2000;

/// A sink's instances: the connector and its inline transforms, in order.
pub(crate) struct SinkStages {
    pub sink: SinkInstance,
    pub inline: Vec<Versioned>,
    /// `NAME@DIGEST12` of the connector, for dead letters.
    pub version: String,
}

pub async fn run(mut ctx: StageContext, plan: SinkPlan) {
    let mut stages = match start(&ctx, &plan).await {
        Ok(stages) => stages,
        Err(error) => return ctx.fail(error),
    };
    let stage = &plan.stage;
    let mut backoff = Backoff::default();
    if !open(&mut ctx, &mut stages.sink, &plan, &mut backoff).await {
        return;
    }

    let group_id = ctx.group_id(&stage.name);
    let Some(mut group) = join(&mut ctx, &group_id, &plan.from, plan.start, POLL_RECORDS).await
    else {
        return ctx.stopped();
    };
    ctx.status.set_state(StageState::Running);
    info!(pipeline = %ctx.pipeline, stage = %stage.id, "sink running");

    while !ctx.stopping() {
        let records = match ctx
            .poll(&mut group, &plan.from, POLL_RECORDS, &mut backoff)
            .await
        {
            Polled::Records(records) => records,
            Polled::Nothing => continue,
            Polled::Stop => break,
        };
        let starts = run_starts(&records);
        let (outcome, written) =
            deliver_poll(&mut ctx, &plan, &mut stages, &records, &mut backoff).await;
        match outcome {
            Outcome::Done => {
                ctx.status.records_out(written);
                if let Err(error) = group.commit().await {
                    ctx.status.error(format!("committing offsets: {error}"));
                }
                backoff.reset();
                ctx.status.set_state(StageState::Running);
            }
            Outcome::Redeliver => {
                // Nothing of the batch counts as delivered: read it again
                // into a fresh instance.
                group.rewind(&starts);
                if !open(&mut ctx, &mut stages.sink, &plan, &mut backoff).await {
                    break;
                }
            }
            Outcome::Stop => {
                group.rewind(&starts);
                break;
            }
        }
    }
    if let Err(error) = group.close().await {
        warn!(pipeline = %ctx.pipeline, stage = %stage.id, %error, "leaving the group");
    }
    ctx.stopped()
}

/// Loads the connector and the inline transforms, and starts the
/// transforms; the connector is not opened yet (see [`open`]).
pub(crate) async fn start(ctx: &StageContext, plan: &SinkPlan) -> Result<SinkStages, String> {
    let stage = &plan.stage;
    let component = ctx.load(stage).await?;
    let version = version(&component);
    ctx.status.set_version(&version);
    let grants = ctx.grants(stage)?;
    let mut inline = Vec::new();
    for transform in &plan.transforms {
        let component = ctx
            .load(transform)
            .await
            .map_err(|error| format!("{}: {error}", transform.id))?;
        let versioned = start_instance(ctx, transform, component)
            .await
            .map_err(|error| format!("{}: {error}", transform.id))?;
        inline.push(versioned);
    }
    let sink = SinkInstance::new(component, &stage.id, stage.limits, grants);
    Ok(SinkStages {
        sink,
        inline,
        version,
    })
}

/// Delivers one poll: each partition's run through the inline transforms
/// and into the sink (see [`deliver`]), then one `flush`. Returns what to
/// do next and how many records were written; only `Done` means the
/// poll's offsets may be committed.
pub(crate) async fn deliver_poll(
    ctx: &mut StageContext,
    plan: &SinkPlan,
    stages: &mut SinkStages,
    records: &[ConsumerRecord],
    backoff: &mut Backoff,
) -> (Outcome, usize) {
    let mut written = 0;
    let mut delivered = Vec::new();
    for run in by_partition(records) {
        match deliver(
            ctx,
            plan,
            &stages.version,
            &mut stages.inline,
            &mut stages.sink,
            run,
            &mut delivered,
        )
        .await
        {
            Ok(n) => written += n,
            Err(stop) => return (stop, written),
        }
    }
    (flush(ctx, &mut stages.sink, backoff).await, written)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    /// The batch was not delivered; read it again.
    Redeliver,
    /// The stage stops (told to, or `on_error = "stop"`).
    Stop,
}

/// Opens the sink, retrying while it fails with anything but a bad config.
pub(crate) async fn open(
    ctx: &mut StageContext,
    sink: &mut SinkInstance,
    plan: &SinkPlan,
    backoff: &mut Backoff,
) -> bool {
    loop {
        match sink.open(&plan.stage.config_json).await {
            Ok(()) => return true,
            Err(StageError::Guest {
                kind: GuestErrorKind::InvalidConfig,
                message,
                ..
            }) => {
                ctx.fail(format!("{}: invalid config: {message}", plan.stage.id));
                return false;
            }
            Err(error) => {
                ctx.status.error(error.to_string());
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    ctx.stopped();
                    return false;
                }
            }
        }
    }
}

/// Flushes, retrying; a flush that keeps failing re-delivers the batch.
async fn flush(ctx: &mut StageContext, sink: &mut SinkInstance, backoff: &mut Backoff) -> Outcome {
    for _ in 0..5 {
        match sink.flush().await {
            Ok(()) => return Outcome::Done,
            Err(error) => {
                ctx.status.error(error.to_string());
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    return Outcome::Stop;
                }
                if error.discarded_instance() {
                    // What the instance buffered is gone with it.
                    return Outcome::Redeliver;
                }
            }
        }
    }
    Outcome::Redeliver
}

/// Runs one partition's records through the inline transforms and writes
/// them. Returns how many were written.
///
/// `delivered` holds what this poll wrote before: when a failed call
/// discarded the sink's instance, its unflushed writes went with it, and
/// they are written again into the fresh one.
async fn deliver(
    ctx: &mut StageContext,
    plan: &SinkPlan,
    sink_version: &str,
    inline: &mut [Versioned],
    sink: &mut SinkInstance,
    run: &[ConsumerRecord],
    delivered: &mut Vec<(TopicPartition, Vec<Record>)>,
) -> Result<usize, Outcome> {
    let origin = TopicPartition::new(run[0].topic.clone(), run[0].partition);
    let originals: Vec<Record> = run.iter().map(to_record).collect();
    ctx.status.records_in(originals.len());
    let origin_of = |record: &Record| {
        Some(Origin {
            topic: &run[0].topic,
            partition: run[0].partition,
            offset: record.offset.0,
        })
    };

    // Inline transforms, in order. Their outputs keep no offsets of their
    // own; dead letters of a failed inline transform carry the originals.
    let mut records = originals.clone();
    for (index, versioned) in inline.iter_mut().enumerate() {
        let transform = &plan.transforms[index];
        let mut attempt = 0;
        let mut backoff = Backoff::default();
        records = loop {
            match versioned
                .instance
                .process_batch_from(Some(&origin), records.clone())
                .await
            {
                Ok(outputs) => break outputs.into_iter().map(|o| o.record).collect(),
                Err(error) => {
                    ctx.status.error(error.to_string());
                    match decide(&error, attempt, plan.stage.on_error) {
                        Next::Retry => {
                            attempt += 1;
                            if ctx.sleep(backoff.delay()).await {
                                return Err(Outcome::Stop);
                            }
                        }
                        Next::Skip => return Ok(0),
                        Next::Stop => {
                            ctx.status.set_state(StageState::Failed);
                            return Err(Outcome::Stop);
                        }
                        Next::DeadLetter => {
                            let message = ctx.status.redact(error.to_string());
                            let failure = Failure::new(&message, &transform.id, &versioned.version);
                            let letters: Vec<_> = originals
                                .iter()
                                .map(|r| (r.clone(), origin_of(r)))
                                .collect();
                            return if ctx.dead_letter(&letters, &failure).await {
                                Ok(0)
                            } else {
                                Err(Outcome::Stop)
                            };
                        }
                    }
                }
            }
        };
    }
    if records.is_empty() {
        return Ok(0);
    }

    let mut attempt = 0;
    let mut backoff = Backoff::default();
    loop {
        match sink.write(Some(&origin), records.clone()).await {
            Ok(rejected) => {
                delivered.push((origin.clone(), records.clone()));
                if rejected.is_empty() {
                    return Ok(records.len());
                }
                let mut written = records.len();
                for refused in rejected {
                    let Some(record) = records.get(refused.index) else {
                        continue;
                    };
                    written -= 1;
                    let reason = ctx.status.redact(refused.reason);
                    let failure = Failure::new(&reason, &plan.stage.id, sink_version);
                    if !ctx
                        .dead_letter(&[(record.clone(), origin_of(record))], &failure)
                        .await
                    {
                        return Err(Outcome::Stop);
                    }
                }
                return Ok(written);
            }
            Err(error) => {
                ctx.status.error(error.to_string());
                match decide(&error, attempt, plan.stage.on_error) {
                    Next::Retry => {
                        attempt += 1;
                        if ctx.sleep(backoff.delay()).await {
                            return Err(Outcome::Stop);
                        }
                        if error.discarded_instance() {
                            rewrite(sink, delivered).await?;
                        }
                    }
                    Next::Skip => return Ok(0),
                    Next::Stop => {
                        ctx.status.set_state(StageState::Failed);
                        return Err(Outcome::Stop);
                    }
                    Next::DeadLetter => {
                        let message = ctx.status.redact(error.to_string());
                        let failure = Failure::new(&message, &plan.stage.id, sink_version);
                        let letters: Vec<_> =
                            records.iter().map(|r| (r.clone(), origin_of(r))).collect();
                        if !ctx.dead_letter(&letters, &failure).await {
                            return Err(Outcome::Stop);
                        }
                        if error.discarded_instance() {
                            rewrite(sink, delivered).await?;
                        }
                        return Ok(0);
                    }
                }
            }
        }
    }
}

/// Writes this poll's earlier runs again into a fresh instance (their
/// rejected records were dead-lettered the first time). If that fails too,
/// the whole poll is read again.
async fn rewrite(
    sink: &mut SinkInstance,
    delivered: &[(TopicPartition, Vec<Record>)],
) -> Result<(), Outcome> {
    for (origin, records) in delivered {
        if sink.write(Some(origin), records.clone()).await.is_err() {
            return Err(Outcome::Redeliver);
        }
    }
    Ok(())
}
