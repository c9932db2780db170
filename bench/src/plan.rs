//! The run plan (mock modes, configurations, durations; full or smoke) and its execution:
//! every target run is preceded by a direct run (direct → target → direct → …) so drift
//! cancels, then the open-loop rate sweeps (in lockstep), then the held streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hold;
use crate::load::{self, Mode, Plan};
use crate::results::{Results, Sweep, SweepStep};
use crate::stats::RunStats;
use crate::targets::{Features, MockMode, Route, Target};

/// Durations and sizes of one bench run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub smoke: bool,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub sweep_steps: usize,
    pub hold_streams: usize,
    /// p99 a sweep step must stay under.
    pub sweep_p99: Duration,
    pub open_conns: usize,
}

impl Settings {
    pub fn full() -> Settings {
        Settings {
            smoke: false,
            rounds: 3,
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(2),
            sweep_steps: 8,
            hold_streams: 1000,
            sweep_p99: Duration::from_millis(10),
            open_conns: 64,
        }
    }

    pub fn smoke() -> Settings {
        Settings {
            smoke: true,
            rounds: 1,
            warmup: Duration::from_millis(100),
            measure: Duration::from_millis(300),
            sweep_steps: 2,
            hold_streams: 100,
            ..Settings::full()
        }
    }

    /// The mock modes: 0 ms small, 0 ms large, 20 ± 5 ms, a stream, and the held stream.
    pub fn modes(&self) -> Vec<MockMode> {
        let (stream, hold) = if self.smoke {
            ("chunks=8,chunk_delay_ms=20", "chunks=4,chunk_delay_ms=250")
        } else {
            ("chunks=64,chunk_delay_ms=20", "chunks=20,chunk_delay_ms=250")
        };
        vec![
            MockMode::new("fast", "", false),
            MockMode::new("large", "size=large", false),
            MockMode::new("slow", "latency_ms=20,jitter_ms=5", false),
            MockMode::new("stream", stream, true),
            MockMode::new("hold", hold, true),
        ]
    }

    /// The closed-loop configurations, in the order they run.
    pub fn configs(&self) -> Vec<Config> {
        let c = |name, mode, conns, features| Config { name, mode, conns, features };
        vec![
            c("fast c1", "fast", 1, Features::All),
            c("fast c16", "fast", 16, Features::All),
            c("fast c64", "fast", 64, Features::All),
            c("large c1", "large", 1, Features::All),
            c("large c64", "large", 64, Features::All),
            c("slow c16", "slow", 16, Features::All),
            c("stream c32", "stream", 32, Features::All),
            c("free c1", "fast", 1, Features::AuthRecord),
            c("free c64", "fast", 64, Features::AuthRecord),
            c("nolimits c1", "fast", 1, Features::Billing),
            c("nolimits c64", "fast", 64, Features::Billing),
        ]
    }
}

/// One closed-loop configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub name: &'static str,
    pub mode: &'static str,
    pub conns: usize,
    /// What Tollgate does; configurations with fewer than all features run on Tollgate only.
    pub features: Features,
}

fn mode<'a>(modes: &'a [MockMode], key: &str) -> &'a MockMode {
    modes.iter().find(|m| m.key == key).expect("configured mode")
}

fn timeout_for(mode: &MockMode) -> Duration {
    if mode.stream { Duration::from_secs(60) } else { Duration::from_secs(10) }
}

async fn measure(target: &Target, mode: &MockMode, features: Features, plan: Plan) -> (RunStats, Duration) {
    let t = Arc::new(target.template(mode, features));
    let cpu0 = target.proc.cpu();
    let st = load::run(t, plan).await;
    (st, target.proc.cpu().saturating_sub(cpu0))
}

fn line(target: &str, config: &str, st: &RunStats) -> String {
    format!(
        "  {config:<11} {target:<16} {:>9.0} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {}",
        st.rate(),
        st.latency_ms(0.5),
        st.latency_ms(0.99),
        st.errors
    )
}

/// Runs every configuration with direct interleaved, then sweeps, then held streams.
pub async fn execute(s: &Settings, direct: &Target, targets: &[Target], results: &mut Results) {
    let started = Instant::now();
    results.load_before = crate::machine::loadavg();
    let modes = s.modes();
    results.targets = std::iter::once(direct).chain(targets).map(|t| t.name.clone()).collect();
    for t in std::iter::once(direct).chain(targets) {
        results.summary_mut(&t.name).idle_kb = t.proc.rss_kb();
        if let Route::Tollgate { limited: None, .. } = t.route {
            let why = "key limits: this build has none, so \"all features\" ran without rate limits and budget";
            results.skipped.push((t.name.clone(), why.into()));
        }
    }
    for cfg in s.configs() {
        let m = mode(&modes, cfg.mode);
        let plan = Plan {
            mode: Mode::Closed { conns: cfg.conns },
            warmup: s.warmup,
            measure: if m.stream { s.measure + s.measure / 2 } else { s.measure },
            stream: m.stream,
            timeout: timeout_for(m),
        };
        for round in 0..s.rounds {
            eprintln!("[{}] round {}/{}", cfg.name, round + 1, s.rounds);
            let all = cfg.features == Features::All;
            for t in targets.iter().filter(|t| (all || t.is_tollgate()) && t.works_in(cfg.mode)) {
                let (d, d_cpu) = measure(direct, m, Features::All, plan).await;
                let (x, x_cpu) = measure(t, m, cfg.features, plan).await;
                eprintln!("{}", line(&t.name, cfg.name, &x));
                let own = results.cell_mut(cfg.name, &direct.name);
                own.target.merge(&d);
                own.direct.merge(&d);
                own.cpu += d_cpu;
                let cell = results.cell_mut(cfg.name, &t.name);
                cell.target.merge(&x);
                cell.direct.merge(&d);
                cell.cpu += x_cpu;
            }
        }
    }
    let all: Vec<&Target> = std::iter::once(direct).chain(targets).collect();
    let mut swept = sweeps(s, &all, &modes, results).await.into_iter();
    results.direct_sweeps.extend(swept.next());
    for (t, sw) in targets.iter().zip(swept) {
        results.summary_mut(&t.name).sweep = Some(sw);
    }
    for t in std::iter::once(direct).chain(targets) {
        results.summary_mut(&t.name).load_peak_kb = t.proc.peak_kb();
    }
    for t in std::iter::once(direct).chain(targets).filter(|t| t.works_in("hold")) {
        let h = held(s, t, &modes).await;
        results.summary_mut(&t.name).hold = Some(h);
    }
    results.wall = started.elapsed();
    results.load_after = crate::machine::loadavg();
}

/// One target's binary search of the open-loop rate with p99 under the limit and no errors,
/// between 5 % and 200 % of its closed-loop rate at 64 connections, starting at 80 %.
struct Search {
    lo: f64,
    hi: f64,
    rate: f64,
    out: Sweep,
}

impl Search {
    fn new(closed: f64) -> Search {
        Search { lo: 0.05 * closed, hi: 2.0 * closed, rate: 0.8 * closed, out: Sweep::default() }
    }

    fn record(&mut self, step: SweepStep) {
        if step.passed {
            self.out.peak = Some(self.out.peak.map_or(step.rate, |p| p.max(step.rate)));
            self.lo = step.rate;
        } else {
            self.hi = step.rate;
        }
        self.out.steps.push(step);
        self.rate = (self.lo + self.hi) / 2.0;
    }
}

/// The rate sweeps of all targets in lockstep (step k of every target, direct first, before
/// step k + 1), so a change in the machine's load spreads over all of them alike.
async fn sweeps(s: &Settings, all: &[&Target], modes: &[MockMode], results: &Results) -> Vec<Sweep> {
    let m = mode(modes, "fast");
    let mut searches: Vec<Search> = all
        .iter()
        .map(|t| Search::new(results.cell("fast c64", &t.name).map_or(1000.0, |c| c.target.rate()).max(100.0)))
        .collect();
    for _ in 0..s.sweep_steps {
        for (t, search) in all.iter().zip(searches.iter_mut()) {
            let rate = search.rate;
            let plan = Plan {
                mode: Mode::Open { conns: s.open_conns, rate },
                warmup: s.warmup,
                measure: s.measure,
                stream: false,
                timeout: timeout_for(m),
            };
            let (st, _) = measure(t, m, Features::All, plan).await;
            let p99 = st.latency_ms(0.99);
            let passed = st.errors == 0 && p99 < s.sweep_p99.as_secs_f64() * 1000.0;
            eprintln!(
                "  sweep {:<16} {rate:>9.0} req/s offered: {:>9.0} done, p99 {p99:>8.3} ms, errors {} -> {}",
                t.name,
                st.rate(),
                st.errors,
                if passed { "ok" } else { "too much" }
            );
            let first_error = st.error_samples.first().cloned();
            search.record(SweepStep { rate, achieved: st.rate(), p99_ms: p99, errors: st.errors, first_error, passed });
        }
    }
    searches.into_iter().map(|s| s.out).collect()
}

async fn held(s: &Settings, t: &Target, modes: &[MockMode]) -> hold::HoldResult {
    let m = mode(modes, "hold");
    t.proc.reset_peak();
    let template = Arc::new(t.template(m, Features::All));
    let proc = t.proc;
    let mut r = hold::hold(template, s.hold_streams, Duration::from_secs(120), move || proc.rss_kb()).await;
    r.peak_kb = r.peak_kb.max(t.proc.peak_kb());
    eprintln!(
        "  hold  {:<16} {} streams: {} ok, {} errors, peak RSS {:.1} MB",
        t.name,
        s.hold_streams,
        r.stats.ok,
        r.stats.errors,
        r.peak_kb as f64 / 1024.0
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_converges_on_the_limit() {
        let mut s = Search::new(1000.0);
        for _ in 0..10 {
            let rate = s.rate;
            let passed = rate <= 700.0;
            s.record(SweepStep { rate, achieved: rate, p99_ms: 1.0, errors: 0, first_error: None, passed });
        }
        let peak = s.out.peak.expect("a rate passed");
        assert!((690.0..=700.0).contains(&peak), "{peak}");
    }
}
