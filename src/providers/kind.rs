//! The provider kinds this build can route traffic to, their names in the API and the
//! configuration, their default base URLs and the wire [`Protocol`] each speaks.

use super::{bedrock, gemini};
use crate::protocol::Protocol;

/// The provider kinds this build can route traffic to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI and every OpenAI-compatible service, by `base_url`.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// The Gemini API (generateContent), key in `x-goog-api-key`.
    Gemini,
    /// Amazon Bedrock Converse, SigV4-signed from a JSON credential ([`bedrock`]).
    Bedrock,
    /// Azure OpenAI: OpenAI bodies at deployment URLs with an `api-version`.
    AzureOpenAi,
}

impl ProviderKind {
    pub const SUPPORTED: &'static [&'static str] = &["openai", "anthropic", "azure-openai", "gemini", "bedrock"];

    pub fn parse(kind: &str) -> Result<ProviderKind, String> {
        match kind {
            "openai" => Ok(ProviderKind::OpenAi),
            "anthropic" => Ok(ProviderKind::Anthropic),
            "azure-openai" => Ok(ProviderKind::AzureOpenAi),
            "gemini" => Ok(ProviderKind::Gemini),
            "bedrock" => Ok(ProviderKind::Bedrock),
            other => Err(format!("unknown provider kind `{other}`; supported kinds: {}", Self::SUPPORTED.join(", "))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::AzureOpenAi => "azure-openai",
        }
    }

    /// The base URL used when a provider of this kind does not set one.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => gemini::DEFAULT_BASE_URL,
            ProviderKind::Bedrock => bedrock::DEFAULT_BASE_URL,
            // Every Azure resource has its own endpoint: `check_settings` requires one.
            ProviderKind::AzureOpenAi => "",
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            ProviderKind::OpenAi => Protocol::OpenAi,
            ProviderKind::Anthropic => Protocol::Anthropic,
            ProviderKind::Gemini => Protocol::Gemini,
            ProviderKind::Bedrock => Protocol::Bedrock,
            ProviderKind::AzureOpenAi => Protocol::OpenAi,
        }
    }
}
