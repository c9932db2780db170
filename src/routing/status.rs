//! Live model status: is a model up, and how well did it serve lately? Read from real traffic
//! — every settled call adds its outcome to its model's last 15 minutes (one-minute slots of
//! counts and a latency histogram, in memory: one short lock per call, no database) — and
//! from the optional probe of idle models (`jobs::status_probe`), whose results are kept per
//! target and apart from the calls, so a probe never counts as a member's call.
//!
//! A model is `down` when no target of it can take a call now: each target's breaker is open,
//! its provider has no usable credential (disabled, refused, cooling), or its latest probe
//! failed with no successful call since. `degraded` when some target is down or fewer than
//! 95 % of the counted calls succeeded; `up` when calls (or a probe) show it working;
//! `unknown` without any evidence. Pure state over an injected `now`, like `health`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::health::{Health, HealthKey};
use super::resolve::Route;
use crate::stats::histogram::Histogram;
use crate::store::call_outcome::{CallStatus, ErrorClass};

/// How far back the traffic counts.
pub const WINDOW_MS: i64 = 15 * 60_000;
const SLOT_MS: i64 = 60_000;
const SLOTS: usize = (WINDOW_MS / SLOT_MS) as usize;
/// Models (and targets) tracked at most: a pattern model forwards names clients make up, so
/// the maps are bounded; past this, entries idle for a whole window are dropped first.
const MAX_TRACKED: usize = 10_000;
/// The share of counted calls (in percent) that must succeed for `up`.
const UP_PERCENT: u64 = 95;

/// How a settled call counts: `Some(true)` a success, `Some(false)` a failure the model's
/// providers are answerable for, `None` not counted (the client's fault: its own request or
/// its leaving, `ErrorClass::is_the_clients`).
pub fn counted(status: &str, error_class: Option<&str>) -> Option<bool> {
    match CallStatus::parse(status)? {
        CallStatus::Success => Some(true),
        CallStatus::Failed if error_class.and_then(ErrorClass::parse).is_some_and(ErrorClass::is_the_clients) => None,
        CallStatus::Failed => Some(false),
        CallStatus::Processing => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Up,
    Degraded,
    Down,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Unknown => "unknown",
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub at_ms: i64,
    pub ok: bool,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// Start of the minute (Unix ms) this slot counts; an older one is stale.
    minute: i64,
    ok: u64,
    failed: u64,
    latency: Histogram,
}

#[derive(Debug, Clone, Default)]
struct ModelTrack {
    slots: Vec<Slot>,
    last_call_ms: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TargetTrack {
    probe: Option<Probe>,
    /// The latest successful call on this target (it outdates an older failed probe).
    last_ok_ms: Option<i64>,
    last_seen_ms: i64,
}

#[derive(Default)]
struct Board {
    models: HashMap<String, ModelTrack>,
    targets: HashMap<String, TargetTrack>,
}

/// The last 15 minutes of one model's counted calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    pub calls: u64,
    pub successes: u64,
    /// Median latency of the successes (time to first token; a whole answer's time when not
    /// streamed), at the histogram's resolution.
    pub p50_ms: Option<i64>,
    pub last_call_ms: Option<i64>,
}

/// What the status of one target is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetView {
    /// Its breaker lets calls through and some credential of it is usable.
    pub usable: bool,
    pub probe: Option<Probe>,
    pub last_ok_ms: Option<i64>,
}

impl TargetView {
    fn down(&self) -> bool {
        !self.usable || self.probe.is_some_and(|p| !p.ok && self.last_ok_ms.is_none_or(|ok| ok < p.at_ms))
    }
}

/// One model's status as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReport {
    pub state: State,
    pub traffic: Traffic,
    /// The latest evidence: a counted call or a probe (Unix ms).
    pub last_checked_ms: Option<i64>,
}

/// The status board: traffic per model, probes per target.
#[derive(Default)]
pub struct StatusBoard {
    board: Mutex<Board>,
}

fn insert_bounded<'a, T: Default>(
    map: &'a mut HashMap<String, T>,
    key: &str,
    now_ms: i64,
    seen: impl Fn(&T) -> i64,
) -> Option<&'a mut T> {
    if !map.contains_key(key) {
        if map.len() >= MAX_TRACKED {
            map.retain(|_, v| now_ms - seen(v) < WINDOW_MS);
        }
        if map.len() >= MAX_TRACKED {
            return None;
        }
        map.insert(key.to_string(), T::default());
    }
    map.get_mut(key)
}

impl StatusBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A settled call of `model` on `target` (its target's `HealthKey` as text, when an
    /// attempt was made): `ok` as [`counted`] says, `latency_ms` for a success.
    pub fn record_call(&self, model: &str, target: Option<&str>, ok: bool, latency_ms: i64, now_ms: i64) {
        let mut b = self.lock();
        if let Some(m) = insert_bounded(&mut b.models, model, now_ms, |m: &ModelTrack| m.last_call_ms) {
            if m.slots.is_empty() {
                m.slots = vec![Slot::default(); SLOTS];
            }
            let minute = now_ms.div_euclid(SLOT_MS) * SLOT_MS;
            let slot = &mut m.slots[(now_ms.div_euclid(SLOT_MS)).rem_euclid(SLOTS as i64) as usize];
            if slot.minute != minute {
                *slot = Slot { minute, ..Slot::default() };
            }
            if ok {
                slot.ok += 1;
                slot.latency.record(latency_ms);
            } else {
                slot.failed += 1;
            }
            m.last_call_ms = now_ms;
        }
        if let Some(t) = target
            && ok
            && let Some(t) = insert_bounded(&mut b.targets, t, now_ms, |t: &TargetTrack| t.last_seen_ms)
        {
            t.last_ok_ms = Some(now_ms);
            t.last_seen_ms = now_ms;
        }
    }

    /// A probe of the target `target` (its `HealthKey` as text).
    pub fn record_probe(&self, target: &str, ok: bool, now_ms: i64) {
        let mut b = self.lock();
        if let Some(t) = insert_bounded(&mut b.targets, target, now_ms, |t: &TargetTrack| t.last_seen_ms) {
            t.probe = Some(Probe { at_ms: now_ms, ok });
            t.last_seen_ms = now_ms;
        }
    }

    /// The counted calls of `model` in the window ending at `now_ms`.
    pub fn traffic(&self, model: &str, now_ms: i64) -> Traffic {
        let b = self.lock();
        let Some(m) = b.models.get(model) else { return Traffic::default() };
        let oldest = now_ms.div_euclid(SLOT_MS) * SLOT_MS - WINDOW_MS + SLOT_MS;
        let mut out = Traffic::default();
        let mut latency = Histogram::default();
        for s in m.slots.iter().filter(|s| s.minute >= oldest && s.minute <= now_ms) {
            out.calls += s.ok + s.failed;
            out.successes += s.ok;
            latency.merge(&s.latency);
        }
        out.p50_ms = latency.percentile(50);
        out.last_call_ms = (out.calls > 0).then_some(m.last_call_ms);
        out
    }

    /// True when `model` had no counted call since `since_ms`: a probe may stand in for one.
    pub fn idle_since(&self, model: &str, since_ms: i64) -> bool {
        self.lock().models.get(model).is_none_or(|m| m.last_call_ms < since_ms)
    }

    /// The latest probe and successful call of a target.
    pub fn target(&self, target: &str) -> (Option<Probe>, Option<i64>) {
        self.lock().targets.get(target).map_or((None, None), |t| (t.probe, t.last_ok_ms))
    }
}

/// The status of a model from its traffic and its targets (see the module notes).
pub fn verdict(traffic: &Traffic, targets: &[TargetView]) -> State {
    if targets.iter().all(TargetView::down) {
        return State::Down;
    }
    let some_down = targets.iter().any(TargetView::down);
    if traffic.calls > 0 {
        let good = traffic.successes * 100 >= traffic.calls * UP_PERCENT;
        return if good && !some_down { State::Up } else { State::Degraded };
    }
    if some_down {
        State::Degraded
    } else if targets.iter().any(|t| t.probe.is_some_and(|p| p.ok)) {
        State::Up
    } else {
        State::Unknown
    }
}

/// The status of the model `name` served by `routes` (`failover::routes`: its priced targets),
/// from the targets' `health` and the `board`; `None` when no route serves it (it is not
/// offered).
pub fn report(
    routes: &[Route],
    health: &Health,
    board: &StatusBoard,
    name: &str,
    now: Instant,
    now_ms: i64,
) -> Option<ModelReport> {
    if routes.is_empty() {
        return None;
    }
    let mut last_checked = None;
    let targets: Vec<TargetView> = routes
        .iter()
        .map(|r| {
            let p = &r.provider;
            let target = HealthKey::target(&p.id, &r.upstream_model);
            let credential_ok = p
                .credentials
                .iter()
                .any(|c| c.enabled && c.weight > 0 && health.available(&HealthKey::credential(&c.id), now));
            let (probe, last_ok_ms) = board.target(&target.to_string());
            last_checked = last_checked.max(probe.map(|p| p.at_ms));
            TargetView { usable: p.enabled && credential_ok && health.available(&target, now), probe, last_ok_ms }
        })
        .collect();
    let traffic = board.traffic(name, now_ms);
    let last_checked_ms = last_checked.max(traffic.last_call_ms);
    Some(ModelReport { state: verdict(&traffic, &targets), traffic, last_checked_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn view(usable: bool, probe: Option<(i64, bool)>, last_ok_ms: Option<i64>) -> TargetView {
        TargetView { usable, probe: probe.map(|(at_ms, ok)| Probe { at_ms, ok }), last_ok_ms }
    }

    #[test]
    fn only_the_models_failures_count() {
        assert_eq!(counted("success", None), Some(true));
        assert_eq!(counted("failed", Some("upstream_error")), Some(false));
        assert_eq!(counted("failed", Some("timeout")), Some(false));
        assert_eq!(counted("failed", Some("upstream_bad_request")), None);
        assert_eq!(counted("failed", Some("client_disconnected")), None);
        assert_eq!(counted("processing", None), None);
    }

    #[test]
    fn traffic_counts_the_last_fifteen_minutes() {
        let b = StatusBoard::default();
        // Latencies under 16 ms have a histogram bucket each, so the median is exact.
        b.record_call("m", Some("t"), true, 10, T0);
        b.record_call("m", Some("t"), true, 12, T0 + 1);
        b.record_call("m", Some("t"), false, 0, T0 + 2);
        let t = b.traffic("m", T0 + 5);
        assert_eq!((t.calls, t.successes, t.p50_ms, t.last_call_ms), (3, 2, Some(10), Some(T0 + 2)));
        // Fourteen minutes on, the same slots still count; sixteen minutes on they do not.
        assert_eq!(b.traffic("m", T0 + 14 * 60_000).calls, 3);
        assert_eq!(b.traffic("m", T0 + 16 * 60_000), Traffic::default());
        // A slot reused fifteen minutes later starts over.
        b.record_call("m", None, true, 50, T0 + WINDOW_MS);
        let t = b.traffic("m", T0 + WINDOW_MS);
        assert_eq!((t.calls, t.successes), (1, 1));
        assert!(b.idle_since("other", T0));
        assert!(!b.idle_since("m", T0 + WINDOW_MS));
        assert_eq!(b.target("t").1, Some(T0 + 1));
    }

    #[test]
    fn the_verdict_follows_targets_and_traffic() {
        let quiet = Traffic::default();
        let fine = Traffic { calls: 100, successes: 95, ..Traffic::default() };
        let poor = Traffic { calls: 100, successes: 94, ..Traffic::default() };
        let up = view(true, None, None);
        assert_eq!(verdict(&quiet, &[up]), State::Unknown);
        assert_eq!(verdict(&quiet, &[view(true, Some((T0, true)), None)]), State::Up);
        assert_eq!(verdict(&fine, &[up]), State::Up);
        assert_eq!(verdict(&poor, &[up]), State::Degraded);
        // Every target down: down, whatever the traffic said before.
        assert_eq!(verdict(&fine, &[view(false, None, None)]), State::Down);
        assert_eq!(verdict(&fine, &[view(true, Some((T0, false)), Some(T0 - 1))]), State::Down);
        assert_eq!(verdict(&fine, &[view(true, Some((T0, false)), None), view(false, None, None)]), State::Down);
        // A success after the failed probe outdates it.
        assert_eq!(verdict(&fine, &[view(true, Some((T0, false)), Some(T0 + 1))]), State::Up);
        // One of two targets down.
        assert_eq!(verdict(&fine, &[up, view(false, None, None)]), State::Degraded);
        assert_eq!(verdict(&quiet, &[up, view(true, Some((T0, false)), None)]), State::Degraded);
    }

    #[test]
    fn the_board_is_bounded() {
        let b = StatusBoard::default();
        for i in 0..MAX_TRACKED + 10 {
            b.record_call(&format!("m{i}"), None, true, 1, T0);
        }
        assert_eq!(b.lock().models.len(), MAX_TRACKED);
        // A window later the idle ones make room.
        b.record_call("new", None, true, 1, T0 + WINDOW_MS);
        assert_eq!(b.traffic("new", T0 + WINDOW_MS).calls, 1);
        assert_eq!(b.lock().models.len(), 1);
    }
}
