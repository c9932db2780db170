//! The spend of the stored, finished call records per key, user and UTC day (`calls_spend`),
//! with which start-up seeds the budgets (with `calls_spend_archived`, the spend of records
//! retention deleted) in one read of a row per key and day, not of every record.
//!
//! It changes with the records, in their transactions: the batch writer adds a call's cost
//! when it is the first to write the call as finished (a finished row is final, so a replayed
//! line adds nothing), like the rollups; so do `close_stale` and `tollgate archive import`;
//! retention takes out what it deletes; `tollgate stats rebuild` recomputes a day from the
//! records. A call still running counts once it finishes; at start-up none is running
//! (`close_stale` has finished them), so the table then equals the sum over the records.
//! Days are `started_at / 86400000` as SQL divides, the same as `calls_spend_archived`.

use std::collections::BTreeMap;

use super::call_record::CallRecord;

pub const DAY_MS: i64 = 86_400_000;

/// Spend to add, by `(key_id, user_id, day)`.
pub type Days = BTreeMap<(String, String, i64), i64>;

/// Counts a finished call's cost (nothing for a call that cost nothing). Saturates like the
/// budgets' own sums: a cost past `i64` leaves the day spent, not wrapped round.
pub fn fold(days: &mut Days, c: &CallRecord) {
    if c.cost == 0 {
        return;
    }
    // `/` truncates like SQL's integer division, so a day here is the day SQL computes.
    let sum = days.entry((c.key_id.clone(), c.user_id.clone(), c.started_at / DAY_MS)).or_default();
    *sum = sum.saturating_add(c.cost);
}

/// The condition on `calls` of the records a spend row counts: finished, with a cost.
pub const COUNTED: &str = "status <> 'processing' AND cost <> 0";

macro_rules! engine {
    ($name:ident, $conn:ty) => {
        pub(crate) mod $name {
            use super::*;
            use crate::store::StoreResult;

            /// Adds `days` to the stored rows, inside the caller's write transaction.
            pub async fn add(conn: &mut $conn, days: &Days) -> StoreResult<()> {
                for ((key_id, user_id, day), cost) in days {
                    sqlx::query(
                        "INSERT INTO calls_spend (key_id, user_id, day, cost) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (key_id, user_id, day) DO UPDATE SET cost = calls_spend.cost + excluded.cost",
                    )
                    .bind(key_id)
                    .bind(user_id)
                    .bind(day)
                    .bind(cost)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            /// Recomputes the rows of the records started in `[from, to)` (a whole UTC day),
            /// inside the caller's write transaction.
            pub async fn recompute_day(conn: &mut $conn, from: i64, to: i64) -> StoreResult<()> {
                sqlx::query("DELETE FROM calls_spend WHERE day = $1").bind(from / DAY_MS).execute(&mut *conn).await?;
                let sql = format!(
                    "INSERT INTO calls_spend (key_id, user_id, day, cost)
                     SELECT key_id, user_id, started_at / {DAY_MS}, CAST(SUM(cost) AS BIGINT) FROM calls
                     WHERE started_at >= $1 AND started_at < $2 AND {COUNTED}
                     GROUP BY key_id, user_id, started_at / {DAY_MS}
                     ON CONFLICT (key_id, user_id, day) DO UPDATE SET cost = calls_spend.cost + excluded.cost"
                );
                // The SQL is assembled from constants only; values are bound.
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).execute(&mut *conn).await?;
                Ok(())
            }
        }
    };
}
engine!(sqlite, sqlx::SqliteConnection);
engine!(pg, sqlx::PgConnection);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::calls::{self, CallWrite};
    use crate::store::{Db, on_db, retention, rollups, test_db};

    fn record(user: &str, started_at: i64, cost: i64, status: &str) -> CallRecord {
        CallRecord {
            id: crate::store::new_id(),
            user_id: user.into(),
            key_id: format!("key-{user}"),
            model: "m".into(),
            status: status.into(),
            cost,
            started_at,
            ..CallRecord::default()
        }
    }

    fn writes(records: &[CallRecord]) -> Vec<CallWrite> {
        records.iter().map(|r| CallWrite { record: r.clone(), charge: None }).collect()
    }

    /// What start-up summed before `calls_spend`: every record, plus the archived spend.
    async fn from_the_records(db: &Db, since: i64) -> Vec<(String, String, i64, i64)> {
        let mut rows: Vec<(String, String, i64, i64)> = on_db!(db, |pool| {
            sqlx::query_as(
                "SELECT key_id, user_id, day * 86400000, CAST(SUM(cost) AS BIGINT) FROM (
                     SELECT key_id, user_id,
                         CASE WHEN started_at >= $1 THEN started_at / 86400000 ELSE -1 END AS day, cost
                     FROM calls WHERE cost <> 0
                     UNION ALL
                     SELECT key_id, user_id, CASE WHEN day * 86400000 >= $1 THEN day ELSE -1 END AS day, cost
                     FROM calls_spend_archived WHERE cost <> 0
                 ) spend GROUP BY key_id, user_id, day",
            )
            .bind(since)
            .fetch_all(pool)
            .await
            .unwrap()
        });
        rows.sort();
        rows
    }

    async fn seeded(db: &Db, since: i64) -> Vec<(String, String, i64, i64)> {
        let mut rows = calls::spend_by_day(db, since).await.unwrap();
        rows.sort();
        rows
    }

    /// The budgets' start-up seed read from the per-day sums equals the sum over every record
    /// through whatever changes the records: batches with replays and calls finishing in a
    /// later batch, a crash's running calls closed, retention deleting part of a day, an
    /// import bringing it back, rebuilds, and the migration's seed of an existing database.
    #[tokio::test]
    async fn the_seed_from_the_day_sums_equals_the_sum_over_the_records() {
        for t in test_db::each().await {
            let db = &t.db;
            let since = 10 * DAY_MS;
            let mut finished = Vec::new();
            for (day, n) in [(3, 9), (4, 0), (10, 5), (12, 7)] {
                for i in 0..n {
                    let status = if i % 3 == 0 { "failed" } else { "success" };
                    let cost = if i % 4 == 1 { 0 } else { 100 + i };
                    finished.push(record(["a", "b"][i as usize % 2], day * DAY_MS + i * 1000, cost, status));
                }
            }
            // Some calls are written running first, then finished in a later batch.
            let running: Vec<CallRecord> = finished
                .iter()
                .step_by(3)
                .map(|r| CallRecord { status: "processing".into(), cost: 0, ..r.clone() })
                .collect();
            calls::apply_batch(db, &writes(&running)).await.unwrap();
            calls::apply_batch(db, &writes(&finished)).await.unwrap();
            calls::apply_batch(db, &writes(&finished[..6])).await.unwrap();
            // A crash left a call running with a cost noted; start-up closes it.
            let stale = record("a", 12 * DAY_MS + 50_000, 777, "processing");
            calls::apply_batch(db, &writes(std::slice::from_ref(&stale))).await.unwrap();
            calls::close_stale(db).await.unwrap();
            let all = from_the_records(db, since).await;
            assert!(all.iter().any(|r| r.2 == -DAY_MS) && all.iter().any(|r| r.2 == 12 * DAY_MS), "{all:?}");
            assert_eq!(seeded(db, since).await, all);
            assert_eq!(seeded(db, 11 * DAY_MS).await, from_the_records(db, 11 * DAY_MS).await);

            // Retention deletes part of day 3 and all of day 10; then day 3 comes back.
            assert_eq!(retention::delete_batch(db, 3 * DAY_MS, 4 * DAY_MS, 4).await.unwrap().deleted, 4);
            retention::delete_batch(db, 10 * DAY_MS, 11 * DAY_MS, 100).await.unwrap();
            assert_eq!(seeded(db, since).await, all, "the deleted records' spend still counts");
            assert_eq!(from_the_records(db, since).await, all);
            let day3: Vec<CallRecord> = finished.iter().filter(|r| r.started_at < 4 * DAY_MS).cloned().collect();
            retention::restore(db, &day3).await.unwrap();
            retention::restore(db, &day3).await.unwrap();
            assert_eq!(seeded(db, since).await, all, "restored records count once");

            // Rebuilt from the records, a day's sum is the same; a day with no records left
            // keeps only its archived spend.
            rollups::rebuild(db, Some(3 * DAY_MS), Some(13 * DAY_MS)).await.unwrap();
            rollups::rebuild(db, None, None).await.unwrap();
            assert_eq!(seeded(db, since).await, all);

            // The migration's seed of a database that had records before the table.
            let migration = match db {
                Db::Sqlite(_) => include_str!("migrations/sqlite/0014_calls_spend.sql"),
                Db::Postgres(_) => include_str!("migrations/postgres/0014_calls_spend.sql"),
            };
            let seed = &migration[migration.find("INSERT").expect("the migration's seed")..];
            on_db!(db, |pool| {
                sqlx::query("DELETE FROM calls_spend").execute(pool).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(seed)).execute(pool).await.unwrap();
            });
            assert_eq!(seeded(db, since).await, all);
            t.cleanup().await;
        }
    }
}
