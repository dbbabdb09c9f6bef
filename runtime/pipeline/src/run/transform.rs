//! A transform stage: topic → topic through a plugin, as a member of the
//! consumer group `<pipeline>.<transform>`.
//!
//! Each polled run of one partition goes through the plugin in one call;
//! its outputs are appended (each with the header
//! `sluice.transform.version: NAME@DIGEST12`) and only after the log
//! acknowledged them are the input offsets committed. A new version of the
//! plugin arrives on a channel and is swapped in between batches, so every
//! record is processed by exactly one version.

use std::sync::Arc;

use bytes::Bytes;
use sluice_client::ConsumerRecord;
use sluice_types::{Record, RecordHeader, TopicPartition};
use sluice_wasm_host::{GuestComponent, TransformInstance};
use tokio::sync::watch;
use tracing::{info, warn};

use super::backbone::{GroupReader, Outgoing};
use super::dead_letter::{Failure, Origin};
use super::stage::{
    by_partition, decide, run_starts, to_record, version, Backoff, Next, Polled, StageContext,
};
use super::status::StageState;
use crate::plan::{StagePlan, Start, TransformPlan};

/// Records taken per poll.
pub const POLL_RECORDS: usize = 1000;
/// The header naming the plugin version that produced a record.
pub const VERSION_HEADER: &str = "sluice.transform.version";

/// A plugin instance with the version it runs.
pub struct Versioned {
    pub instance: TransformInstance,
    pub version: String,
}

/// Creates and initialises an instance of `component` for `plan`.
pub async fn start_instance(
    ctx: &StageContext,
    plan: &StagePlan,
    component: Arc<GuestComponent>,
) -> Result<Versioned, String> {
    let version = version(&component);
    let grants = ctx.grants(plan)?;
    let mut instance = TransformInstance::new(component, &plan.id, plan.limits, grants);
    instance
        .init(&plan.config_json)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Versioned { instance, version })
}

pub async fn run(
    mut ctx: StageContext,
    plan: TransformPlan,
    mut swaps: watch::Receiver<Option<Arc<GuestComponent>>>,
) {
    let stage = &plan.stage;
    let component = match ctx.load(stage).await {
        Ok(component) => component,
        Err(error) => return ctx.fail(error),
    };
    let mut current = match start_instance(&ctx, stage, component).await {
        Ok(versioned) => versioned,
        Err(error) => return ctx.fail(error),
    };
    ctx.status.set_version(&current.version);
    swaps.mark_unchanged();
    let group_id = ctx.group_id(&stage.name);
    let Some(mut group) = join(
        &mut ctx,
        &group_id,
        &plan.from,
        Start::Earliest,
        POLL_RECORDS,
    )
    .await
    else {
        return ctx.stopped();
    };
    ctx.status.set_state(StageState::Running);
    info!(pipeline = %ctx.pipeline, stage = %stage.id, version = %current.version, "transform running");

    let mut backoff = Backoff::default();
    while !ctx.stopping() {
        // A batch boundary: the place to swap versions.
        if swaps.has_changed().unwrap_or(false) {
            let next = swaps.borrow_and_update().clone();
            if let Some(component) = next {
                match start_instance(&ctx, stage, component).await {
                    Ok(versioned) => {
                        info!(pipeline = %ctx.pipeline, stage = %stage.id, from = %current.version, to = %versioned.version, "transform swapped");
                        current = versioned;
                        ctx.status.set_version(&current.version);
                    }
                    Err(error) => {
                        let error = ctx
                            .status
                            .note(format!("new version refused, old one kept: {error}"));
                        warn!(pipeline = %ctx.pipeline, stage = %stage.id, %error, "the old version keeps running");
                    }
                }
            }
        }
        let records = match ctx
            .poll(&mut group, &plan.from, POLL_RECORDS, &mut backoff)
            .await
        {
            Polled::Records(records) => records,
            Polled::Nothing => continue,
            Polled::Stop => break,
        };
        let starts = run_starts(&records);
        let mut done = true;
        for run in by_partition(&records) {
            if !process_run(&mut ctx, &plan, &mut current, run).await {
                done = false;
                break;
            }
        }
        if !done {
            group.rewind(&starts);
            if ctx.status.state() == StageState::Failed {
                let _ = group.close().await;
                return;
            }
            break;
        }
        match group.commit().await {
            Ok(_) => {}
            Err(error) => ctx.status.error(format!("committing offsets: {error}")),
        }
        backoff.reset();
    }
    if let Err(error) = group.close().await {
        warn!(pipeline = %ctx.pipeline, stage = %stage.id, %error, "leaving the group");
    }
    ctx.stopped()
}

/// Runs one partition's records through the plugin and appends the
/// outputs. False when the stage must stop (told to, or `on_error =
/// "stop"`); the caller then re-reads the batch on the next start.
async fn process_run(
    ctx: &mut StageContext,
    plan: &TransformPlan,
    current: &mut Versioned,
    run: &[ConsumerRecord],
) -> bool {
    let stage = &plan.stage;
    let origin = TopicPartition::new(run[0].topic.clone(), run[0].partition);
    let records: Vec<Record> = run.iter().map(to_record).collect();
    ctx.status.records_in(records.len());
    let mut attempt = 0;
    let mut backoff = Backoff::default();
    let outputs = loop {
        match current
            .instance
            .process_batch_from(Some(&origin), records.clone())
            .await
        {
            Ok(outputs) => break outputs,
            Err(error) => {
                ctx.status.error(error.to_string());
                match decide(&error, attempt, stage.on_error) {
                    Next::Retry => {
                        attempt += 1;
                        if ctx.sleep(backoff.delay()).await {
                            return false;
                        }
                    }
                    Next::Skip => return true,
                    Next::Stop => {
                        ctx.status.set_state(StageState::Failed);
                        return false;
                    }
                    Next::DeadLetter => {
                        let message = ctx.status.redact(error.to_string());
                        let failure = Failure::new(&message, &stage.id, &current.version);
                        let letters: Vec<(Record, Option<Origin<'_>>)> = records
                            .iter()
                            .map(|r| {
                                (
                                    r.clone(),
                                    Some(Origin {
                                        topic: &origin.topic,
                                        partition: origin.partition.0,
                                        offset: r.offset.0,
                                    }),
                                )
                            })
                            .collect();
                        return ctx.dead_letter(&letters, &failure).await;
                    }
                }
            }
        }
    };
    let version_header = RecordHeader {
        key: Bytes::from_static(VERSION_HEADER.as_bytes()),
        value: Some(Bytes::from(current.version.clone())),
    };
    let mut routed: Vec<(String, Record)> = Vec::with_capacity(outputs.len());
    let mut unknown = Vec::new();
    for output in outputs {
        let topic = match &output.target {
            None => plan.to.clone(),
            Some(name) => match plan.outputs.get(name) {
                Some(topic) => topic.clone(),
                None => {
                    unknown.push((output.record, name.clone()));
                    continue;
                }
            },
        };
        let mut record = output.record;
        record.headers.push(version_header.clone());
        routed.push((topic, record));
    }
    let outgoing: Vec<Outgoing<'_>> = routed
        .iter()
        .map(|(topic, record)| Outgoing::record(topic, record))
        .collect();
    loop {
        match ctx.backbone.append_all(&outgoing).await {
            Ok(()) => break,
            Err(error) => {
                ctx.status.error(format!("appending outputs: {error}"));
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    return false;
                }
            }
        }
    }
    ctx.status.set_state(StageState::Running);
    ctx.status.records_out(outgoing.len());
    for (record, name) in unknown {
        let message = format!(
            "the plugin routed a record to output `{name}`, which the stage does not declare \
             (add `outputs = {{ {name} = \"TOPIC\" }}`)"
        );
        let failure = Failure::new(&message, &stage.id, &current.version);
        if !ctx.dead_letter(&[(record, None)], &failure).await {
            return false;
        }
    }
    true
}

/// Joins the stage's group, retrying until it works or the stage stops.
pub async fn join(
    ctx: &mut StageContext,
    group_id: &str,
    topic: &str,
    start: Start,
    poll_records: usize,
) -> Option<GroupReader> {
    let mut backoff = Backoff::default();
    loop {
        match ctx
            .backbone
            .join(group_id, topic, start, poll_records)
            .await
        {
            Ok(group) => return Some(group),
            Err(error) => {
                ctx.status
                    .error(format!("joining group {group_id}: {error}"));
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    return None;
                }
            }
        }
    }
}
