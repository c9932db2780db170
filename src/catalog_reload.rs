//! Picks up a new price catalog while the gateway runs: `tollgate refresh-prices` writes the
//! data directory's `prices.json`, and this task, polling the file's modification time and size
//! every second, swaps the catalog in and rebuilds the snapshot so the next call is priced
//! with it. No rebuild or restart is needed.

use std::sync::Weak;
use std::time::Duration;

use crate::billing::catalog::{CatalogFile, Polled};
use crate::state::AppState;

/// How often the file is looked at (one `stat`).
const POLL: Duration = Duration::from_secs(1);

/// Runs until the gateway's state is dropped.
pub async fn watch(state: Weak<AppState>, mut file: CatalogFile) {
    loop {
        tokio::time::sleep(POLL).await;
        let Some(state) = state.upgrade() else { return };
        match file.poll() {
            Polled::Unchanged => {}
            Polled::Invalid(e) => tracing::error!("price catalog not reloaded, the one in effect is kept: {e}"),
            Polled::Changed(catalog) => {
                let models = catalog.models.len();
                state.catalog.store(catalog);
                match state.reload().await {
                    Ok(()) => tracing::info!(models, path = %file.path().display(), "price catalog reloaded"),
                    Err(e) => tracing::error!("price catalog loaded but the snapshot was not rebuilt: {}", e.message),
                }
            }
        }
    }
}
