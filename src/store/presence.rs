//! Who is using the database. A gateway holds a shared claim for as long as it runs;
//! `tollgate restore` takes an exclusive one, so it refuses while any gateway runs on the
//! database, and a gateway refuses to start while a restore is under way. The operating
//! system (SQLite) or the server (PostgreSQL) drops a claim when its process ends, however it
//! ends, so a crash leaves nothing stale behind.
//!
//! - SQLite: a `flock` on `<database file>.lock`, beside the database file (so every process
//!   on that file agrees, whatever its data directory).
//! - PostgreSQL: an advisory lock (per database) on a connection of the claim's own, which
//!   [`keep`] takes again on a new connection when the old one is lost (`keeper.rs`).

use std::path::PathBuf;

use sqlx::Connection;

mod keeper;
pub use keeper::{Presence, keep};

/// Arbitrary constant naming the gateways' advisory lock (the migrations use another).
const PG_PRESENCE_ID: i64 = 0x7011_6a7f;

/// A held claim; dropping it releases the claim.
#[derive(Debug)]
pub enum Claim {
    File(std::fs::File),
    Postgres(sqlx::PgConnection),
    /// An in-memory SQLite database: nothing else can see it.
    Nothing,
}

impl Claim {
    /// Releases the claim now (a PostgreSQL connection closed cleanly, not just dropped, so
    /// the server has let go of the lock when this returns).
    pub async fn release(self) {
        if let Claim::Postgres(conn) = self {
            let _ = conn.close().await;
        }
    }
}

/// The SQLite database file a `sqlite:` URL names (`None` for an in-memory one).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn lock_file(db_file: &std::path::Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The gateway's claim: shared with other gateways, refused during a restore.
pub async fn gateway(url: &str) -> Result<Claim, String> {
    claim(url, false).await.map_err(|e| match e {
        Refused => "a `tollgate restore` is using the database; start the gateway once it has finished".into(),
        Failed(e) => e,
    })
}

/// `tollgate restore`'s claim: refused while any gateway runs on the database.
pub async fn exclusive(url: &str) -> Result<Claim, String> {
    claim(url, true).await.map_err(|e| match e {
        Refused => {
            "a gateway is running on this database: stop every `tollgate serve` on it first, then restore".into()
        }
        Failed(e) => e,
    })
}

enum Error {
    Refused,
    Failed(String),
}
use Error::{Failed, Refused};

async fn claim(url: &str, exclusive: bool) -> Result<Claim, Error> {
    if url.starts_with("sqlite:") {
        let Some(db_file) = sqlite_file(url) else { return Ok(Claim::Nothing) };
        let path = lock_file(&db_file);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Failed(format!("cannot open the lock file {}: {e}", path.display())))?;
        let taken = if exclusive { file.try_lock() } else { file.try_lock_shared() };
        return match taken {
            Ok(()) => Ok(Claim::File(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(Refused),
            Err(std::fs::TryLockError::Error(e)) => Err(Failed(format!("cannot lock {}: {e}", path.display()))),
        };
    }
    let mut conn =
        sqlx::PgConnection::connect(url).await.map_err(|e| Failed(format!("cannot open the database: {e}")))?;
    let sql = if exclusive { "SELECT pg_try_advisory_lock($1)" } else { "SELECT pg_try_advisory_lock_shared($1)" };
    let taken: bool = sqlx::query_scalar(sql)
        .bind(PG_PRESENCE_ID)
        .fetch_one(&mut conn)
        .await
        .map_err(|e| Failed(format!("cannot take the database's advisory lock: {e}")))?;
    if taken { Ok(Claim::Postgres(conn)) } else { Err(Refused) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(sqlite_file("sqlite://data/t.db"), Some(PathBuf::from("data/t.db")));
        assert_eq!(sqlite_file("sqlite:/abs/t.db?mode=rwc"), Some(PathBuf::from("/abs/t.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }

    /// Gateways share the database; a restore has it alone, on both engines.
    #[tokio::test]
    async fn gateways_share_and_a_restore_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let mut urls = vec![format!("sqlite://{}", dir.path().join("t.db").display())];
        let pg = crate::testing::PostgresDatabase::create_from_env().await;
        urls.extend(pg.as_ref().map(|p| p.url.clone()));
        for url in &urls {
            let one = gateway(url).await.unwrap();
            let two = gateway(url).await.unwrap();
            let refused = exclusive(url).await.unwrap_err();
            assert!(refused.contains("a gateway is running"), "{refused}");
            one.release().await;
            two.release().await;
            let restore = exclusive(url).await.unwrap();
            assert!(gateway(url).await.unwrap_err().contains("restore"), "{url}");
            restore.release().await;
            gateway(url).await.unwrap().release().await;
        }
        if let Some(pg) = pg {
            pg.drop_database().await;
        }
    }
}
