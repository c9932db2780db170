//! A provider's error body, whatever its protocol, read for its message only: the gateway
//! renders its own error in the client's dialect and keeps the provider's words for the record
//! (and, for the client's own mistakes, in the message it relays).

use serde_json::Value;

/// The human message of a provider's error body: `error.message` (OpenAI, Anthropic, Google:
/// `{"error": {"message", ...}}`), else a top-level `message` (Bedrock, some OpenAI-compatible
/// servers) or `Message` (other AWS services). `None` when the body is not JSON or names no
/// message.
pub fn provider_error(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let m = v.pointer("/error/message").or_else(|| v.get("message")).or_else(|| v.get("Message"))?;
    m.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::provider_error;

    #[test]
    fn every_protocols_error_body_gives_its_message() {
        let openai =
            br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(provider_error(openai).as_deref(), Some("Rate limit reached"));
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(provider_error(anthropic).as_deref(), Some("Overloaded"));
        let gemini = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(provider_error(gemini).as_deref(), Some("Quota exceeded"));
        assert_eq!(provider_error(br#"{"message":"Too many requests"}"#).as_deref(), Some("Too many requests"));
        assert_eq!(provider_error(br#"{"Message":"Forbidden"}"#).as_deref(), Some("Forbidden"));
    }

    #[test]
    fn a_body_without_a_message_gives_none() {
        assert_eq!(provider_error(b"<html>"), None);
        assert_eq!(provider_error(b"not json"), None);
        assert_eq!(provider_error(br#"{"error":{"type":"api_error"}}"#), None);
        assert_eq!(provider_error(br#"{"error":{"message":42}}"#), None);
    }
}
