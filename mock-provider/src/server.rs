//! HTTP routing: the model routes (plain and `/s/{opts}`-prefixed), the `/_` control routes,
//! and the per-request pipeline (record, resolve options, delay, scripted error, dispatch).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;

use crate::key_scenario::KeyScenarios;
use crate::options::{Behaviour, Effective};
use crate::stats::{COUNTED_PATHS, RecordedRequest, Recorder, Stats};
use crate::{body, chat, embeddings, errors};

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 << 20;

/// `GET /v1/models` body.
const MODELS: &str = concat!(
    r#"{"object":"list","data":["#,
    r#"{"id":"mock-gpt","object":"model","created":1700000000,"owned_by":"mock"},"#,
    r#"{"id":"mock-gpt-mini","object":"model","created":1700000000,"owned_by":"mock"},"#,
    r#"{"id":"mock-embedding","object":"model","created":1700000000,"owned_by":"mock"}"#,
    r#"]}"#
);

/// Server state shared by all requests.
pub(crate) struct App {
    defaults: Behaviour,
    recorder: Recorder,
    /// Scenarios carried by credentials (`mock:{opts}`).
    keys: KeyScenarios,
    /// Response bodies dropped before their end (see [`Stats::unfinished_bodies`]).
    unfinished: Arc<AtomicU64>,
    /// Numbers completion ids and tool call ids.
    counter: AtomicU64,
    /// xorshift64 state for latency jitter.
    rng: AtomicU64,
}

/// A handle on a running mock's state: counters, last request, reset.
#[derive(Clone)]
pub struct MockHandle {
    app: Arc<App>,
}

impl MockHandle {
    /// A snapshot of the request counters.
    pub fn stats(&self) -> Stats {
        self.app.stats()
    }

    /// The last request to a model route, if any since the last reset.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.app.recorder.last_request()
    }

    /// Clears the counters and the last request.
    pub fn reset(&self) {
        self.app.reset();
    }
}

/// The mock's router and a handle on its state.
pub(crate) fn build(defaults: Behaviour) -> (Router, MockHandle) {
    let app = Arc::new(App {
        defaults,
        recorder: Recorder::default(),
        keys: KeyScenarios::default(),
        unfinished: Arc::new(AtomicU64::new(0)),
        counter: AtomicU64::new(1),
        rng: AtomicU64::new(0x2545_F491_4F6C_DD1D),
    });
    let mut router = Router::new();
    for path in COUNTED_PATHS {
        let scoped = format!("/s/{{opts}}{path}");
        router = if path == "/v1/models" {
            router.route(path, get(plain)).route(&scoped, get(scoped_handler))
        } else {
            router.route(path, post(plain)).route(&scoped, post(scoped_handler))
        };
    }
    let router = router
        .route("/_stats", get(stats))
        .route("/_reset", post(reset))
        .route("/_last", get(last))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app.clone());
    (router, MockHandle { app })
}

async fn plain(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path();
    serve(&app, path, None, &method, &uri, &headers, body).await
}

async fn scoped_handler(
    State(app): State<Arc<App>>,
    Path(opts): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // "/s/{opts}/v1/..." -> "/v1/...": the raw opts segment holds no '/'.
    let rest = uri.path().strip_prefix("/s/").unwrap_or_default();
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    serve(&app, path, Some(&opts), &method, &uri, &headers, body).await
}

async fn serve(
    app: &App,
    path: &str,
    opts: Option<&str>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = COUNTED_PATHS.iter().position(|p| *p == path) else {
        return not_found().await;
    };
    let full_path = uri.path_and_query().map_or(path, |pq| pq.as_str());
    app.recorder.record(route, method, full_path, headers, &body);
    let behaviour = match opts {
        None => app.defaults,
        Some(opts) => match app.defaults.with_scenario(opts) {
            Ok(b) => b,
            Err(e) => return errors::bad_request(&e.0),
        },
    };
    let behaviour = match app.keys.apply(behaviour, crate::stats::credential(headers)) {
        Ok(b) => b,
        Err(e) => return errors::bad_request(&e.0),
    };
    let eff = behaviour.resolve();
    let wait = delay_ms(&eff, &app.rng);
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    if eff.status != 200 {
        return errors::scripted_error(eff.status, eff.retry_after);
    }
    let resp = match route {
        0 => chat::handle(&body, &eff, &app.counter),
        1 => embeddings::handle(&body, &eff),
        _ => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], MODELS).into_response(),
    };
    resp.map(|b| body::counting_drops(b, app.unfinished.clone()))
}

/// Wait before headers: latency ± uniform jitter, plus the stall.
fn delay_ms(eff: &Effective, rng: &AtomicU64) -> u64 {
    let mut wait = eff.latency_ms;
    if eff.jitter_ms > 0 {
        let span = 2 * eff.jitter_ms + 1;
        let offset = next_random(rng) % span;
        wait = (wait + offset).saturating_sub(eff.jitter_ms);
    }
    wait.saturating_add(eff.stall_ms)
}

/// xorshift64; a lost update under contention only repeats a value, which is harmless.
fn next_random(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.store(x, Ordering::Relaxed);
    x
}

impl App {
    fn stats(&self) -> Stats {
        Stats { unfinished_bodies: self.unfinished.load(Ordering::Relaxed), ..self.recorder.stats() }
    }

    fn reset(&self) {
        self.recorder.reset();
        self.keys.reset();
        self.unfinished.store(0, Ordering::Relaxed);
    }
}

async fn stats(State(app): State<Arc<App>>) -> Json<Stats> {
    Json(app.stats())
}

async fn reset(State(app): State<Arc<App>>) -> StatusCode {
    app.reset();
    StatusCode::NO_CONTENT
}

async fn last(State(app): State<Arc<App>>) -> Json<Option<RecordedRequest>> {
    Json(app.recorder.last_request())
}

async fn not_found() -> Response {
    errors::error_response(404, "mock-provider: no such route", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        let rng = AtomicU64::new(7);
        let eff = Behaviour { latency_ms: Some(10), jitter_ms: Some(5), ..Default::default() }.resolve();
        let waits: Vec<u64> = (0..1000).map(|_| delay_ms(&eff, &rng)).collect();
        assert!(waits.iter().all(|w| (5..=15).contains(w)));
        assert!(waits.contains(&5) && waits.contains(&15));
        let models: serde_json::Value = serde_json::from_str(MODELS).unwrap();
        assert_eq!(models["data"][0]["id"], "mock-gpt");
    }
}
