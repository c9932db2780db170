//! The models' live status as the API shows it (`routing::status`: up, degraded, down or
//! unknown; success rate, median latency and calls counted over the last 15 minutes; when it
//! was last checked): `GET /api/v1/models/status` and each entry of `/api/v1/models/public`
//! (both answered in `public_models`, for whoever may read the models page). Nothing of
//! providers, credentials or targets is shown: the status is the model's.

use std::time::Instant;

use serde_json::{Value, json};

use crate::routing::failover;
use crate::routing::status::{self, ModelReport};
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// One model's status, as the status list and the models page show it.
pub(crate) fn status_json(r: &ModelReport) -> Value {
    let t = &r.traffic;
    json!({
        "status": r.state.as_str(),
        "success_rate": (t.calls > 0).then(|| t.successes as f64 / t.calls as f64),
        "p50_latency_ms": t.p50_ms,
        "calls": t.calls,
        "last_checked": r.last_checked_ms.map(crate::clock::rfc3339),
    })
}

/// The status of `name` now (`None` when nothing priced serves it).
pub(crate) fn report_now(state: &AppState, snap: &Snapshot, name: &str) -> Option<ModelReport> {
    let routing = &state.routing;
    let routes = failover::routes(snap, name);
    status::report(&routes, &routing.health, &routing.status, name, Instant::now(), crate::clock::now_ms())
}

/// The status list of `names` (those nothing priced serves are left out, as in the offers).
pub(crate) fn list_json(state: &AppState, snap: &Snapshot, names: &[String]) -> Value {
    let data: Vec<Value> = names
        .iter()
        .filter_map(|name| {
            let mut v = status_json(&report_now(state, snap, name)?);
            v["id"] = name.as_str().into();
            Some(v)
        })
        .collect();
    json!({"object": "list", "window_minutes": status::WINDOW_MS / 60_000, "data": data})
}
