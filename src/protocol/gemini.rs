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
mod wire;

use serde_json::{Value, json};

pub use self::convert::{
    accepts_image_type, parse_request, parse_response, request_from_ir, request_to_ir, response_from_ir, response_to_ir,
};
pub use self::wire::{
    Blob, Candidate, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionResponse, GENERATED_ID_PREFIX,
    GenerateContentRequest, GenerateContentResponse, GenerationConfig, ThinkingConfig, ToolConfig, UsageMetadata,
    WirePart, finish_reason_from_wire, finish_reason_to_wire,
};

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
