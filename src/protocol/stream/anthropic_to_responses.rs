//! Anthropic Messages stream events in, Responses-API stream events out: the stream a
//! Responses client (Codex, the OpenAI SDK's `responses.stream`) sees when its model is served
//! by an Anthropic provider — and, behind the Gemini or Bedrock machine, by those providers
//! (`via_anthropic`).
//!
//! `message_start` → `response.created`, `response.in_progress`. Each content block is one
//! output item: text → a `message` item (`response.output_item.added`,
//! `response.content_part.added`, `response.output_text.delta`…, `.done`,
//! `response.content_part.done`, `response.output_item.done`); thinking → a `reasoning` item
//! whose summary is the thinking text (`response.reasoning_summary_text.delta`…); tool use →
//! a `function_call` item (`response.function_call_arguments.delta`…, `.done`).
//! `message_stop` → `response.completed` (`response.incomplete` when the token limit
//! stopped it) carrying the whole response and its usage. Every event has its
//! `sequence_number`. Losses: thinking signatures and redacted thinking (a Responses client
//! can send back only OpenAI's encrypted reasoning), citations, server-tool blocks.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Translate;
use crate::billing::pricing::Usage;
use crate::protocol::anthropic::{fold_stream_usage, stop_reason_from_wire};
use crate::protocol::ir::{StopReason, sanitize_tool_id};
use crate::protocol::openai::responses::{self, response_id, usage_to_wire};

/// One Responses stream event (its `type` is the SSE event name).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesEvent(pub Value);

impl ResponsesEvent {
    pub fn kind(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// `response.completed` or `response.incomplete`: the last event of a response.
    pub fn is_closing(&self) -> bool {
        matches!(self.kind(), "response.completed" | "response.incomplete")
    }

    /// An `error` event's message.
    pub fn error_message(&self) -> Option<String> {
        (self.kind() == "error").then(|| self.0.get("message").and_then(Value::as_str).unwrap_or("").to_string())
    }

    /// Writes `usage` into the closing event's `response.usage` when it reports only zeros.
    pub fn fill_missing_usage(&mut self, usage: &Usage) {
        if self.is_closing()
            && let Some(u) = self.0.pointer_mut("/response/usage")
            && responses::usage_from_wire(u).is_zero()
        {
            *u = responses::usage_to_wire(usage);
        }
    }
}

/// An output item being streamed.
struct Item {
    value: Value,
    /// Text, thinking or arguments so far.
    text: String,
}

pub struct AnthropicToResponses {
    id: String,
    model: String,
    created: i64,
    sequence: u64,
    started: bool,
    finished: bool,
    /// Output items by Anthropic block index (blocks and items are one to one, in order).
    items: Vec<(u64, Item)>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

impl AnthropicToResponses {
    pub fn new(client_model: impl Into<String>, created: i64) -> Self {
        AnthropicToResponses {
            id: String::new(),
            model: client_model.into(),
            created,
            sequence: 0,
            started: false,
            finished: false,
            items: Vec::new(),
            stop_reason: None,
            usage: Usage::default(),
        }
    }

    fn event(&mut self, mut v: Value) -> ResponsesEvent {
        v["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        ResponsesEvent(v)
    }

    /// The response object as it stands (`status`, the items so far, usage when done).
    fn response(&self, status: &str) -> Value {
        let done = status != "in_progress";
        let incomplete = status == "incomplete";
        json!({
            "id": response_id(&self.id), "object": "response", "created_at": self.created, "status": status,
            "incomplete_details": if incomplete { json!({"reason": "max_output_tokens"}) } else { Value::Null },
            "error": null, "model": self.model,
            "output": if done { self.items.iter().map(|(_, i)| i.value.clone()).collect::<Vec<_>>() } else { Vec::new() },
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "store": false,
            "usage": if done { usage_to_wire(&self.usage) } else { Value::Null },
        })
    }

    fn position(&self, index: u64) -> Option<usize> {
        self.items.iter().position(|(i, _)| *i == index)
    }

    fn start(&mut self) -> Vec<ResponsesEvent> {
        self.started = true;
        let created = self.response("in_progress");
        vec![
            self.event(json!({"type": "response.created", "response": created})),
            self.event(json!({"type": "response.in_progress", "response": created})),
        ]
    }

    fn block_start(&mut self, index: u64, block: &Value) -> Vec<ResponsesEvent> {
        let n = self.items.len();
        let item_id = |prefix: &str| format!("{prefix}_{}_{n}", sanitize_tool_id(&self.id));
        let (value, part) = match block.get("type").and_then(Value::as_str) {
            Some("text") => (
                json!({"type": "message", "id": item_id("msg"), "status": "in_progress", "role": "assistant", "content": []}),
                Some(json!({"type": "output_text", "text": "", "annotations": []})),
            ),
            Some("thinking") => (
                json!({"type": "reasoning", "id": item_id("rs"), "summary": []}),
                Some(json!({"type": "summary_text", "text": ""})),
            ),
            Some("tool_use") => {
                let call = sanitize_tool_id(block.get("id").and_then(Value::as_str).unwrap_or(""));
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                (
                    json!({"type": "function_call", "id": format!("fc_{call}"), "call_id": call, "name": name,
                        "arguments": "", "status": "in_progress"}),
                    None,
                )
            }
            // Redacted thinking and server-tool blocks have no Responses form.
            _ => return Vec::new(),
        };
        let id = value["id"].clone();
        let kind = value["type"].as_str().unwrap_or("").to_string();
        let mut out = vec![self.event(json!({"type": "response.output_item.added", "output_index": n, "item": value}))];
        match (kind.as_str(), part) {
            ("message", Some(part)) => out.push(self.event(json!({"type": "response.content_part.added",
                "item_id": id, "output_index": n, "content_index": 0, "part": part}))),
            ("reasoning", Some(part)) => out.push(self.event(json!({"type": "response.reasoning_summary_part.added",
                "item_id": id, "output_index": n, "summary_index": 0, "part": part}))),
            _ => {}
        }
        self.items.push((index, Item { value, text: String::new() }));
        // A text block may open with text already.
        let first = block.get("text").or(block.get("thinking")).and_then(Value::as_str).unwrap_or("");
        if !first.is_empty() {
            out.extend(self.delta(index, first));
        }
        out
    }

    fn delta(&mut self, index: u64, piece: &str) -> Vec<ResponsesEvent> {
        let Some(n) = self.position(index) else {
            return self.error("the provider sent a delta for an unknown block");
        };
        let item = &mut self.items[n].1;
        item.text.push_str(piece);
        let id = item.value["id"].clone();
        let v = match item.value["type"].as_str() {
            Some("message") => json!({"type": "response.output_text.delta", "item_id": id, "output_index": n,
                "content_index": 0, "delta": piece}),
            Some("reasoning") => json!({"type": "response.reasoning_summary_text.delta", "item_id": id,
                "output_index": n, "summary_index": 0, "delta": piece}),
            _ => json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": n,
                "delta": piece}),
        };
        vec![self.event(v)]
    }

    fn block_stop(&mut self, index: u64) -> Vec<ResponsesEvent> {
        let Some(n) = self.position(index) else { return Vec::new() };
        let (id, kind, text) = {
            let item = &mut self.items[n].1;
            (item.value["id"].clone(), item.value["type"].as_str().unwrap_or("").to_string(), item.text.clone())
        };
        let mut out = Vec::new();
        match kind.as_str() {
            "message" => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                out.push(self.event(json!({"type": "response.output_text.done", "item_id": id, "output_index": n,
                    "content_index": 0, "text": text})));
                out.push(self.event(json!({"type": "response.content_part.done", "item_id": id, "output_index": n,
                    "content_index": 0, "part": part})));
                let v = &mut self.items[n].1.value;
                (v["status"], v["content"]) = (json!("completed"), json!([part]));
            }
            "reasoning" => {
                let part = json!({"type": "summary_text", "text": text});
                out.push(self.event(json!({"type": "response.reasoning_summary_text.done", "item_id": id,
                    "output_index": n, "summary_index": 0, "text": text})));
                out.push(self.event(json!({"type": "response.reasoning_summary_part.done", "item_id": id,
                    "output_index": n, "summary_index": 0, "part": part})));
                self.items[n].1.value["summary"] = json!([part]);
            }
            _ => {
                // Anthropic streams `{}` for a call without arguments as no delta at all.
                let arguments = if text.is_empty() { "{}".to_string() } else { text };
                out.push(self.event(json!({"type": "response.function_call_arguments.done", "item_id": id,
                    "output_index": n, "arguments": arguments})));
                let v = &mut self.items[n].1.value;
                (v["status"], v["arguments"]) = (json!("completed"), json!(arguments));
            }
        }
        let item = self.items[n].1.value.clone();
        out.push(self.event(json!({"type": "response.output_item.done", "output_index": n, "item": item})));
        out
    }

    fn error(&mut self, message: &str) -> Vec<ResponsesEvent> {
        self.finished = true;
        vec![self.event(json!({"type": "error", "code": "server_error", "message": message, "param": null}))]
    }
}

impl Translate for AnthropicToResponses {
    type Out = ResponsesEvent;

    fn push(&mut self, ev: &Value) -> Vec<ResponsesEvent> {
        if self.finished {
            return Vec::new();
        }
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0);
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let m = &ev["message"];
                self.id = m.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                fold_stream_usage(&mut self.usage, &m["usage"]);
                self.start()
            }
            "content_block_start" => self.block_start(index, &ev["content_block"]),
            "content_block_delta" => {
                let d = &ev["delta"];
                let piece = match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => d.get("text"),
                    Some("thinking_delta") => d.get("thinking"),
                    Some("input_json_delta") => d.get("partial_json"),
                    _ => None,
                };
                match piece.and_then(Value::as_str).filter(|p| !p.is_empty()) {
                    Some(p) => self.delta(index, p),
                    None => Vec::new(),
                }
            }
            "content_block_stop" => self.block_stop(index),
            "message_delta" => {
                if let Some(r) = ev.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(stop_reason_from_wire(r).unwrap_or(StopReason::EndTurn));
                }
                if let Some(u) = ev.get("usage") {
                    fold_stream_usage(&mut self.usage, u);
                }
                Vec::new()
            }
            "message_stop" => {
                self.finished = true;
                let incomplete = self.stop_reason == Some(StopReason::MaxTokens);
                let response = self.response(if incomplete { "incomplete" } else { "completed" });
                let kind = if incomplete { "response.incomplete" } else { "response.completed" };
                vec![self.event(json!({"type": kind, "response": response}))]
            }
            "error" => {
                let msg =
                    ev.pointer("/error/message").and_then(Value::as_str).unwrap_or("the provider reported an error");
                self.error(msg)
            }
            _ => Vec::new(),
        }
    }

    fn finish(&mut self) -> Vec<ResponsesEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error("the provider's stream ended before the response was complete")
    }

    fn fail(&mut self, message: &str) -> Vec<ResponsesEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error(message)
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn encode(out: &ResponsesEvent) -> Bytes {
        Bytes::from(format!("event: {}\ndata: {}\n\n", out.kind(), out.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[Value]) -> Vec<Value> {
        let mut m = AnthropicToResponses::new("claude-x", 7);
        events.iter().flat_map(|e| m.push(e)).map(|e| e.0).collect()
    }

    #[test]
    fn text_and_a_tool_call_become_the_event_sequence_the_sdk_accumulates() {
        let out = run(&[
            json!({"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
            json!({"type": "message_stop"}),
        ]);
        let kinds: Vec<&str> = out.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let seq: Vec<u64> = out.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert_eq!(seq, (0..out.len() as u64).collect::<Vec<_>>());
        let done = &out.last().unwrap()["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["output"][1]["arguments"], "{\"a\":1}");
        assert_eq!(done["output"][1]["call_id"], "toolu_1");
        assert_eq!(
            (done["usage"]["input_tokens"].as_i64(), done["usage"]["output_tokens"].as_i64()),
            (Some(10), Some(5))
        );
        assert_eq!(done["model"], "claude-x");
    }

    #[test]
    fn the_token_limit_is_an_incomplete_response_and_early_ends_an_error_event() {
        let out = run(&[
            json!({"type": "message_start", "message": {"id": "m", "usage": {}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}}),
            json!({"type": "message_stop"}),
        ]);
        assert_eq!(out.last().unwrap()["type"], "response.incomplete");
        assert_eq!(out.last().unwrap()["response"]["incomplete_details"]["reason"], "max_output_tokens");
        let mut m = AnthropicToResponses::new("m", 0);
        m.push(&json!({"type": "message_start", "message": {"id": "m", "usage": {}}}));
        let end = m.finish();
        assert_eq!(end[0].kind(), "error");
        assert!(m.finish().is_empty());
    }
}
