//! The generic cell rate algorithm (GCRA) as pure functions of (now, state, quota, cost).
//!
//! The state of a limit is one integer, the theoretical arrival time (TAT): the moment the
//! limit would be completely replenished. A quota of `limit` units per `period` spaces units
//! `T = ceil(period / limit)` apart and allows a burst of the whole quota (`limit × T`), so a
//! caller idle for a period may spend `limit` units at once, and never more.
//!
//! Times are integer microseconds on the Unix clock and every step is integer arithmetic.
//! That is deliberate: the Redis variant (scale-out issue) runs these same steps in Lua, whose
//! numbers are doubles — exact for integers below 2^53, which microsecond timestamps stay under
//! for centuries (nanoseconds would not). Rounding `T` up means the sustained rate is at most
//! the quota (exactly it when `limit` divides the period; e.g. 7 M tokens per minute spaces
//! tokens 9 µs apart, 5 % under); the smallest spacing is 1 µs, 60 M units per minute.

/// `limit` units per `period_us` microseconds (e.g. 60 requests per 60·10⁶ µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: i64,
    pub period_us: i64,
}

/// Microseconds in a minute: RPM and TPM quotas are per minute.
pub const MINUTE_US: i64 = 60_000_000;

impl Quota {
    pub fn per_minute(limit: i64) -> Quota {
        Quota { limit: limit.max(1), period_us: MINUTE_US }
    }

    /// The spacing of single units, rounded up so rounding never grants more than the quota.
    fn spacing(self) -> i64 {
        ((self.period_us + self.limit - 1) / self.limit).max(1)
    }

    /// How far ahead of `now` the TAT may be after an admitted call: the whole burst.
    fn window(self) -> i64 {
        self.limit.saturating_mul(self.spacing())
    }

    /// Units that fit between a TAT and the end of the burst window (clamped to the quota).
    fn units_free(self, now: i64, tat: i64) -> i64 {
        ((now.saturating_add(self.window()) - tat).max(0) / self.spacing()).min(self.limit)
    }
}

/// The outcome of one check. `tat` is the state to store: the new one when allowed, the old
/// one (unchanged) when not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub tat: i64,
    /// Units still available after this decision.
    pub remaining: i64,
    /// Microseconds until the limit is fully replenished (OpenAI's `x-ratelimit-reset-*`).
    pub reset_us: i64,
    /// When refused: microseconds until the same call would pass; 0 when allowed. A cost above
    /// the whole quota never passes and answers one full period.
    pub retry_after_us: i64,
}

/// Decides whether `cost` units may be spent at `now` given the stored `tat`.
pub fn check(now: i64, tat: i64, q: Quota, cost: i64) -> Decision {
    let base = tat.max(now);
    let new_tat = base.saturating_add(cost.max(0).saturating_mul(q.spacing()));
    if cost <= q.limit && new_tat - now <= q.window() {
        return Decision {
            allowed: true,
            tat: new_tat,
            remaining: q.units_free(now, new_tat),
            reset_us: new_tat - now,
            retry_after_us: 0,
        };
    }
    let retry_after_us = if cost > q.limit { q.period_us } else { new_tat - q.window() - now };
    Decision { allowed: false, tat, remaining: q.units_free(now, base), reset_us: base - now, retry_after_us }
}

/// Corrects a TAT after the fact by `delta` units: positive debits units spent beyond what was
/// admitted (it may push the TAT past the burst window, delaying later calls), negative gives
/// back units admitted but not used (never to before `now`: unused capacity is not banked).
pub fn adjust(now: i64, tat: i64, q: Quota, delta: i64) -> i64 {
    if delta >= 0 {
        tat.max(now).saturating_add(delta.saturating_mul(q.spacing()))
    } else if tat <= now {
        tat
    } else {
        tat.saturating_sub(delta.saturating_neg().saturating_mul(q.spacing())).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn a_fresh_limit_allows_a_full_burst_then_refuses() {
        let q = Quota::per_minute(3);
        let mut tat = 0;
        let now = 100 * S;
        for want_remaining in [2, 1, 0] {
            let d = check(now, tat, q, 1);
            assert!(d.allowed);
            assert_eq!(d.remaining, want_remaining);
            tat = d.tat;
        }
        let d = check(now, tat, q, 1);
        assert!(!d.allowed);
        assert_eq!(d.tat, tat, "a refusal leaves the state unchanged");
        assert_eq!(d.retry_after_us, 20 * S, "one unit frees up every 20 s");
        assert_eq!(d.reset_us, 60 * S);
        assert!(check(now + 20 * S, tat, q, 1).allowed);
        assert!(!check(now + 20 * S - 1, tat, q, 1).allowed);
    }

    #[test]
    fn costs_are_weighted_and_oversized_costs_never_pass() {
        let q = Quota::per_minute(1000);
        let d = check(0, 0, q, 600);
        assert!(d.allowed);
        assert_eq!(d.remaining, 400);
        let refused = check(0, d.tat, q, 500);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_us, 6 * S, "100 tokens more are needed, one per 60 ms");
        let huge = check(0, 0, q, 1001);
        assert!(!huge.allowed);
        assert_eq!(huge.retry_after_us, 60 * S);
    }

    #[test]
    fn adjust_debits_and_refunds_without_banking() {
        let q = Quota::per_minute(60);
        let now = 10 * S;
        let tat = check(now, 0, q, 30).tat;
        assert_eq!(tat, now + 30 * S);
        assert_eq!(adjust(now, tat, q, -10), now + 20 * S);
        assert_eq!(adjust(now, tat, q, -100), now, "a refund stops at now");
        assert_eq!(adjust(now, 5 * S, q, -1), 5 * S, "nothing to refund from a replenished limit");
        assert_eq!(adjust(now, tat, q, 40), now + 70 * S, "a debit may exceed the burst window");
        assert!(!check(now, now + 70 * S, q, 1).allowed);
    }

    #[test]
    fn uneven_quotas_allow_exactly_their_burst_and_never_more_per_period() {
        // 7 per minute does not divide a minute; a burst of 7 passes, the 8th does not, and
        // over ten minutes of constant pressure at most 7 per minute (plus the burst) pass.
        let q = Quota::per_minute(7);
        let (mut tat, start) = (0, 1_000 * S);
        for _ in 0..7 {
            let d = check(start, tat, q, 1);
            assert!(d.allowed);
            tat = d.tat;
        }
        assert!(!check(start, tat, q, 1).allowed);
        let mut passed = 7;
        for ms in 0..600_000 {
            let d = check(start + ms * 1000, tat, q, 1);
            if d.allowed {
                tat = d.tat;
                passed += 1;
            }
        }
        assert!(passed <= 7 + 70, "{passed} passed in ten minutes");
        assert!(passed >= 7 + 69, "{passed} passed in ten minutes");
    }
}
