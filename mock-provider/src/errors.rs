//! OpenAI-dialect error responses (`{"error":{"message","type","param","code"}}`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// The OpenAI error type for an HTTP status.
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        500.. => "server_error",
        _ => "invalid_request_error",
    }
}

/// An OpenAI error response with `message`, plus `retry-after` if given.
pub(crate) fn error_response(status: u16, message: &str, retry_after: Option<u64>) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorObject { message, kind: error_type(status), param: None, code: None },
    })
    .unwrap_or_default();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The scripted error for a `status` option: message `mock error <status>`.
pub(crate) fn scripted_error(status: u16, retry_after: Option<u64>) -> Response {
    error_response(status, &format!("mock error {status}"), retry_after)
}

/// A 400 `invalid_request_error`.
pub(crate) fn bad_request(message: &str) -> Response {
    error_response(400, message, None)
}
