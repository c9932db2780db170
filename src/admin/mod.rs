//! The management API under `/api/v1`: JSON in and out, master-key auth, validation errors as
//! 4xx in the OpenAI error shape. Every write reloads the in-memory snapshot before answering,
//! so the next model call sees it.

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

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;

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

/// The largest management request body. The biggest real one (a model with many targets) is
/// kilobytes; this is axum's default, kept so that oversized fields are still told apart (a
/// 1 MB `base_url` is a 400 on `base_url`).
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A management request's body, up to [`MAX_BODY_BYTES`]: a larger one is a 413 in the API's
/// JSON shape (axum's own `Bytes` rejection is plain text).
pub(crate) struct ApiBody(pub bytes::Bytes);

impl<St: Send + Sync> axum::extract::FromRequest<St> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &St) -> Result<Self, ApiError> {
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map(ApiBody).map_err(|_| {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the request body is larger than the {MAX_BODY_BYTES}-byte limit"),
            )
            .with_code("request_too_large")
        })
    }
}

/// Parses a JSON body with a clear 400 on failure (axum's own rejection is plain text).
pub(crate) fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

/// `?limit=&cursor=` of list endpoints.
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The page size asked for, 50 by default, at most 500.
pub(crate) fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(50).clamp(1, 500)
}

impl PageQuery {
    pub fn limit(&self) -> i64 {
        page_limit(self.limit)
    }
}

/// A query string parsed with errors in the API's JSON shape (axum's own are plain text).
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, St: Send + Sync> axum::extract::FromRequestParts<St> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &St) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q).map(ApiQuery).map_err(|e| ApiError::invalid(format!("invalid query string: {e}")))
    }
}

/// `{"data": [...], "next_cursor": ...}` where the cursor is the last item's id if the page is full.
pub(crate) fn page<T>(
    items: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> String,
    show: impl Fn(&T) -> serde_json::Value,
) -> Response {
    let next = (items.len() as i64 == limit).then(|| items.last().map(&id)).flatten();
    Json(serde_json::json!({
        "data": items.iter().map(show).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
    .into_response()
}

pub(crate) fn created(v: serde_json::Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub(crate) fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("{what} `{id}` does not exist")).with_code("not_found")
}

/// A write's database error, a clash on a unique column answered as a 409 on `field` (so the
/// console shows it next to that field) with `message`.
pub(crate) fn clash(e: sqlx::Error, field: &'static str, message: impl Into<String>) -> ApiError {
    if crate::store::is_unique_violation(&e) {
        ApiError::new(ErrorKind::Conflict, message).with_code("conflict").with_param(field)
    } else {
        e.into()
    }
}

/// Strings that must not be blank, trimmed: at most `text::NAME_MAX` bytes, no control or
/// bidirectional-text characters (`text::check`).
pub(crate) fn required_name(field: &'static str, v: &str) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() || t.len() > text::NAME_MAX {
        return Err(
            ApiError::invalid(format!("`{field}` must be between 1 and {} bytes", text::NAME_MAX)).with_param(field)
        );
    }
    text::check(field, t, text::NAME_MAX)?;
    Ok(t.to_string())
}

/// Query-string timestamps: RFC 3339 or Unix seconds.
pub(crate) fn query_time(field: &'static str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_ref()
        .map(|s| crate::clock::parse_timestamp(&serde_json::Value::String(s.clone())))
        .transpose()
        .map_err(|e| ApiError::invalid(format!("`{field}`: {e}")).with_param(field))
}
