//! OpenAI dialect in, OpenAI-protocol provider out: the body passes through with only `model`
//! rewritten (and usage requested on streams); the response is relayed as it arrives.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::admission;
use super::attempts::{self, Reply};
use super::auth::authenticate;
use super::call::CallGuard;
use super::detach;
use super::rate_headers;
use super::relay;
use super::request_id::RequestId;
use super::upstream::UpstreamFailure;
use crate::billing::money::format_credits;
use crate::billing::{estimate, ratelimit};
use crate::error::{ApiError, Dialect, ErrorKind};
use crate::protocol::openai;
use crate::routing::failover::{self, Plan};
use crate::routing::resolve::{self, Route};
use crate::state::AppState;

/// The OpenAI endpoints served by passthrough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Embeddings,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

pub async fn chat(state: State<Arc<AppState>>, rid: Extension<RequestId>, headers: HeaderMap, body: Body) -> Response {
    handle(state, rid, headers, body, Endpoint::Chat).await
}

pub async fn embeddings(
    state: State<Arc<AppState>>,
    rid: Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, rid, headers, body, Endpoint::Embeddings).await
}

async fn handle(
    State(state): State<Arc<AppState>>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Response {
    match run(state, &request_id, &headers, body, endpoint).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::info!(
                request_id,
                status = e.status().as_u16(),
                code = e.code.unwrap_or(""),
                "request refused: {}",
                e.message
            );
            e.into_response_in(Dialect::OpenAi)
        }
    }
}

async fn run(
    state: Arc<AppState>,
    request_id: &str,
    headers: &HeaderMap,
    body: Body,
    endpoint: Endpoint,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let caller = authenticate(&state, headers)?;
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(ErrorKind::PayloadTooLarge, format!("the request body is larger than the {limit}-byte limit"))
            .with_code("request_too_large")
    })?;
    let mut req = openai::parse_request(&bytes).map_err(ApiError::invalid)?;
    if req.stream && endpoint != Endpoint::Chat {
        return Err(ApiError::invalid("this endpoint does not stream").with_param("stream"));
    }
    if !caller.key.may_use(&req.model) {
        return Err(if resolve::is_known(&caller.snapshot, &req.model) {
            resolve::forbidden_model(&req.model)
        } else {
            resolve::unknown_model(&req.model)
        });
    }
    // Routing: the request's own `models` fallback list, then the failover plan.
    let request_models = failover::take_request_models(&mut req.body)?;
    let plan = failover::Plan::build(&caller.snapshot, &caller.key, &req.model, request_models)?;
    let route = plan.primary();
    // Admission: budgets, credit reservation and rate limits, priced on the primary route.
    let estimate = estimate::openai(&req.body, endpoint == Endpoint::Chat);
    let (dialect, name, model) = (Dialect::OpenAi, endpoint.name(), &req.model);
    let ask = admission::Request { request_id, dialect, endpoint: name, model, stream: req.stream, started, estimate };
    let admitted = admission::admit(&state, &caller, route, &ask)?;
    let call = CallGuard::start(
        state.clone(),
        &caller,
        request_id,
        Dialect::OpenAi,
        endpoint.name(),
        &req.model,
        route,
        req.stream,
        started,
        admitted,
    );
    let drain = Duration::from_millis(route.provider.timeouts.drain_ms);
    let (stream, wants_usage, body) = (req.stream, req.client_wants_usage, req.body);
    let f = Forward {
        state,
        plan,
        call,
        body,
        request_id: Cow::Borrowed(request_id),
        headers: Cow::Borrowed(headers),
        endpoint,
        stream,
        wants_usage,
    };
    if stream || drain.is_zero() {
        return f.run().await;
    }
    // A non-stream call that may outlive its client (a stream drains in the relay).
    let mut f = f.into_owned();
    let left = f.call.carry_on_without_client();
    detach::run(drain, left, f.run()).await
}

/// Everything after admission: the attempts, then the relayed stream or the whole answer.
struct Forward<'a> {
    state: Arc<AppState>,
    plan: Plan,
    call: CallGuard,
    body: Map<String, Value>,
    request_id: Cow<'a, str>,
    headers: Cow<'a, HeaderMap>,
    endpoint: Endpoint,
    stream: bool,
    wants_usage: bool,
}

impl Forward<'_> {
    fn into_owned(self) -> Forward<'static> {
        Forward {
            state: self.state,
            plan: self.plan,
            call: self.call,
            body: self.body,
            request_id: Cow::Owned(self.request_id.into_owned()),
            headers: Cow::Owned(self.headers.into_owned()),
            endpoint: self.endpoint,
            stream: self.stream,
            wants_usage: self.wants_usage,
        }
    }

    async fn run(self) -> Result<Response, ApiError> {
        let Forward { state, plan, mut call, body, request_id, headers, endpoint, stream, wants_usage } = self;
        let build = |r: &Route| openai::upstream_body(body.clone(), &r.upstream_model, stream);
        let sent =
            attempts::send(&state, &plan, &mut call, endpoint.path(), build, &request_id, &headers, stream).await;
        let (reply, route) = match sent {
            Ok(a) => (a.reply, a.route),
            Err(f) => return Err(fail(call, f)),
        };
        let rate = call.rate_state();
        match reply {
            Reply::Stream { resp, verdict } => {
                let overhead = call.overhead();
                let body = relay::openai_stream(resp, call, verdict, wants_usage, &route.provider.timeouts);
                let mut out = Response::new(body);
                let h = out.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                h.insert("x-tollgate-overhead-ms", ms_header(overhead));
                rate_headers::insert(h, Dialect::OpenAi, &rate, ratelimit::now_us());
                Ok(out)
            }
            Reply::Whole { status, content_type, body } => {
                call.usage = openai::usage_of(&body);
                call.mark_first_token();
                let overhead = call.overhead();
                let settled = call.success(status.as_u16());
                let mut out = json_response(status, content_type, body, settled.cost, overhead);
                rate_headers::insert(out.headers_mut(), Dialect::OpenAi, &rate, ratelimit::now_us());
                Ok(out)
            }
        }
    }
}

/// Records the failed call and answers the client's error.
fn fail(call: CallGuard, f: UpstreamFailure) -> ApiError {
    tracing::warn!(call = call.id(), class = f.class, "upstream attempt failed: {}", f.detail);
    call.failure(f.error.status().as_u16(), f.class, &f.detail);
    f.error
}

fn ms_header(d: std::time::Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("{:.3}", d.as_secs_f64() * 1000.0)).expect("digits")
}

fn json_response(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
    cost: i64,
    overhead: std::time::Duration,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type.unwrap_or(HeaderValue::from_static("application/json")));
    h.insert("x-tollgate-cost", HeaderValue::from_str(&format_credits(cost)).expect("digits"));
    h.insert("x-tollgate-overhead-ms", ms_header(overhead));
    resp
}
