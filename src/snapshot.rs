//! The in-memory configuration the hot path reads: keys, users, models, providers with
//! decrypted credentials, and prices. Built whole from the database and swapped atomically
//! when the management API changes anything, so a request never queries the database.

pub mod pattern;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use pattern::Pattern;

use crate::billing::catalog::{self, Catalog};
use crate::billing::credit_unit::CreditUnit;
use crate::billing::limits::{Limits, Period};
use crate::billing::markup::{Markup, Rule};
use crate::billing::pricing::Pricing;
use crate::config::Timeouts;
use crate::providers::entry::{CredentialEntry, ProviderEntry};
use crate::providers::kind::ProviderKind;
use crate::secrets::vault::Vault;
use crate::store::{self, Db};

#[derive(Default)]
pub struct Snapshot {
    /// Active (not revoked) keys by SHA-256 of the secret.
    pub keys: HashMap<[u8; 32], Arc<KeyEntry>>,
    pub users: HashMap<String, Arc<UserEntry>>,
    /// Enabled models by public name (plain names; patterns are in `patterns`).
    pub models: HashMap<String, Arc<ModelEntry>>,
    /// Enabled pattern models (`claude-*`), most specific first.
    pub patterns: Vec<Arc<ModelEntry>>,
    /// Providers by id and by name.
    pub providers: HashMap<String, Arc<ProviderEntry>>,
    pub providers_by_name: HashMap<String, Arc<ProviderEntry>>,
    /// Price, free flag and markup rule of `provider/model` addressing, taken from any
    /// configured model that targets the same provider and upstream model. Keyed by
    /// [`direct_key`].
    pub direct_prices: HashMap<String, DirectPrice>,
    /// The global default markup (the least specific level).
    pub markup: Rule,
    /// The price catalog in effect when this snapshot was built (in US dollars).
    pub catalog: CatalogRef,
    /// The credit unit prices are in (the catalog's dollars are converted to it).
    pub credits: Arc<CreditUnit>,
}

/// The catalog a snapshot prices with (the compiled-in one unless told otherwise).
#[derive(Clone)]
pub struct CatalogRef(pub Arc<Catalog>);

impl Default for CatalogRef {
    fn default() -> Self {
        CatalogRef(catalog::embedded())
    }
}

impl std::ops::Deref for CatalogRef {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.0
    }
}

/// What a configured model says about `provider/model` addressing of one of its targets.
#[derive(Debug, Clone, Default)]
pub struct DirectPrice {
    pub pricing: Option<Pricing>,
    pub free: bool,
    /// The configured model's own markup rule.
    pub markup: Rule,
}

/// The settings name of the global markup rule (JSON of a [`Rule`]).
pub const MARKUP_SETTING: &str = "markup";

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
    /// Set when `name` is a pattern; its targets' upstream models may hold a `*` to fill.
    pub pattern: Option<Pattern>,
    pub targets: Vec<TargetEntry>,
    pub fallbacks: Vec<String>,
    pub free: bool,
    /// The model's markup rule (the most specific level).
    pub markup: Rule,
}

pub struct TargetEntry {
    pub provider_id: String,
    pub upstream_model: String,
    pub weight: i64,
    /// The target's own price, else the model's.
    pub pricing: Option<Pricing>,
}

impl Snapshot {
    /// Reads everything from the database. Rows that cannot be used (a provider kind this build
    /// does not know, a credential that does not decrypt) are logged and left out.
    pub async fn load(
        db: &Db,
        vault: &Vault,
        default_timeouts: Timeouts,
        catalog: Arc<Catalog>,
        credits: Arc<CreditUnit>,
    ) -> Result<Snapshot, sqlx::Error> {
        let mut snap = Snapshot { catalog: CatalogRef(catalog), credits, ..Snapshot::default() };
        // The API validates the global rule; a row edited by hand that does not parse is no
        // markup, said loudly (the gateway keeps charging at cost rather than stopping).
        if let Some(text) = store::settings::get(db, MARKUP_SETTING).await? {
            snap.markup = serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!("global markup ignored: {e}");
                Rule::default()
            });
        }
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
                    Ok(api_key) => creds.push(CredentialEntry {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        api_key,
                        weight: c.weight,
                        enabled: c.enabled,
                    }),
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
                markup: p.markup,
            });
            snap.providers_by_name.insert(entry.name.clone(), entry.clone());
            snap.providers.insert(entry.id.clone(), entry);
        }
        for m in store::models::list(db).await? {
            if !m.enabled {
                continue;
            }
            let pattern = match Pattern::parse(&m.name).transpose() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(model = %m.id, "model left out: {e}");
                    continue;
                }
            };
            // A pattern's targets name no one upstream model to price `provider/model` with.
            for t in m.targets.iter().filter(|_| pattern.is_none()) {
                snap.direct_prices.entry(direct_key(&t.provider_id, &t.upstream_model)).or_insert(DirectPrice {
                    pricing: t.pricing.clone().or_else(|| m.pricing.clone()),
                    free: m.free,
                    markup: m.markup,
                });
            }
            let targets = m
                .targets
                .iter()
                .map(|t| TargetEntry {
                    provider_id: t.provider_id.clone(),
                    upstream_model: t.upstream_model.clone(),
                    weight: t.weight,
                    pricing: t.pricing.clone().or_else(|| m.pricing.clone()),
                })
                .collect();
            let entry = Arc::new(ModelEntry {
                id: m.id,
                name: m.name,
                pattern,
                targets,
                fallbacks: m.fallbacks,
                free: m.free,
                markup: m.markup,
            });
            if entry.pattern.is_some() {
                snap.patterns.push(entry);
            } else {
                snap.models.insert(entry.name.clone(), entry);
            }
        }
        snap.patterns.sort_by(|a, b| {
            let len = |m: &ModelEntry| m.pattern.as_ref().map_or(0, Pattern::literal_len);
            len(b).cmp(&len(a)).then_with(|| a.name.cmp(&b.name))
        });
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

    /// The markup of a call on `provider` for a model whose own rule is `model` (a
    /// `provider/model` call: the rule of a configured model targeting it): the model's, else
    /// the provider's, else the global default. Free calls carry none.
    pub fn markup_for(&self, model: &Rule, provider: &ProviderEntry, free: bool) -> Markup {
        if free {
            return Markup::NONE;
        }
        Markup::resolve([model, &provider.markup, &self.markup])
    }

    /// The catalog's price of a provider kind's model, in credits.
    pub fn catalog_price(&self, provider_kind: &str, model: &str) -> Option<Pricing> {
        self.catalog.price(provider_kind, model).map(|p| self.credits.from_usd(&p))
    }

    /// The configured model serving `requested`: its exact name, else the most specific
    /// pattern matching it, with what the pattern's `*` matched.
    pub fn model_for<'a>(&self, requested: &'a str) -> Option<(&Arc<ModelEntry>, Option<&'a str>)> {
        if let Some(m) = self.models.get(requested) {
            return Some((m, None));
        }
        self.patterns.iter().find_map(|m| Some((m, Some(m.pattern.as_ref()?.capture(requested)?))))
    }

    /// Whether `key` may use `requested`: the key lists it, or lists the pattern serving it.
    pub fn key_may_use(&self, key: &KeyEntry, requested: &str) -> bool {
        key.may_use(requested)
            || self.model_for(requested).is_some_and(|(m, capture)| capture.is_some() && key.may_use(&m.name))
    }

    /// The model names a key may use, sorted: its configured models, and for each pattern the
    /// catalog's models of its targets' providers that the pattern serves (a pattern also
    /// serves names no catalog knows, priced by its own price; those cannot be listed).
    pub fn models_for(&self, key: &KeyEntry) -> Vec<String> {
        self.model_names(|m| key.may_use(m))
    }

    /// The model names whose configured model (or pattern) `allowed` admits, sorted: see
    /// [`Snapshot::models_for`].
    pub fn model_names(&self, allowed: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self.models.keys().filter(|m| allowed(m)).cloned().collect();
        for m in self.patterns.iter().filter(|m| allowed(&m.name)) {
            let Some(p) = &m.pattern else { continue };
            for t in &m.targets {
                let (Some(provider), Some(Ok(upstream))) =
                    (self.providers.get(&t.provider_id), Pattern::parse(&t.upstream_model))
                else {
                    continue;
                };
                for c in self.catalog.models.iter().filter(|c| c.provider == provider.kind.as_str()) {
                    let Some(capture) = upstream.capture(&c.model) else { continue };
                    let name = p.name_for(capture);
                    // Listed only where this pattern is what serves the name.
                    if self.model_for(&name).is_some_and(|(served, _)| Arc::ptr_eq(served, m)) {
                        names.push(name);
                    }
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}
