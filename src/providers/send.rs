//! Sending one request to a provider, as every caller sends it (a call's attempt, a stored
//! response read back, the status probe): addressed and authenticated by
//! [`upstream_request`], waiting at most the provider's first-byte timeout for response
//! headers; and reading a bounded prefix of an answer. What a failure means to a client is the
//! caller's business (`gateway::upstream` turns a [`SendError`] into the client's error).

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use bytes::Bytes;

use super::entry::ProviderEntry;
use super::http::{self, Client, Response};
use super::{Outbound, RequestError, upstream_request};

/// Why a request got no response headers.
pub enum SendError {
    /// The request could not be made for this provider (see [`RequestError`]).
    Request(RequestError),
    /// The request could not be built or sent: its error and causes on one line; `connect`
    /// when no connection to the provider was made.
    Unreachable { chain: String, connect: bool },
    /// No response headers within the provider's first-byte timeout (this long).
    Timeout(Duration),
}

impl SendError {
    /// What went wrong, for logs and the call record: names the provider (and the credential
    /// by its name), never a key.
    pub fn detail(&self, provider: &ProviderEntry, credential_name: &str) -> String {
        let name = &provider.name;
        match self {
            SendError::Request(RequestError::Unsupported(e)) => format!("provider {name}: {e}"),
            SendError::Request(RequestError::Misconfigured(why)) => {
                format!("provider {name}, credential {credential_name}: misconfigured: {why}")
            }
            SendError::Unreachable { chain, .. } => format!("provider {name}: {chain}"),
            SendError::Timeout(first_byte) => {
                format!("provider {name}: no response headers within {} ms", first_byte.as_millis())
            }
        }
    }
}

/// Sends one request to the provider (addressed and authenticated by [`upstream_request`]),
/// waiting at most the provider's first-byte timeout for response headers; answers the
/// response and how long the headers took.
pub async fn send(http: &Client, o: Outbound<'_>) -> Result<(Response, Duration), SendError> {
    let (url, headers) = upstream_request(&o).map_err(SendError::Request)?;
    send_request(http, o.provider, Method::POST, &url, headers, o.body.clone()).await
}

/// Sends a request already addressed and authenticated by [`upstream_request`], waiting at
/// most the provider's first-byte timeout for response headers.
pub async fn send_request(
    http: &Client,
    provider: &ProviderEntry,
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(Response, Duration), SendError> {
    let req =
        http::request(method, url, headers, body).map_err(|chain| SendError::Unreachable { chain, connect: false })?;
    let started = Instant::now();
    let first_byte = Duration::from_millis(provider.timeouts.first_byte_ms);
    let sent = tokio::time::timeout(first_byte, http.request(req)).await;
    let elapsed = started.elapsed();
    match sent {
        Ok(Ok(resp)) => Ok((resp, elapsed)),
        Ok(Err(e)) => Err(SendError::Unreachable { chain: error_chain(&e), connect: e.is_connect() }),
        Err(_) => Err(SendError::Timeout(first_byte)),
    }
}

/// An error and its causes on one line. The client's errors do not print the URL.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Reads at most `max` bytes of `body`, each frame within `idle`: what has arrived when the
/// body ends, stalls, breaks or passes `max` (the rest is never read).
pub async fn read_prefix<B>(body: B, idle: Duration, max: usize) -> Bytes
where
    B: hyper::body::Body<Data = Bytes>,
{
    use http_body_util::BodyExt;
    let mut body = std::pin::pin!(body);
    let mut out = bytes::BytesMut::new();
    while out.len() < max {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    out.extend_from_slice(&chunk[..chunk.len().min(max - out.len())]);
                }
            }
            _ => break,
        }
    }
    out.freeze()
}
