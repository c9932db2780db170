//! Routing: which target and credential serve a request, and what the gateway remembers about
//! their health. Decisions are pure over the snapshot and [`RoutingState`]; no I/O here (the
//! re-test of refused credentials is a job: `jobs::retest`).

pub mod failover;
pub mod health;
pub mod offers;
pub mod resolve;
pub mod retry_budget;
pub mod rotation;
pub mod settings;
pub mod status;
pub mod wrr;

use std::time::Instant;

use health::Health;
use retry_budget::RetryBudget;
use rotation::Rotations;
use settings::RoutingSettings;

/// Routing memory that outlives snapshot reloads: health, rotations, the retry budget and
/// the models' live status.
pub struct RoutingState {
    pub settings: RoutingSettings,
    pub health: Health,
    /// Each model's recent calls and its targets' probes (`GET /api/v1/models/status`).
    pub status: status::StatusBoard,
    pub rotations: Rotations,
    pub budget: RetryBudget,
}

impl RoutingState {
    pub fn new(settings: RoutingSettings) -> RoutingState {
        RoutingState {
            health: Health::new(settings.health),
            status: status::StatusBoard::default(),
            rotations: Rotations::default(),
            budget: RetryBudget::new(settings.retry_percent, settings.retry_floor_per_sec, Instant::now()),
            settings,
        }
    }
}
