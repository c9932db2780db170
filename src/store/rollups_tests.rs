//! The rollups against the records they summarize: under any order of starts and finishes,
//! batches, replayed lines and crashes (start-up closing running calls), every group's sums
//! equal the stored records' and its percentiles fall in the exact value's histogram bucket (or
//! the next); a rebuild from the records answers the same. SQLite always, PostgreSQL with
//! `TOLLGATE_TEST_POSTGRES_URL`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::calls::{self, CallRecord, CallWrite};
use super::rollups::{self, GroupBy};
use super::{Db, test_db};
use crate::stats::buckets::Period;
use crate::stats::histogram::bucket_of;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[derive(Debug, Clone)]
struct Spec {
    user: u8,
    model: u8,
    provider: Option<u8>,
    outcome: u8,
    tokens: (i64, i64, i64),
    cost: i64,
    duration: Option<i64>,
    ttft: Option<i64>,
    offset_ms: i64,
    /// The call dies with the process: its finish never reaches the journal.
    dies: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (0u8..2, 0u8..3, proptest::option::of(0u8..2), 0u8..4),
        (0i64..5_000, 0i64..3_000, 0i64..500, 0i64..10_000_000),
        (proptest::option::of(0i64..200_000), proptest::option::of(0i64..5_000)),
        (0i64..3 * 86_400_000, proptest::bool::weighted(0.1)),
    )
        .prop_map(|((user, model, provider, outcome), (i, o, c, cost), (duration, ttft), (offset_ms, dies))| {
            Spec { user, model, provider, outcome, tokens: (i, o, c), cost, duration, ttft, offset_ms, dies }
        })
}

fn records(specs: &[Spec]) -> Vec<(CallRecord, CallRecord)> {
    specs
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let start = CallRecord {
                id: format!("call-{n:04}"),
                request_id: "r".into(),
                user_id: format!("user-{}", s.user),
                key_id: format!("key-{}-{}", s.user, n % 2),
                dialect: "openai".into(),
                endpoint: "chat".into(),
                model: format!("model-{}", s.model),
                provider_id: s.provider.map(|p| format!("prov-{p}")),
                status: "processing".into(),
                started_at: T0 + s.offset_ms,
                ..CallRecord::default()
            };
            let mut end = start.clone();
            end.status = if s.outcome == 0 { "failed".into() } else { "success".into() };
            end.error_class = (s.outcome == 0).then(|| ["upstream_error", "rate_limited"][n % 2].to_string());
            (end.input_tokens, end.output_tokens, end.cached_tokens) = s.tokens;
            end.cost = s.cost;
            // A markup of ×1.5: two thirds of the charge is the provider's.
            end.provider_cost = s.cost * 2 / 3;
            end.duration_ms = s.duration;
            end.ttft_ms = s.ttft;
            (start, end)
        })
        .collect()
}

/// Plays the calls' writes in a shuffled order with replays, in batches, with crashes.
async fn play(db: &Db, calls: &[(CallRecord, CallRecord)], specs: &[Spec], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut writes: Vec<CallWrite> = Vec::new();
    for ((start, end), s) in calls.iter().zip(specs) {
        writes.push(CallWrite { record: start.clone(), charge: None });
        if !s.dies {
            writes.push(CallWrite { record: end.clone(), charge: None });
        }
    }
    // Replayed journal lines: any write may come again, anywhere.
    for _ in 0..rng.random_range(0..=writes.len()) {
        let again = writes[rng.random_range(0..writes.len())].clone();
        writes.push(again);
    }
    writes.shuffle(&mut rng);
    let mut rest = &writes[..];
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(8));
        calls::apply_batch(db, &rest[..n]).await.unwrap();
        rest = &rest[n..];
        if rng.random_bool(0.1) {
            calls::close_stale(db).await.unwrap();
        }
    }
    // The last start-up closes whatever is still running.
    calls::close_stale(db).await.unwrap();
}

/// What the stored records add up to, per (bucket, group), computed plainly.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    calls: i64,
    successes: i64,
    failures: i64,
    classes: BTreeMap<String, i64>,
    tokens: (i64, i64, i64),
    cost: i64,
    provider_cost: i64,
    durations: Vec<i64>,
    ttfts: Vec<i64>,
}

fn group_of(c: &CallRecord, g: GroupBy) -> String {
    match g {
        GroupBy::None => String::new(),
        GroupBy::Model => c.model.clone(),
        GroupBy::User => c.user_id.clone(),
        GroupBy::Key => c.key_id.clone(),
        GroupBy::App => c.app.clone().unwrap_or_default(),
        GroupBy::Provider => c.provider_id.clone().unwrap_or_default(),
    }
}

fn nearest_rank(values: &mut [i64], percent: usize) -> Option<i64> {
    values.sort();
    (!values.is_empty()).then(|| values[(values.len() * percent).div_ceil(100).max(1) - 1])
}

async fn check(db: &Db, stored: &[CallRecord]) {
    for period in [Period::Hour, Period::Day] {
        for g in [GroupBy::None, GroupBy::Model, GroupBy::User, GroupBy::Key, GroupBy::Provider] {
            let mut want: BTreeMap<(i64, String), Expected> = BTreeMap::new();
            for c in stored {
                let e = want.entry((period.floor(c.started_at), group_of(c, g))).or_default();
                e.calls += 1;
                if c.status == "success" {
                    e.successes += 1;
                } else {
                    e.failures += 1;
                    *e.classes.entry(c.error_class.clone().unwrap_or("other".into())).or_default() += 1;
                }
                e.tokens.0 += c.input_tokens;
                e.tokens.1 += c.output_tokens;
                e.tokens.2 += c.cached_tokens;
                e.cost += c.cost;
                e.provider_cost += c.provider_cost;
                e.durations.extend(c.duration_ms);
                e.ttfts.extend(c.ttft_ms);
            }
            let got = rollups::query(db, period, T0 - 86_400_000, T0 + 5 * 86_400_000, g, None).await.unwrap();
            assert_eq!(got.len(), want.len(), "{period:?} by {g:?}: one row per bucket and group");
            for row in got {
                let e = want.get_mut(&(row.bucket, row.group.clone())).expect("a group the records have");
                let r = &row.rollup;
                assert_eq!(
                    (r.calls, r.successes, r.failures, &r.failures_by_class),
                    (e.calls, e.successes, e.failures, &e.classes)
                );
                assert_eq!(
                    (r.input_tokens, r.output_tokens, r.cached_tokens, r.cost, r.provider_cost),
                    (e.tokens.0, e.tokens.1, e.tokens.2, e.cost, e.provider_cost)
                );
                for (hist, values) in [(&r.duration, &mut e.durations), (&r.ttft, &mut e.ttfts)] {
                    assert_eq!(hist.total(), values.len() as u64);
                    for p in [50, 95] {
                        let exact = nearest_rank(values, p);
                        let approx = hist.percentile(p as u64);
                        assert_eq!(exact.is_some(), approx.is_some());
                        if let (Some(x), Some(a)) = (exact, approx) {
                            assert!(
                                bucket_of(x).abs_diff(bucket_of(a)) <= 1,
                                "p{p}: exact {x}, from the histogram {a}"
                            );
                        }
                    }
                }
            }
        }
    }
}

async fn all_calls(db: &Db) -> Vec<CallRecord> {
    super::on_db!(db, |pool| {
        let rows = sqlx::query("SELECT * FROM calls").fetch_all(pool).await.unwrap();
        rows.iter().map(|r| CallRecord::from_row(r).unwrap()).collect()
    })
}

/// Plays migration 0013 on rows that have no provider cost yet (as rows written before it).
async fn backfill_provider_cost(db: &Db) {
    let (sqlite, postgres) = (
        include_str!("migrations/sqlite/0013_rollups_provider_cost.sql"),
        include_str!("migrations/postgres/0013_rollups_provider_cost.sql"),
    );
    let update = |text: &'static str| &text[text.find("UPDATE").expect("the migration's backfill")..];
    let backfill = update(if matches!(db, Db::Sqlite(_)) { sqlite } else { postgres });
    super::on_db!(db, |pool| {
        sqlx::query("UPDATE call_rollups SET provider_cost = 0").execute(pool).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(backfill)).execute(pool).await.unwrap();
    });
}

async fn clear(db: &Db) {
    super::on_db!(db, |pool| {
        sqlx::query("DELETE FROM calls").execute(pool).await.unwrap();
        sqlx::query("DELETE FROM call_rollups").execute(pool).await.unwrap();
    });
}

#[test]
fn rollups_equal_the_records_under_any_order_of_settles_replays_and_crashes() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dbs = rt.block_on(test_db::each());
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec(spec(), 1..40), any::<u64>());
    runner
        .run(&strategy, |(specs, seed)| {
            rt.block_on(async {
                for t in &dbs {
                    clear(&t.db).await;
                    play(&t.db, &records(&specs), &specs, seed).await;
                    let stored = all_calls(&t.db).await;
                    assert_eq!(stored.len(), specs.len(), "every call has one record");
                    assert!(stored.iter().all(|c| c.status != "processing"));
                    check(&t.db, &stored).await;
                    // Recomputed from the records, the rollups are the same.
                    rollups::rebuild(&t.db, None, None).await.unwrap();
                    check(&t.db, &stored).await;
                    // Rows from before they kept the provider cost get it from the records.
                    backfill_provider_cost(&t.db).await;
                    check(&t.db, &stored).await;
                }
            });
            Ok(())
        })
        .unwrap();
    rt.block_on(async {
        for t in dbs {
            t.cleanup().await;
        }
    });
}

/// `tollgate stats rebuild` of every day answers the migration's request to compute the older
/// records' rows, so the next start-up does not compute them again; a rebuild of a range
/// leaves the request standing (days outside it were not computed).
#[tokio::test]
async fn a_rebuild_of_every_day_clears_the_pending_seed_and_a_range_does_not() {
    for t in test_db::each().await {
        let db = &t.db;
        let pending = || async { super::settings::get(db, "rollups_pending").await.unwrap() };
        assert!(pending().await.is_some(), "the migration asks for the seed");
        rollups::rebuild(db, Some(T0), Some(T0 + 86_400_000)).await.unwrap();
        assert!(pending().await.is_some(), "a range leaves the request");
        rollups::rebuild(db, Some(T0), None).await.unwrap();
        assert!(pending().await.is_some(), "a range open at one end leaves it too");
        rollups::rebuild(db, None, None).await.unwrap();
        assert_eq!(pending().await, None, "every day rebuilt clears it");
        t.cleanup().await;
    }
}
