//! Call records (one per client request) and the batch that writes them with their charges.

use serde::{Deserialize, Serialize};

use super::call_outcome::CallStatus;
pub use super::call_record::CallRecord;
use super::ledger::{self, NewEntry};
use super::on_db;
use super::rollups;
use super::spend;
use super::{Db, DbRow, StoreResult, WritePool};

/// Filters of `GET /api/v1/calls`; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider_id: Option<String>,
    pub status: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub trace_id: Option<String>,
    pub end_user: Option<String>,
    /// One tag, `k=v`: calls carrying it.
    pub tag: Option<String>,
}

/// One unit of work for the batch writer: a record to upsert and, optionally, its charge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallWrite {
    pub record: CallRecord,
    pub charge: Option<NewEntry>,
}

macro_rules! engine {
    ($name:ident, $conn:ty) => {
        pub(crate) mod $name {
            use super::*;

            /// Writes `c` unless its stored row is already finished (a finished record is
            /// final: a replayed or late line cannot change it). Answers whether it wrote.
            pub async fn upsert(conn: &mut $conn, c: &CallRecord) -> StoreResult<bool> {
                let price = c.price.as_ref().map(|p| serde_json::to_string(p).expect("pricing serializes"));
                let effective =
                    c.price.as_ref().map(|p| serde_json::to_string(&c.markup.effective(p)).expect("pricing serializes"));
                let trail = (!c.attempt_trail.is_empty())
                    .then(|| serde_json::to_string(&c.attempt_trail).expect("attempts serialize"));
                let written = sqlx::query(
                    "INSERT INTO calls (id, request_id, trace_id, user_id, key_id, app, dialect, endpoint, model,
                         provider_id, credential_id, upstream_model, stream, status, http_status, error_class,
                         error_message, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
                         reasoning_tokens, images, cost, price, attempts, started_at, duration_ms, ttft_ms, overhead_us,
                         usage_estimated, multiplier_ppm, request_fee, effective_price, provider_cost, end_user, tags,
                         attempt_trail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                         $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38)
                     ON CONFLICT (id) DO UPDATE SET provider_id = $10, credential_id = $11, upstream_model = $12,
                         status = $14, http_status = $15, error_class = $16, error_message = $17,
                         input_tokens = $18, output_tokens = $19, cached_tokens = $20, cache_write_tokens = $21,
                         reasoning_tokens = $22, images = $23, cost = $24, price = $25, attempts = $26,
                         duration_ms = $28, ttft_ms = $29, overhead_us = $30, usage_estimated = $31,
                         multiplier_ppm = $32, request_fee = $33, effective_price = $34, provider_cost = $35,
                         attempt_trail = $38
                     WHERE calls.status = 'processing'
                     RETURNING id",
                )
                .bind(&c.id)
                .bind(&c.request_id)
                .bind(&c.trace_id)
                .bind(&c.user_id)
                .bind(&c.key_id)
                .bind(&c.app)
                .bind(&c.dialect)
                .bind(&c.endpoint)
                .bind(&c.model)
                .bind(&c.provider_id)
                .bind(&c.credential_id)
                .bind(&c.upstream_model)
                .bind(c.stream)
                .bind(&c.status)
                .bind(c.http_status)
                .bind(&c.error_class)
                .bind(&c.error_message)
                .bind(c.input_tokens)
                .bind(c.output_tokens)
                .bind(c.cached_tokens)
                .bind(c.cache_write_tokens)
                .bind(c.reasoning_tokens)
                .bind(c.images)
                .bind(c.cost)
                .bind(&price)
                .bind(c.attempts)
                .bind(c.started_at)
                .bind(c.duration_ms)
                .bind(c.ttft_ms)
                .bind(c.overhead_us)
                .bind(c.usage_estimated)
                .bind(c.markup.multiplier.ppm())
                .bind(c.markup.request_fee)
                .bind(&effective)
                .bind(c.provider_cost)
                .bind(&c.end_user)
                .bind(&c.tags)
                .bind(&trail)
                .fetch_optional(&mut *conn)
                .await?;
                Ok(written.is_some())
            }

            /// Writes a batch in one transaction, with the rollups of the calls it finishes
            /// (those whose stored row was absent or still running). Returns the charges that
            /// were new (not already posted under their idempotency key).
            pub async fn apply(conn: &mut $conn, batch: &[CallWrite], now: i64) -> StoreResult<Vec<(String, i64)>> {
                let mut posted = Vec::new();
                let mut finished = rollups::Cells::new();
                let mut spent = spend::Days::new();
                for w in batch {
                    if upsert(conn, &w.record).await? && w.record.status != CallStatus::Processing {
                        rollups::fold(&mut finished, &w.record);
                        spend::fold(&mut spent, &w.record);
                    }
                    if let Some(charge) = &w.charge
                        && ledger::$name::charge(conn, charge, now).await?
                    {
                        posted.push((charge.user_id.clone(), charge.amount));
                    }
                }
                rollups::$name::add(conn, &finished).await?;
                spend::$name::add(conn, &spent).await?;
                Ok(posted)
            }

            /// Closes the records a crash left `processing` as failed, rolls them up and counts
            /// their spend.
            pub async fn close_stale(conn: &mut $conn) -> StoreResult<u64> {
                let rows = sqlx::query(
                    "UPDATE calls SET status = 'failed', error_class = 'interrupted',
                         error_message = 'the gateway stopped before the call finished'
                     WHERE status = 'processing' RETURNING *",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut finished = rollups::Cells::new();
                let mut spent = spend::Days::new();
                for row in &rows {
                    let c = CallRecord::from_row(row)?;
                    rollups::fold(&mut finished, &c);
                    spend::fold(&mut spent, &c);
                }
                rollups::$name::add(conn, &finished).await?;
                spend::$name::add(conn, &spent).await?;
                Ok(rows.len() as u64)
            }
        }
    };
}
engine!(sqlite, sqlx::SqliteConnection);
engine!(pg, sqlx::PgConnection);

/// Writes records and their charges in one transaction; idempotent (records upsert by id,
/// charges post by idempotency key), so replaying a journal is safe.
pub async fn apply_batch(db: &Db, batch: &[CallWrite]) -> StoreResult<Vec<(String, i64)>> {
    let now = crate::clock::now_ms();
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_write().await?;
            let posted = sqlite::apply(&mut tx, batch, now).await?;
            tx.commit().await?;
            Ok(posted)
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin_write().await?;
            let posted = pg::apply(&mut tx, batch, now).await?;
            tx.commit().await?;
            Ok(posted)
        }
    }
}

/// A `LIKE` pattern matching stored tags (`a=1,b=2`, framed in commas) that hold `tag`
/// exactly: `%`, `_` and the escape character are taken literally.
pub(crate) fn tag_pattern(tag: &str) -> String {
    let mut out = String::from("%,");
    for c in tag.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str(",%");
    out
}

pub async fn get(db: &Db, id: &str) -> StoreResult<Option<CallRecord>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT * FROM calls WHERE id = $1").bind(id).fetch_optional(pool).await?;
        row.as_ref().map(CallRecord::from_row).transpose()
    })
}

/// Spend to seed the in-memory budgets, in one query: `(key_id, user_id, day_start_ms,
/// cost)` per key, user and UTC day since `since_ms` (a day's start), and per key and user
/// before it (with `day_start_ms` = -1 day, i.e. "older"). Read from the per-day sums, not the
/// records: `calls_spend` (the stored finished records, `store::spend`; at start-up no record
/// is running) and `calls_spend_archived` (the records retention deleted).
pub async fn spend_by_day(db: &Db, since_ms: i64) -> StoreResult<Vec<(String, String, i64, i64)>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT key_id, user_id, day, CAST(SUM(cost) AS BIGINT) AS cost FROM (
                 SELECT key_id, user_id, CASE WHEN day * 86400000 >= $1 THEN day ELSE -1 END AS day, cost
                 FROM calls_spend WHERE cost <> 0
                 UNION ALL
                 SELECT key_id, user_id, CASE WHEN day * 86400000 >= $1 THEN day ELSE -1 END AS day, cost
                 FROM calls_spend_archived WHERE cost <> 0
             ) spend GROUP BY key_id, user_id, day",
        )
        .bind(since_ms)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.text("key_id")?, r.text("user_id")?, r.int("day")? * 86_400_000, r.int("cost")?)))
            .collect()
    })
}

/// Closes records a crash left `processing` as failed (the seeds' stale-call cleanup), with
/// their rollups.
pub async fn close_stale(db: &Db) -> StoreResult<u64> {
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin_write().await?;
            let n = sqlite::close_stale(&mut tx).await?;
            tx.commit().await?;
            Ok(n)
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin_write().await?;
            let n = pg::close_stale(&mut tx).await?;
            tx.commit().await?;
            Ok(n)
        }
    }
}
