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
}

pub(super) type Cell = Arc<Mutex<Account>>;

pub(super) fn lock(cell: &Mutex<Account>) -> MutexGuard<'_, Account> {
    // The critical sections only do integer arithmetic, so a poisoned lock holds sane data.
    cell.lock().unwrap_or_else(|p| p.into_inner())
}
