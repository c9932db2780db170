//! Taking a claim on the database: a `flock` beside a SQLite file, an advisory lock on a
//! PostgreSQL connection of the claim's own; shared (a gateway) or exclusive (a restore).

use std::path::PathBuf;

use sqlx::Connection;

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

/// Why a claim was not taken: another holder's claim excludes it, or the lock could not be tried.
pub(super) enum Error {
    Refused,
    Failed(String),
}
use Error::{Failed, Refused};

/// Takes a shared claim on the database `url` names, or an `exclusive` one.
pub(super) async fn claim(url: &str, exclusive: bool) -> Result<Claim, Error> {
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
