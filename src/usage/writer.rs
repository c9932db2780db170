//! The background writer (batches journal lines into database transactions) and the start-up
//! replay of journal segments left by a crash.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::held::{HeldStarts, is_start};
use super::isolate::commit_isolating;
use super::journal::{Msg, UsageLog, segments};
use super::quarantine::Quarantine;
use crate::store::calls::CallWrite;
use crate::store::{self, Db};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// How long the writer waits after a write arrives for others to share its transaction.
const GATHER: Duration = Duration::from_millis(2);

/// Commits every journal segment in `dir` (idempotent), deletes them, closes calls a crash left
/// `processing`. Run before anything reads balances or serves traffic. Writes the database
/// refuses for good are set aside in `quarantine`, not replayed again.
pub async fn replay(db: &Db, dir: &Path, quarantine: &Quarantine) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut replayed = 0usize;
    for (_, path) in segments(dir).map_err(|e| e.to_string())? {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // A torn last line (killed mid-write) never reached the client as complete; skip it.
        let writes: Vec<CallWrite> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        for chunk in coalesce(writes).chunks(MAX_BATCH) {
            commit_isolating(db, chunk.to_vec(), quarantine)
                .await
                .map_err(|(_, e)| format!("replaying {}: {e}", path.display()))?;
            replayed += chunk.len();
        }
        std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let stale = store::calls::close_stale(db).await.map_err(|e| e.to_string())?;
    if replayed > 0 || stale > 0 {
        tracing::info!(replayed, stale, "usage journal replayed; interrupted calls closed as failed");
    }
    Ok(())
}

/// Keeps the last write of each call (a finish supersedes its start), in order.
fn coalesce(writes: Vec<CallWrite>) -> Vec<CallWrite> {
    let mut last = std::collections::HashMap::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        last.insert(w.record.id.clone(), i);
    }
    writes.into_iter().enumerate().filter(|(i, w)| last[&w.record.id] == *i).map(|(_, w)| w).collect()
}

/// Starts the writer task; the returned log is what handlers record through. Past
/// `backlog_max` writes waiting for the database, the log reports itself overloaded.
pub fn start(
    db: Db,
    dir: &Path,
    quarantine: Quarantine,
    backlog_max: usize,
) -> std::io::Result<(UsageLog, tokio::task::JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let log = UsageLog::open(dir, tx, quarantine.clone(), backlog.clone(), backlog_max)?;
    let task = tokio::spawn(run(db, rx, quarantine, backlog));
    Ok((log, task))
}

async fn run(db: Db, mut rx: mpsc::UnboundedReceiver<Msg>, q: Quarantine, backlog: Arc<AtomicUsize>) {
    let mut batch: Vec<CallWrite> = Vec::new();
    let mut held = HeldStarts::default();
    loop {
        let received = match held.next_due() {
            Some(due) => match tokio::time::timeout_at(due.into(), rx.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    held.release_due(Instant::now(), &mut batch);
                    commit(&db, &mut batch, &q).await;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(first) = received else { break };
        // Let the writes of calls running alongside join this transaction.
        tokio::time::sleep(GATHER).await;
        let mut msgs = vec![first];
        while msgs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => msgs.push(m),
                Err(_) => break,
            }
        }
        let now = Instant::now();
        let writes = msgs.iter().filter(|m| matches!(m, Msg::Write(_))).count();
        // Taken off the queue: held and batched writes are bounded by MAX_BATCH and the hold.
        backlog.fetch_sub(writes, Ordering::Relaxed);
        for msg in msgs {
            match msg {
                Msg::Write(w) if is_start(&w) => held.hold(*w, now),
                Msg::Write(w) => {
                    held.finished(&w.record.id);
                    batch.push(*w);
                }
                Msg::Rotated(path) => {
                    held.release_all(&mut batch);
                    commit(&db, &mut batch, &q).await;
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(error = %e, path = %path.display(), "cannot delete a committed journal segment");
                    }
                }
                Msg::Flush(ack) => {
                    held.release_all(&mut batch);
                    commit(&db, &mut batch, &q).await;
                    let _ = ack.send(());
                }
            }
        }
        held.release_due(Instant::now(), &mut batch);
        commit(&db, &mut batch, &q).await;
    }
    held.release_all(&mut batch);
    commit(&db, &mut batch, &q).await;
}

/// Commits the batch, retrying until the database takes it: the journal holds every write, so
/// waiting loses nothing, while dropping would. A write the database refuses for good is set
/// aside in the quarantine rather than retried, so it cannot block the writes after it.
pub(super) async fn commit(db: &Db, batch: &mut Vec<CallWrite>, quarantine: &Quarantine) {
    if batch.is_empty() {
        return;
    }
    let mut writes = coalesce(std::mem::take(batch));
    let mut delay = Duration::from_millis(50);
    loop {
        match commit_isolating(db, writes, quarantine).await {
            Ok(()) => return,
            Err((rest, e)) => {
                tracing::error!(error = %e, writes = rest.len(), "usage batch not committed; retrying");
                writes = rest;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
