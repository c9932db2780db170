//! Throttling of repeated failures, per key: a client address that keeps presenting bad API
//! keys, an account or address that keeps failing to sign in. A small reusable library — the
//! request-path layer is `guards::auth_throttle`; the console's sign-in uses the same type
//! with its own keys — in memory, with memory bounded however many keys an attacker brings.
//!
//! The rule is a leaky bucket (GCRA) over failures only: a key may fail `burst` times in a
//! row; after that every attempt is refused until one failure has "leaked" away, which takes
//! `recover` per failure (so the sustained rate is one failure per `recover`). The caller asks
//! [`FailureThrottle::check`] before doing the work an attempt would cost (refused: answer
//! 429 with the `retry_after` it gives), and reports the outcome with
//! [`FailureThrottle::fail`] (or [`FailureThrottle::forgive`] on a success, where forgiving
//! makes sense, e.g. an account that finally signs in). Refused attempts are not failures:
//! a client that keeps hammering gets one fresh try per `recover`, never a longer lockout.
//!
//! Memory: at most `capacity` keys are tracked. A key whose failures have all leaked away
//! carries no state and is dropped first; if the table is still full (a flood of addresses),
//! the half closest to recovering is dropped. An attacker with more addresses than the table
//! holds can therefore shake off old entries — which is why addresses are keyed by
//! [`client_addr::AddrKey`] (a whole IPv6 /64, which one subscriber usually holds, counts as
//! one address).

pub mod client_addr;
pub mod sign_in;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::AuthThrottleConfig;

/// The auth throttle's policy as its settings give it (written here, beside the type it
/// makes, so the settings do not import the throttle they configure).
impl AuthThrottleConfig {
    pub fn policy(&self) -> Policy {
        Policy { burst: self.burst, recover: Duration::from_millis(self.recover_ms), capacity: self.max_addresses }
    }
}

/// How many failures a key may make, and how fast they are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed in a row before attempts are refused (0: never refuse).
    pub burst: u32,
    /// Time after which one failure is forgotten.
    pub recover: Duration,
    /// Most keys tracked at once.
    pub capacity: usize,
}

/// An attempt refused because its key failed too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When the key may try again.
    pub retry_after: Duration,
}

impl Throttled {
    /// `retry_after` in whole seconds, rounded up (the `retry-after` header's unit), at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// Shards, so concurrent failures from different keys rarely wait on one lock.
const SHARDS: usize = 16;

pub struct FailureThrottle<K> {
    policy: Policy,
    /// Per key, the "theoretical arrival time" of GCRA: the instant at which all its recorded
    /// failures will have leaked away. A key is refused while that is more than
    /// `(burst - 1) × recover` ahead of now.
    shards: Vec<Mutex<HashMap<K, Instant>>>,
    /// Picks a key's shard; keyed randomly, like the maps, since keys come from clients.
    hasher: RandomState,
}

impl<K: Hash + Eq + Clone> FailureThrottle<K> {
    pub fn new(policy: Policy) -> Self {
        FailureThrottle {
            policy,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        // Only instants are stored: a poisoned lock still holds sane data.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How far ahead of `now` the bucket of a key may reach before it is refused.
    fn allowance(&self) -> Duration {
        self.policy.recover.saturating_mul(self.policy.burst.saturating_sub(1))
    }

    fn refused(&self, tat: Instant, now: Instant) -> Option<Throttled> {
        if self.policy.burst == 0 {
            return None;
        }
        let ahead = tat.saturating_duration_since(now);
        let allowance = self.allowance();
        (ahead > allowance).then(|| Throttled { retry_after: ahead - allowance })
    }

    /// May `key` make an attempt now? Refused while it has used up its failures.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Throttled> {
        match self.shard(key).get(key).and_then(|tat| self.refused(*tat, now)) {
            Some(t) => Err(t),
            None => Ok(()),
        }
    }

    /// Records a failed attempt of `key`. Answers `Err` when this failure used up the last
    /// one allowed — the moment the key becomes throttled (for one log line per episode) — and
    /// `Ok` otherwise.
    pub fn fail(&self, key: K, now: Instant) -> Result<(), Throttled> {
        if self.policy.burst == 0 {
            return Ok(());
        }
        let mut map = self.shard(&key);
        let per_shard = self.policy.capacity.div_ceil(SHARDS).max(1);
        if map.len() >= per_shard && !map.contains_key(&key) {
            make_room(&mut map, per_shard, now);
        }
        let tat = map.entry(key).or_insert(now);
        let was_refused = self.refused(*tat, now).is_some();
        // Failures made while refused (a race with `check`) do not push the bucket further.
        if !was_refused {
            *tat = (*tat).max(now) + self.policy.recover;
        }
        match self.refused(*tat, now) {
            Some(t) if !was_refused => Err(t),
            _ => Ok(()),
        }
    }

    /// Forgets the failures of `key` (a success that proves the caller, such as a sign-in).
    pub fn forgive(&self, key: &K) {
        self.shard(key).remove(key);
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }
}

/// Makes room in a full shard: drops the keys with nothing left to remember, then, if that
/// freed nothing, the half whose failures leak away soonest. Halving keeps the cost amortized
/// constant per insertion under a flood (one O(n) pass per n/2 new keys).
fn make_room<K: Hash + Eq>(map: &mut HashMap<K, Instant>, per_shard: usize, now: Instant) {
    map.retain(|_, tat| *tat > now);
    if map.len() < per_shard {
        return;
    }
    let mut tats: Vec<Instant> = map.values().copied().collect();
    let middle = tats.len() / 2;
    let (_, cut, _) = tats.select_nth_unstable(middle);
    let cut = *cut;
    map.retain(|_, tat| *tat > cut);
}

#[cfg(test)]
mod tests;
