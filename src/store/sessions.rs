//! Queries for console sign-in sessions (`console_sessions`): looked up by the digest of the
//! cookie's token, joined with a live user, slid forward while used, revoked singly or per user.

use super::on_db;
use super::users::UserRow;
use super::{Db, DbRow, StoreResult};

/// A stored session, as created at sign-in.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    /// Lowercase hex SHA-256 of the cookie's token.
    pub token_hash: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// Shown in the user's list of sessions, so a stranger's session stands out.
    pub user_agent: Option<String>,
    pub client_addr: Option<String>,
}

impl SessionRow {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(SessionRow {
            id: r.text("id")?,
            token_hash: r.text("token_hash")?,
            user_id: r.text("user_id")?,
            created_at: r.int("created_at")?,
            last_seen_at: r.int("last_seen_at")?,
            expires_at: r.int("expires_at")?,
            user_agent: r.opt_text("user_agent")?,
            client_addr: r.opt_text("client_addr")?,
        })
    }
}

pub async fn insert(db: &Db, s: &SessionRow) -> StoreResult<()> {
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO console_sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, user_agent,
                 client_addr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.user_agent)
        .bind(&s.client_addr)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// The live session with this token digest and its user (not deleted), unless it expired or
/// was revoked.
pub async fn find(db: &Db, token_hash: &str, now: i64) -> StoreResult<Option<(SessionRow, UserRow)>> {
    on_db!(db, |pool| {
        let row = sqlx::query(
            "SELECT * FROM console_sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(pool)
        .await?;
        let Some(session) = row.as_ref().map(SessionRow::from_row).transpose()? else {
            return Ok(None);
        };
        let user = super::users::get(db, &session.user_id).await?;
        Ok(user.map(|u| (session, u)))
    })
}

/// Records use of a session and moves its expiry (callers cap it at the absolute lifetime).
pub async fn touch(db: &Db, id: &str, now: i64, expires_at: i64) -> StoreResult<()> {
    on_db!(db, |pool| {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

pub async fn revoke(db: &Db, id: &str, now: i64) -> StoreResult<()> {
    on_db!(db, |pool| {
        sqlx::query("UPDATE console_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// Revokes every session of the user except `keep` (the one that changed its own password).
pub async fn revoke_user(db: &Db, user_id: &str, keep: Option<&str>, now: i64) -> StoreResult<u64> {
    on_db!(db, |pool| {
        sqlx::query(
            "UPDATE console_sessions SET revoked_at = $3
             WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
}

/// The user's sessions still open, newest first.
pub async fn list_open(db: &Db, user_id: &str, now: i64) -> StoreResult<Vec<SessionRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM console_sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY id DESC LIMIT 50",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await?;
        rows.iter().map(SessionRow::from_row).collect()
    })
}

/// Deletes sessions that ended more than a day before `now` (bounded, so it never stalls).
pub async fn prune(db: &Db, now: i64) -> StoreResult<u64> {
    let cutoff = now - 24 * 3600 * 1000;
    on_db!(db, |pool| {
        sqlx::query(
            "DELETE FROM console_sessions WHERE id IN (SELECT id FROM console_sessions
                 WHERE expires_at < $1 OR revoked_at < $1 LIMIT 1000)",
        )
        .bind(cutoff)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
}
