//! Queries for Tollgate API keys (stored as SHA-256 digests, hex-encoded).

use super::on_db;
use super::{Db, DbRow, StoreResult, json_col};

#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub key_hash: String,
    /// The first characters of the secret, for recognising a key in the console.
    pub prefix: String,
    /// Model names this key may use; `None` means all.
    pub models: Option<Vec<String>>,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrency: Option<i64>,
    /// Spend budget in nano-credits.
    pub budget: Option<i64>,
    pub budget_period: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl KeyRow {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(KeyRow {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            name: r.text("name")?,
            key_hash: r.text("key_hash")?,
            prefix: r.text("prefix")?,
            models: json_col(r.opt_text("models")?)?,
            rpm: r.opt_int("rpm")?,
            tpm: r.opt_int("tpm")?,
            max_concurrency: r.opt_int("max_concurrency")?,
            budget: r.opt_int("budget")?,
            budget_period: r.opt_text("budget_period")?,
            expires_at: r.opt_int("expires_at")?,
            revoked_at: r.opt_int("revoked_at")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

/// Keys in id order after `cursor`, optionally of one user.
pub async fn list(db: &Db, user_id: Option<&str>, cursor: Option<&str>, limit: i64) -> StoreResult<Vec<KeyRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM api_keys WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(user_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        rows.iter().map(KeyRow::from_row).collect()
    })
}

/// Every key that is not revoked, for the in-memory snapshot.
pub async fn all_active(db: &Db) -> StoreResult<Vec<KeyRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query("SELECT * FROM api_keys WHERE revoked_at IS NULL").fetch_all(pool).await?;
        rows.iter().map(KeyRow::from_row).collect()
    })
}

pub async fn get(db: &Db, id: &str) -> StoreResult<Option<KeyRow>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id).fetch_optional(pool).await?;
        row.as_ref().map(KeyRow::from_row).transpose()
    })
}

pub async fn save(db: &Db, k: &KeyRow) -> StoreResult<()> {
    let models = k.models.as_ref().map(|m| serde_json::to_string(m).expect("strings serialize"));
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, models, rpm, tpm, max_concurrency, budget,
                 budget_period, expires_at, revoked_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO UPDATE SET name = $3, models = $6, rpm = $7, tpm = $8, max_concurrency = $9,
                 budget = $10, budget_period = $11, expires_at = $12, revoked_at = $13, updated_at = $15",
        )
        .bind(&k.id)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_hash)
        .bind(&k.prefix)
        .bind(&models)
        .bind(k.rpm)
        .bind(k.tpm)
        .bind(k.max_concurrency)
        .bind(k.budget)
        .bind(&k.budget_period)
        .bind(k.expires_at)
        .bind(k.revoked_at)
        .bind(k.created_at)
        .bind(k.updated_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
}
