//! The streamed Anthropic reply: `message_start` (with usage), `ping`, one
//! `content_block_start`/`_delta`/`_stop` run per block (thinking with its `signature_delta`,
//! text, `tool_use` with `input_json_delta`), `message_delta` (stop reason, output tokens),
//! `message_stop`; `event: error` when the scenario fails the stream.

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::anthropic::{Plan, stop_reason, usage};
use crate::errors;
use crate::options::Effective;
use crate::reply::Reply;
use crate::script::Script;

/// One named SSE event.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The `event: error` Anthropic sends when a stream fails after it started.
fn stream_error() -> Bytes {
    let data = String::from_utf8_lossy(&errors::anthropic_body(529, errors::STREAM_ERROR)).into_owned();
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

/// One content block: its start object and its deltas (each a content chunk), plus deltas
/// that close it without counting as content (the thinking signature).
struct Block {
    start: Value,
    deltas: Vec<Value>,
    closing: Option<Value>,
}

fn blocks(plan: &Plan) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(thinking) = &plan.answer.thinking {
        blocks.push(Block {
            start: json!({"type": "thinking", "thinking": ""}),
            deltas: thinking.pieces.iter().map(|p| json!({"type": "thinking_delta", "thinking": p})).collect(),
            closing: Some(json!({"type": "signature_delta", "signature": thinking.signature})),
        });
    }
    match &plan.answer.reply {
        Reply::Text(pieces) => blocks.push(Block {
            start: json!({"type": "text", "text": ""}),
            deltas: pieces.iter().map(|p| json!({"type": "text_delta", "text": p})).collect(),
            closing: None,
        }),
        Reply::Tools(calls) => blocks.extend(calls.iter().map(|c| Block {
            start: json!({"type": "tool_use", "id": c.id, "name": c.name, "input": {}}),
            deltas: c.fragments().iter().map(|f| json!({"type": "input_json_delta", "partial_json": f})).collect(),
            closing: None,
        })),
    }
    blocks
}

fn script<'e>(plan: &Plan, eff: &'e Effective) -> Script<'e> {
    let mut script = Script::new(eff);
    let mut message = json!({
        "id": plan.id, "type": "message", "role": "assistant", "model": plan.model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": usage(&plan.tokens, 1),
    });
    if eff.no_usage
        && let Some(m) = message.as_object_mut()
    {
        m.remove("usage");
    }
    script.send(event("message_start", &json!({"type": "message_start", "message": message})));
    for (index, block) in blocks(plan).into_iter().enumerate() {
        let start = json!({"type": "content_block_start", "index": index, "content_block": block.start});
        script.send(event("content_block_start", &start));
        if index == 0 {
            script.send(event("ping", &json!({"type": "ping"})));
        }
        for delta in block.deltas {
            if script.content(stream_error) {
                return script;
            }
            script.send(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        if let Some(delta) = block.closing {
            script.send(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        script.send(event("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
    }
    if script.finish(stream_error) {
        return script;
    }
    let mut delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(plan.answer.finish), "stop_sequence": null},
        "usage": {"output_tokens": plan.tokens.output},
    });
    if eff.no_usage
        && let Some(m) = delta.as_object_mut()
    {
        m.remove("usage");
    }
    script.send(event("message_delta", &delta));
    script.send(event("message_stop", &json!({"type": "message_stop"})));
    script
}

/// The streamed response.
pub(crate) fn response(plan: &Plan, eff: &Effective) -> Response {
    script(plan, eff).into_response("text/event-stream; charset=utf-8")
}
