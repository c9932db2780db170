//! The one upstream HTTP client: pooled keep-alive connections (HTTP/1.1, or HTTP/2 when a
//! TLS server offers it by ALPN), rustls, and a DNS resolver that refuses private addresses
//! unless allowed (so a host name cannot smuggle SSRF).
//!
//! It is hyper's own pooled client rather than a convenience client on top of it: the request
//! path needs nothing from the latter (no redirects, proxies, cookies or decompression), and
//! its per-request URL parsing, header merging and body wrapping cost about a sixth of the
//! gateway's instructions per call. Timeouts other than connecting (first byte, idle between
//! chunks, total) are the caller's, per provider.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Uri;
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::ssrf::is_forbidden_ip;
use crate::config::Timeouts;

/// The pooled upstream client; request bodies are whole (they are built before sending).
pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// An upstream response whose body is read as it arrives.
pub type Response = axum::http::Response<hyper::body::Incoming>;

/// Resolves with the system resolver, then drops private and local addresses unless allowed.
/// Only host names pass through here: an IP literal in `base_url` is checked by `ssrf.rs`.
#[derive(Clone)]
pub struct GuardedResolver {
    allow_private: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str();
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            let allowed: Vec<SocketAddr> = addrs.filter(|a| allow_private || !is_forbidden_ip(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to private or local addresses").into());
            }
            Ok(allowed.into_iter())
        })
    }
}

pub fn client(allow_private: bool, timeouts: &Timeouts) -> Client {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_millis(timeouts.connect_ms)));
    http.set_keepalive(Some(Duration::from_secs(15)));
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(https)
}

/// TLS 1.2 and 1.3 with the platform's trust store (the same verifier as before the client
/// was hyper's own), on aws-lc-rs unless the process installed another default provider.
fn tls_config() -> rustls::ClientConfig {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier =
        rustls_platform_verifier::Verifier::new(provider.clone()).expect("the platform certificate verifier loads");
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the crypto provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth()
}

/// The request URI. `providers` builds URLs from configured base URLs and model names; one
/// with characters a URI may not hold is normalized (percent-encoded) by the URL parser first.
pub fn uri(url: &str) -> Result<Uri, String> {
    match Uri::try_from(url) {
        Ok(uri) => Ok(uri),
        Err(_) => {
            let parsed = url::Url::parse(url).map_err(|e| format!("the upstream URL is not valid: {e}"))?;
            Uri::try_from(parsed.as_str()).map_err(|e| format!("the upstream URL is not valid: {e}"))
        }
    }
}
