//! The `generateContent` bodies as they are on the wire: request, response (or stream chunk),
//! parts, usage and finish reasons. [`super`] reads and writes them; `convert` maps them to
//! the IR.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::billing::pricing::{Usage, reported};
use crate::protocol::ir::StopReason;
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
