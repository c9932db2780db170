//! Amazon Bedrock upstreams: `{base_url}/model/{modelId}/converse` (or `/converse-stream`;
//! embeddings `/invoke`), signed with AWS Signature Version 4 ([`super::sigv4`], service
//! `bedrock`).
//!
//! The stored credential is a JSON object: `{"access_key_id": "...", "secret_access_key":
//! "...", "region": "us-east-1"}`, with an optional `session_token` for temporary
//! credentials. The default base URL is `https://bedrock-runtime.{region}.amazonaws.com`, the
//! region taken from the credential.

use axum::http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::sigv4::{self, AwsCredentials};
use crate::protocol::bedrock;

/// `{region}` is replaced by the credential's region.
pub const DEFAULT_BASE_URL: &str = "https://bedrock-runtime.{region}.amazonaws.com";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    access_key_id: String,
    secret_access_key: String,
    region: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// Reads a stored credential; the error never contains the secret.
fn credential(stored: &str) -> Result<(AwsCredentials, String), String> {
    let c: StoredCredential = serde_json::from_str(stored).map_err(|_| {
        "the Bedrock credential must be JSON: {\"access_key_id\", \"secret_access_key\", \"region\"[, \"session_token\"]}"
            .to_string()
    })?;
    if c.region.is_empty() || !c.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("the Bedrock credential's region is not a region name".into());
    }
    Ok((
        AwsCredentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.session_token,
        },
        c.region,
    ))
}

/// Checks a stored credential's shape (JSON with the keys, a region name, header-safe
/// characters) without using it; the error never contains the secret.
pub fn check_credential(stored: &str) -> Result<(), String> {
    let (creds, _) = credential(stored)?;
    let header_safe = |s: &str| s.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if creds.access_key_id.is_empty() || creds.secret_access_key.is_empty() {
        return Err("the Bedrock credential's access_key_id and secret_access_key must not be empty".into());
    }
    if !header_safe(&creds.access_key_id)
        || !header_safe(&creds.secret_access_key)
        || !creds.session_token.as_deref().is_none_or(header_safe)
    {
        return Err("the Bedrock credential's keys must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// What a Bedrock call does: a Converse chat (streamed or not) or an InvokeModel embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Converse { stream: bool },
    Embed,
}

/// The URL and signed headers of one Bedrock call.
pub fn request(
    base_url: &str,
    stored_credential: &str,
    model: &str,
    action: Action,
    body: &[u8],
    now: time::OffsetDateTime,
) -> Result<(String, HeaderMap), String> {
    let (creds, region) = credential(stored_credential)?;
    let base = base_url.replace("{region}", &region);
    let path = match action {
        Action::Converse { stream } => bedrock::endpoint_path(model, stream)?,
        Action::Embed => bedrock::embeddings::endpoint_path(model)?,
    };
    let url = format!("{}{}", base.trim_end_matches('/'), path);
    let parsed = url::Url::parse(&url).map_err(|e| format!("the Bedrock URL is not valid: {e}"))?;
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => return Err("the Bedrock URL has no host".into()),
    };
    let signed = sigv4::sign(
        &sigv4::Request {
            method: "POST",
            host: &host,
            path: parsed.path(),
            query: parsed.query().unwrap_or(""),
            headers: &[("content-type", "application/json")],
            body,
        },
        &creds,
        &region,
        "bedrock",
        now,
    );
    let mut h = HeaderMap::with_capacity(6);
    h.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(axum::http::header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    for (name, value) in signed.headers {
        let mut v = HeaderValue::from_str(&value).map_err(|_| "the Bedrock credential has invalid characters")?;
        v.set_sensitive(name != "x-amz-date");
        h.insert(HeaderName::from_static(name), v);
    }
    Ok((url, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRED: &str = r#"{"access_key_id":"AKID","secret_access_key":"s3cret/+","region":"eu-west-1"}"#;

    #[test]
    fn signs_for_the_credentials_region() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_767_319_445).unwrap();
        let (url, h) =
            request(DEFAULT_BASE_URL, CRED, "anthropic.claude-v2:1", Action::Converse { stream: true }, b"{}", now)
                .unwrap();
        assert_eq!(
            url,
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-v2%3A1/converse-stream"
        );
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKID/20260102/eu-west-1/bedrock/aws4_request, "),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date, "));
        assert!(h["authorization"].is_sensitive());
        assert_eq!(h["x-amz-date"], "20260102T020405Z");
    }

    #[test]
    fn bad_credentials_are_refused_without_echoing_them() {
        let now = time::OffsetDateTime::now_utc();
        let e = request(DEFAULT_BASE_URL, "AKID:s3cret", "m", Action::Embed, b"{}", now).unwrap_err();
        assert!(!e.contains("s3cret"));
        let e = request(
            DEFAULT_BASE_URL,
            r#"{"access_key_id":"a","secret_access_key":"s3cret","region":"x/y"}"#,
            "m",
            Action::Converse { stream: false },
            b"",
            now,
        )
        .unwrap_err();
        assert!(e.contains("region") && !e.contains("s3cret"));
    }

    #[test]
    fn a_credential_is_checked_for_its_shape_without_echoing_it() {
        check_credential(CRED).unwrap();
        let with_token = r#"{"access_key_id":"A","secret_access_key":"s","region":"us-east-1","session_token":"t/+="}"#;
        check_credential(with_token).unwrap();
        for bad in [
            "AKID:s3cret",
            r#"{"access_key_id":"A","secret_access_key":"s3cret"}"#,
            r#"{"access_key_id":"","secret_access_key":"s3cret","region":"us-east-1"}"#,
            r#"{"access_key_id":"A","secret_access_key":"s3 cret","region":"us-east-1"}"#,
            r#"{"access_key_id":"A","secret_access_key":"s3cret","region":"us-east-1","extra":1}"#,
        ] {
            let e = check_credential(bad).unwrap_err();
            assert!(!e.contains("s3cret") && !e.contains("s3 cret"), "{e}");
        }
    }
}
