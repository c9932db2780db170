//! Request accounting: counters by path and credential, and the last request seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde::Serialize;

/// The model routes whose requests are counted, by their path without the scenario prefix.
pub(crate) const COUNTED_PATHS: [&str; 3] = ["/v1/chat/completions", "/v1/embeddings", "/v1/models"];

/// A snapshot of the request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests to the model routes.
    pub total: u64,
    /// Count per path without the `/s/{opts}` prefix, e.g. `/v1/chat/completions`.
    pub by_path: BTreeMap<String, u64>,
    /// Count per credential: the bearer token, else `api-key`, else `x-api-key`, else "".
    pub by_key: BTreeMap<String, u64>,
    /// Response bodies dropped before their end was sent: the client cancelled mid-body (or a
    /// scripted `cut_after` aborted it).
    pub unfinished_bodies: u64,
}

/// One request as the mock received it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The path and query as received (scenario prefix included).
    pub path: String,
    /// Header names (lower case) and values; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, `Null` if it was not JSON.
    pub body: serde_json::Value,
}

/// The last request, kept raw so recording stays cheap; decoded on demand.
struct RawRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Inner {
    total: u64,
    by_path: [u64; COUNTED_PATHS.len()],
    by_key: HashMap<String, u64>,
    last: Option<RawRequest>,
}

/// Shared counters and last-request store.
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

/// The credential a request presents: bearer token, else `api-key`, else `x-api-key`, else "".
pub(crate) fn credential(headers: &HeaderMap) -> &str {
    if let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
    {
        return token.trim();
    }
    ["api-key", "x-api-key"].iter().find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok())).unwrap_or("")
}

impl Recorder {
    /// Counts a request to `COUNTED_PATHS[path_index]` and remembers it as the last one.
    pub(crate) fn record(&self, path_index: usize, method: &Method, path: &str, headers: &HeaderMap, body: &Bytes) {
        let key = credential(headers);
        let raw =
            RawRequest { method: method.clone(), path: path.to_owned(), headers: headers.clone(), body: body.clone() };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.total += 1;
        inner.by_path[path_index] += 1;
        match inner.by_key.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                inner.by_key.insert(key.to_owned(), 1);
            }
        }
        inner.last = Some(raw);
    }

    pub(crate) fn stats(&self) -> Stats {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            total: inner.total,
            by_path: COUNTED_PATHS
                .iter()
                .zip(inner.by_path)
                .filter(|(_, n)| *n > 0)
                .map(|(p, n)| ((*p).to_owned(), n))
                .collect(),
            by_key: inner.by_key.iter().map(|(k, n)| (k.clone(), *n)).collect(),
            unfinished_bodies: 0,
        }
    }

    pub(crate) fn last_request(&self) -> Option<RecordedRequest> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let raw = inner.last.as_ref()?;
        Some(RecordedRequest {
            method: raw.method.as_str().to_owned(),
            path: raw.path.clone(),
            headers: raw
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: serde_json::from_slice(&raw.body).unwrap_or(serde_json::Value::Null),
        })
    }

    pub(crate) fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Inner::default();
    }
}
