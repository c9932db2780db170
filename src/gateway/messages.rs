//! The Anthropic-dialect handlers: `POST /v1/messages` (streamed or not) and
//! `POST /v1/messages/count_tokens`. (`GET /v1/models` answers in the Anthropic shape when the
//! client sends `anthropic-version`; see `models.rs`.) Keys come from `x-api-key` or
//! `Authorization: Bearer`; `anthropic-version` and `anthropic-beta` are accepted (a missing
//! version is not an error: the gateway speaks the one version, `2023-06-01`). Every error
//! is in the Anthropic shape, with `anthropic-ratelimit-*` headers on a 429.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::adapter::Inbound;
use super::auth::authenticate;
use super::pipeline;
use super::request_id::RequestId;
use crate::billing::estimate;
use crate::error::{ApiError, Dialect};
use crate::protocol::anthropic;
use crate::providers::Operation;
use crate::state::AppState;

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(state, &request_id, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => pipeline::refused(&request_id, Dialect::Anthropic, e),
    }
}

async fn run(state: Arc<AppState>, request_id: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = authenticate(&state, headers)?;
    let bytes = pipeline::read_body(&state, body).await?;
    let req = anthropic::parse_envelope(&bytes).map_err(ApiError::invalid)?;
    let inbound = Inbound::new(Dialect::Anthropic, Operation::Chat, req.body, req.model, req.stream);
    let estimate = |i: &Inbound| estimate::messages(i.body());
    pipeline::run(state.clone(), &caller, request_id, headers, inbound, "messages", estimate, started).await
}

pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match count(state, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => pipeline::refused(&request_id, Dialect::Anthropic, e),
    }
}

/// The prompt's size as the gateway counts it for admission (`billing::estimate`): OpenAI-
/// protocol providers have no counting endpoint. It is an estimate — calls are always
/// charged on the usage the provider reports — and it is free and unrecorded, like
/// Anthropic's own endpoint. The body is checked as a Messages request, and the key must be
/// allowed the model.
async fn count(state: Arc<AppState>, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = authenticate(&state, headers)?;
    let bytes = pipeline::read_body(&state, body).await?;
    let ir = anthropic::parse_count_tokens_request(&bytes).map_err(ApiError::invalid)?;
    let body = match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(ApiError::invalid("the request body must be a JSON object")),
    };
    let mut inbound = Inbound::new(Dialect::Anthropic, Operation::Chat, body, ir.model, false);
    pipeline::plan(&caller, &mut inbound)?;
    let tokens = estimate::messages(inbound.body()).prompt_tokens;
    Ok(Json(anthropic::count_tokens_response(tokens)).into_response())
}
