//! The credit ledger: every grant, top-up, charge, refund and adjustment is one entry with an
//! idempotency key. A user's cached `balance` changes in the same transaction as its entry, so
//! the balance always equals the sum of the ledger; a repeated key changes nothing and answers
//! the first entry.

use serde::{Deserialize, Serialize};

use super::{Db, DbRow, StoreResult, WritePool, is_unique_violation};
use crate::on_db;

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

/// Engine-specific bodies written once: `post` runs inside a caller's transaction.
macro_rules! engine {
    ($name:ident, $conn:ty) => {
        pub(crate) mod $name {
            use super::*;

            /// Adds `amount` to the user's cached balance and answers the new balance; fails with
            /// `RowNotFound` if the user does not exist.
            async fn add_to_balance(conn: &mut $conn, user_id: &str, amount: i64) -> StoreResult<i64> {
                sqlx::query_scalar("UPDATE users SET balance = balance + $2 WHERE id = $1 RETURNING balance")
                    .bind(user_id)
                    .bind(amount)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)
            }

            /// Posts `e` unless its idempotency key exists; answers the entry and whether it is new.
            /// Fails with `RowNotFound` if the user does not exist.
            pub async fn post(conn: &mut $conn, e: &NewEntry, now: i64) -> StoreResult<(LedgerEntry, bool)> {
                if let Some(row) = sqlx::query("SELECT * FROM ledger WHERE idempotency_key = $1")
                    .bind(&e.idempotency_key)
                    .fetch_optional(&mut *conn)
                    .await?
                {
                    return Ok((LedgerEntry::from_row(&row)?, false));
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
                let balance_after = add_to_balance(conn, &e.user_id, e.amount).await?;
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
/// loses the unique-key race and then answers the winner's entry.
pub async fn post(db: &Db, e: &NewEntry) -> StoreResult<(LedgerEntry, bool)> {
    let now = crate::clock::now_ms();
    for _ in 0..2 {
        let result = match db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                let r = sqlite::post(&mut tx, e, now).await?;
                tx.commit().await.map(|_| r)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                match pg::post(&mut tx, e, now).await {
                    Ok(r) => tx.commit().await.map(|_| r),
                    Err(err) => Err(err),
                }
            }
        };
        match result {
            Err(err) if is_unique_violation(&err) => continue,
            other => return other,
        }
    }
    Err(sqlx::Error::Protocol("ledger idempotency race did not settle".into()))
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
