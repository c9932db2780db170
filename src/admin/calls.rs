//! `/api/v1/calls`: the usage log, filtered and paged by cursor (newest first), as JSON or CSV.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, not_found, page, page_limit, query_time};
use crate::billing::markup::Markup;
use crate::billing::money::format_credits;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::calls::{self as q, CallFilter, CallRecord};

type S = State<Arc<AppState>>;

pub(crate) fn call_json(c: &CallRecord) -> Value {
    json!({
        "id": c.id, "object": "call", "request_id": c.request_id, "trace_id": c.trace_id,
        "user_id": c.user_id, "key_id": c.key_id, "app": c.app, "dialect": c.dialect, "endpoint": c.endpoint,
        "model": c.model, "provider_id": c.provider_id, "credential_id": c.credential_id,
        "upstream_model": c.upstream_model, "stream": c.stream, "status": c.status, "http_status": c.http_status,
        "error_class": c.error_class, "error_message": c.error_message,
        "input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "cached_tokens": c.cached_tokens,
        "cache_write_tokens": c.cache_write_tokens, "reasoning_tokens": c.reasoning_tokens, "images": c.images,
        "cost": format_credits(c.cost), "price": c.price.map(|p| p.to_json()), "attempts": c.attempts,
        "started_at": crate::clock::rfc3339(c.started_at), "duration_ms": c.duration_ms, "ttft_ms": c.ttft_ms,
        "overhead_us": c.overhead_us, "usage_estimated": c.usage_estimated,
        "provider_cost": format_credits(c.provider_cost), "markup": markup_json(&c.markup),
        "effective_price": c.price.map(|p| c.markup.effective(&p).to_json()),
    })
}

fn markup_json(m: &Markup) -> Value {
    json!({"multiplier": m.multiplier.to_decimal(), "request_fee": format_credits(m.request_fee)})
}

/// A call as its member sees it: what they were charged and at what price, without provider
/// internals (ids, upstream model, provider error text) or the operator's cost and markup.
pub(crate) fn member_call_json(c: &CallRecord) -> Value {
    let mut v = call_json(c);
    if let Some(o) = v.as_object_mut() {
        for field in
            ["provider_id", "credential_id", "error_message", "upstream_model", "price", "provider_cost", "markup"]
        {
            o.remove(field);
        }
    }
    v
}

#[derive(Deserialize)]
pub struct CallQuery {
    user_id: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(State(state): S, ApiQuery(p): ApiQuery<CallQuery>) -> Result<Response, ApiError> {
    let provider_id = match &p.provider {
        Some(name_or_id) => {
            let snap = state.snapshot.load();
            Some(snap.providers_by_name.get(name_or_id).map_or(name_or_id.clone(), |pr| pr.id.clone()))
        }
        None => None,
    };
    let filter = CallFilter {
        user_id: p.user_id.clone(),
        key_id: p.key_id.clone(),
        model: p.model.clone(),
        provider_id,
        status: p.status.clone(),
        from_ms: query_time("from", &p.from)?,
        to_ms: query_time("to", &p.to)?,
    };
    let limit = page_limit(p.limit);
    let rows = q::list(&state.db, &filter, p.cursor.as_deref(), limit).await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(page(rows, limit, |c| c.id.clone(), call_json)),
        Some("csv") => Ok(csv(&rows)),
        Some(_) => Err(ApiError::invalid("`format` must be json or csv").with_param("format")),
    }
}

const CSV_COLUMNS: &[&str] = &[
    "id",
    "request_id",
    "user_id",
    "key_id",
    "dialect",
    "endpoint",
    "model",
    "provider_id",
    "upstream_model",
    "status",
    "http_status",
    "error_class",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "provider_cost",
    "usage_estimated",
    "started_at",
    "duration_ms",
    "ttft_ms",
];

fn csv(rows: &[CallRecord]) -> Response {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for c in rows {
        let j = call_json(c);
        let fields: Vec<String> = CSV_COLUMNS
            .iter()
            .map(|col| match &j[*col] {
                Value::Null => String::new(),
                Value::String(s) => csv_field(s),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}

/// Quotes a CSV field when needed, and defuses spreadsheet formulas.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let c = q::get(&state.db, &id).await?.ok_or_else(|| not_found("call", &id))?;
    Ok(Json(call_json(&c)).into_response())
}
