//! Responses usage as it is on the wire. [`super`] (the reader) and `convert` (the writer)
//! both use it.

use serde_json::{Value, json};

use crate::billing::pricing::Usage;
use crate::protocol::usage_count;

/// Usage in the gateway's convention from a Responses `usage` object.
pub fn usage_from_wire(u: &Value) -> Usage {
    let n = |p: &str| usage_count::or_zero(u.pointer(p));
    let cached = n("/input_tokens_details/cached_tokens");
    Usage {
        input_tokens: (n("/input_tokens") - cached).max(0),
        output_tokens: n("/output_tokens"),
        cached_tokens: cached,
        reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
        ..Usage::default()
    }
}

/// Usage in the Responses shape (the inverse of [`usage_from_wire`]; cache writes are input).
pub fn usage_to_wire(u: &Usage) -> Value {
    let input = u.input_tokens + u.cached_tokens + u.cache_write_tokens;
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": input + u.output_tokens,
    })
}
