//! Gemini API upstreams: `{base_url}/v1beta/models/{model}:generateContent` (or
//! `:streamGenerateContent?alt=sse`; embeddings `:batchEmbedContents`), the key in the
//! `x-goog-api-key` header, never in the URL.

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::protocol::gemini;

pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The URL of a generateContent call for `model`.
pub fn url(base_url: &str, model: &str, stream: bool) -> Result<String, String> {
    Ok(format!("{}{}", base_url.trim_end_matches('/'), gemini::endpoint_path(model, stream)?))
}

/// The URL of a batchEmbedContents call for `model`.
pub fn embeddings_url(base_url: &str, model: &str) -> Result<String, String> {
    Ok(format!("{}{}", base_url.trim_end_matches('/'), gemini::embeddings::endpoint_path(model)?))
}

pub fn headers(api_key: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(3);
    let mut key = HeaderValue::from_str(api_key).unwrap_or_else(|_| HeaderValue::from_static("invalid-key-characters"));
    key.set_sensitive(true);
    h.insert(HeaderName::from_static("x-goog-api-key"), key);
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_goes_in_a_sensitive_header_and_never_in_the_url() {
        let url = super::url("http://h/", "gemini-2.5-flash", true).unwrap();
        assert_eq!(url, "http://h/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
        assert!(!url.contains("key="));
        let h = super::headers("AIza-secret");
        assert!(h["x-goog-api-key"].is_sensitive());
    }
}
