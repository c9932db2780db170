//! Queries for users (their cached balance is maintained by `ledger`).

use super::on_db;
use super::{Db, DbRow, StoreResult, WritePool, json_col};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// `admin` or `member`.
    pub role: String,
    pub password_hash: Option<String>,
    /// Sum of the user's ledger, kept in the same transaction as each entry.
    pub balance: i64,
    /// `prepaid` (credits are deducted) or `unlimited` (recorded and costed, not deducted).
    pub plan: String,
    pub limits: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

impl UserRow {
    /// A new user as every creator starts one (API, bootstrap, tests): a fresh id, a `member`
    /// on the `prepaid` plan with no credits, no email, password or limits.
    pub fn new_member(name: impl Into<String>, now: i64) -> UserRow {
        UserRow {
            id: super::new_id(),
            name: name.into(),
            email: None,
            role: "member".into(),
            password_hash: None,
            balance: 0,
            plan: "prepaid".into(),
            limits: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(UserRow {
            id: r.text("id")?,
            name: r.text("name")?,
            email: r.opt_text("email")?,
            role: r.text("role")?,
            password_hash: r.opt_text("password_hash")?,
            balance: r.int("balance")?,
            plan: r.text("plan")?,
            limits: json_col(r.opt_text("limits")?)?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
            deleted_at: r.opt_int("deleted_at")?,
        })
    }
}

/// Live users in id order after `cursor`, at most `limit`.
pub async fn list(db: &Db, cursor: Option<&str>, limit: i64) -> StoreResult<Vec<UserRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM users WHERE deleted_at IS NULL AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        rows.iter().map(UserRow::from_row).collect()
    })
}

/// Every live user, for the in-memory snapshot.
pub async fn all(db: &Db) -> StoreResult<Vec<UserRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query("SELECT * FROM users WHERE deleted_at IS NULL").fetch_all(pool).await?;
        rows.iter().map(UserRow::from_row).collect()
    })
}

pub async fn get(db: &Db, id: &str) -> StoreResult<Option<UserRow>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(pool)
            .await?;
        row.as_ref().map(UserRow::from_row).transpose()
    })
}

/// The live user who signs in as `login`: the one with that e-mail (any case), else the one
/// user with that name. A name two users share signs in neither (they use their e-mail).
pub async fn find_login(db: &Db, login: &str) -> StoreResult<Option<UserRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM users WHERE deleted_at IS NULL AND (LOWER(email) = LOWER($1) OR name = $1)
             ORDER BY id LIMIT 3",
        )
        .bind(login)
        .fetch_all(pool)
        .await?;
        let users: Vec<UserRow> = rows.iter().map(UserRow::from_row).collect::<StoreResult<_>>()?;
        let by_email = users.iter().find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(login)));
        Ok(match by_email {
            Some(u) => Some(u.clone()),
            None if users.len() == 1 => users.into_iter().next(),
            None => None,
        })
    })
}

pub async fn count_admins(db: &Db) -> StoreResult<i64> {
    on_db!(db, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND deleted_at IS NULL")
            .fetch_one(pool)
            .await
    })
}

/// Inserts a new user or updates the profile fields of an existing one (never the balance,
/// which only the ledger changes).
pub async fn save(db: &Db, u: &UserRow) -> StoreResult<()> {
    let limits = u.limits.as_ref().map(|l| l.to_string());
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO users (id, name, email, role, password_hash, balance, plan, limits, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, role = $4, password_hash = $5, plan = $6,
                 limits = $7, updated_at = $9",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(&u.email)
        .bind(&u.role)
        .bind(&u.password_hash)
        .bind(&u.plan)
        .bind(&limits)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

/// Soft-deletes the user (records keep pointing at it) and revokes its keys.
pub async fn delete(db: &Db, id: &str, now: i64) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        let r = sqlx::query("UPDATE users SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    })
}
