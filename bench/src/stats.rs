//! What one load run measured: latency, time to first byte and chunk-gap histograms (HDR,
//! microseconds), request and error counts, and the merge of runs.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Largest value a histogram holds: 120 s in microseconds (larger values are clamped).
const MAX_US: u64 = 120_000_000;
/// Error messages kept per run, so a failing target can be diagnosed.
const KEPT_ERRORS: usize = 5;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// The measurements of one or more runs of one target in one configuration.
#[derive(Clone, Debug)]
pub struct RunStats {
    /// Whole exchange: send (or scheduled send, open loop) to the last body byte.
    pub latency: Histogram<u64>,
    /// Send (or scheduled send) to the first body frame; streams only.
    pub first_byte: Histogram<u64>,
    /// Time between consecutive body frames of one response; streams only.
    pub gap: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    /// Exchanges attempted, warm-up included (the denominator of CPU per request).
    pub sent: u64,
    pub error_samples: Vec<String>,
    /// Wall time of the measured windows.
    pub elapsed: Duration,
}

impl Default for RunStats {
    fn default() -> Self {
        RunStats {
            latency: histogram(),
            first_byte: histogram(),
            gap: histogram(),
            ok: 0,
            errors: 0,
            sent: 0,
            error_samples: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

impl RunStats {
    pub fn record_ok(&mut self, latency: Duration) {
        self.ok += 1;
        let _ = self.latency.record(us(latency));
    }

    pub fn record_first_byte(&mut self, d: Duration) {
        let _ = self.first_byte.record(us(d));
    }

    pub fn record_gap(&mut self, d: Duration) {
        let _ = self.gap.record(us(d));
    }

    pub fn record_error(&mut self, message: impl Into<String>) {
        self.errors += 1;
        if self.error_samples.len() < KEPT_ERRORS {
            self.error_samples.push(message.into());
        }
    }

    /// Adds another run's measurements (wall times add up: runs are sequential).
    pub fn merge(&mut self, other: &RunStats) {
        let _ = self.latency.add(&other.latency);
        let _ = self.first_byte.add(&other.first_byte);
        let _ = self.gap.add(&other.gap);
        self.ok += other.ok;
        self.errors += other.errors;
        self.sent += other.sent;
        for e in &other.error_samples {
            if self.error_samples.len() < KEPT_ERRORS {
                self.error_samples.push(e.clone());
            }
        }
        self.elapsed += other.elapsed;
    }

    /// Merges the parallel parts of one run (the wall time is the longest part's).
    pub fn merge_parallel(&mut self, other: &RunStats) {
        let elapsed = self.elapsed.max(other.elapsed);
        self.merge(other);
        self.elapsed = elapsed;
    }

    /// Successful requests per second over the measured windows.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    /// Quantile `q` (0..1) of the latency, in ms.
    pub fn latency_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.latency, q)
    }

    pub fn first_byte_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.first_byte, q)
    }

    pub fn gap_ms(&self, q: f64) -> f64 {
        quantile_ms(&self.gap, q)
    }

    pub fn gap_mean_ms(&self) -> f64 {
        if self.gap.is_empty() { f64::NAN } else { self.gap.mean() / 1000.0 }
    }
}

fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { f64::NAN } else { h.value_at_quantile(q) as f64 / 1000.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = RunStats::default();
        for ms in 1..=100 {
            a.record_ok(Duration::from_millis(ms));
        }
        a.elapsed = Duration::from_secs(1);
        let mut b = RunStats::default();
        b.record_error("boom");
        b.elapsed = Duration::from_secs(1);
        a.merge(&b);
        assert_eq!((a.ok, a.errors), (100, 1));
        assert!((a.latency_ms(0.5) - 50.0).abs() < 0.1);
        assert!((a.latency_ms(0.99) - 99.0).abs() < 0.1);
        assert!((a.rate() - 50.0).abs() < 1e-9);
        assert!(a.gap_ms(0.5).is_nan());
    }
}
