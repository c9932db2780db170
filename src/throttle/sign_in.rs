//! The console's sign-in throttle: failed passwords counted per account and per client
//! address with the same [`FailureThrottle`] the request path uses for bad keys. An account
//! that keeps failing (someone guessing one person's password, from however many addresses)
//! and an address that keeps failing (someone trying many accounts) are each refused for a
//! while; a refused attempt costs no password check. A successful sign-in forgives its
//! account, not its address.

use std::time::{Duration, Instant};

use super::client_addr::AddrKey;
use super::{FailureThrottle, Policy, Throttled};
use crate::config::ConsoleConfig;

pub struct SignInThrottle {
    /// Keyed by the user's id when the name or e-mail matched one, else by the name as typed
    /// (lowercased), so unknown names are throttled alike and reveal nothing.
    accounts: FailureThrottle<String>,
    addresses: FailureThrottle<AddrKey>,
}

impl SignInThrottle {
    pub fn new(c: &ConsoleConfig) -> SignInThrottle {
        let recover = Duration::from_secs(c.sign_in_recover_secs);
        SignInThrottle {
            accounts: FailureThrottle::new(Policy {
                burst: c.sign_in_failures_per_account,
                recover,
                capacity: 100_000,
            }),
            addresses: FailureThrottle::new(Policy {
                burst: c.sign_in_failures_per_address,
                recover,
                capacity: 100_000,
            }),
        }
    }

    /// The key an account is counted under.
    pub fn account_key(user_id: Option<&str>, login: &str) -> String {
        match user_id {
            Some(id) => format!("user:{id}"),
            None => format!("login:{}", login.trim().to_lowercase()),
        }
    }

    /// May this account try from this address now? Refused: the longer of the two waits.
    pub fn check(&self, account: &String, addr: AddrKey, now: Instant) -> Result<(), Throttled> {
        match (self.accounts.check(account, now), self.addresses.check(&addr, now)) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(if a.retry_after >= b.retry_after { a } else { b }),
            (Err(t), _) | (_, Err(t)) => Err(t),
        }
    }

    /// Records a wrong password. `Err` when this failure throttled the account or address
    /// (one log line per episode).
    pub fn fail(&self, account: String, addr: AddrKey, now: Instant) -> Result<(), Throttled> {
        let a = self.accounts.fail(account, now);
        let b = self.addresses.fail(addr, now);
        a.and(b)
    }

    /// A successful sign-in: the account's failures are forgiven.
    pub fn succeed(&self, account: &String) {
        self.accounts.forgive(account);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn throttle() -> SignInThrottle {
        SignInThrottle::new(&ConsoleConfig {
            sign_in_failures_per_account: 3,
            sign_in_failures_per_address: 5,
            sign_in_recover_secs: 60,
            ..ConsoleConfig::default()
        })
    }

    fn addr(s: &str) -> AddrKey {
        AddrKey::of(s.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn an_account_is_refused_after_its_failures_from_any_address() {
        let t = throttle();
        let now = Instant::now();
        let alice = SignInThrottle::account_key(Some("u1"), "alice");
        for i in 0..3 {
            assert!(t.check(&alice, addr(&format!("10.0.0.{i}")), now).is_ok());
            let _ = t.fail(alice.clone(), addr(&format!("10.0.0.{i}")), now);
        }
        let refused = t.check(&alice, addr("10.0.0.9"), now).unwrap_err();
        assert!(refused.retry_after_secs() >= 59, "{refused:?}");
        // Another account from a fresh address is not affected.
        assert!(t.check(&SignInThrottle::account_key(Some("u2"), "bob"), addr("10.0.0.9"), now).is_ok());
        // Once a failure has leaked away, one more try is allowed.
        assert!(t.check(&alice, addr("10.0.0.9"), now + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn an_address_is_refused_after_failing_many_accounts_and_success_forgives_the_account() {
        let t = throttle();
        let now = Instant::now();
        let a = addr("192.0.2.1");
        for i in 0..5 {
            let _ = t.fail(SignInThrottle::account_key(None, &format!("user{i}")), a, now);
        }
        assert!(t.check(&SignInThrottle::account_key(None, "someone"), a, now).is_err());
        let carol = SignInThrottle::account_key(Some("u3"), "carol");
        let _ = t.fail(carol.clone(), addr("192.0.2.2"), now);
        t.succeed(&carol);
        assert!(t.check(&carol, addr("192.0.2.3"), now).is_ok());
        assert_eq!(SignInThrottle::account_key(None, " Alice@Example.com "), "login:alice@example.com");
    }
}
