//! `POST /v1/responses`, the OpenAI Responses API (Codex's wire): the body is read and
//! checked here, the rest is the shared pipeline. To OpenAI-protocol providers (`openai`,
//! `azure-openai`) it passes through with only `model` rewritten; usage (and so the charge)
//! comes from the response's `usage`, in a stream from `response.completed`. Errors are in
//! the OpenAI shape, as the Responses API's are.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::adapter::Inbound;
use super::auth::authenticate;
use super::pipeline;
use super::request_id::RequestId;
use crate::billing::estimate;
use crate::error::ApiError;
use crate::protocol::Dialect;
use crate::protocol::openai::responses;
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
        Err(e) => pipeline::refused(&request_id, Dialect::OpenAi, e),
    }
}

async fn run(state: Arc<AppState>, request_id: &str, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = authenticate(&state, headers)?;
    let bytes = pipeline::read_body(&state, body).await?;
    let req = responses::parse_envelope(&bytes).map_err(ApiError::invalid)?;
    let inbound = Inbound::new(Dialect::OpenAi, Operation::Responses, req.body, req.model, req.stream);
    let estimate = |i: &Inbound| estimate::responses(i.body());
    pipeline::run(state.clone(), &caller, request_id, headers, inbound, "responses", estimate, started).await
}
