//! Usage records: written durably off the hot path. A call's record and charge go first to an
//! append-only journal file (one `write` to the page cache, so a killed process loses nothing
//! it wrote), then a background writer commits them to the database in batches (a call's start
//! is held back a moment so that it and its finish become one row write) and deletes journal
//! segments whose every line is committed. At start-up the journal is replayed
//! (idempotently) before anything else reads the database. A write the database refuses for
//! good (its user's row is gone) is set aside in `rejected.jsonl` and counted, so it cannot
//! block the others.

pub mod archive;
mod held;
mod isolate;
mod journal;
mod quarantine;
mod writer;
#[cfg(test)]
mod writer_tests;

pub use journal::UsageLog;
pub use quarantine::{Quarantine, REJECTED_FILE};
pub use writer::{replay, start};
