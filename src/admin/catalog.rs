//! `GET /api/v1/catalog`: the built-in price catalog (LiteLLM-derived), in the same decimal
//! credits-per-million-tokens form as a model's `pricing`; `?provider=KIND` narrows it.

use axum::Json;
use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::billing::catalog;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    provider: Option<String>,
}

pub async fn list(Query(q): Query<CatalogQuery>) -> Response {
    let c = catalog::embedded();
    let data: Vec<Value> = c
        .models
        .iter()
        .filter(|m| q.provider.as_deref().is_none_or(|p| p == m.provider))
        .map(|m| {
            json!({"provider": m.provider, "model": m.model, "pricing": m.pricing().to_json(),
                "max_output_tokens": m.max_output_tokens})
        })
        .collect();
    Json(json!({"object": "list", "source": c.source, "data": data})).into_response()
}
