//! The database: one [`Db`] over a typed SQLite or PostgreSQL pool. Queries are written once in
//! `$N` SQL that both engines run, dispatched by [`on_db!`], and rows are read through
//! [`DbRow`] so mapping code is shared. Each resource has its own file of queries.

pub mod api_keys;
pub mod backup;
pub mod call_list;
pub mod call_outcome;
pub mod call_record;
pub mod calls;
pub mod ledger;
pub mod migrate;
pub mod models;
pub mod presence;
pub mod providers;
pub mod record_stats;
pub mod retention;
pub mod rollups;
pub mod sessions;
pub mod settings;
pub mod spend;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};

pub type StoreResult<T> = Result<T, sqlx::Error>;

/// A connection pool to one of the two supported engines.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever pool `db` holds; `$pool` is bound to it.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
/// Named by path (`super::on_db`) from the query files, not exported from the crate root.
pub(crate) use on_db;

impl Db {
    /// Connects to `url` (`sqlite://file` or `postgres://…`). SQLite runs in WAL mode with
    /// `synchronous=NORMAL` (a killed process loses nothing committed), a busy timeout, and a
    /// WAL bounded by `journal_size_limit` and regular checkpoints.
    pub async fn connect(url: &str, max_connections: Option<u32>) -> StoreResult<Db> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
                .pragma("wal_autocheckpoint", "1000");
            let pool =
                SqlitePoolOptions::new().max_connections(max_connections.unwrap_or(4)).connect_with(opts).await?;
            Ok(Db::Sqlite(pool))
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.unwrap_or(8))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A trivial query, for `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        on_db!(self, |pool| pool.close().await)
    }
}

/// Starting a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred transaction that
/// reads first and then writes fails at once with `SQLITE_BUSY` (the busy timeout cannot help)
/// when another connection committed in between, which the batch writer makes routine.
pub(crate) trait WritePool {
    type Engine: sqlx::Database;
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Self::Engine>>;
}

impl WritePool for SqlitePool {
    type Engine = sqlx::Sqlite;
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Engine = sqlx::Postgres;
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// Typed column access shared by both engines' rows.
pub trait DbRow {
    fn int(&self, col: &str) -> StoreResult<i64>;
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn flag(&self, col: &str) -> StoreResult<bool>;
}

macro_rules! impl_db_row {
    ($row:ty) => {
        impl DbRow for $row {
            fn int(&self, col: &str) -> StoreResult<i64> {
                self.try_get(col)
            }
            fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
                self.try_get(col)
            }
            fn text(&self, col: &str) -> StoreResult<String> {
                self.try_get(col)
            }
            fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
                self.try_get(col)
            }
            fn flag(&self, col: &str) -> StoreResult<bool> {
                self.try_get(col)
            }
        }
    };
}
impl_db_row!(SqliteRow);
impl_db_row!(PgRow);

/// Parses a JSON text column, reporting a decode error instead of panicking.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(text: Option<String>) -> StoreResult<Option<T>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| sqlx::Error::Decode(Box::new(e)))).transpose()
}

/// A markup rule's column: its JSON, or NULL when it sets nothing.
pub(crate) fn rule_col(rule: &crate::billing::markup::Rule) -> Option<String> {
    (!rule.is_empty()).then(|| serde_json::to_string(rule).expect("a rule serializes"))
}

/// True when the database could not be reached (the server is down or the network cut): the
/// request may succeed later, unlike one the database refused.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed)
}

/// True when the error is a unique-constraint violation (a duplicate name or key).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A new time-ordered id (UUIDv7), so ids sort by creation and serve as cursors.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod rollups_tests;
#[cfg(test)]
pub(crate) mod test_db;
#[cfg(test)]
mod tests;
