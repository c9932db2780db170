//! Console sign-in sessions, shared by the console pages and the management API: the session
//! cookie (`HttpOnly; SameSite=Strict`, `Secure` behind TLS), its token stored only as a
//! SHA-256 digest, idle and absolute expiry, revocation, and the CSRF token every state
//! change must carry (derived from the session token, so a page of another site can neither
//! read nor guess it).

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::sessions::{self as q, SessionRow};
use crate::store::users::UserRow;

/// The session cookie.
pub const COOKIE: &str = "tollgate_session";
/// The sign-in form's own CSRF cookie (double submit: there is no session yet to derive from).
pub const LOGIN_COOKIE: &str = "tollgate_login";
/// The header the console's scripts (and API clients using a session) send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in person, freshly read from the database on every request (a demoted, deleted
/// or re-passworded user loses access at once).
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user: UserRow,
    /// What forms and scripts send back with every state change.
    pub csrf: String,
}

impl Session {
    /// `role: "admin"` users administer the gateway; everyone else is a member.
    pub fn is_admin(&self) -> bool {
        self.user.role == "admin"
    }

    /// True when `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| tokens_equal(&self.csrf, p))
    }
}

/// Constant-time equality of two tokens (their digests, so lengths do not leak either).
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (da, db) = (crate::secrets::api_keys::digest(a), crate::secrets::api_keys::digest(b));
    crate::secrets::api_keys::digests_equal(&da, &db)
}

/// A fresh random token: 256 bits, URL-safe base64.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tollgate console csrf\0");
    h.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether cookies set on this request get `Secure`: as configured, else when the request
/// came over TLS (the gateway itself speaks plain HTTP, so that means a proxy saying so).
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.console.secure_cookies.unwrap_or_else(|| {
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
    })
}

/// A `Set-Cookie` value: host-only, whole site, never readable by scripts, never sent on a
/// request another site starts. `max_age_secs: 0` deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}")
}

fn idle_ms(state: &AppState) -> i64 {
    state.config.console.session_idle_minutes as i64 * 60_000
}

fn max_ms(state: &AppState) -> i64 {
    state.config.console.session_max_hours as i64 * 3_600_000
}

/// The session the request's cookie names, if it is live. Its expiry slides forward with use
/// (written at most once a minute), never past the absolute lifetime.
pub async fn from_headers(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let now = crate::clock::now_ms();
    let Some((row, user)) = q::find(&state.db, &token_hash(token), now).await? else {
        return Ok(None);
    };
    if now - row.last_seen_at > 60_000 {
        let expires = (now + idle_ms(state)).min(row.created_at + max_ms(state));
        q::touch(&state.db, &row.id, now, expires).await?;
    }
    Ok(Some(Session { id: row.id, user, csrf: csrf_for(token) }))
}

/// Opens a session for `user`; answers it and the `Set-Cookie` header value carrying it.
pub async fn start(
    state: &AppState,
    user: UserRow,
    headers: &HeaderMap,
    client_addr: Option<String>,
) -> Result<(Session, String), ApiError> {
    let token = random_token();
    let now = crate::clock::now_ms();
    let user_agent =
        headers.get("user-agent").and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(300).collect::<String>());
    let row = SessionRow {
        id: crate::store::new_id(),
        token_hash: token_hash(&token),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + idle_ms(state).min(max_ms(state)),
        user_agent,
        client_addr,
    };
    q::insert(&state.db, &row).await?;
    if rand::random::<u8>() < 8 {
        // Now and then (about one sign-in in 32), clear out sessions long over.
        if let Err(e) = q::prune(&state.db, now).await {
            tracing::warn!(error = %e, "pruning ended console sessions failed");
        }
    }
    let cookie = set_cookie(COOKIE, &token, (max_ms(state) / 1000) as u64, secure(state, headers));
    Ok((Session { id: row.id, user, csrf: csrf_for(&token) }, cookie))
}

/// Ends one session (sign-out).
pub async fn end(state: &AppState, session: &Session) -> Result<(), ApiError> {
    Ok(q::revoke(&state.db, &session.id, crate::clock::now_ms()).await?)
}

/// Ends every session of a user but `keep`: after a password change or reset, whoever knew
/// the old password is signed out everywhere.
pub async fn end_all(state: &AppState, user_id: &str, keep: Option<&str>) -> Result<u64, ApiError> {
    Ok(q::revoke_user(&state.db, user_id, keep, crate::clock::now_ms()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; tollgate_session=abc ; b=2".parse().unwrap());
        h.append("cookie", "tollgate_login=xyz".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_compared_exactly() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(csrf_for(&a), csrf_for(&b));
        assert_eq!(csrf_for(&a), csrf_for(&a));
        assert!(tokens_equal(&csrf_for(&a), &csrf_for(&a)));
        assert!(!tokens_equal(&csrf_for(&a), &csrf_for(&b)));
        assert!(!tokens_equal(&csrf_for(&a), ""));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie(COOKIE, "t", 60, false);
        assert_eq!(c, "tollgate_session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
        assert!(set_cookie(COOKIE, "t", 60, true).ends_with("; Secure"));
    }
}
