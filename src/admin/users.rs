//! `/api/v1/users`: users, their credit grants (ledger entries with idempotency keys) and
//! their ledger. Balances shown are the live in-memory ones the gateway admits calls against.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiBody, ApiQuery, PageQuery, created, not_found, page, parse_body, required_name};
use crate::billing::limits::Limits;
use crate::billing::money::{Credits, format_credits};
use crate::error::ApiError;
use crate::secrets::passwords;
use crate::state::AppState;
use crate::store::ledger::{self, LedgerEntry, NewEntry, PostError};
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

/// The API's (and the console's) form of a user: every field optional, so one body serves a
/// create and a partial update.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserBody {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub password: Option<String>,
    pub plan: Option<String>,
    /// Raw, so a budget given as a JSON number is read from its digits.
    pub limits: Option<Box<serde_json::value::RawValue>>,
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
        super::text::check("email", &e, 320)?;
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
        // Hashing is the costly step: a megabyte-long password is refused before it.
        if p.len() > 1024 {
            return Err(ApiError::invalid("`password` must be at most 1024 bytes").with_param("password"));
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

pub async fn create(State(state): S, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let row = create_user(&state, parse_body(&body)?).await?;
    Ok(created(user_json(&row, &state)))
}

/// Validates and stores a new user.
pub(crate) async fn create_user(state: &AppState, b: UserBody) -> Result<UserRow, ApiError> {
    if b.name.is_none() {
        return Err(ApiError::invalid("`name` is required").with_param("name"));
    }
    let now = crate::clock::now_ms();
    let mut row = UserRow::new_member(String::new(), now);
    apply(&mut row, b)?;
    save(state, &row).await?;
    state.accounts.set(&row.id, 0);
    state.reload().await?;
    Ok(row)
}

/// Stores a user, a clash on the e-mail answered as a 409 on that field.
async fn save(state: &AppState, row: &UserRow) -> Result<(), ApiError> {
    q::save(&state.db, row).await.map_err(|e| super::api::clash(e, "email", "another user has this e-mail"))
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<UserRow, ApiError> {
    q::get(&state.db, id).await?.ok_or_else(|| not_found("user", id))
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(user_json(&load(&state, &id).await?, &state)).into_response())
}

pub async fn update(State(state): S, Path(id): Path<String>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let row = update_user(&state, &id, parse_body(&body)?, None).await?;
    Ok(Json(user_json(&row, &state)).into_response())
}

/// Applies a partial update. A new password signs the user out everywhere except in
/// `keep_session` (the session that changed its own password).
pub(crate) async fn update_user(
    state: &AppState,
    id: &str,
    b: UserBody,
    keep_session: Option<&str>,
) -> Result<UserRow, ApiError> {
    let new_password = b.password.is_some();
    let mut row = load(state, id).await?;
    apply(&mut row, b)?;
    row.updated_at = crate::clock::now_ms();
    save(state, &row).await?;
    if new_password {
        crate::sessions::end_all(state, &row.id, keep_session).await?;
    }
    state.reload().await?;
    Ok(row)
}

pub async fn delete(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = delete_user(&state, &id).await?;
    Ok(Json(json!({"id": row.id, "object": "user", "deleted": true})).into_response())
}

/// Deletes the user (records keep pointing at it), revokes its keys and ends its sessions.
pub(crate) async fn delete_user(state: &AppState, id: &str) -> Result<UserRow, ApiError> {
    let row = load(state, id).await?;
    q::delete(&state.db, &row.id, crate::clock::now_ms()).await?;
    crate::sessions::end_all(state, &row.id, None).await?;
    state.reload().await?;
    Ok(row)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    pub amount: Credits,
    pub kind: Option<String>,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Adds credits. A repeated idempotency key answers the first entry (200) and changes nothing;
/// the key reused for other content is a 409.
pub async fn grant(State(state): S, Path(id): Path<String>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let (entry, new) = post_credits(&state, &id, parse_body(&body)?).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(entry_json(&entry))).into_response())
}

/// Posts a grant, top-up, refund or adjustment; answers the entry and whether it is new (a
/// repeated idempotency key answers the first entry).
pub(crate) async fn post_credits(state: &AppState, id: &str, b: GrantBody) -> Result<(LedgerEntry, bool), ApiError> {
    let user = load(state, id).await?;
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
    super::text::check_opt("note", b.note.as_deref(), super::text::NOTE_MAX)?;
    super::text::check("idempotency_key", &idempotency_key, super::text::NAME_MAX + 4)?;
    let entry = NewEntry { user_id: user.id.clone(), kind, amount, idempotency_key, call_id: None, note: b.note };
    let (entry, new) = ledger::post(&state.db, &entry).await.map_err(|e| match e {
        PostError::Db(e) => ApiError::from(e),
        PostError::OutOfRange { balance } => ApiError::invalid(format!(
            "this entry would take the balance ({}) out of range: balances are at most {} credits either way",
            format_credits(balance),
            format_credits(i64::MAX)
        ))
        .with_param("amount")
        .with_code("balance_out_of_range"),
        PostError::KeyReused(_) => ApiError::new(
            crate::error::ErrorKind::Conflict,
            "this idempotency key was already used for an entry with other content (user, kind, amount or note); \
             repeat a request unchanged, or use a new key",
        )
        .with_param("idempotency_key")
        .with_code("idempotency_key_reused"),
    })?;
    if new {
        state.accounts.add(&entry.user_id, entry.amount);
    }
    Ok((entry, new))
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
