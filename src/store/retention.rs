//! What retention and `tollgate archive import` do to the database: delete a time range of
//! call records in bounded batches (each its own short transaction, so the batch writer is
//! never held up for long; the batch is found before the write lock is taken, and the time
//! the lock was held is answered, so the job can size the next one), moving their spend from
//! `calls_spend` into `calls_spend_archived` and noting their day in `rollups_archived_days`
//! (their rollups stay) in the same transaction; and put archived records back, once, taking
//! their spend out of it again and adding to the rollups the records of days not noted there
//! (so a record is counted once, imported into the database it left or into another).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::call_outcome::CallStatus;
use super::calls::CallRecord;
use super::on_db;
use super::{Db, StoreResult, WritePool};

pub const DAY_MS: i64 = 86_400_000;

/// The oldest record's `started_at`, if there is any record.
pub async fn oldest_started(db: &Db) -> StoreResult<Option<i64>> {
    on_db!(db, |pool| {
        sqlx::query_scalar::<_, Option<i64>>("SELECT MIN(started_at) FROM calls").fetch_one(pool).await
    })
}

/// The condition of a batch: `[from, to)`, or up to and including the row at `last`.
fn range(last: Option<&(i64, String)>) -> &'static str {
    match last {
        Some(_) => "started_at >= $1 AND started_at <= $3 AND (started_at < $3 OR id <= $4)",
        None => "started_at >= $1 AND started_at < $2",
    }
}

macro_rules! engine {
    ($name:ident, $conn:ty) => {
        mod $name {
            use super::*;

            /// The last row of the batch: the `limit`-th of the range in index order, if the
            /// range has that many.
            pub async fn batch_end(
                conn: &mut $conn,
                from: i64,
                to: i64,
                limit: i64,
            ) -> StoreResult<Option<(i64, String)>> {
                sqlx::query_as(
                    "SELECT started_at, id FROM calls WHERE started_at >= $1 AND started_at < $2
                     ORDER BY started_at, id LIMIT 1 OFFSET $3",
                )
                .bind(from)
                .bind(to)
                .bind(limit - 1)
                .fetch_optional(&mut *conn)
                .await
            }

            pub async fn restore(conn: &mut $conn, records: &[CallRecord]) -> StoreResult<u64> {
                let mut restored = 0;
                let mut cells = crate::store::rollups::Cells::new();
                let mut spent = crate::store::spend::Days::new();
                // Whether a day's deleted records are still in the rollups, asked once per day.
                let mut counted: HashMap<i64, bool> = HashMap::new();
                for c in records {
                    let present: Option<String> = sqlx::query_scalar("SELECT id FROM calls WHERE id = $1")
                        .bind(&c.id)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if present.is_some() {
                        continue;
                    }
                    crate::store::calls::$name::upsert(conn, c).await?;
                    restored += 1;
                    if c.status != "processing" {
                        crate::store::spend::fold(&mut spent, c);
                    }
                    let day = c.started_at.div_euclid(DAY_MS);
                    let in_rollups = match counted.get(&day) {
                        Some(known) => *known,
                        None => {
                            let noted: Option<i64> =
                                sqlx::query_scalar("SELECT day FROM rollups_archived_days WHERE day = $1")
                                    .bind(day)
                                    .fetch_optional(&mut *conn)
                                    .await?;
                            *counted.entry(day).or_insert(noted.is_some())
                        }
                    };
                    if !in_rollups && c.status != CallStatus::Processing {
                        crate::store::rollups::fold(&mut cells, c);
                    }
                    if c.cost != 0 {
                        sqlx::query(
                            "UPDATE calls_spend_archived SET cost = cost - $1
                             WHERE key_id = $2 AND user_id = $3 AND day = $4",
                        )
                        .bind(c.cost)
                        .bind(&c.key_id)
                        .bind(&c.user_id)
                        .bind(c.started_at.div_euclid(DAY_MS))
                        .execute(&mut *conn)
                        .await?;
                    }
                }
                crate::store::rollups::$name::add(conn, &cells).await?;
                crate::store::spend::$name::add(conn, &spent).await?;
                Ok(restored)
            }
        }
    };
}
engine!(sqlite, sqlx::SqliteConnection);
engine!(pg, sqlx::PgConnection);

/// SQLite's batch: deletes the rows of `[from, to)` up to and including `last` (all of them
/// without it), inside the caller's write transaction, after moving their spend and noting
/// their days; every statement reads the same index range (SQLite has no `DELETE` in a `WITH`).
async fn sqlite_delete_batch(
    conn: &mut sqlx::SqliteConnection,
    from: i64,
    to: i64,
    last: Option<(i64, String)>,
) -> StoreResult<u64> {
    let cond = range(last.as_ref());
    let at_id = last.is_some();
    let (at, id) = last.unwrap_or_default();
    let mark = format!(
        "INSERT INTO rollups_archived_days (day) SELECT DISTINCT started_at / {DAY_MS} FROM calls
             WHERE {cond} ON CONFLICT (day) DO NOTHING"
    );
    let fold = format!(
        "INSERT INTO calls_spend_archived (key_id, user_id, day, cost)
             SELECT key_id, user_id, started_at / {DAY_MS}, CAST(SUM(cost) AS BIGINT) FROM calls
             WHERE {cond} AND cost <> 0 GROUP BY key_id, user_id, started_at / {DAY_MS}
             ON CONFLICT (key_id, user_id, day) DO UPDATE SET cost = calls_spend_archived.cost + excluded.cost"
    );
    let unfold = format!(
        "INSERT INTO calls_spend (key_id, user_id, day, cost)
             SELECT key_id, user_id, started_at / {DAY_MS}, -CAST(SUM(cost) AS BIGINT) FROM calls
             WHERE {cond} AND {counted} GROUP BY key_id, user_id, started_at / {DAY_MS}
             ON CONFLICT (key_id, user_id, day) DO UPDATE SET cost = calls_spend.cost + excluded.cost",
        counted = crate::store::spend::COUNTED
    );
    let delete = format!("DELETE FROM calls WHERE {cond}");
    let mut deleted = 0;
    for sql in [mark, fold, unfold, delete] {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from);
        // Only the placeholders the condition names are bound.
        let q = if at_id { q.bind(to).bind(at).bind(&id) } else { q.bind(to) };
        deleted = q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(deleted)
}

/// PostgreSQL's batch in one statement: the rows are deleted once, and the spend and the
/// archived days are taken from what the delete returns (four statements reading the same
/// rows cost it about as much again each).
async fn pg_delete_batch(
    conn: &mut sqlx::PgConnection,
    from: i64,
    to: i64,
    last: Option<(i64, String)>,
) -> StoreResult<u64> {
    let cond = range(last.as_ref());
    let sql = format!(
        "WITH gone AS (DELETE FROM calls WHERE {cond} RETURNING key_id, user_id, started_at, status, cost),
         mark AS (INSERT INTO rollups_archived_days (day) SELECT DISTINCT started_at / {DAY_MS} FROM gone
                  ON CONFLICT (day) DO NOTHING),
         fold AS (INSERT INTO calls_spend_archived (key_id, user_id, day, cost)
                  SELECT key_id, user_id, started_at / {DAY_MS}, CAST(SUM(cost) AS BIGINT) FROM gone
                  WHERE cost <> 0 GROUP BY key_id, user_id, started_at / {DAY_MS}
                  ON CONFLICT (key_id, user_id, day)
                  DO UPDATE SET cost = calls_spend_archived.cost + excluded.cost),
         unfold AS (INSERT INTO calls_spend (key_id, user_id, day, cost)
                  SELECT key_id, user_id, started_at / {DAY_MS}, -CAST(SUM(cost) AS BIGINT) FROM gone
                  WHERE {counted} GROUP BY key_id, user_id, started_at / {DAY_MS}
                  ON CONFLICT (key_id, user_id, day) DO UPDATE SET cost = calls_spend.cost + excluded.cost)
         SELECT COUNT(*) FROM gone",
        counted = crate::store::spend::COUNTED
    );
    let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(from);
    let q = match last {
        Some((at, id)) => q.bind(to).bind(at).bind(id),
        None => q.bind(to),
    };
    Ok(q.fetch_one(&mut *conn).await? as u64)
}

/// What one delete batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub deleted: u64,
    /// SQLite: from the moment its write transaction had the one write lock until it
    /// committed, how long the batch writer could have waited behind it. PostgreSQL: none (it
    /// locks only the rows it deletes, which no writer touches; sizing its batches by the
    /// transaction's time, a commit's flush of the log to disk included, made them a few
    /// rows each).
    pub held: Option<Duration>,
}

/// Deletes at most `limit` records started in `[from, to)`, oldest first, in one short
/// transaction that also moves their spend into `calls_spend_archived`. The batch's last row
/// is found before the transaction, by a read that takes no write lock.
pub async fn delete_batch(db: &Db, from: i64, to: i64, limit: i64) -> StoreResult<Batch> {
    match db {
        Db::Sqlite(pool) => {
            let last = sqlite::batch_end(&mut *pool.acquire().await?, from, to, limit).await?;
            let mut tx = pool.begin_write().await?;
            let locked = Instant::now();
            let deleted = sqlite_delete_batch(&mut tx, from, to, last).await?;
            tx.commit().await?;
            Ok(Batch { deleted, held: Some(locked.elapsed()) })
        }
        Db::Postgres(pool) => {
            let last = pg::batch_end(&mut *pool.acquire().await?, from, to, limit).await?;
            let mut tx = pool.begin_write().await?;
            let deleted = pg_delete_batch(&mut tx, from, to, last).await?;
            tx.commit().await?;
            Ok(Batch { deleted, held: None })
        }
    }
}

/// Inserts the records not already present (by id), in one transaction, taking each one's
/// cost back out of `calls_spend_archived` and adding to the rollups those of days whose
/// deleted records the rollups do not hold (`rollups_archived_days`). Returns how many were
/// inserted; running it again inserts none and adds nothing.
pub async fn restore(db: &Db, records: &[CallRecord]) -> StoreResult<u64> {
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_write().await?;
            let n = sqlite::restore(&mut tx, records).await?;
            tx.commit().await?;
            Ok(n)
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin_write().await?;
            let n = pg::restore(&mut tx, records).await?;
            tx.commit().await?;
            Ok(n)
        }
    }
}

/// How many records started in `[from, to)`.
pub async fn count(db: &Db, from: i64, to: i64) -> StoreResult<i64> {
    on_db!(db, |pool| {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM calls WHERE started_at >= $1 AND started_at < $2")
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await
    })
}
