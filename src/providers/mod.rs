//! How to reach providers: their kinds, the wire protocol each kind speaks, its URLs and auth
//! headers, and the guarded HTTP client. Only this module knows a provider's address and how
//! it authenticates; what the bodies look like is `protocol/`'s business, and which
//! conversion a call needs is the gateway's (`gateway/adapter.rs`).
//!
//! Adding a kind: a variant in [`kind`], its `Protocol` (a new one when its bodies are a
//! dialect of their own), and an arm in [`upstream_request`] building its URL and headers from an
//! [`Outbound`] (the body is there for kinds that sign it).

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod entry;
pub mod gemini;
pub mod http;
pub mod image_fetch;
pub mod kind;
pub mod openai;
pub mod operation;
pub mod probe;
pub mod send;
pub mod sigv4;
pub mod ssrf;

use axum::http::header::HeaderMap;

use entry::{CredentialEntry, ProviderEntry};
use kind::ProviderKind;
use operation::Operation;

/// One upstream request about to be sent: everything a kind may need to address and sign it.
pub struct Outbound<'a> {
    pub provider: &'a ProviderEntry,
    pub credential: &'a CredentialEntry,
    pub operation: Operation,
    pub upstream_model: &'a str,
    pub stream: bool,
    pub body: bytes::Bytes,
    pub request_id: &'a str,
    /// The client's headers; each kind forwards only its allowlist.
    pub client_headers: &'a axum::http::HeaderMap,
}

/// Why an upstream request could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// This provider cannot take the request: the operation does not exist for its kind (the
    /// client's 400).
    Unsupported(String),
    /// The operator's configuration is broken: a credential that is not what its kind needs,
    /// a base URL or model id that makes no request. Not the client's fault (a 5xx-class
    /// `credential_misconfigured`; another credential may work).
    Misconfigured(String),
}

/// The longest credential the gateway stores (a Bedrock JSON credential with a session token
/// is a few KB).
pub const CREDENTIAL_MAX_BYTES: usize = 16 * 1024;

/// Checks a credential for its kind, at creation and again before each use: every kind's key
/// travels in a header, so it must be printable ASCII; Bedrock's is its JSON object. The
/// message never quotes the secret.
pub fn check_credential(kind: ProviderKind, api_key: &str) -> Result<(), String> {
    if api_key.len() > CREDENTIAL_MAX_BYTES {
        return Err(format!("the credential is longer than {CREDENTIAL_MAX_BYTES} bytes"));
    }
    match kind {
        ProviderKind::Bedrock => bedrock::check_credential(api_key),
        _ if !api_key.bytes().all(|b| (0x21..=0x7e).contains(&b)) => {
            Err("the key must be printable ASCII without spaces (it is sent in a header)".into())
        }
        _ => Ok(()),
    }
}

/// The URL and headers of an upstream request, or why it cannot be made: the provider does not
/// serve the operation (the client's 400) or the operator's configuration is broken.
pub fn upstream_request(o: &Outbound) -> Result<(String, HeaderMap), RequestError> {
    use RequestError::{Misconfigured, Unsupported};
    let (key, base) = (&o.credential.api_key, &o.provider.base_url);
    check_credential(o.provider.kind, key).map_err(Misconfigured)?;
    let (url, mut headers, forwarded) = match o.provider.kind {
        ProviderKind::OpenAi => {
            let path = openai::path(o.operation).map_err(Unsupported)?;
            (openai::url(base, path), openai::headers(key, o.request_id), openai::FORWARDED_CLIENT_HEADERS)
        }
        ProviderKind::Anthropic => {
            let version = o.client_headers.get("anthropic-version");
            let headers = anthropic::headers(key, version, o.request_id);
            let path = anthropic::path(o.operation).map_err(Unsupported)?;
            (anthropic::url(base, path), headers, anthropic::FORWARDED_CLIENT_HEADERS)
        }
        ProviderKind::AzureOpenAi if o.operation == Operation::CountTokens => {
            return Err(Unsupported("Azure OpenAI providers have no token-counting endpoint".into()));
        }
        ProviderKind::AzureOpenAi => {
            let version = o.provider.api_version.as_deref();
            let url = azure::url(base, o.upstream_model, o.operation, version).map_err(Misconfigured)?;
            (url, azure::headers(key, o.request_id), openai::FORWARDED_CLIENT_HEADERS)
        }
        ProviderKind::Gemini | ProviderKind::Bedrock
            if !matches!(o.operation, Operation::Chat | Operation::Embeddings) =>
        {
            return Err(Unsupported(format!(
                "provider kind `{}` serves chat and embeddings only",
                o.provider.kind.as_str()
            )));
        }
        ProviderKind::Gemini => {
            let url = match o.operation {
                Operation::Embeddings => gemini::embeddings_url(base, o.upstream_model),
                _ => gemini::url(base, o.upstream_model, o.stream),
            };
            (url.map_err(Misconfigured)?, gemini::headers(key), &[][..])
        }
        ProviderKind::Bedrock => {
            let now = time::OffsetDateTime::now_utc();
            let action = match o.operation {
                Operation::Embeddings => bedrock::Action::Embed,
                _ => bedrock::Action::Converse { stream: o.stream },
            };
            let (url, headers) =
                bedrock::request(base, key, o.upstream_model, action, &o.body, now).map_err(Misconfigured)?;
            (url, headers, &[][..])
        }
    };
    for name in forwarded {
        if let Some(v) = o.client_headers.get(*name) {
            headers.insert(*name, v.clone());
        }
    }
    Ok((url, headers))
}

/// The URL and headers of a read of a response the provider stored (`GET /responses/{id}`, or
/// its `/input_items` with the client's paging `query`), for the kinds that store responses.
pub fn stored_response_request(
    provider: &ProviderEntry,
    credential: &CredentialEntry,
    response_id: &str,
    input_items: bool,
    query: Option<&str>,
    request_id: &str,
) -> Result<(String, HeaderMap), String> {
    let key = &credential.api_key;
    let (base, headers) = match provider.kind {
        ProviderKind::OpenAi => (openai::url(&provider.base_url, "/responses"), openai::headers(key, request_id)),
        ProviderKind::AzureOpenAi => {
            (azure::url(&provider.base_url, "", Operation::Responses, None)?, azure::headers(key, request_id))
        }
        kind => return Err(format!("provider kind `{}` stores no responses", kind.as_str())),
    };
    let mut url = url::Url::parse(&base).map_err(|e| format!("base_url is not a valid URL: {e}"))?;
    {
        // The id is one path segment, escaped: it cannot reach another path.
        let mut path = url.path_segments_mut().map_err(|_| "base_url cannot take a path".to_string())?;
        path.push(response_id);
        if input_items {
            path.push("input_items");
        }
    }
    url.set_query(query);
    Ok((url.into(), headers))
}

/// The URL and headers of a key check: listing the provider's models. `Err` for kinds whose
/// key cannot be checked without a model call (Bedrock lists models on its control-plane
/// host, not the runtime the gateway calls: a refused Bedrock credential stays disabled until
/// an operator re-enables it).
pub fn probe_request(provider: &ProviderEntry, credential: &CredentialEntry) -> Result<(String, HeaderMap), String> {
    let (key, base) = (&credential.api_key, &provider.base_url);
    Ok(match provider.kind {
        ProviderKind::OpenAi => (openai::url(base, "/models"), openai::headers(key, "credential-test")),
        ProviderKind::Anthropic => {
            (anthropic::url(base, "/v1/models"), anthropic::headers(key, None, "credential-test"))
        }
        ProviderKind::AzureOpenAi => {
            (azure::models_url(base, provider.api_version.as_deref()), azure::headers(key, "credential-test"))
        }
        ProviderKind::Gemini => (format!("{}/v1beta/models", base.trim_end_matches('/')), gemini::headers(key)),
        ProviderKind::Bedrock => return Err("bedrock credentials cannot be checked without a model call".into()),
    })
}

/// Checks the settings only some kinds take: Azure OpenAI needs its resource's `base_url` and
/// may name an `api_version`; no other kind has an API version.
pub fn check_settings(kind: ProviderKind, base_url: Option<&str>, api_version: Option<&str>) -> Result<(), String> {
    match (kind, api_version) {
        (ProviderKind::AzureOpenAi, _) if base_url.is_none_or(|u| u.trim().is_empty()) => {
            Err("an azure-openai provider needs its resource endpoint as base_url".into())
        }
        (ProviderKind::AzureOpenAi, Some(v)) => azure::check_api_version(v),
        (_, Some(_)) => Err("api_version applies to azure-openai providers only".into()),
        (_, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_for_their_kind() {
        check_credential(ProviderKind::OpenAi, "sk-abc_123").unwrap();
        for bad in ["sk-with space", "sk-line\nbreak", "sk-ключ", "sk-\0"] {
            assert!(check_credential(ProviderKind::OpenAi, bad).is_err(), "{bad:?}");
            assert!(check_credential(ProviderKind::Gemini, bad).is_err(), "{bad:?}");
        }
        assert!(check_credential(ProviderKind::Bedrock, "not json").is_err());
        let json = r#"{"access_key_id":"A","secret_access_key":"s","region":"us-east-1"}"#;
        check_credential(ProviderKind::Bedrock, json).unwrap();
        assert!(check_credential(ProviderKind::Anthropic, &"k".repeat(CREDENTIAL_MAX_BYTES + 1)).is_err());
    }
}
