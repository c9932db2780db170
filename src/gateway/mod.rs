//! The `/v1` model-traffic handlers: authenticate → admit → route → forward → relay → settle
//! (`pipeline.rs`), in the OpenAI (`passthrough.rs`, `responses.rs`: the Responses API) and
//! Anthropic (`messages.rs`) dialects.

mod adapter;
mod admission;
mod attempts;
mod attribution;
mod auth;
mod call;
mod classify;
mod detach;
mod final_usage;
mod images;
mod messages;
mod models;
mod passthrough;
mod pipeline;
pub mod rate_headers;
mod relay;
mod relay_anthropic;
mod relay_openai;
mod relay_responses;
pub mod request_id;
mod responses;
mod stored_responses;
pub mod upstream;
mod verdict;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/chat/completions", post(passthrough::chat))
        .route("/v1/embeddings", post(passthrough::embeddings))
        .route("/v1/images/generations", post(passthrough::images))
        .route("/v1/messages", post(messages::create))
        .route("/v1/responses", post(responses::create))
        .route("/v1/responses/{id}", get(stored_responses::retrieve))
        .route("/v1/responses/{id}/input_items", get(stored_responses::input_items))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list))
}

pub use auth::{Caller, authenticate, presented_key};
