//! A credit reservation held by one call. It ends exactly once: `settle` releases it and
//! deducts the exact cost in one step under the account's lock (so no other call can slip in
//! between the release and the charge); dropping it unsettled — an early return, a panic
//! unwinding through a handler — releases it without a charge. Ownership makes a second end
//! impossible: `settle` consumes the hold, and `Drop` does nothing after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::account::{Cell, lock};

#[must_use = "a reservation is released when dropped"]
pub struct CreditHold {
    cell: Cell,
    open_total: Arc<AtomicI64>,
    amount: i64,
    ended: bool,
}

impl std::fmt::Debug for CreditHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreditHold").field("amount", &self.amount).field("ended", &self.ended).finish()
    }
}

impl CreditHold {
    pub(super) fn new(cell: Cell, open_total: Arc<AtomicI64>, amount: i64) -> CreditHold {
        CreditHold { cell, open_total, amount, ended: false }
    }

    /// The reserved amount in nano-credits.
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Releases the reservation and deducts `cost` (the exact cost; it may exceed the
    /// reservation, which was an estimate), never taking the balance below zero
    /// (`Account::deduct`); answers what was deducted, which is what the ledger is charged.
    pub fn settle(mut self, cost: i64) -> i64 {
        self.end(cost)
    }

    fn end(&mut self, cost: i64) -> i64 {
        if std::mem::replace(&mut self.ended, true) {
            return 0;
        }
        let charged = {
            let mut a = lock(&self.cell);
            a.reserved -= self.amount;
            a.open -= 1;
            a.deduct(cost)
        };
        self.open_total.fetch_sub(1, Ordering::AcqRel);
        charged
    }
}

impl Drop for CreditHold {
    fn drop(&mut self) {
        let _ = self.end(0);
    }
}
