//! What every management handler shares: the body and query extractors with errors in the
//! API's JSON shape, paging, and the common answers (`201`, `404`, a `409` on a unique field).

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::text;
use crate::error::{ApiError, ErrorKind};

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
