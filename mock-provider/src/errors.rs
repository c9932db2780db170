//! Error responses in each dialect's shape: OpenAI and Azure `{"error":{...}}`, Anthropic
//! `{"type":"error","error":{...}}`, Gemini's Google status object, Bedrock's `{"message"}`
//! with the `x-amzn-errortype` header.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::route::Dialect;

/// The message of every `error_after` in-stream error.
pub(crate) const STREAM_ERROR: &str = "mock in-stream error";

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

/// An OpenAI error body; Azure puts the status in `code`.
fn openai_shape(status: u16, message: &str, code: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody { error: ErrorObject { message, kind: error_type(status), param: None, code } })
        .unwrap_or_default()
}

/// The OpenAI error body `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_body(status: u16, message: &str) -> Vec<u8> {
    openai_shape(status, message, None)
}

/// The Anthropic error type for an HTTP status.
fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    }
}

/// The Anthropic error body `{"type":"error","error":{"type","message"}}`.
pub(crate) fn anthropic_body(status: u16, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": anthropic_type(status), "message": message}}).to_string().into_bytes()
}

/// The Google RPC status name for an HTTP status.
fn google_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500.. => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

/// The Gemini error body `{"error":{"code","message","status"}}`.
pub(crate) fn gemini_body(status: u16, message: &str) -> Vec<u8> {
    json!({"error": {"code": status, "message": message, "status": google_status(status)}}).to_string().into_bytes()
}

/// The Bedrock exception name for an HTTP status (`x-amzn-errortype`, and the
/// `:exception-type` of a stream exception with a lower-case first letter).
pub(crate) fn bedrock_exception(status: u16) -> &'static str {
    match status {
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        500.. => "InternalServerException",
        _ => "ValidationException",
    }
}

/// An error response in `dialect`'s shape, plus `retry-after` if given.
pub(crate) fn error(dialect: Dialect, status: u16, message: &str, retry_after: Option<u64>) -> Response {
    let code = status.to_string();
    let body = match dialect {
        Dialect::OpenAi => openai_body(status, message),
        Dialect::Azure => openai_shape(status, message, Some(&code)),
        Dialect::Anthropic => anthropic_body(status, message),
        Dialect::Gemini => gemini_body(status, message),
        Dialect::Bedrock => return bedrock(status, bedrock_exception(status), message, retry_after),
    };
    let mut resp = json_error(status, body);
    if let Some(secs) = retry_after {
        let headers = resp.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        if dialect == Dialect::Azure {
            headers.insert(HeaderName::from_static("retry-after-ms"), HeaderValue::from(secs * 1000));
        }
    }
    resp
}

/// A Bedrock error: `{"message"}` and the exception name in `x-amzn-errortype`.
pub(crate) fn bedrock(status: u16, exception: &str, message: &str, retry_after: Option<u64>) -> Response {
    let mut resp = json_error(status, json!({ "message": message }).to_string().into_bytes());
    let headers = resp.headers_mut();
    let kind = format!("{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/");
    if let Ok(value) = HeaderValue::from_str(&kind) {
        headers.insert(HeaderName::from_static("x-amzn-errortype"), value);
    }
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn json_error(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// What pads an `error_bytes` message: text a provider might echo, which must never reach a
/// gateway's client.
pub const ERROR_PADDING: &str = "provider-echo ";

/// The scripted error for a `status` option: message `mock error <status>`, padded with
/// [`ERROR_PADDING`] to `error_bytes` when that is set.
pub(crate) fn scripted_error(
    dialect: Dialect,
    status: u16,
    retry_after: Option<u64>,
    error_bytes: Option<u64>,
) -> Response {
    let mut message = format!("mock error {status}");
    if let Some(n) = error_bytes {
        let n = n as usize;
        while message.len() < n {
            message.push_str(ERROR_PADDING);
        }
        message.truncate(n.max(1));
    }
    error(dialect, status, &message, retry_after)
}

/// A 400 in `dialect`'s shape.
pub(crate) fn bad_request(dialect: Dialect, message: &str) -> Response {
    error(dialect, 400, message, None)
}
