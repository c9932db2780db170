//! Azure OpenAI upstreams: OpenAI bodies sent to deployment URLs,
//! `{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`, with the key
//! in `api-key`. The deployment is the target's upstream model name; the base URL is the
//! resource endpoint (`https://RESOURCE.openai.azure.com`), so it has no default. The
//! Responses API is Azure's v1 API, `{base_url}/openai/v1/responses`, the deployment named by
//! the body's `model`.

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::operation::Operation;

/// The `api-version` sent when the provider names none: the current GA version.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The deployment URL of an operation; the deployment name is escaped as a path segment.
pub fn url(base_url: &str, deployment: &str, op: Operation, api_version: Option<&str>) -> Result<String, String> {
    let endpoint = match op {
        // The Responses API lives in Azure's v1 API: no deployment segment, no api-version;
        // the deployment is the body's `model`.
        Operation::Responses => {
            let mut url = Url::parse(base_url).map_err(|e| format!("base_url is not a valid URL: {e}"))?;
            url.path_segments_mut().map_err(|_| "base_url cannot take a path".to_string())?.pop_if_empty().extend([
                "openai",
                "v1",
                "responses",
            ]);
            return Ok(url.into());
        }
        Operation::Chat => ["chat", "completions"].as_slice(),
        Operation::Embeddings => ["embeddings"].as_slice(),
        Operation::Images => ["images", "generations"].as_slice(),
        Operation::CountTokens => return Err("Azure OpenAI providers have no token-counting endpoint".into()),
    };
    let mut url = Url::parse(base_url).map_err(|e| format!("base_url is not a valid URL: {e}"))?;
    url.path_segments_mut()
        .map_err(|_| "base_url cannot take a path".to_string())?
        .pop_if_empty()
        .extend(["openai", "deployments", deployment])
        .extend(endpoint);
    url.query_pairs_mut().append_pair("api-version", api_version.unwrap_or(DEFAULT_API_VERSION));
    Ok(url.into())
}

/// The key check: listing the resource's models.
pub fn models_url(base_url: &str, api_version: Option<&str>) -> String {
    format!(
        "{}/openai/models?api-version={}",
        base_url.trim_end_matches('/'),
        api_version.unwrap_or(DEFAULT_API_VERSION)
    )
}

/// Headers for one upstream request: the key in `api-key`, identity encoding.
pub fn headers(api_key: &str, request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(4);
    let mut key = HeaderValue::from_str(api_key).unwrap_or_else(|_| HeaderValue::from_static("invalid-key-characters"));
    key.set_sensitive(true);
    h.insert(HeaderName::from_static("api-key"), key);
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h
}

/// An `api-version` looks like a date, optionally with a `-preview` suffix.
pub fn check_api_version(v: &str) -> Result<(), String> {
    let ok = !v.is_empty() && v.len() <= 40 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!("api_version `{v}` is not an Azure API version such as {DEFAULT_API_VERSION}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_urls_carry_the_api_version() {
        assert_eq!(
            url("https://r.openai.azure.com/", "gpt-4o", Operation::Chat, None).unwrap(),
            format!(
                "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version={DEFAULT_API_VERSION}"
            )
        );
        assert_eq!(
            url("http://h/s/x", "my dep/1", Operation::Embeddings, Some("2025-01-01-preview")).unwrap(),
            "http://h/s/x/openai/deployments/my%20dep%2F1/embeddings?api-version=2025-01-01-preview"
        );
        assert!(url("http://h", "d", Operation::CountTokens, None).is_err());
        assert_eq!(
            url("https://r.openai.azure.com", "d", Operation::Responses, None).unwrap(),
            "https://r.openai.azure.com/openai/v1/responses"
        );
        let h = headers("az-key", "r");
        assert!(h["api-key"].is_sensitive() && h.get("authorization").is_none());
        assert!(check_api_version("2024-10-21").is_ok() && check_api_version("x&y=1").is_err());
    }
}
