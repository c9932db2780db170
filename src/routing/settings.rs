//! Routing tunables: breaker thresholds, cool-downs, the retry budget and the re-test backoff.
//! Read once at start from `TOLLGATE_*` environment variables (tests shrink the times so a
//! breaker cycle or a key re-test takes milliseconds, not minutes).

use std::time::Duration;

use super::health::HealthConfig;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutingSettings {
    pub health: HealthConfig,
    /// First delay before re-testing a refused credential; doubles each failed re-test.
    pub retest_base: Duration,
    /// Longest delay between two re-tests.
    pub retest_max: Duration,
    /// Retries may add this share (percent) of first attempts...
    pub retry_percent: u32,
    /// ...plus this many a second.
    pub retry_floor_per_sec: u32,
    /// Attempts of one call at most, whatever the budget says.
    pub max_attempts: u32,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings {
            health: HealthConfig::default(),
            retest_base: Duration::from_secs(30),
            retest_max: Duration::from_secs(30 * 60),
            retry_percent: 20,
            retry_floor_per_sec: 3,
            max_attempts: 5,
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(variable = name, "ignored: not a whole number");
            None
        }
    }
}

impl RoutingSettings {
    /// Defaults overridden by `TOLLGATE_BREAKER_WINDOW_MS`, `TOLLGATE_BREAKER_MIN_REQUESTS`,
    /// `TOLLGATE_BREAKER_ERROR_PERCENT`, `TOLLGATE_BREAKER_COOLOFF_MS`,
    /// `TOLLGATE_RATE_LIMIT_COOLDOWN_MS`, `TOLLGATE_RETEST_BASE_MS`, `TOLLGATE_RETEST_MAX_MS`,
    /// `TOLLGATE_RETRY_PERCENT`, `TOLLGATE_RETRY_FLOOR_PER_SEC` and `TOLLGATE_MAX_ATTEMPTS`.
    pub fn from_env() -> RoutingSettings {
        let mut s = RoutingSettings::default();
        let ms = Duration::from_millis;
        if let Some(v) = env_u64("TOLLGATE_BREAKER_WINDOW_MS") {
            s.health.window = ms(v);
        }
        if let Some(v) = env_u64("TOLLGATE_BREAKER_MIN_REQUESTS") {
            s.health.min_requests = v.max(1) as usize;
        }
        if let Some(v) = env_u64("TOLLGATE_BREAKER_ERROR_PERCENT") {
            s.health.error_rate = v.clamp(1, 100) as f64 / 100.0;
        }
        if let Some(v) = env_u64("TOLLGATE_BREAKER_COOLOFF_MS") {
            s.health.cooloff = ms(v);
        }
        if let Some(v) = env_u64("TOLLGATE_RATE_LIMIT_COOLDOWN_MS") {
            s.health.default_cooldown = ms(v);
        }
        if let Some(v) = env_u64("TOLLGATE_RETEST_BASE_MS") {
            s.retest_base = ms(v.max(1));
        }
        if let Some(v) = env_u64("TOLLGATE_RETEST_MAX_MS") {
            s.retest_max = ms(v.max(1));
        }
        if let Some(v) = env_u64("TOLLGATE_RETRY_PERCENT") {
            s.retry_percent = v.min(1000) as u32;
        }
        if let Some(v) = env_u64("TOLLGATE_RETRY_FLOOR_PER_SEC") {
            s.retry_floor_per_sec = v.min(1_000_000) as u32;
        }
        if let Some(v) = env_u64("TOLLGATE_MAX_ATTEMPTS") {
            s.max_attempts = v.clamp(1, 20) as u32;
        }
        s
    }

    /// The delay before re-test number `n` (0-based): base × 2ⁿ, capped.
    pub fn retest_delay(&self, n: u32) -> Duration {
        self.retest_base.saturating_mul(1u32 << n.min(20)).min(self.retest_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retest_backoff_doubles_up_to_the_cap() {
        let s = RoutingSettings {
            retest_base: Duration::from_secs(1),
            retest_max: Duration::from_secs(10),
            ..RoutingSettings::default()
        };
        let delays: Vec<u64> = (0..6).map(|n| s.retest_delay(n).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(s.retest_delay(u32::MAX), Duration::from_secs(10));
    }
}
