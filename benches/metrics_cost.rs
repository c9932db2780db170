//! What metrics cost a call: the exact sequence of metric operations one successful call makes
//! on the request path (series lookups when the call opens and its attempt is sent, the
//! attempt's outcome, the settle-time counters and both histograms), timed over many calls.
//!
//! `cargo bench --bench metrics_cost` prints nanoseconds per call on one thread and on two
//! threads sharing one series (the contended case). For instruction counts, run the built
//! binary under `valgrind --tool=callgrind` with two call counts and divide the difference
//! (`target/release/deps/metrics_cost-* CALLS`; the argument skips the timing runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tollgate::billing::pricing::Usage;
use tollgate::metrics::{AttemptOutcome, Metrics};

/// One call's metric work, as `CallGuard::start`, `attempts::send`, `Verdict` and
/// `CallGuard::settle` do it.
fn one_call(m: &Metrics, model: &str, provider: &str, credential: &str, usage: &Usage) {
    let series = m.calls.get(model, provider);
    let attempts = m.attempts.get(provider, credential);
    attempts.record(AttemptOutcome::Ok);
    series.record(200, Duration::from_millis(420), Some(usage), 12_345);
    m.overhead.observe(Duration::from_micros(180));
}

/// A registry the size of a busy deployment: 50 models over 3 providers, 4 keys each.
fn populated() -> Metrics {
    let m = Metrics::default();
    for i in 0..50 {
        for p in 0..3 {
            m.calls.get(&format!("model-{i}"), &format!("provider-{p}"));
        }
    }
    for p in 0..3 {
        for c in 0..4 {
            m.attempts.get(&format!("provider-{p}"), &format!("0190cafe-0000-7000-8000-00000000000{c}"));
        }
    }
    m
}

fn run(m: &Metrics, calls: u64) {
    let usage = Usage { input_tokens: 1000, output_tokens: 200, ..Usage::default() };
    for i in 0..calls {
        let model = if i % 2 == 0 { "model-17" } else { "model-42" };
        one_call(black_box(m), black_box(model), "provider-1", "0190cafe-0000-7000-8000-000000000002", &usage);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is a callgrind run of that many calls.
    let calls: Option<u64> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let m = populated();
    if let Some(n) = calls {
        run(&m, n);
        return;
    }
    let n = 2_000_000;
    run(&m, 100_000);
    let t = Instant::now();
    run(&m, n);
    let one = t.elapsed().as_nanos() as f64 / n as f64;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| run(&m, n / 2));
        }
    });
    let two = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "metrics cost per call: {one:.1} ns on one thread; {two:.1} ns of wall time per call on two threads sharing one series"
    );
}
