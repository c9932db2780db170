//! The load generator: a closed loop (N keep-alive connections, each sending its next request
//! when the last one is answered) and an open loop at a fixed rate whose latencies are measured
//! from each request's *scheduled* send time, so a stalled target cannot hide its queue
//! (coordinated-omission correction).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::conn::{Conn, Template};
use crate::stats::RunStats;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Closed {
        conns: usize,
    },
    /// `rate` requests per second spread over `conns` connections.
    Open {
        conns: usize,
        rate: f64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub mode: Mode,
    /// Sent but not recorded (connections and caches warm up).
    pub warmup: Duration,
    pub measure: Duration,
    /// Responses are SSE streams: a response without `data: [DONE]` is an error.
    pub stream: bool,
    /// One exchange longer than this is an error.
    pub timeout: Duration,
}

/// How long an open loop may run past its end to send its backlog before giving up on it.
const BACKLOG_GRACE: Duration = Duration::from_secs(2);

pub async fn run(t: Arc<Template>, plan: Plan) -> RunStats {
    match plan.mode {
        Mode::Closed { conns } => closed(t, plan, conns).await,
        Mode::Open { conns, rate } => open(t, plan, conns, rate).await,
    }
}

async fn closed(t: Arc<Template>, plan: Plan, conns: usize) -> RunStats {
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.measure;
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move {
                let mut st = RunStats::default();
                let mut conn = None;
                let mut last_done = measure_from;
                while Instant::now() < end {
                    let sent = Instant::now();
                    st.sent += 1;
                    let rec = if sent >= measure_from { Some(&mut st) } else { None };
                    if let Some(done) = exchange_into(&mut conn, &t, sent, rec, plan).await {
                        last_done = last_done.max(done);
                    }
                }
                st.elapsed = last_done.saturating_duration_since(measure_from);
                st
            })
        })
        .collect();
    gather(workers).await
}

async fn open(t: Arc<Template>, plan: Plan, conns: usize, rate: f64) -> RunStats {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let next = Arc::new(AtomicU64::new(0));
    // Connect first, so set-up does not count as the target's delay.
    let mut ready = Vec::with_capacity(conns);
    for _ in 0..conns {
        ready.push(Conn::connect(t.addr).await.ok());
    }
    let t0 = Instant::now() + Duration::from_millis(5);
    let measure_from = t0 + plan.warmup;
    let stop = measure_from + plan.measure;
    let give_up = stop + BACKLOG_GRACE;
    let first_measured = (plan.warmup.as_secs_f64() * rate).ceil() as u64;
    let expected = ((plan.warmup + plan.measure).as_secs_f64() * rate).ceil() as u64 - first_measured;
    let workers: Vec<_> = ready
        .into_iter()
        .map(|conn| {
            let (t, next) = (t.clone(), next.clone());
            tokio::spawn(async move {
                let mut st = RunStats::default();
                let mut conn = conn;
                let mut last_done = measure_from;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let scheduled = t0 + interval.mul_f64(i as f64);
                    if scheduled >= stop || Instant::now() > give_up {
                        break;
                    }
                    tokio::time::sleep_until(scheduled.into()).await;
                    st.sent += 1;
                    let rec = if scheduled >= measure_from { Some(&mut st) } else { None };
                    if let Some(done) = exchange_into(&mut conn, &t, scheduled, rec, plan).await {
                        last_done = last_done.max(done);
                    }
                }
                st.elapsed = last_done.saturating_duration_since(measure_from).max(plan.measure);
                st
            })
        })
        .collect();
    let mut st = gather(workers).await;
    let missing = expected.saturating_sub(st.ok + st.errors);
    if missing > 0 {
        st.record_error(format!("{missing} requests not sent: the target fell more than 2 s behind the schedule"));
        st.errors += missing - 1;
    }
    st
}

async fn gather(workers: Vec<tokio::task::JoinHandle<RunStats>>) -> RunStats {
    let mut total = RunStats::default();
    for w in workers {
        match w.await {
            Ok(st) => total.merge_parallel(&st),
            Err(e) => total.record_error(format!("load worker failed: {e}")),
        }
    }
    total
}

/// One exchange on `conn` (connecting if needed), timed from `scheduled`, recorded into `rec`
/// when given. Drops the connection after an error. Returns when the exchange ended.
pub async fn exchange_into(
    conn: &mut Option<Conn>,
    t: &Template,
    scheduled: Instant,
    mut rec: Option<&mut RunStats>,
    plan: Plan,
) -> Option<Instant> {
    let c = match conn {
        Some(c) => c,
        None => match Conn::connect(t.addr).await {
            Ok(c) => conn.insert(c),
            Err(e) => {
                if let Some(st) = rec {
                    st.record_error(e);
                }
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
                return None;
            }
        },
    };
    let on_gap = |gap| {
        if let Some(st) = rec.as_deref_mut() {
            st.record_gap(gap);
        }
    };
    let result = tokio::time::timeout(plan.timeout, c.exchange(t, on_gap)).await;
    let outcome = match result {
        Ok(Ok(x)) if x.status != 200 => Err(format!("HTTP {}", x.status)),
        Ok(Ok(x)) if plan.stream && !x.saw_done => Err(format!("stream ended without [DONE] after {} bytes", x.bytes)),
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => {
            *conn = None;
            Err(e)
        }
        Err(_) => {
            *conn = None;
            Err(format!("no complete answer within {} ms", plan.timeout.as_millis()))
        }
    };
    match outcome {
        Ok(x) => {
            if let Some(st) = rec {
                st.record_ok(x.done - scheduled);
                if plan.stream
                    && let Some(first) = x.first_frame
                {
                    st.record_first_byte(first - scheduled);
                }
            }
            Some(x.done)
        }
        Err(e) => {
            if let Some(st) = rec {
                st.record_error(e);
            }
            Some(Instant::now())
        }
    }
}
