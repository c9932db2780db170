//! One call's record and charge. A `CallGuard` is created when a request is admitted and
//! settles exactly once: explicitly on success or failure, or in `Drop` when the client went
//! away (or a handler panicked) — charged for the usage the provider reported, or, when it
//! reported none (an answer without usage, a stream cut short before it), for a counted
//! estimate of what it produced (flagged `usage_estimated` on the record): an answer is never
//! free, and a failed call is charged only if output reached the client. Settling also ends what
//! the call was admitted with (credit reservation, budget holds, rate-limit permit), in the
//! same step as the charge, so a reservation ends exactly when its call does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::billing::estimate::{self, OutputCount};
use crate::billing::image_prices::ImageSpec;
use crate::billing::markup::Charge;
use crate::billing::money::format_credits;
use crate::billing::price_shapes::ServiceTier;
use crate::billing::pricing::{Pricing, Usage};
use crate::metrics::CallSeries;
use crate::protocol::dialect::Protocol;
use crate::routing::health::HealthKey;
use crate::routing::resolve::Route;
use crate::routing::response_origins::Origin;
use crate::routing::status;
use crate::state::AppState;
use crate::store::call_outcome::{CallStatus, ErrorClass};
use crate::store::call_record::{FailedAttempt, MAX_TRAIL, MAX_TRAIL_DETAIL};
use crate::store::calls::{CallRecord, CallWrite};
use crate::store::ledger::NewEntry;

use super::admission::{self, Admitted};
use super::auth::Caller;
use super::upstream::UpstreamFailure;
use crate::error::ApiError;

pub struct CallGuard {
    state: Arc<AppState>,
    record: CallRecord,
    started: Instant,
    /// Deducted from the user's balance (false on unlimited plans and free models).
    deduct: bool,
    /// False on unlimited plans: no attempt's route is deducted.
    plan_deducts: bool,
    /// Time spent waiting on the upstream, subtracted from the total to get the overhead.
    upstream: Duration,
    /// Usage reported so far (a stream's usage chunk, or a complete body's).
    pub usage: Option<Usage>,
    /// The id of a Responses answer the provider stored (passthrough only): noted, with the
    /// provider and credential that hold it, when the call settles.
    pub stored_response: Option<String>,
    /// The provider answered in full (a success, even one whose client then left).
    answered: bool,
    /// What the provider has produced so far, counted from the stream as it is relayed;
    /// `None` until the first event arrives.
    output: Option<OutputCount>,
    /// Prompt tokens counted at admission.
    prompt_estimate: i64,
    /// The service tier the request asked for (OpenAI's `service_tier`), and whether the
    /// latest attempt's provider was sent it (an OpenAI-protocol provider, passed the body):
    /// then it prices a call whose answer names no tier.
    requested_tier: Option<ServiceTier>,
    tier_forwarded: bool,
    /// The image size and quality the request asked for: they price the images of an answer
    /// that does not name its own.
    requested_image: ImageSpec,
    /// What admission reserved for this call; taken (ended) by `settle`.
    admitted: Option<Admitted>,
    /// The metrics series of the requested model and the provider of the latest attempt.
    series: Arc<CallSeries>,
    settled: bool,
    /// The call's start line reached the journal.
    journaled: bool,
    /// Cancelled when the client of a call that carries on without it (a drained non-stream
    /// call, see `detach`) went away.
    left: Option<CancellationToken>,
}

/// What the caller wants to know after settling.
pub struct Settled {
    pub cost: i64,
}

impl CallGuard {
    /// Opens the record of the admitted call `req` on its first `route`.
    pub fn start(
        state: Arc<AppState>,
        caller: &Caller,
        req: &admission::Request,
        route: &Route,
        admitted: Admitted,
    ) -> CallGuard {
        let record = open_record(caller, req, route);
        let journaled = state.usage.record(CallWrite { record: record.clone(), charge: None });
        let series = state.metrics.calls.get(req.model, &route.provider.name);
        CallGuard {
            series,
            deduct: !caller.user.unlimited && !route.free,
            plan_deducts: !caller.user.unlimited,
            state,
            record,
            started: req.started,
            upstream: Duration::ZERO,
            usage: None,
            stored_response: None,
            answered: false,
            output: None,
            prompt_estimate: admitted.prompt_tokens(),
            requested_tier: req.estimate.service_tier,
            tier_forwarded: route.provider.kind.protocol() == Protocol::OpenAi,
            requested_image: req.estimate.image,
            admitted: Some(admitted),
            settled: false,
            journaled,
            left: None,
        }
    }

    /// False if the call's start line could not be appended to the journal (it must not run).
    pub fn journaled(&self) -> bool {
        self.journaled
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The rate limits' state at admission (for the answer's rate-limit headers).
    pub fn rate_state(&self) -> crate::billing::ratelimit::RateState {
        self.admitted.as_ref().map(Admitted::rate_state).unwrap_or_default()
    }

    /// Notes an attempt on a route and credential: the record keeps the last ones used, and
    /// the call is priced as the route that finally answers (a fallback model has its own).
    pub fn attempt_on(&mut self, route: &Route, credential_id: &str) {
        if self.record.provider_id.as_deref() != Some(route.provider.id.as_str()) {
            self.series = self.state.metrics.calls.get(&self.record.model, &route.provider.name);
        }
        self.record.attempts += 1;
        self.record.credential_id = Some(credential_id.to_string());
        self.record.provider_id = Some(route.provider.id.clone());
        self.record.upstream_model = Some(route.upstream_model.clone());
        self.record.price = route.pricing.clone();
        self.record.markup = route.markup;
        self.tier_forwarded = route.provider.kind.protocol() == Protocol::OpenAi;
        self.deduct = self.plan_deducts && !route.free;
    }

    /// Notes that the attempt begun by the last [`CallGuard::attempt_on`] failed (`status`:
    /// the provider's HTTP status, if it answered one): the record's attempt trail.
    pub fn attempt_failed(&mut self, f: &UpstreamFailure, status: Option<u16>, took: Duration) {
        let r = &mut self.record;
        if r.attempt_trail.len() >= MAX_TRAIL {
            return;
        }
        r.attempt_trail.push(FailedAttempt {
            provider_id: r.provider_id.clone().unwrap_or_default(),
            credential_id: r.credential_id.clone().unwrap_or_default(),
            upstream_model: r.upstream_model.clone().unwrap_or_default(),
            class: f.class.into(),
            http_status: status.map(i64::from),
            duration_ms: took.as_millis().try_into().unwrap_or(i64::MAX),
            detail: f.detail.chars().take(MAX_TRAIL_DETAIL).collect(),
        });
    }

    /// Notes what the provider has streamed so far (called as its events arrive).
    pub fn note_output(&mut self, produced: OutputCount) {
        self.output = Some(produced);
    }

    /// Prompt tokens counted at admission (what an answer without usage is charged for its
    /// prompt).
    pub fn prompt_estimate(&self) -> i64 {
        self.prompt_estimate
    }

    /// The usage to charge. A call that failed before any output reached its client is not
    /// charged at all (whatever the provider reported of the prompt). Otherwise: the
    /// provider's report, else — an answer without usage, a stream that broke after output
    /// reached the client — the counted estimate (admission's prompt count and the output
    /// relayed), flagged on the record. A report of all zeros is no report. A stream that ended
    /// before the provider's final report has only a provisional one (Anthropic's
    /// `message_start` says one output token, Gemini's running counts lag the text): its
    /// prompt count stands, and the output that reached the client is charged at least as
    /// counted (flagged too).
    fn usage_to_charge(&mut self) -> Option<Usage> {
        let output = self.output.unwrap_or_default();
        if !self.answered && output.tokens() == 0 {
            return None;
        }
        let usage = self.counted_usage(output)?;
        // The tier the provider names, else the one it was asked for; so the images' size
        // and quality.
        let requested = self.requested_tier.filter(|_| self.tier_forwarded);
        let image = usage.image.or(self.requested_image);
        Some(Usage { service_tier: usage.service_tier.or(requested), image, ..usage })
    }

    fn counted_usage(&mut self, output: OutputCount) -> Option<Usage> {
        if let Some(u) = self.usage.filter(|u| !u.is_zero()) {
            if !self.answered && output.tokens() > u.output_tokens {
                self.record.usage_estimated = true;
                return Some(Usage { output_tokens: output.tokens(), ..u });
            }
            return Some(u);
        }
        self.record.usage_estimated = true;
        Some(estimate::counted(self.prompt_estimate, output))
    }

    pub fn add_upstream_time(&mut self, d: Duration) {
        self.upstream += d;
    }

    pub fn mark_first_token(&mut self) {
        if self.record.ttft_ms.is_none() {
            self.record.ttft_ms = Some(self.started.elapsed().as_millis() as i64);
        }
    }

    /// Gateway time so far: everything except waiting on the upstream.
    pub fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.upstream)
    }

    /// Lets the call carry on after its client leaves: answers the token to cancel then. A
    /// call finished after that settles as `client_disconnected_drained` (charged for its
    /// usage); one dropped unfinished as `drain_limit`.
    pub fn carry_on_without_client(&mut self) -> CancellationToken {
        self.left.get_or_insert_with(CancellationToken::new).clone()
    }

    fn client_left(&self) -> bool {
        self.left.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// The provider's answer is complete, its usage report final, whatever became of the client
    /// (a stream drained to its end after the client left).
    pub fn provider_finished(&mut self) {
        self.answered = true;
    }

    pub fn success(mut self, http_status: u16) -> Settled {
        self.answered = true;
        if self.client_left() {
            let message = "the client left; the provider's answer was read to its end";
            self.fail_fields(499, ErrorClass::ClientDisconnectedDrained, message);
            return self.settle();
        }
        self.record.status = CallStatus::Success.into();
        self.record.http_status = Some(http_status as i64);
        self.settle()
    }

    pub fn failure(mut self, http_status: u16, class: ErrorClass, message: &str) -> Settled {
        self.fail_fields(http_status, class, message);
        self.settle()
    }

    fn fail_fields(&mut self, http_status: u16, class: ErrorClass, message: &str) {
        self.record.status = CallStatus::Failed.into();
        self.record.http_status = Some(http_status as i64);
        self.record.error_class = Some(class.into());
        self.record.error_message = Some(message.chars().take(500).collect());
    }

    fn settle(&mut self) -> Settled {
        self.settled = true;
        let charged = self.usage_to_charge();
        let usage = charged.unwrap_or_default();
        // The record keeps the prices the usage paid: its shape's, and which shape it was.
        let charge = match (charged.is_some(), self.record.price.as_mut()) {
            (true, Some(price)) => {
                *price = price.for_usage(&usage);
                self.record.markup.charge(price, &usage)
            }
            (true, None) => self.record.markup.charge(&Pricing::default(), &usage),
            (false, _) => Charge::default(),
        };
        let cost = charge.cost;
        self.note_stored_response();
        let r = &mut self.record;
        r.provider_cost = charge.base;
        r.input_tokens = usage.input_tokens;
        r.output_tokens = usage.output_tokens;
        r.cached_tokens = usage.cached_tokens;
        r.cache_write_tokens = usage.cache_write_tokens;
        r.reasoning_tokens = usage.reasoning_tokens;
        r.images = usage.images;
        r.cost = cost;
        let elapsed = self.started.elapsed();
        let overhead = elapsed.saturating_sub(self.upstream);
        r.duration_ms = Some(elapsed.as_millis() as i64);
        r.overhead_us = Some(overhead.as_micros() as i64);
        let status = r.http_status.unwrap_or(0) as u16;
        self.series.record(status, elapsed, charged.as_ref(), cost);
        note_status(&self.state, r);
        self.state.metrics.overhead.observe(overhead);
        let tokens = charged.map(|u| u.input_tokens + u.output_tokens + u.cached_tokens + u.cache_write_tokens);
        let to_deduct = if self.deduct { cost } else { 0 };
        // What the balance could cover: the ledger is charged exactly what memory deducted.
        let deducted = match self.admitted.take() {
            Some(a) => a.settle(&self.state.accounts, &r.user_id, to_deduct, cost, tokens, r.started_at),
            None if to_deduct > 0 => self.state.accounts.charge(&r.user_id, to_deduct),
            None => 0,
        };
        let written_off = to_deduct - deducted;
        if written_off > 0 {
            tracing::warn!(
                call = r.id.as_str(),
                user = r.user_id.as_str(),
                cost,
                deducted,
                "the call cost more than the balance held: the rest is written off"
            );
        }
        let entry = (deducted > 0).then(|| NewEntry {
            user_id: r.user_id.clone(),
            kind: "charge".into(),
            amount: -deducted,
            idempotency_key: format!("call:{}", r.id),
            call_id: Some(r.id.clone()),
            note: (written_off > 0).then(|| {
                format!(
                    "cost {}; {} written off: a call never takes the balance below zero",
                    format_credits(cost),
                    format_credits(written_off)
                )
            }),
        });
        // Settling ends the guard (`success`/`failure` consume it, `Drop` is its end), so the
        // record is moved into the journal rather than copied.
        self.state.usage.record(CallWrite { record: std::mem::take(&mut self.record), charge: entry });
        Settled { cost }
    }

    /// Notes which provider and credential hold the response the call stored, for its user.
    fn note_stored_response(&mut self) {
        let r = &self.record;
        if let (Some(id), Some(provider_id), Some(credential_id)) =
            (self.stored_response.take(), &r.provider_id, &r.credential_id)
        {
            let origin = Origin {
                user_id: r.user_id.clone(),
                provider_id: provider_id.clone(),
                credential_id: credential_id.clone(),
            };
            self.state.response_origins.remember(id, origin);
        }
    }
}

/// Adds a settled call to its model's live status (`routing::status`): one short lock.
fn note_status(state: &AppState, r: &CallRecord) {
    let Some(ok) = status::counted(&r.status, r.error_class.as_deref()) else { return };
    // A success on a target outdates its failed probe (only successes are kept per target).
    let target = match (&r.provider_id, &r.upstream_model) {
        (Some(p), Some(m)) if ok && r.attempts > 0 => Some(HealthKey::target(p, m).to_string()),
        _ => None,
    };
    let latency = r.ttft_ms.or(r.duration_ms).unwrap_or(0);
    state.routing.status.record_call(&r.model, target.as_deref(), ok, latency, crate::clock::now_ms());
}

fn open_record(caller: &Caller, req: &admission::Request, route: &Route) -> CallRecord {
    CallRecord {
        id: crate::store::new_id(),
        request_id: req.request_id.to_string(),
        trace_id: Some(req.attribution.trace_id.clone()),
        end_user: req.attribution.end_user.clone(),
        tags: req.attribution.tags.clone(),
        user_id: caller.user.id.clone(),
        key_id: caller.key.id.clone(),
        dialect: req.dialect.as_str().to_string(),
        endpoint: req.endpoint.to_string(),
        model: req.model.to_string(),
        provider_id: Some(route.provider.id.clone()),
        upstream_model: Some(route.upstream_model.clone()),
        stream: req.stream,
        status: CallStatus::Processing.into(),
        price: route.pricing.clone(),
        markup: route.markup,
        started_at: crate::clock::now_ms(),
        ..CallRecord::default()
    }
}

/// Records a call refused at admission — `failed` with the refusal's class, no cost, no
/// charge — and returns the client's answer.
pub fn record_rejected(
    state: &AppState,
    caller: &Caller,
    route: &Route,
    req: &admission::Request,
    refused: admission::Refused,
) -> ApiError {
    let admission::Refused { error: err, class } = refused;
    let mut record = open_record(caller, req, route);
    record.status = CallStatus::Failed.into();
    record.http_status = Some(err.status().as_u16() as i64);
    record.error_class = Some(class.into());
    record.error_message = Some(err.message.chars().take(500).collect());
    record.duration_ms = Some(req.started.elapsed().as_millis() as i64);
    record.overhead_us = Some(req.started.elapsed().as_micros() as i64);
    let series = state.metrics.calls.get(req.model, &route.provider.name);
    series.record(err.status().as_u16(), req.started.elapsed(), None, 0);
    state.usage.record(CallWrite { record, charge: None });
    err
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.settled {
            if self.client_left() {
                let message = "the client left; the provider did not answer within the drain limit";
                self.fail_fields(499, ErrorClass::DrainLimit, message);
            } else {
                let message = "the client closed the connection before the call finished";
                self.fail_fields(499, ErrorClass::ClientDisconnected, message);
            }
            self.settle();
        }
    }
}
