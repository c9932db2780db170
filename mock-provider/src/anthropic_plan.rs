//! One Messages reply as decided, and the wire pieces its JSON body ([`crate::anthropic`]) and
//! its stream ([`crate::anthropic_stream`]) share: the stop reason's name and the `usage`
//! object.

use serde_json::{Value, json};

use crate::reply::{Answer, Finish, Tokens};

/// The decided reply to one Messages request.
pub(crate) struct Plan {
    pub id: String,
    pub model: String,
    pub answer: Answer,
    pub tokens: Tokens,
}

/// The Anthropic name of a finish reason.
pub(crate) fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolUse => "tool_use",
    }
}

/// The `usage` object with Anthropic's cache semantics: `input_tokens` excludes cache reads
/// and writes.
pub(crate) fn usage(tokens: &Tokens, output_tokens: u64) -> Value {
    let mut usage = json!({
        "input_tokens": tokens.uncached_prompt(),
        "cache_creation_input_tokens": tokens.cache_write,
        "cache_read_input_tokens": tokens.cached,
        "output_tokens": output_tokens,
    });
    if tokens.cache_write_1h > 0 {
        usage["cache_creation"] = json!({
            "ephemeral_5m_input_tokens": tokens.cache_write - tokens.cache_write_1h,
            "ephemeral_1h_input_tokens": tokens.cache_write_1h,
        });
    }
    if let Some(tier) = tokens.service_tier {
        usage["service_tier"] = json!(tier);
    }
    usage
}
