//! A state-machine property test of the ledger and credit reservations against a simple
//! model: random sequences of grants (with repeated idempotency keys), admissions, settled
//! and abandoned calls, journal replays of settled charges, and crashes, run against the real
//! database ledger and the real in-memory accounts. After every step: the balance equals
//! credits in minus charges (in the model, in memory, in the ledger sum and in the cached
//! column); open reservations are exactly the calls admitted and not yet ended; a call is
//! admitted iff the balance minus open reservations is positive and covers its estimate; a
//! settlement deducts its cost but never takes the balance below zero (the rest is written
//! off), and a grant key reused for another amount is refused without a change.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::account::Account;
use super::accounts::Accounts;
use super::reservations::CreditHold;
use crate::store::ledger::{self, NewEntry};
use crate::store::users::{self, UserRow};
use crate::store::{Db, test_db};

#[derive(Debug, Clone)]
enum Op {
    /// An API grant; a repeated key must change nothing (and is refused with another amount).
    Grant { key: u8, amount: i64 },
    /// A call asks to be admitted with this estimate.
    Admit { estimate: i64 },
    /// An open call ends and is charged its exact cost (which may exceed the estimate).
    Settle { call: Index, cost: i64 },
    /// The journal is replayed: a settled call's charge is posted again.
    Replay { call: Index },
    /// An open call's reservation is dropped unsettled (early return, panic unwinding).
    Abandon { call: Index },
    /// The process dies: memory is gone; a restart loads balances from the database.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..4, prop_oneof![Just(100i64), 1i64..1_000]).prop_map(|(key, amount)| Op::Grant { key, amount }),
        4 => (0i64..400).prop_map(|estimate| Op::Admit { estimate }),
        3 => (any::<Index>(), 0i64..600).prop_map(|(call, cost)| Op::Settle { call, cost }),
        1 => any::<Index>().prop_map(|call| Op::Replay { call }),
        1 => any::<Index>().prop_map(|call| Op::Abandon { call }),
        1 => Just(Op::Crash),
    ]
}

#[derive(Default)]
struct Model {
    grants: HashMap<u8, i64>,
    balance: i64,
    /// Open calls: (call number, estimate).
    open: Vec<(u64, i64)>,
    /// Settled calls and what they were charged.
    settled: Vec<(u64, i64)>,
    next_call: u64,
}

fn charge(user: &str, call: u64, cost: i64) -> NewEntry {
    NewEntry {
        user_id: user.into(),
        kind: "charge".into(),
        amount: -cost,
        idempotency_key: format!("call:{user}:{call}"),
        call_id: None,
        note: None,
    }
}

async fn run(db: &Db, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let now = crate::clock::now_ms();
    let user = UserRow::new_member("model", now);
    users::save(db, &user).await.unwrap();
    let u = user.id.as_str();
    let mut m = Model::default();
    let mut accounts = Accounts::default();
    let mut holds: Vec<(u64, CreditHold)> = Vec::new();
    for op in ops {
        match op {
            Op::Grant { key, amount } => {
                let e = NewEntry {
                    user_id: u.into(),
                    kind: "grant".into(),
                    amount,
                    idempotency_key: format!("api:{u}:{key}"),
                    call_id: None,
                    note: None,
                };
                let posted = ledger::post(db, &e).await;
                match (m.grants.get(&key).copied(), posted) {
                    (None, Ok((entry, true))) => {
                        accounts.add(u, entry.amount);
                        m.grants.insert(key, amount);
                        m.balance += amount;
                    }
                    (Some(first), Ok((entry, false))) => {
                        prop_assert_eq!(first, amount, "a repeat of the same content");
                        prop_assert_eq!(entry.amount, first, "a repeated key answers the first entry");
                    }
                    (Some(first), Err(ledger::PostError::KeyReused(entry))) => {
                        prop_assert_ne!(first, amount, "only other content is refused");
                        prop_assert_eq!(entry.amount, first);
                    }
                    (first, other) => {
                        return Err(TestCaseError::fail(format!("grant {key} (first {first:?}): {other:?}")));
                    }
                }
            }
            Op::Admit { estimate } => {
                let available = m.balance - m.open.iter().map(|(_, e)| e).sum::<i64>();
                let admitted = accounts.reserve(u, estimate);
                prop_assert_eq!(admitted.is_ok(), available > 0 && available >= estimate);
                if let Ok(hold) = admitted {
                    holds.push((m.next_call, hold));
                    m.open.push((m.next_call, estimate));
                }
                m.next_call += 1;
            }
            Op::Settle { call, cost } if !holds.is_empty() => {
                let i = call.index(holds.len());
                let (n, hold) = holds.remove(i);
                let charged = hold.settle(cost);
                // Never below zero: what the balance held, at most (an operator's negative
                // balance is never lowered further).
                prop_assert_eq!(charged, cost.min(m.balance.max(0)));
                if charged > 0 {
                    prop_assert!(ledger::post(db, &charge(u, n, charged)).await.unwrap().1);
                }
                m.open.retain(|(c, _)| *c != n);
                m.settled.push((n, charged));
                m.balance -= charged;
                prop_assert!(m.balance >= 0);
            }
            Op::Replay { call } if !m.settled.is_empty() => {
                let (n, cost) = m.settled[call.index(m.settled.len())];
                if cost > 0 {
                    let (entry, new) = ledger::post(db, &charge(u, n, cost)).await.unwrap();
                    prop_assert!(!new, "a replayed charge is not posted twice");
                    prop_assert_eq!(entry.amount, -cost);
                }
            }
            Op::Abandon { call } if !holds.is_empty() => {
                let (n, hold) = holds.remove(call.index(holds.len()));
                drop(hold);
                m.open.retain(|(c, _)| *c != n);
            }
            Op::Crash => {
                // Memory is lost with the process; nothing reserved survives.
                std::mem::forget(std::mem::take(&mut holds));
                accounts = Accounts::default();
                let balances = ledger::balances(db).await.unwrap();
                accounts.load(balances.into_iter().filter(|(id, _)| id == u));
                m.open.clear();
            }
            _ => {}
        }
        let reserved = m.open.iter().map(|(_, e)| e).sum();
        let want = Account { balance: m.balance, reserved, open: m.open.len() as i64 };
        prop_assert_eq!(accounts.account(u), want);
        prop_assert_eq!(accounts.open_reservations(), m.open.len() as i64);
        prop_assert_eq!(ledger::sum(db, u).await.unwrap(), m.balance, "the balance is the ledger sum");
        prop_assert_eq!(users::get(db, u).await.unwrap().unwrap().balance, m.balance);
    }
    Ok(())
}

#[test]
fn ledger_and_reservations_follow_the_model() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dbs = rt.block_on(test_db::each());
    for (i, t) in dbs.iter().enumerate() {
        // SQLite gets the thousands of sequences; PostgreSQL (slower per statement) fewer.
        let cases = if i == 0 { 1000 } else { 100 };
        let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        runner
            .run(&proptest::collection::vec(op(), 1..40), |ops| rt.block_on(run(&t.db, ops)))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    for t in dbs {
        rt.block_on(t.cleanup());
    }
}
