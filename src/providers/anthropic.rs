//! Anthropic upstreams: `{base_url}/v1/messages` with the key in `x-api-key` and an
//! `anthropic-version` (the client's when it sent one, else the one version there is). The
//! base URL is the API root, as in Anthropic's SDKs (`https://api.anthropic.com`).

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::operation::Operation;

/// The API version sent when the client named none.
pub const VERSION: &str = "2023-06-01";

/// Client headers forwarded upstream: the beta features a client (Claude Code, say) turns on.
pub const FORWARDED_CLIENT_HEADERS: &[&str] = &["anthropic-beta"];

/// The endpoint path of an operation; Anthropic has no embeddings.
pub fn path(op: Operation) -> Result<&'static str, String> {
    match op {
        Operation::Chat => Ok("/v1/messages"),
        Operation::CountTokens => Ok("/v1/messages/count_tokens"),
        Operation::Embeddings => Err("Anthropic providers have no embeddings endpoint".into()),
        Operation::Responses => Err("Anthropic providers have no Responses endpoint".into()),
        Operation::Images => Err("Anthropic providers have no image generation endpoint".into()),
    }
}

pub fn url(base_url: &str, path: &str) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), path)
}

/// Headers for one upstream request: the provider's key, the API version, and identity
/// encoding so the gateway can read usage from the bytes it relays.
pub fn headers(api_key: &str, version: Option<&HeaderValue>, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(6);
    let mut key = HeaderValue::from_str(api_key).unwrap_or_else(|_| HeaderValue::from_static("invalid-key-characters"));
    key.set_sensitive(true);
    h.insert(HeaderName::from_static("x-api-key"), key);
    let version = version.cloned().unwrap_or(HeaderValue::from_static(VERSION));
    h.insert(HeaderName::from_static("anthropic-version"), version);
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_messages_and_marks_the_key_sensitive() {
        assert_eq!(
            url("https://api.anthropic.com/", path(Operation::Chat).unwrap()),
            "https://api.anthropic.com/v1/messages"
        );
        assert!(path(Operation::Embeddings).is_err());
        let h = headers("sk-ant-1", None, "req-1");
        assert!(h["x-api-key"].is_sensitive());
        assert_eq!(h["anthropic-version"], VERSION);
        assert!(h.get("authorization").is_none());
        let h = headers("k", Some(&HeaderValue::from_static("2099-01-01")), "r");
        assert_eq!(h["anthropic-version"], "2099-01-01");
    }
}
