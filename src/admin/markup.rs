//! Markups through the management API: `GET/PUT /api/v1/markup` (the global default rule),
//! and the `multiplier` / `request_fee` fields that models and providers carry (their
//! levels of the rule, see `billing::markup`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api::{ApiBody, parse_body};
use crate::billing::markup::{Rule, RuleInput};
use crate::error::ApiError;
use crate::snapshot::MARKUP_SETTING;
use crate::state::AppState;

/// Applies the parts of a rule a body gives (`null` clears one) to `rule`.
pub(crate) fn apply(input: RuleInput, rule: &mut Rule) -> Result<(), ApiError> {
    input.apply(rule).map_err(|(field, e)| ApiError::invalid(e).with_param(field))
}

/// The global rule as stored (none set: an empty rule, calls at cost).
pub(crate) async fn global(state: &AppState) -> Result<Rule, ApiError> {
    let stored = crate::store::settings::get(&state.db, MARKUP_SETTING).await?;
    Ok(stored.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

/// Replaces the parts of the global rule `input` gives and reloads the snapshot.
pub(crate) async fn set_global(state: &AppState, input: RuleInput) -> Result<Rule, ApiError> {
    let mut rule = global(state).await?;
    apply(input, &mut rule)?;
    let text = serde_json::to_string(&rule).expect("a rule serializes");
    crate::store::settings::set(&state.db, MARKUP_SETTING, &text).await?;
    state.reload().await?;
    Ok(rule)
}

fn rule_json(rule: &Rule) -> Value {
    let mut v = rule.to_json();
    v["object"] = "markup".into();
    v
}

pub async fn get(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    Ok(Json(rule_json(&global(&state).await?)).into_response())
}

/// `PUT /api/v1/markup {multiplier?, request_fee?}`: parts left out are kept, `null` clears.
pub async fn put(State(state): State<Arc<AppState>>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let rule = set_global(&state, parse_body(&body)?).await?;
    Ok(Json(rule_json(&rule)).into_response())
}
