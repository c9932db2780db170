//! OpenAI chat-completion chunks in, Anthropic Messages stream events out: the stream an
//! Anthropic client sees when its model is served by an OpenAI-protocol provider.
//!
//! The sequence emitted is Anthropic's: `message_start` (with a usage object, which the
//! SDKs require; its counts are zero because OpenAI reports usage only at the end), then for
//! each content block `content_block_start`, deltas, `content_block_stop`, then
//! `message_delta` (stop reason and the full usage) and `message_stop`.
//!
//! Deliberate losses: `logprobs`; which stop sequence matched (OpenAI does not say, so
//! `stop` is `end_turn`); cache writes (OpenAI does not report them); the reasoning-token
//! count (Anthropic usage has no field for it; [`Translate::usage`] still has it for
//! billing); choices other than index 0 (the gateway never asks for more than one). Thinking blocks from
//! OpenAI-compatible `reasoning_content` carry an empty signature (there is none).
//! Rejected in-band: tool-call fragments interleaved between two calls (no OpenAI provider
//! does this, and Anthropic blocks cannot interleave), non-JSON events, and an upstream that
//! ends before a finish reason.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};

use super::{AnthropicEvent, Translate};
use crate::billing::pricing::Usage;
use crate::protocol::anthropic::{WireUsage, error_body, stop_reason_to_wire};
use crate::protocol::ir::{StopReason, sanitize_tool_id};
use crate::protocol::openai::chat::{finish_reason_from_wire, usage_from_wire};

/// Which block is open, so a change of kind closes it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    /// A tool call, by its OpenAI `index`.
    Tool(u64),
}

pub struct OpenAiToAnthropic {
    /// The model name the client asked for (not the upstream's).
    model: String,
    started: bool,
    finished: bool,
    open: Open,
    /// Index of the next Anthropic content block.
    next_block: usize,
    /// OpenAI tool-call indexes already seen (their blocks may be closed).
    tools: HashMap<u64, usize>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

impl OpenAiToAnthropic {
    pub fn new(client_model: impl Into<String>) -> Self {
        OpenAiToAnthropic {
            model: client_model.into(),
            started: false,
            finished: false,
            open: Open::None,
            next_block: 0,
            tools: HashMap::new(),
            stop_reason: None,
            usage: Usage::default(),
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<AnthropicEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(AnthropicEvent::new(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "content": [], "model": self.model,
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        ));
    }

    fn close(&mut self, out: &mut Vec<AnthropicEvent>) {
        if self.open != Open::None {
            out.push(AnthropicEvent::new(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.next_block - 1}),
            ));
            self.open = Open::None;
        }
    }

    /// Opens a block of this kind unless it is the open one; returns its index.
    fn open(&mut self, kind: Open, block: Value, out: &mut Vec<AnthropicEvent>) -> usize {
        if self.open != kind {
            self.close(out);
            out.push(AnthropicEvent::new(
                "content_block_start",
                json!({"type": "content_block_start", "index": self.next_block, "content_block": block}),
            ));
            self.open = kind;
            self.next_block += 1;
        }
        self.next_block - 1
    }

    fn delta(index: usize, delta: Value) -> AnthropicEvent {
        AnthropicEvent::new(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn error(&mut self, kind: &str, message: &str) -> Vec<AnthropicEvent> {
        self.finished = true;
        vec![AnthropicEvent::new("error", error_body(kind, message))]
    }

    fn on_choice_delta(&mut self, d: &Value, out: &mut Vec<AnthropicEvent>) -> Result<(), String> {
        let text_of = |k: &str| d.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        // DeepSeek and vLLM say `reasoning_content`, OpenRouter and others `reasoning`.
        if let Some(r) = text_of("reasoning_content").or(text_of("reasoning")) {
            let i = self.open(Open::Thinking, json!({"type": "thinking", "thinking": "", "signature": ""}), out);
            out.push(Self::delta(i, json!({"type": "thinking_delta", "thinking": r})));
        }
        for t in [text_of("content"), text_of("refusal")].into_iter().flatten() {
            let i = self.open(Open::Text, json!({"type": "text", "text": ""}), out);
            out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
        }
        let calls = d.get("tool_calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (pos, c) in calls.iter().enumerate() {
            let idx = c.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
            let block = if let Some(&b) = self.tools.get(&idx) {
                if self.open != Open::Tool(idx) {
                    return Err(
                        "the provider interleaved two tool calls, which an Anthropic stream cannot carry".into()
                    );
                }
                b
            } else {
                let id =
                    c.get("id").and_then(Value::as_str).map(sanitize_tool_id).unwrap_or_else(|| format!("toolu_{idx}"));
                let name = c.pointer("/function/name").and_then(Value::as_str).unwrap_or("");
                let b =
                    self.open(Open::Tool(idx), json!({"type": "tool_use", "id": id, "name": name, "input": {}}), out);
                self.tools.insert(idx, b);
                b
            };
            if let Some(args) = c.pointer("/function/arguments").and_then(Value::as_str).filter(|a| !a.is_empty()) {
                out.push(Self::delta(block, json!({"type": "input_json_delta", "partial_json": args})));
            }
        }
        Ok(())
    }
}

impl Translate for OpenAiToAnthropic {
    type Out = AnthropicEvent;

    fn push(&mut self, chunk: &Value) -> Vec<AnthropicEvent> {
        if self.finished {
            return Vec::new();
        }
        if let Some(e) = chunk.get("error") {
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("the provider reported an error");
            let kind = match e.get("type").and_then(Value::as_str) {
                Some("invalid_request_error") => "invalid_request_error",
                Some("rate_limit_exceeded" | "requests" | "tokens") => "rate_limit_error",
                Some("server_overloaded") => "overloaded_error",
                _ => "api_error",
            };
            return self.error(kind, msg);
        }
        let mut out = Vec::new();
        self.start(chunk.get("id").and_then(Value::as_str).unwrap_or("msg_gateway"), &mut out);
        if let Some(u) = chunk.get("usage").and_then(usage_from_wire) {
            self.usage = Usage { service_tier: crate::protocol::openai::service_tier_of(chunk), ..u };
        }
        let choices = chunk.get("choices").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        // The gateway asks for one choice; any other index is not part of this message.
        for c in choices.iter().filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0) {
            if let Some(d) = c.get("delta")
                && let Err(e) = self.on_choice_delta(d, &mut out)
            {
                out.extend(self.error("api_error", &e));
                return out;
            }
            if let Some(r) = c.get("finish_reason").and_then(Value::as_str) {
                self.stop_reason = Some(finish_reason_from_wire(r).unwrap_or(StopReason::EndTurn));
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<AnthropicEvent> {
        if self.finished {
            return Vec::new();
        }
        let Some(reason) = self.stop_reason else {
            return self.error("api_error", "the provider's stream ended before the response was complete");
        };
        self.finished = true;
        let mut out = Vec::new();
        self.close(&mut out);
        let u = WireUsage::from_usage(&self.usage);
        out.push(AnthropicEvent::new(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason_to_wire(reason), "stop_sequence": null},
                "usage": u}),
        ));
        out.push(AnthropicEvent::new("message_stop", json!({"type": "message_stop"})));
        out
    }

    fn fail(&mut self, message: &str) -> Vec<AnthropicEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error("api_error", message)
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn encode(out: &AnthropicEvent) -> Bytes {
        out.to_sse()
    }
}
