//! A source stage: polls its connector, appends each batch to the topic,
//! and only once the log acknowledged the batch saves the checkpoint that
//! follows it and tells the connector to `commit`.
//!
//! A crash between the append and the checkpoint re-reads that batch on
//! restart (at-least-once); a checkpoint never runs ahead of the log.
//!
//! On the embedded broker the checkpoint is a file of this worker. Workers
//! sharing an external cluster hold a lease per source instead (see
//! [`super::kafka::KafkaLease`]): one of them runs it, the others stand by,
//! and the checkpoint lives in the cluster, so whoever takes over resumes
//! where the last holder saved.

use std::time::Duration;

use sluice_types::Timestamp;
use sluice_wasm_host::{GuestErrorKind, SourceInstance, StageError};
use tracing::{info, warn};

use super::backbone::Outgoing;
use super::checkpoint::{CheckpointFile, Checkpoints};
use super::stage::{decide, version, Backoff, Next, StageContext};
use super::status::StageState;
use crate::plan::SourcePlan;

/// Records asked for per poll.
const POLL_RECORDS: u32 = 1000;
/// Wait after an empty poll.
const IDLE: Duration = Duration::from_millis(100);

pub async fn run(mut ctx: StageContext, plan: SourcePlan) {
    let stage = &plan.stage;
    let component = match ctx.load(stage).await {
        Ok(component) => component,
        Err(error) => return ctx.fail(error),
    };
    ctx.status.set_version(&version(&component));
    let grants = match ctx.grants(stage) {
        Ok(grants) => grants,
        Err(error) => return ctx.fail(error),
    };
    let mut checkpoints = match ctx.backbone.lease(&ctx.group_id(&stage.name)) {
        None => Checkpoints::Local(CheckpointFile::new(
            &ctx.state_dir,
            &ctx.pipeline,
            &stage.name,
        )),
        Some(Ok(lease)) => Checkpoints::Leased(lease),
        Some(Err(error)) => return ctx.fail(format!("joining the source's lease group: {error}")),
    };
    let mut instance = SourceInstance::new(component, &stage.id, stage.limits, grants);
    // Each turn: wait for the lease (always held with one worker), open at
    // the saved checkpoint, run until stopped or the lease moves on.
    while !ctx.stopping() {
        if !checkpoints.held().await {
            ctx.status.set_state(StageState::Standby);
            if ctx.sleep(STANDBY).await {
                break;
            }
            continue;
        }
        match open(&mut ctx, &plan, &mut instance, &checkpoints).await {
            Opened::Yes => {}
            Opened::Failed => return,
            Opened::Stopped => break,
        }
        ctx.status.set_state(StageState::Running);
        info!(pipeline = %ctx.pipeline, stage = %stage.id, "source running");
        if !run_source(&mut ctx, &plan, &mut instance, &mut checkpoints).await {
            return;
        }
    }
    ctx.stopped()
}

/// Wait between checks of a lease another worker holds.
const STANDBY: Duration = Duration::from_millis(500);

enum Opened {
    Yes,
    Failed,
    Stopped,
}

/// Opens the source at its saved checkpoint, retrying while the outside
/// system is unavailable.
async fn open(
    ctx: &mut StageContext,
    plan: &SourcePlan,
    instance: &mut SourceInstance,
    checkpoints: &Checkpoints,
) -> Opened {
    let stage = &plan.stage;
    let mut backoff = Backoff::default();
    loop {
        let checkpoint = match checkpoints.load() {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                ctx.fail(error);
                return Opened::Failed;
            }
        };
        match instance.open(&stage.config_json, checkpoint).await {
            Ok(()) => return Opened::Yes,
            Err(StageError::Guest {
                kind: GuestErrorKind::InvalidConfig,
                message,
                ..
            }) => {
                ctx.fail(format!("{}: invalid config: {message}", stage.id));
                return Opened::Failed;
            }
            Err(error) => {
                ctx.status.error(error.to_string());
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    return Opened::Stopped;
                }
            }
        }
    }
}

/// Polls and appends until the stage stops (true) or fails (false); also
/// returns true, without stopping the stage, when the lease moved to
/// another worker.
async fn run_source(
    ctx: &mut StageContext,
    plan: &SourcePlan,
    instance: &mut SourceInstance,
    checkpoints: &mut Checkpoints,
) -> bool {
    let stage = &plan.stage;
    let mut attempt = 0;
    let mut backoff = Backoff::default();
    while !ctx.stopping() {
        if !checkpoints.held().await {
            info!(pipeline = %ctx.pipeline, stage = %stage.id, "lease moved to another worker; standing by");
            return true;
        }
        let batch = match instance.poll(POLL_RECORDS).await {
            Ok(batch) => {
                attempt = 0;
                batch
            }
            Err(error) => {
                let message = ctx.status.note(error.to_string());
                warn!(pipeline = %ctx.pipeline, stage = %stage.id, error = %message, "poll failed");
                attempt += 1;
                if decide(&error, attempt - 1, stage.on_error) == Next::Stop {
                    ctx.fail(error.to_string());
                    return false;
                }
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    break;
                }
                continue;
            }
        };
        if batch.records.is_empty() {
            if let Some(checkpoint) = batch.checkpoint {
                if !save(ctx, checkpoints, instance, checkpoint).await {
                    return true;
                }
            }
            if ctx.sleep(IDLE).await {
                break;
            }
            continue;
        }
        let count = batch.records.len();
        ctx.status.records_in(count);
        let now = Timestamp::now();
        let outgoing: Vec<Outgoing<'_>> = batch
            .records
            .iter()
            .map(|record| Outgoing {
                timestamp: Some(if record.timestamp.0 > 0 {
                    record.timestamp
                } else {
                    now
                }),
                ..Outgoing::record(&plan.topic, record)
            })
            .collect();
        // The batch must reach the log before anything else happens.
        loop {
            match ctx.backbone.append_all(&outgoing).await {
                Ok(()) => break,
                Err(error) => {
                    ctx.status
                        .error(format!("appending to topic {}: {error}", plan.topic));
                    ctx.status.set_state(StageState::Retrying);
                    if ctx.sleep(backoff.delay()).await {
                        // Not durable: the checkpoint stays where it was.
                        return true;
                    }
                }
            }
        }
        backoff.reset();
        ctx.status.set_state(StageState::Running);
        ctx.status.records_out(count);
        if let Some(checkpoint) = batch.checkpoint {
            if !save(ctx, checkpoints, instance, checkpoint).await {
                return true;
            }
        }
    }
    true
}

/// Saves the checkpoint durably, then tells the connector. False when the
/// source should not go on: the stage is stopping, or the lease was lost
/// (another worker resumes from the last saved checkpoint).
async fn save(
    ctx: &mut StageContext,
    checkpoints: &mut Checkpoints,
    instance: &mut SourceInstance,
    checkpoint: Vec<u8>,
) -> bool {
    let mut backoff = Backoff::default();
    while let Err(error) = checkpoints.save(&checkpoint) {
        ctx.status.error(error);
        if !checkpoints.held().await || ctx.sleep(backoff.delay()).await {
            return false;
        }
    }
    if let Err(error) = instance.commit(checkpoint).await {
        // The records are in the log and the checkpoint saved; a connector
        // whose commit failed is told again at the next one.
        ctx.status.error(error.to_string());
    }
    true
}
