//! The management API under `/api/v1`: JSON in and out, master-key auth, validation errors as
//! 4xx in the OpenAI error shape. Every write reloads the in-memory snapshot before answering,
//! so the next model call sees it.

pub(crate) mod api;
pub(crate) mod calls;
pub(crate) mod calls_export;
pub(crate) mod calls_format;
pub(crate) mod catalog;
pub(crate) mod keys;
pub(crate) mod markup;
pub(crate) mod me;
pub(crate) mod model_status;
pub(crate) mod models;
pub(crate) mod providers;
pub(crate) mod public_models;
pub(crate) mod stats;
pub(crate) mod text;
pub(crate) mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{ApiError, ErrorKind};
use crate::state::AppState;

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let admin = Router::new()
        .route("/api/v1/providers", get(providers::list).post(providers::create))
        .route("/api/v1/providers/{id}", get(providers::get).patch(providers::update).delete(providers::delete))
        .route("/api/v1/providers/{id}/health", get(providers::health))
        .route("/api/v1/health", get(providers::health_all))
        .route(
            "/api/v1/providers/{id}/credentials",
            get(providers::list_credentials).post(providers::create_credential),
        )
        .route(
            "/api/v1/credentials/{id}",
            get(providers::get_credential).patch(providers::update_credential).delete(providers::delete_credential),
        )
        .route("/api/v1/credentials/{id}/test", post(providers::test_credential))
        .route("/api/v1/models", get(models::list).post(models::create))
        .route("/api/v1/models/{id}", get(models::get).patch(models::update).delete(models::delete))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", get(users::get).patch(users::update).delete(users::delete))
        .route("/api/v1/users/{id}/credits", post(users::grant))
        .route("/api/v1/users/{id}/ledger", get(users::ledger))
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route("/api/v1/keys/{id}", get(keys::get).patch(keys::update).delete(keys::revoke))
        .route("/api/v1/catalog", get(catalog::list))
        .route("/api/v1/markup", get(markup::get).put(markup::put))
        .route("/api/v1/calls", get(calls::list))
        .route("/api/v1/calls/export", get(calls_export::export))
        .route("/api/v1/calls/{id}", get(calls::get))
        .route("/api/v1/stats", get(stats::all))
        .layer(axum::middleware::from_fn_with_state(state, require_admin));
    Router::new()
        .merge(admin)
        .route("/api/v1/me", get(me::get))
        .route("/api/v1/models/public", get(public_models::list))
        .route("/api/v1/models/status", get(public_models::status))
        .route("/api/v1/me/stats", get(stats::mine))
}

/// Lets a request through with an admin key as `Authorization: Bearer`, or with the session
/// cookie of a signed-in administrator; a session's state changes (every method but GET and
/// HEAD) must carry its CSRF token in `x-csrf-token`, as the console's scripts send it.
async fn require_admin(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(k) = crate::gateway::presented_key(req.headers()) {
        if state.is_admin_key(k) {
            return next.run(req).await;
        }
        return ApiError::new(ErrorKind::Authentication, "invalid admin key")
            .with_code("invalid_api_key")
            .into_response();
    }
    let session = match crate::sessions::from_headers(&state, req.headers()).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Some(session) = session else {
        return ApiError::new(
            ErrorKind::Authentication,
            "missing admin key: send `Authorization: Bearer <master key>` or sign in to the console",
        )
        .with_code("invalid_api_key")
        .into_response();
    };
    if !session.is_admin() {
        return ApiError::new(ErrorKind::PermissionDenied, "this needs an administrator")
            .with_code("admin_required")
            .into_response();
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    let presented = req.headers().get(crate::sessions::CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !safe && !session.csrf_ok(presented) {
        return ApiError::new(ErrorKind::PermissionDenied, "missing or wrong CSRF token (`x-csrf-token`)")
            .with_code("csrf_failed")
            .into_response();
    }
    next.run(req).await
}
