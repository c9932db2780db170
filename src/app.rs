//! The HTTP application: every route and the layer order, in one place.
//!
//! Layers, outermost first: request id (every response carries `x-request-id`) → routes.
//! Model traffic (`/v1`) authenticates with Tollgate keys inside its handlers so errors come
//! out in the caller's dialect; the management API (`/api/v1`) sits behind the admin check;
//! health endpoints are open; `/metrics` needs the master key unless configured public.
//! Unknown paths (404) and wrong methods (405) answer in the caller's dialect
//! ([`Dialect::of_request`]), so an Anthropic SDK can read the error too.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::error::{ApiError, Dialect};
use crate::gateway::request_id;
use crate::state::AppState;

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(crate::gateway::routes())
        .merge(crate::admin::routes(state.clone()))
        .merge(crate::console::routes(state.clone()))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::render::handler))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::layer))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "database": state.db.engine()}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "database": state.db.engine()})))
        }
    }
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
