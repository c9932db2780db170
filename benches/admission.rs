//! The cost of the admission step per request: counting the prompt, holding the budgets of
//! the key and the user, reserving credits and taking the rate-limit permit (requests, tokens
//! and concurrency), then settling all three with the call's cost — the in-memory work
//! `gateway::admission` and `CallGuard` do around every call, with no I/O.
//!
//! Run: `cargo bench --bench admission` (release build; `ADMISSION_BENCH_CALLS=N` changes
//! the 100 000 calls measured). A plain loop timed with `Instant`: one thread, warm caches,
//! so it is the floor of the step, not its cost under lock contention.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};
use tollgate::billing::accounts::Accounts;
use tollgate::billing::budgets::Budgets;
use tollgate::billing::estimate;
use tollgate::billing::limits::{Limits, Period};
use tollgate::billing::markup::{Markup, Multiplier};
use tollgate::billing::money::NANOS_PER_CREDIT;
use tollgate::billing::pricing::{Pricing, Usage};
use tollgate::billing::ratelimit::{self, RateLimiter, Scope};
use tollgate::clock;

struct Admission {
    accounts: Accounts,
    budgets: Arc<Budgets>,
    limiter: Arc<RateLimiter>,
    key_limits: Limits,
    user_limits: Limits,
    price: Pricing,
    /// A marked-up price, as an operator reselling access sets it.
    markup: Markup,
}

impl Admission {
    /// One call: admit on the estimate, then settle with 120 output tokens used.
    fn call(&self, body: &Map<String, Value>) {
        let subjects = [
            ((Scope::Key, "key-0190c2d4-9a51".to_string()), self.key_limits),
            ((Scope::User, "user-0190c2d4-7f3e".to_string()), self.user_limits),
        ];
        let estimate = estimate::openai(body, true);
        let reserve = estimate.cost(&self.price, &self.markup);
        let started_ms = clock::now_ms();
        let budget = self.budgets.reserve(&subjects, reserve, started_ms).expect("budget");
        let credit = self.accounts.reserve(&subjects[1].0.1, reserve).expect("credit");
        let permit = self.limiter.acquire(&subjects, estimate.rate_tokens(), ratelimit::now_us()).expect("limits");
        let used = Usage { input_tokens: estimate.prompt_tokens, output_tokens: 120, ..Usage::default() };
        let cost = self.markup.charge(&self.price, &used).cost;
        credit.settle(cost);
        budget.settle(cost, started_ms, clock::now_ms());
        permit.finish(used.input_tokens + used.output_tokens, ratelimit::now_us());
    }
}

fn main() {
    let calls: u32 = std::env::var("ADMISSION_BENCH_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let limits = |budget_credits: i64| Limits {
        rpm: Some(100_000_000),
        tpm: Some(1_000_000_000),
        max_concurrency: Some(64),
        budget: Some(budget_credits * NANOS_PER_CREDIT),
        budget_period: Some(Period::Monthly),
        max_keys: None,
    };
    let a = Admission {
        accounts: Accounts::default(),
        budgets: Arc::new(Budgets::default()),
        limiter: Arc::new(RateLimiter::default()),
        key_limits: limits(100_000),
        user_limits: limits(1_000_000),
        price: Pricing { input: 2_500_000_000, output: 10_000_000_000, ..Pricing::default() },
        markup: Markup { multiplier: Multiplier::parse("1.2").expect("a multiplier"), request_fee: 1_000 },
    };
    a.accounts.set("user-0190c2d4-7f3e", 1_000_000 * NANOS_PER_CREDIT);
    // A typical chat request: a system prompt, a short exchange, ~1.2 KB of text.
    let sentence = "Summarise the quarterly figures for the board and flag anything unusual. ";
    let body = json!({"model": "gpt-4o-mini", "max_tokens": 512, "messages": [
        {"role": "system", "content": sentence.repeat(6)},
        {"role": "user", "content": sentence.repeat(8)},
        {"role": "assistant", "content": sentence.repeat(2)},
        {"role": "user", "content": "And the outlook?"},
    ]});
    let body = body.as_object().expect("object").clone();
    for _ in 0..calls / 10 {
        a.call(&body);
    }
    let started = Instant::now();
    for _ in 0..calls {
        a.call(&body);
    }
    let elapsed = started.elapsed();
    assert_eq!(a.accounts.open_reservations(), 0, "every reservation was settled");
    assert_eq!(a.budgets.open_holds(), 0, "every budget hold was settled");
    assert_eq!(a.limiter.in_flight_total(), 0, "every permit was released");
    let per_call_us = elapsed.as_secs_f64() * 1e6 / f64::from(calls);
    println!(
        "admission step (estimate + budget hold + credit reservation + rate-limit permit, then settle): \
         {per_call_us:.3} µs per request over {calls} requests ({:.0} requests/s on one thread)",
        f64::from(calls) / elapsed.as_secs_f64()
    );
}
