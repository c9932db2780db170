//! A configured provider and its credentials as the request path reads them (built into the
//! snapshot, decrypted): what `providers` needs to address and authenticate a request.

use super::kind::ProviderKind;
use crate::billing::markup::Rule;
use crate::config::Timeouts;

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
    /// The provider's markup rule, where a model sets none.
    pub markup: Rule,
}

pub struct CredentialEntry {
    pub id: String,
    /// The operator's name for it (a label of the health gauges).
    pub name: String,
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
