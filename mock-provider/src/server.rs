//! HTTP serving: the model routes of every dialect (plain and `/s/{opts}`-prefixed), the `/_`
//! control routes, and the per-request pipeline (record, resolve options, header checks,
//! delay, scripted error, dispatch).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use bytes::Bytes;

use crate::MockConfig;
use crate::images::{ImageLog, ImageRequest};
use crate::key_scenario::KeyScenarios;
use crate::options::{Behaviour, Effective};
use crate::route::{self, Dialect, Endpoint};
use crate::sigv4::Signed;
use crate::stats::{RecordedRequest, Recorder, Stats};
use crate::{
    anthropic, azure, bedrock, bedrock_auth, body, chat, embed_kinds, embeddings, errors, gemini, image_generation,
    models, responses,
};

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 << 20;

/// Server state shared by all requests.
pub(crate) struct App {
    defaults: Behaviour,
    /// When set, Bedrock signatures are verified with this secret access key.
    aws_secret: Option<String>,
    recorder: Recorder,
    /// Scenarios carried by credentials (`mock:{opts}`).
    keys: KeyScenarios,
    /// Requests to the image routes (`/_img/...`).
    images: ImageLog,
    /// Stored Responses-API responses (`GET /v1/responses/{id}`).
    responses: responses::Store,
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

    /// The requests to the image routes since the last reset, in order.
    pub fn image_requests(&self) -> Vec<ImageRequest> {
        self.app.images.list()
    }
}

/// The mock's router and a handle on its state.
pub(crate) fn build(config: MockConfig) -> (Router, MockHandle) {
    let app = Arc::new(App {
        defaults: config.defaults,
        aws_secret: config.aws_secret_access_key,
        recorder: Recorder::default(),
        keys: KeyScenarios::default(),
        images: ImageLog::default(),
        responses: responses::Store::default(),
        unfinished: Arc::new(AtomicU64::new(0)),
        counter: AtomicU64::new(1),
        rng: AtomicU64::new(0x2545_F491_4F6C_DD1D),
    });
    let router = Router::new()
        .route("/_stats", get(stats))
        .route("/_reset", post(reset))
        .route("/_last", get(last))
        .route("/_img/{name}", get(image))
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app.clone());
    (router, MockHandle { app })
}

/// Every model route, plain or under `/s/{opts}`: record, resolve the options, check the
/// dialect's headers, wait, answer with the scripted error or the dialect's reply.
async fn dispatch(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let (opts, path) = route::split_scenario(uri.path());
    let Some(endpoint) = route::classify(path) else {
        return not_found();
    };
    let expected = endpoint.method();
    let head_of_get = method == Method::HEAD && expected == Method::GET;
    if method != expected && !head_of_get {
        let allow = if expected == Method::GET { "GET,HEAD" } else { "POST" };
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, allow)]).into_response();
    }
    let dialect = endpoint.dialect(&headers);
    let full_path = uri.path_and_query().map_or(path, |pq| pq.as_str());
    app.recorder.record(dialect, path, &method, full_path, &headers, &body);
    let behaviour = match opts {
        None => app.defaults,
        Some(opts) => match app.defaults.with_scenario(&opts) {
            Ok(b) => b,
            Err(e) => return errors::bad_request(dialect, &e.0),
        },
    };
    let behaviour = match app.keys.apply(behaviour, crate::stats::credential(&headers)) {
        Ok(b) => b,
        Err(e) => return errors::bad_request(dialect, &e.0),
    };
    let eff = behaviour.resolve();
    let signed = Signed {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    if let Some(refused) = refusal(&app, dialect, &endpoint, &signed) {
        return refused;
    }
    let wait = delay_ms(&eff, &app.rng);
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    if eff.status != 200 {
        return errors::scripted_error(dialect, eff.status, eff.retry_after, eff.error_bytes);
    }
    let counter = &app.counter;
    let resp = match &endpoint {
        Endpoint::ChatCompletions => chat::handle(&body, &eff, counter, Dialect::OpenAi, "mock-gpt"),
        Endpoint::Embeddings => embeddings::handle(&body, &eff, Dialect::OpenAi, "mock-embedding"),
        Endpoint::Models => models::list(dialect),
        Endpoint::Messages => anthropic::handle(&body, &eff, counter),
        Endpoint::CountTokens => anthropic::count_tokens(&body, &eff),
        Endpoint::Generate { model, stream } => gemini::handle(&body, &eff, counter, model, *stream),
        Endpoint::GeminiEmbed { model } => embed_kinds::gemini(&body, &eff, model),
        Endpoint::Converse { stream, .. } => bedrock::handle(&body, &eff, counter, *stream),
        Endpoint::Invoke { model } => embed_kinds::bedrock(&body, &eff, model),
        Endpoint::AzureChat { deployment } => chat::handle(&body, &eff, counter, Dialect::Azure, deployment),
        Endpoint::AzureEmbeddings { deployment } => embeddings::handle(&body, &eff, Dialect::Azure, deployment),
        Endpoint::ImageGenerations => image_generation::handle(&body, &eff, Dialect::OpenAi),
        Endpoint::AzureImageGenerations { .. } => image_generation::handle(&body, &eff, Dialect::Azure),
        Endpoint::Responses { .. } => responses::handle(&body, &eff, counter, &app.responses),
        Endpoint::StoredResponse { id, items, .. } => app.responses.get(id, *items),
    };
    resp.map(|b| body::counting_drops(b, app.unfinished.clone()))
}

/// The dialect's own checks of the credential and protocol headers, as the real API makes
/// them: the refusal, if any.
fn refusal(app: &App, dialect: Dialect, endpoint: &Endpoint, req: &Signed) -> Option<Response> {
    let (headers, query) = (req.headers, req.query);
    match dialect {
        // The OpenAI routes accept anything: the bench and older tests send no key.
        Dialect::OpenAi => None,
        Dialect::Anthropic => anthropic::refusal(headers),
        Dialect::Gemini => gemini::refusal(headers, query, matches!(endpoint, Endpoint::Generate { stream: true, .. })),
        Dialect::Bedrock => bedrock_auth::refusal(req, app.aws_secret.as_deref()),
        // Azure's v1 API (`/openai/v1/...`) takes no api-version.
        Dialect::Azure if matches!(endpoint, Endpoint::Responses { .. } | Endpoint::StoredResponse { .. }) => {
            azure::refusal(headers, "api-version=v1")
        }
        Dialect::Azure => azure::refusal(headers, query),
    }
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
        self.images.reset();
        self.responses.reset();
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

async fn image(
    State(app): State<Arc<App>>,
    name: Path<String>,
    query: Query<std::collections::HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    crate::images::serve(&app.images, name, query, path, &headers).await
}

fn not_found() -> Response {
    errors::error(Dialect::OpenAi, 404, "mock-provider: no such route", None)
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
    }
}
