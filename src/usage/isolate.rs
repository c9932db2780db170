//! Commits a batch so that one write the database refuses for good cannot block the others:
//! when the batch's transaction fails, its writes are tried one by one (each is idempotent:
//! records upsert by id, charges post by idempotency key, and the failed transaction left
//! nothing behind), the refused ones are set aside in the [`Quarantine`], and the good ones
//! commit.

use super::quarantine::{Quarantine, is_permanent};
use crate::store::Db;
use crate::store::calls::{CallWrite, apply_batch};

/// Commits `writes`. On a failure worth retrying (the database is down or busy) answers the
/// writes not yet committed, in order, with the error; everything else is committed or set
/// aside.
pub(super) async fn commit_isolating(
    db: &Db,
    writes: Vec<CallWrite>,
    quarantine: &Quarantine,
) -> Result<(), (Vec<CallWrite>, sqlx::Error)> {
    let err = match apply_batch(db, &writes).await {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    if writes.len() == 1 && !is_permanent(&err) {
        return Err((writes, err));
    }
    let mut rest = writes.into_iter();
    while let Some(w) = rest.next() {
        match apply_batch(db, std::slice::from_ref(&w)).await {
            Ok(_) => {}
            Err(e) if is_permanent(&e) => quarantine.reject(db, &w, &e).await,
            // The database itself is failing: keep this write and the rest for the next try.
            Err(e) => return Err((std::iter::once(w).chain(rest).collect(), e)),
        }
    }
    Ok(())
}
