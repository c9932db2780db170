//! Support for tests (this crate's and the integration tests'): throwaway PostgreSQL databases.

use sqlx::Connection;

/// Environment variable naming a PostgreSQL server for tests; unset means SQLite only.
pub const POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES_URL";

/// A database created for one test on the server named by [`POSTGRES_ENV`].
pub struct PostgresDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates `tg_test_<random>`; `None` when the variable is unset. Panics if the server is
    /// configured but unreachable, so a broken CI setup fails loudly instead of skipping.
    pub async fn create_from_env() -> Option<PostgresDatabase> {
        let admin_url = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())?;
        let name = format!("tg_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but PostgreSQL is unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let base = match admin_url.rfind('/') {
            Some(i) if i > "postgres://".len() => &admin_url[..i],
            _ => admin_url.as_str(),
        };
        let url = format!("{base}/{name}");
        Some(PostgresDatabase { url, admin_url, name })
    }

    pub async fn drop_database(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}
