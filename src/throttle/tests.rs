use std::time::{Duration, Instant};

use super::*;

fn policy(burst: u32, recover_ms: u64, capacity: usize) -> Policy {
    Policy { burst, recover: Duration::from_millis(recover_ms), capacity }
}

#[test]
fn a_key_may_fail_burst_times_then_waits_one_recovery_per_try() {
    let t = FailureThrottle::new(policy(3, 1000, 100));
    let now = Instant::now();
    assert!(t.check(&"a", now).is_ok());
    assert!(t.fail("a", now).is_ok());
    assert!(t.fail("a", now).is_ok());
    // The third failure uses the last one allowed: reported once, as the episode's start.
    let t3 = t.fail("a", now).unwrap_err();
    assert_eq!(t3.retry_after, Duration::from_millis(1000));
    assert_eq!(t.check(&"a", now).unwrap_err().retry_after_secs(), 1);
    assert!(t.check(&"b", now).is_ok(), "other keys are not affected");
    // A failure racing past `check` while refused neither extends nor re-reports the episode.
    assert!(t.fail("a", now).is_ok());
    assert_eq!(t.check(&"a", now).unwrap_err().retry_after, Duration::from_millis(1000));
    let later = now + Duration::from_millis(400);
    assert_eq!(t.check(&"a", later).unwrap_err().retry_after, Duration::from_millis(600));
    // One recovery later, one more try; failing it throttles again at once.
    let after = now + Duration::from_millis(1000);
    assert!(t.check(&"a", after).is_ok());
    assert!(t.fail("a", after).is_err());
    // Once every failure has leaked away, the whole burst is back.
    let much_later = after + Duration::from_secs(3);
    for _ in 0..2 {
        assert!(t.fail("a", much_later).is_ok());
    }
    assert!(t.fail("a", much_later).is_err());
}

#[test]
fn forgiving_clears_a_key_and_burst_zero_never_refuses() {
    let t = FailureThrottle::new(policy(1, 60_000, 100));
    let now = Instant::now();
    assert!(t.fail("acct", now).is_err());
    assert!(t.check(&"acct", now).is_err());
    t.forgive(&"acct");
    assert!(t.check(&"acct", now).is_ok());
    let off = FailureThrottle::new(policy(0, 60_000, 100));
    for _ in 0..1000 {
        assert!(off.fail("x", now).is_ok());
    }
    assert!(off.check(&"x", now).is_ok());
    assert_eq!(off.tracked(), 0, "nothing is remembered when throttling is off");
}

#[test]
fn memory_stays_bounded_under_a_flood_of_keys() {
    let capacity = 1024;
    let t = FailureThrottle::new(policy(5, 60_000, capacity));
    let now = Instant::now();
    // The attacker's own address keeps failing among the flood.
    for _ in 0..5 {
        let _ = t.fail(u64::MAX, now);
    }
    for i in 0..200_000u64 {
        let _ = t.fail(i, now + Duration::from_micros(i));
        assert!(t.tracked() <= capacity + SHARDS, "{} keys tracked after {i}", t.tracked());
    }
    assert!(t.tracked() > capacity / 4, "the table is used, not emptied: {}", t.tracked());
}

#[test]
fn keys_closest_to_recovery_are_dropped_first() {
    let t = FailureThrottle::new(policy(3, 10, SHARDS * 8));
    let start = Instant::now();
    let now = start + Duration::from_secs(100);
    // Many one-off failures long ago, all recovered by now.
    for i in 0..1000u64 {
        let _ = t.fail(i, start);
    }
    let hammering = u64::MAX;
    for _ in 0..3 {
        let _ = t.fail(hammering, now);
    }
    // New keys make room by dropping the recovered ones, then the ones closest to recovery:
    // the throttled key, whose failures are the freshest, stays.
    for i in 0..(SHARDS as u64 * 16) {
        let _ = t.fail(10_000 + i, now);
        assert!(t.check(&hammering, now).is_err(), "the throttled key survived {i} insertions");
    }
    assert!(t.tracked() <= SHARDS * 8);
}
