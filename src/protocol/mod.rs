//! Wire formats, and nothing else: pure types and functions with no I/O, so they can be
//! unit-tested and fuzzed. Only this module knows what a dialect's JSON and SSE look like.
//!
//! Conversion goes through one canonical form, [`ir`]: each dialect has `request_to_ir` /
//! `request_from_ir` and `response_to_ir` / `response_from_ir` ([`openai::chat`],
//! [`anthropic`]), and [`stream`] holds one state machine per streaming direction.
//! Same-dialect traffic does not come here: it passes through (see [`openai`]).
//!
//! How a handler converts (errors from `parse_*` / `request_from_ir` are 400 messages):
//!
//! | inbound → provider | request | non-streamed response | stream |
//! |---|---|---|---|
//! | OpenAI → Anthropic | `openai::chat::parse_request`, then `anthropic::request_from_ir` | `anthropic::parse_response`, then `openai::chat::response_from_ir` | `SseTranslator::new(AnthropicToOpenAi::new(model, created, ir.include_usage))` |
//! | Anthropic → OpenAI | `anthropic::parse_request`, then `openai::chat::request_from_ir` | `openai::chat::parse_response`, then `anthropic::response_from_ir` | `SseTranslator::new(OpenAiToAnthropic::new(model))` |
//! | Anthropic → Gemini | `anthropic::parse_request`, then `gemini::request_from_ir` (path: `gemini::endpoint_path`) | `gemini::parse_response`, then `anthropic::response_from_ir` | `SseTranslator::new(GeminiToAnthropic::new(model))` |
//! | OpenAI → Gemini | `openai::chat::parse_request`, then `gemini::request_from_ir` | `gemini::parse_response`, then `openai::chat::response_from_ir` | `SseTranslator::new(ViaAnthropic::new(GeminiToAnthropic::new(model), AnthropicToOpenAi::new(model, created, ir.include_usage)))` |
//! | Anthropic → Bedrock | `anthropic::parse_request`, then `bedrock::request_from_ir` (path: `bedrock::endpoint_path`, signed by `providers::sigv4`) | `bedrock::parse_response(body, id)`, then `anthropic::response_from_ir` | `EventStreamTranslator::new(BedrockToAnthropic::new(model, id))` |
//! | OpenAI → Bedrock | `openai::chat::parse_request`, then `bedrock::request_from_ir` | `bedrock::parse_response(body, id)`, then `openai::chat::response_from_ir` | `EventStreamTranslator::new(ViaAnthropic::new(BedrockToAnthropic::new(model, id), AnthropicToOpenAi::new(model, created, ir.include_usage)))` |
//!
//! Set `model` on the IR to the upstream name before `request_from_ir`, and to the client's
//! name on a response before `response_from_ir`. A stream machine's `usage()` is what to bill,
//! at any point; `fail(message)` reports a gateway-side failure in-band. Both stream wrappers
//! implement [`stream::ByteTranslator`], so a relay drives either framing the same way.
//! Errors of a provider (non-2xx bodies) are read with `gemini::parse_error` (Google
//! `status` → `gemini::anthropic_error_type`) and `bedrock::parse_error` (the
//! `x-amzn-errortype` header → `bedrock::anthropic_error_type`).

use serde_json::{Map, Value};

pub mod anthropic;
pub mod attribution;
pub mod bedrock;
pub mod dialect;
pub mod embeddings;
pub mod eventstream;
pub mod gemini;
pub mod invariants;
pub mod ir;
pub mod openai;
pub mod probe;
pub mod sse;
pub mod stream;
pub mod usage_cost;
pub mod usage_count;

pub use dialect::{Dialect, Protocol};

/// Why a whole (non-streamed) provider body is not an answer of its protocol: it is not a JSON
/// object, or it lacks the member every answer of its kind has (`member`: OpenAI `choices` or
/// embeddings' `data`, Anthropic `content`, Bedrock `output`; an array or an object);
/// `None` when it is an answer. Read without
/// building the values (members are borrowed raw), so it costs one scan of the body.
pub fn not_an_answer(body: &[u8], member: Option<&str>) -> Option<String> {
    use std::borrow::Cow;
    use std::collections::HashMap;
    let members = match serde_json::from_slice::<HashMap<Cow<str>, &serde_json::value::RawValue>>(body) {
        Ok(m) => m,
        Err(_) => {
            let start = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
            return Some(format!("the body is not a JSON object (it starts {start:?})"));
        }
    };
    let member = member?;
    match members.get(member) {
        Some(v) if v.get().starts_with(['[', '{']) => None,
        Some(_) => Some(format!("`{member}` is not an array or object")),
        None if members.contains_key("error") => Some("the body is an error object".into()),
        None => Some(format!("the body has no `{member}`")),
    }
}

/// A request body that must be a JSON object; errors are messages for a 400.
fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(e) => Err(format!("the request body is not valid JSON: {e}")),
    }
}

/// A body's non-empty `model`; the error is said of the field.
fn model_of(body: &Map<String, Value>) -> Result<String, &'static str> {
    match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => Ok(m.clone()),
        Some(Value::String(_)) | None => Err("is required: you must provide a model parameter"),
        Some(_) => Err("must be a string"),
    }
}

/// A body's `stream` flag (absent or null: false); the error is said of the field.
fn stream_flag(body: &Map<String, Value>) -> Result<bool, &'static str> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("must be a boolean"),
    }
}

#[cfg(test)]
mod golden;

#[cfg(test)]
mod tests;
