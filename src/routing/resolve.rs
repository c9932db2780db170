//! Model addressing: a configured model name, a name a configured pattern serves
//! (`snapshot::pattern`), or `provider/model` straight to a provider's upstream model. Answers whether a name is known, and the client's errors; the routes
//! themselves are planned by `failover`.

use std::sync::Arc;

use crate::billing::markup::Markup;
use crate::billing::pricing::Pricing;
use crate::error::{ApiError, ErrorKind};
use crate::providers::entry::ProviderEntry;
use crate::snapshot::Snapshot;

/// Where one attempt goes.
#[derive(Clone)]
pub struct Route {
    pub provider: Arc<ProviderEntry>,
    pub upstream_model: String,
    /// The base price (configured or catalog); `None` only for free models.
    pub pricing: Option<Pricing>,
    pub free: bool,
    /// What calls on this route are charged over `pricing`.
    pub markup: Markup,
}

pub fn unknown_model(name: &str) -> ApiError {
    ApiError::not_found(format!("The model `{name}` does not exist or you do not have access to it."))
        .with_code("model_not_found")
        .with_param("model")
}

pub fn forbidden_model(name: &str) -> ApiError {
    ApiError::new(ErrorKind::PermissionDenied, format!("this API key may not use the model `{name}`"))
        .with_code("model_not_allowed")
        .with_param("model")
}

pub fn is_known(snap: &Snapshot, requested: &str) -> bool {
    snap.model_for(requested).is_some()
        || requested.split_once('/').is_some_and(|(p, m)| !m.is_empty() && snap.providers_by_name.contains_key(p))
}
