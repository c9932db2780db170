//! How to reach providers: their kinds, URLs and auth headers, and the guarded HTTP client.
//! Only this module knows a provider's address and how it authenticates.

pub mod http;
pub mod openai;
pub mod sigv4;
pub mod ssrf;

/// The provider kinds this build can route traffic to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI and every OpenAI-compatible service, by `base_url`.
    OpenAi,
}

impl ProviderKind {
    pub const SUPPORTED: &'static [&'static str] = &["openai"];

    pub fn parse(kind: &str) -> Result<ProviderKind, String> {
        match kind {
            "openai" => Ok(ProviderKind::OpenAi),
            "azure-openai" | "anthropic" | "gemini" | "bedrock" => Err(format!(
                "provider kind `{kind}` is not available in this build yet; supported kinds: {}",
                Self::SUPPORTED.join(", ")
            )),
            other => Err(format!("unknown provider kind `{other}`; supported kinds: {}", Self::SUPPORTED.join(", "))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
        }
    }

    /// The base URL used when a provider of this kind does not set one.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
        }
    }
}
