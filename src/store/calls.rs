//! Call records (one per client request) and the batch that writes them with their charges.

use serde::{Deserialize, Serialize};

use super::ledger::{self, NewEntry};
use super::{Db, DbRow, StoreResult, WritePool, json_col};
use crate::billing::markup::{Markup, Multiplier};
use crate::billing::pricing::Pricing;
use crate::on_db;

/// One client request as the usage log keeps it (SPEC §5).
///
/// Serialized only into the usage journal: empty fields (`None`, zero, false) are left out of
/// the line, and read back as their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CallRecord {
    pub id: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub user_id: String,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Inbound wire format: `openai` or `anthropic`.
    pub dialect: String,
    /// `chat`, `embeddings`, ...
    pub endpoint: String,
    /// The model name the client asked for.
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// `processing`, `success` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub input_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub output_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cached_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_write_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub reasoning_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub images: i64,
    /// Nano-credits charged.
    #[serde(skip_serializing_if = "is_zero")]
    pub cost: i64,
    /// The base prices in force when the call was made (configured or catalog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Pricing>,
    /// The markup over `price` in force (×1 and no fee on records from before markups).
    #[serde(skip_serializing_if = "Markup::is_none")]
    pub markup: Markup,
    /// Nano-credits the call cost at the base price: `cost` minus this is the margin.
    #[serde(skip_serializing_if = "is_zero")]
    pub provider_cost: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub attempts: i64,
    pub started_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<i64>,
    /// Time spent in the gateway itself, excluding the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead_us: Option<i64>,
    /// The token counts are the gateway's estimate, not the provider's report (a call cut
    /// short before usage arrived). Defaulted so journal lines written before it replay.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl CallRecord {
    pub(crate) fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(CallRecord {
            id: r.text("id")?,
            request_id: r.text("request_id")?,
            trace_id: r.opt_text("trace_id")?,
            user_id: r.text("user_id")?,
            key_id: r.text("key_id")?,
            app: r.opt_text("app")?,
            dialect: r.text("dialect")?,
            endpoint: r.text("endpoint")?,
            model: r.text("model")?,
            provider_id: r.opt_text("provider_id")?,
            credential_id: r.opt_text("credential_id")?,
            upstream_model: r.opt_text("upstream_model")?,
            stream: r.flag("stream")?,
            status: r.text("status")?,
            http_status: r.opt_int("http_status")?,
            error_class: r.opt_text("error_class")?,
            error_message: r.opt_text("error_message")?,
            input_tokens: r.int("input_tokens")?,
            output_tokens: r.int("output_tokens")?,
            cached_tokens: r.int("cached_tokens")?,
            cache_write_tokens: r.int("cache_write_tokens")?,
            reasoning_tokens: r.int("reasoning_tokens")?,
            images: r.int("images")?,
            cost: r.int("cost")?,
            price: json_col(r.opt_text("price")?)?,
            markup: Markup {
                multiplier: r.opt_int("multiplier_ppm")?.map_or(Multiplier::ONE, Multiplier::from_stored),
                request_fee: r.opt_int("request_fee")?.unwrap_or(0),
            },
            // Records from before markups were charged at cost.
            provider_cost: match r.opt_int("provider_cost")? {
                Some(c) => c,
                None => r.int("cost")?,
            },
            attempts: r.int("attempts")?,
            started_at: r.int("started_at")?,
            duration_ms: r.opt_int("duration_ms")?,
            ttft_ms: r.opt_int("ttft_ms")?,
            overhead_us: r.opt_int("overhead_us")?,
            usage_estimated: r.flag("usage_estimated")?,
        })
    }
}

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

            pub async fn upsert(conn: &mut $conn, c: &CallRecord) -> StoreResult<()> {
                let price = c.price.map(|p| serde_json::to_string(&p).expect("pricing serializes"));
                let effective =
                    c.price.map(|p| serde_json::to_string(&c.markup.effective(&p)).expect("pricing serializes"));
                sqlx::query(
                    "INSERT INTO calls (id, request_id, trace_id, user_id, key_id, app, dialect, endpoint, model,
                         provider_id, credential_id, upstream_model, stream, status, http_status, error_class,
                         error_message, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
                         reasoning_tokens, images, cost, price, attempts, started_at, duration_ms, ttft_ms, overhead_us,
                         usage_estimated, multiplier_ppm, request_fee, effective_price, provider_cost)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                         $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35)
                     ON CONFLICT (id) DO UPDATE SET provider_id = $10, credential_id = $11, upstream_model = $12,
                         status = $14, http_status = $15, error_class = $16, error_message = $17,
                         input_tokens = $18, output_tokens = $19, cached_tokens = $20, cache_write_tokens = $21,
                         reasoning_tokens = $22, images = $23, cost = $24, price = $25, attempts = $26,
                         duration_ms = $28, ttft_ms = $29, overhead_us = $30, usage_estimated = $31,
                         multiplier_ppm = $32, request_fee = $33, effective_price = $34, provider_cost = $35",
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
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Writes a batch in one transaction. Returns the charges that were new (not
            /// already posted under their idempotency key).
            pub async fn apply(conn: &mut $conn, batch: &[CallWrite], now: i64) -> StoreResult<Vec<(String, i64)>> {
                let mut posted = Vec::new();
                for w in batch {
                    upsert(conn, &w.record).await?;
                    if let Some(charge) = &w.charge
                        && ledger::$name::charge(conn, charge, now).await?
                    {
                        posted.push((charge.user_id.clone(), charge.amount));
                    }
                }
                Ok(posted)
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

pub async fn get(db: &Db, id: &str) -> StoreResult<Option<CallRecord>> {
    on_db!(db, |pool| {
        let row = sqlx::query("SELECT * FROM calls WHERE id = $1").bind(id).fetch_optional(pool).await?;
        row.as_ref().map(CallRecord::from_row).transpose()
    })
}

/// Spend to seed the in-memory budgets, in one query: `(key_id, user_id, day_start_ms,
/// cost)` per key, user and UTC day since `since_ms`, and per key and user before it (with
/// `day_start_ms` = -1 day, i.e. "older"). Records retention deleted count through
/// `calls_spend_archived`, which keeps their spend by the same day.
pub async fn spend_by_day(db: &Db, since_ms: i64) -> StoreResult<Vec<(String, String, i64, i64)>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT key_id, user_id, day, CAST(SUM(cost) AS BIGINT) AS cost FROM (
                 SELECT key_id, user_id, CASE WHEN started_at >= $1 THEN started_at / 86400000 ELSE -1 END AS day,
                     cost
                 FROM calls WHERE cost <> 0
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

/// Closes records a crash left `processing` as failed (the seeds' stale-call cleanup).
pub async fn close_stale(db: &Db) -> StoreResult<u64> {
    on_db!(db, |pool| {
        let r = sqlx::query(
            "UPDATE calls SET status = 'failed', error_class = 'interrupted',
                 error_message = 'the gateway stopped before the call finished'
             WHERE status = 'processing'",
        )
        .execute(pool)
        .await?;
        Ok(r.rows_affected())
    })
}
