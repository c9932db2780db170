//! JSON endpoints take JSON: a request to `/v1` or `/api/v1` that carries a body under a
//! content type other than JSON (`text/plain`, a form, `multipart/...`) is answered 415 in
//! the caller's dialect before a handler reads it, so a body is never taken for what it does
//! not claim to be. `application/json` (any parameters, such as `charset`) and the `+json`
//! types pass; so does a request without `Content-Type`, which claims nothing — the official
//! OpenAI and Anthropic SDKs, Claude Code and Codex all send `application/json`, while some
//! hand-written clients send no type at all. A request without a body (a `POST` that takes
//! none) is not checked.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::protocol::Dialect;

pub async fn layer(req: Request, next: Next) -> Response {
    if takes_body(req.method())
        && has_body(&req)
        && let Some(ct) = req.headers().get(header::CONTENT_TYPE)
        && !is_json(ct.to_str().unwrap_or(""))
    {
        let dialect = Dialect::of_request(req.uri().path(), req.headers());
        let shown: String = ct.to_str().unwrap_or("?").chars().take(64).collect();
        return ApiError::invalid(format!(
            "this endpoint takes a JSON body: send it with `Content-Type: application/json` (got `{shown}`)"
        ))
        .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        .with_code("unsupported_media_type")
        .into_response_in(dialect);
    }
    next.run(req).await
}

fn takes_body(m: &Method) -> bool {
    matches!(*m, Method::POST | Method::PUT | Method::PATCH)
}

/// Whether the request may carry a body: not one known to be empty (no `Content-Length` or a
/// zero one on HTTP/1.1, the end of the stream with the headers on HTTP/2).
fn has_body(req: &Request) -> bool {
    !axum::body::HttpBody::is_end_stream(req.body())
}

/// `application/json` or `application/<anything>+json`, with or without parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn only_json_types_are_json() {
        for ct in ["application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"] {
            assert!(is_json(ct), "{ct}");
        }
        for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "", "json"] {
            assert!(!is_json(ct), "{ct}");
        }
    }
}
