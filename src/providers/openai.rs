//! OpenAI and OpenAI-compatible upstreams: `{base_url}/chat/completions` etc. with a Bearer key.

use axum::http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use super::operation::Operation;

/// The endpoint path of an operation, below the base URL.
pub fn path(op: Operation) -> Result<&'static str, String> {
    match op {
        Operation::Chat => Ok("/chat/completions"),
        Operation::Embeddings => Ok("/embeddings"),
        Operation::Responses => Ok("/responses"),
        Operation::Images => Ok("/images/generations"),
        Operation::CountTokens => Err("OpenAI-protocol providers have no token-counting endpoint".into()),
    }
}

/// The upstream URL of an OpenAI endpoint path such as `/chat/completions`.
pub fn url(base_url: &str, path: &str) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), path)
}

/// Headers for one upstream request: the provider's key, and identity encoding so the gateway
/// can read usage from the bytes it relays.
pub fn headers(api_key: &str, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(5);
    let mut auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid-key-characters"));
    auth.set_sensitive(true);
    h.insert(AUTHORIZATION, auth);
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h
}

/// Client headers forwarded upstream; everything else (cookies, the client's key, ...) stays.
pub const FORWARDED_CLIENT_HEADERS: &[&str] = &["openai-beta"];

#[cfg(test)]
mod tests {
    #[test]
    fn joins_urls_and_marks_the_key_sensitive() {
        assert_eq!(super::url("http://h/v1/", "/chat/completions"), "http://h/v1/chat/completions");
        let h = super::headers("sk-1", "req-1");
        assert!(h["authorization"].is_sensitive());
        assert_eq!(h["accept-encoding"], "identity");
    }
}
