//! Who is using the database. A gateway holds a shared claim for as long as it runs;
//! `tollgate restore` takes an exclusive one, so it refuses while any gateway runs on the
//! database, and a gateway refuses to start while a restore is under way. The operating
//! system (SQLite) or the server (PostgreSQL) drops a claim when its process ends, however it
//! ends, so a crash leaves nothing stale behind.
//!
//! - SQLite: a `flock` on `<database file>.lock`, beside the database file (so every process
//!   on that file agrees, whatever its data directory).
//! - PostgreSQL: an advisory lock (per database) on a connection of the claim's own, which
//!   [`keep`] takes again on a new connection when the old one is lost (`keeper.rs`); the
//!   claims themselves are taken in `claim.rs`.

mod claim;
mod keeper;

pub use claim::{Claim, sqlite_file};
use claim::{Error, claim};
pub use keeper::{Presence, keep};

/// The gateway's claim: shared with other gateways, refused during a restore.
pub async fn gateway(url: &str) -> Result<Claim, String> {
    claim(url, false).await.map_err(|e| match e {
        Error::Refused => "a `tollgate restore` is using the database; start the gateway once it has finished".into(),
        Error::Failed(e) => e,
    })
}

/// `tollgate restore`'s claim: refused while any gateway runs on the database.
pub async fn exclusive(url: &str) -> Result<Claim, String> {
    claim(url, true).await.map_err(|e| match e {
        Error::Refused => {
            "a gateway is running on this database: stop every `tollgate serve` on it first, then restore".into()
        }
        Error::Failed(e) => e,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
