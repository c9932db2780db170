//! Many concurrent streams held open at once: all connections are opened first, then every
//! stream starts together, while the target's memory is sampled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::conn::{Conn, Template};
use crate::load::{Mode, Plan, exchange_into};
use crate::stats::RunStats;

/// What holding the streams showed.
#[derive(Debug, Default)]
pub struct HoldResult {
    pub stats: RunStats,
    /// Largest sampled memory (kB) of the target while the streams were open.
    pub peak_kb: u64,
    /// Connections that could not even be opened.
    pub connect_errors: u64,
}

/// Opens `n` connections, starts one stream on each at once and waits for all to finish,
/// calling `sample` (returning kB) every 50 ms.
pub async fn hold(t: Arc<Template>, n: usize, timeout: Duration, sample: impl Fn() -> u64) -> HoldResult {
    let mut conns = Vec::with_capacity(n);
    let mut connect_errors = 0;
    for _ in 0..n {
        match Conn::connect(t.addr).await {
            Ok(c) => conns.push(Some(c)),
            Err(_) => connect_errors += 1,
        }
    }
    let plan = Plan {
        mode: Mode::Closed { conns: n },
        warmup: Duration::ZERO,
        measure: Duration::ZERO,
        stream: true,
        timeout,
    };
    let start = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let t = t.clone();
            tokio::spawn(async move {
                let mut st = RunStats::default();
                exchange_into(&mut conn, &t, start, Some(&mut st), plan).await;
                st.elapsed = start.elapsed();
                st
            })
        })
        .collect();
    let mut peak_kb = sample();
    let mut stats = RunStats::default();
    let mut pending = tasks.into_iter();
    let mut current = pending.next();
    while let Some(task) = current.as_mut() {
        if task.is_finished() {
            match task.await {
                Ok(st) => stats.merge_parallel(&st),
                Err(e) => stats.record_error(format!("stream task failed: {e}")),
            }
            current = pending.next();
            continue;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak_kb = peak_kb.max(sample());
    }
    stats.errors += connect_errors;
    HoldResult { stats, peak_kb, connect_errors }
}
