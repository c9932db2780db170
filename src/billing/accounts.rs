//! In-memory credit balances, so admission never queries the database. The database ledger
//! stays the source of truth: balances are loaded from it at start and every change to it
//! (grant, charge) is mirrored here by the code that makes the change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct Accounts {
    balances: RwLock<HashMap<String, Arc<AtomicI64>>>,
}

impl Accounts {
    /// Replaces every balance, e.g. after loading them from the database at start.
    pub fn load(&self, balances: impl IntoIterator<Item = (String, i64)>) {
        let map = balances.into_iter().map(|(id, b)| (id, Arc::new(AtomicI64::new(b)))).collect();
        *self.balances.write().expect("accounts lock") = map;
    }

    /// The cell of one user, created at zero if unknown (a user made a moment ago).
    fn cell(&self, user_id: &str) -> Arc<AtomicI64> {
        if let Some(c) = self.balances.read().expect("accounts lock").get(user_id) {
            return c.clone();
        }
        self.balances.write().expect("accounts lock").entry(user_id.to_string()).or_default().clone()
    }

    pub fn balance(&self, user_id: &str) -> i64 {
        match self.balances.read().expect("accounts lock").get(user_id) {
            Some(c) => c.load(Ordering::Acquire),
            None => 0,
        }
    }

    /// Adds a signed amount (a grant is positive, a charge negative); returns the new balance.
    pub fn add(&self, user_id: &str, nanos: i64) -> i64 {
        self.cell(user_id).fetch_add(nanos, Ordering::AcqRel) + nanos
    }

    pub fn set(&self, user_id: &str, nanos: i64) {
        self.cell(user_id).store(nanos, Ordering::Release);
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
}
