//! The overspending battery (issue 12): a property test of admission and settlement under
//! arbitrary interleavings of calls — chat bodies with any `n` and `max_tokens` (valid or
//! not), providers that report honest usage, no usage, or usage far past the cap — grants,
//! abandoned calls and crashes, against the real estimator, the real in-memory accounts and
//! the real database ledger. After every step: the balance never goes below zero (the bound
//! in ARCHITECTURE.md), it is the ledger's sum (in memory, in the ledger, in the cached
//! column), a body with an invalid cap is refused before anything is reserved, a call is
//! admitted only if what it may cost at its caps fits the available credits, and as long as
//! every provider has kept to the caps nothing has been written off.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use super::accounts::Accounts;
use super::estimate::{self, Estimate, OutputCount};
use super::markup::Markup;
use super::pricing::{Pricing, Usage};
use super::reservations::CreditHold;
use crate::store::ledger::{self, NewEntry};
use crate::store::users::{self, UserRow};
use crate::store::{Db, test_db};

/// 1 credit in, 100 out per million tokens: a small balance covers a few calls.
const PRICE: Pricing = Pricing {
    input: 1_000_000_000,
    output: 100_000_000_000,
    cached_input: None,
    cache_write: None,
    per_image: 0,
    per_request: 0,
    cache_write_1h: None,
    shapes: None,
    image_prices: None,
    applied: None,
};

/// What a provider reports when the call ends.
#[derive(Debug, Clone, Copy)]
enum Reported {
    /// Within the caps: this share (in percent) of the reserved output, the prompt as counted.
    Honest(u8),
    /// No usage at all: charged the counted estimate of the output relayed (within the caps).
    Missing(u8),
    /// Ignores the caps: this many output tokens, whatever was asked.
    Lying(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Grant {
        amount: i64,
    },
    /// A chat body with these `n` and `max_tokens` (any integers: invalid ones are refused).
    Admit {
        n: i64,
        max_tokens: Option<i64>,
        prompt_bytes: usize,
    },
    Settle {
        call: Index,
        reported: Reported,
    },
    Abandon {
        call: Index,
    },
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let cap = prop_oneof![3 => (1i64..200).prop_map(Some), 1 => Just(None), 1 => (-5i64..=0).prop_map(Some),
        1 => Just(Some(estimate::MAX_OUTPUT_TOKENS + 1))];
    let n = prop_oneof![6 => 1i64..=8, 1 => -2i64..=0, 1 => Just(estimate::MAX_CHOICES + 1)];
    let reported = prop_oneof![
        4 => (0u8..=100).prop_map(Reported::Honest),
        2 => (0u8..=100).prop_map(Reported::Missing),
        1 => (0i64..2_000_000).prop_map(Reported::Lying),
    ];
    prop_oneof![
        1 => (1i64..200_000_000).prop_map(|amount| Op::Grant { amount }),
        5 => (n, cap, 0usize..4000).prop_map(|(n, max_tokens, prompt_bytes)| Op::Admit { n, max_tokens, prompt_bytes }),
        4 => (any::<Index>(), reported).prop_map(|(call, reported)| Op::Settle { call, reported }),
        1 => any::<Index>().prop_map(|call| Op::Abandon { call }),
        1 => Just(Op::Crash),
    ]
}

fn body(n: i64, max_tokens: Option<i64>, prompt_bytes: usize) -> Map<String, Value> {
    let mut b = json!({"model": "m", "n": n, "messages": [{"role": "user", "content": "x".repeat(prompt_bytes)}]});
    if let Some(m) = max_tokens {
        b["max_tokens"] = m.into();
    }
    b.as_object().unwrap().clone()
}

fn charge(user: &str, call: u64, amount: i64) -> NewEntry {
    NewEntry {
        user_id: user.into(),
        kind: "charge".into(),
        amount: -amount,
        idempotency_key: format!("call:{user}:{call}"),
        call_id: None,
        note: None,
    }
}

struct Open {
    call: u64,
    estimate: Estimate,
    hold: CreditHold,
}

async fn run(db: &Db, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let user = UserRow::new_member("battery", crate::clock::now_ms());
    users::save(db, &user).await.unwrap();
    let u = user.id.as_str();
    let mut accounts = Accounts::default();
    let (mut balance, mut next_call, mut grants) = (0i64, 0u64, 0u64);
    let mut open: Vec<Open> = Vec::new();
    let mut lied = false;
    for op in ops {
        match op {
            Op::Grant { amount } => {
                let e = NewEntry {
                    user_id: u.into(),
                    kind: "grant".into(),
                    amount,
                    idempotency_key: format!("api:{u}:{grants}"),
                    call_id: None,
                    note: None,
                };
                grants += 1;
                let (entry, new) = ledger::post(db, &e).await.unwrap();
                prop_assert!(new);
                accounts.add(u, entry.amount);
                balance += amount;
            }
            Op::Admit { n, max_tokens, prompt_bytes } => {
                let valid = (1..=estimate::MAX_CHOICES).contains(&n)
                    && max_tokens.is_none_or(|m| (1..=estimate::MAX_OUTPUT_TOKENS).contains(&m));
                let reserved_before = accounts.account(u).reserved;
                let estimate = match estimate::openai(&body(n, max_tokens, prompt_bytes), true) {
                    Ok(e) => e,
                    Err(e) => {
                        prop_assert!(!valid, "a valid body refused: {}", e.message);
                        prop_assert_eq!(accounts.account(u).reserved, reserved_before, "nothing reserved");
                        continue;
                    }
                };
                prop_assert!(valid, "an invalid body admitted: n {} max_tokens {:?}", n, max_tokens);
                let per_choice = max_tokens.unwrap_or(estimate::DEFAULT_OUTPUT_CAP);
                prop_assert_eq!(estimate.output_tokens, per_choice * n, "every choice is reserved");
                let cost = estimate.cost(&PRICE, &Markup::NONE);
                let available = accounts.account(u).available();
                match accounts.reserve(u, cost) {
                    Ok(hold) => {
                        prop_assert!(available > 0 && available >= cost);
                        open.push(Open { call: next_call, estimate, hold });
                    }
                    Err(_) => prop_assert!(available <= 0 || available < cost),
                }
                next_call += 1;
            }
            Op::Settle { call, reported } if !open.is_empty() => {
                let Open { call: n, estimate: e, hold } = open.remove(call.index(open.len()));
                let share = |p: u8| e.output_tokens * i64::from(p) / 100;
                let usage = match reported {
                    Reported::Honest(p) => {
                        Usage { input_tokens: e.prompt_tokens, output_tokens: share(p), ..Usage::default() }
                    }
                    // The relay counted the output at four bytes a token.
                    Reported::Missing(p) => estimate::counted(e.prompt_tokens, OutputCount::of(share(p) as usize * 4)),
                    Reported::Lying(t) => {
                        lied |= t > e.output_tokens;
                        Usage { input_tokens: e.prompt_tokens, output_tokens: t, ..Usage::default() }
                    }
                };
                let cost = Markup::NONE.charge(&PRICE, &usage).cost;
                let held = hold.amount();
                let charged = hold.settle(cost);
                prop_assert_eq!(charged, cost.min(balance.max(0)), "charged down to zero, never below");
                if !lied {
                    prop_assert!(cost <= held, "within the caps the reservation covers the cost");
                    prop_assert_eq!(charged, cost, "nothing is written off while providers keep to the caps");
                }
                if charged > 0 {
                    prop_assert!(ledger::post(db, &charge(u, n, charged)).await.unwrap().1);
                }
                balance -= charged;
            }
            Op::Abandon { call } if !open.is_empty() => drop(open.remove(call.index(open.len()))),
            Op::Crash => {
                std::mem::forget(std::mem::take(&mut open));
                accounts = Accounts::default();
                accounts.load(ledger::balances(db).await.unwrap().into_iter().filter(|(id, _)| id == u));
            }
            _ => {}
        }
        prop_assert!(balance >= 0, "the bound: {}", balance);
        prop_assert_eq!(accounts.balance(u), balance);
        prop_assert_eq!(accounts.account(u).open, open.len() as i64);
        prop_assert_eq!(ledger::sum(db, u).await.unwrap(), balance, "the balance is the ledger's sum");
        prop_assert_eq!(users::get(db, u).await.unwrap().unwrap().balance, balance);
    }
    Ok(())
}

#[test]
fn no_interleaving_of_calls_takes_a_balance_below_zero() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dbs = rt.block_on(test_db::each());
    for (i, t) in dbs.iter().enumerate() {
        let cases = if i == 0 { 500 } else { 60 };
        let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        runner
            .run(&proptest::collection::vec(op(), 1..40), |ops| rt.block_on(run(&t.db, ops)))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for t in dbs {
        rt.block_on(t.cleanup());
    }
}
