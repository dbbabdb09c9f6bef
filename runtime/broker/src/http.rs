//! The HTTP listener: health now; the admin API, console and metrics
//! live here too.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::Broker;

pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(broker)
}

/// `GET /health`: 200 with the topic count while the broker serves.
async fn health(State(broker): State<Arc<Broker>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "node_id": broker.config.node_id,
        "topics": broker.store.topics().len(),
    }))
}
