//! The key check: lists the provider's models with one credential (never a billable
//! completion) and says whether the provider accepts the key. Used by the key test of the
//! management API and the re-test of refused keys.

use std::time::{Duration, Instant};

use super::http;
use crate::providers::entry::{CredentialEntry, ProviderEntry};

/// What a key check found.
pub struct Probe {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// Lists the provider's models with `cred`: does the provider accept the key?
pub async fn probe(http: &http::Client, provider: &ProviderEntry, cred: &CredentialEntry) -> Probe {
    let req = super::probe_request(provider, cred)
        .and_then(|(url, headers)| http::request(axum::http::Method::GET, &url, headers, bytes::Bytes::new()));
    let req = match req {
        Ok(req) => req,
        Err(e) => return Probe { ok: false, status: None, latency: Duration::ZERO, error: Some(e) },
    };
    let started = Instant::now();
    let timeout = Duration::from_millis(provider.timeouts.first_byte_ms.min(30_000));
    let sent = tokio::time::timeout(timeout, http.request(req)).await;
    let latency = started.elapsed();
    let (ok, status, error) = match sent {
        Ok(Ok(r)) if r.status().is_success() => (true, Some(r.status().as_u16()), None),
        Ok(Ok(r)) => {
            (false, Some(r.status().as_u16()), Some(format!("the provider answered HTTP {}", r.status().as_u16())))
        }
        Err(_) => (false, None, Some("the provider did not answer in time".to_string())),
        Ok(Err(_)) => (false, None, Some("the provider could not be reached".to_string())),
    };
    Probe { ok, status, latency, error }
}
