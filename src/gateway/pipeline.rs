//! The steps every model call takes, whatever its dialect: the handlers (`passthrough.rs` for
//! OpenAI, `messages.rs` for Anthropic) read and check their body into an [`Inbound`], then
//! [`run`] does the rest — the key's model check, the failover plan, per-route preparation,
//! admission (budgets, credits, rate limits), the attempts, and the response, relayed as a
//! stream or read whole — settling the call exactly once (`CallGuard`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::adapter::Inbound;
use super::admission;
use super::attempts::{self, Ask, Reply};
use super::attribution::Attribution;
use super::auth::Caller;
use super::call::{self, CallGuard};
use super::detach;
use super::rate_headers;
use super::upstream::{self, UpstreamFailure};
use crate::billing::estimate::{self, Estimate, InvalidValue};
use crate::billing::money::format_credits;
use crate::billing::ratelimit;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::openai::responses;
use crate::protocol::usage_cost::{self, USAGE};
use crate::protocol::{self, Dialect};
use crate::providers::operation::Operation;
use crate::routing::failover::{self, Plan};
use crate::routing::resolve;
use crate::state::AppState;
use crate::store::call_outcome::ErrorClass;

/// The request body, up to the configured limit.
pub async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    let limit = state.config.max_body_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(ErrorKind::PayloadTooLarge, format!("the request body is larger than the {limit}-byte limit"))
            .with_code("request_too_large")
    })
}

/// A refused request: logged once (without secrets), answered in the client's dialect.
pub fn refused(request_id: &str, dialect: Dialect, e: ApiError) -> Response {
    tracing::info!(
        request_id,
        status = e.status().as_u16(),
        code = e.code.unwrap_or(""),
        "request refused: {}",
        e.message
    );
    e.into_response_in(dialect)
}

/// Checks that the key may use the requested model and plans its routes (the request's own
/// `models` fallbacks first, taken out of the body: they are the gateway's, not the upstream's).
pub fn plan(caller: &Caller, inbound: &mut Inbound) -> Result<Plan, ApiError> {
    let model = &inbound.model;
    if !caller.snapshot.key_may_use(&caller.key, model) {
        return Err(if resolve::is_known(&caller.snapshot, model) {
            resolve::forbidden_model(model)
        } else {
            resolve::unknown_model(model)
        });
    }
    let request_models = protocol::take_request_models(inbound.body_mut())?;
    failover::Plan::build(&caller.snapshot, &caller.key, &inbound.model, request_models)
}

/// Everything after the handler's checks: admission, attempts, response, settlement.
/// `endpoint` names the call on its record (`chat`, `embeddings`, `messages`).
#[expect(clippy::too_many_arguments, reason = "the call's parts, each from a different step")]
pub async fn run(
    state: Arc<AppState>,
    caller: &Caller,
    request_id: &str,
    headers: &HeaderMap,
    mut inbound: Inbound,
    endpoint: &'static str,
    estimate: impl FnOnce(&Inbound) -> Result<Estimate, InvalidValue>,
    started: Instant,
) -> Result<Response, ApiError> {
    // Shed before any work, and without a record: the records are what is backed up.
    if state.usage.overloaded() {
        state.metrics.shed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(admission::overloaded_error());
    }
    let attribution = Attribution::read(headers, request_id, inbound.dialect, inbound.body())?;
    let plan = plan(caller, &mut inbound)?;
    inbound.prepare(&plan, state.images.max_images)?;
    let route = plan.primary();
    // Admission: budgets, credit reservation and rate limits, priced on the primary route.
    let (dialect, model, stream) = (inbound.dialect, inbound.model.as_str(), inbound.stream);
    let estimate = estimate(&inbound)?;
    let known_max = caller.snapshot.catalog.get(route.provider.kind.as_str(), &route.upstream_model);
    estimate::check_model_max(&estimate, known_max.and_then(|m| m.max_output_tokens))?;
    let ask = admission::Request {
        request_id,
        dialect,
        endpoint,
        model,
        stream,
        started,
        estimate,
        attribution: &attribution,
    };
    let admitted = admission::admit(&state, caller, route, &ask)
        .map_err(|refused| call::record_rejected(&state, caller, route, &ask, refused))?;
    let call = CallGuard::start(state.clone(), caller, &ask, route, admitted);
    if !call.journaled() {
        // The journal failed after admission looked: refuse the call rather than run it unrecorded.
        let err = admission::journal_error();
        call.failure(err.status().as_u16(), ErrorClass::JournalUnavailable, &err.message);
        return Err(err);
    }
    let drain = Duration::from_millis(route.provider.timeouts.drain_ms);
    let f =
        Forward { state, plan, call, inbound, request_id: Cow::Borrowed(request_id), headers: Cow::Borrowed(headers) };
    if stream || drain.is_zero() {
        return f.run().await;
    }
    // A non-stream call that may outlive its client (a stream drains in its relay).
    let mut f = f.into_owned();
    let left = f.call.carry_on_without_client();
    detach::run(drain, left, f.run()).await
}

/// A call after admission: its attempts, then the relayed stream or the whole answer.
struct Forward<'a> {
    state: Arc<AppState>,
    plan: Plan,
    call: CallGuard,
    inbound: Inbound,
    request_id: Cow<'a, str>,
    headers: Cow<'a, HeaderMap>,
}

impl Forward<'_> {
    /// The same call, owning what it borrowed from the handler (to run in a task of its own).
    fn into_owned(self) -> Forward<'static> {
        Forward {
            state: self.state,
            plan: self.plan,
            call: self.call,
            inbound: self.inbound,
            request_id: Cow::Owned(self.request_id.into_owned()),
            headers: Cow::Owned(self.headers.into_owned()),
        }
    }

    async fn run(self) -> Result<Response, ApiError> {
        let Forward { state, plan, mut call, mut inbound, request_id, headers } = self;
        let (dialect, stream) = (inbound.dialect, inbound.stream);
        let ask = Ask { stream, request_id: &request_id, client_headers: &headers };
        let sent = attempts::send(&state, &plan, &mut call, &ask, &mut inbound).await;
        // Fetching image URLs is waiting on another host, not gateway overhead.
        call.add_upstream_time(inbound.image_fetch_time());
        let (reply, route) = match sent {
            Ok(a) => (a.reply, a.route),
            Err(f) => return Err(fail(call, f)),
        };
        let protocol = route.provider.kind.protocol();
        let rate = call.rate_state();
        match reply {
            Reply::Stream { resp, verdict } => {
                let overhead = call.overhead();
                let keepalive = Duration::from_millis(state.config.stream_keepalive_ms);
                let timeouts = &route.provider.timeouts;
                let mut out = Response::new(inbound.stream_body(protocol, resp, call, verdict, timeouts, keepalive));
                let h = out.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                h.insert(X_TOLLGATE_OVERHEAD_MS.clone(), ms_header(overhead));
                rate_headers::insert(h, dialect, &rate, ratelimit::now_us());
                Ok(out)
            }
            Reply::Whole { status, content_type, body, header_tokens } => {
                let content_type = content_type.filter(|_| inbound.passes_through(protocol));
                let answer = match inbound.response(protocol, body, call.prompt_estimate(), header_tokens) {
                    Ok(answer) => answer,
                    Err(e) => return Err(fail(call, upstream::invalid_answer(&route.provider, &e))),
                };
                call.usage = answer.usage;
                if inbound.operation == Operation::Responses && inbound.passes_through(protocol) {
                    call.stored_response =
                        serde_json::from_slice(&answer.body).ok().as_ref().and_then(responses::stored_id);
                }
                call.note_output(answer.output);
                let body = answer.body;
                call.mark_first_token();
                let overhead = call.overhead();
                let settled = call.success(status.as_u16());
                let cost = format_credits(settled.cost);
                // The answer's usage carries the charge, as a stream's final usage does.
                let body = match std::str::from_utf8(&body).ok().and_then(|b| usage_cost::with_cost(b, USAGE, &cost)) {
                    Some(with_cost) => Bytes::from(with_cost),
                    None => body,
                };
                let mut out = json_response(status, content_type, body, &cost, overhead);
                rate_headers::insert(out.headers_mut(), dialect, &rate, ratelimit::now_us());
                Ok(out)
            }
        }
    }
}

/// Records the failed call and answers the client's error.
fn fail(call: CallGuard, f: UpstreamFailure) -> ApiError {
    tracing::warn!(call = call.id(), class = f.class.as_str(), "call failed: {}", f.detail);
    call.failure(f.error.status().as_u16(), f.class, &f.detail);
    f.error
}

// Parsed once: a `&str` header name is validated again on every insert.
static X_TOLLGATE_OVERHEAD_MS: HeaderName = HeaderName::from_static("x-tollgate-overhead-ms");
static X_TOLLGATE_COST: HeaderName = HeaderName::from_static("x-tollgate-cost");

fn ms_header(d: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("{:.3}", d.as_secs_f64() * 1000.0)).expect("digits")
}

fn json_response(
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
    cost: &str,
    overhead: Duration,
) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type.unwrap_or(HeaderValue::from_static("application/json")));
    h.insert(X_TOLLGATE_COST.clone(), HeaderValue::from_str(cost).expect("digits"));
    h.insert(X_TOLLGATE_OVERHEAD_MS.clone(), ms_header(overhead));
    resp
}
