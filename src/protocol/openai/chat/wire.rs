//! Chat Completions' finish reasons and usage as they are on the wire. [`super`] (the request
//! and response reader) and `from_ir` (the writer) both use them.

use serde_json::{Value, json};

use crate::billing::pricing::Usage;
use crate::protocol::ir::StopReason;
use crate::protocol::usage_count;

pub fn finish_reason_from_wire(s: &str) -> Option<StopReason> {
    Some(match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::Refusal,
        _ => return None,
    })
}

pub fn finish_reason_to_wire(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::PauseTurn => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal => "content_filter",
    }
}

/// Usage in the OpenAI shape: `prompt_tokens` counts every prompt token, cached or not.
pub fn usage_to_wire(u: &Usage) -> Value {
    let prompt = u.input_tokens + u.cached_tokens + u.cache_write_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": u.output_tokens,
        "total_tokens": prompt + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// Usage from an OpenAI `usage` object (`None` for null or a non-object).
pub fn usage_from_wire(v: &Value) -> Option<Usage> {
    if !v.is_object() {
        return None;
    }
    let int = |p: &str| usage_count::or_zero(v.pointer(p));
    let cached = int("/prompt_tokens_details/cached_tokens");
    Some(Usage {
        input_tokens: (int("/prompt_tokens") - cached).max(0),
        cached_tokens: cached,
        output_tokens: int("/completion_tokens"),
        reasoning_tokens: int("/completion_tokens_details/reasoning_tokens"),
        ..Usage::default()
    })
}
