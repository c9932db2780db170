//! The failover loop of one call: attempts go to the planner's next credential, target or
//! fallback model until one answers, a failure must go back to the client (a 400 is the
//! request's fault, not the provider's), the plan is exhausted, or the retry budget says stop.
//! Nothing has reached the client while this runs: response headers are awaited here, and a
//! non-stream body is read whole here too (a body that stalls or breaks fails over like a
//! missing answer). This is the only place a call is retried. Each attempt feeds the health of
//! its credential and target — a stream's at its end, through its [`Verdict`] — and is noted
//! on the call record (one record, one charge, however many attempts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;

use super::adapter::Inbound;
use super::call::CallGuard;
use super::classify::{self, Next};
use super::upstream::{self, UpstreamFailure};
use super::verdict::Verdict;
use crate::error::{ApiError, ErrorKind};
use crate::jobs::retest;
use crate::providers::entry::ProviderEntry;
use crate::providers::{Outbound, http};
use crate::routing::failover::{Choice, Plan, Planner};
use crate::routing::health::Outcome;
use crate::routing::resolve::Route;
use crate::state::AppState;
use crate::store::call_outcome::ErrorClass;

/// What the upstream answered with success headers.
pub enum Reply {
    /// A stream to relay; `verdict` judges the attempt when the stream ends.
    Stream { resp: http::Response, verdict: Verdict },
    /// A non-stream answer, read whole; `header_tokens`: the input token count Bedrock's
    /// InvokeModel sends in a header.
    Whole { status: StatusCode, content_type: Option<HeaderValue>, body: Bytes, header_tokens: Option<i64> },
}

/// An upstream that answered, and where it went.
pub struct Answered {
    pub reply: Reply,
    pub route: Route,
}

/// What every attempt of a call sends, whatever the route.
pub struct Ask<'a> {
    pub stream: bool,
    pub request_id: &'a str,
    pub client_headers: &'a HeaderMap,
}

/// Sends the request (built per route by `inbound`: each route's provider may speak another
/// protocol, and its body may first need image URLs fetched, whose failure ends the call)
/// until an upstream answers with success headers (and, unless streaming, a whole body);
/// otherwise the failure the client should see.
pub async fn send(
    state: &Arc<AppState>,
    plan: &Plan,
    call: &mut CallGuard,
    ask: &Ask<'_>,
    inbound: &mut Inbound,
) -> Result<Answered, UpstreamFailure> {
    let routing = &state.routing;
    let mut planner = Planner::new(plan, routing);
    let mut last: Option<UpstreamFailure> = None;
    let mut attempts = 0u32;
    loop {
        let now = Instant::now();
        let Some(choice) = planner.next(now) else {
            return Err(last.unwrap_or_else(no_available));
        };
        if attempts == 0 {
            routing.budget.deposit(now);
        } else if attempts >= routing.settings.max_attempts || !routing.budget.try_withdraw(now) {
            routing.health.release(&choice.credential_key());
            routing.health.release(&choice.target_key());
            tracing::info!(call = call.id(), attempts, "no more retries: attempt cap or retry budget reached");
            return Err(last.unwrap_or_else(no_available));
        }
        let body = match inbound.ready_body_for(&choice.route, &state.images).await {
            Ok(body) => body,
            Err(f) => {
                // Nothing was sent: the route's health is not in question.
                routing.health.release(&choice.credential_key());
                routing.health.release(&choice.target_key());
                return Err(f);
            }
        };
        attempts += 1;
        call.attempt_on(&choice.route, &choice.credential().id);
        let provider = &choice.route.provider;
        let outbound = Outbound {
            provider,
            credential: choice.credential(),
            operation: inbound.upstream_operation(provider.kind.protocol()),
            upstream_model: &choice.route.upstream_model,
            stream: ask.stream,
            body,
            request_id: ask.request_id,
            client_headers: ask.client_headers,
        };
        let (f, next) = match attempt(state, &choice, call, outbound, inbound).await {
            Ok(reply) => return Ok(Answered { reply, route: choice.route }),
            Err(failed) => failed,
        };
        let class = f.class.as_str();
        tracing::info!(call = call.id(), attempt = attempts, class, "upstream attempt failed: {}", f.detail);
        match next {
            Next::Answer => return Err(f),
            Next::Target => planner.skip_target(),
            Next::Credential => {}
        }
        last = Some(f);
    }
}

/// One attempt on `choice`: sends it, reads what came back (the whole body unless a stream),
/// and feeds the attempt's outcome to its credential's and target's health, the attempt
/// metrics and the call's record. A failure comes with where the call goes next.
async fn attempt(
    state: &Arc<AppState>,
    choice: &Choice,
    call: &mut CallGuard,
    outbound: Outbound<'_>,
    inbound: &Inbound,
) -> Result<Reply, (UpstreamFailure, Next)> {
    let (provider, credential, stream) = (outbound.provider, outbound.credential, outbound.stream);
    let protocol = provider.kind.protocol();
    let attempt_started = tokio::time::Instant::now();
    let sent = upstream::send(&state.http, outbound).await;
    let counted = state.metrics.attempts.get(&provider.name, &credential.id);
    let failed_unanswered = |call: &mut CallGuard, f: UpstreamFailure, status: Option<StatusCode>| {
        call.attempt_failed(&f, status.map(|s| s.as_u16()), attempt_started.elapsed());
        let (outcome, next) = classify::unanswered(f.class);
        counted.record(outcome);
        failed(state, choice, &f.detail, next == Next::Credential);
        (f, next)
    };
    let (resp, waited) = match sent {
        Ok(sent) => sent,
        Err(f) => return Err(failed_unanswered(call, f, None)),
    };
    call.add_upstream_time(waited);
    if resp.status().is_success() && stream {
        let verdict = Verdict::new(state, choice, waited, counted);
        return Ok(Reply::Stream { resp, verdict });
    }
    let read_started = Instant::now();
    let answer = read_answer(resp, provider, attempt_started, usize::MAX).await;
    match answer {
        Answer::Whole { status, content_type, header_tokens, body } => {
            call.add_upstream_time(read_started.elapsed());
            // A body that is not an answer of its protocol is a failed attempt, like a 5xx.
            let body = match body {
                Ok(body) => match inbound.check_answer(protocol, &body) {
                    Ok(()) => Ok(body),
                    Err(why) => Err(upstream::invalid_answer(provider, &why)),
                },
                Err(f) => Err(f),
            };
            match body {
                Ok(body) => {
                    counted.record(classify::Status::Success.counted());
                    healthy(state, choice, waited);
                    Ok(Reply::Whole { status, content_type, body, header_tokens })
                }
                Err(f) => Err(failed_unanswered(call, f, Some(status))),
            }
        }
        Answer::Error { status, retry_after, body } => {
            let f = upstream::failure_from_response(provider, credential, status, retry_after, &body);
            let class = classify::status(status);
            counted.record(class.counted());
            match class {
                classify::Status::BadRequest => healthy(state, choice, waited),
                classify::Status::Refused => {
                    retest::on_refused(state, &credential.id, retest::refused_reason(&f.detail));
                }
                classify::Status::RateLimited => {
                    let outcome = Outcome::RateLimited {
                        retry_after: retry_after.map(Duration::from_secs),
                        error: f.detail.clone(),
                    };
                    state.routing.health.record(&choice.credential_key(), Instant::now(), outcome);
                }
                classify::Status::Success | classify::Status::Failed => failed(state, choice, &f.detail, true),
            }
            call.attempt_failed(&f, Some(status.as_u16()), attempt_started.elapsed());
            Err((f, class.next()))
        }
    }
}

/// A non-stream answer, read.
pub(super) enum Answer {
    /// Success headers, and the body read whole (or why it could not be).
    Whole {
        status: StatusCode,
        content_type: Option<HeaderValue>,
        header_tokens: Option<i64>,
        body: Result<Bytes, UpstreamFailure>,
    },
    /// An error status, and as much of its body as its message needs.
    Error { status: StatusCode, retry_after: Option<u64>, body: Bytes },
}

/// Reads a non-stream answer: a success body whole, within the provider's idle and total
/// timeouts (`read_whole`, at most `max` bytes); an error body bounded (read only for its
/// message: `upstream::MAX_ERROR_BODY`, within the idle timeout).
pub(super) async fn read_answer(
    resp: http::Response,
    provider: &ProviderEntry,
    attempt_started: tokio::time::Instant,
    max: usize,
) -> Answer {
    let status = resp.status();
    if status.is_success() {
        let content_type = resp.headers().get("content-type").cloned();
        let header_tokens = resp
            .headers()
            .get(crate::protocol::bedrock::embeddings::INPUT_TOKEN_COUNT_HEADER)
            .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
        let body = read_at_most(resp.into_body(), provider, attempt_started, max).await;
        return Answer::Whole { status, content_type, header_tokens, body };
    }
    let retry_after = upstream::retry_after_secs(resp.headers());
    let idle = Duration::from_millis(provider.timeouts.idle_ms);
    // Bounded: an error body is read only for its message.
    let read = upstream::read_prefix(resp.into_body(), idle, upstream::MAX_ERROR_BODY);
    let body = tokio::time::timeout(idle, read).await.unwrap_or_default();
    Answer::Error { status, retry_after, body }
}

fn healthy(state: &AppState, choice: &Choice, latency: Duration) {
    let now = Instant::now();
    state.routing.health.record(&choice.credential_key(), now, Outcome::Ok { latency });
    state.routing.health.record(&choice.target_key(), now, Outcome::Ok { latency });
}

/// A 5xx, timeout or broken connection: counts toward the credential's breaker unless the
/// connection never reached the provider, and toward the target's when the credential is not
/// to blame alone (`Choice::blames_target`).
fn failed(state: &AppState, choice: &Choice, detail: &str, credential_too: bool) {
    let now = Instant::now();
    let health = &state.routing.health;
    let outcome = || Outcome::Failed { error: detail.to_string() };
    if credential_too {
        health.record(&choice.credential_key(), now, outcome());
    } else {
        // The credential was not tried: give back a probe it may hold.
        health.release(&choice.credential_key());
    }
    if !credential_too || choice.blames_target(health, now) {
        health.record(&choice.target_key(), now, outcome());
    } else {
        health.release(&choice.target_key());
    }
}

/// Reads a non-stream body: each chunk within the provider's idle timeout, the whole attempt
/// within its total cap (counted from the attempt's start).
pub(super) async fn read_whole<B>(
    body: B,
    provider: &ProviderEntry,
    attempt_started: tokio::time::Instant,
) -> Result<Bytes, UpstreamFailure>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    read_at_most(body, provider, attempt_started, usize::MAX).await
}

/// [`read_whole`], failing a body longer than `max` bytes as one that is not an answer.
async fn read_at_most<B>(
    body: B,
    provider: &ProviderEntry,
    attempt_started: tokio::time::Instant,
    max: usize,
) -> Result<Bytes, UpstreamFailure>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut resp = std::pin::pin!(body);
    let t = &provider.timeouts;
    let cap = attempt_started + Duration::from_millis(t.total_ms);
    let idle = Duration::from_millis(t.idle_ms);
    let mut body = bytes::BytesMut::new();
    loop {
        let wait_until = (tokio::time::Instant::now() + idle).min(cap);
        match tokio::time::timeout_at(wait_until, resp.frame()).await {
            // Trailers carry nothing the gateway reads.
            Ok(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    if chunk.len() > max - body.len() {
                        return Err(upstream::invalid_answer(provider, &format!("longer than {max} bytes")));
                    }
                    body.extend_from_slice(chunk);
                }
            }
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(Err(e))) => {
                return Err(UpstreamFailure {
                    class: ErrorClass::UpstreamIoError,
                    detail: format!("provider {}: reading the body failed: {e}", provider.name),
                    error: ApiError::new(
                        ErrorKind::Upstream,
                        format!("provider `{}` failed mid-response", provider.name),
                    )
                    .with_code("upstream_error"),
                });
            }
            Err(_) => {
                let detail = if wait_until >= cap {
                    format!("provider {}: the call exceeded {} ms", provider.name, t.total_ms)
                } else {
                    format!("provider {}: the body stalled for {} ms", provider.name, t.idle_ms)
                };
                return Err(UpstreamFailure {
                    class: ErrorClass::Timeout,
                    detail,
                    error: ApiError::new(
                        ErrorKind::Timeout,
                        format!("provider `{}` did not finish in time", provider.name),
                    )
                    .with_code("upstream_timeout"),
                });
            }
        }
    }
}

fn no_available() -> UpstreamFailure {
    UpstreamFailure {
        class: ErrorClass::NoAvailableProvider,
        detail: "every credential and target of the model is disabled, cooling down or failing".into(),
        error: ApiError::new(ErrorKind::Unavailable, "no provider is currently available for this model")
            .with_code("no_available_provider"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use futures_util::StreamExt;
    use tokio::time::Instant;

    use super::read_whole;
    use crate::config::Timeouts;
    use crate::providers::entry::ProviderEntry;
    use crate::providers::kind::ProviderKind;

    fn provider(idle_ms: u64, total_ms: u64) -> ProviderEntry {
        ProviderEntry {
            id: "p".into(),
            name: "mock".into(),
            kind: ProviderKind::OpenAi,
            base_url: "http://127.0.0.1:1/v1".into(),
            api_version: None,
            enabled: true,
            timeouts: Timeouts { idle_ms, total_ms, ..Timeouts::default() },
            credentials: Vec::new(),
            markup: Default::default(),
        }
    }

    fn response(
        body: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    ) -> impl hyper::body::Body<Data = Bytes, Error = std::io::Error> {
        http_body_util::StreamBody::new(body.map(|piece| piece.map(hyper::body::Frame::data)))
    }

    fn piece(s: &'static str) -> std::io::Result<Bytes> {
        Ok(Bytes::from_static(s.as_bytes()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_in_pieces_is_read_whole() {
        let body = futures_util::stream::iter([piece("{\"a\":"), piece("1}")]);
        let read = read_whole(response(body), &provider(300, 5000), Instant::now()).await;
        assert_eq!(read.ok().as_deref(), Some(&b"{\"a\":1}"[..]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_fails_after_the_idle_timeout() {
        let body = futures_util::stream::iter([piece("{\"a\":")]).chain(futures_util::stream::pending());
        let started = Instant::now();
        let Err(f) = read_whole(response(body), &provider(300, 5000), started).await else { panic!("read") };
        assert_eq!((f.class.as_str(), started.elapsed()), ("timeout", Duration::from_millis(300)));
        assert!(f.detail.contains("the body stalled for 300 ms"), "{}", f.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_trickles_fails_at_the_total_cap() {
        let body = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((piece(" "), ()))
        });
        let started = Instant::now();
        let Err(f) = read_whole(response(body), &provider(300, 1000), started).await else { panic!("read") };
        assert_eq!((f.class.as_str(), started.elapsed()), ("timeout", Duration::from_millis(1000)));
        assert!(f.detail.contains("exceeded 1000 ms"), "{}", f.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_breaks_is_an_io_error() {
        let broken = futures_util::stream::iter([piece("{"), Err(std::io::Error::other("connection reset"))]);
        let Err(f) = read_whole(response(broken), &provider(300, 1000), Instant::now()).await else { panic!("read") };
        assert_eq!(f.class, "upstream_io_error");
    }
}
