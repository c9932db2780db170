//! Tollgate: a self-hosted AI gateway. One OpenAI-compatible endpoint in front of many
//! providers, with API keys, exact credit billing and a usage record for every call.
//!
//! Codemap (see ARCHITECTURE.md for the invariants):
//! - [`config`]: settings from defaults, file, `.env` and environment.
//! - [`app`]: the router and its layers; [`gateway`]: the `/v1` model traffic;
//!   [`admin`]: the `/api/v1` management API.
//! - [`protocol`]: wire formats, pure; [`providers`]: how to reach an upstream;
//!   [`routing`]: which target and credential serve a call.
//! - [`billing`]: money, prices, balances; [`usage`]: the journal and batch writer of call
//!   records; [`store`]: the database (SQLite or PostgreSQL).
//! - [`metrics`]: counters the request path bumps, `GET /metrics`.
//! - [`snapshot`]: the in-memory configuration the hot path reads; [`secrets`]: encryption
//!   of provider keys, hashing of Tollgate keys and passwords.

pub mod admin;
pub mod app;
pub mod billing;
pub mod bootstrap;
pub mod catalog_reload;
pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod gateway;
pub mod guards;
pub mod jobs;
pub mod metrics;
pub mod network;
pub mod protocol;
pub mod providers;
pub mod routing;
pub mod secrets;
pub mod sessions;
pub mod snapshot;
pub mod state;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod testing;
pub mod throttle;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::billing::accounts::Accounts;
use crate::config::Config;
use crate::secrets::vault::Vault;
use crate::snapshot::Snapshot;
use crate::state::AppState;
use crate::store::Db;

/// [`start`] then [`serve`].
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> Result<(), String> {
    let (state, writer) = start(config).await?;
    serve(state, writer, listener, shutdown).await
}

/// Opens the database, recovers from any crash (journal replay, stale calls), bootstraps the
/// admin, applies declared config and builds the in-memory state. After this, the gateway is
/// ready to serve.
pub async fn start(config: Config) -> Result<(Arc<AppState>, tokio::task::JoinHandle<()>), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", config.data_dir.display()))?;
    let vault = Vault::load_or_create(config.encryption_key.as_deref(), &config.data_dir)?;
    let presence =
        store::presence::keep(&config.database_url(), store::presence::gateway(&config.database_url()).await?);
    let db = Db::connect(&config.database_url(), config.database.max_connections)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    store::migrate::run(&db).await.map_err(|e| format!("migrations failed: {e}"))?;
    let journal_dir = config.data_dir.join("journal");
    let quarantine = usage::Quarantine::new(&journal_dir);
    usage::replay(&db, &journal_dir, &quarantine).await?;
    store::rollups::seed_if_pending(&db).await.map_err(|e| format!("computing usage rollups: {e}"))?;
    let admin_key_hashes = bootstrap::admin_keys(&config, &db).await?;
    bootstrap::apply_declared(&config, &db, &vault).await?;
    let accounts = Arc::new(Accounts::default());
    accounts.load(store::ledger::balances(&db).await.map_err(|e| e.to_string())?);
    let budgets = Arc::new(billing::budgets::Budgets::default());
    let now = clock::now_ms();
    let spend =
        store::calls::spend_by_day(&db, billing::budgets::window_start(now)).await.map_err(|e| e.to_string())?;
    budgets.load(spend, now);
    let mut catalog_file = billing::catalog::CatalogFile::new(&config.data_dir);
    let catalog = catalog_file.load()?;
    let credits = Arc::new(billing::credit_unit::CreditUnit::from_config(&config.credits)?);
    let snapshot = Snapshot::load(&db, &vault, config.timeouts, catalog.clone(), credits.clone())
        .await
        .map_err(|e| e.to_string())?;
    let (usage, writer) = usage::start(db.clone(), &journal_dir, quarantine, config.usage_backlog_max)
        .map_err(|e| format!("usage journal: {e}"))?;
    let (retention, retention_gate) = jobs::gate::new(jobs::gate::Mode::Go);
    let state = Arc::new(AppState {
        http: providers::http::client(config.allow_private_upstreams, &config.timeouts),
        images: providers::image_fetch::ImageFetcher::new(&config.image_fetch),
        snapshot: ArcSwap::from_pointee(snapshot),
        catalog: ArcSwap::new(catalog),
        credits,
        routing: routing::RoutingState::new(routing::settings::RoutingSettings::from_env()),
        response_origins: Default::default(),
        reload_lock: tokio::sync::Mutex::new(()),
        admin_key_hashes,
        accounts,
        budgets,
        limiter: Arc::default(),
        trusted_proxies: throttle::client_addr::TrustedProxies::parse(&config.client_address.trusted_proxies)?,
        auth_throttle: throttle::FailureThrottle::new(config.auth_throttle.policy()),
        sign_in_throttle: throttle::sign_in::SignInThrottle::new(&config.console),
        metrics: metrics::Metrics::default(),
        usage,
        vault,
        db,
        config,
        presence,
        retention,
    });
    jobs::retest::resume(&state).await?;
    tokio::spawn(catalog_reload::watch(Arc::downgrade(&state), catalog_file));
    if state.config.retention.calls_days.is_some() {
        let c = &state.config;
        jobs::retention::start(c.database_url(), usage::archive::dir(&c.data_dir), c.retention, retention_gate)
            .map_err(|e| format!("cannot start the retention job: {e}"))?;
    }
    if let Some(interval) = state.config.status.probe_interval {
        tokio::spawn(jobs::status_probe::run(Arc::downgrade(&state), interval));
    }
    Ok((state, writer))
}

/// Serves until `shutdown` is cancelled, lets in-flight requests finish within the grace
/// period, then flushes the usage records and closes the database.
pub async fn serve(
    state: Arc<AppState>,
    writer: tokio::task::JoinHandle<()>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let router = app::app(state.clone());
    let stop = shutdown.clone();
    // Without TCP_NODELAY a response written in two parts (headers, then body or an SSE event)
    // can wait for the client's delayed ACK: tens of milliseconds on an idle connection.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted connection");
        }
    });
    // Connection info gives every request its peer address (`guards::client_addr`).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let mut server =
        tokio::spawn(
            async move { axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await },
        );
    let served = tokio::select! {
        r = &mut server => r,
        _ = shutdown.cancelled() => match tokio::time::timeout(grace, &mut server).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests outlived the grace period; closing them");
                server.abort();
                Ok(Ok(()))
            }
        },
    };
    // Give aborted handlers a moment to drop (and so record) their calls.
    tokio::task::yield_now().await;
    state.retention.set(jobs::gate::Mode::Stop);
    state.usage.close().await;
    drop(writer);
    state.db.close().await;
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("server error: {e}")),
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(format!("server task failed: {e}")),
    }
}
