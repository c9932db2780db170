//! The credit ledger: every grant, top-up, charge, refund and adjustment is one entry with an
//! idempotency key. A user's cached `balance` changes in the same transaction as its entry, so
//! the balance always equals the sum of the ledger; a repeated key changes nothing and answers
//! the first entry.

use serde::{Deserialize, Serialize};

use super::on_db;
use super::{Db, DbRow, StoreResult, WritePool, is_unique_violation};

#[derive(Debug, Clone, Serialize)]
pub struct LedgerEntry {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    /// Signed nano-credits: positive adds to the balance.
    pub amount: i64,
    pub balance_after: i64,
    pub idempotency_key: String,
    pub call_id: Option<String>,
    pub note: Option<String>,
    pub created_at: i64,
}

impl LedgerEntry {
    fn from_row(r: &impl DbRow) -> StoreResult<Self> {
        Ok(LedgerEntry {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            kind: r.text("kind")?,
            amount: r.int("amount")?,
            balance_after: r.int("balance_after")?,
            idempotency_key: r.text("idempotency_key")?,
            call_id: r.opt_text("call_id")?,
            note: r.opt_text("note")?,
            created_at: r.int("created_at")?,
        })
    }
}

/// An entry to post.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEntry {
    pub user_id: String,
    /// grant, topup, charge, refund or adjustment.
    pub kind: String,
    pub amount: i64,
    pub idempotency_key: String,
    pub call_id: Option<String>,
    pub note: Option<String>,
}

/// Why an entry was not posted, besides the database failing.
#[derive(Debug)]
pub enum PostError {
    Db(sqlx::Error),
    /// The entry would take the balance outside the 64-bit range of nano-credits; nothing
    /// was written.
    OutOfRange {
        balance: i64,
    },
    /// The idempotency key was used before for an entry with other content (user, kind,
    /// amount or note); nothing was written.
    KeyReused(Box<LedgerEntry>),
}

impl From<sqlx::Error> for PostError {
    fn from(e: sqlx::Error) -> Self {
        PostError::Db(e)
    }
}

impl LedgerEntry {
    /// Whether `e` is this entry posted again (same user, kind, amount and note): a repeated
    /// request, not another one under a reused key.
    pub fn is_repeat_of(&self, e: &NewEntry) -> bool {
        self.user_id == e.user_id && self.kind == e.kind && self.amount == e.amount && self.note == e.note
    }
}

/// The bounds the balance must lie within before `amount` is added for the sum to fit in an
/// `i64`: computed here, without overflow, so the database never does the overflowing add.
fn room_for(amount: i64) -> (i64, i64) {
    let low = if amount < 0 { i64::MIN - amount } else { i64::MIN };
    let high = if amount > 0 { i64::MAX - amount } else { i64::MAX };
    (low, high)
}

/// Engine-specific bodies written once: `post` runs inside a caller's transaction.
macro_rules! engine {
    ($name:ident, $conn:ty) => {
        pub(crate) mod $name {
            use super::*;

            /// Adds `amount` to the user's cached balance and answers the new balance, or
            /// `OutOfRange` (nothing changed) if the sum would not fit in an `i64`; fails with
            /// `RowNotFound` if the user does not exist. One statement: the range is checked in
            /// its `WHERE`, against bounds computed without overflow.
            async fn add_to_balance(conn: &mut $conn, user_id: &str, amount: i64) -> Result<i64, PostError> {
                let (low, high) = room_for(amount);
                let updated: Option<i64> = sqlx::query_scalar(
                    "UPDATE users SET balance = balance + $2 WHERE id = $1 AND balance >= $3 AND balance <= $4
                     RETURNING balance",
                )
                .bind(user_id)
                .bind(amount)
                .bind(low)
                .bind(high)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(b) = updated {
                    return Ok(b);
                }
                let balance: Option<i64> = sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                match balance {
                    Some(balance) => Err(PostError::OutOfRange { balance }),
                    None => Err(sqlx::Error::RowNotFound.into()),
                }
            }

            /// Posts `e` unless its idempotency key exists; answers the entry and whether it is
            /// new (a repeat of the same content answers the first entry, other content under
            /// the same key is `KeyReused`). Fails with `RowNotFound` if the user does not exist.
            pub async fn post(conn: &mut $conn, e: &NewEntry, now: i64) -> Result<(LedgerEntry, bool), PostError> {
                if let Some(row) = sqlx::query("SELECT * FROM ledger WHERE idempotency_key = $1")
                    .bind(&e.idempotency_key)
                    .fetch_optional(&mut *conn)
                    .await?
                {
                    let first = LedgerEntry::from_row(&row)?;
                    if !first.is_repeat_of(e) {
                        return Err(PostError::KeyReused(Box::new(first)));
                    }
                    return Ok((first, false));
                }
                let balance_after = add_to_balance(conn, &e.user_id, e.amount).await?;
                let entry = LedgerEntry {
                    id: crate::store::new_id(),
                    user_id: e.user_id.clone(),
                    kind: e.kind.clone(),
                    amount: e.amount,
                    balance_after,
                    idempotency_key: e.idempotency_key.clone(),
                    call_id: e.call_id.clone(),
                    note: e.note.clone(),
                    created_at: now,
                };
                sqlx::query(
                    "INSERT INTO ledger (id, user_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&entry.id)
                .bind(&entry.user_id)
                .bind(&entry.kind)
                .bind(entry.amount)
                .bind(entry.balance_after)
                .bind(&entry.idempotency_key)
                .bind(&entry.call_id)
                .bind(&entry.note)
                .bind(entry.created_at)
                .execute(&mut *conn)
                .await?;
                Ok((entry, true))
            }

            /// A call's charge, on the batch writer's path: `post` in two statements (the
            /// balance first, so concurrent writers serialize on the user's row, then the entry
            /// unless its key exists). Answers whether it was new; a repeated key (a journal
            /// replayed) gives the amount back, in the same transaction, and changes nothing.
            pub async fn charge(conn: &mut $conn, e: &NewEntry, now: i64) -> StoreResult<bool> {
                let balance_after = match add_to_balance(conn, &e.user_id, e.amount).await {
                    Ok(b) => b,
                    Err(PostError::Db(err)) => return Err(err),
                    Err(other) => {
                        return Err(sqlx::Error::Protocol(format!("charge refused: {other:?}")));
                    }
                };
                let inserted = sqlx::query(
                    "INSERT INTO ledger (id, user_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(crate::store::new_id())
                .bind(&e.user_id)
                .bind(&e.kind)
                .bind(e.amount)
                .bind(balance_after)
                .bind(&e.idempotency_key)
                .bind(&e.call_id)
                .bind(&e.note)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if inserted == 0 {
                    sqlx::query("UPDATE users SET balance = balance - $2 WHERE id = $1")
                        .bind(&e.user_id)
                        .bind(e.amount)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(inserted == 1)
            }
        }
    };
}
engine!(sqlite, sqlx::SqliteConnection);
engine!(pg, sqlx::PgConnection);

/// Posts one entry in its own transaction. A concurrent post of the same key (PostgreSQL)
/// loses the unique-key race and then answers the winner's entry (or `KeyReused`).
pub async fn post(db: &Db, e: &NewEntry) -> Result<(LedgerEntry, bool), PostError> {
    let now = crate::clock::now_ms();
    for _ in 0..2 {
        let result = match db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let r = sqlite::post(&mut tx, e, now).await?;
                tx.commit().await.map(|_| r).map_err(PostError::from)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                match pg::post(&mut tx, e, now).await {
                    Ok(r) => tx.commit().await.map(|_| r).map_err(PostError::from),
                    Err(err) => Err(err),
                }
            }
        };
        match result {
            Err(PostError::Db(err)) if is_unique_violation(&err) => continue,
            other => return other,
        }
    }
    Err(sqlx::Error::Protocol("ledger idempotency race did not settle".into()).into())
}

/// Entries of one user, newest first, before `cursor`.
pub async fn list(db: &Db, user_id: &str, cursor: Option<&str>, limit: i64) -> StoreResult<Vec<LedgerEntry>> {
    on_db!(db, |pool| {
        let rows = sqlx::query(
            "SELECT * FROM ledger WHERE user_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(cursor)
        .bind(limit)
        .fetch_all(pool)
        .await?;
        rows.iter().map(LedgerEntry::from_row).collect()
    })
}

/// The sum of a user's ledger (checks and audits; the hot path reads the cached balance).
pub async fn sum(db: &Db, user_id: &str) -> StoreResult<i64> {
    on_db!(db, |pool| {
        let total: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(amount) AS BIGINT) FROM ledger WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await?;
        Ok(total.unwrap_or(0))
    })
}

/// Every user's cached balance, to load the in-memory accounts.
pub async fn balances(db: &Db) -> StoreResult<Vec<(String, i64)>> {
    on_db!(db, |pool| {
        let rows = sqlx::query("SELECT id, balance FROM users").fetch_all(pool).await?;
        rows.iter().map(|r| Ok((r.text("id")?, r.int("balance")?))).collect()
    })
}
