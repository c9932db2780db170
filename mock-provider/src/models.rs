//! `GET /v1/models`: the OpenAI list, or the Anthropic one when the request sends
//! `anthropic-version` (the real APIs share the path).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::route::Dialect;

/// The OpenAI list.
const OPENAI: &str = concat!(
    r#"{"object":"list","data":["#,
    r#"{"id":"mock-gpt","object":"model","created":1700000000,"owned_by":"mock"},"#,
    r#"{"id":"mock-gpt-mini","object":"model","created":1700000000,"owned_by":"mock"},"#,
    r#"{"id":"mock-embedding","object":"model","created":1700000000,"owned_by":"mock"}"#,
    r#"]}"#
);

/// The Anthropic list (one page).
const ANTHROPIC: &str = concat!(
    r#"{"data":["#,
    r#"{"type":"model","id":"claude-mock","display_name":"Claude Mock","created_at":"2023-11-14T22:13:20Z"},"#,
    r#"{"type":"model","id":"claude-mock-haiku","display_name":"Claude Mock Haiku","created_at":"2023-11-14T22:13:20Z"}"#,
    r#"],"has_more":false,"first_id":"claude-mock","last_id":"claude-mock-haiku"}"#
);

/// The model list in `dialect`'s shape.
pub(crate) fn list(dialect: Dialect) -> Response {
    let body = if dialect == Dialect::Anthropic { ANTHROPIC } else { OPENAI };
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_json() {
        let openai: serde_json::Value = serde_json::from_str(OPENAI).unwrap();
        assert_eq!(openai["data"][0]["id"], "mock-gpt");
        let anthropic: serde_json::Value = serde_json::from_str(ANTHROPIC).unwrap();
        assert_eq!(anthropic["data"][1]["type"], "model");
    }
}
