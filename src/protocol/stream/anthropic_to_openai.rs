//! Anthropic Messages stream events in, OpenAI chat-completion chunks out: the stream an
//! OpenAI client sees when its model is served by an Anthropic provider.
//!
//! Each text delta becomes a `content` delta, each `tool_use` block a `tool_calls` entry
//! (its own `index`, counted over tool calls only; `id`, `type` and `name` on the first
//! delta, then `arguments` fragments from `input_json_delta`), each thinking delta a
//! `reasoning_content` delta. `message_stop` becomes the chunk with `finish_reason`, then the
//! usage chunk (`choices: []`) when the client asked for it, then `[DONE]`.
//!
//! Usage in the final chunk follows OpenAI's convention: `prompt_tokens` counts uncached,
//! cache-read and cache-write tokens, `cached_tokens` the reads ([`Translate::usage`] keeps
//! the exact split for billing).
//!
//! Deliberate losses: thinking signatures and redacted thinking (a streamed OpenAI message
//! has no place for them; non-streamed responses carry them in `thinking_blocks`), which
//! stop sequence matched, `citations_delta`, and server-tool blocks (the gateway never asks
//! for server tools when converting).

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};

use super::Translate;
use crate::billing::pricing::Usage;
use crate::protocol::anthropic::{fold_stream_usage, stop_reason_from_wire};
use crate::protocol::ir::{StopReason, sanitize_tool_id};
use crate::protocol::openai::chat::{self, finish_reason_to_wire, usage_to_wire};
use crate::protocol::sse;

/// One OpenAI stream event.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenAiEvent {
    Chunk(Value),
    /// An in-band error object; the stream ends after it.
    Error(Value),
    /// `data: [DONE]`.
    Done,
}

impl OpenAiEvent {
    /// An in-band error's message.
    pub fn error_message(&self) -> Option<String> {
        match self {
            OpenAiEvent::Error(v) => Some(v.pointer("/error/message").and_then(Value::as_str).unwrap_or("").into()),
            _ => None,
        }
    }

    /// The usage chunk (`choices: []`, the client asked for it): it carries the final usage.
    pub fn carries_usage(&self) -> bool {
        matches!(self, OpenAiEvent::Chunk(v) if v.get("usage").is_some_and(Value::is_object))
    }

    /// Writes `usage` into a usage chunk whose reported usage is missing or all zeros.
    pub fn fill_missing_usage(&mut self, usage: &Usage) {
        if let OpenAiEvent::Chunk(v) = self
            && let Some(u) = v.get_mut("usage").filter(|u| u.is_object())
            && chat::usage_from_wire(u).is_none_or(|reported| reported.is_zero())
        {
            *u = chat::usage_to_wire(usage);
        }
    }
}

pub struct AnthropicToOpenAi {
    id: String,
    /// The model name the client asked for (not the upstream's).
    model: String,
    /// Unix time stamped on every chunk (the caller owns the clock).
    created: i64,
    include_usage: bool,
    finished: bool,
    /// Anthropic block index → OpenAI tool-call index.
    tool_index: HashMap<u64, usize>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

impl AnthropicToOpenAi {
    /// `include_usage`: the client asked for the usage chunk (`stream_options.include_usage`).
    pub fn new(client_model: impl Into<String>, created: i64, include_usage: bool) -> Self {
        AnthropicToOpenAi {
            id: String::new(),
            model: client_model.into(),
            created,
            include_usage,
            finished: false,
            tool_index: HashMap::new(),
            stop_reason: None,
            usage: Usage::default(),
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> OpenAiEvent {
        OpenAiEvent::Chunk(json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        }))
    }

    fn take_usage(&mut self, u: &Value) {
        fold_stream_usage(&mut self.usage, u);
    }

    fn error(&mut self, message: &str, kind: &str) -> Vec<OpenAiEvent> {
        self.finished = true;
        vec![OpenAiEvent::Error(json!({"error": {"message": message, "type": kind, "param": null, "code": null}}))]
    }
}

impl Translate for AnthropicToOpenAi {
    type Out = OpenAiEvent;

    fn push(&mut self, ev: &Value) -> Vec<OpenAiEvent> {
        if self.finished {
            return Vec::new();
        }
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0);
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let m = &ev["message"];
                self.id = m.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                self.take_usage(&m["usage"]);
                vec![self.chunk(json!({"role": "assistant", "content": ""}), None)]
            }
            "content_block_start" => {
                let b = &ev["content_block"];
                match b.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let n = self.tool_index.len();
                        self.tool_index.insert(index, n);
                        let id = sanitize_tool_id(b.get("id").and_then(Value::as_str).unwrap_or(""));
                        let name = b.get("name").and_then(Value::as_str).unwrap_or("");
                        let call = json!({"index": n, "id": id, "type": "function",
                            "function": {"name": name, "arguments": ""}});
                        vec![self.chunk(json!({"tool_calls": [call]}), None)]
                    }
                    Some("text") => match b.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        Some(t) => vec![self.chunk(json!({"content": t}), None)],
                        None => Vec::new(),
                    },
                    Some("thinking") => match b.get("thinking").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        Some(t) => vec![self.chunk(json!({"reasoning_content": t}), None)],
                        None => Vec::new(),
                    },
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => {
                let d = &ev["delta"];
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("");
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") if !s("text").is_empty() => {
                        vec![self.chunk(json!({"content": s("text")}), None)]
                    }
                    Some("thinking_delta") if !s("thinking").is_empty() => {
                        vec![self.chunk(json!({"reasoning_content": s("thinking")}), None)]
                    }
                    Some("input_json_delta") if !s("partial_json").is_empty() => match self.tool_index.get(&index) {
                        Some(&n) => {
                            let call = json!({"index": n, "function": {"arguments": s("partial_json")}});
                            vec![self.chunk(json!({"tool_calls": [call]}), None)]
                        }
                        None => self.error("the provider sent tool arguments for an unknown block", "api_error"),
                    },
                    _ => Vec::new(),
                }
            }
            "message_delta" => {
                if let Some(r) = ev.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(stop_reason_from_wire(r).unwrap_or(StopReason::EndTurn));
                }
                if let Some(u) = ev.get("usage") {
                    self.take_usage(u);
                }
                Vec::new()
            }
            "message_stop" => {
                self.finished = true;
                let reason = finish_reason_to_wire(self.stop_reason.unwrap_or(StopReason::EndTurn));
                let mut out = vec![self.chunk(json!({}), Some(reason))];
                if self.include_usage {
                    out.push(OpenAiEvent::Chunk(json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage_to_wire(&self.usage),
                    })));
                }
                out.push(OpenAiEvent::Done);
                out
            }
            "error" => {
                let e = &ev["error"];
                let msg = e.get("message").and_then(Value::as_str).unwrap_or("the provider reported an error");
                let kind = match e.get("type").and_then(Value::as_str) {
                    Some("overloaded_error") => "server_error",
                    Some("rate_limit_error") => "rate_limit_exceeded",
                    Some("invalid_request_error") => "invalid_request_error",
                    _ => "api_error",
                };
                self.error(msg, kind)
            }
            // `ping`, `content_block_stop` and event types added later carry nothing to relay.
            _ => Vec::new(),
        }
    }

    fn finish(&mut self) -> Vec<OpenAiEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error("the provider's stream ended before the response was complete", "api_error")
    }

    fn fail(&mut self, message: &str) -> Vec<OpenAiEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error(message, "api_error")
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn encode(out: &OpenAiEvent) -> Bytes {
        match out {
            OpenAiEvent::Chunk(v) | OpenAiEvent::Error(v) => sse::data_event(&v.to_string()),
            OpenAiEvent::Done => sse::data_event("[DONE]"),
        }
    }
}
