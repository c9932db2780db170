//! `GET /metrics`: every family in the Prometheus text format. Counters come from
//! [`super::Metrics`]; health gauges are read from the routing state at scrape time, for every
//! credential (stored rows, so a disabled key shows) and every target of an enabled model.
//! Protected by the master key unless `TOLLGATE_METRICS_PUBLIC=true`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::exposition::{CONTENT_TYPE, Exposition, Value};
use super::{AttemptOutcome, STATUSES};
use crate::error::{ApiError, ErrorKind};
use crate::routing::health::target_key;
use crate::state::AppState;

pub async fn handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !state.config.metrics_public && !crate::gateway::presented_key(&headers).is_some_and(|k| state.is_admin_key(k)) {
        return ApiError::new(
            ErrorKind::Authentication,
            "metrics need the master key as `Authorization: Bearer` (or TOLLGATE_METRICS_PUBLIC=true)",
        )
        .with_code("invalid_api_key")
        .into_response();
    }
    let credentials = match crate::store::providers::list_credentials(&state.db, None).await {
        Ok(rows) => rows,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut e = Exposition::default();
    counters(&state, &mut e);
    health(&state, &credentials, &mut e);
    let mut resp = e.finish().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

fn counters(state: &AppState, e: &mut Exposition) {
    let m = &state.metrics;
    e.family("tollgate_requests_total", "counter", "Settled calls by requested model, provider and HTTP status.");
    m.calls.each(|model, provider, s| {
        for (i, c) in s.by_status.iter().enumerate() {
            let n = c.load(Relaxed);
            if n > 0 {
                let status = STATUSES.get(i).map_or_else(|| "other".to_string(), u16::to_string);
                let labels = [("model", model), ("provider", provider), ("status", status.as_str())];
                e.sample("tollgate_requests_total", &labels, Value::Int(n));
            }
        }
    });
    e.family("tollgate_request_duration_seconds", "histogram", "Whole call time, from request to settlement.");
    m.calls.each(|model, provider, s| {
        let (bounds, counts, sum) = s.duration.read();
        let labels = [("model", model), ("provider", provider)];
        e.histogram("tollgate_request_duration_seconds", &labels, &bounds, &counts, sum);
    });
    e.family("tollgate_tokens_total", "counter", "Tokens the provider reported, by kind.");
    m.calls.each(|model, provider, s| {
        let kinds = [
            ("input", &s.input_tokens),
            ("output", &s.output_tokens),
            ("cached", &s.cached_tokens),
            ("cache_write", &s.cache_write_tokens),
            ("reasoning", &s.reasoning_tokens),
        ];
        for (kind, c) in kinds {
            let labels = [("model", model), ("provider", provider), ("kind", kind)];
            e.sample("tollgate_tokens_total", &labels, Value::Int(c.load(Relaxed)));
        }
    });
    e.family("tollgate_cost_nano_credits_total", "counter", "Cost of settled calls in nano-credits.");
    m.calls.each(|model, provider, s| {
        let labels = [("model", model), ("provider", provider)];
        e.sample("tollgate_cost_nano_credits_total", &labels, Value::Int(s.cost_nano.load(Relaxed)));
    });
    e.family(
        "tollgate_upstream_attempts_total",
        "counter",
        "Upstream attempts by provider, credential id and outcome.",
    );
    m.attempts.each(|provider, credential, s| {
        for outcome in AttemptOutcome::ALL {
            let n = s.by_outcome[outcome as usize].load(Relaxed);
            if n > 0 {
                let labels = [("provider", provider), ("credential", credential), ("outcome", outcome.as_str())];
                e.sample("tollgate_upstream_attempts_total", &labels, Value::Int(n));
            }
        }
    });
    e.family(
        "tollgate_overhead_seconds",
        "histogram",
        "Gateway time per call: everything but waiting on the provider.",
    );
    let (bounds, counts, sum) = m.overhead.read();
    e.histogram("tollgate_overhead_seconds", &[], &bounds, &counts, sum);
    e.family(
        "tollgate_usage_writes_rejected_total",
        "counter",
        "Usage writes the database refused for good (e.g. the user's row is gone), set aside in the journal's rejected.jsonl.",
    );
    e.sample("tollgate_usage_writes_rejected_total", &[], Value::Int(state.usage.rejected()));
}

fn health(state: &AppState, credentials: &[crate::store::providers::CredentialRow], e: &mut Exposition) {
    let now = Instant::now();
    let snap = state.snapshot.load_full();
    let provider_name = |id: &str| snap.providers.get(id).map_or_else(|| id.to_string(), |p| p.name.clone());
    let health = &state.routing.health;
    let creds: Vec<_> = credentials
        .iter()
        .map(|c| {
            let r = health.credential_report(&c.id, c.enabled, c.disabled_reason.as_deref(), now);
            (provider_name(&c.provider_id), c, r)
        })
        .collect();
    let state_help = "0 healthy, 1 cooling, 2 half_open, 3 open, 4 disabled.";
    e.family("tollgate_credential_health_state", "gauge", state_help);
    for (provider, c, r) in &creds {
        let labels = [("provider", provider.as_str()), ("credential", c.id.as_str()), ("name", c.name.as_str())];
        e.sample("tollgate_credential_health_state", &labels, Value::Int(r.state_code()));
    }
    e.family("tollgate_credential_recent_error_rate", "gauge", "Share of failed attempts in the breaker window.");
    for (provider, c, r) in &creds {
        let labels = [("provider", provider.as_str()), ("credential", c.id.as_str()), ("name", c.name.as_str())];
        e.sample("tollgate_credential_recent_error_rate", &labels, Value::Float(r.recent_error_rate));
    }
    let targets: BTreeSet<(String, &str, &str)> = snap
        .models
        .values()
        .flat_map(|m| m.targets.iter())
        .map(|t| (provider_name(&t.provider_id), t.provider_id.as_str(), t.upstream_model.as_str()))
        .collect();
    let reports: Vec<_> =
        targets.iter().map(|(name, id, model)| (name, *model, health.report(&target_key(id, model), now))).collect();
    e.family("tollgate_target_health_state", "gauge", state_help);
    for (provider, model, r) in &reports {
        let labels = [("provider", provider.as_str()), ("upstream_model", *model)];
        e.sample("tollgate_target_health_state", &labels, Value::Int(r.state_code()));
    }
    e.family("tollgate_target_recent_error_rate", "gauge", "Share of failed attempts in the breaker window.");
    for (provider, model, r) in &reports {
        let labels = [("provider", provider.as_str()), ("upstream_model", *model)];
        e.sample("tollgate_target_recent_error_rate", &labels, Value::Float(r.recent_error_rate));
    }
}
