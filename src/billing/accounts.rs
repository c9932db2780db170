//! In-memory credit accounts, so admission never queries the database: each user's balance
//! and the credits reserved by its calls in flight. The database ledger stays the source of
//! truth for the balance: balances are loaded from it at start and every change to it (grant,
//! charge) is mirrored here by the code that makes the change.
//!
//! Reservations live only here, never in the database: a crash releases them by definition
//! (the process that held them is gone, and a restart loads balances with nothing reserved).
//! Each account is one mutex, so "is there enough left?" and "reserve it" are one step: 200
//! concurrent calls against a balance covering 10 cannot all see the same free credits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::account::{Account, Cell, lock};
use super::reservations::CreditHold;

#[derive(Default)]
pub struct Accounts {
    cells: RwLock<HashMap<String, Cell>>,
    /// Open reservations over all users: the leak metric (0 when nothing is in flight).
    pub(super) open_total: Arc<AtomicI64>,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    pub available: i64,
    pub needed: i64,
}

impl Accounts {
    /// Replaces every balance, e.g. after loading them from the database at start.
    pub fn load(&self, balances: impl IntoIterator<Item = (String, i64)>) {
        let map = balances
            .into_iter()
            .map(|(id, balance)| (id, Arc::new(Mutex::new(Account { balance, ..Account::default() }))))
            .collect();
        *self.cells.write().expect("accounts lock") = map;
    }

    /// The cell of one user, created at zero if unknown (a user made a moment ago).
    fn cell(&self, user_id: &str) -> Cell {
        if let Some(c) = self.cells.read().expect("accounts lock").get(user_id) {
            return c.clone();
        }
        self.cells.write().expect("accounts lock").entry(user_id.to_string()).or_default().clone()
    }

    pub fn balance(&self, user_id: &str) -> i64 {
        self.account(user_id).balance
    }

    /// A consistent copy of one account (balance and reservations read together).
    pub fn account(&self, user_id: &str) -> Account {
        match self.cells.read().expect("accounts lock").get(user_id) {
            Some(c) => *lock(c),
            None => Account::default(),
        }
    }

    /// Adds a signed amount (a grant is positive, a charge negative); returns the new balance.
    pub fn add(&self, user_id: &str, nanos: i64) -> i64 {
        let cell = self.cell(user_id);
        let mut a = lock(&cell);
        // The database refuses an entry that leaves the i64 range; saturating here only keeps
        // a mirror that somehow drifted from panicking.
        a.balance = a.balance.saturating_add(nanos);
        a.balance
    }

    /// Deducts a call's `cost` without a reservation (a call whose admission held none, such
    /// as a free model's call that failed over to a priced one), with the same floor as a
    /// settled reservation (`Account::deduct`); answers what was deducted.
    pub fn charge(&self, user_id: &str, cost: i64) -> i64 {
        lock(&self.cell(user_id)).deduct(cost)
    }

    pub fn set(&self, user_id: &str, nanos: i64) {
        lock(&self.cell(user_id)).balance = nanos;
    }

    /// Reserves `amount` if the balance minus open reservations covers it (and is positive,
    /// so an account at or below zero admits nothing, even a call estimated at zero). The
    /// check and the reservation happen under the account's lock.
    pub fn reserve(&self, user_id: &str, amount: i64) -> Result<CreditHold, Shortfall> {
        let amount = amount.max(0);
        let cell = self.cell(user_id);
        {
            let mut a = lock(&cell);
            let available = a.available();
            if available <= 0 || available < amount {
                return Err(Shortfall { available, needed: amount });
            }
            a.reserved += amount;
            a.open += 1;
        }
        self.open_total.fetch_add(1, Ordering::AcqRel);
        Ok(CreditHold::new(cell, self.open_total.clone(), amount))
    }

    /// Open reservations over all users (0 once every call has settled).
    pub fn open_reservations(&self) -> i64 {
        self.open_total.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_read() {
        let a = Accounts::default();
        a.load([("u1".to_string(), 100)]);
        assert_eq!(a.add("u1", -30), 70);
        assert_eq!(a.balance("u1"), 70);
        assert_eq!(a.balance("nobody"), 0);
        assert_eq!(a.add("new", 5), 5);
    }

    #[test]
    fn reservations_count_against_the_balance_until_settled() {
        let a = Accounts::default();
        a.load([("u".to_string(), 100)]);
        let h1 = a.reserve("u", 60).unwrap();
        assert_eq!(a.reserve("u", 41).unwrap_err(), Shortfall { available: 40, needed: 41 });
        let h2 = a.reserve("u", 40).unwrap();
        assert!(a.reserve("u", 0).is_err(), "nothing left, not even for a zero estimate");
        assert_eq!(a.account("u"), Account { balance: 100, reserved: 100, open: 2 });
        assert_eq!(h1.settle(75), 75);
        assert_eq!(a.account("u"), Account { balance: 25, reserved: 40, open: 1 });
        drop(h2);
        assert_eq!(a.account("u"), Account { balance: 25, reserved: 0, open: 0 });
        assert_eq!(a.open_reservations(), 0);
    }

    #[test]
    fn concurrent_reservations_never_overcommit() {
        let a = Arc::new(Accounts::default());
        a.load([("u".to_string(), 10 * 7)]);
        let barrier = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (a, b) = (a.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    (0..50).filter_map(|_| a.reserve("u", 7).ok()).collect::<Vec<_>>()
                })
            })
            .collect();
        let holds: Vec<CreditHold> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        assert_eq!(holds.len(), 10);
        for h in holds {
            h.settle(7);
        }
        assert_eq!(a.account("u"), Account { balance: 0, reserved: 0, open: 0 });
    }

    #[test]
    fn a_settlement_never_takes_the_balance_below_zero() {
        let a = Accounts::default();
        a.load([("u".to_string(), 100)]);
        let h1 = a.reserve("u", 60).unwrap();
        let h2 = a.reserve("u", 40).unwrap();
        // A provider that ignored the cap: 500 charged against a reservation of 60.
        assert_eq!(h1.settle(500), 100, "what the balance held, the rest written off");
        assert_eq!(a.account("u"), Account { balance: 0, reserved: 40, open: 1 });
        assert_eq!(h2.settle(40), 0, "nothing left to take");
        assert_eq!(a.balance("u"), 0);
        // Without a reservation, and from a balance an operator took below zero.
        a.set("u", 10);
        assert_eq!(a.charge("u", 25), 10);
        a.set("u", -50);
        assert_eq!(a.charge("u", 5), 0);
        assert_eq!(a.balance("u"), -50, "an operator's adjustment is theirs; a call never lowers it");
        assert_eq!(a.charge("u", -3), 0, "a negative cost is no credit");
    }
}
