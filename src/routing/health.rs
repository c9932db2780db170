//! Health of credentials and targets: disabled (the provider refused the key), cooling (the
//! provider rate-limited it), and a circuit breaker that opens on an error rate over a sliding
//! window, half-opens with a single probe after a cool-off, and closes on success.
//!
//! Pure state transitions over an injected `now`, so the logic is tested without sleeping.
//! The state lives outside the configuration snapshot: a management write swaps the snapshot
//! but must not forget that a key is rate-limited or a provider is down.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Tuning of the breaker and the cool-downs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Outcomes older than this no longer count toward the error rate.
    pub window: Duration,
    /// The breaker never opens on fewer outcomes than this in the window (one error is noise).
    pub min_requests: usize,
    /// Error share (0..=1) in the window at which the breaker opens.
    pub error_rate: f64,
    /// How long an open breaker rejects before letting one probe through.
    pub cooloff: Duration,
    /// Cool-down after a 429 that did not say `retry-after`.
    pub default_cooldown: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            window: Duration::from_secs(30),
            min_requests: 5,
            error_rate: 0.5,
            cooloff: Duration::from_secs(15),
            default_cooldown: Duration::from_secs(10),
        }
    }
}

/// Outcomes kept per member at most, so a busy member's window stays small.
const MAX_WINDOW: usize = 512;

/// What one attempt told us about a member.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The upstream answered (any answer that is not the member's fault, 400s included).
    Ok { latency: Duration },
    /// 5xx, connection error or timeout: counts toward the breaker.
    Failed { error: String },
    /// An answer that failed after it started reaching the client (a stream cut, stalled or
    /// ended by an error event): a failure like `Failed`, decided when the stream ends.
    Broke { error: String },
    /// 429: rests the member for `retry_after`, else the default cool-down. Not a breaker error:
    /// the provider is up, this key is just busy.
    RateLimited { retry_after: Option<Duration>, error: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Breaker {
    Closed,
    Open {
        until: Instant,
    },
    /// `probe` is when the single probe was let through (None: nobody is probing yet).
    HalfOpen {
        probe: Option<Instant>,
    },
}

/// One credential's or target's state.
#[derive(Debug, Clone)]
struct Member {
    /// (when, ok, latency of successes) for the error rate and the latency percentile.
    window: VecDeque<(Instant, bool, Duration)>,
    breaker: Breaker,
    cooling_until: Option<Instant>,
    disabled: Option<String>,
    last_error: Option<(Instant, String)>,
}

impl Default for Member {
    fn default() -> Self {
        Member {
            window: VecDeque::new(),
            breaker: Breaker::Closed,
            cooling_until: None,
            disabled: None,
            last_error: None,
        }
    }
}

/// A member's state, as the management API, the console and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Taking calls.
    Healthy,
    /// Resting after a rate limit until its `retry-after` (or the default) has passed.
    Cooling,
    /// The breaker is open: no calls until the cool-off has passed.
    Open,
    /// The cool-off has passed: one probe call decides whether the breaker closes.
    HalfOpen,
    /// Refused by the provider or switched off: no calls until enabled again.
    Disabled,
}

impl HealthState {
    /// The name the API and the console show (`half_open`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Cooling => "cooling",
            HealthState::Open => "open",
            HealthState::HalfOpen => "half_open",
            HealthState::Disabled => "disabled",
        }
    }

    /// The state as a number for gauges: 0 healthy, 1 cooling, 2 half_open, 3 open, 4 disabled.
    pub fn code(self) -> u64 {
        match self {
            HealthState::Healthy => 0,
            HealthState::Cooling => 1,
            HealthState::HalfOpen => 2,
            HealthState::Open => 3,
            HealthState::Disabled => 4,
        }
    }
}

/// What the management API shows of a member.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub state: HealthState,
    pub disabled_reason: Option<String>,
    pub last_error: Option<String>,
    /// Milliseconds since the last error.
    pub last_error_age_ms: Option<u64>,
    /// Milliseconds until a cooling member or an open breaker is tried again.
    pub retry_in_ms: Option<u64>,
    /// Outcomes in the window, and the share of them that failed.
    pub recent_requests: usize,
    pub recent_error_rate: f64,
    /// Median time to response headers of the successes in the window.
    pub p50_latency_ms: Option<u64>,
}

impl Report {
    /// The state as a number for gauges (see [`HealthState::code`]).
    pub fn state_code(&self) -> u64 {
        self.state.code()
    }
}

impl Member {
    fn prune(&mut self, now: Instant, cfg: &HealthConfig) {
        while self.window.front().is_some_and(|(t, ..)| now.saturating_duration_since(*t) > cfg.window) {
            self.window.pop_front();
        }
    }

    /// Nothing here that a new member lacks: no outcome in the window, the breaker closed, not
    /// cooling, not disabled. (Its last error, shown on the status page, is let go.)
    fn at_rest(&self, now: Instant, cfg: &HealthConfig) -> bool {
        self.disabled.is_none()
            && self.breaker == Breaker::Closed
            && self.cooling_until.is_none_or(|u| now >= u)
            && self.window.back().is_none_or(|(t, ..)| now.saturating_duration_since(*t) > cfg.window)
    }

    fn push(&mut self, now: Instant, ok: bool, latency: Duration) {
        if self.window.len() == MAX_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back((now, ok, latency));
    }

    fn error_rate(&self) -> f64 {
        if self.window.is_empty() {
            return 0.0;
        }
        self.window.iter().filter(|(_, ok, _)| !ok).count() as f64 / self.window.len() as f64
    }

    /// May an attempt go to this member now? Does not claim the half-open probe.
    fn available(&self, now: Instant, cfg: &HealthConfig) -> bool {
        if self.disabled.is_some() || self.cooling_until.is_some_and(|u| now < u) {
            return false;
        }
        match self.breaker {
            Breaker::Closed => true,
            Breaker::Open { until } => now >= until,
            Breaker::HalfOpen { probe } => probe_free(probe, now, cfg),
        }
    }

    /// Claims an attempt: false if unavailable, or if another caller holds the probe.
    fn admit(&mut self, now: Instant, cfg: &HealthConfig) -> bool {
        if !self.available(now, cfg) {
            return false;
        }
        match self.breaker {
            Breaker::Closed => {}
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => self.breaker = Breaker::HalfOpen { probe: Some(now) },
        }
        true
    }

    fn record(&mut self, now: Instant, outcome: Outcome, cfg: &HealthConfig) {
        self.prune(now, cfg);
        match outcome {
            Outcome::Ok { latency } => {
                self.push(now, true, latency);
                if matches!(self.breaker, Breaker::HalfOpen { .. }) {
                    // The probe got through: start over with a clean window.
                    self.breaker = Breaker::Closed;
                    self.window.retain(|(_, ok, _)| *ok);
                }
            }
            Outcome::Failed { error } | Outcome::Broke { error } => {
                self.push(now, false, Duration::ZERO);
                self.last_error = Some((now, error));
                match self.breaker {
                    Breaker::HalfOpen { .. } => self.breaker = Breaker::Open { until: now + cfg.cooloff },
                    Breaker::Closed if self.window.len() >= cfg.min_requests && self.error_rate() >= cfg.error_rate => {
                        self.breaker = Breaker::Open { until: now + cfg.cooloff }
                    }
                    _ => {}
                }
            }
            Outcome::RateLimited { retry_after, error } => {
                self.cooling_until = Some(now + retry_after.unwrap_or(cfg.default_cooldown));
                self.last_error = Some((now, error));
                self.release_probe();
            }
        }
    }

    /// A probe whose answer says nothing about the breaker gives the probe back.
    fn release_probe(&mut self) {
        if let Breaker::HalfOpen { .. } = self.breaker {
            self.breaker = Breaker::HalfOpen { probe: None };
        }
    }

    fn report(&mut self, now: Instant, cfg: &HealthConfig) -> Report {
        self.prune(now, cfg);
        let mut lat: Vec<Duration> = self.window.iter().filter(|(_, ok, _)| *ok).map(|(_, _, l)| *l).collect();
        lat.sort_unstable();
        let cooling = self.cooling_until.filter(|u| now < *u);
        let (state, retry_in) = if self.disabled.is_some() {
            (HealthState::Disabled, None)
        } else {
            match self.breaker {
                Breaker::Open { until } if now < until => (HealthState::Open, Some(until - now)),
                Breaker::Open { .. } | Breaker::HalfOpen { .. } => (HealthState::HalfOpen, None),
                Breaker::Closed => match cooling {
                    Some(u) => (HealthState::Cooling, Some(u - now)),
                    None => (HealthState::Healthy, None),
                },
            }
        };
        Report {
            state,
            disabled_reason: self.disabled.clone(),
            last_error: self.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_age_ms: self
                .last_error
                .as_ref()
                .map(|(t, _)| now.saturating_duration_since(*t).as_millis() as u64),
            retry_in_ms: retry_in.map(|d| d.as_millis() as u64),
            recent_requests: self.window.len(),
            recent_error_rate: self.error_rate(),
            p50_latency_ms: (!lat.is_empty()).then(|| lat[(lat.len() - 1) / 2].as_millis() as u64),
        }
    }
}

/// A probe that never reported (its caller went away) stops blocking after one cool-off.
fn probe_free(probe: Option<Instant>, now: Instant, cfg: &HealthConfig) -> bool {
    probe.is_none_or(|p| now.saturating_duration_since(p) >= cfg.cooloff)
}

/// What a member of the health state is: a credential, or a target (a provider and an upstream
/// model, whichever public model routes to it). Borrowed from the snapshot or the route, so a
/// key is built and looked up on the request path without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthKey<'a> {
    /// A credential, by id.
    Credential(&'a str),
    /// A provider's upstream model.
    Target { provider: &'a str, model: &'a str },
}

impl<'a> HealthKey<'a> {
    pub fn credential(credential_id: &'a str) -> HealthKey<'a> {
        HealthKey::Credential(credential_id)
    }

    pub fn target(provider_id: &'a str, upstream_model: &'a str) -> HealthKey<'a> {
        HealthKey::Target { provider: provider_id, model: upstream_model }
    }
}

/// `cred:{id}` or `target:{provider_id}/{upstream model}` (the status board keys its targets by
/// this form).
impl std::fmt::Display for HealthKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthKey::Credential(id) => write!(f, "cred:{id}"),
            HealthKey::Target { provider, model } => write!(f, "target:{provider}/{model}"),
        }
    }
}

/// Targets tracked at most. A pattern model forwards the names its callers make up, and each
/// name is a target: without a bound, a caller could grow the map by one member per request.
/// Configured targets are far fewer (the status board keeps as many).
pub const MAX_TARGETS: usize = 10_000;

/// How often a full map may be swept for members at rest (a sweep walks every target, so a
/// flood of new names does not pay for one each).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The members by key: credentials by id, targets by provider id then upstream model (so a
/// borrowed key finds its member without building an owned one).
#[derive(Debug, Default)]
struct Members {
    credentials: HashMap<String, Member>,
    /// At most [`MAX_TARGETS`] members in all.
    targets: HashMap<String, HashMap<String, Member>>,
    swept: Option<Instant>,
}

impl Members {
    fn get(&self, key: &HealthKey<'_>) -> Option<&Member> {
        match *key {
            HealthKey::Credential(id) => self.credentials.get(id),
            HealthKey::Target { provider, model } => self.targets.get(provider)?.get(model),
        }
    }

    fn get_mut(&mut self, key: &HealthKey<'_>) -> Option<&mut Member> {
        match *key {
            HealthKey::Credential(id) => self.credentials.get_mut(id),
            HealthKey::Target { provider, model } => self.targets.get_mut(provider)?.get_mut(model),
        }
    }

    /// Runs `f` on the member of `key`, a new one if it has none yet (the only allocation).
    /// A new target when [`MAX_TARGETS`] are tracked, and a sweep frees no room, runs `f` on
    /// a member that is not kept: it is treated as new on every call.
    fn with<R>(
        &mut self,
        key: &HealthKey<'_>,
        now: Instant,
        cfg: &HealthConfig,
        f: impl FnOnce(&mut Member) -> R,
    ) -> R {
        if let Some(m) = self.get_mut(key) {
            return f(m);
        }
        match *key {
            HealthKey::Credential(id) => f(self.credentials.entry(id.to_string()).or_default()),
            HealthKey::Target { provider, model } => {
                if self.target_count() >= MAX_TARGETS {
                    self.sweep(now, cfg);
                }
                if self.target_count() >= MAX_TARGETS {
                    return f(&mut Member::default());
                }
                f(self.targets.entry(provider.to_string()).or_default().entry(model.to_string()).or_default())
            }
        }
    }

    /// Forgets the targets at rest (a new member would report the same), at most once per
    /// [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant, cfg: &HealthConfig) {
        if self.swept.is_some_and(|t| now.saturating_duration_since(t) < SWEEP_EVERY) {
            return;
        }
        self.swept = Some(now);
        for models in self.targets.values_mut() {
            models.retain(|_, m| !m.at_rest(now, cfg));
        }
        self.targets.retain(|_, models| !models.is_empty());
    }

    /// Targets tracked (a sum over providers: the outer map holds configured providers only).
    fn target_count(&self) -> usize {
        self.targets.values().map(HashMap::len).sum()
    }
}

/// The health of every member, by [`HealthKey`].
#[derive(Debug, Default)]
pub struct Health {
    cfg: HealthConfig,
    members: Mutex<Members>,
}

impl Health {
    pub fn new(cfg: HealthConfig) -> Health {
        Health { cfg, members: Mutex::new(Members::default()) }
    }

    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    fn with<R>(&self, key: &HealthKey<'_>, now: Instant, f: impl FnOnce(&mut Member) -> R) -> R {
        self.members.lock().unwrap_or_else(|e| e.into_inner()).with(key, now, &self.cfg, f)
    }

    /// Runs `f` on the member of `key` if it has one (a change that a new member would not
    /// need adds none).
    fn with_existing(&self, key: &HealthKey<'_>, f: impl FnOnce(&mut Member)) {
        if let Some(m) = self.members.lock().unwrap_or_else(|e| e.into_inner()).get_mut(key) {
            f(m);
        }
    }

    /// May an attempt go to `key` now (without claiming a half-open probe)?
    pub fn available(&self, key: &HealthKey<'_>, now: Instant) -> bool {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members.get(key).is_none_or(|m| m.available(now, &self.cfg))
    }

    /// Claims an attempt on `key`; false if it is unavailable or another call holds its probe.
    pub fn admit(&self, key: &HealthKey<'_>, now: Instant) -> bool {
        self.with(key, now, |m| m.admit(now, &self.cfg))
    }

    pub fn record(&self, key: &HealthKey<'_>, now: Instant, outcome: Outcome) {
        self.with(key, now, |m| m.record(now, outcome, &self.cfg));
    }

    /// 401/403: the key is refused until re-tested. True if it was not disabled already (so
    /// exactly one caller starts the re-test).
    pub fn disable(&self, key: &HealthKey<'_>, now: Instant, reason: &str) -> bool {
        self.with(key, now, |m| {
            m.last_error = Some((now, reason.to_string()));
            m.release_probe();
            m.disabled.replace(reason.to_string()).is_none()
        })
    }

    /// Gives back a half-open probe claimed by [`Health::admit`] but not used.
    pub fn release(&self, key: &HealthKey<'_>) {
        self.with_existing(key, Member::release_probe);
    }

    /// The key works again (re-test passed, or an operator re-enabled it).
    pub fn enable(&self, key: &HealthKey<'_>) {
        self.with_existing(key, |m| m.disabled = None);
    }

    /// A read: a member with no state yet reports as a new one would, and is not added (the
    /// status page and the API must not grow the map with every name they are asked about).
    pub fn report(&self, key: &HealthKey<'_>, now: Instant) -> Report {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        match members.get_mut(key) {
            Some(m) => m.report(now, &self.cfg),
            None => Member::default().report(now, &self.cfg),
        }
    }

    /// A credential's report, where its stored `enabled: false` (an operator's decision or a
    /// refusal persisted before a restart) wins over the live state.
    pub fn credential_report(&self, id: &str, enabled: bool, stored_reason: Option<&str>, now: Instant) -> Report {
        let mut report = self.report(&HealthKey::credential(id), now);
        if !enabled {
            report.state = HealthState::Disabled;
            report.disabled_reason = stored_reason.map(str::to_string).or(report.disabled_reason);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential and a target: the members every test below uses.
    const A: HealthKey<'static> = HealthKey::Credential("a");
    const B: HealthKey<'static> = HealthKey::Target { provider: "p", model: "m" };

    fn cfg() -> HealthConfig {
        HealthConfig {
            window: Duration::from_secs(10),
            min_requests: 4,
            error_rate: 0.5,
            cooloff: Duration::from_secs(5),
            default_cooldown: Duration::from_secs(3),
        }
    }

    fn fail() -> Outcome {
        Outcome::Failed { error: "HTTP 500".into() }
    }

    fn ok(ms: u64) -> Outcome {
        Outcome::Ok { latency: Duration::from_millis(ms) }
    }

    #[test]
    fn states_keep_their_names_and_gauge_codes() {
        use HealthState::*;
        for (state, name, code) in [
            (Healthy, "healthy", 0),
            (Cooling, "cooling", 1),
            (HalfOpen, "half_open", 2),
            (Open, "open", 3),
            (Disabled, "disabled", 4),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), serde_json::json!(name));
            assert_eq!((state.as_str(), state.code()), (name, code));
        }
    }

    #[test]
    fn keys_render_as_before_and_members_stay_apart() {
        assert_eq!(HealthKey::credential("c1").to_string(), "cred:c1");
        assert_eq!(HealthKey::target("p1", "gpt-4o").to_string(), "target:p1/gpt-4o");
        // An upstream model may hold a `/` (`openai/gpt-4o` through a router): still one target.
        assert_eq!(HealthKey::target("p1", "openai/gpt-4o").to_string(), "target:p1/openai/gpt-4o");
        // A credential and a target of the same id, and two targets of one provider, are
        // different members.
        let h = Health::new(cfg());
        let t0 = Instant::now();
        h.disable(&HealthKey::credential("p"), t0, "refused");
        h.disable(&HealthKey::target("p", "x"), t0, "refused");
        assert!(h.available(&HealthKey::target("p", "y"), t0));
        assert!(h.available(&HealthKey::target("q", "x"), t0));
        assert!(!h.available(&HealthKey::credential("p"), t0));
        assert!(!h.available(&HealthKey::target("p", "x"), t0));
    }

    /// Asking about a member (the status page, the API) reports a new one's state and adds
    /// nothing, so names a client makes up cannot grow the map through reports.
    #[test]
    fn a_report_of_an_unknown_member_adds_nothing() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        assert_eq!(h.report(&HealthKey::target("p", "made-up"), t0).state, HealthState::Healthy);
        assert_eq!(h.report(&HealthKey::credential("c9"), t0).state, HealthState::Healthy);
        let members = h.members.lock().unwrap();
        assert!(members.credentials.is_empty() && members.targets.is_empty());
    }

    #[test]
    fn one_error_does_not_open_the_breaker() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        h.record(&A, t0, fail());
        assert!(h.available(&A, t0));
        assert_eq!(h.report(&A, t0).state, HealthState::Healthy);
        assert_eq!(h.report(&A, t0).last_error.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn error_rate_over_the_minimum_opens_then_a_probe_closes() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        h.record(&A, t0, ok(10));
        h.record(&A, t0, fail());
        h.record(&A, t0, ok(30));
        assert!(h.available(&A, t0), "3 outcomes are under the minimum");
        h.record(&A, t0, fail());
        // 4 outcomes, 50% errors: open.
        assert!(!h.available(&A, t0));
        let r = h.report(&A, t0);
        assert_eq!((r.state, r.retry_in_ms, r.recent_requests), (HealthState::Open, Some(5000), 4));
        assert_eq!(r.p50_latency_ms, Some(10));
        let t1 = t0 + Duration::from_secs(5);
        assert!(h.available(&A, t1));
        assert_eq!(h.report(&A, t1).state, HealthState::HalfOpen);
        assert!(h.admit(&A, t1), "the first caller gets the probe");
        assert!(!h.admit(&A, t1), "a second caller does not");
        assert!(!h.available(&A, t1));
        h.record(&A, t1, ok(20));
        assert!(h.admit(&A, t1));
        let r = h.report(&A, t1);
        assert_eq!((r.state, r.recent_error_rate), (HealthState::Healthy, 0.0));
    }

    /// Opens `a`'s breaker with four failures; answers when its cool-off is over.
    fn open_until_cooled(h: &Health) -> Instant {
        let t0 = Instant::now();
        for _ in 0..4 {
            h.record(&A, t0, fail());
        }
        t0 + cfg().cooloff
    }

    #[test]
    fn a_failed_probe_reopens_for_another_cooloff() {
        let h = Health::new(cfg());
        let t1 = open_until_cooled(&h);
        assert!(h.admit(&A, t1));
        h.record(&A, t1, fail());
        assert!(!h.available(&A, t1 + Duration::from_secs(4)));
        assert!(h.available(&A, t1 + Duration::from_secs(5)));
    }

    #[test]
    fn a_lost_probe_stops_blocking_after_a_cooloff() {
        let h = Health::new(cfg());
        let t1 = open_until_cooled(&h);
        assert!(h.admit(&A, t1));
        assert!(!h.admit(&A, t1 + Duration::from_secs(1)));
        assert!(h.admit(&A, t1 + Duration::from_secs(5)));
    }

    #[test]
    fn old_errors_leave_the_window() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        for _ in 0..3 {
            h.record(&A, t0, fail());
        }
        let t1 = t0 + Duration::from_secs(11);
        h.record(&A, t1, fail());
        assert!(h.available(&A, t1), "only one error is still in the window");
        assert_eq!(h.report(&A, t1).recent_requests, 1);
    }

    #[test]
    fn rate_limit_cools_for_retry_after_or_the_default() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        h.record(&A, t0, Outcome::RateLimited { retry_after: Some(Duration::from_secs(7)), error: "429".into() });
        assert!(!h.available(&A, t0 + Duration::from_secs(6)));
        assert_eq!(h.report(&A, t0).state, HealthState::Cooling);
        assert!(h.available(&A, t0 + Duration::from_secs(7)));
        h.record(&B, t0, Outcome::RateLimited { retry_after: None, error: "429".into() });
        assert!(!h.available(&B, t0 + Duration::from_millis(2999)));
        assert!(h.available(&B, t0 + Duration::from_secs(3)));
        assert_eq!(h.report(&B, t0 + Duration::from_secs(3)).state, HealthState::Healthy);
    }

    #[test]
    fn refusal_disables_until_enabled() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        assert!(h.disable(&A, t0, "HTTP 401: bad key"));
        assert!(!h.disable(&A, t0, "HTTP 401: bad key"), "already disabled");
        let later = t0 + Duration::from_secs(3600);
        assert!(!h.available(&A, later));
        let r = h.report(&A, later);
        assert_eq!((r.state, r.disabled_reason.as_deref()), (HealthState::Disabled, Some("HTTP 401: bad key")));
        assert_eq!(r.state_code(), 4);
        h.enable(&A);
        assert!(h.available(&A, later));
    }

    fn tracked_targets(h: &Health) -> usize {
        h.members.lock().unwrap().target_count()
    }

    /// Made-up model names (a pattern model forwards them) cannot grow the map past
    /// MAX_TARGETS: a new name beyond it is answered as a new member but not kept, until the
    /// members at rest (nothing in their window, breaker closed) are swept; a member with
    /// state (an open breaker) is never swept. Enabling or releasing an unknown member adds
    /// nothing.
    #[test]
    fn made_up_targets_are_bounded_and_members_at_rest_make_room() {
        let h = Health::new(cfg());
        let t0 = Instant::now();
        let broken = HealthKey::target("p", "broken");
        for _ in 0..cfg().min_requests {
            h.record(&broken, t0, fail());
        }
        assert_eq!(h.report(&broken, t0).state, HealthState::Open);
        for i in 1..MAX_TARGETS {
            h.record(&HealthKey::target("p", &format!("made-up-{i}")), t0, ok(5));
        }
        assert_eq!(tracked_targets(&h), MAX_TARGETS);
        // Full, and every member holds a recent outcome: the new name is served, not kept.
        let extra = HealthKey::target("q", "one-more");
        assert!(h.admit(&extra, t0));
        h.record(&extra, t0, ok(5));
        assert_eq!(h.report(&extra, t0).recent_requests, 0, "not kept");
        assert_eq!(tracked_targets(&h), MAX_TARGETS);
        h.enable(&HealthKey::target("q", "never-seen"));
        h.release(&HealthKey::target("q", "never-seen"));
        assert_eq!(tracked_targets(&h), MAX_TARGETS);
        // Once the window has passed, the made-up names are at rest and make room; the broken
        // target keeps its breaker (open until its cool-off, then half-open: not at rest).
        let later = t0 + cfg().window + Duration::from_secs(1);
        h.record(&extra, later, ok(5));
        assert_eq!(tracked_targets(&h), 2);
        assert_eq!(h.report(&extra, later).recent_requests, 1);
        assert_eq!(h.report(&broken, later).state, HealthState::HalfOpen);
        // Sweeps are spaced: a full map swept a moment ago is not walked again at once, even
        // when members have come to rest since.
        for i in 0..MAX_TARGETS {
            h.record(&HealthKey::target("r", &format!("n-{i}")), later, ok(5));
        }
        assert_eq!(tracked_targets(&h), MAX_TARGETS);
        let swept = later + cfg().window; // every outcome exactly a window old: not yet at rest
        h.record(&HealthKey::target("s", "a"), swept, ok(5));
        assert_eq!(tracked_targets(&h), MAX_TARGETS, "a sweep found no member at rest");
        h.record(&HealthKey::target("s", "b"), swept + SWEEP_EVERY / 2, ok(5));
        assert_eq!(tracked_targets(&h), MAX_TARGETS, "no second sweep within SWEEP_EVERY");
        h.record(&HealthKey::target("s", "c"), swept + SWEEP_EVERY, ok(5));
        assert_eq!(tracked_targets(&h), 2, "the broken target and the new one");
    }
}
