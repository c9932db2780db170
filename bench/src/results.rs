//! Everything one bench run measured, keyed by configuration and target, with the derived
//! figures the report prints (added latency over the interleaved direct runs, CPU per 1,000
//! requests).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hold::HoldResult;
use crate::stats::RunStats;

/// One target in one configuration, with the direct runs that were interleaved with it.
#[derive(Default, Debug)]
pub struct Cell {
    pub target: RunStats,
    pub direct: RunStats,
    /// CPU time of the target's process tree over its runs (warm-up included).
    pub cpu: Duration,
}

impl Cell {
    /// Latency the target adds over direct at quantile `q`, in ms.
    pub fn added_ms(&self, q: f64) -> f64 {
        self.target.latency_ms(q) - self.direct.latency_ms(q)
    }

    pub fn added_first_byte_ms(&self, q: f64) -> f64 {
        self.target.first_byte_ms(q) - self.direct.first_byte_ms(q)
    }

    pub fn added_gap_mean_ms(&self) -> f64 {
        self.target.gap_mean_ms() - self.direct.gap_mean_ms()
    }

    /// CPU milliseconds per 1,000 requests sent.
    pub fn cpu_ms_per_1k(&self) -> f64 {
        if self.target.sent == 0 {
            return f64::NAN;
        }
        self.cpu.as_secs_f64() * 1000.0 * 1000.0 / self.target.sent as f64
    }
}

/// One step of an open-loop rate sweep.
#[derive(Debug, Clone)]
pub struct SweepStep {
    pub rate: f64,
    pub achieved: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub passed: bool,
}

/// The highest rate that passed (none when no step did) and the steps tried.
#[derive(Debug, Default, Clone)]
pub struct Sweep {
    pub peak: Option<f64>,
    pub steps: Vec<SweepStep>,
}

/// Per-target figures that are not per configuration.
#[derive(Debug, Default)]
pub struct TargetSummary {
    pub idle_kb: u64,
    /// Peak RSS over the load runs (before the held streams).
    pub load_peak_kb: u64,
    pub sweep: Option<Sweep>,
    pub hold: Option<HoldResult>,
}

#[derive(Default, Debug)]
pub struct Results {
    /// Targets in the order they were measured; `direct` first.
    pub targets: Vec<String>,
    pub cells: BTreeMap<(String, String), Cell>,
    pub summaries: BTreeMap<String, TargetSummary>,
    /// Direct's sweep (one; a list so that a run without it stays representable).
    pub direct_sweeps: Vec<Sweep>,
    /// Targets that could not be measured, and why.
    pub skipped: Vec<(String, String)>,
    pub wall: Duration,
    /// Load averages when the measurements started and ended (other work on the machine).
    pub load_before: String,
    pub load_after: String,
}

impl Results {
    pub fn cell(&self, config: &str, target: &str) -> Option<&Cell> {
        self.cells.get(&(config.to_string(), target.to_string()))
    }

    pub fn cell_mut(&mut self, config: &str, target: &str) -> &mut Cell {
        self.cells.entry((config.to_string(), target.to_string())).or_default()
    }

    pub fn summary_mut(&mut self, target: &str) -> &mut TargetSummary {
        self.summaries.entry(target.to_string()).or_default()
    }
}
