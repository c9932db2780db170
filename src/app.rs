//! The HTTP application: every route and the layer order, in one place.
//!
//! Layers, outermost first: request id (every response carries `x-request-id`) → header
//! limits (`guards::header_limits`: too many or too large headers are a 431) → client
//! address (`guards::client_addr`: the peer, or the client a trusted proxy names) → routes.
//! The routes that authenticate — model traffic (`/v1`), the management API (`/api/v1`) and
//! `/metrics` — sit behind the auth throttle (`guards::auth_throttle`: an address that keeps
//! failing authentication gets 429s), then the JSON check (`guards::json_body`: a body
//! under a content type that is not JSON is a 415 in the caller's dialect). Model traffic authenticates with Tollgate keys inside
//! its handlers so errors come out in the caller's dialect; the management API sits behind
//! the admin check; health endpoints are open; `/metrics` needs the master key unless
//! configured public.
//! Unknown paths (404) and wrong methods (405) answer in the caller's dialect
//! ([`Dialect::of_request`]), so an Anthropic SDK can read the error too.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::{ApiError, ErrorKind};
use crate::gateway::request_id;
use crate::guards;
use crate::protocol::Dialect;
use crate::state::AppState;

pub fn app(state: Arc<AppState>) -> Router {
    let authenticated = Router::new()
        .merge(crate::gateway::routes())
        .merge(crate::admin::routes(state.clone()))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn(guards::json_body::layer))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guards::auth_throttle::layer));
    Router::new()
        .merge(authenticated)
        // The console throttles its own sign-in failures (per account and per address).
        .merge(crate::console::routes(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guards::client_addr::layer))
        .layer(axum::middleware::from_fn(guards::header_limits::layer))
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let journal = state.usage.accepting();
    match state.db.ping().await {
        Ok(()) if journal => (StatusCode::OK, Json(json!({"status": "ready", "database": state.db.engine()}))),
        Ok(()) => {
            let body = json!({"status": "unavailable", "database": state.db.engine(), "journal": "unwritable"});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": state.db.engine()})))
        }
    }
}

/// `GET /metrics`: the Prometheus text format, master key only unless configured public.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.config.metrics_public && !crate::gateway::presented_key(&headers).is_some_and(|k| state.is_admin_key(k)) {
        return ApiError::new(
            ErrorKind::Authentication,
            "metrics need the master key as `Authorization: Bearer` (or TOLLGATE_METRICS_PUBLIC=true)",
        )
        .with_code("invalid_api_key")
        .into_response();
    }
    let snap = state.snapshot.load_full();
    let text = crate::metrics::render::render(
        &state.metrics,
        crate::metrics::render::UsageFigures { rejected: state.usage.rejected(), backlog: state.usage.backlog() },
        &snap,
        &state.routing.health,
    );
    let mut resp = text.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::render::CONTENT_TYPE));
    resp
}

async fn not_found(uri: Uri, headers: HeaderMap) -> Response {
    if crate::console::wants_html(&headers) && !uri.path().starts_with("/v1/") && !uri.path().starts_with("/api/") {
        return crate::console::not_found_page(&headers);
    }
    let dialect = Dialect::of_request(uri.path(), &headers);
    ApiError::not_found("no such endpoint").with_code("unknown_endpoint").into_response_in(dialect)
}

/// axum adds the `Allow` header to what this answers.
async fn method_not_allowed(uri: Uri, headers: HeaderMap) -> Response {
    let dialect = Dialect::of_request(uri.path(), &headers);
    ApiError::invalid("this endpoint does not take that method")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
        .with_code("method_not_allowed")
        .into_response_in(dialect)
}
