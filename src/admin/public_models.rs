//! `GET /api/v1/models/public`: the models a caller may use with their effective prices in
//! the credit unit and live status — for a Tollgate key the models it may use, for a signed-in
//! console user (or an admin key) every model, and for anyone when `[public] models_page =
//! true`. A key that is presented must be valid (401 otherwise), public page or not.
//! `GET /api/v1/models/status` answers the same callers with the status alone.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model_status::{self, status_json};
use crate::billing::credit_unit::CreditUnit;
use crate::billing::pricing::Pricing;
use crate::error::{ApiError, ErrorKind};
use crate::routing::offers::{self, Offer};
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Who is looking, and so which models they are shown.
pub(crate) enum Viewer {
    /// A Tollgate key: the models it may use.
    Key(Arc<crate::snapshot::KeyEntry>),
    /// A signed-in user, an admin key, or anyone on a public page: every model.
    Everyone,
}

impl Viewer {
    pub(crate) fn names(&self, snap: &Snapshot) -> Vec<String> {
        match self {
            Viewer::Key(k) => snap.models_for(k),
            Viewer::Everyone => snap.model_names(|_| true),
        }
    }
}

pub(crate) async fn viewer(state: &AppState, headers: &HeaderMap) -> Result<Viewer, ApiError> {
    if let Some(k) = crate::gateway::presented_key(headers) {
        if state.is_admin_key(k) {
            return Ok(Viewer::Everyone);
        }
        return crate::gateway::authenticate(state, headers).map(|c| Viewer::Key(c.key));
    }
    if crate::sessions::from_headers(state, headers).await?.is_some() || state.config.public.models_page {
        return Ok(Viewer::Everyone);
    }
    Err(ApiError::new(
        ErrorKind::Authentication,
        "missing API key: send `Authorization: Bearer <key>` or sign in to the console",
    )
    .with_code("invalid_api_key"))
}

/// One offer as the API shows it: prices per million tokens (per unit for requests and
/// images) in the credit unit, markup included; `pricing` is the first target's (its
/// `image_prices` the per-image prices by size and quality), `pricing_tiers` each of its
/// long-context and service-tier shapes with every price a call in it pays, and
/// `pricing_range` the lowest and highest of each base price when the targets differ.
pub(crate) fn offer_json(o: &Offer) -> Value {
    let tiers: Vec<Value> = o.pricing.iter().flat_map(Pricing::tiers).map(|t| t.to_json()).collect();
    json!({
        "id": o.name, "object": "model", "free": o.free,
        "pricing": o.pricing.as_ref().map(Pricing::to_json),
        "pricing_tiers": tiers,
        "pricing_range": o.range.as_ref().map(|(lo, hi)| json!({"min": lo.to_json(), "max": hi.to_json()})),
        "context_length": o.context_length, "max_output_tokens": o.max_output_tokens,
        "modalities": {"input": o.input_modalities, "output": o.output_modalities},
    })
}

/// The offers with their live status (`admin::model_status`), so a member sees a model is
/// down before spending a call on it.
pub(crate) fn list_json(state: &AppState, snap: &Snapshot, unit: &CreditUnit, viewer: &Viewer) -> Value {
    let offers = offers::offers(snap, &viewer.names(snap));
    let data: Vec<Value> = offers
        .iter()
        .map(|o| {
            let mut v = offer_json(o);
            v["status"] = model_status::report_now(state, snap, &o.name).map_or(Value::Null, |r| status_json(&r));
            v
        })
        .collect();
    json!({
        "object": "list",
        "credit_unit": unit.to_json(),
        "pricing_unit": format!(
            "{} per million tokens; per_request, per_image and image_prices per unit",
            unit.name
        ),
        "data": data,
    })
}

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let snap = state.snapshot.load();
    Ok(Json(list_json(&state, &snap, &state.credits, &viewer)).into_response())
}

pub async fn status(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let viewer = viewer(&state, &headers).await?;
    let snap = state.snapshot.load();
    Ok(Json(model_status::list_json(&state, &snap, &viewer.names(&snap))).into_response())
}
