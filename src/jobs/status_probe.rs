//! The status probe (`[status] probe_interval`, off by default): every interval, each target
//! of a configured model that had no counted call for a whole interval is sent the smallest
//! request its protocol has (`protocol::probe`: one token, or one word to embed) through the
//! normal provider path (`providers::send`, the gateway's HTTP client and timeouts), with a
//! credential the planner could use now. The result goes to the status board as a probe
//! (`routing::status`), never into call records, the ledger, the metrics or the breakers:
//! nobody is charged and no member's statistics change. Models whose catalog entry makes only
//! images or audio are not probed (a probe of those costs real money), nor are patterns (no
//! concrete upstream model to ask).

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::protocol::probe::{self, ProbeKind};
use crate::providers::Outbound;
use crate::providers::operation::Operation;
use crate::providers::send;
use crate::routing::health::HealthKey;
use crate::routing::resolve::Route;
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Probes in flight at once.
const CONCURRENCY: usize = 8;
/// The most of a probe's answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// Runs while the gateway lives (holding it only during a round).
pub async fn run(state: Weak<AppState>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(s) = state.upgrade() else { return };
        round(&s, interval).await;
    }
}

/// One round: probes every idle target once.
pub async fn round(state: &Arc<AppState>, interval: Duration) {
    let snap = state.snapshot.load_full();
    let now_ms = crate::clock::now_ms();
    let since = now_ms - interval.as_millis() as i64;
    let board = &state.routing.status;
    let mut seen = HashSet::new();
    let mut due = Vec::new();
    for name in snap.models.keys() {
        if !board.idle_since(name, since) {
            continue;
        }
        for route in crate::routing::failover::routes(&snap, name) {
            let key = HealthKey::target(&route.provider.id, &route.upstream_model).to_string();
            // A target that served a call within the interval needs no probe.
            if board.target(&key).1.is_some_and(|ok| ok >= since) || !seen.insert(key.clone()) {
                continue;
            }
            if let Some(kind) = kind_of(&snap, &route) {
                due.push((route, key, kind));
            }
        }
    }
    futures_util::stream::iter(due)
        .for_each_concurrent(CONCURRENCY, |(route, key, kind)| async move {
            if let Some(ok) = probe_target(state, &route, kind).await {
                state.routing.status.record_probe(&key, ok, crate::clock::now_ms());
            }
        })
        .await;
}

/// What to ask a target: from its catalog entry's outputs (a model outside the catalog is
/// asked for a token); `None` for models a probe would spend real money on, and embeddings
/// where the protocol has none.
fn kind_of(snap: &Snapshot, route: &Route) -> Option<ProbeKind> {
    let kind = match snap.catalog.get(route.provider.kind.as_str(), &route.upstream_model) {
        None => ProbeKind::Chat,
        Some(entry) => {
            let (_, outputs) = entry.modalities();
            if outputs.iter().any(|o| o == "text") {
                ProbeKind::Chat
            } else if outputs.iter().any(|o| o == "embeddings") {
                ProbeKind::Embeddings
            } else {
                return None;
            }
        }
    };
    probe::body(route.provider.kind.protocol(), kind, "").map(|_| kind)
}

/// Sends one probe; `Some(true)` when the target answered, `None` when no credential of it can
/// be used now (the status already says so).
async fn probe_target(state: &AppState, route: &Route, kind: ProbeKind) -> Option<bool> {
    let provider = &route.provider;
    let now = Instant::now();
    let health = &state.routing.health;
    if !provider.enabled {
        return None;
    }
    let credential = provider
        .credentials
        .iter()
        .find(|c| c.enabled && c.weight > 0 && health.available(&HealthKey::credential(&c.id), now))?;
    let protocol = provider.kind.protocol();
    let body = probe::body(protocol, kind, &route.upstream_model)?;
    let operation = match kind {
        ProbeKind::Chat => Operation::Chat,
        ProbeKind::Embeddings => Operation::Embeddings,
    };
    let request_id = format!("probe-{}", crate::store::new_id());
    let headers = HeaderMap::new();
    let outbound = Outbound {
        provider,
        credential,
        operation,
        upstream_model: &route.upstream_model,
        stream: false,
        body: Bytes::from(serde_json::to_vec(&body).expect("a JSON value serializes")),
        request_id: &request_id,
        client_headers: &headers,
    };
    let total = Duration::from_millis(provider.timeouts.total_ms);
    let attempt = async {
        let (resp, _) = send::send(&state.http, outbound).await.map_err(|e| e.detail(provider, &credential.name))?;
        let status = resp.status();
        let idle = Duration::from_millis(provider.timeouts.idle_ms);
        let answer = send::read_prefix(resp.into_body(), idle, MAX_ANSWER).await;
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        match crate::protocol::not_an_answer(&answer, probe::answer_member(protocol, kind)) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    };
    let result = tokio::time::timeout(total, attempt).await.unwrap_or_else(|_| Err("timed out".into()));
    if let Err(why) = &result {
        tracing::info!(
            probe = true,
            provider = provider.name.as_str(),
            model = route.upstream_model,
            "status probe failed: {why}"
        );
    }
    Some(result.is_ok())
}
