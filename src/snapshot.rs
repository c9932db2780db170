//! The in-memory configuration the hot path reads: keys, users, models, providers with
//! decrypted credentials, and prices. Built whole from the database and swapped atomically
//! when the management API changes anything, so a request never queries the database.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::billing::limits::{Limits, Period};
use crate::billing::pricing::Pricing;
use crate::config::Timeouts;
use crate::providers::ProviderKind;
use crate::secrets::vault::Vault;
use crate::store::{self, Db};

#[derive(Default)]
pub struct Snapshot {
    /// Active (not revoked) keys by SHA-256 of the secret.
    pub keys: HashMap<[u8; 32], Arc<KeyEntry>>,
    pub users: HashMap<String, Arc<UserEntry>>,
    /// Enabled models by public name.
    pub models: HashMap<String, Arc<ModelEntry>>,
    /// Providers by id and by name.
    pub providers: HashMap<String, Arc<ProviderEntry>>,
    pub providers_by_name: HashMap<String, Arc<ProviderEntry>>,
    /// Price and free flag of `provider/model` addressing, taken from any configured model
    /// that targets the same provider and upstream model. Keyed by [`direct_key`].
    pub direct_prices: HashMap<String, (Option<Pricing>, bool)>,
}

/// The key of [`Snapshot::direct_prices`].
pub fn direct_key(provider_id: &str, upstream_model: &str) -> String {
    format!("{provider_id}\u{0}{upstream_model}")
}

pub struct KeyEntry {
    pub id: String,
    pub user_id: String,
    pub hash: [u8; 32],
    /// Model names this key may use; `None` means every model.
    pub models: Option<HashSet<String>>,
    pub expires_at: Option<i64>,
    /// Rate limits and budget enforced on every call made with this key.
    pub limits: Limits,
}

impl KeyEntry {
    pub fn may_use(&self, model: &str) -> bool {
        self.models.as_ref().is_none_or(|m| m.contains(model))
    }
}

pub struct UserEntry {
    pub id: String,
    pub name: String,
    /// On an unlimited plan calls are costed and recorded but not deducted.
    pub unlimited: bool,
    /// Rate limits and budget over all of the user's keys.
    pub limits: Limits,
}

pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub targets: Vec<TargetEntry>,
    pub fallbacks: Vec<String>,
    pub free: bool,
}

pub struct TargetEntry {
    pub provider_id: String,
    pub upstream_model: String,
    pub weight: i64,
    /// The target's own price, else the model's.
    pub pricing: Option<Pricing>,
}

pub struct ProviderEntry {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub enabled: bool,
    pub timeouts: Timeouts,
    /// Azure OpenAI's `api-version` (`None`: the kind's default).
    pub api_version: Option<String>,
    /// Every credential, disabled ones too (a refused key is re-tested with its secret).
    pub credentials: Vec<CredentialEntry>,
}

pub struct CredentialEntry {
    pub id: String,
    /// Decrypted for use; never logged or returned.
    pub api_key: String,
    pub weight: i64,
    pub enabled: bool,
}

impl ProviderEntry {
    pub fn usable(&self) -> bool {
        self.enabled && self.credentials.iter().any(|c| c.enabled && c.weight > 0)
    }
}

impl Snapshot {
    /// Reads everything from the database. Rows that cannot be used (a provider kind this build
    /// does not know, a credential that does not decrypt) are logged and left out.
    pub async fn load(db: &Db, vault: &Vault, default_timeouts: Timeouts) -> Result<Snapshot, sqlx::Error> {
        let mut snap = Snapshot::default();
        // Picks up a key `tollgate rotate-key` added to the key file while this process runs.
        if let Err(e) = vault.refresh() {
            tracing::error!("encryption keys not refreshed: {e}");
        }
        let credentials = store::providers::list_credentials(db, None).await?;
        for p in store::providers::list(db).await? {
            let kind = match ProviderKind::parse(&p.kind) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(provider = %p.name, "provider left out: {e}");
                    continue;
                }
            };
            let mut creds = Vec::new();
            for c in credentials.iter().filter(|c| c.provider_id == p.id) {
                match vault.open(&c.id, &c.secret_sealed) {
                    Ok(api_key) => {
                        creds.push(CredentialEntry { id: c.id.clone(), api_key, weight: c.weight, enabled: c.enabled })
                    }
                    Err(e) => tracing::error!(credential = %c.id, key_id = %c.key_id, "credential left out: {e}"),
                }
            }
            let entry = Arc::new(ProviderEntry {
                base_url: p.base_url.clone().unwrap_or_else(|| kind.default_base_url().to_string()),
                id: p.id,
                name: p.name,
                kind,
                enabled: p.enabled,
                timeouts: p.timeouts.unwrap_or(default_timeouts),
                api_version: p.api_version,
                credentials: creds,
            });
            snap.providers_by_name.insert(entry.name.clone(), entry.clone());
            snap.providers.insert(entry.id.clone(), entry);
        }
        for m in store::models::list(db).await? {
            if !m.enabled {
                continue;
            }
            for t in &m.targets {
                snap.direct_prices
                    .entry(direct_key(&t.provider_id, &t.upstream_model))
                    .or_insert((t.pricing.or(m.pricing), m.free));
            }
            let targets = m
                .targets
                .iter()
                .map(|t| TargetEntry {
                    provider_id: t.provider_id.clone(),
                    upstream_model: t.upstream_model.clone(),
                    weight: t.weight,
                    pricing: t.pricing.or(m.pricing),
                })
                .collect();
            snap.models.insert(
                m.name.clone(),
                Arc::new(ModelEntry { id: m.id, name: m.name, targets, fallbacks: m.fallbacks, free: m.free }),
            );
        }
        for u in store::users::all(db).await? {
            // The users API validates limits; a row that does not parse (edited by hand) is
            // enforced as no limits rather than locking the user out, and said loudly.
            let limits = match u.limits.as_ref().map(Limits::from_json).transpose() {
                Ok(l) => l.unwrap_or_default(),
                Err((_, e)) => {
                    tracing::error!(user = %u.id, "user limits ignored: {e}");
                    Limits::default()
                }
            };
            let unlimited = u.plan == "unlimited";
            snap.users.insert(u.id.clone(), Arc::new(UserEntry { id: u.id, name: u.name, unlimited, limits }));
        }
        for k in store::api_keys::all_active(db).await? {
            let Some(hash) = hex::decode(&k.key_hash).ok().and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                tracing::error!(key = %k.id, "key left out: stored hash is malformed");
                continue;
            };
            snap.keys.insert(
                hash,
                Arc::new(KeyEntry {
                    id: k.id,
                    user_id: k.user_id,
                    hash,
                    models: k.models.map(|m| m.into_iter().collect()),
                    expires_at: k.expires_at,
                    limits: Limits {
                        rpm: k.rpm,
                        tpm: k.tpm,
                        max_concurrency: k.max_concurrency,
                        budget: k.budget,
                        budget_period: k.budget_period.as_deref().and_then(Period::parse),
                        max_keys: None,
                    },
                }),
            );
        }
        Ok(snap)
    }

    /// The model names a key may use, sorted.
    pub fn models_for(&self, key: &KeyEntry) -> Vec<&str> {
        let mut names: Vec<&str> = self.models.keys().map(String::as_str).filter(|m| key.may_use(m)).collect();
        names.sort_unstable();
        names
    }
}
