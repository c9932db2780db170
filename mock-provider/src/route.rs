//! Which model route a path names, and in which dialect. Paths are matched by hand rather
//! than by the router because Gemini's `{model}:generateContent` and Bedrock's
//! percent-encoded model ids do not fit path patterns, and every route also exists under a
//! `/s/{opts}` scenario prefix.

use std::borrow::Cow;

use axum::http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

/// A provider wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
    Bedrock,
    Azure,
}

impl Dialect {
    /// The name in [`crate::Stats::by_dialect`], the gateway's provider kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::Bedrock => "bedrock",
            Dialect::Azure => "azure-openai",
        }
    }
}

/// A model route, with what its path names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ChatCompletions,
    Embeddings,
    /// `POST /v1/images/generations`.
    ImageGenerations,
    /// `GET /v1/models`: the Anthropic list when the request sends `anthropic-version`.
    Models,
    Messages,
    CountTokens,
    /// Gemini `models/{model}:generateContent` or `:streamGenerateContent`.
    Generate {
        model: String,
        stream: bool,
    },
    /// Gemini `models/{model}:batchEmbedContents`.
    GeminiEmbed {
        model: String,
    },
    /// Bedrock `/model/{modelId}/converse` or `/converse-stream`.
    Converse {
        model: String,
        stream: bool,
    },
    /// Bedrock `/model/{modelId}/invoke` (the embeddings models).
    Invoke {
        model: String,
    },
    AzureChat {
        deployment: String,
    },
    AzureEmbeddings {
        deployment: String,
    },
    AzureImageGenerations {
        deployment: String,
    },
    /// OpenAI Responses `POST /v1/responses`; `azure`: Azure's v1 API `/openai/v1/responses`.
    Responses {
        azure: bool,
    },
    /// `GET /v1/responses/{id}` (or its `/input_items`).
    StoredResponse {
        id: String,
        items: bool,
        azure: bool,
    },
}

impl Endpoint {
    /// The method the route answers.
    pub(crate) fn method(&self) -> Method {
        if matches!(self, Endpoint::Models | Endpoint::StoredResponse { .. }) { Method::GET } else { Method::POST }
    }

    /// The dialect of a request to this route.
    pub(crate) fn dialect(&self, headers: &HeaderMap) -> Dialect {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings | Endpoint::ImageGenerations => Dialect::OpenAi,
            Endpoint::Models if headers.contains_key("anthropic-version") => Dialect::Anthropic,
            Endpoint::Models => Dialect::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Dialect::Anthropic,
            Endpoint::Generate { .. } | Endpoint::GeminiEmbed { .. } => Dialect::Gemini,
            Endpoint::Converse { .. } | Endpoint::Invoke { .. } => Dialect::Bedrock,
            Endpoint::AzureChat { .. } | Endpoint::AzureEmbeddings { .. } | Endpoint::AzureImageGenerations { .. } => {
                Dialect::Azure
            }
            Endpoint::Responses { azure: true } | Endpoint::StoredResponse { azure: true, .. } => Dialect::Azure,
            Endpoint::Responses { azure: false } | Endpoint::StoredResponse { azure: false, .. } => Dialect::OpenAi,
        }
    }
}

/// Percent-decodes one path segment (Bedrock SDKs encode `:` in model ids as `%3A`).
pub(crate) fn decode(segment: &str) -> Cow<'_, str> {
    percent_decode_str(segment).decode_utf8_lossy()
}

/// The model route `path` (without scenario prefix and query) names, if any.
pub(crate) fn classify(path: &str) -> Option<Endpoint> {
    match path {
        "/v1/chat/completions" => return Some(Endpoint::ChatCompletions),
        "/v1/embeddings" => return Some(Endpoint::Embeddings),
        "/v1/images/generations" => return Some(Endpoint::ImageGenerations),
        "/v1/models" => return Some(Endpoint::Models),
        "/v1/messages" => return Some(Endpoint::Messages),
        "/v1/messages/count_tokens" => return Some(Endpoint::CountTokens),
        "/v1/responses" => return Some(Endpoint::Responses { azure: false }),
        "/openai/v1/responses" => return Some(Endpoint::Responses { azure: true }),
        _ => {}
    }
    for (prefix, azure) in [("/v1/responses/", false), ("/openai/v1/responses/", true)] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let (id, items) = match rest.strip_suffix("/input_items") {
                Some(id) => (id, true),
                None => (rest, false),
            };
            return (!id.is_empty() && !id.contains('/')).then(|| Endpoint::StoredResponse {
                id: id.to_string(),
                items,
                azure,
            });
        }
    }
    if let Some(rest) = path.strip_prefix("/v1beta/models/").or_else(|| path.strip_prefix("/v1/models/")) {
        let (model, method) = rest.rsplit_once(':')?;
        if model.is_empty() || model.contains('/') {
            return None;
        }
        let model = decode(model).into_owned();
        return match method {
            "generateContent" => Some(Endpoint::Generate { model, stream: false }),
            "streamGenerateContent" => Some(Endpoint::Generate { model, stream: true }),
            "batchEmbedContents" => Some(Endpoint::GeminiEmbed { model }),
            _ => None,
        };
    }
    if let Some(rest) = path.strip_prefix("/model/") {
        let (model, action) = rest.split_once('/')?;
        if model.is_empty() {
            return None;
        }
        let model = decode(model).into_owned();
        return match action {
            "converse" => Some(Endpoint::Converse { model, stream: false }),
            "converse-stream" => Some(Endpoint::Converse { model, stream: true }),
            "invoke" => Some(Endpoint::Invoke { model }),
            _ => None,
        };
    }
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (deployment, action) = rest.split_once('/')?;
    let deployment = decode(deployment).into_owned();
    match action {
        _ if deployment.is_empty() => None,
        "chat/completions" => Some(Endpoint::AzureChat { deployment }),
        "embeddings" => Some(Endpoint::AzureEmbeddings { deployment }),
        "images/generations" => Some(Endpoint::AzureImageGenerations { deployment }),
        _ => None,
    }
}

/// Splits `/s/{opts}/rest` into the decoded options and `/rest`; other paths have no options.
pub(crate) fn split_scenario(path: &str) -> (Option<Cow<'_, str>>, &str) {
    let Some(rest) = path.strip_prefix("/s/") else { return (None, path) };
    match rest.find('/') {
        Some(i) => (Some(decode(&rest[..i])), &rest[i..]),
        None => (Some(decode(rest)), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_dialect() {
        assert_eq!(classify("/v1/chat/completions"), Some(Endpoint::ChatCompletions));
        assert_eq!(
            classify("/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
            Some(Endpoint::Generate { model: "gemini-2.0-flash".into(), stream: true })
        );
        assert_eq!(classify("/v1beta/models/x:countTokens"), None);
        assert_eq!(
            classify("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
            Some(Endpoint::Converse { model: "anthropic.claude-3-haiku-20240307-v1:0".into(), stream: true })
        );
        assert_eq!(classify("/model/m/invoke"), Some(Endpoint::Invoke { model: "m".into() }));
        assert_eq!(classify("/model/m/invoke-with-response-stream"), None);
        assert_eq!(
            classify("/v1beta/models/gemini-embedding-001:batchEmbedContents"),
            Some(Endpoint::GeminiEmbed { model: "gemini-embedding-001".into() })
        );
        assert_eq!(
            classify("/openai/deployments/gpt4o/embeddings"),
            Some(Endpoint::AzureEmbeddings { deployment: "gpt4o".into() })
        );
        assert_eq!(classify("/openai/deployments//chat/completions"), None);
        assert_eq!(classify("/v2/chat"), None);
        assert_eq!(
            split_scenario("/s/status=500,chunks=2/v1/messages"),
            (Some("status=500,chunks=2".into()), "/v1/messages")
        );
        assert_eq!(split_scenario("/s/status%3D500/v1/x").0.as_deref(), Some("status=500"));
        assert_eq!(split_scenario("/v1/models"), (None, "/v1/models"));
    }
}
