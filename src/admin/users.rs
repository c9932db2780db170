//! `/api/v1/users`: users, their credit grants (ledger entries with idempotency keys) and
//! their ledger. Balances shown are the live in-memory ones the gateway admits calls against.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, PageQuery, created, not_found, page, parse_body, required_name};
use crate::billing::limits::Limits;
use crate::billing::money::{Credits, format_credits};
use crate::error::ApiError;
use crate::secrets::passwords;
use crate::state::AppState;
use crate::store::ledger::{self, LedgerEntry, NewEntry};
use crate::store::users::{self as q, UserRow};

type S = State<Arc<AppState>>;

pub(crate) fn user_json(u: &UserRow, state: &AppState) -> Value {
    json!({
        "id": u.id, "object": "user", "name": u.name, "email": u.email, "role": u.role,
        "balance": format_credits(state.accounts.balance(&u.id)), "plan": u.plan, "limits": u.limits,
        "created_at": crate::clock::rfc3339(u.created_at), "updated_at": crate::clock::rfc3339(u.updated_at),
    })
}

pub(crate) fn entry_json(e: &LedgerEntry) -> Value {
    json!({
        "id": e.id, "object": "ledger_entry", "user_id": e.user_id, "kind": e.kind,
        "amount": format_credits(e.amount), "balance_after": format_credits(e.balance_after),
        "idempotency_key": e.idempotency_key, "call_id": e.call_id, "note": e.note,
        "created_at": crate::clock::rfc3339(e.created_at),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    password: Option<String>,
    plan: Option<String>,
    /// Raw, so a budget given as a JSON number is read from its digits.
    limits: Option<Box<serde_json::value::RawValue>>,
}

fn apply(row: &mut UserRow, b: UserBody) -> Result<(), ApiError> {
    if let Some(n) = b.name {
        row.name = required_name("name", &n)?;
    }
    if let Some(e) = b.email {
        let e = e.trim().to_string();
        if !e.contains('@') || e.len() > 320 {
            return Err(ApiError::invalid("`email` is not an email address").with_param("email"));
        }
        row.email = Some(e);
    }
    if let Some(r) = b.role {
        if !matches!(r.as_str(), "admin" | "member") {
            return Err(ApiError::invalid("`role` must be admin or member").with_param("role"));
        }
        row.role = r;
    }
    if let Some(p) = b.password {
        if p.chars().count() < 12 {
            return Err(ApiError::invalid("`password` must be at least 12 characters").with_param("password"));
        }
        row.password_hash = Some(passwords::hash(&p).map_err(|e| {
            tracing::error!("password hashing failed: {e}");
            ApiError::internal()
        })?);
    }
    if let Some(p) = b.plan {
        if !matches!(p.as_str(), "prepaid" | "unlimited") {
            return Err(ApiError::invalid("`plan` must be prepaid or unlimited").with_param("plan"));
        }
        row.plan = p;
    }
    if let Some(l) = b.limits {
        // Stored normalized (see `billing::limits`), so the snapshot always parses it.
        row.limits = if l.get() == "null" {
            None
        } else {
            let limits = Limits::parse(l.get()).map_err(|(_, m)| ApiError::invalid(m).with_param("limits"))?;
            Some(limits.to_json())
        };
    }
    Ok(())
}

pub async fn list(State(state): S, ApiQuery(p): ApiQuery<PageQuery>) -> Result<Response, ApiError> {
    let rows = q::list(&state.db, p.cursor.as_deref(), p.limit()).await?;
    Ok(page(rows, p.limit(), |u| u.id.clone(), |u| user_json(u, &state)))
}

pub async fn create(State(state): S, body: Bytes) -> Result<Response, ApiError> {
    let b: UserBody = parse_body(&body)?;
    if b.name.is_none() {
        return Err(ApiError::invalid("`name` is required").with_param("name"));
    }
    let now = crate::clock::now_ms();
    let mut row = UserRow::new_member(String::new(), now);
    apply(&mut row, b)?;
    q::save(&state.db, &row).await?;
    state.accounts.set(&row.id, 0);
    state.reload().await?;
    Ok(created(user_json(&row, &state)))
}

async fn load(state: &AppState, id: &str) -> Result<UserRow, ApiError> {
    q::get(&state.db, id).await?.ok_or_else(|| not_found("user", id))
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(user_json(&load(&state, &id).await?, &state)).into_response())
}

pub async fn update(State(state): S, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: UserBody = parse_body(&body)?;
    let mut row = load(&state, &id).await?;
    apply(&mut row, b)?;
    row.updated_at = crate::clock::now_ms();
    q::save(&state.db, &row).await?;
    state.reload().await?;
    Ok(Json(user_json(&row, &state)).into_response())
}

pub async fn delete(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = load(&state, &id).await?;
    q::delete(&state.db, &row.id, crate::clock::now_ms()).await?;
    state.reload().await?;
    Ok(Json(json!({"id": row.id, "object": "user", "deleted": true})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    amount: Credits,
    kind: Option<String>,
    note: Option<String>,
    idempotency_key: Option<String>,
}

/// Adds credits. A repeated idempotency key answers the first entry (200) and changes nothing.
pub async fn grant(State(state): S, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let b: GrantBody = parse_body(&body)?;
    let user = load(&state, &id).await?;
    let kind = b.kind.unwrap_or_else(|| "grant".into());
    let amount = b.amount.0;
    match kind.as_str() {
        "grant" | "topup" if amount > 0 => {}
        "grant" | "topup" => return Err(ApiError::invalid("a grant or top-up must be positive").with_param("amount")),
        "adjustment" | "refund" if amount != 0 => {}
        "adjustment" | "refund" => return Err(ApiError::invalid("`amount` must not be zero").with_param("amount")),
        _ => {
            return Err(ApiError::invalid("`kind` must be grant, topup, refund or adjustment").with_param("kind"));
        }
    }
    let idempotency_key = match b.idempotency_key.map(|k| k.trim().to_string()) {
        Some(k) if k.is_empty() || k.len() > 200 => {
            return Err(
                ApiError::invalid("`idempotency_key` must be 1 to 200 characters").with_param("idempotency_key")
            );
        }
        Some(k) => format!("api:{k}"),
        None => format!("api:{}", crate::store::new_id()),
    };
    let entry = NewEntry { user_id: user.id.clone(), kind, amount, idempotency_key, call_id: None, note: b.note };
    let (entry, new) = ledger::post(&state.db, &entry).await?;
    if new {
        state.accounts.add(&entry.user_id, entry.amount);
        Ok(created(entry_json(&entry)))
    } else {
        if entry.user_id != user.id {
            return Err(ApiError::new(
                crate::error::ErrorKind::Conflict,
                "this idempotency key was already used for another user",
            ));
        }
        Ok((StatusCode::OK, Json(entry_json(&entry))).into_response())
    }
}

pub async fn ledger(
    State(state): S,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let user = load(&state, &id).await?;
    let rows = ledger::list(&state.db, &user.id, p.cursor.as_deref(), p.limit()).await?;
    Ok(page(rows, p.limit(), |e| e.id.clone(), entry_json))
}
