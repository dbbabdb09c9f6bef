//! A source stage: polls its connector, appends each batch to the topic,
//! and only once the log acknowledged the batch saves the checkpoint that
//! follows it and tells the connector to `commit`.
//!
//! A crash between the append and the checkpoint re-reads that batch on
//! restart (at-least-once); a checkpoint never runs ahead of the log.

use std::time::Duration;

use sluice_types::Timestamp;
use sluice_wasm_host::{GuestErrorKind, SourceInstance, StageError};
use tracing::{info, warn};

use super::backbone::Outgoing;
use super::checkpoint::CheckpointFile;
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
        Err(error) => return fail(&ctx, error),
    };
    ctx.status.set_version(&version(&component));
    let grants = match ctx.grants(stage) {
        Ok(grants) => grants,
        Err(error) => return fail(&ctx, error),
    };
    let checkpoints = CheckpointFile::new(&ctx.state_dir, &ctx.pipeline, &stage.name);
    let mut instance = SourceInstance::new(component, &stage.id, stage.limits, grants);

    // Open, retrying while the outside system is unavailable.
    let mut backoff = Backoff::default();
    loop {
        let checkpoint = match checkpoints.load() {
            Ok(checkpoint) => checkpoint,
            Err(error) => {
                return fail(
                    &ctx,
                    format!("reading {}: {error}", checkpoints.path().display()),
                )
            }
        };
        match instance.open(&stage.config_json, checkpoint).await {
            Ok(()) => break,
            Err(StageError::Guest {
                kind: GuestErrorKind::InvalidConfig,
                message,
                ..
            }) => return fail(&ctx, format!("{}: invalid config: {message}", stage.id)),
            Err(error) => {
                ctx.status.error(error.to_string());
                ctx.status.set_state(StageState::Retrying);
                if ctx.sleep(backoff.delay()).await {
                    return stopped(&ctx);
                }
            }
        }
    }
    ctx.status.set_state(StageState::Running);
    info!(pipeline = %ctx.pipeline, stage = %stage.id, "source running");

    let mut attempt = 0;
    backoff.reset();
    while !ctx.stopping() {
        let batch = match instance.poll(POLL_RECORDS).await {
            Ok(batch) => {
                attempt = 0;
                batch
            }
            Err(error) => {
                ctx.status.error(error.to_string());
                warn!(pipeline = %ctx.pipeline, stage = %stage.id, %error, "poll failed");
                attempt += 1;
                if decide(&error, attempt - 1, stage.on_error) == Next::Stop {
                    return fail(&ctx, error.to_string());
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
                if !save(&mut ctx, &checkpoints, &mut instance, checkpoint).await {
                    break;
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
                        return stopped(&ctx);
                    }
                }
            }
        }
        backoff.reset();
        ctx.status.set_state(StageState::Running);
        ctx.status.records_out(count);
        if let Some(checkpoint) = batch.checkpoint {
            if !save(&mut ctx, &checkpoints, &mut instance, checkpoint).await {
                break;
            }
        }
    }
    stopped(&ctx)
}

/// Saves the checkpoint durably, then tells the connector. False when the
/// stage should stop.
async fn save(
    ctx: &mut StageContext,
    checkpoints: &CheckpointFile,
    instance: &mut SourceInstance,
    checkpoint: Vec<u8>,
) -> bool {
    let mut backoff = Backoff::default();
    while let Err(error) = checkpoints.save(&checkpoint) {
        ctx.status.error(format!(
            "saving the checkpoint {}: {error}",
            checkpoints.path().display()
        ));
        if ctx.sleep(backoff.delay()).await {
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

fn fail(ctx: &StageContext, error: String) {
    warn!(pipeline = %ctx.pipeline, stage = %ctx.status.id, %error, "stage failed");
    ctx.status.error(error);
    ctx.status.set_state(StageState::Failed);
}

fn stopped(ctx: &StageContext) {
    if ctx.status.state() != StageState::Failed {
        ctx.status.set_state(StageState::Stopped);
    }
}
