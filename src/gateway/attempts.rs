//! The failover loop of one call: attempts go to the planner's next credential, target or
//! fallback model until one answers, a failure must go back to the client (a 400 is the
//! request's fault, not the provider's), the plan is exhausted, or the retry budget says stop.
//! Only response headers are awaited here, so nothing has reached the client yet: this is
//! the only place a call is retried. Each attempt feeds the health of its credential and
//! target, and is noted on the call record (one record, one charge, however many attempts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;

use super::call::CallGuard;
use super::upstream::{self, UpstreamFailure};
use crate::error::{ApiError, ErrorKind};
use crate::providers::{Operation, Outbound};
use crate::routing::failover::{Choice, Plan, Planner};
use crate::routing::health::Outcome;
use crate::routing::resolve::Route;
use crate::routing::retest;
use crate::state::AppState;

/// What a failed attempt means for the rest of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Give the client this answer (the request itself is wrong).
    Answer,
    /// Try another credential of the same target.
    Credential,
    /// The provider is unreachable: other credentials of it would fail too.
    Target,
}

/// What every attempt of a call sends, whatever the route.
pub struct Ask<'a> {
    pub operation: Operation,
    pub stream: bool,
    pub request_id: &'a str,
    pub client_headers: &'a HeaderMap,
}

/// An upstream that answered with success headers, and where it went.
pub struct Answered {
    pub resp: reqwest::Response,
    pub route: Route,
}

/// Sends the request (built per route by `body_for`: each route's provider may speak another
/// protocol) until an upstream answers with success headers; otherwise the failure the client
/// should see.
pub async fn send(
    state: &Arc<AppState>,
    plan: &Plan,
    call: &mut CallGuard,
    ask: &Ask<'_>,
    body_for: impl Fn(&Route) -> Bytes,
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
            routing.health.release(&choice.credential_key);
            routing.health.release(&choice.target_key);
            tracing::info!(call = call.id(), attempts, "no more retries: attempt cap or retry budget reached");
            return Err(last.unwrap_or_else(no_available));
        }
        attempts += 1;
        call.attempt_on(&choice.route, &choice.credential().id);
        let provider = &choice.route.provider;
        let outbound = Outbound {
            provider,
            credential: choice.credential(),
            operation: ask.operation,
            upstream_model: &choice.route.upstream_model,
            stream: ask.stream,
            body: body_for(&choice.route),
            request_id: ask.request_id,
            client_headers: ask.client_headers,
        };
        let sent = upstream::send(&state.http, outbound).await;
        let (f, next) = match sent {
            Ok((resp, waited)) => {
                call.add_upstream_time(waited);
                if resp.status().is_success() {
                    healthy(state, &choice, waited);
                    return Ok(Answered { resp, route: choice.route });
                }
                let status = resp.status();
                let retry_after = upstream::retry_after_secs(resp.headers());
                let idle = Duration::from_millis(provider.timeouts.idle_ms);
                let body = tokio::time::timeout(idle, resp.bytes()).await.ok().and_then(Result::ok).unwrap_or_default();
                let f = upstream::failure_from_response(provider, choice.credential(), status, retry_after, &body);
                let next = match status.as_u16() {
                    400 | 413 | 422 => {
                        healthy(state, &choice, waited);
                        Next::Answer
                    }
                    401 | 403 => {
                        retest::on_refused(state, &choice.credential().id, retest::refused_reason(&f.detail));
                        Next::Credential
                    }
                    429 => {
                        let outcome = Outcome::RateLimited {
                            retry_after: retry_after.map(Duration::from_secs),
                            error: f.detail.clone(),
                        };
                        routing.health.record(&choice.credential_key, Instant::now(), outcome);
                        Next::Credential
                    }
                    _ => {
                        failed(state, &choice, &f.detail, true);
                        Next::Credential
                    }
                };
                (f, next)
            }
            Err(f) => {
                // A connection that cannot be made is the provider's, not the key's.
                let next = if f.class == "connect_error" { Next::Target } else { Next::Credential };
                failed(state, &choice, &f.detail, next == Next::Credential);
                (f, next)
            }
        };
        tracing::info!(call = call.id(), attempt = attempts, class = f.class, "upstream attempt failed: {}", f.detail);
        match next {
            Next::Answer => return Err(f),
            Next::Target => planner.skip_target(),
            Next::Credential => {}
        }
        last = Some(f);
    }
}

fn healthy(state: &AppState, choice: &Choice, latency: Duration) {
    let now = Instant::now();
    state.routing.health.record(&choice.credential_key, now, Outcome::Ok { latency });
    state.routing.health.record(&choice.target_key, now, Outcome::Ok { latency });
}

/// A 5xx, timeout or broken connection: counts toward the target's breaker, and the
/// credential's unless the connection never reached the provider.
fn failed(state: &AppState, choice: &Choice, detail: &str, credential_too: bool) {
    let now = Instant::now();
    let outcome = || Outcome::Failed { error: detail.to_string() };
    if credential_too {
        state.routing.health.record(&choice.credential_key, now, outcome());
    } else {
        // The credential was not tried: give back a probe it may hold.
        state.routing.health.release(&choice.credential_key);
    }
    state.routing.health.record(&choice.target_key, now, outcome());
}

fn no_available() -> UpstreamFailure {
    UpstreamFailure {
        class: "no_available_provider",
        detail: "every credential and target of the model is disabled, cooling down or failing".into(),
        error: ApiError::new(ErrorKind::Unavailable, "no provider is currently available for this model")
            .with_code("no_available_provider"),
    }
}
