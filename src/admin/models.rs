//! `/api/v1/models`: public model names, their targets (provider + upstream model, weight,
//! price) and fallbacks. A name may be a pattern with one `*` (`claude-*`, `anthropic/*`);
//! its targets' models may then hold a `*`, filled with what the name's `*` matched.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiBody, created, not_found, parse_body, required_name};
use crate::billing::markup::{MultiplierInput, RuleInput, nullable};
use crate::billing::money::Credits;
use crate::billing::pricing::{Pricing, PricingInput};
use crate::error::ApiError;
use crate::snapshot::pattern::Pattern;
use crate::state::AppState;
use crate::store::models::{self as q, ModelRow, TargetRow};

type S = State<Arc<AppState>>;

fn pricing_json(p: &Option<Pricing>) -> Value {
    p.as_ref().map_or(Value::Null, Pricing::to_json)
}

fn model_json(m: &ModelRow, state: &AppState) -> Value {
    let snap = state.snapshot.load();
    json!({
        "id": m.id, "object": "model", "name": m.name,
        "targets": m.targets.iter().map(|t| json!({
            "provider_id": t.provider_id,
            "provider": snap.providers.get(&t.provider_id).map(|p| p.name.clone()),
            "model": t.upstream_model, "weight": t.weight, "pricing": pricing_json(&t.pricing),
        })).collect::<Vec<_>>(),
        "fallbacks": m.fallbacks, "pricing": pricing_json(&m.pricing), "free": m.free, "enabled": m.enabled,
        "multiplier": m.markup.to_json()["multiplier"], "request_fee": m.markup.to_json()["request_fee"],
        "created_at": crate::clock::rfc3339(m.created_at), "updated_at": crate::clock::rfc3339(m.updated_at),
    })
}

/// The API and declarative-config form of a model.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelBody {
    pub name: Option<String>,
    pub targets: Option<Vec<TargetBody>>,
    pub fallbacks: Option<Vec<String>>,
    pub pricing: Option<Option<PricingInput>>,
    pub free: Option<bool>,
    pub enabled: Option<bool>,
    /// The model's markup over its base price (`null` clears it: the provider's or global one applies).
    #[serde(default, deserialize_with = "nullable")]
    pub multiplier: Option<Option<MultiplierInput>>,
    /// A fixed fee per priced call, in credits (`null` clears it).
    #[serde(default, deserialize_with = "nullable")]
    pub request_fee: Option<Option<Credits>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetBody {
    /// The provider's name or id.
    pub provider: String,
    pub model: String,
    pub weight: Option<i64>,
    pub pricing: Option<PricingInput>,
}

fn pricing_of(p: &PricingInput, param: &'static str) -> Result<Pricing, ApiError> {
    p.to_pricing().map_err(|e| ApiError::invalid(e).with_param(param))
}

fn targets_of(state: &AppState, targets: &[TargetBody]) -> Result<Vec<TargetRow>, ApiError> {
    if targets.is_empty() {
        return Err(ApiError::invalid("a model needs at least one target").with_param("targets"));
    }
    if targets.len() > super::text::LIST_MAX {
        return Err(ApiError::invalid("a model may have at most 1000 targets").with_param("targets"));
    }
    let snap = state.snapshot.load();
    targets
        .iter()
        .map(|t| {
            let provider =
                snap.providers.get(&t.provider).or_else(|| snap.providers_by_name.get(&t.provider)).ok_or_else(
                    || ApiError::invalid(format!("unknown provider `{}`", t.provider)).with_param("targets"),
                )?;
            let weight = t.weight.unwrap_or(100);
            if !(0..=1_000_000).contains(&weight) {
                return Err(ApiError::invalid("target weight must be between 0 and 1000000").with_param("targets"));
            }
            Ok(TargetRow {
                id: crate::store::new_id(),
                provider_id: provider.id.clone(),
                upstream_model: required_name("targets.model", &t.model)?,
                weight,
                pricing: t.pricing.as_ref().map(|p| pricing_of(p, "targets")).transpose()?,
            })
        })
        .collect()
}

/// Applies a body to a model row (all fields for a create, present ones for an update).
pub(crate) fn apply(state: &AppState, row: &mut ModelRow, b: ModelBody) -> Result<(), ApiError> {
    if let Some(n) = b.name {
        row.name = required_name("name", &n)?;
    }
    if let Some(t) = b.targets {
        row.targets = targets_of(state, &t)?;
    }
    if let Some(f) = b.fallbacks {
        row.fallbacks = f.into_iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect();
        super::text::check_list("fallbacks", &row.fallbacks)?;
        if row.fallbacks.contains(&row.name) {
            return Err(ApiError::invalid("a model cannot be its own fallback").with_param("fallbacks"));
        }
    }
    if let Some(p) = b.pricing {
        row.pricing = p.as_ref().map(|p| pricing_of(p, "pricing")).transpose()?;
    }
    if let Some(f) = b.free {
        row.free = f;
    }
    if let Some(e) = b.enabled {
        row.enabled = e;
    }
    super::markup::apply(RuleInput { multiplier: b.multiplier, request_fee: b.request_fee }, &mut row.markup)?;
    check_pattern(row)
}

/// A pattern name has one `*`; a target's model may hold one `*` only under a pattern name.
fn check_pattern(row: &ModelRow) -> Result<(), ApiError> {
    let is_pattern = match Pattern::parse(&row.name) {
        None => false,
        Some(Ok(_)) => true,
        Some(Err(e)) => return Err(ApiError::invalid(e).with_param("name")),
    };
    for t in &row.targets {
        let stars = t.upstream_model.matches('*').count();
        if stars > 1 || (stars == 1 && !is_pattern) {
            return Err(ApiError::invalid(format!(
                "target model `{}`: a `*` (at most one) is filled from a pattern name such as `claude-*`; `{}` is not one",
                t.upstream_model, row.name
            ))
            .with_param("targets"));
        }
    }
    Ok(())
}

pub async fn list(State(state): S) -> Result<Response, ApiError> {
    let rows = q::list(&state.db).await?;
    Ok(Json(json!({"data": rows.iter().map(|m| model_json(m, &state)).collect::<Vec<_>>(), "next_cursor": null}))
        .into_response())
}

pub(crate) fn new_row() -> ModelRow {
    let now = crate::clock::now_ms();
    ModelRow {
        id: crate::store::new_id(),
        name: String::new(),
        fallbacks: Vec::new(),
        pricing: None,
        free: false,
        markup: Default::default(),
        enabled: true,
        targets: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

pub async fn create(State(state): S, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let row = create_model(&state, parse_body(&body)?).await?;
    Ok(created(model_json(&row, &state)))
}

pub(crate) async fn create_model(state: &AppState, b: ModelBody) -> Result<ModelRow, ApiError> {
    if b.name.is_none() {
        return Err(ApiError::invalid("`name` is required").with_param("name"));
    }
    if b.targets.is_none() {
        return Err(ApiError::invalid("`targets` is required").with_param("targets"));
    }
    let mut row = new_row();
    apply(state, &mut row, b)?;
    save(state, &row).await?;
    state.reload().await?;
    Ok(row)
}

/// Stores a model, a clash on the name answered as a 409 on that field.
async fn save(state: &AppState, row: &ModelRow) -> Result<(), ApiError> {
    q::save(&state.db, row)
        .await
        .map_err(|e| super::api::clash(e, "name", format!("a model named `{}` exists", row.name)))
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<ModelRow, ApiError> {
    q::get(&state.db, id).await?.ok_or_else(|| not_found("model", id))
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(model_json(&load(&state, &id).await?, &state)).into_response())
}

pub async fn update(State(state): S, Path(id): Path<String>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    let row = update_model(&state, &id, parse_body(&body)?).await?;
    Ok(Json(model_json(&row, &state)).into_response())
}

pub(crate) async fn update_model(state: &AppState, id: &str, b: ModelBody) -> Result<ModelRow, ApiError> {
    let mut row = load(state, id).await?;
    apply(state, &mut row, b)?;
    row.updated_at = crate::clock::now_ms();
    save(state, &row).await?;
    state.reload().await?;
    Ok(row)
}

pub async fn delete(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = delete_model(&state, &id).await?;
    Ok(Json(json!({"id": row.id, "object": "model", "deleted": true})).into_response())
}

pub(crate) async fn delete_model(state: &AppState, id: &str) -> Result<ModelRow, ApiError> {
    let row = load(state, id).await?;
    q::delete(&state.db, &row.id).await?;
    state.reload().await?;
    Ok(row)
}
