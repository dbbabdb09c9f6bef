//! The pipelines' JSON API, served on Sluice's HTTP listener:
//!
//! - `GET /api/pipelines`: every pipeline with its stages ([`PipelineReport`]).
//! - `GET /api/pipelines/{name}`: one pipeline, 404 if there is none.
//!
//! The listener starts before the engine does (the engine connects to
//! the broker behind the same listener), so the routes answer 503 until
//! the engine is [`EngineSlot::set`].

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::{Engine, PipelineReport};

/// Where the routes find the engine once it runs.
pub type EngineSlot = Arc<OnceLock<Arc<Engine>>>;

type Failure = (StatusCode, String);

pub fn router(slot: EngineSlot) -> Router {
    Router::new()
        .route("/api/pipelines", get(list))
        .route("/api/pipelines/{name}", get(one))
        .with_state(slot)
}

fn engine(slot: &EngineSlot) -> Result<&Arc<Engine>, Failure> {
    slot.get().ok_or((
        StatusCode::SERVICE_UNAVAILABLE,
        "pipelines are not running here (start with `sluice serve --pipelines DIR`)".into(),
    ))
}

async fn list(State(slot): State<EngineSlot>) -> Result<Json<Vec<PipelineReport>>, Failure> {
    Ok(Json(engine(&slot)?.reports().await))
}

async fn one(
    State(slot): State<EngineSlot>,
    Path(name): Path<String>,
) -> Result<Json<PipelineReport>, Failure> {
    engine(&slot)?
        .reports()
        .await
        .into_iter()
        .find(|report| report.name == name)
        .map(Json)
        .ok_or((StatusCode::NOT_FOUND, format!("no pipeline named {name}")))
}
