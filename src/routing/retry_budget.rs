//! The retry budget: retries may add at most a share of live traffic plus a small floor, so a
//! failing provider sees a bounded multiple of the load instead of every call times every
//! credential (Finagle's RetryBudget, simplified to a token bucket).
//!
//! Every first attempt deposits `ratio` of a token; a retry withdraws a whole one. The floor
//! refills `floor_per_sec` tokens a second so a quiet gateway can still retry. The bucket
//! starts with ten seconds of floor and holds at most that or 100 tokens, whichever is more, so
//! savings from a quiet period pay for a bounded burst, not a storm.

use std::sync::Mutex;
use std::time::Instant;

/// Thousandths of a token, to keep the arithmetic exact.
const MILLI: i64 = 1000;

/// Fewest tokens the bucket may hold, so deposits are not lost when the floor is small.
const MIN_CAP: i64 = 100;

#[derive(Debug)]
pub struct RetryBudget {
    /// Thousandths of a token a first attempt deposits (200 = 20% of traffic).
    ratio_milli: i64,
    /// Tokens a second the floor adds.
    floor_per_sec: i64,
    /// Most thousandths of a token the bucket holds.
    cap_milli: i64,
    inner: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    balance_milli: i64,
    refilled_at: Instant,
}

impl RetryBudget {
    /// `percent` of first attempts may be retried, plus `floor_per_sec` retries a second.
    pub fn new(percent: u32, floor_per_sec: u32, now: Instant) -> RetryBudget {
        let savings_milli = i64::from(floor_per_sec) * 10 * MILLI;
        RetryBudget {
            ratio_milli: i64::from(percent) * MILLI / 100,
            floor_per_sec: i64::from(floor_per_sec),
            cap_milli: savings_milli.max(MIN_CAP * MILLI),
            inner: Mutex::new(Bucket { balance_milli: savings_milli, refilled_at: now }),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed_ms = now.saturating_duration_since(b.refilled_at).as_millis() as i64;
        // floor tokens/s = floor milli-tokens/ms.
        let add = elapsed_ms * self.floor_per_sec;
        if add > 0 {
            b.balance_milli = (b.balance_milli + add).min(self.cap_milli);
            b.refilled_at = now;
        }
    }

    /// A call's first attempt: earns a share of a retry.
    pub fn deposit(&self, now: Instant) {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut b, now);
        b.balance_milli = (b.balance_milli + self.ratio_milli).min(self.cap_milli);
    }

    /// A retry: true (and one token spent) if the budget allows it.
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let mut b = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.refill(&mut b, now);
        if b.balance_milli >= MILLI {
            b.balance_milli -= MILLI;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn floor_allows_a_few_retries_then_refills() {
        let t0 = Instant::now();
        let b = RetryBudget::new(20, 3, t0);
        // Starts with ten seconds of floor.
        assert_eq!((0..40).filter(|_| b.try_withdraw(t0)).count(), 30);
        assert!(!b.try_withdraw(t0 + Duration::from_millis(300)));
        assert!(b.try_withdraw(t0 + Duration::from_millis(334)));
    }

    #[test]
    fn without_a_floor_every_fifth_call_earns_a_retry() {
        let t0 = Instant::now();
        let b = RetryBudget::new(20, 0, t0);
        assert!(!b.try_withdraw(t0));
        let earned = (0..100)
            .filter(|_| {
                b.deposit(t0);
                b.try_withdraw(t0)
            })
            .count();
        assert_eq!(earned, 20);
        // Savings are capped: a long quiet spell does not pay for an unbounded storm.
        (0..10_000).for_each(|_| b.deposit(t0));
        assert_eq!((0..1000).filter(|_| b.try_withdraw(t0)).count(), 100);
    }

    /// Under a 50% failure rate with unlimited attempts per call, the budget holds upstream
    /// calls per client call to about 1 + 20% (+ the floor) once the start-up savings are spent.
    #[test]
    fn amplification_under_half_failures_is_bounded() {
        let t0 = Instant::now();
        let b = RetryBudget::new(20, 3, t0);
        let (calls, mut attempts) = (10_000u64, 0u64);
        // 1000 calls a second for 10 s; each attempt fails with probability 1/2 (xorshift).
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut fails = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng & 1 == 1
        };
        for i in 0..calls {
            let now = t0 + Duration::from_millis(i);
            b.deposit(now);
            attempts += 1;
            while fails() && b.try_withdraw(now) {
                attempts += 1;
            }
        }
        let amplification = attempts as f64 / calls as f64;
        // Without a budget a call would take 2 attempts on average. With it: 20% of 10 000
        // calls, plus 30 tokens saved at start and 30 of floor over 10 s.
        assert!((1.19..1.22).contains(&amplification), "amplification {amplification}");
    }
}
