//! Queries for providers and their credentials.

use serde::Serialize;

use super::on_db;
use super::{Db, DbRow, StoreResult, json_col};
use crate::billing::markup::Rule;
use crate::config::Timeouts;

#[derive(Debug, Clone, Serialize)]
pub struct ProviderRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub region: Option<String>,
    pub enabled: bool,
    /// Per-provider override of the default upstream timeouts.
    pub timeouts: Option<Timeouts>,
    /// The `api-version` of an Azure OpenAI provider's requests (`None`: the default).
    pub api_version: Option<String>,
    /// The markup of this provider's calls, where a model sets none.
    pub markup: Rule,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProviderRow {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(ProviderRow {
            id: r.text("id")?,
            name: r.text("name")?,
            kind: r.text("kind")?,
            base_url: r.opt_text("base_url")?,
            region: r.opt_text("region")?,
            enabled: r.flag("enabled")?,
            timeouts: json_col(r.opt_text("timeouts")?)?,
            api_version: r.opt_text("api_version")?,
            markup: json_col(r.opt_text("markup")?)?.unwrap_or_default(),
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: String,
    pub provider_id: String,
    pub name: String,
    /// The secret sealed by the vault for this record id; never the plaintext.
    pub secret_sealed: String,
    /// What the API and console show instead of the secret.
    pub secret_masked: String,
    /// Which master key sealed `secret_sealed` (for rotation).
    pub key_id: String,
    pub weight: i64,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CredentialRow {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(CredentialRow {
            id: r.text("id")?,
            provider_id: r.text("provider_id")?,
            name: r.text("name")?,
            secret_sealed: r.text("secret_sealed")?,
            secret_masked: r.text("secret_masked")?,
            key_id: r.text("key_id")?,
            weight: r.int("weight")?,
            enabled: r.flag("enabled")?,
            disabled_reason: r.opt_text("disabled_reason")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

pub async fn list(db: &Db) -> StoreResult<Vec<ProviderRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query("SELECT id, name, kind, base_url, region, enabled, timeouts, api_version, markup, created_at, updated_at FROM providers ORDER BY name")
            .fetch_all(pool)
            .await?;
        rows.iter().map(ProviderRow::from_row).collect()
    })
}

pub async fn get(db: &Db, id_or_name: &str) -> StoreResult<Option<ProviderRow>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT id, name, kind, base_url, region, enabled, timeouts, api_version, markup, created_at, updated_at FROM providers WHERE id = $1 OR name = $1")
            .bind(id_or_name)
            .fetch_optional(pool)
            .await?;
        row.as_ref().map(ProviderRow::from_row).transpose()
    })
}

/// Inserts or, when `upsert` is set, replaces the provider of the same name (declarative config).
pub async fn save(db: &Db, p: &ProviderRow) -> StoreResult<()> {
    let timeouts = p.timeouts.map(|t| serde_json::to_string(&t).expect("timeouts serialize"));
    let markup = super::rule_col(&p.markup);
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO providers (id, name, kind, base_url, region, enabled, timeouts, created_at, updated_at, api_version,
                 markup)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET name = $2, kind = $3, base_url = $4, region = $5,
                 enabled = $6, timeouts = $7, updated_at = $9, api_version = $10, markup = $11",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.kind)
        .bind(&p.base_url)
        .bind(&p.region)
        .bind(p.enabled)
        .bind(&timeouts)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(&p.api_version)
        .bind(&markup)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

pub async fn delete(db: &Db, id: &str) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r = sqlx::query("DELETE FROM providers WHERE id = $1").bind(id).execute(pool).await?;
        Ok(r.rows_affected() > 0)
    })
}

/// Credentials of one provider, or of all providers when `provider_id` is `None`.
pub async fn list_credentials(db: &Db, provider_id: Option<&str>) -> StoreResult<Vec<CredentialRow>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM credentials WHERE ($1 IS NULL OR provider_id = $1) ORDER BY provider_id, created_at, id",
        )
        .bind(provider_id)
        .fetch_all(pool)
        .await?;
        rows.iter().map(CredentialRow::from_row).collect()
    })
}

pub async fn get_credential(db: &Db, id: &str) -> StoreResult<Option<CredentialRow>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT * FROM credentials WHERE id = $1").bind(id).fetch_optional(pool).await?;
        row.as_ref().map(CredentialRow::from_row).transpose()
    })
}

pub async fn save_credential(db: &Db, c: &CredentialRow) -> StoreResult<()> {
    on_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO credentials (id, provider_id, name, secret_sealed, secret_masked, key_id, weight, enabled,
                 disabled_reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET name = $3, secret_sealed = $4, secret_masked = $5, key_id = $6,
                 weight = $7, enabled = $8, disabled_reason = $9, updated_at = $11",
        )
        .bind(&c.id)
        .bind(&c.provider_id)
        .bind(&c.name)
        .bind(&c.secret_sealed)
        .bind(&c.secret_masked)
        .bind(&c.key_id)
        .bind(c.weight)
        .bind(c.enabled)
        .bind(&c.disabled_reason)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
}

pub async fn delete_credential(db: &Db, id: &str) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r = sqlx::query("DELETE FROM credentials WHERE id = $1").bind(id).execute(pool).await?;
        Ok(r.rows_affected() > 0)
    })
}

/// Disables an enabled credential with `reason` (the provider refused it). False if the
/// credential is gone or already disabled.
pub async fn disable_credential(db: &Db, id: &str, reason: &str, now: i64) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r = sqlx::query(
            "UPDATE credentials SET enabled = $4, disabled_reason = $2, updated_at = $3 WHERE id = $1 AND enabled = $5",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .bind(false)
        .bind(true)
        .execute(pool)
        .await?;
        Ok(r.rows_affected() > 0)
    })
}

/// Re-enables a credential only if it is still disabled for `reason` (an operator's later
/// decision wins over a background re-test).
pub async fn reenable_credential(db: &Db, id: &str, reason: &str, now: i64) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r = sqlx::query(
            "UPDATE credentials SET enabled = $4, disabled_reason = NULL, updated_at = $3
             WHERE id = $1 AND enabled = $5 AND disabled_reason = $2",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .bind(true)
        .bind(false)
        .execute(pool)
        .await?;
        Ok(r.rows_affected() > 0)
    })
}

/// Replaces a credential's sealed secret with one sealed under another key, unless the record
/// changed since `old_sealed` was read (a concurrent edit wins; rotation runs again).
pub async fn reseal_credential(db: &Db, id: &str, old_sealed: &str, sealed: &str, key_id: &str) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r =
            sqlx::query("UPDATE credentials SET secret_sealed = $3, key_id = $4 WHERE id = $1 AND secret_sealed = $2")
                .bind(id)
                .bind(old_sealed)
                .bind(sealed)
                .bind(key_id)
                .execute(pool)
                .await?;
        Ok(r.rows_affected() > 0)
    })
}
