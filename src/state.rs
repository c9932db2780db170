//! `AppState`: what every handler shares. Built once in `run`.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::billing::accounts::Accounts;
use crate::billing::budgets::Budgets;
use crate::billing::catalog::Catalog;
use crate::billing::credit_unit::CreditUnit;
use crate::billing::ratelimit::RateLimiter;
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::routing::RoutingState;
use crate::secrets::api_keys;
use crate::secrets::vault::Vault;
use crate::snapshot::Snapshot;
use crate::store::Db;
use crate::throttle::FailureThrottle;
use crate::throttle::client_addr::{AddrKey, TrustedProxies};
use crate::usage::UsageLog;

pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub vault: Vault,
    /// The configuration the hot path reads; replaced whole by [`AppState::reload`].
    pub snapshot: ArcSwap<Snapshot>,
    /// The price catalog in effect (the data directory's, else the compiled-in one); every
    /// snapshot is built with it.
    pub catalog: ArcSwap<Catalog>,
    /// The credit unit members see (`[credits]`), every snapshot prices in it.
    pub credits: Arc<CreditUnit>,
    /// Health, rotations and the retry budget: kept across snapshot reloads.
    pub routing: RoutingState,
    pub accounts: Arc<Accounts>,
    /// Spend per key and user, and the budget holds of calls in flight.
    pub budgets: Arc<Budgets>,
    /// Requests, tokens per minute and concurrency per key and user.
    pub limiter: Arc<RateLimiter>,
    /// Whose `X-Forwarded-For` names the client (`guards::client_addr`).
    pub trusted_proxies: TrustedProxies,
    /// Authentication failures per client address (`guards::auth_throttle`).
    pub auth_throttle: FailureThrottle<AddrKey>,
    /// Wrong console passwords per account and per client address (`console::auth`).
    pub sign_in_throttle: crate::throttle::sign_in::SignInThrottle,
    pub usage: UsageLog,
    /// Counters and histograms for `GET /metrics` (atomics, no lock on the request path).
    pub metrics: Metrics,
    pub http: crate::providers::http::Client,
    /// Fetches image URLs for providers that take only inline images (its own guarded client).
    pub images: crate::providers::image_fetch::ImageFetcher,
    /// SHA-256 digests of the keys accepted by the management API.
    pub admin_key_hashes: Vec<[u8; 32]>,
    /// Which provider and credential stored each passed-through Responses answer, for whom
    /// (`GET /v1/responses/{id}`).
    pub response_origins: crate::routing::response_origins::ResponseOrigins,
    /// Serialises reloads so an older snapshot never replaces a newer one.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// This gateway's claim on the database, held while it runs: `tollgate restore` refuses
    /// while any gateway holds one (`store::presence`).
    pub presence: crate::store::presence::Presence,
    /// Stops the retention job's thread (`jobs::retention`) when the gateway shuts down, or
    /// when this state is dropped.
    pub retention: crate::jobs::gate::Switch,
}

impl AppState {
    /// Rebuilds the snapshot from the database; called after every management write.
    pub async fn reload(&self) -> Result<(), ApiError> {
        let _guard = self.reload_lock.lock().await;
        let snap =
            Snapshot::load(&self.db, &self.vault, self.config.timeouts, self.catalog.load_full(), self.credits.clone())
                .await?;
        self.metrics.forget_deleted(&snap);
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }

    /// True if `presented` is an admin key (constant-time comparison of digests).
    pub fn is_admin_key(&self, presented: &str) -> bool {
        let digest = api_keys::digest(presented);
        self.admin_key_hashes.iter().fold(false, |found, h| found | api_keys::digests_equal(h, &digest))
    }
}
