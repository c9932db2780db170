//! One user's money in memory (balance, reserved credits, open reservations) and the lock
//! every change to it takes: shared by the accounts that hold it and the reservations that
//! end on it.

use std::sync::{Arc, Mutex, MutexGuard};

/// One user's money in memory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// Mirrors the ledger sum (and the `users.balance` column).
    pub balance: i64,
    /// Sum of the open reservations.
    pub reserved: i64,
    /// Number of open reservations.
    pub open: i64,
}

impl Account {
    /// What a new reservation may take.
    pub fn available(&self) -> i64 {
        self.balance.saturating_sub(self.reserved)
    }

    /// Deducts a call's `cost`, but never below a balance of zero: the bound on overspending
    /// (ARCHITECTURE.md, invariants). Answers what was deducted; the rest is written off. A call
    /// is admitted only with a positive balance that covers its reservation, and reservations
    /// cover every choice at the client's cap, so a write-off needs a provider that produced
    /// more than was reserved (it ignored `max_tokens`, no cap was given and the default was
    /// exceeded, or the prompt counted low) while the balance could not absorb it.
    pub fn deduct(&mut self, cost: i64) -> i64 {
        let charged = cost.clamp(0, self.balance.max(0));
        self.balance -= charged;
        charged
    }
}

pub(super) type Cell = Arc<Mutex<Account>>;

pub(super) fn lock(cell: &Mutex<Account>) -> MutexGuard<'_, Account> {
    // The critical sections only do integer arithmetic, so a poisoned lock holds sane data.
    cell.lock().unwrap_or_else(|p| p.into_inner())
}
