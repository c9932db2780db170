//! Azure OpenAI: `/openai/deployments/{deployment}/chat/completions` and `/embeddings` with
//! `?api-version=` and the `api-key` header. Bodies and streams are the OpenAI ones
//! ([`crate::chat`], [`crate::embeddings`]), named after the deployment when the body has no
//! `model`; errors carry the status in `code`, and `retry-after-ms` with `retry-after`.

use axum::http::HeaderMap;
use axum::response::Response;

use crate::errors;
use crate::route::Dialect;

/// Refuses a request without `api-version` (Azure answers 404) or without an `api-key`
/// header (401), as Azure does.
pub(crate) fn refusal(headers: &HeaderMap, query: &str) -> Option<Response> {
    let has_version = query.split('&').any(|pair| pair.strip_prefix("api-version=").is_some_and(|v| !v.is_empty()));
    if !has_version {
        let message = "Resource not found (mock-provider: the api-version query parameter is required)";
        return Some(errors::error(Dialect::Azure, 404, message, None));
    }
    if headers.get("api-key").is_none_or(|v| v.is_empty()) {
        let message = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a \
                       valid key for an active subscription and use a correct regional API endpoint for your resource.";
        return Some(errors::error(Dialect::Azure, 401, message, None));
    }
    None
}
