//! The OpenAI-dialect handlers, `/v1/chat/completions`, `/v1/embeddings` and
//! `/v1/images/generations` (OpenAI and Azure OpenAI providers; charged per image, and by
//! tokens when the provider reports them, as gpt-image does): the body is read
//! and checked here, the rest is the shared pipeline. To an OpenAI-protocol provider the body
//! passes through with only `model` rewritten (and usage requested on streams); the response
//! is relayed as it arrives.

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
use crate::protocol::openai;
use crate::providers::operation::Operation;
use crate::state::AppState;

pub async fn chat(state: State<Arc<AppState>>, rid: Extension<RequestId>, headers: HeaderMap, body: Body) -> Response {
    handle(state, rid, headers, body, Operation::Chat).await
}

pub async fn embeddings(
    state: State<Arc<AppState>>,
    rid: Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, rid, headers, body, Operation::Embeddings).await
}

pub async fn images(
    state: State<Arc<AppState>>,
    rid: Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, rid, headers, body, Operation::Images).await
}

async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
    operation: Operation,
) -> Response {
    match run(state, &request_id, &headers, body, operation).await {
        Ok(resp) => resp,
        Err(e) => pipeline::refused(&request_id, Dialect::OpenAi, e),
    }
}

async fn run(
    state: Arc<AppState>,
    request_id: &str,
    headers: &HeaderMap,
    body: Body,
    operation: Operation,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = authenticate(&state, headers)?;
    let bytes = pipeline::read_body(&state, body).await?;
    let req = openai::parse_request(&bytes).map_err(ApiError::invalid)?;
    if req.stream && operation != Operation::Chat {
        return Err(ApiError::invalid("this endpoint does not stream").with_param("stream"));
    }
    let chat = operation == Operation::Chat;
    let endpoint = match operation {
        Operation::Chat => "chat",
        Operation::Images => "images",
        _ => "embeddings",
    };
    let inbound = Inbound::new(Dialect::OpenAi, operation, req.body, req.model, req.stream);
    let estimate = move |i: &Inbound| match operation {
        Operation::Images => estimate::images(i.body()),
        _ => estimate::openai(i.body(), chat),
    };
    pipeline::run(state.clone(), &caller, request_id, headers, inbound, endpoint, estimate, started).await
}
