//! The gateway's HTTP clients, built one way: pooled keep-alive connections (HTTP/1.1, or
//! HTTP/2 when a TLS server offers it by ALPN), rustls, and a DNS resolver that applies an
//! address policy (so a host name cannot smuggle SSRF). [`client`] calls providers;
//! [`fetch_client`] fetches URLs callers gave (image URLs), under a stricter policy.
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

use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::ssrf::{PrivateAccess, is_forbidden_ip};
use crate::config::Timeouts;

/// The pooled upstream client; request bodies are whole (they are built before sending).
pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// An upstream response whose body is read as it arrives.
pub type Response = axum::http::Response<hyper::body::Incoming>;

/// Which resolved addresses a client may connect to.
#[derive(Clone)]
enum Addresses {
    /// Provider upstreams: private and local addresses are dropped unless allowed, and the
    /// host is refused only when nothing is left.
    Upstream { allow_private: bool },
    /// URLs a caller gave (image fetching): the host is refused if any of its addresses is not
    /// permitted, since a name mixing public and private answers is not worth the risk.
    Fetched(Arc<PrivateAccess>),
}

/// Resolves with the system resolver, then applies the client's address policy, so the
/// checked address is the one connected to. Only host names pass through here: IP literals
/// are checked before a request is made (`ssrf.rs`, `image_fetch.rs`).
#[derive(Clone)]
pub struct GuardedResolver {
    addresses: Addresses,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A host the address policy refused; found again in an error's source chain by
/// [`refusal`], and said to the client as it is.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// The resolver's refusal behind a request error, if that is why it failed.
pub fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return Some(refused.0);
        }
        source = s.source();
    }
    None
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let addresses = self.addresses.clone();
        Box::pin(async move {
            let host = name.as_str();
            let resolved = tokio::net::lookup_host((host, 0)).await;
            match addresses {
                Addresses::Upstream { allow_private } => {
                    let allowed: Vec<SocketAddr> =
                        resolved?.filter(|a| allow_private || !is_forbidden_ip(a.ip())).collect();
                    if allowed.is_empty() {
                        return Err(format!("{host} resolves only to private or local addresses").into());
                    }
                    Ok(allowed.into_iter())
                }
                Addresses::Fetched(access) => {
                    let unresolved = || Box::new(Refused("the host could not be resolved")) as BoxError;
                    let addrs: Vec<SocketAddr> = resolved.map_err(|_| unresolved())?.collect();
                    if addrs.is_empty() {
                        return Err(unresolved());
                    }
                    if addrs.iter().any(|a| !access.permits(a.ip())) {
                        return Err(Box::new(Refused("host resolves to a private address")));
                    }
                    Ok(addrs.into_iter())
                }
            }
        })
    }
}

/// The upstream client: every provider call and key re-test.
pub fn client(allow_private: bool, timeouts: &Timeouts) -> Client {
    build(Addresses::Upstream { allow_private }, Duration::from_millis(timeouts.connect_ms), 1024)
}

/// The client that fetches URLs callers gave (`image_fetch`): addresses checked by `access`.
pub fn fetch_client(access: Arc<PrivateAccess>, connect_timeout: Duration) -> Client {
    build(Addresses::Fetched(access), connect_timeout, 4)
}

fn build(addresses: Addresses, connect_timeout: Duration, idle_per_host: usize) -> Client {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver { addresses });
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(15)));
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(idle_per_host)
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

/// An upstream request: `method` to `url` with `headers` (and `Accept: */*` unless they name
/// one, as the convenience client used to add) and a whole `body`.
pub fn request(
    method: Method,
    url: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::http::Request<Full<Bytes>>, String> {
    let mut req = axum::http::Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri(url)?;
    *req.headers_mut() = headers;
    req.headers_mut().entry(ACCEPT).or_insert(HeaderValue::from_static("*/*"));
    Ok(req)
}

/// The request URI. `providers` builds URLs from configured base URLs and model names; one
/// with characters a URI may not hold is normalized (percent-encoded) by the URL parser first.
fn uri(url: &str) -> Result<Uri, String> {
    match Uri::try_from(url) {
        Ok(uri) => Ok(uri),
        Err(_) => {
            let parsed = url::Url::parse(url).map_err(|e| format!("the upstream URL is not valid: {e}"))?;
            Uri::try_from(parsed.as_str()).map_err(|e| format!("the upstream URL is not valid: {e}"))
        }
    }
}
