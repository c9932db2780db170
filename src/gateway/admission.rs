//! Admission: the step between "who is calling, which model" and "call the provider". A call
//! is admitted only if its key's and user's budgets and its user's credits cover its estimated
//! cost, and its key's and user's rate limits allow it; what it was admitted with (a credit
//! reservation, budget holds, a rate-limit permit) is returned as one [`Admitted`] that the
//! call's `CallGuard` settles exactly once.
//!
//! Every check is an atomic reserve-if-enough on in-memory state (no database query, no
//! check-then-act): budgets and credits are reserved first, then rate limits are taken; a
//! refusal at any step drops what earlier steps reserved. A refused call costs nothing, never
//! reaches a provider, and is recorded as a `failed` call with `error_class`
//! `rate_limited`, `concurrency_limited`, `budget_exceeded` or `insufficient_credits` (the
//! call statuses are processing/success/failed; the class tells rejections apart).
//!
//! Cost of this step per call: the prompt count (a walk over the request's strings), three
//! short mutex sections (account, budgets, limiter) and a few small allocations (subject ids);
//! settling takes the same three locks once more.

use std::time::Instant;

use axum::http::HeaderValue;

use super::auth::Caller;
use crate::billing::accounts::Accounts;
use crate::billing::budgets::{BudgetHold, Exhausted};
use crate::billing::estimate::Estimate;
use crate::billing::limits::Limits;
use crate::billing::money::format_credits;
use crate::billing::ratelimit::{self, Dimension, RatePermit, RateState, Rejected, Scope, Subject};
use crate::billing::reservations::CreditHold;
use crate::error::{ApiError, ErrorKind};
use crate::protocol::Dialect;
use crate::routing::resolve::Route;
use crate::state::AppState;
use crate::store::call_outcome::ErrorClass;

/// What is being admitted (also what a refused call's record is made of).
pub struct Request<'a> {
    pub request_id: &'a str,
    pub dialect: Dialect,
    pub endpoint: &'a str,
    pub model: &'a str,
    pub stream: bool,
    pub started: Instant,
    pub estimate: Estimate,
    /// Trace id, end user and tags, for the call's record.
    pub attribution: &'a super::attribution::Attribution,
}

/// What a call was admitted with. Settled once by the call's guard; if it is dropped instead
/// (the call never started), each part releases itself without a charge.
pub struct Admitted {
    credit: Option<CreditHold>,
    budget: Option<BudgetHold>,
    rate: Option<RatePermit>,
    /// The prompt tokens counted at admission: what a call cut short before the provider
    /// reported usage is charged for its prompt.
    prompt_tokens: i64,
}

impl Admitted {
    pub fn prompt_tokens(&self) -> i64 {
        self.prompt_tokens
    }

    /// The rate limits' state at admission, for the answer's rate-limit headers.
    pub fn rate_state(&self) -> RateState {
        self.rate.as_ref().map(|r| r.state).unwrap_or_default()
    }

    /// Ends every hold: deducts `charge` from the credits (the cost, or 0 when the call is not
    /// deducted; never below a zero balance, see `Account::deduct`), counts `cost` against the
    /// budgets on the day the call started, and corrects the tokens-per-minute limits to
    /// `tokens` used (`None`: keep the admitted estimate). Answers what was deducted.
    pub fn settle(
        mut self,
        accounts: &Accounts,
        user_id: &str,
        charge: i64,
        cost: i64,
        tokens: Option<i64>,
        started_at_ms: i64,
    ) -> i64 {
        let deducted = match self.credit.take() {
            Some(hold) => hold.settle(charge),
            None if charge != 0 => accounts.charge(user_id, charge),
            None => 0,
        };
        if let Some(b) = self.budget.take() {
            b.settle(cost, started_at_ms, crate::clock::now_ms());
        }
        if let Some(r) = self.rate.take() {
            match tokens {
                Some(t) => r.finish(t, ratelimit::now_us()),
                None => drop(r),
            }
        }
        deducted
    }
}

fn subjects(caller: &Caller) -> [(Subject, Limits); 2] {
    [
        ((Scope::Key, caller.key.id.clone()), caller.key.limits),
        ((Scope::User, caller.user.id.clone()), caller.user.limits),
    ]
}

/// Why a call was refused: the client's 402/429, and the class its record is filed under.
pub struct Refused {
    pub error: ApiError,
    pub class: ErrorClass,
}

impl From<(ApiError, ErrorClass)> for Refused {
    fn from((error, class): (ApiError, ErrorClass)) -> Refused {
        Refused { error, class }
    }
}

/// Admits the call, or says why not (the caller records the refusal: `call::record_rejected`).
pub fn admit(state: &AppState, caller: &Caller, route: &Route, req: &Request) -> Result<Admitted, Refused> {
    // Fail closed: no call runs that its journal line could not record.
    if !state.usage.accepting() {
        return Err((journal_error(), ErrorClass::JournalUnavailable).into());
    }
    let subjects = subjects(caller);
    // Free models cost nothing: no budget or credit is at stake.
    let cost = match (&route.pricing, route.free) {
        (Some(p), false) => req.estimate.cost(p, &route.markup),
        _ => 0,
    };
    let now_ms = crate::clock::now_ms();
    let budget = state
        .budgets
        .reserve(&subjects, cost, now_ms)
        .map_err(|e| (budget_error(&e, &state.credits.name), ErrorClass::BudgetExceeded))?;
    // Unlimited plans are costed and recorded but never deducted, so nothing is reserved.
    let credit = if caller.user.unlimited || route.free {
        None
    } else {
        Some(
            state
                .accounts
                .reserve(&caller.user.id, cost)
                .map_err(|_| (credits_error(&state.credits.name), ErrorClass::InsufficientCredits))?,
        )
    };
    let now_us = ratelimit::now_us();
    let rate = state.limiter.acquire(&subjects, req.estimate.rate_tokens(), now_us).map_err(|r| {
        let class = if r.dimension == Dimension::Concurrency {
            ErrorClass::ConcurrencyLimited
        } else {
            ErrorClass::RateLimited
        };
        (rate_error(&r, req.estimate.rate_tokens(), req.dialect, now_us), class)
    })?;
    Ok(Admitted { credit, budget: Some(budget), rate: Some(rate), prompt_tokens: req.estimate.prompt_tokens })
}

/// The usage journal cannot be written (a full disk): the call is refused, not run unrecorded.
pub fn journal_error() -> ApiError {
    let mut e = ApiError::new(
        ErrorKind::Unavailable,
        "the gateway cannot write its usage journal (is its disk full?); calls are refused until it can",
    )
    .with_code("journal_unavailable");
    e.retry_after = Some(5);
    e
}

/// The call records waiting for the database reached `TOLLGATE_USAGE_BACKLOG_MAX` (calls arrive
/// faster than the database takes their records, or it is unreachable): new calls are shed.
pub fn overloaded_error() -> ApiError {
    let mut e =
        ApiError::new(ErrorKind::Unavailable, "the gateway is overloaded; try again shortly").with_code("overloaded");
    e.retry_after = Some(1);
    e
}

fn credits_error(unit: &str) -> ApiError {
    ApiError::new(
        ErrorKind::InsufficientCredits,
        format!(
            "insufficient credits: this account's balance of {unit} does not cover this call's estimated cost; \
             ask an administrator for a grant"
        ),
    )
    .with_code("insufficient_credits")
}

fn budget_error(e: &Exhausted, unit: &str) -> ApiError {
    let period = e.period.map_or("", |p| p.as_str());
    let resets = e.resets_at_ms.map_or(String::new(), |t| format!("; it resets at {}", crate::clock::rfc3339(t)));
    ApiError::new(
        ErrorKind::InsufficientCredits,
        format!(
            "the {} budget of this {} is exhausted: {} of {} {unit} spent{resets}",
            if period.is_empty() { "spend" } else { period },
            e.scope.noun(),
            format_credits(e.spent),
            format_credits(e.limit),
        ),
    )
    .with_code("budget_exceeded")
}

fn rate_error(r: &Rejected, tokens: i64, dialect: Dialect, now_us: i64) -> ApiError {
    let who = r.scope.noun();
    let message = match r.dimension {
        Dimension::Concurrency => {
            format!("too many concurrent requests for this {who}: at most {} at a time", r.limit)
        }
        Dimension::Requests => format!("rate limit reached for this {who}: {} requests per minute", r.limit),
        Dimension::Tokens if r.never => format!(
            "request too large for this {who}'s limit of {} tokens per minute: this request needs about {tokens}",
            r.limit
        ),
        Dimension::Tokens => format!(
            "rate limit reached for this {who}: {} tokens per minute (this request needs about {tokens})",
            r.limit
        ),
    };
    let mut err = ApiError::new(ErrorKind::RateLimited, message).with_code("rate_limit_exceeded");
    // A concurrency slot frees when a call ends: suggest a short wait. An oversized request
    // will never pass: no retry-after.
    let retry_us = if r.dimension == Dimension::Concurrency { 1_000_000 } else { r.retry_after_us };
    if !r.never {
        err.retry_after = Some(((retry_us + 999_999) / 1_000_000).max(1) as u64);
        err = err.with_header("retry-after-ms", HeaderValue::from(((retry_us + 999) / 1000).max(1)));
    }
    for (name, value) in super::rate_headers::render(dialect, &r.state, now_us) {
        err = err.with_header(name, value);
    }
    err
}
