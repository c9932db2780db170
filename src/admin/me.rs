//! `GET /api/v1/me`: what a Tollgate key can see about itself — its user, balance and open
//! reservations, the limits and budgets of the key and of the user (with their live state:
//! calls in flight, spend in the current period), and recent usage. With a console session
//! instead of a key, the same for the signed-in user (`key` is null, recent usage is the
//! user's).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::calls_format::member_call_json;
use super::keys::key_json;
use crate::billing::limits::Limits;
use crate::billing::money::format_credits;
use crate::billing::ratelimit::{Scope, Subject};
use crate::error::ApiError;
use crate::gateway::authenticate;
use crate::state::AppState;
use crate::store::calls::CallFilter;

/// The user part of the answer, with the live balance.
fn user_json(state: &AppState, user: &crate::store::users::UserRow) -> Value {
    let account = state.accounts.account(&user.id);
    json!({
        "id": user.id, "name": user.name, "email": user.email, "plan": user.plan, "limits": user.limits,
        "balance": format_credits(account.balance),
        "reserved": format_credits(account.reserved),
        "open_reservations": account.open,
        "available": format_credits(account.available()),
    })
}

pub async fn get(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if crate::gateway::presented_key(&headers).is_none()
        && let Some(session) = crate::sessions::from_headers(&state, &headers).await?
    {
        return session_me(&state, &session).await;
    }
    let caller = authenticate(&state, &headers)?;
    let key = crate::store::api_keys::get(&state.db, &caller.key.id).await?.ok_or_else(ApiError::internal)?;
    let user = crate::store::users::get(&state.db, &caller.user.id).await?.ok_or_else(ApiError::internal)?;
    let filter = CallFilter { key_id: Some(key.id.clone()), ..CallFilter::default() };
    let recent = crate::store::call_list::list(&state.db, &filter, None, 10).await?;
    let now = crate::clock::now_ms();
    Ok(Json(json!({
        "object": "me",
        "user": user_json(&state, &user),
        "limits": {
            "key": limits_json(&state, (Scope::Key, caller.key.id.clone()), &caller.key.limits, now),
            "user": limits_json(&state, (Scope::User, caller.user.id.clone()), &caller.user.limits, now),
        },
        "key": key_json(&key),
        "credit_unit": state.credits.to_json(),
        "models": caller.snapshot.models_for(&caller.key),
        "recent_calls": recent.iter().map(member_call_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// The user a `/me` request speaks for: the signed-in console user when no key is presented,
/// else the key's user.
pub(crate) async fn caller_user_id(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if crate::gateway::presented_key(headers).is_none()
        && let Some(session) = crate::sessions::from_headers(state, headers).await?
    {
        return Ok(session.user.id);
    }
    Ok(authenticate(state, headers)?.user.id.clone())
}

/// `/me` for a signed-in console user: no key, every model, the user's recent calls.
async fn session_me(state: &AppState, session: &crate::sessions::Session) -> Result<Response, ApiError> {
    let user = &session.user;
    let filter = CallFilter { user_id: Some(user.id.clone()), ..CallFilter::default() };
    let recent = crate::store::call_list::list(&state.db, &filter, None, 10).await?;
    let snap = state.snapshot.load();
    let limits = snap.users.get(&user.id).map(|u| u.limits).unwrap_or_default();
    let mut models: Vec<String> = snap.models.keys().cloned().collect();
    models.sort();
    let now = crate::clock::now_ms();
    Ok(Json(json!({
        "object": "me",
        "user": user_json(state, user),
        "limits": {"key": null, "user": limits_json(state, (Scope::User, user.id.clone()), &limits, now)},
        "key": null,
        "credit_unit": state.credits.to_json(),
        "models": models,
        // Members see no provider internals (ids, provider error text) nor the provider cost.
        "recent_calls": recent.iter().map(member_call_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// One subject's limits with their live state; `null` for what is not limited.
fn limits_json(state: &AppState, subject: Subject, l: &Limits, now_ms: i64) -> Value {
    let budget = state.budgets.status(&subject, l, now_ms).map(|b| {
        json!({
            "limit": format_credits(b.limit), "spent": format_credits(b.spent), "reserved": format_credits(b.reserved),
            "remaining": format_credits((b.limit - b.spent - b.reserved).max(0)),
            "period": b.period.map(|p| p.as_str()), "resets_at": b.resets_at_ms.map(crate::clock::rfc3339),
        })
    });
    json!({
        "rpm": l.rpm, "tpm": l.tpm, "max_concurrency": l.max_concurrency,
        "in_flight": state.limiter.in_flight(&subject),
        "budget": budget,
    })
}
