//! Converse's stop reasons and usage as they are on the wire. [`super`] and `convert` (the
//! mapping to the IR) both read and write them.

use serde_json::{Value, json};

use crate::billing::pricing::Usage;
use crate::protocol::ir::StopReason;
use crate::protocol::usage_count;

pub fn stop_reason_from_wire(s: &str) -> StopReason {
    match s {
        "tool_use" => StopReason::ToolUse,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

pub fn stop_reason_to_wire(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::PauseTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::Refusal => "content_filtered",
    }
}

/// Bedrock's `usage` object into the gateway's split (the same split: only names differ).
pub fn usage_from_wire(u: &Value) -> Usage {
    let n = |k: &str| usage_count::or_zero(u.get(k));
    Usage {
        input_tokens: n("inputTokens"),
        output_tokens: n("outputTokens"),
        cached_tokens: n("cacheReadInputTokens"),
        cache_write_tokens: n("cacheWriteInputTokens"),
        ..Usage::default()
    }
}

pub fn usage_to_wire(u: &Usage) -> Value {
    let mut v = json!({
        "inputTokens": u.input_tokens,
        "outputTokens": u.output_tokens,
        "totalTokens": u.input_tokens + u.cached_tokens + u.cache_write_tokens + u.output_tokens,
    });
    if u.cached_tokens > 0 {
        v["cacheReadInputTokens"] = json!(u.cached_tokens);
    }
    if u.cache_write_tokens > 0 {
        v["cacheWriteInputTokens"] = json!(u.cache_write_tokens);
    }
    v
}
