//! The call rollups: one row per UTC hour and per UTC day for each (user, key, app, model,
//! provider), holding what the finished calls started in it add up to (`stats::rollup::Rollup`:
//! counts, tokens, cost and provider cost, latency histograms as text).
//!
//! Rows change only in the transaction that first writes a call as finished (the batch
//! writer's, `calls::apply`; and `calls::close_stale`), so a call counts exactly once however
//! often its journal line is replayed, and the current hour is as live as the records are.
//! Writers merge under one lock (SQLite: the write transaction itself; PostgreSQL: a
//! transaction advisory lock), so a histogram's read-merge-write never races another's.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;

use super::call_outcome::CallStatus;
use super::call_record::CallRecord;
use super::on_db;
use super::{Db, DbRow, StoreResult, WritePool};
use crate::stats::buckets::Period;
use crate::stats::histogram::Histogram;
use crate::stats::rollup::{Rollup, Sample, add_encoded_classes, encode_classes};

/// Arbitrary constant naming the rollup writers' advisory lock (PostgreSQL).
const PG_LOCK_ID: i64 = 0x7011_5a75;

/// Set by the migration that creates the table: the rows of calls recorded before it are
/// computed at the next start-up.
const PENDING_SETTING: &str = "rollups_pending";

/// One rollup row's identity. `app` and `provider_id` are empty when the call had none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey {
    pub period: &'static str,
    pub bucket: i64,
    pub user_id: String,
    pub key_id: String,
    pub app: String,
    pub model: String,
    pub provider_id: String,
}

/// Rollup rows to add, by row.
pub type Cells = BTreeMap<CellKey, Rollup>;

/// What a finished call counts as.
pub fn sample(c: &CallRecord) -> Sample<'_> {
    Sample {
        success: c.status == CallStatus::Success,
        error_class: c.error_class.as_deref(),
        input_tokens: c.input_tokens,
        output_tokens: c.output_tokens,
        cached_tokens: c.cached_tokens,
        cache_write_tokens: c.cache_write_tokens,
        reasoning_tokens: c.reasoning_tokens,
        images: c.images,
        cost: c.cost,
        provider_cost: c.provider_cost,
        duration_ms: c.duration_ms,
        ttft_ms: c.ttft_ms,
    }
}

/// Adds a finished call to its hour's and its day's rows.
pub fn fold(cells: &mut Cells, c: &CallRecord) {
    let s = sample(c);
    for period in [Period::Hour, Period::Day] {
        let key = CellKey {
            period: period.as_str(),
            bucket: period.floor(c.started_at),
            user_id: c.user_id.clone(),
            key_id: c.key_id.clone(),
            app: c.app.clone().unwrap_or_default(),
            model: c.model.clone(),
            provider_id: c.provider_id.clone().unwrap_or_default(),
        };
        cells.entry(key).or_default().add(&s);
    }
}

/// The columns of a record that [`fold`] reads: a rebuild reads these of a day's records, not
/// every column.
const FOLDED_COLUMNS: &str = "user_id, key_id, app, model, provider_id, status, error_class, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, images, cost, provider_cost, started_at,
    duration_ms, ttft_ms";

/// A record read through [`FOLDED_COLUMNS`]: what [`fold`] reads is as `CallRecord::from_row`
/// reads it, the rest is left empty.
fn folded_record(r: &impl DbRow) -> StoreResult<CallRecord> {
    let cost = r.int("cost")?;
    Ok(CallRecord {
        user_id: r.text("user_id")?,
        key_id: r.text("key_id")?,
        app: r.opt_text("app")?,
        model: r.text("model")?,
        provider_id: r.opt_text("provider_id")?,
        status: r.text("status")?,
        error_class: r.opt_text("error_class")?,
        input_tokens: r.int("input_tokens")?,
        output_tokens: r.int("output_tokens")?,
        cached_tokens: r.int("cached_tokens")?,
        cache_write_tokens: r.int("cache_write_tokens")?,
        reasoning_tokens: r.int("reasoning_tokens")?,
        images: r.int("images")?,
        cost,
        // Records from before markups were charged at cost.
        provider_cost: r.opt_int("provider_cost")?.unwrap_or(cost),
        started_at: r.int("started_at")?,
        duration_ms: r.opt_int("duration_ms")?,
        ttft_ms: r.opt_int("ttft_ms")?,
        ..CallRecord::default()
    })
}

/// Rows per statement when a rebuild writes a day's rows: 21 values each, well under SQLite's
/// 32,766 bound parameters (and PostgreSQL's 65,535).
const INSERT_ROWS: usize = 500;

fn decode_err(e: String) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

/// A stored row's numbers (also a query's grouped sums: the same column names).
fn read_rollup(r: &impl DbRow) -> StoreResult<Rollup> {
    let mut out = Rollup {
        calls: r.int("calls")?,
        successes: r.int("successes")?,
        failures: r.int("failures")?,
        input_tokens: r.int("input_tokens")?,
        output_tokens: r.int("output_tokens")?,
        cached_tokens: r.int("cached_tokens")?,
        cache_write_tokens: r.int("cache_write_tokens")?,
        reasoning_tokens: r.int("reasoning_tokens")?,
        images: r.int("images")?,
        cost: r.int("cost")?,
        provider_cost: r.int("provider_cost")?,
        ..Rollup::default()
    };
    add_encoded_classes(&mut out.failures_by_class, &r.opt_text("failures_by_class")?.unwrap_or_default())
        .map_err(decode_err)?;
    out.duration = Histogram::decode(&r.opt_text("duration_hist")?.unwrap_or_default()).map_err(decode_err)?;
    out.ttft = Histogram::decode(&r.opt_text("ttft_hist")?.unwrap_or_default()).map_err(decode_err)?;
    Ok(out)
}

macro_rules! engine {
    ($name:ident, $engine:ty, $conn:ty, $lock:expr) => {
        pub(crate) mod $name {
            use super::*;

            /// Takes the rollup writers' lock for the rest of the transaction.
            pub async fn lock(conn: &mut $conn) -> StoreResult<()> {
                if let Some(sql) = $lock {
                    sqlx::query(sql).bind(PG_LOCK_ID).execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Adds `cells` to the stored rows, inside the caller's write transaction.
            pub async fn add(conn: &mut $conn, cells: &Cells) -> StoreResult<()> {
                if cells.is_empty() {
                    return Ok(());
                }
                lock(conn).await?;
                for (k, cell) in cells {
                    let row = sqlx::query(
                        "SELECT * FROM call_rollups WHERE period = $1 AND bucket = $2 AND user_id = $3
                             AND key_id = $4 AND app = $5 AND model = $6 AND provider_id = $7",
                    )
                    .bind(k.period)
                    .bind(k.bucket)
                    .bind(&k.user_id)
                    .bind(&k.key_id)
                    .bind(&k.app)
                    .bind(&k.model)
                    .bind(&k.provider_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let mut merged = match &row {
                        Some(r) => read_rollup(r)?,
                        None => Rollup::default(),
                    };
                    merged.merge(cell);
                    write(conn, k, &merged).await?;
                }
                Ok(())
            }

            /// Writes `cells` as rows that are not stored (a rebuilt day's, just deleted),
            /// many rows per statement.
            async fn insert_new(conn: &mut $conn, cells: &Cells) -> StoreResult<()> {
                let cells: Vec<(&CellKey, &Rollup)> = cells.iter().collect();
                for chunk in cells.chunks(INSERT_ROWS) {
                    let mut q = sqlx::QueryBuilder::<$engine>::new(
                        "INSERT INTO call_rollups (period, bucket, user_id, key_id, app, model, provider_id, calls,
                             successes, failures, failures_by_class, input_tokens, output_tokens, cached_tokens,
                             cache_write_tokens, reasoning_tokens, images, cost, duration_hist, ttft_hist,
                             provider_cost) ",
                    );
                    q.push_values(chunk, |mut row, (k, c)| {
                        row.push_bind(k.period)
                            .push_bind(k.bucket)
                            .push_bind(k.user_id.clone())
                            .push_bind(k.key_id.clone())
                            .push_bind(k.app.clone())
                            .push_bind(k.model.clone())
                            .push_bind(k.provider_id.clone())
                            .push_bind(c.calls)
                            .push_bind(c.successes)
                            .push_bind(c.failures)
                            .push_bind(encode_classes(&c.failures_by_class))
                            .push_bind(c.input_tokens)
                            .push_bind(c.output_tokens)
                            .push_bind(c.cached_tokens)
                            .push_bind(c.cache_write_tokens)
                            .push_bind(c.reasoning_tokens)
                            .push_bind(c.images)
                            .push_bind(c.cost)
                            .push_bind(c.duration.encode())
                            .push_bind(c.ttft.encode())
                            .push_bind(c.provider_cost);
                    });
                    q.build().execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn write(conn: &mut $conn, k: &CellKey, c: &Rollup) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO call_rollups (period, bucket, user_id, key_id, app, model, provider_id, calls,
                         successes, failures, failures_by_class, input_tokens, output_tokens, cached_tokens,
                         cache_write_tokens, reasoning_tokens, images, cost, duration_hist, ttft_hist,
                         provider_cost)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                         $21)
                     ON CONFLICT (period, bucket, user_id, key_id, app, model, provider_id) DO UPDATE SET
                         calls = $8, successes = $9, failures = $10, failures_by_class = $11, input_tokens = $12,
                         output_tokens = $13, cached_tokens = $14, cache_write_tokens = $15, reasoning_tokens = $16,
                         images = $17, cost = $18, duration_hist = $19, ttft_hist = $20, provider_cost = $21",
                )
                .bind(k.period)
                .bind(k.bucket)
                .bind(&k.user_id)
                .bind(&k.key_id)
                .bind(&k.app)
                .bind(&k.model)
                .bind(&k.provider_id)
                .bind(c.calls)
                .bind(c.successes)
                .bind(c.failures)
                .bind(encode_classes(&c.failures_by_class))
                .bind(c.input_tokens)
                .bind(c.output_tokens)
                .bind(c.cached_tokens)
                .bind(c.cache_write_tokens)
                .bind(c.reasoning_tokens)
                .bind(c.images)
                .bind(c.cost)
                .bind(c.duration.encode())
                .bind(c.ttft.encode())
                .bind(c.provider_cost)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Recomputes the rows of the UTC day starting at `day` from its finished records,
            /// and the day's spend (`store::spend`). Answers how many records it counted.
            pub async fn rebuild_day(conn: &mut $conn, day: i64) -> StoreResult<u64> {
                lock(conn).await?;
                let end = day + 86_400_000;
                sqlx::query("DELETE FROM call_rollups WHERE bucket >= $1 AND bucket < $2")
                    .bind(day)
                    .bind(end)
                    .execute(&mut *conn)
                    .await?;
                // The day's rows now count only the records still stored: an import of its
                // archive adds the others back (`store::retention::restore`).
                sqlx::query("DELETE FROM rollups_archived_days WHERE day = $1")
                    .bind(day.div_euclid(86_400_000))
                    .execute(&mut *conn)
                    .await?;
                let mut cells = Cells::new();
                let mut counted = 0;
                {
                    let sql = format!(
                        "SELECT {FOLDED_COLUMNS} FROM calls
                         WHERE started_at >= $1 AND started_at < $2 AND status <> 'processing'"
                    );
                    // Assembled from constants only; values are bound.
                    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(day).bind(end).fetch(&mut *conn);
                    while let Some(row) = rows.try_next().await? {
                        fold(&mut cells, &folded_record(&row)?);
                        counted += 1;
                    }
                }
                // The day's rows were deleted above, under the rollup writers' lock.
                insert_new(conn, &cells).await?;
                crate::store::spend::$name::recompute_day(conn, day, end).await?;
                Ok(counted)
            }
        }
    };
}
engine!(sqlite, sqlx::Sqlite, sqlx::SqliteConnection, None::<&str>);
engine!(pg, sqlx::Postgres, sqlx::PgConnection, Some("SELECT pg_advisory_xact_lock($1)"));

/// What a stats query groups by: a column of the rollup rows, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    None,
    Model,
    User,
    Key,
    App,
    Provider,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::None => "CAST('' AS TEXT)",
            GroupBy::Model => "model",
            GroupBy::User => "user_id",
            GroupBy::Key => "key_id",
            GroupBy::App => "app",
            GroupBy::Provider => "provider_id",
        }
    }
}

/// One group's sums over one stored row's bucket.
#[derive(Debug, Clone)]
pub struct GroupedRow {
    pub bucket: i64,
    pub group: String,
    pub rollup: Rollup,
}

/// The `period` rows with `from ≤ bucket < to` (of `user_id` only, when given), summed per
/// bucket and group; the histograms and failure classes are merged here, from the rows' texts
/// the database joins.
pub async fn query(
    db: &Db,
    period: Period,
    from: i64,
    to: i64,
    group: GroupBy,
    user_id: Option<&str>,
) -> StoreResult<Vec<GroupedRow>> {
    let concat = |col: &str| match db {
        Db::Sqlite(_) => format!("GROUP_CONCAT({col}, ',') AS {col}"),
        Db::Postgres(_) => format!("string_agg({col}, ',') AS {col}"),
    };
    let sums = [
        "calls",
        "successes",
        "failures",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "images",
        "cost",
        "provider_cost",
    ]
    .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
    .join(", ");
    let sql = format!(
        "SELECT bucket, {group} AS grp, {sums}, {classes}, {dur}, {ttft} FROM call_rollups
         WHERE period = $1 AND bucket >= $2 AND bucket < $3 AND ($4 IS NULL OR user_id = $4)
         GROUP BY bucket, grp ORDER BY bucket, grp",
        group = group.column(),
        classes = concat("failures_by_class"),
        dur = concat("duration_hist"),
        ttft = concat("ttft_hist"),
    );
    on_db!(db, |pool| {
        // The SQL is assembled from the fixed texts above only; values are bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(period.as_str())
            .bind(from)
            .bind(to)
            .bind(user_id)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| Ok(GroupedRow { bucket: r.int("bucket")?, group: r.text("grp")?, rollup: read_rollup(r)? }))
            .collect()
    })
}

/// Recomputes the rows of every UTC day that overlaps `[from, to)` from the records still
/// stored (by default the days that have records), one day per transaction so the batch
/// writer is held up for one day's work at a time. Days whose records are gone (archived) keep
/// their rows unless the range names them. A rebuild of every day (no range) also answers the
/// migration's request to compute the rows of older records (`rollups_pending`), so the next
/// start-up does not compute them again. Answers the days and records counted.
pub async fn rebuild(db: &Db, from: Option<i64>, to: Option<i64>) -> StoreResult<(u64, u64)> {
    let counted = rebuild_days(db, from, to).await?;
    if from.is_none() && to.is_none() {
        on_db!(db, |pool| sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(PENDING_SETTING)
            .execute(pool)
            .await
            .map(|_| ()))?;
    }
    Ok(counted)
}

async fn rebuild_days(db: &Db, from: Option<i64>, to: Option<i64>) -> StoreResult<(u64, u64)> {
    let (first, last) = match (from, to) {
        (Some(f), Some(t)) => (f, t - 1),
        _ => {
            let (lo, hi): (Option<i64>, Option<i64>) = on_db!(db, |pool| {
                let r = sqlx::query("SELECT MIN(started_at) AS lo, MAX(started_at) AS hi FROM calls")
                    .fetch_one(pool)
                    .await?;
                (r.opt_int("lo")?, r.opt_int("hi")?)
            });
            match (lo, hi) {
                (Some(lo), Some(hi)) => (from.unwrap_or(lo), to.map_or(hi, |t| t - 1)),
                _ => return Ok((0, 0)),
            }
        }
    };
    let (mut days, mut records) = (0, 0);
    let mut day = Period::Day.floor(first);
    while day <= last {
        records += match db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let n = sqlite::rebuild_day(&mut tx, day).await?;
                tx.commit().await?;
                n
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                let n = pg::rebuild_day(&mut tx, day).await?;
                tx.commit().await?;
                n
            }
        };
        days += 1;
        day += 86_400_000;
    }
    Ok((days, records))
}

/// Computes the rows of the records written before rollups existed, once (the migration that
/// made the table asks for it).
pub async fn seed_if_pending(db: &Db) -> StoreResult<()> {
    if super::settings::get(db, PENDING_SETTING).await?.is_none() {
        return Ok(());
    }
    let (days, records) = rebuild(db, None, None).await?;
    if records > 0 {
        tracing::info!(days, records, "usage rollups computed for the records written before them");
    }
    Ok(())
}
