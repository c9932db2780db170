//! Sending one attempt upstream (through `providers::send`) and turning upstream failures into
//! the client's error.
//! Provider error bodies are reduced to their message; credentials never reach the client.

use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;

use super::classify;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::provider_error;
use crate::providers::entry::{CredentialEntry, ProviderEntry};
pub use crate::providers::send::read_prefix;
use crate::providers::send::{self, SendError};
use crate::providers::{Outbound, RequestError, http};
use crate::store::call_outcome::ErrorClass;

/// An upstream attempt that failed, with what to record and what to tell the client.
pub struct UpstreamFailure {
    pub class: ErrorClass,
    /// For the call record (may name the provider; never a key).
    pub detail: String,
    pub error: ApiError,
}

/// A provider's answer that is not what its protocol promises (a body that is not JSON, a
/// stream of such events): the provider's fault, answered 502 and never charged as an answer.
pub fn invalid_answer(provider: &ProviderEntry, why: &str) -> UpstreamFailure {
    UpstreamFailure {
        class: ErrorClass::UpstreamInvalidResponse,
        detail: format!("provider {}: the answer is not valid for its protocol: {why}", provider.name),
        error: ApiError::new(
            ErrorKind::Upstream,
            format!("provider `{}` sent a response that could not be read", provider.name),
        )
        .with_code("upstream_invalid_response"),
    }
}

/// Sends one request to the provider (addressed and authenticated by `providers`), waiting at
/// most the provider's first-byte timeout for response headers.
pub async fn send(http: &http::Client, o: Outbound<'_>) -> Result<(http::Response, Duration), UpstreamFailure> {
    let (provider, credential) = (o.provider, o.credential);
    send::send(http, o).await.map_err(|e| failure(provider, &credential.name, e))
}

/// Sends a request already addressed and authenticated by `providers`, waiting at most the
/// provider's first-byte timeout for response headers.
pub async fn send_request(
    http: &http::Client,
    provider: &ProviderEntry,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(http::Response, Duration), UpstreamFailure> {
    send::send_request(http, provider, method, url, headers, body).await.map_err(|e| failure(provider, "", e))
}

/// A request that got no response headers, as the call records it and the client hears it.
/// The operator's broken configuration (a credential not valid for its kind, say) fails over
/// to the next credential and, if none works, is a 502 telling the client the gateway is at
/// fault — never the client's 400.
fn failure(provider: &ProviderEntry, credential_name: &str, e: SendError) -> UpstreamFailure {
    let detail = e.detail(provider, credential_name);
    let (class, error) = match e {
        SendError::Request(RequestError::Unsupported(e)) => {
            (ErrorClass::UpstreamBadRequest, ApiError::invalid(e).with_code("unsupported_by_provider"))
        }
        SendError::Request(RequestError::Misconfigured(_)) => (
            ErrorClass::CredentialMisconfigured,
            ApiError::new(
                ErrorKind::Upstream,
                format!("provider `{}` has a credential its operator must fix on this gateway", provider.name),
            )
            .with_code("credential_misconfigured"),
        ),
        SendError::Unreachable { connect, .. } => (
            if connect { ErrorClass::ConnectError } else { ErrorClass::UpstreamIoError },
            ApiError::new(ErrorKind::Upstream, format!("could not reach provider `{}`", provider.name))
                .with_code("upstream_unreachable"),
        ),
        SendError::Timeout(_) => (
            ErrorClass::Timeout,
            ApiError::new(ErrorKind::Timeout, format!("provider `{}` did not answer in time", provider.name))
                .with_code("upstream_timeout"),
        ),
    };
    UpstreamFailure { class, detail, error }
}

/// Maps an upstream error response. Client mistakes (400, 413, 422) are relayed with the
/// provider's message; credential, rate-limit and server problems become gateway errors.
pub fn failure_from_response(
    provider: &ProviderEntry,
    cred: &CredentialEntry,
    status: StatusCode,
    retry_after: Option<u64>,
    body: &Bytes,
) -> UpstreamFailure {
    let message =
        provider_error(body).map(|m| m.chars().take(500).collect::<String>().replace(&cred.api_key, "<redacted>"));
    let said = message.clone().unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let detail = format!("provider {} answered {}: {said}", provider.name, status.as_u16());
    let class = classify::status(status);
    let error = match class {
        classify::Status::BadRequest => ApiError::invalid(format!("the provider rejected the request: {said}"))
            .with_status(status)
            .with_code("upstream_bad_request"),
        classify::Status::Refused => ApiError::new(
            ErrorKind::Upstream,
            format!("provider `{}` rejected the gateway's credential", provider.name),
        )
        .with_code("upstream_auth_failed"),
        classify::Status::RateLimited => {
            let mut e = ApiError::new(
                ErrorKind::Unavailable,
                format!("provider `{}` is rate limiting the gateway", provider.name),
            )
            .with_code("upstream_rate_limited");
            e.retry_after = retry_after;
            e
        }
        classify::Status::Success | classify::Status::Failed => ApiError::new(
            ErrorKind::Upstream,
            format!("provider `{}` failed (HTTP {})", provider.name, status.as_u16()),
        )
        .with_code("upstream_error"),
    };
    UpstreamFailure { class: class.class(), detail, error }
}

/// The most of a provider's error body (or of a `count_tokens` answer) the gateway reads: it
/// keeps only the message (500 characters), and a provider — or whatever answers in its
/// place — may send megabytes, which must not be held in memory per call.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The longest rest a provider's `retry-after` may impose: a credential is cooled (and a client
/// told to wait) for at most this long, whatever the header says. It also keeps the deadline
/// `now + retry_after` far inside the range of `Instant`.
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// A provider's `retry-after` in whole seconds, capped at [`MAX_RETRY_AFTER_SECS`].
pub fn retry_after_secs(headers: &HeaderMap) -> Option<u64> {
    let secs: u64 = headers.get(axum::http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(secs.min(MAX_RETRY_AFTER_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_error_body_is_read_only_to_its_cap() {
        use http_body_util::StreamBody;
        use hyper::body::Frame;
        // A provider that never stops sending (collecting it whole never returned).
        let chunk = || Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(vec![b'x'; 8192])));
        let endless = StreamBody::new(futures_util::stream::repeat_with(chunk));
        let got = read_prefix(endless, Duration::from_secs(5), MAX_ERROR_BODY).await;
        assert_eq!(got.len(), MAX_ERROR_BODY);
    }

    #[test]
    fn a_huge_retry_after_is_capped() {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::RETRY_AFTER, u64::MAX.to_string().parse().unwrap());
        assert_eq!(retry_after_secs(&h), Some(MAX_RETRY_AFTER_SECS));
        // The cooling deadline a capped value makes is representable.
        let _ = std::time::Instant::now() + std::time::Duration::from_secs(retry_after_secs(&h).unwrap());
        h.insert(axum::http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after_secs(&h), Some(7));
        h.insert(axum::http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after_secs(&h), None);
    }
}
