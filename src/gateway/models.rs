//! `GET /v1/models`: the models this key may use, in the OpenAI shape, or the Anthropic shape
//! when the client sends `anthropic-version`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::authenticate;
use crate::protocol::Dialect;
use crate::protocol::anthropic;
use crate::protocol::openai::models::{ModelCard, model_card, model_entry, models_list};
use crate::routing::offers;
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Fixed creation time reported for configured models (clients only display it).
const CREATED: i64 = 1_700_000_000;

/// A model's entry: what it costs this caller and can do, like OpenRouter's (a name no priced
/// route serves gets the bare entry).
fn entry(snap: &Snapshot, name: &str) -> Value {
    match offers::offer(snap, name) {
        Some(o) => model_card(&ModelCard {
            id: name,
            created: CREATED,
            context_length: o.context_length,
            max_output_tokens: o.max_output_tokens,
            input_modalities: &o.input_modalities,
            output_modalities: &o.output_modalities,
            pricing: o.pricing.as_ref(),
        }),
        None => model_entry(name, CREATED),
    }
}

pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let dialect = Dialect::of_request("/v1/models", &headers);
    let caller = match authenticate(&state, &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response_in(dialect),
    };
    let names = caller.snapshot.models_for(&caller.key);
    let body = match dialect {
        Dialect::OpenAi => models_list(names.iter().map(|n| entry(&caller.snapshot, n)).collect()),
        Dialect::Anthropic => {
            let created = crate::clock::rfc3339(CREATED * 1000);
            anthropic::models_list(&names.iter().map(|n| (n.to_string(), created.clone())).collect::<Vec<_>>())
        }
    };
    Json(body).into_response()
}
