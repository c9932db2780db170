//! Model addressing: a configured model name, or `provider/model` straight to a provider's
//! upstream model. Answers the target to call and its price, or the client's error.

use std::sync::Arc;

use crate::billing::pricing::Pricing;
use crate::error::{ApiError, ErrorKind};
use crate::snapshot::{ProviderEntry, Snapshot, direct_key};

/// Where one call goes.
pub struct Route {
    pub provider: Arc<ProviderEntry>,
    pub upstream_model: String,
    /// `None` only for free models.
    pub pricing: Option<Pricing>,
    pub free: bool,
}

pub fn unknown_model(name: &str) -> ApiError {
    ApiError::not_found(format!("The model `{name}` does not exist or you do not have access to it."))
        .with_code("model_not_found")
        .with_param("model")
}

/// Finds the model (no permission check: the caller checks the key first so that an unknown
/// and a forbidden model are told apart only for models the key could otherwise see).
pub fn resolve(snap: &Snapshot, requested: &str) -> Result<Route, ApiError> {
    let route = if let Some(model) = snap.models.get(requested) {
        let weights: Vec<i64> = model.targets.iter().map(|t| t.weight).collect();
        let usable = |i: usize| snap.providers.get(&model.targets[i].provider_id).is_some_and(|p| p.usable());
        let Some(i) = model.picker.pick(&weights, usable) else {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!("no provider is currently available for model `{requested}`"),
            )
            .with_code("no_available_provider"));
        };
        let target = &model.targets[i];
        Route {
            provider: snap.providers[&target.provider_id].clone(),
            upstream_model: target.upstream_model.clone(),
            pricing: target.pricing,
            free: model.free,
        }
    } else if let Some((provider_name, upstream)) = requested.split_once('/')
        && let Some(provider) = snap.providers_by_name.get(provider_name)
        && !upstream.is_empty()
    {
        if !provider.usable() {
            return Err(ApiError::new(
                ErrorKind::Unavailable,
                format!("provider `{provider_name}` is disabled or has no enabled credential"),
            )
            .with_code("no_available_provider"));
        }
        let (pricing, free) =
            snap.direct_prices.get(&direct_key(&provider.id, upstream)).copied().unwrap_or((None, false));
        Route { provider: provider.clone(), upstream_model: upstream.to_string(), pricing, free }
    } else {
        return Err(unknown_model(requested));
    };
    if route.pricing.is_none() && !route.free {
        return Err(ApiError::invalid(format!(
            "no price is configured for model `{requested}`; an operator must set its pricing or mark it free"
        ))
        .with_code("model_not_priced")
        .with_param("model"));
    }
    Ok(route)
}

pub fn forbidden_model(name: &str) -> ApiError {
    ApiError::new(ErrorKind::PermissionDenied, format!("this API key may not use the model `{name}`"))
        .with_code("model_not_allowed")
        .with_param("model")
}

pub fn is_known(snap: &Snapshot, requested: &str) -> bool {
    snap.models.contains_key(requested)
        || requested.split_once('/').is_some_and(|(p, m)| !m.is_empty() && snap.providers_by_name.contains_key(p))
}
