//! Embedded, idempotent migrations: one folder per engine, applied in order at start-up and
//! recorded in `_migrations`. On PostgreSQL an advisory lock keeps concurrent instances from
//! racing.

use sqlx::Connection;

use super::{Db, StoreResult};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_initial.sql")),
    (2, include_str!("migrations/sqlite/0002_usage_estimated.sql")),
    (3, include_str!("migrations/sqlite/0003_provider_api_version.sql")),
    (4, include_str!("migrations/sqlite/0004_calls_processing_index.sql")),
    (5, include_str!("migrations/sqlite/0005_console_sessions.sql")),
    (6, include_str!("migrations/sqlite/0006_calls_keyset_indexes.sql")),
    (7, include_str!("migrations/sqlite/0007_markups.sql")),
    (8, include_str!("migrations/sqlite/0008_call_rollups.sql")),
    (9, include_str!("migrations/sqlite/0009_call_attribution.sql")),
    (10, include_str!("migrations/sqlite/0010_calls_spend_archived.sql")),
    (11, include_str!("migrations/sqlite/0011_rollups_archived_days.sql")),
    (12, include_str!("migrations/sqlite/0012_call_attempt_trail.sql")),
    (13, include_str!("migrations/sqlite/0013_rollups_provider_cost.sql")),
    (14, include_str!("migrations/sqlite/0014_calls_spend.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_initial.sql")),
    (2, include_str!("migrations/postgres/0002_usage_estimated.sql")),
    (3, include_str!("migrations/postgres/0003_provider_api_version.sql")),
    (4, include_str!("migrations/postgres/0004_calls_processing_index.sql")),
    (5, include_str!("migrations/postgres/0005_console_sessions.sql")),
    (6, include_str!("migrations/postgres/0006_calls_keyset_indexes.sql")),
    (7, include_str!("migrations/postgres/0007_markups.sql")),
    (8, include_str!("migrations/postgres/0008_call_rollups.sql")),
    (9, include_str!("migrations/postgres/0009_call_attribution.sql")),
    (10, include_str!("migrations/postgres/0010_calls_spend_archived.sql")),
    (11, include_str!("migrations/postgres/0011_rollups_archived_days.sql")),
    (12, include_str!("migrations/postgres/0012_call_attempt_trail.sql")),
    (13, include_str!("migrations/postgres/0013_rollups_provider_cost.sql")),
    (14, include_str!("migrations/postgres/0014_calls_spend.sql")),
];

/// Arbitrary constant identifying Tollgate's migration lock.
const PG_LOCK_ID: i64 = 0x7011_6a7e;

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/// Applies each migration of `$list` not yet recorded, each in its own transaction, on `$conn`
/// (written once for both engines' connection types).
macro_rules! apply_pending {
    ($conn:expr, $list:expr) => {{
        sqlx::query(CREATE_TABLE).execute(&mut *$conn).await?;
        for (version, sql) in $list {
            let mut tx = $conn.begin().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM _migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO _migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(crate::clock::now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok::<(), sqlx::Error>(())
    }};
}

impl Db {
    /// The configured database, migrated: what a command other than `serve` works on.
    pub async fn open(config: &crate::config::Config) -> Result<Db, String> {
        let db = Db::connect(&config.database_url(), config.database.max_connections)
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
        run(&db).await.map_err(|e| format!("migrations failed: {e}"))?;
        Ok(db)
    }
}

pub async fn run(db: &Db) -> StoreResult<()> {
    match db {
        Db::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            apply_pending!(conn, SQLITE)
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_LOCK_ID).execute(&mut *conn).await?;
            let result = async { apply_pending!(conn, POSTGRES) }.await;
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_LOCK_ID).execute(&mut *conn).await?;
            result
        }
    }
}
