//! Request accounting: counters by path, dialect and credential, and the last request seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde::Serialize;

use crate::route::Dialect;

/// A snapshot of the request counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests to the model routes.
    pub total: u64,
    /// Count per path without the `/s/{opts}` prefix and the query, e.g. `/v1/chat/completions`
    /// or `/v1beta/models/gemini-x:generateContent`.
    pub by_path: BTreeMap<String, u64>,
    /// Count per dialect: `openai`, `anthropic`, `gemini`, `bedrock`, `azure-openai`.
    pub by_dialect: BTreeMap<String, u64>,
    /// Count per credential (see [`credential`]).
    pub by_key: BTreeMap<String, u64>,
    /// Response bodies dropped before their end was sent: the client cancelled mid-body (or a
    /// scripted `cut_after` aborted it).
    pub unfinished_bodies: u64,
}

/// One request as the mock received it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// The dialect of the route, as in [`Stats::by_dialect`].
    pub dialect: String,
    pub method: String,
    /// The path and query as received (scenario prefix included).
    pub path: String,
    /// The raw query string, "" if there was none (to assert that no key travelled in the URL).
    pub query: String,
    /// Header names (lower case) and values; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, `Null` if it was not JSON.
    pub body: serde_json::Value,
}

/// The last request, kept raw so recording stays cheap; decoded on demand.
struct RawRequest {
    dialect: Dialect,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Inner {
    total: u64,
    by_path: HashMap<String, u64>,
    by_dialect: HashMap<Dialect, u64>,
    by_key: HashMap<String, u64>,
    last: Option<RawRequest>,
}

/// Shared counters and last-request store.
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

/// The credential a request presents: the bearer token, else `api-key` (Azure), else
/// `x-api-key` (Anthropic), else `x-goog-api-key` (Gemini), else the access key id of an AWS
/// SigV4 `Authorization` (Bedrock), else "".
pub(crate) fn credential(headers: &HeaderMap) -> &str {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(token) = authorization.strip_prefix("Bearer ").or_else(|| authorization.strip_prefix("bearer ")) {
        return token.trim();
    }
    if let Some(key) = ["api-key", "x-api-key", "x-goog-api-key"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
    {
        return key;
    }
    crate::bedrock_auth::access_key_id(authorization).unwrap_or("")
}

/// Counts `key` up, allocating only for a key not seen before.
fn count_str(map: &mut HashMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

impl Recorder {
    /// Counts a request in `dialect` to `route` (its path without scenario prefix and query)
    /// and remembers it as the last one; `path` is the path and query as received.
    pub(crate) fn record(
        &self,
        dialect: Dialect,
        route: &str,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) {
        let key = credential(headers);
        let raw = RawRequest {
            dialect,
            method: method.clone(),
            path: path.to_owned(),
            headers: headers.clone(),
            body: body.clone(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.total += 1;
        count_str(&mut inner.by_path, route);
        *inner.by_dialect.entry(dialect).or_insert(0) += 1;
        count_str(&mut inner.by_key, key);
        inner.last = Some(raw);
    }

    pub(crate) fn stats(&self) -> Stats {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Stats {
            total: inner.total,
            by_path: inner.by_path.iter().map(|(p, n)| (p.clone(), *n)).collect(),
            by_dialect: inner.by_dialect.iter().map(|(d, n)| (d.as_str().to_owned(), *n)).collect(),
            by_key: inner.by_key.iter().map(|(k, n)| (k.clone(), *n)).collect(),
            unfinished_bodies: 0,
        }
    }

    pub(crate) fn last_request(&self) -> Option<RecordedRequest> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let raw = inner.last.as_ref()?;
        Some(RecordedRequest {
            dialect: raw.dialect.as_str().to_owned(),
            method: raw.method.as_str().to_owned(),
            path: raw.path.clone(),
            query: raw.path.split_once('?').map_or("", |(_, q)| q).to_owned(),
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
