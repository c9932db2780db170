//! The `/v1` model-traffic handlers: authenticate → admit → route → forward → relay → settle.

mod admission;
mod attempts;
mod auth;
mod call;
mod detach;
mod models;
mod passthrough;
pub mod rate_headers;
mod relay;
pub mod request_id;
mod upstream;
mod verdict;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub use passthrough::Endpoint;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/chat/completions", post(passthrough::chat))
        .route("/v1/embeddings", post(passthrough::embeddings))
        .route("/v1/models", get(models::list))
}

pub use auth::{Caller, authenticate, presented_key};
