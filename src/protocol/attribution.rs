//! What a request says about where it comes from, as the call's record keeps it: the W3C
//! `traceparent` trace id, the end user the client names in its body (OpenAI `user` or
//! `safety_identifier`, Anthropic `metadata.user_id`) or in `x-tollgate-end-user`, and the
//! operator's tags in `x-tollgate-tags: team=search,env=prod`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::dialect::Dialect;

pub const TRACEPARENT: &str = "traceparent";
/// The header every answer carries its trace id in.
pub const TRACE_ID_HEADER: &str = "x-tollgate-trace-id";
pub const END_USER_HEADER: &str = "x-tollgate-end-user";
pub const TAGS_HEADER: &str = "x-tollgate-tags";

/// Most tags one request may carry.
pub const MAX_TAGS: usize = 10;
/// Longest tag name and value.
pub const MAX_TAG_KEY: usize = 32;
pub const MAX_TAG_VALUE: usize = 64;
/// Longest end-user id kept (a longer one in the body is cut; in the header it is refused).
pub const MAX_END_USER: usize = 256;

/// The trace id of a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`), if it is valid.
pub fn traceparent_trace_id(v: &str) -> Option<&str> {
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let valid = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some(trace)
}

/// The call's trace id: the client's (`traceparent`), else one derived from the request id —
/// the 32 hex digits of a gateway-made `req_<uuid>` id, or a digest of a client's request id —
/// so the layer that answers it and the record that keeps it agree without passing it along.
pub fn trace_id(traceparent: Option<&str>, request_id: &str) -> String {
    if let Some(t) = traceparent.and_then(traceparent_trace_id) {
        return t.to_string();
    }
    if let Some(hex) = request_id.strip_prefix("req_")
        && hex.len() == 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return hex.to_ascii_lowercase();
    }
    hex::encode(&Sha256::digest(request_id.as_bytes())[..16])
}

/// The end user a body names, cut to [`MAX_END_USER`] characters.
pub fn end_user_of(dialect: Dialect, body: &Map<String, Value>) -> Option<String> {
    let named = match dialect {
        Dialect::OpenAi => body
            .get("safety_identifier")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| body.get("user").and_then(Value::as_str)),
        Dialect::Anthropic => body.get("metadata").and_then(|m| m.get("user_id")).and_then(Value::as_str),
    };
    named.filter(|s| !s.is_empty()).map(|s| s.chars().take(MAX_END_USER).collect())
}

/// `x-tollgate-end-user`: non-empty printable text of at most [`MAX_END_USER`] characters.
pub fn end_user_header(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > MAX_END_USER || v.chars().any(char::is_control) {
        return Err(format!("`{END_USER_HEADER}` must be 1 to {MAX_END_USER} printable characters"));
    }
    Ok(v.to_string())
}

fn tag_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')
}

/// `x-tollgate-tags: k=v,k=v`: at most [`MAX_TAGS`] distinct names of letters, digits and
/// `_-.:/`, each value of the same characters. Answers them sorted by name, joined as stored:
/// `env=prod,team=search` (no separator can occur inside a name or value).
pub fn parse_tags(v: &str) -> Result<String, String> {
    let mut tags: Vec<(&str, &str)> = Vec::new();
    for piece in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = piece
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("`{TAGS_HEADER}`: `{piece}` is not name=value"))?;
        if k.is_empty() || k.len() > MAX_TAG_KEY || !k.chars().all(tag_char) {
            return Err(format!(
                "`{TAGS_HEADER}`: a tag name must be 1 to {MAX_TAG_KEY} letters, digits or `_-.:/` (`{k}`)"
            ));
        }
        if val.is_empty() || val.len() > MAX_TAG_VALUE || !val.chars().all(tag_char) {
            return Err(format!(
                "`{TAGS_HEADER}`: the value of `{k}` must be 1 to {MAX_TAG_VALUE} letters, digits or `_-.:/`"
            ));
        }
        if tags.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("`{TAGS_HEADER}`: `{k}` is given twice"));
        }
        tags.push((k, val));
        if tags.len() > MAX_TAGS {
            return Err(format!("`{TAGS_HEADER}`: at most {MAX_TAGS} tags"));
        }
    }
    tags.sort();
    Ok(tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

/// The value of tag `name` in stored tags (`env=prod,team=search`).
pub fn tag_value<'a>(stored: &'a str, name: &str) -> Option<&'a str> {
    stored.split(',').find_map(|t| t.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_valid_traceparent_gives_its_trace_id_else_the_request_id_does() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent_trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            assert_eq!(traceparent_trace_id(bad), None, "{bad}");
        }
        assert_eq!(trace_id(Some(tp), "req_x"), "4bf92f3577b34da6a3ce929d0e0e4736");
        let own = "req_0193a7c2e0b57d31a2b4c6d8e0f21345";
        assert_eq!(trace_id(Some("bad"), own), "0193a7c2e0b57d31a2b4c6d8e0f21345");
        let theirs = trace_id(None, "client-request-1");
        assert_eq!((theirs.len(), theirs.clone()), (32, trace_id(None, "client-request-1")), "stable per request id");
        assert_ne!(theirs, trace_id(None, "client-request-2"));
    }

    #[test]
    fn end_users_come_from_each_dialects_field() {
        let o = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(end_user_of(Dialect::OpenAi, &o(json!({"user": "u1"}))).as_deref(), Some("u1"));
        let both = o(json!({"user": "u1", "safety_identifier": "s1"}));
        assert_eq!(end_user_of(Dialect::OpenAi, &both).as_deref(), Some("s1"));
        let a = o(json!({"metadata": {"user_id": "a1"}, "user": "not-read"}));
        assert_eq!(end_user_of(Dialect::Anthropic, &a).as_deref(), Some("a1"));
        assert_eq!(end_user_of(Dialect::OpenAi, &o(json!({"user": 5}))), None);
        let long = o(json!({"user": "x".repeat(1000)}));
        assert_eq!(end_user_of(Dialect::OpenAi, &long).unwrap().len(), MAX_END_USER);
        assert!(end_user_header(&"x".repeat(MAX_END_USER + 1)).is_err() && end_user_header(" ").is_err());
    }

    #[test]
    fn tags_are_bounded_and_stored_sorted() {
        assert_eq!(parse_tags("team=search, env=prod").unwrap(), "env=prod,team=search");
        assert_eq!(parse_tags("").unwrap(), "");
        assert_eq!(tag_value("env=prod,team=search", "team"), Some("search"));
        assert_eq!(tag_value("env=prod", "team"), None);
        let eleven: Vec<String> = (0..=MAX_TAGS).map(|i| format!("k{i}=v")).collect();
        for bad in [
            eleven.join(","),
            "team".into(),
            "team=a,team=b".into(),
            format!("k={}", "v".repeat(MAX_TAG_VALUE + 1)),
            format!("{}=v", "k".repeat(MAX_TAG_KEY + 1)),
            "te am=x".into(),
            "team=a=b".into(),
        ] {
            let err = parse_tags(&bad).unwrap_err();
            assert!(err.starts_with("`x-tollgate-tags`"), "{bad}: {err}");
        }
    }
}
