//! The Gemini API dialect: `models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` request and response shapes, usage and errors, and
//! their conversion to and from the canonical [`ir`](super::ir) form.
//!
//! Mapping (IR → Gemini request): system prompt → `systemInstruction`; assistant →
//! role `model`; text, inline images and PDFs (`inlineData`), tool calls
//! (`functionCall`, arguments as `args`), tool results (`functionResponse` with the call's
//! `name`, looked up from the call earlier in the conversation, and `response`
//! `{"result": text}` or `{"error": text}`); tools → one `functionDeclarations` entry with
//! `parametersJsonSchema` (full JSON Schema, unlike the OpenAPI subset of `parameters`);
//! tool_choice → `toolConfig.functionCallingConfig` (`auto` AUTO, `none` NONE, `required`
//! ANY, a named tool ANY + `allowedFunctionNames`); JSON mode → `responseMimeType:
//! application/json`, a schema → `responseJsonSchema`; stop sequences, temperature, top_p,
//! top_k, max tokens → `generationConfig`; a thinking budget → `thinkingConfig`
//! (`thinkingBudget`, `includeThoughts: true`); an effort without a budget (Anthropic
//! `output_config.effort`) → `thinkingLevel` (`low` up to low, else `high`) on Gemini 3, a
//! `thinkingBudget` of its level on Gemini 2.5 (minimal 1024, low 4096, medium 8192, high and
//! max 24576), nothing on older models (they do not think); adaptive thinking alone →
//! nothing (Gemini 2.5 and later think dynamically by default). System-role messages
//! (Anthropic entries inside `messages`): the leading ones join `systemInstruction`, later
//! ones go as user text where they were said (Gemini has no system role in `contents`).
//!
//! Thinking: a thought part (`thought: true`) is a thinking block, its `thoughtSignature`
//! the block's signature, byte-exact. Gemini also puts signatures on text and
//! `functionCall` parts; such a signature is carried as an empty thinking block (no text,
//! the signature) just before the part, and goes back onto the next part when the
//! conversation returns to Gemini, so clients of any dialect that replay thinking blocks
//! replay Gemini's signatures where Gemini wants them.
//!
//! Finish reasons are mapped, not copied: `STOP` is `end_turn` (`tool_use` when the answer
//! has function calls), `MAX_TOKENS` is `max_tokens`, the safety family (`SAFETY`,
//! `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `IMAGE_SAFETY`, ...) and a
//! blocked prompt (`promptFeedback.blockReason`) are `refusal`; anything else
//! (`MALFORMED_FUNCTION_CALL`, `OTHER`, reasons added later) is `end_turn`.
//!
//! Usage: `promptTokenCount` includes `cachedContentTokenCount`, so uncached input is the
//! difference; `toolUsePromptTokenCount` is billed as input; `candidatesTokenCount`
//! excludes `thoughtsTokenCount`, so output is their sum and reasoning the thoughts.
//!
//! Deliberate losses, IR → Gemini: `cache_control` (Gemini caches implicitly or through
//! `cachedContent`, which the IR does not carry), `parallel_tool_calls: false` (no Gemini
//! setting), the end-user id, redacted thinking and unsigned thinking (no Gemini form), a
//! document's title, the names of JSON schemas (`name`, `description`, `strict`), and tool
//! ids the gateway made up for Gemini calls that had none (they are not Gemini's). Images
//! inside a tool result travel as `inlineData` parts right after the `functionResponse`.
//! Refused: image URLs (Gemini takes only its own `fileData` URIs: the gateway fetches a URL
//! itself and swaps the bytes in before conversion, see `gateway/images.rs`; one that still
//! reaches here is refused), a tool result whose call is not in the conversation (Gemini
//! needs its name), documents other than inline PDF.
//!
//! Deliberate losses, Gemini → IR: candidates other than the first, `safetyRatings`,
//! `citationMetadata`, grounding, `logprobs`, and parts with no IR form
//! (`executableCode`, `codeExecutionResult`, generated `inlineData`, `fileData` in answers);
//! which stop sequence matched (Gemini does not say: it is `end_turn`). Function calls
//! without an `id` get one (`call_gemini_<response id>_<n>`).
//!
//! Deliberate losses, Gemini request → IR (the inbound direction, used to read Gemini
//! bodies back): `safetySettings`, `cachedContent`, `candidateCount` and tools other than
//! function declarations are refused if they would change the answer (`candidateCount`
//! above 1, non-function tools) and dropped otherwise.

pub(crate) mod convert;
pub mod embeddings;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use self::convert::{
    accepts_image_type, parse_request, parse_response, request_from_ir, request_to_ir, response_from_ir, response_to_ir,
};
use super::ir::StopReason;
use crate::billing::pricing::{Usage, reported};
use crate::protocol::usage_count;

/// Prefix of tool ids the gateway gives function calls that came without one.
pub const GENERATED_ID_PREFIX: &str = "call_gemini_";

/// A `generateContent` request body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    #[serde(default)]
    pub contents: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Tool objects: `functionDeclarations`, or Google tools (`googleSearch`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// `safetySettings`, `cachedContent` and fields added later.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<WirePart>,
}

/// One part. Gemini's part is a union written as optional fields; exactly one data field
/// is set, and `thought` / `thoughtSignature` may accompany it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// `executableCode`, `codeExecutionResult`, `videoMetadata`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    /// Base64.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub file_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub response: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The OpenAPI-subset schema (read, never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThinkingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
    /// Gemini 3's coarse setting (`low`, `high`) in place of a budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
}

/// A `GenerateContentResponse`: the whole answer, or one stream chunk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// Usage as Gemini reports it; every count may be absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub prompt_token_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub candidates_token_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub cached_content_token_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub thoughts_token_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub tool_use_prompt_token_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "usage_count::optional")]
    pub total_token_count: Option<i64>,
}

impl UsageMetadata {
    /// Into the gateway's split (see the module notes).
    pub fn to_usage(self) -> Usage {
        let n = |v: Option<i64>| reported(v.unwrap_or(0));
        let cached = n(self.cached_content_token_count);
        let thoughts = n(self.thoughts_token_count);
        Usage {
            input_tokens: (n(self.prompt_token_count) - cached).max(0) + n(self.tool_use_prompt_token_count),
            cached_tokens: cached,
            output_tokens: n(self.candidates_token_count) + thoughts,
            reasoning_tokens: thoughts,
            ..Usage::default()
        }
    }

    /// From the gateway's split. Gemini has no cache writes: they count as prompt tokens.
    pub fn from_usage(u: &Usage) -> UsageMetadata {
        let prompt = u.input_tokens + u.cached_tokens + u.cache_write_tokens;
        let nonzero = |v: i64| (v > 0).then_some(v);
        UsageMetadata {
            prompt_token_count: Some(prompt),
            candidates_token_count: Some(u.output_tokens - u.reasoning_tokens),
            cached_content_token_count: nonzero(u.cached_tokens),
            thoughts_token_count: nonzero(u.reasoning_tokens),
            tool_use_prompt_token_count: None,
            total_token_count: Some(prompt + u.output_tokens),
        }
    }
}

/// A Gemini `finishReason` in the gateway's vocabulary; `has_calls` turns `STOP` into
/// `tool_use` (Gemini ends a function-calling turn with `STOP`).
pub fn finish_reason_from_wire(reason: &str, has_calls: bool) -> StopReason {
    match reason {
        "STOP" if has_calls => StopReason::ToolUse,
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "LANGUAGE"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => StopReason::Refusal,
        _ if has_calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

pub fn finish_reason_to_wire(r: StopReason) -> &'static str {
    match r {
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::Refusal => "SAFETY",
        StopReason::EndTurn | StopReason::StopSequence | StopReason::ToolUse | StopReason::PauseTurn => "STOP",
    }
}

/// The request path for `model`: `/v1beta/models/{model}:generateContent`, or the SSE
/// stream form. Model names with characters that would change the URL are refused.
pub fn endpoint_path(model: &str, stream: bool) -> Result<String, String> {
    check_model_name(model)?;
    Ok(if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    })
}

/// Refuses a model name with characters that would change the URL it goes in.
fn check_model_name(model: &str) -> Result<(), String> {
    let ok = !model.is_empty() && model.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok { Ok(()) } else { Err(format!("`{model}` is not a valid Gemini model name")) }
}

/// Reads a Google error body (`{"error": {"code", "message", "status"}}`) as (status,
/// message).
pub fn parse_error(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    error_of(&v)
}

/// The (status, message) of an `error` object inside a body or a stream chunk.
pub fn error_of(v: &Value) -> Option<(String, String)> {
    let e = v.get("error")?;
    let status = e.get("status").and_then(Value::as_str).unwrap_or("UNKNOWN");
    let msg = e.get("message").and_then(Value::as_str).unwrap_or("the provider reported an error");
    Some((status.to_string(), msg.to_string()))
}

/// The Anthropic error `type` for a Google error `status`.
pub fn anthropic_error_type(status: &str) -> &'static str {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => "invalid_request_error",
        "UNAUTHENTICATED" => "authentication_error",
        "PERMISSION_DENIED" => "permission_error",
        "NOT_FOUND" => "not_found_error",
        "RESOURCE_EXHAUSTED" => "rate_limit_error",
        "UNAVAILABLE" => "overloaded_error",
        "DEADLINE_EXCEEDED" => "timeout_error",
        _ => "api_error",
    }
}

/// A Google error body, for symmetry with the other dialects (tests, the mock).
pub fn error_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

#[cfg(test)]
mod tests;
