//! `GET /api/v1/me`: what a Tollgate key can see about itself — its user, balance, limits and
//! recent usage.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::calls::call_json;
use super::keys::key_json;
use crate::billing::money::format_credits;
use crate::error::ApiError;
use crate::gateway::authenticate;
use crate::state::AppState;
use crate::store::calls::CallFilter;

pub async fn get(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers)?;
    let key = crate::store::api_keys::get(&state.db, &caller.key.id).await?.ok_or_else(ApiError::internal)?;
    let user = crate::store::users::get(&state.db, &caller.user.id).await?.ok_or_else(ApiError::internal)?;
    let filter = CallFilter { key_id: Some(key.id.clone()), ..CallFilter::default() };
    let recent = crate::store::calls::list(&state.db, &filter, None, 10).await?;
    Ok(Json(json!({
        "object": "me",
        "user": {
            "id": user.id, "name": user.name, "email": user.email, "plan": user.plan, "limits": user.limits,
            "balance": format_credits(state.accounts.balance(&user.id)),
        },
        "key": key_json(&key),
        "models": caller.snapshot.models_for(&caller.key),
        "recent_calls": recent.iter().map(call_json).collect::<Vec<_>>(),
    }))
    .into_response())
}
