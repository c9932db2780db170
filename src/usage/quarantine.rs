//! Writes the database refuses for good (a charge for a user whose row is gone, a record that
//! breaks a constraint). One such write must not hold back the writes batched with it or after
//! it, so the writer sets it aside here: the call's record is kept without its charge when the
//! database takes that, the whole write goes to `rejected.jsonl` next to the journal (the same
//! line format, plus the error) for an operator to look at, and `/metrics` counts it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::store::calls::{CallWrite, apply_batch};
use crate::store::{Db, StoreResult};

/// The file rejected writes are appended to, in the journal directory. Its name is not a
/// segment's (`calls-N.jsonl`), so replay never reads it back.
pub const REJECTED_FILE: &str = "rejected.jsonl";

/// Where rejected writes go; clones share the count.
#[derive(Clone)]
pub struct Quarantine {
    path: PathBuf,
    count: Arc<AtomicU64>,
}

impl Quarantine {
    pub fn new(journal_dir: &Path) -> Quarantine {
        Quarantine { path: journal_dir.join(REJECTED_FILE), count: Arc::default() }
    }

    /// Writes rejected since start-up (`tollgate_usage_writes_rejected_total`).
    pub fn rejected(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Sets aside `w`, which the database refused alone with `err`.
    pub(super) async fn reject(&self, db: &Db, w: &CallWrite, err: &sqlx::Error) {
        self.count.fetch_add(1, Relaxed);
        // Ids, amounts and the database's reason only: records hold no keys or secrets.
        tracing::error!(
            error = %err,
            call = %w.record.id,
            user = %w.record.user_id,
            charge = w.charge.as_ref().map_or(0, |c| c.amount),
            "usage write refused by the database; set aside in {REJECTED_FILE}"
        );
        let kept = match &w.charge {
            Some(_) => keep_record(db, w).await,
            None => Ok(false),
        };
        if let Err(e) = &kept {
            tracing::error!(error = %e, call = %w.record.id, "the refused call's record is not kept either");
        }
        let line = serde_json::json!({
            "error": err.to_string(),
            "record_kept": kept.unwrap_or(false),
            "write": w,
        });
        if let Err(e) = self.append(&line) {
            tracing::error!(error = %e, path = %self.path.display(), call = %w.record.id, "cannot write the rejected usage file");
        }
    }

    fn append(&self, line: &serde_json::Value) -> std::io::Result<()> {
        let mut text = serde_json::to_vec(line)?;
        text.push(b'\n');
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(&text)?;
        file.sync_data()
    }
}

/// The call's record without its charge, so the call still shows in the usage log.
async fn keep_record(db: &Db, w: &CallWrite) -> StoreResult<bool> {
    apply_batch(db, &[CallWrite { record: w.record.clone(), charge: None }]).await.map(|_| true)
}

/// Whether the database would refuse `err`'s write again however often it is tried: a row it
/// needs is missing, a constraint is broken, or (PostgreSQL, class 22) the data is invalid.
/// Anything else (I/O, timeouts, locks, serialization) is worth retrying.
pub fn is_permanent(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::RowNotFound => true,
        sqlx::Error::Database(d) => {
            d.kind() != sqlx::error::ErrorKind::Other
                || d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|p| p.code().starts_with("22"))
        }
        _ => false,
    }
}
