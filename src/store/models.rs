//! Queries for models and their targets (provider + upstream model, weight, price).

use serde::Serialize;

use super::on_db;
use super::{Db, DbRow, StoreResult, WritePool, json_col};
use crate::billing::markup::Rule;
use crate::billing::pricing::Pricing;

#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub id: String,
    pub name: String,
    /// Model names tried in order when every target failed (routing issue).
    pub fallbacks: Vec<String>,
    /// Default price for targets that have none of their own.
    pub pricing: Option<Pricing>,
    /// Served without charge and without a price.
    pub free: bool,
    /// The markup of this model's calls (the most specific level).
    pub markup: Rule,
    pub enabled: bool,
    pub targets: Vec<TargetRow>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub id: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub weight: i64,
    pub pricing: Option<Pricing>,
}

impl ModelRow {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(ModelRow {
            id: r.text("id")?,
            name: r.text("name")?,
            fallbacks: json_col(r.opt_text("fallbacks")?)?.unwrap_or_default(),
            pricing: json_col(r.opt_text("pricing")?)?,
            free: r.flag("free")?,
            markup: json_col(r.opt_text("markup")?)?.unwrap_or_default(),
            enabled: r.flag("enabled")?,
            targets: Vec::new(),
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }
}

impl TargetRow {
    fn from_row(r: &impl DbRow) -> StoreResult<(String, Self)> {
        Ok((
            r.text("model_id")?,
            TargetRow {
                id: r.text("id")?,
                provider_id: r.text("provider_id")?,
                upstream_model: r.text("upstream_model")?,
                weight: r.int("weight")?,
                pricing: json_col(r.opt_text("pricing")?)?,
            },
        ))
    }
}

fn attach(mut models: Vec<ModelRow>, targets: Vec<(String, TargetRow)>) -> Vec<ModelRow> {
    for (model_id, t) in targets {
        if let Some(m) = models.iter_mut().find(|m| m.id == model_id) {
            m.targets.push(t);
        }
    }
    models
}

pub async fn list(db: &Db) -> StoreResult<Vec<ModelRow>> {
    on_db!(db, |pool| {
        let models = sqlx::query("SELECT * FROM models ORDER BY name").fetch_all(pool).await?;
        let targets = sqlx::query("SELECT * FROM model_targets ORDER BY model_id, position").fetch_all(pool).await?;
        let models = models.iter().map(ModelRow::from_row).collect::<StoreResult<Vec<_>>>()?;
        let targets = targets.iter().map(TargetRow::from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(attach(models, targets))
    })
}

pub async fn get(db: &Db, id_or_name: &str) -> StoreResult<Option<ModelRow>> {
    on_db!(db, |pool| {
        let Some(row) = sqlx::query("SELECT * FROM models WHERE id = $1 OR name = $1")
            .bind(id_or_name)
            .fetch_optional(pool)
            .await?
        else {
            return Ok(None);
        };
        let model = ModelRow::from_row(&row)?;
        let targets = sqlx::query("SELECT * FROM model_targets WHERE model_id = $1 ORDER BY position")
            .bind(&model.id)
            .fetch_all(pool)
            .await?;
        let targets = targets.iter().map(TargetRow::from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(attach(vec![model], targets).pop())
    })
}

/// Inserts or replaces a model and all of its targets in one transaction.
pub async fn save(db: &Db, m: &ModelRow) -> StoreResult<()> {
    let fallbacks = serde_json::to_string(&m.fallbacks).expect("strings serialize");
    let pricing = m.pricing.as_ref().map(|p| serde_json::to_string(p).expect("pricing serializes"));
    let markup = super::rule_col(&m.markup);
    on_db!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO models (id, name, fallbacks, pricing, free, enabled, created_at, updated_at, markup)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET name = $2, fallbacks = $3, pricing = $4, free = $5, enabled = $6,
                 updated_at = $8, markup = $9",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(&fallbacks)
        .bind(&pricing)
        .bind(m.free)
        .bind(m.enabled)
        .bind(m.created_at)
        .bind(m.updated_at)
        .bind(&markup)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM model_targets WHERE model_id = $1").bind(&m.id).execute(&mut *tx).await?;
        for (position, t) in m.targets.iter().enumerate() {
            let pricing = t.pricing.as_ref().map(|p| serde_json::to_string(p).expect("pricing serializes"));
            sqlx::query(
                "INSERT INTO model_targets (id, model_id, position, provider_id, upstream_model, weight, pricing)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.id)
            .bind(&m.id)
            .bind(position as i64)
            .bind(&t.provider_id)
            .bind(&t.upstream_model)
            .bind(t.weight)
            .bind(&pricing)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    })
}

pub async fn delete(db: &Db, id: &str) -> StoreResult<bool> {
    on_db!(db, |pool| {
        let r = sqlx::query("DELETE FROM models WHERE id = $1").bind(id).execute(pool).await?;
        Ok(r.rows_affected() > 0)
    })
}
