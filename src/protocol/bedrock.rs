//! The Amazon Bedrock Converse dialect: `POST /model/{modelId}/converse` and
//! `/converse-stream` request and response shapes, stop reasons, usage and errors, and their
//! conversion to and from the canonical [`ir`](super::ir) form. The stream's binary framing
//! is [`super::eventstream`]; its events are translated by
//! [`super::stream::bedrock_to_anthropic`].
//!
//! Mapping (IR → Converse request): system prompt → `system` text blocks; text → `text`;
//! inline images → `image` (`format` from the media type: png, jpeg, gif, webp; `source.bytes`
//! base64); inline PDFs → `document` (`format: pdf`, `name` from the title, cleaned to
//! Bedrock's allowed characters, or `document N`); tool calls → `toolUse`, tool results →
//! `toolResult` (`status: error` for errors); signed thinking → `reasoningContent.
//! reasoningText` with its `signature`, redacted thinking → `reasoningContent.
//! redactedContent`, both byte-exact; `cache_control` → a `cachePoint` block right after the
//! marked system block, content block or tool; tools → `toolConfig.tools[].toolSpec`
//! (`inputSchema.json`); tool_choice `auto` / `required` / a named tool → `auto` / `any` /
//! `tool`; max tokens, temperature, top_p, stop sequences → `inferenceConfig`; top_k and the
//! thinking budget → `additionalModelRequestFields` (`top_k`, `thinking`), the fields
//! Anthropic models on Bedrock read. Adaptive thinking or an effort without a budget
//! (Anthropic `thinking: {type: adaptive}`, `output_config.effort`) → on Claude models a
//! `thinking` budget of the effort's level (minimal 1024, low 4096, medium (also adaptive
//! alone) 16384, high 32768, max 65536), capped below `max_tokens` and left out under 1024
//! (Anthropic's floor); on Nova 2 models `reasoningConfig` (`maxReasoningEffort` low,
//! medium or high); other models take no reasoning setting (dropped). System-role messages
//! (Anthropic entries inside `messages`) join `system` after the system prompt, in order:
//! Converse has no system role in `messages`, so where they were said is lost.
//!
//! Stop reasons are mapped: `end_turn`, `tool_use`, `max_tokens`, `stop_sequence` as named;
//! `model_context_window_exceeded` is `max_tokens`; `guardrail_intervened` and
//! `content_filtered` are `refusal`; anything else is `end_turn`. Usage: `inputTokens`
//! excludes `cacheReadInputTokens` and `cacheWriteInputTokens`, which is the gateway's
//! split already.
//!
//! Refused (a 400 in the caller's dialect): JSON mode and JSON schemas (Converse has no
//! response format; pretending would break the client's contract), tool_choice `none` when
//! the conversation already holds tool calls (Converse cannot forbid calls, and tools cannot
//! be left out once the conversation uses them; with no tool blocks the tools are simply
//! not sent), image URLs (Converse takes only bytes or S3 locations: the gateway fetches
//! a URL itself and swaps the bytes in before conversion, see `gateway/images.rs`; one
//! that still reaches here is refused), image types other than png, jpeg, gif and webp.
//!
//! Deliberate losses, IR → Bedrock: `parallel_tool_calls: false` (no Converse setting), the
//! end-user id, unsigned thinking (from OpenAI-compatible providers; Bedrock wants the
//! signature), the kind of a cache marker (`ttl`: Converse has one kind of cache point).
//! Bedrock → IR: `metrics`, `trace`, `performanceConfig`, citations and guardrail content,
//! which stop sequence matched (Converse does not say), generated images. Bedrock bodies
//! carry no message id: the caller names the message (the request id).

mod convert;
pub mod embeddings;
mod wire;

pub use self::convert::{
    accepts_image_type, parse_request, parse_response, request_from_ir, request_to_ir, response_from_ir, response_to_ir,
};
pub use self::wire::{stop_reason_from_wire, stop_reason_to_wire, usage_from_wire, usage_to_wire};

/// The request path for `model_id`: `/model/{id}/converse` or `/converse-stream`, the id
/// percent-encoded (ids and ARNs hold `:` and `/`).
pub fn endpoint_path(model_id: &str, stream: bool) -> Result<String, String> {
    model_path(model_id, if stream { "converse-stream" } else { "converse" })
}

/// `/model/{id}/{action}`, the id percent-encoded.
fn model_path(model_id: &str, action: &str) -> Result<String, String> {
    if model_id.is_empty() {
        return Err("a Bedrock model id is required".into());
    }
    let mut id = String::with_capacity(model_id.len());
    for b in model_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            id.push(b as char);
        } else {
            id.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("/model/{id}/{action}"))
}

/// The Anthropic error `type` for a Bedrock exception name (`x-amzn-errortype` or a stream
/// exception's `:exception-type`, either case).
pub fn anthropic_error_type(exception: &str) -> &'static str {
    let e = exception.split(':').next().unwrap_or("").to_ascii_lowercase();
    match e.as_str() {
        "validationexception" => "invalid_request_error",
        "accessdeniedexception" | "unrecognizedclientexception" => "permission_error",
        "resourcenotfoundexception" => "not_found_error",
        "throttlingexception" | "servicequotaexceededexception" => "rate_limit_error",
        "serviceunavailableexception" | "modelnotreadyexception" => "overloaded_error",
        "modeltimeoutexception" => "timeout_error",
        _ => "api_error",
    }
}

#[cfg(test)]
mod tests;
