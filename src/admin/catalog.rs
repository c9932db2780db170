//! `GET /api/v1/catalog`: the price catalog in effect (LiteLLM-derived: the compiled-in one,
//! or the data directory's after `tollgate refresh-prices`), in the same decimal
//! credits-per-million-tokens form as a model's `pricing`; `?provider=KIND` narrows it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    provider: Option<String>,
}

pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<CatalogQuery>) -> Response {
    let c = state.catalog.load_full();
    let data: Vec<Value> = c
        .models
        .iter()
        .filter(|m| q.provider.as_deref().is_none_or(|p| p == m.provider))
        .map(|m| {
            json!({"provider": m.provider, "model": m.model, "pricing": state.credits.from_usd(&m.pricing()).to_json(),
                "max_output_tokens": m.max_output_tokens})
        })
        .collect();
    let counts: serde_json::Map<String, Value> =
        c.counts().into_iter().map(|(k, n)| (k.to_string(), n.into())).collect();
    Json(json!({"object": "list", "source": c.source, "models_by_provider": counts,
        "credit_unit": state.credits.to_json(), "data": data}))
    .into_response()
}
