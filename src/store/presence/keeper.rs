//! Keeping a gateway's PostgreSQL claim for as long as the gateway runs. The advisory lock
//! lives on one connection, and a connection can be lost (the server restarted, a proxy or the
//! network cut it): the server then drops the lock, and a `tollgate restore` could start under
//! a running gateway. So a task checks the claim's connection every second and, once it is
//! gone, takes the claim again on a new connection as soon as the server answers. A SQLite
//! claim (a `flock` held by this process) cannot be lost and needs no task.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::claim::{Claim, Error, claim};

/// How often the claim's connection is checked (and, when lost, a new one tried).
const RECHECK: Duration = Duration::from_secs(1);

/// How long one check or one attempt to claim again may take (a cut network can hang a socket).
const ATTEMPT: Duration = Duration::from_secs(5);

/// A gateway's claim, kept while this lives; dropping it releases the claim.
#[derive(Debug)]
pub struct Presence {
    /// A claim that needs no keeping (a `flock`, or nothing for an in-memory database).
    _still: Option<Claim>,
    /// The task that holds and re-takes a PostgreSQL claim.
    task: Option<JoinHandle<()>>,
}

impl Drop for Presence {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Keeps `held` (taken by [`super::gateway`] on `url`) for as long as the answer lives.
pub fn keep(url: &str, held: Claim) -> Presence {
    match held {
        Claim::Postgres(conn) => {
            Presence { _still: None, task: Some(tokio::spawn(watch(url.to_string(), Some(conn)))) }
        }
        other => Presence { _still: Some(other), task: None },
    }
}

async fn watch(url: String, mut held: Option<sqlx::PgConnection>) {
    loop {
        tokio::time::sleep(RECHECK).await;
        if let Some(conn) = held.as_mut() {
            let alive = tokio::time::timeout(ATTEMPT, sqlx::query("SELECT 1").execute(&mut *conn)).await;
            if matches!(alive, Ok(Ok(_))) {
                continue;
            }
            held = None;
            tracing::warn!("lost the database claim with its connection; taking it again once PostgreSQL answers");
        }
        match tokio::time::timeout(ATTEMPT, claim(&url, false)).await {
            Ok(Ok(Claim::Postgres(conn))) => {
                tracing::info!("database claim taken again");
                held = Some(conn);
            }
            Ok(Ok(_)) => return,
            Ok(Err(Error::Refused)) => tracing::error!(
                "a `tollgate restore` took the database while this gateway's claim was lost; \
                 stop this gateway and start it again once the restore has finished"
            ),
            Ok(Err(Error::Failed(e))) => tracing::debug!(error = %e, "database claim not taken yet"),
            Err(_) => tracing::debug!("database claim not taken yet: no answer"),
        }
    }
}
