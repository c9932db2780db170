//! Who is calling: the Tollgate key from `Authorization: Bearer`, `x-api-key` or
//! `x-goog-api-key`, looked up by digest in the snapshot (no database query).

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::error::{ApiError, ErrorKind};
use crate::secrets::api_keys;
use crate::snapshot::{KeyEntry, Snapshot, UserEntry};
use crate::state::AppState;

/// An authenticated caller and the snapshot it was checked against (used for the whole call,
/// so a concurrent reload cannot change the rules halfway).
pub struct Caller {
    pub key: Arc<KeyEntry>,
    pub user: Arc<UserEntry>,
    pub snapshot: Arc<Snapshot>,
}

/// The key as presented, from the first header that carries one.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
    }
    ["x-api-key", "x-goog-api-key"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorKind::Authentication, message).with_code("invalid_api_key")
}

pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let presented = presented_key(headers)
        .ok_or_else(|| unauthorized("missing API key: send it as `Authorization: Bearer <key>` or `x-api-key`"))?;
    let digest = api_keys::digest(presented);
    let snapshot = state.snapshot.load_full();
    let key = match snapshot.keys.get(&digest) {
        Some(k) if api_keys::digests_equal(&k.hash, &digest) => k.clone(),
        _ => return Err(unauthorized("invalid API key")),
    };
    if key.expires_at.is_some_and(|t| t <= crate::clock::now_ms()) {
        return Err(unauthorized("this API key has expired"));
    }
    let user = snapshot
        .users
        .get(&key.user_id)
        .cloned()
        .ok_or_else(|| unauthorized("this API key's user no longer exists"))?;
    Ok(Caller { key, user, snapshot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_from_each_header() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-goog-api-key", "tg-c".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg-c"));
        h.insert("x-api-key", "tg-b".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg-b"));
        h.insert("authorization", "Bearer  tg-a ".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg-a"));
    }
}
