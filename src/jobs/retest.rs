//! Refused credentials: a 401/403 disables the credential at once in memory and, in the
//! background, in the database with the reason (so a restart does not bring it back), then
//! re-tests it by listing the provider's models ([`crate::providers::probe`]) — never a
//! billable completion — with exponential backoff, and re-enables it when the provider
//! accepts it again.

use std::sync::Arc;
use std::time::Instant;

use crate::providers::probe::probe;
use crate::routing::health::HealthKey;
use crate::state::AppState;
use crate::store::providers as q;

/// Reasons of credentials disabled by the gateway start with this; only those are re-tested
/// (an operator's own `enabled: false` is left alone).
pub const REFUSED_PREFIX: &str = "refused by the provider";

/// The recorded reason of a refusal (`detail` is the attempt's, already free of the key).
pub fn refused_reason(detail: &str) -> String {
    format!("{REFUSED_PREFIX}: {detail}")
}

/// A 401/403 on `credential_id`: skip it from now on and start its re-test (once, however
/// many calls saw the refusal).
pub fn on_refused(state: &Arc<AppState>, credential_id: &str, reason: String) {
    if !state.routing.health.disable(&HealthKey::credential(credential_id), Instant::now(), &reason) {
        return;
    }
    tracing::warn!(credential = credential_id, "credential disabled: {reason}");
    tokio::spawn(retest_loop(state.clone(), credential_id.to_string(), reason, false));
}

/// At start: re-test the credentials a previous run disabled.
pub async fn resume(state: &Arc<AppState>) -> Result<(), String> {
    let rows = q::list_credentials(&state.db, None).await.map_err(|e| e.to_string())?;
    for c in rows {
        let Some(reason) = c.disabled_reason.filter(|r| !c.enabled && r.starts_with(REFUSED_PREFIX)) else {
            continue;
        };
        state.routing.health.disable(&HealthKey::credential(&c.id), Instant::now(), &reason);
        tokio::spawn(retest_loop(state.clone(), c.id, reason, true));
    }
    Ok(())
}

async fn retest_loop(state: Arc<AppState>, id: String, reason: String, mut persisted: bool) {
    let key = HealthKey::credential(&id);
    for n in 0u32.. {
        if !persisted {
            match q::disable_credential(&state.db, &id, &reason, crate::clock::now_ms()).await {
                Ok(true) => {
                    persisted = true;
                    reload(&state).await;
                }
                // Gone, or an operator disabled it first: theirs to re-enable.
                Ok(false) => return,
                Err(e) => tracing::error!(credential = %id, "cannot record the disabled credential: {e}"),
            }
        }
        tokio::time::sleep(state.routing.settings.retest_delay(n)).await;
        if persisted {
            match q::get_credential(&state.db, &id).await {
                Ok(Some(row)) if row.disabled_reason.as_deref() == Some(reason.as_str()) => {}
                Ok(_) => {
                    // Deleted, or an operator changed it since: stop re-testing.
                    state.routing.health.enable(&key);
                    return;
                }
                Err(e) => {
                    tracing::warn!(credential = %id, "re-test skipped: {e}");
                    continue;
                }
            }
        }
        let snap = state.snapshot.load_full();
        let Some((provider, cred)) =
            snap.providers.values().find_map(|p| p.credentials.iter().find(|c| c.id == id).map(|c| (p.clone(), c)))
        else {
            return;
        };
        let p = probe(&state.http, &provider, cred).await;
        if !p.ok {
            tracing::info!(credential = %id, attempt = n + 1, "re-test failed: {}", p.error.unwrap_or_default());
            continue;
        }
        if persisted {
            match q::reenable_credential(&state.db, &id, &reason, crate::clock::now_ms()).await {
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(credential = %id, "cannot re-enable the credential: {e}");
                    continue;
                }
            }
        }
        // Snapshot first, health last: once the health says usable, calls can use it.
        reload(&state).await;
        state.routing.health.enable(&key);
        tracing::info!(credential = %id, "credential re-enabled: the provider accepts it again");
        return;
    }
}

async fn reload(state: &AppState) {
    if let Err(e) = state.reload().await {
        tracing::error!("snapshot reload failed: {}", e.message);
    }
}
