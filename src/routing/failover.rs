//! The failover plan of one call: the requested model, then its fallbacks (the model's own, or
//! the request's `models` list), each with its targets; and the planner that walks it —
//! next credential, then next target, then next model — skipping what health rules out.
//!
//! Pure decisions over the snapshot and the routing state; the attempts themselves (I/O) are
//! made by `gateway::attempts`.

use std::sync::Arc;
use std::time::Instant;

use super::RoutingState;
use super::health::{Health, HealthKey};
use super::resolve::{self, Route};
use crate::billing::pricing::Pricing;
use crate::error::ApiError;
use crate::providers::entry::{CredentialEntry, ProviderEntry};
use crate::snapshot::{KeyEntry, ModelEntry, Snapshot, direct_key, pattern};

/// One model of the plan and the targets it routes to.
struct PlannedModel {
    /// The model whose rotation picks among the targets (`None` for `provider/model`, which
    /// has one target).
    rotation: Option<Arc<ModelEntry>>,
    targets: Vec<(Route, i64)>,
}

/// The models a call may be served by, in order.
pub struct Plan {
    models: Vec<PlannedModel>,
}

/// A priced (or free) route to every target of `name`, or `None` if `name` is not a model.
fn planned_model(snap: &Snapshot, name: &str) -> Option<PlannedModel> {
    if let Some((model, capture)) = snap.model_for(name) {
        let targets = model
            .targets
            .iter()
            .filter_map(|t| {
                let provider = snap.providers.get(&t.provider_id)?.clone();
                // A pattern forwards the requested name (its `*` part) upstream.
                let upstream_model = match capture {
                    Some(c) => pattern::fill(&t.upstream_model, c),
                    None => t.upstream_model.clone(),
                };
                let pricing = t.pricing.clone().or_else(|| catalog_price(snap, &provider, &upstream_model));
                let markup = snap.markup_for(&model.markup, &provider, model.free);
                let route = Route { provider, upstream_model, pricing, free: model.free, markup };
                Some((route, t.weight))
            })
            .collect();
        return Some(PlannedModel { rotation: Some(model.clone()), targets });
    }
    let (provider_name, upstream) = name.split_once('/')?;
    let provider = snap.providers_by_name.get(provider_name)?.clone();
    if upstream.is_empty() {
        return None;
    }
    let direct = snap.direct_prices.get(&direct_key(&provider.id, upstream)).cloned().unwrap_or_default();
    let pricing = direct.pricing.or_else(|| catalog_price(snap, &provider, upstream));
    let markup = snap.markup_for(&direct.markup, &provider, direct.free);
    let route = Route { provider, upstream_model: upstream.to_string(), pricing, free: direct.free, markup };
    Some(PlannedModel { rotation: None, targets: vec![(route, 1)] })
}

/// The route a call to `name` takes first (its first priced or free target): what the model is
/// shown to cost. `None` when `name` is no model or nothing serves it at a price.
pub fn first_route(snap: &Snapshot, name: &str) -> Option<Route> {
    planned_model(snap, name)?.targets.into_iter().map(|(r, _)| r).find(|r| r.pricing.is_some() || r.free)
}

/// Every route a call to `name` may take (its priced or free targets that carry weight): what
/// the model's status and its price range are read from.
pub fn routes(snap: &Snapshot, name: &str) -> Vec<Route> {
    let Some(m) = planned_model(snap, name) else { return Vec::new() };
    m.targets.into_iter().filter(|(r, w)| *w > 0 && (r.pricing.is_some() || r.free)).map(|(r, _)| r).collect()
}

/// The catalog's price for a provider's model (in credits), used when no configured price applies.
fn catalog_price(snap: &Snapshot, provider: &ProviderEntry, upstream_model: &str) -> Option<Pricing> {
    snap.catalog_price(provider.kind.as_str(), upstream_model)
}

impl Plan {
    /// The plan for `requested` (which the caller has checked the key may use). Fallbacks are
    /// `request_models` when the request listed its own, else the model's configured ones;
    /// unknown fallbacks and those the key may not use are left out. Targets without a price
    /// (configured, or from the built-in catalog) are left out (a call is never made that
    /// cannot be billed); if the requested model has none left, that is the client's error.
    pub fn build(
        snap: &Snapshot,
        key: &KeyEntry,
        requested: &str,
        request_models: Option<Vec<String>>,
    ) -> Result<Plan, ApiError> {
        let Some(mut first) = planned_model(snap, requested) else { return Err(resolve::unknown_model(requested)) };
        first.targets.retain(|(r, _)| r.pricing.is_some() || r.free);
        if first.targets.is_empty() {
            return Err(ApiError::invalid(format!(
                "no price is configured for model `{requested}`; an operator must set its pricing or mark it free"
            ))
            .with_code("model_not_priced")
            .with_param("model"));
        }
        let fallbacks = request_models
            .unwrap_or_else(|| snap.model_for(requested).map(|(m, _)| m.fallbacks.clone()).unwrap_or_default());
        let mut names = vec![requested.to_string()];
        let mut models = vec![first];
        for name in fallbacks {
            if names.contains(&name) || !snap.key_may_use(key, &name) {
                continue;
            }
            if let Some(mut m) = planned_model(snap, &name) {
                m.targets.retain(|(r, _)| r.pricing.is_some() || r.free);
                names.push(name);
                models.push(m);
            }
        }
        Ok(Plan { models })
    }

    /// The route a call is expected to take (the requested model's first target): what the
    /// call record starts with, and whose price and free flag admission checks.
    pub fn primary(&self) -> &Route {
        &self.models[0].targets[0].0
    }

    /// Every route the call may take, in no particular order (a handler checks up front that
    /// each route's provider can take the request).
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.models.iter().flat_map(|m| m.targets.iter().map(|(r, _)| r))
    }
}

/// One attempt's destination.
pub struct Choice {
    pub route: Route,
    /// Index into `route.provider.credentials`.
    pub credential: usize,
}

impl Choice {
    pub fn credential(&self) -> &CredentialEntry {
        &self.route.provider.credentials[self.credential]
    }

    /// The health member of this attempt's credential.
    pub fn credential_key(&self) -> HealthKey<'_> {
        HealthKey::credential(&self.credential().id)
    }

    /// The health member of this attempt's target.
    pub fn target_key(&self) -> HealthKey<'_> {
        HealthKey::target(&self.route.provider.id, &self.route.upstream_model)
    }

    /// Whether a 5xx or timeout from this attempt's credential counts against the target too.
    /// Not while another credential of the target could still be tried: then the failure is
    /// this key's (its own breaker takes it out), and counting it on the target would shut
    /// the healthy keys out with it. When every other key is out too, the target is blamed,
    /// so a provider that is down for all its keys still opens the target's breaker.
    pub fn blames_target(&self, health: &Health, now: Instant) -> bool {
        let mut others = self.route.provider.credentials.iter().enumerate().filter(|(i, _)| *i != self.credential);
        !others.any(|(_, c)| c.enabled && health.available(&HealthKey::credential(&c.id), now))
    }
}

/// Walks a plan: credentials of the current target, then the next target of the model, then
/// the next model. Every member is tried at most once per call.
pub struct Planner<'a> {
    plan: &'a Plan,
    routing: &'a RoutingState,
    model: usize,
    tried_targets: Vec<usize>,
    target: Option<usize>,
    tried_credentials: Vec<usize>,
    /// Whether any credential of the current target was offered (else its probe is returned).
    target_used: bool,
}

impl<'a> Planner<'a> {
    pub fn new(plan: &'a Plan, routing: &'a RoutingState) -> Planner<'a> {
        Planner {
            plan,
            routing,
            model: 0,
            tried_targets: Vec::new(),
            target: None,
            tried_credentials: Vec::new(),
            target_used: false,
        }
    }

    /// Gives up on the current target (its provider cannot be reached: other keys won't help).
    pub fn skip_target(&mut self) {
        self.target = None;
    }

    /// The next destination, with the half-open probes it needs claimed; `None` when the plan
    /// is exhausted.
    pub fn next(&mut self, now: Instant) -> Option<Choice> {
        let health = &self.routing.health;
        loop {
            let model = self.plan.models.get(self.model)?;
            if let Some(t) = self.target {
                let (route, _) = &model.targets[t];
                let p = &route.provider;
                let weights: Vec<i64> = p.credentials.iter().map(|c| c.weight).collect();
                let tried = &self.tried_credentials;
                let eligible = |i: usize| {
                    p.credentials[i].enabled
                        && !tried.contains(&i)
                        && health.available(&HealthKey::credential(&p.credentials[i].id), now)
                };
                match self.routing.rotations.credentials_of(&p.id).pick(&weights, eligible) {
                    Some(i) => {
                        self.tried_credentials.push(i);
                        if health.admit(&HealthKey::credential(&p.credentials[i].id), now) {
                            self.target_used = true;
                            return Some(Choice { route: route.clone(), credential: i });
                        }
                    }
                    None => {
                        if !self.target_used {
                            // No credential could go: a probe claimed on the target is unused.
                            health.release(&HealthKey::target(&p.id, &route.upstream_model));
                        }
                        self.target = None;
                    }
                }
                continue;
            }
            let weights: Vec<i64> = model.targets.iter().map(|(_, w)| *w).collect();
            let tried = &self.tried_targets;
            let eligible = |i: usize| {
                let r = &model.targets[i].0;
                !tried.contains(&i)
                    && r.provider.usable()
                    && health.available(&HealthKey::target(&r.provider.id, &r.upstream_model), now)
            };
            let pick = match &model.rotation {
                Some(owner) => self.routing.rotations.targets_of(&owner.id).pick(&weights, eligible),
                None => (0..weights.len()).find(|&i| eligible(i)),
            };
            match pick {
                Some(t) => {
                    self.tried_targets.push(t);
                    let r = &model.targets[t].0;
                    if health.admit(&HealthKey::target(&r.provider.id, &r.upstream_model), now) {
                        self.target = Some(t);
                        self.tried_credentials.clear();
                        self.target_used = false;
                    }
                }
                None => {
                    self.model += 1;
                    self.tried_targets.clear();
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
