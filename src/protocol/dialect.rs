//! The wire formats by name: the [`Dialect`] a client speaks (and its answers, errors included,
//! are written in) and the [`Protocol`] of a provider's bodies. Traffic whose dialect is the
//! provider's protocol passes through; any other pair is converted.

use axum::http::HeaderMap;

/// The wire format an error (or any response) is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
        }
    }

    /// The dialect of a caller no dialect-specific handler has read (`/v1/models`, an unknown
    /// path, a wrong method): Anthropic when the path is `/v1/messages` or below it, or the
    /// client sends `anthropic-version` (every Anthropic SDK does, OpenAI clients do not);
    /// otherwise OpenAI. `x-api-key` alone decides nothing: auth accepts it in both dialects.
    pub fn of_request(path: &str, headers: &HeaderMap) -> Dialect {
        let messages = path.strip_prefix("/v1/messages").is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if messages || headers.contains_key("anthropic-version") { Dialect::Anthropic } else { Dialect::OpenAi }
    }
}

/// The wire protocol of a provider's request and response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI Chat Completions (and embeddings).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini generateContent / streamGenerateContent (SSE).
    Gemini,
    /// Bedrock Converse / ConverseStream (AWS event-stream framing).
    Bedrock,
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_request_is_anthropic_by_its_path_or_version_header() {
        let none = HeaderMap::new();
        let mut versioned = HeaderMap::new();
        versioned.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let mut keyed = HeaderMap::new();
        keyed.insert("x-api-key", HeaderValue::from_static("tg-x"));
        assert_eq!(Dialect::of_request("/v1/messages", &none), Dialect::Anthropic);
        assert_eq!(Dialect::of_request("/v1/messages/batches", &none), Dialect::Anthropic);
        assert_eq!(Dialect::of_request("/v1/nope", &versioned), Dialect::Anthropic);
        assert_eq!(Dialect::of_request("/v1/messagesx", &none), Dialect::OpenAi);
        assert_eq!(Dialect::of_request("/v1/nope", &keyed), Dialect::OpenAi);
        assert_eq!(Dialect::of_request("/v1/chat/completion", &none), Dialect::OpenAi);
    }
}
