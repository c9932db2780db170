//! The health verdict of an attempt whose answer is still being read. Success headers say
//! little about a stream: it can still be cut, stall or carry an error event. So an answered
//! stream's attempt is judged when the stream ends — `ok` (finished, or the client left) or
//! `broke` (the provider failed after bytes reached the client) — against its credential and
//! its target, and counted in the attempt metrics once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::{AttemptOutcome, AttemptSeries};
use crate::providers::entry::ProviderEntry;
use crate::routing::failover::Choice;
use crate::routing::health::{HealthKey, Outcome};
use crate::state::AppState;

pub struct Verdict {
    state: Arc<AppState>,
    /// The attempt's provider, its credential (an index into its credentials) and upstream
    /// model: what its health keys are read from.
    provider: Arc<ProviderEntry>,
    credential: usize,
    upstream_model: String,
    /// Time to response headers: the latency the health report shows.
    latency: Duration,
    counted: Arc<AttemptSeries>,
    decided: bool,
}

impl Verdict {
    pub fn new(state: &Arc<AppState>, choice: &Choice, latency: Duration, counted: Arc<AttemptSeries>) -> Verdict {
        Verdict {
            state: state.clone(),
            provider: choice.route.provider.clone(),
            credential: choice.credential,
            upstream_model: choice.route.upstream_model.clone(),
            latency,
            counted,
            decided: false,
        }
    }

    /// The answer was read to its end (or the client went away: nothing against the provider).
    pub fn ok(mut self) {
        self.decide(None);
    }

    /// The provider failed after the answer started: counts toward both breakers.
    pub fn broke(mut self, error: &str) {
        self.decide(Some(error));
    }

    fn decide(&mut self, error: Option<&str>) {
        self.decided = true;
        let now = Instant::now();
        let health = &self.state.routing.health;
        let outcome = || match error {
            None => Outcome::Ok { latency: self.latency },
            Some(e) => Outcome::Broke { error: e.to_string() },
        };
        health.record(&HealthKey::credential(&self.provider.credentials[self.credential].id), now, outcome());
        health.record(&HealthKey::target(&self.provider.id, &self.upstream_model), now, outcome());
        self.counted.record(if error.is_some() { AttemptOutcome::Broke } else { AttemptOutcome::Ok });
    }
}

impl Drop for Verdict {
    /// A relay dropped without a verdict (the client went away, the process is stopping): the
    /// provider did nothing wrong that we know of.
    fn drop(&mut self) {
        if !self.decided {
            self.decide(None);
        }
    }
}
