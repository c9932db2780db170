//! Usage records: written durably off the hot path. A call's record and charge go first to an
//! append-only journal file (one `write` to the page cache, so a killed process loses nothing
//! it wrote), then a background writer commits them to the database in batches (a call's start
//! is held back a moment so that it and its finish become one row write) and deletes journal
//! segments whose every line is committed. At start-up the journal is replayed
//! (idempotently) before anything else reads the database.

mod held;
mod journal;
mod writer;

pub use journal::UsageLog;
pub use writer::{replay, start};
