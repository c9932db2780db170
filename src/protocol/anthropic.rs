//! The Anthropic Messages dialect: wire types of `/v1/messages` requests, responses, usage
//! and errors, and their conversion to and from the canonical [`ir`] form.
//!
//! Deliberate losses, Anthropic request → IR (→ another dialect):
//! - `top_k`, `thinking` and `cache_control` (of system, text, image and tool definitions)
//!   are kept in the IR but the OpenAI dialect cannot express them (see `openai::chat`);
//!   `cache_control` on tool_use and tool_result blocks is dropped (the IR has no place for
//!   it: such breakpoints only matter to Anthropic, and same-dialect traffic passes through).
//! - Text-block `citations` of responses are dropped (no other dialect has them).
//! - `output_config.format` (and the beta `output_format`) become a strict `json_schema`
//!   response format; `output_config.effort` and `thinking` (a budget, or `adaptive`) are
//!   kept in the IR, each dialect expressing them its own way (OpenAI `reasoning_effort`,
//!   Gemini `thinkingConfig`, Bedrock `thinking` or `reasoningConfig`); `thinking.display`
//!   has no equivalent and is dropped.
//! - System-role entries inside `messages` (as Claude Code sends them) are kept in place
//!   (text blocks only): OpenAI gets `system` messages where they were, Gemini the leading
//!   ones in `systemInstruction` and later ones as user text in place, Bedrock all of them
//!   in `system` in order (Converse has no system role in `messages`).
//! - Top-level fields this module does not know (`service_tier`, `container`,
//!   `mcp_servers`, `context_management`, ...) are dropped with a debug log: they
//!   configure Anthropic features that another provider does not have.
//! - `metadata.user_id` passes as the end-user id as it is (Claude Code sends a JSON string
//!   there).
//!
//! - A document's `context` and `citations` settings are dropped (no other dialect has them).
//! - `metadata` fields other than `user_id` are dropped (`user_id` becomes OpenAI `user`).
//! - The `anthropic-beta` header is forwarded to Anthropic providers only (an allowlisted
//!   client header); the features it turns on do not exist elsewhere. `anthropic-version` is
//!   accepted and not required: the gateway speaks `2023-06-01`, the one version there is.
//! - `count_tokens` against a provider without a counting endpoint answers the gateway's own
//!   estimate (`billing::estimate`), which is what admission reserves on; calls are always
//!   charged on the provider's reported usage.
//!
//! Rejected (an error string the gateway answers with a 400): content blocks other than
//! text, image, document, tool_use, tool_result, thinking and redacted_thinking (search
//! results, server tool blocks); Anthropic-defined tools (`bash_...`, `web_search_...`);
//! image sources other than base64 and url; document sources other than base64 (plain
//! text, url, content and file documents).
//!
//! Deliberate losses, IR → Anthropic response: the service tier the provider named (it prices
//! the call, read before conversion; the converted answer names none), the reasoning-token
//! count (Anthropic usage has none; the tokens are still in `output_tokens`).
//!
//! Deliberate losses, IR → Anthropic request:
//! - OpenAI `json_schema` becomes `output_config.format` (structured outputs); the schema's
//!   `name`, `description` and `strict` have no Anthropic field and are dropped (Anthropic's
//!   structured outputs are always strict). OpenAI `json_object` is rejected: Anthropic has
//!   no schemaless JSON mode, and pretending would garble the contract the client relies on.
//! - Thinking without a signature (OpenAI-compatible `reasoning_content`) is not replayed:
//!   Anthropic rejects unsigned thinking blocks.
//! - Empty text parts are left out (Anthropic rejects empty text blocks), and a message left
//!   with no content at all is skipped.

mod convert;
mod wire;

use serde_json::{Map, Value, json};

pub use self::convert::{
    answer_output_bytes, parse_count_tokens_request, parse_request, parse_response, request_from_ir, request_to_ir,
    response_from_ir, response_to_ir, usage_of,
};
pub use self::wire::{
    Block, MessagesRequest, MessagesResponse, Metadata, WireCacheCreation, WireDocumentSource, WireImageSource,
    WireMessage, WireToolChoice, WireUsage, stop_reason_from_wire, stop_reason_to_wire,
};
use crate::billing::price_shapes::ServiceTier;
use crate::billing::pricing::Usage;
use crate::protocol::usage_count;

/// What the gateway reads of a `/v1/messages` body before routing it, and the body itself
/// (which an Anthropic provider gets unchanged but for `model`).
#[derive(Debug)]
pub struct Envelope {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
}

/// Checks the fields every Messages request must have (`model`, `messages`, `max_tokens`;
/// `stream` a boolean if present) and reads them; errors are messages for a 400. The
/// content itself is checked where it is converted, or by the provider it passes through to.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    let body = super::json_object(bytes)?;
    let model = super::model_of(&body).map_err(|e| format!("model: {e}"))?;
    if !matches!(body.get("messages"), Some(Value::Array(_))) {
        return Err("messages: must be an array of messages".into());
    }
    match body.get("max_tokens") {
        Some(v) if v.as_u64().is_some_and(|n| n >= 1) => {}
        None => return Err("max_tokens: Field required".into()),
        Some(_) => return Err("max_tokens: must be a positive integer".into()),
    }
    let stream = super::stream_flag(&body).map_err(|e| format!("stream: {e}"))?;
    Ok(Envelope { body, model, stream })
}

/// Folds the `usage` object of a stream event (`message_start`'s `message.usage`,
/// `message_delta`'s `usage`) into `usage`; fields absent from it keep their value (a
/// `message_delta` usually carries only `output_tokens`).
pub fn fold_stream_usage(usage: &mut Usage, u: &Value) {
    let int = |k: &str| u.get(k).and_then(usage_count::of_value);
    if let Some(n) = int("input_tokens") {
        usage.input_tokens = n;
    }
    if let Some(n) = int("output_tokens") {
        usage.output_tokens = n;
    }
    if let Some(n) = int("cache_read_input_tokens") {
        usage.cached_tokens = n;
    }
    if let Some(n) = int("cache_creation_input_tokens") {
        usage.cache_write_tokens = n;
    }
    if let Some(n) = u.pointer("/cache_creation/ephemeral_1h_input_tokens").and_then(usage_count::of_value) {
        usage.cache_write_1h_tokens = n;
    }
    if let Some(t) = u.get("service_tier").and_then(Value::as_str) {
        usage.service_tier = ServiceTier::from_wire(t);
    }
}

/// What one event of an Anthropic stream (its parsed data) is to a relay passing it on.
#[derive(Debug, PartialEq)]
pub enum StreamEvent<'a> {
    /// `message_start`, with `message.usage`: what is known before the answer.
    Start(Option<&'a Value>),
    /// `message_delta`, with `usage`: the final usage.
    Delta(Option<&'a Value>),
    /// `message_stop`: the end of the answer.
    Stop,
    /// `error`: the provider's message.
    Error(&'a str),
    /// Any other event (content blocks, `ping`, events added later).
    Other,
}

/// Reads the `type` of one stream event's data, and the usage or error it carries.
pub fn stream_event(data: &Value) -> StreamEvent<'_> {
    match data.get("type").and_then(Value::as_str) {
        Some("message_start") => StreamEvent::Start(data.pointer("/message/usage")),
        Some("message_delta") => StreamEvent::Delta(data.get("usage")),
        Some("message_stop") => StreamEvent::Stop,
        Some("error") => StreamEvent::Error(error_message(data)),
        _ => StreamEvent::Other,
    }
}

/// The message of an `error` event's data (empty when it names none).
pub fn error_message(data: &Value) -> &str {
    data.pointer("/error/message").and_then(Value::as_str).unwrap_or("")
}

/// Anthropic's keep-alive event.
pub const PING_EVENT: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

/// An `event: error` carrying an error body of `kind`.
pub fn error_event(kind: &str, message: &str) -> String {
    format!("event: error\ndata: {}\n\n", error_body(kind, message))
}

// ---------------------------------------------------------------------------------------
// Errors

/// Bytes of generated text in one stream event's data: text, thinking and tool-input deltas,
/// and a tool call's name when its block starts (0 for every other event).
pub fn event_output_bytes(data: &Value) -> usize {
    let len = |v: Option<&Value>| v.and_then(Value::as_str).map_or(0, str::len);
    match data.get("type").and_then(Value::as_str) {
        Some("content_block_delta") => {
            let d = data.get("delta");
            ["text", "thinking", "partial_json"].iter().map(|f| len(d.and_then(|d| d.get(*f)))).sum()
        }
        Some("content_block_start") => {
            let b = data.get("content_block");
            len(b.and_then(|b| b.get("text"))) + len(b.and_then(|b| b.get("name")))
        }
        _ => 0,
    }
}

/// The Anthropic error `type` for an HTTP status.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

/// An error body in the Anthropic shape: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// A `/v1/messages/count_tokens` response body.
pub fn count_tokens_response(input_tokens: i64) -> Value {
    json!({"input_tokens": input_tokens})
}

/// A provider's `count_tokens` answer carries a whole-number `input_tokens`.
pub fn is_count_tokens_response(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("input_tokens").is_some_and(Value::is_i64))
}

/// A `GET /v1/models` body in the Anthropic shape, for clients that send
/// `anthropic-version`. Each entry is (model id, creation time as RFC 3339); the list is
/// complete, so there is never a next page.
pub fn models_list(models: &[(String, String)]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|(id, created_at)| json!({"type": "model", "id": id, "display_name": id, "created_at": created_at}))
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": models.first().map(|m| m.0.clone()),
        "last_id": models.last().map(|m| m.0.clone()),
    })
}

#[cfg(test)]
mod tests;
