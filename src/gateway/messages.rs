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
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::adapter::Inbound;
use super::attempts::{self, Answer};
use super::auth::authenticate;
use super::pipeline;
use super::request_id::RequestId;
use super::upstream;
use crate::billing::estimate;
use crate::error::ApiError;
use crate::protocol::Dialect;
use crate::protocol::anthropic;
use crate::providers::Outbound;
use crate::providers::operation::Operation;
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
    match count(state, &request_id, &headers, body).await {
        Ok(resp) => resp,
        Err(e) => pipeline::refused(&request_id, Dialect::Anthropic, e),
    }
}

/// Counts the prompt's tokens. A model whose first target is an Anthropic provider asks it
/// (`/v1/messages/count_tokens`, the body passed through with `model` rewritten, one
/// attempt with its first enabled credential); any other answers the gateway's own count
/// (`billing::estimate`, what admission reserves on — OpenAI-protocol providers have no
/// counting endpoint). Either way it is free and unrecorded, like Anthropic's own endpoint;
/// calls are always charged on the usage the provider reports. The body is checked as a
/// Messages request, and the key must be allowed the model.
async fn count(state: Arc<AppState>, request_id: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let caller = authenticate(&state, headers)?;
    let bytes = pipeline::read_body(&state, body).await?;
    let ir = anthropic::parse_count_tokens_request(&bytes).map_err(ApiError::invalid)?;
    let body = match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return Err(ApiError::invalid("the request body must be a JSON object")),
    };
    let mut inbound = Inbound::new(Dialect::Anthropic, Operation::CountTokens, body, ir.model, false);
    let plan = pipeline::plan(&caller, &mut inbound)?;
    let route = plan.primary();
    let credential = route.provider.credentials.iter().find(|c| c.enabled && c.weight > 0);
    let Some(credential) = credential.filter(|_| inbound.passes_through(route.provider.kind.protocol())) else {
        let tokens = estimate::messages(inbound.body())?.prompt_tokens;
        return Ok(Json(anthropic::count_tokens_response(tokens)).into_response());
    };
    let outbound = Outbound {
        provider: &route.provider,
        credential,
        operation: Operation::CountTokens,
        upstream_model: &route.upstream_model,
        stream: false,
        body: inbound.body_for(route),
        request_id,
        client_headers: headers,
    };
    // The attempt path's send and read: the first-byte, idle and total timeouts hold. A count
    // is a few bytes: a body longer than an error body's worth is not a count.
    let attempt_started = tokio::time::Instant::now();
    let (resp, _) = upstream::send(&state.http, outbound).await.map_err(|f| f.error)?;
    match attempts::read_answer(resp, &route.provider, attempt_started, upstream::MAX_ERROR_BODY).await {
        Answer::Whole { status, body, .. } => {
            let body = body.map_err(|f| f.error)?;
            if !anthropic::is_count_tokens_response(&body) {
                return Err(upstream::invalid_answer(&route.provider, "the count has no `input_tokens`").error);
            }
            Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Answer::Error { status, body, .. } => {
            Err(upstream::failure_from_response(&route.provider, credential, status, None, &body).error)
        }
    }
}
