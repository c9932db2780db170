//! Metrics: counters and histograms the request path bumps, rendered for `GET /metrics` in the
//! Prometheus text format ([`exposition`], [`render`]).
//!
//! The request path takes no lock here. Series live in a [`Registry`] whose map is read through
//! an `ArcSwap` (a lock-free load and two hash lookups of borrowed strings); only the first
//! call of a new model/provider pair takes the insert mutex and publishes a new map. Recording
//! is relaxed atomic adds on the series. Health gauges are not recorded at all: they are read
//! from the routing state when scraped.

pub mod exposition;
pub mod render;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::billing::pricing::Usage;
use crate::snapshot::Snapshot;

/// A multiply-rotate string hash (the Fx hash). The labels are configured names and ids, not
/// attacker-chosen keys, so SipHash's flooding resistance buys nothing here, and it was most
/// of the metrics' cost per call (measured: `benches/metrics_cost.rs`).
#[derive(Default, Clone, Copy)]
pub struct FastHash(u64);

impl Hasher for FastHash {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Labels<V> = HashMap<String, V, BuildHasherDefault<FastHash>>;

/// Series by two label values (model and provider, or provider and credential).
pub struct Registry<T> {
    map: ArcSwap<Labels<Labels<Arc<T>>>>,
    insert: Mutex<()>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry { map: ArcSwap::from_pointee(Labels::default()), insert: Mutex::new(()) }
    }
}

impl<T: Default> Registry<T> {
    /// The series of `(a, b)`, created on first use.
    pub fn get(&self, a: &str, b: &str) -> Arc<T> {
        if let Some(s) = self.map.load().get(a).and_then(|m| m.get(b)) {
            return s.clone();
        }
        let _guard = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.map.load_full();
        if let Some(s) = current.get(a).and_then(|m| m.get(b)) {
            return s.clone();
        }
        let series = Arc::new(T::default());
        let mut next = (*current).clone();
        next.entry(a.to_string()).or_default().insert(b.to_string(), series.clone());
        self.map.store(Arc::new(next));
        series
    }

    /// Drops the series whose labels `keep` refuses (what they name was deleted), so they
    /// leave the exposition; a call still holding one records into it unseen.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        let _guard = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.map.load_full();
        if !current.iter().any(|(a, inner)| inner.keys().any(|b| !keep(a, b))) {
            return;
        }
        let mut next = (*current).clone();
        for (a, inner) in next.iter_mut() {
            inner.retain(|b, _| keep(a, b));
        }
        next.retain(|_, inner| !inner.is_empty());
        self.map.store(Arc::new(next));
    }

    /// Every series with its labels, sorted so the exposition is stable.
    pub fn each(&self, mut f: impl FnMut(&str, &str, &T)) {
        let map = self.map.load_full();
        let mut outer: Vec<_> = map.iter().collect();
        outer.sort_by(|x, y| x.0.cmp(y.0));
        for (a, inner) in outer {
            let mut inner: Vec<_> = inner.iter().collect();
            inner.sort_by(|x, y| x.0.cmp(y.0));
            for (b, s) in inner {
                f(a, b, s);
            }
        }
    }
}

/// A histogram over fixed bounds in microseconds: one atomic per bucket plus sum.
pub struct Histogram {
    bounds_us: &'static [u64],
    /// One per bound, then the overflow bucket.
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
}

/// Upstream and call durations: 5 ms to 5 min.
pub const DURATION_BOUNDS_US: &[u64] = &[
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
];

/// Gateway overhead: 50 µs to 100 ms.
pub const OVERHEAD_BOUNDS_US: &[u64] = &[50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000];

impl Histogram {
    pub fn new(bounds_us: &'static [u64]) -> Histogram {
        Histogram {
            bounds_us,
            counts: (0..=bounds_us.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        let i = self.bounds_us.iter().position(|b| us <= *b).unwrap_or(self.bounds_us.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// Bounds in seconds, counts per bucket (not cumulative), sum in seconds.
    pub fn read(&self) -> (Vec<f64>, Vec<u64>, f64) {
        let bounds = self.bounds_us.iter().map(|b| *b as f64 / 1e6).collect();
        let counts = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        (bounds, counts, self.sum_us.load(Relaxed) as f64 / 1e6)
    }
}

/// The statuses counted under their own label; anything else is `other`.
pub const STATUSES: [u16; 16] = [200, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 499, 500, 502, 503, 504];

/// Calls of one model through one provider.
pub struct CallSeries {
    /// By [`STATUSES`] index, then `other`.
    pub by_status: [AtomicU64; STATUSES.len() + 1],
    pub duration: Histogram,
    pub input_tokens: AtomicU64,
    pub output_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub cache_write_tokens: AtomicU64,
    pub reasoning_tokens: AtomicU64,
    pub cost_nano: AtomicU64,
}

impl Default for CallSeries {
    fn default() -> Self {
        CallSeries {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            duration: Histogram::new(DURATION_BOUNDS_US),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            cached_tokens: AtomicU64::new(0),
            cache_write_tokens: AtomicU64::new(0),
            reasoning_tokens: AtomicU64::new(0),
            cost_nano: AtomicU64::new(0),
        }
    }
}

fn add(counter: &AtomicU64, v: i64) {
    if v > 0 {
        counter.fetch_add(v as u64, Relaxed);
    }
}

impl CallSeries {
    /// One settled call: its answer's status, how long it took, what it used and cost.
    pub fn record(&self, status: u16, duration: Duration, usage: Option<&Usage>, cost: i64) {
        let i = STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len());
        self.by_status[i].fetch_add(1, Relaxed);
        self.duration.observe(duration);
        if let Some(u) = usage {
            add(&self.input_tokens, u.input_tokens);
            add(&self.output_tokens, u.output_tokens);
            add(&self.cached_tokens, u.cached_tokens);
            add(&self.cache_write_tokens, u.cache_write_tokens);
            add(&self.reasoning_tokens, u.reasoning_tokens);
        }
        add(&self.cost_nano, cost);
    }
}

/// How one upstream attempt ended, as counted per provider and credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered with success headers (streams: and finished, or the client left).
    Ok,
    /// 400/413/422: the request's fault, returned to the client.
    BadRequest,
    /// 401/403: the credential was refused.
    Refused,
    /// 429.
    RateLimited,
    /// Another error status (5xx mostly).
    Error,
    /// No headers within the first-byte timeout, or a body that stalled before the client got a byte.
    Timeout,
    /// The connection could not be made.
    ConnectError,
    /// The connection broke before the answer was complete (nothing reached the client yet).
    IoError,
    /// A stream that broke after bytes reached the client (cut, idle timeout, error event).
    Broke,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 9] = [
        AttemptOutcome::Ok,
        AttemptOutcome::BadRequest,
        AttemptOutcome::Refused,
        AttemptOutcome::RateLimited,
        AttemptOutcome::Error,
        AttemptOutcome::Timeout,
        AttemptOutcome::ConnectError,
        AttemptOutcome::IoError,
        AttemptOutcome::Broke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::BadRequest => "bad_request",
            AttemptOutcome::Refused => "refused",
            AttemptOutcome::RateLimited => "rate_limited",
            AttemptOutcome::Error => "error",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::ConnectError => "connect_error",
            AttemptOutcome::IoError => "io_error",
            AttemptOutcome::Broke => "broke",
        }
    }
}

/// Attempts on one credential of one provider, by outcome.
#[derive(Default)]
pub struct AttemptSeries {
    pub by_outcome: [AtomicU64; AttemptOutcome::ALL.len()],
}

impl AttemptSeries {
    pub fn record(&self, outcome: AttemptOutcome) {
        self.by_outcome[outcome as usize].fetch_add(1, Relaxed);
    }
}

/// Everything the request path records.
pub struct Metrics {
    /// By public model name and provider name.
    pub calls: Registry<CallSeries>,
    /// By provider name and credential id.
    pub attempts: Registry<AttemptSeries>,
    /// Gateway time per call (everything but waiting on the upstream).
    pub overhead: Histogram,
    /// Calls refused unrecorded because the usage writer's backlog was full.
    pub shed: AtomicU64,
}

impl Metrics {
    /// Forgets the series of models, providers and credentials `snap` no longer has (called
    /// when the snapshot is rebuilt). A call series is kept while its model is served: a
    /// configured model, or `provider/model` addressing of a provider that still exists.
    pub fn forget_deleted(&self, snap: &Snapshot) {
        self.calls.retain(|model, provider| {
            snap.providers_by_name.contains_key(provider)
                && (snap.model_for(model).is_some()
                    || model.split_once('/').is_some_and(|(p, _)| snap.providers_by_name.contains_key(p)))
        });
        self.attempts.retain(|provider, credential| {
            snap.providers_by_name.get(provider).is_some_and(|p| p.credentials.iter().any(|c| c.id == credential))
        });
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            calls: Registry::default(),
            attempts: Registry::default(),
            overhead: Histogram::new(OVERHEAD_BOUNDS_US),
            shed: AtomicU64::new(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_returns_one_series_per_pair() {
        let r: Registry<AttemptSeries> = Registry::default();
        let a = r.get("m", "p");
        a.record(AttemptOutcome::Timeout);
        r.get("m", "p").record(AttemptOutcome::Timeout);
        r.get("m", "q").record(AttemptOutcome::Ok);
        assert!(Arc::ptr_eq(&a, &r.get("m", "p")));
        let mut seen = Vec::new();
        r.each(|x, y, s| {
            seen.push((x.to_string(), y.to_string(), s.by_outcome.iter().map(|c| c.load(Relaxed)).sum::<u64>()))
        });
        assert_eq!(seen, vec![("m".into(), "p".into(), 2), ("m".into(), "q".into(), 1)]);
        assert_eq!(a.by_outcome[AttemptOutcome::Timeout as usize].load(Relaxed), 2);
    }

    #[test]
    fn retain_drops_refused_series_and_empty_groups() {
        let r: Registry<AttemptSeries> = Registry::default();
        for (a, b) in [("p", "c1"), ("p", "c2"), ("q", "c3")] {
            r.get(a, b).record(AttemptOutcome::Ok);
        }
        r.retain(|a, b| a == "p" && b != "c2");
        let mut seen = Vec::new();
        r.each(|a, b, _| seen.push(format!("{a}/{b}")));
        assert_eq!(seen, ["p/c1"]);
        assert_eq!(r.get("q", "c3").by_outcome[AttemptOutcome::Ok as usize].load(Relaxed), 0, "created anew");
    }

    #[test]
    fn histogram_puts_each_value_in_the_first_bucket_that_holds_it() {
        let h = Histogram::new(&[10, 100]);
        for us in [0, 10, 11, 100, 101, 5000] {
            h.observe(Duration::from_micros(us));
        }
        let (bounds, counts, sum) = h.read();
        assert_eq!(bounds, vec![0.00001, 0.0001]);
        assert_eq!(counts, vec![2, 2, 2]);
        assert!((sum - 0.005222).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn calls_count_by_status_with_tokens_and_cost() {
        let s = CallSeries::default();
        let u = Usage { input_tokens: 10, output_tokens: 5, reasoning_tokens: 2, ..Usage::default() };
        s.record(200, Duration::from_millis(30), Some(&u), 1234);
        s.record(418, Duration::from_millis(1), None, 0);
        assert_eq!(s.by_status[0].load(Relaxed), 1);
        assert_eq!(s.by_status[STATUSES.len()].load(Relaxed), 1, "unlisted statuses count as other");
        assert_eq!((s.input_tokens.load(Relaxed), s.output_tokens.load(Relaxed)), (10, 5));
        assert_eq!((s.reasoning_tokens.load(Relaxed), s.cost_nano.load(Relaxed)), (2, 1234));
    }
}
