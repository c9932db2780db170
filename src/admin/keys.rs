//! `/api/v1/keys`: Tollgate API keys. The secret is returned once, by the create call; only
//! its digest and a short prefix are stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiBody, ApiQuery, created, not_found, page, page_limit, parse_body, required_name};
use crate::billing::money::{Credits, format_credits};
use crate::error::ApiError;
use crate::secrets::api_keys;
use crate::state::AppState;
use crate::store::api_keys::{self as q, KeyRow};

type S = State<Arc<AppState>>;

pub(crate) fn key_json(k: &KeyRow) -> Value {
    json!({
        "id": k.id, "object": "api_key", "user_id": k.user_id, "name": k.name, "prefix": k.prefix,
        "models": k.models, "rpm": k.rpm, "tpm": k.tpm, "max_concurrency": k.max_concurrency,
        "budget": k.budget.map(format_credits), "budget_period": k.budget_period,
        "expires_at": k.expires_at.map(crate::clock::rfc3339), "revoked_at": k.revoked_at.map(crate::clock::rfc3339),
        "revoked": k.revoked_at.is_some(),
        "created_at": crate::clock::rfc3339(k.created_at), "updated_at": crate::clock::rfc3339(k.updated_at),
    })
}

/// The API's (and the console's) form of a key.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyBody {
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrency: Option<i64>,
    pub budget: Option<Credits>,
    pub budget_period: Option<String>,
    pub expires_at: Option<Value>,
}

fn positive(field: &'static str, v: Option<i64>) -> Result<Option<i64>, ApiError> {
    match v {
        Some(n) if n <= 0 => Err(ApiError::invalid(format!("`{field}` must be a positive integer")).with_param(field)),
        other => Ok(other),
    }
}

fn apply(row: &mut KeyRow, b: KeyBody) -> Result<(), ApiError> {
    if let Some(n) = b.name {
        row.name = required_name("name", &n)?;
    }
    if let Some(m) = b.models {
        let m: Vec<String> = m.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        super::text::check_list("models", &m)?;
        row.models = Some(m);
    }
    if b.rpm.is_some() {
        row.rpm = positive("rpm", b.rpm)?;
    }
    if b.tpm.is_some() {
        row.tpm = positive("tpm", b.tpm)?;
    }
    if b.max_concurrency.is_some() {
        row.max_concurrency = positive("max_concurrency", b.max_concurrency)?;
    }
    if let Some(budget) = b.budget {
        if budget.0 <= 0 {
            return Err(ApiError::invalid("`budget` must be positive").with_param("budget"));
        }
        row.budget = Some(budget.0);
    }
    if let Some(p) = b.budget_period {
        if !matches!(p.as_str(), "daily" | "weekly" | "monthly") {
            return Err(
                ApiError::invalid("`budget_period` must be daily, weekly or monthly").with_param("budget_period")
            );
        }
        row.budget_period = Some(p);
    }
    if let Some(e) = b.expires_at {
        row.expires_at = if e.is_null() {
            None
        } else {
            Some(crate::clock::parse_timestamp(&e).map_err(|m| ApiError::invalid(m).with_param("expires_at"))?)
        };
    }
    Ok(())
}

pub async fn create(State(state): S, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let (row, secret) = create_key(&state, parse_body(&body)?).await?;
    let mut out = key_json(&row);
    out["key"] = Value::String(secret);
    Ok(created(out))
}

/// Validates and stores a new key; answers it and its secret (shown once, never stored).
pub(crate) async fn create_key(state: &AppState, mut b: KeyBody) -> Result<(KeyRow, String), ApiError> {
    let user_id = b.user_id.take().ok_or_else(|| ApiError::invalid("`user_id` is required").with_param("user_id"))?;
    let user = crate::store::users::get(&state.db, &user_id)
        .await?
        .ok_or_else(|| ApiError::invalid(format!("user `{user_id}` does not exist")).with_param("user_id"))?;
    let new = api_keys::generate("tg-");
    let now = crate::clock::now_ms();
    let mut row = KeyRow {
        id: crate::store::new_id(),
        user_id: user.id,
        name: "default".into(),
        key_hash: hex::encode(new.hash),
        prefix: new.prefix,
        models: None,
        rpm: None,
        tpm: None,
        max_concurrency: None,
        budget: None,
        budget_period: None,
        expires_at: None,
        revoked_at: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut row, b)?;
    q::save(&state.db, &row).await?;
    state.reload().await?;
    Ok((row, new.secret))
}

#[derive(Deserialize)]
pub struct KeyListQuery {
    user_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(State(state): S, ApiQuery(p): ApiQuery<KeyListQuery>) -> Result<Response, ApiError> {
    let limit = page_limit(p.limit);
    let rows = q::list(&state.db, p.user_id.as_deref(), p.cursor.as_deref(), limit).await?;
    Ok(page(rows, limit, |k| k.id.clone(), key_json))
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<KeyRow, ApiError> {
    q::get(&state.db, id).await?.ok_or_else(|| not_found("key", id))
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(key_json(&load(&state, &id).await?)).into_response())
}

pub async fn update(State(state): S, Path(id): Path<String>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let b: KeyBody = parse_body(&body)?;
    if b.user_id.is_some() {
        return Err(ApiError::invalid("a key cannot move to another user").with_param("user_id"));
    }
    let mut row = load(&state, &id).await?;
    apply(&mut row, b)?;
    row.updated_at = crate::clock::now_ms();
    q::save(&state.db, &row).await?;
    state.reload().await?;
    Ok(Json(key_json(&row)).into_response())
}

/// Revokes the key: it stops working at once and stays listed for the record.
pub async fn revoke(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(key_json(&revoke_key(&state, &id).await?)).into_response())
}

pub(crate) async fn revoke_key(state: &AppState, id: &str) -> Result<KeyRow, ApiError> {
    let mut row = load(state, id).await?;
    if row.revoked_at.is_none() {
        row.revoked_at = Some(crate::clock::now_ms());
        row.updated_at = crate::clock::now_ms();
        q::save(&state.db, &row).await?;
        state.reload().await?;
    }
    Ok(row)
}
