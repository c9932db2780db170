//! `ApiError`: every error a client or operator can see, rendered in the caller's dialect.
//! Internal details are logged once where they happen and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::billing::estimate::InvalidValue;
use crate::protocol::{Dialect, InvalidField};

/// What went wrong, which decides the status and the error type in each dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    Conflict,
    InsufficientCredits,
    PayloadTooLarge,
    RateLimited,
    /// The upstream failed and routing gave up (502).
    Upstream,
    /// No upstream could take the call (503).
    Unavailable,
    /// The upstream did not answer in time (504).
    Timeout,
    Internal,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, if any.
    pub param: Option<&'static str>,
    /// A stable machine-readable code (`model_not_found`, `insufficient_credits`, ...).
    pub code: Option<&'static str>,
    /// Seconds for a `retry-after` header.
    pub retry_after: Option<u64>,
    /// Overrides the kind's status (an upstream 400 relayed as 400, say).
    pub status: Option<StatusCode>,
    /// Extra response headers (the `x-ratelimit-*` family of a 429).
    pub headers: Vec<(&'static str, HeaderValue)>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            status: None,
            headers: Vec::new(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorKind::Internal, "internal error; see the gateway log for this request id")
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }
    pub fn with_header(mut self, name: &'static str, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> StatusCode {
        if let Some(s) = self.status {
            return s;
        }
        match self.kind {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error.type` OpenAI clients expect.
    pub fn openai_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::Conflict | ErrorKind::PayloadTooLarge => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::InsufficientCredits => "insufficient_quota",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Upstream | ErrorKind::Unavailable | ErrorKind::Timeout => "upstream_error",
            ErrorKind::Internal => "server_error",
        }
    }

    /// The `error.type` Anthropic clients expect.
    pub fn anthropic_type(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest | ErrorKind::Conflict => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::InsufficientCredits => "billing_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Unavailable => "overloaded_error",
            ErrorKind::Upstream | ErrorKind::Timeout | ErrorKind::Internal => "api_error",
        }
    }

    /// The JSON body in `dialect`.
    pub fn body(&self, dialect: Dialect) -> serde_json::Value {
        match dialect {
            Dialect::OpenAi => json!({"error": {
                "message": self.message,
                "type": self.openai_type(),
                "param": self.param,
                "code": self.code,
            }}),
            Dialect::Anthropic => json!({"type": "error", "error": {
                "type": self.anthropic_type(),
                "message": self.message,
            }}),
        }
    }

    pub fn into_response_in(self, dialect: Dialect) -> Response {
        let mut resp = (self.status(), axum::Json(self.body(dialect))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

/// Errors outside model traffic (the management API) use the OpenAI shape.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_in(Dialect::OpenAi)
    }
}

impl From<InvalidField> for ApiError {
    fn from(e: InvalidField) -> Self {
        let mut error = ApiError::invalid(e.message);
        error.param = e.param;
        error.code = e.code;
        error
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        let mut error = ApiError::invalid(e.message).with_code("invalid_value");
        error.param = e.param;
        error
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::store::is_unique_violation(&e) {
            return ApiError::new(ErrorKind::Conflict, "a record with the same unique name or key already exists")
                .with_code("conflict");
        }
        if crate::store::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unreachable");
            let mut err = ApiError::new(ErrorKind::Unavailable, "the database is unreachable; try again shortly")
                .with_code("database_unavailable");
            err.retry_after = Some(5);
            return err;
        }
        tracing::error!(error = %e, "database error");
        ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_dialects() {
        let e = ApiError::not_found("model `x` does not exist").with_code("model_not_found").with_param("model");
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let o = e.body(Dialect::OpenAi);
        assert_eq!(o["error"]["type"], "invalid_request_error");
        assert_eq!(o["error"]["code"], "model_not_found");
        assert_eq!(o["error"]["param"], "model");
        let a = e.body(Dialect::Anthropic);
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "not_found_error");
        let credits = ApiError::new(ErrorKind::InsufficientCredits, "no credits");
        assert_eq!(credits.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(credits.body(Dialect::Anthropic)["error"]["type"], "billing_error");
    }
}
