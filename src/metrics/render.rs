//! Every family in the Prometheus text format, for `GET /metrics`. Counters come from
//! [`super::Metrics`]; health gauges are read from the routing state at scrape time, for every
//! credential of the snapshot (disabled ones too) and every target of an enabled model.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

pub use super::exposition::CONTENT_TYPE;
use super::exposition::{Exposition, Value};
use super::{AttemptOutcome, Metrics, STATUSES};
use crate::routing::health::{Health, HealthKey};
use crate::snapshot::Snapshot;

/// The usage writer's figures: writes the database refused for good, and writes waiting.
#[derive(Clone, Copy, Default)]
pub struct UsageFigures {
    pub rejected: u64,
    pub backlog: usize,
}

/// The exposition: the counters of `metrics`, the usage writer's figures and the health
/// gauges of `snap`'s credentials and targets.
pub fn render(metrics: &Metrics, usage: UsageFigures, snap: &Snapshot, health: &Health) -> String {
    let mut e = Exposition::default();
    counters(metrics, usage, &mut e);
    health_gauges(snap, health, &mut e);
    e.finish()
}

fn counters(m: &Metrics, usage: UsageFigures, e: &mut Exposition) {
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
    e.sample("tollgate_usage_writes_rejected_total", &[], Value::Int(usage.rejected));
    e.family("tollgate_usage_backlog", "gauge", "Call records waiting for the database writer.");
    e.sample("tollgate_usage_backlog", &[], Value::Int(usage.backlog as u64));
    e.family(
        "tollgate_calls_shed_total",
        "counter",
        "Calls refused with 503 overloaded, unrecorded, because the usage backlog was full.",
    );
    e.sample("tollgate_calls_shed_total", &[], Value::Int(m.shed.load(Relaxed)));
}

fn health_gauges(snap: &Snapshot, health: &Health, e: &mut Exposition) {
    let now = Instant::now();
    let provider_name = |id: &str| snap.providers.get(id).map_or_else(|| id.to_string(), |p| p.name.clone());
    // By provider id, then in the provider's own order (creation): as the store lists them.
    let mut providers: Vec<_> = snap.providers.values().collect();
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    let creds: Vec<_> = providers
        .iter()
        .flat_map(|p| p.credentials.iter().map(move |c| (p, c)))
        .map(|(p, c)| (p.name.clone(), c, health.credential_report(&c.id, c.enabled, None, now)))
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
    let reports: Vec<_> = targets
        .iter()
        .map(|(name, id, model)| (name, *model, health.report(&HealthKey::target(id, model), now)))
        .collect();
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
