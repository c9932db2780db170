//! `GET /v1/responses/{id}` and `GET /v1/responses/{id}/input_items`: a response an OpenAI or
//! Azure OpenAI provider stored for one of the caller's own calls, read from that provider
//! with the credential that made it (`routing::response_origins`), relayed as the provider sent it.
//! Not a model call: nothing is charged or recorded. An id the gateway did not see stored for
//! this user — another user's, one answered by a converted route (Tollgate stores no
//! conversations: the id of a converted answer is its own), one from before a restart — is a
//! 404 saying so, as is one the provider no longer has.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::auth::authenticate;
use super::pipeline;
use super::request_id::RequestId;
use super::upstream;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::Dialect;
use crate::providers;
use crate::state::AppState;

pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(&state, &request_id, &headers, Read { id: &id, input_items: false, query: query.as_deref() }).await
}

pub async fn input_items(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    answer(&state, &request_id, &headers, Read { id: &id, input_items: true, query: query.as_deref() }).await
}

struct Read<'a> {
    id: &'a str,
    input_items: bool,
    /// The client's paging parameters (`limit`, `order`, `after`, `include[]`), passed on.
    query: Option<&'a str>,
}

/// Both reads answer alike: the provider's answer, or the refusal in the OpenAI dialect.
async fn answer(state: &AppState, request_id: &str, headers: &HeaderMap, read: Read<'_>) -> Response {
    forward(state, request_id, headers, read)
        .await
        .unwrap_or_else(|e| pipeline::refused(request_id, Dialect::OpenAi, e))
}

fn not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(100).collect();
    ApiError::new(
        ErrorKind::NotFound,
        format!(
            "no stored response `{shown}`: Tollgate reads back only responses an OpenAI or Azure OpenAI \
             provider stored for this user's own calls (a response converted for another provider is not stored)"
        ),
    )
    .with_code("response_not_found")
}

async fn forward(
    state: &AppState,
    request_id: &str,
    headers: &HeaderMap,
    read: Read<'_>,
) -> Result<Response, ApiError> {
    let caller = authenticate(state, headers)?;
    let origin = state.response_origins.find(read.id, &caller.user.id).ok_or_else(|| not_found(read.id))?;
    let provider = caller.snapshot.providers.get(&origin.provider_id).ok_or_else(|| not_found(read.id))?;
    let credential =
        provider.credentials.iter().find(|c| c.id == origin.credential_id).ok_or_else(|| not_found(read.id))?;
    let (url, up_headers) =
        providers::stored_response_request(provider, credential, read.id, read.input_items, read.query, request_id)
            .map_err(|_| not_found(read.id))?;
    let attempt_started = tokio::time::Instant::now();
    let (resp, _) = upstream::send_request(&state.http, provider, Method::GET, &url, up_headers, Bytes::new())
        .await
        .map_err(|f| f.error)?;
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let retry_after = upstream::retry_after_secs(resp.headers());
    let body = super::attempts::read_whole(resp.into_body(), provider, attempt_started).await.map_err(|f| f.error)?;
    if status.is_success() {
        let content_type = content_type.unwrap_or(HeaderValue::from_static("application/json"));
        return Ok((status, [(header::CONTENT_TYPE, content_type)], body).into_response());
    }
    if status.as_u16() == 404 {
        return Err(not_found(read.id));
    }
    let f = upstream::failure_from_response(provider, credential, status, retry_after, &body);
    tracing::warn!(request_id, class = f.class.as_str(), "reading a stored response failed: {}", f.detail);
    Err(f.error)
}
