//! Support for tests (this crate's and the integration tests'): throwaway PostgreSQL databases,
//! and a thread's CPU priority as Linux shows it.

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

/// A thread's CPU priority: its nice value and scheduling policy (`libc::SCHED_IDLE`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPriority {
    pub nice: i32,
    pub policy: i32,
}

impl ThreadPriority {
    /// Reads a task's `stat` under `task_dir` (`/proc/thread-self`, `/proc/PID/task/TID`).
    pub fn of_task(task_dir: impl AsRef<std::path::Path>) -> std::io::Result<ThreadPriority> {
        let stat = std::fs::read_to_string(task_dir.as_ref().join("stat"))?;
        ThreadPriority::from_stat(&stat).ok_or_else(|| std::io::Error::other(format!("unreadable stat: {stat}")))
    }

    /// Fields 19 (nice) and 41 (policy) of a `stat` line. The command name, field 2, is in
    /// parentheses and may hold spaces or parentheses itself, so fields are counted from the
    /// last `)`.
    pub fn from_stat(stat: &str) -> Option<ThreadPriority> {
        let (_, rest) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse().ok();
        Some(ThreadPriority { nice: field(19)?, policy: field(41)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let tail: Vec<String> = (3..=52)
            .map(|n| match n {
                19 => "19".to_string(),
                41 => "5".to_string(),
                n => n.to_string(),
            })
            .collect();
        let stat = format!("1234 (a (b) c) {}", tail.join(" "));
        assert_eq!(ThreadPriority::from_stat(&stat), Some(ThreadPriority { nice: 19, policy: 5 }));
        assert_eq!(ThreadPriority::from_stat("1234 (short) S 1"), None);
    }
}
