//! The Anthropic side of every machine that produces Anthropic events from a provider that
//! is not Anthropic (Gemini, Bedrock): `message_start` once, content blocks opened, fed and
//! closed in order with their indexes, and the closing `message_delta` + `message_stop`.
//! Keeping this in one place keeps the event order the SDKs rely on the same for all of them.

use serde_json::{Value, json};

use super::openai_to_anthropic::AnthropicEvent;
use crate::billing::pricing::Usage;
use crate::protocol::anthropic::{WireUsage, error_body, stop_reason_to_wire};
use crate::protocol::ir::StopReason;

/// The kind of the open block; a different kind closes it first. Tool blocks carry a
/// number so two consecutive calls are two blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    Text,
    Thinking,
    Tool(u64),
}

pub(crate) struct AnthropicWriter {
    /// The model name the client asked for (not the upstream's).
    model: String,
    started: bool,
    pub finished: bool,
    open: Option<Block>,
    next_block: usize,
}

impl AnthropicWriter {
    pub fn new(client_model: impl Into<String>) -> Self {
        AnthropicWriter { model: client_model.into(), started: false, finished: false, open: None, next_block: 0 }
    }

    /// `message_start`, once, with the usage known so far (input and cache counts).
    pub fn start(&mut self, id: &str, usage: &Usage, out: &mut Vec<AnthropicEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let usage = WireUsage { output_tokens: 0, ..WireUsage::from_usage(usage) };
        out.push(AnthropicEvent::new(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "content": [], "model": self.model,
                "stop_reason": null, "stop_sequence": null, "usage": usage,
            }}),
        ));
    }

    pub fn open_block(&self) -> Option<Block> {
        self.open
    }

    /// Opens a block of this kind unless it is the open one; returns its index.
    pub fn open(&mut self, kind: Block, block: Value, out: &mut Vec<AnthropicEvent>) -> usize {
        if self.open != Some(kind) {
            self.close(out);
            out.push(AnthropicEvent::new(
                "content_block_start",
                json!({"type": "content_block_start", "index": self.next_block, "content_block": block}),
            ));
            self.open = Some(kind);
            self.next_block += 1;
        }
        self.next_block - 1
    }

    pub fn close(&mut self, out: &mut Vec<AnthropicEvent>) {
        if self.open.take().is_some() {
            out.push(AnthropicEvent::new(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": self.next_block - 1}),
            ));
        }
    }

    /// A delta for the open block.
    pub fn delta(&self, delta: Value, out: &mut Vec<AnthropicEvent>) {
        let index = self.next_block.saturating_sub(1);
        out.push(AnthropicEvent::new(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
    }

    pub fn text(&mut self, text: &str, out: &mut Vec<AnthropicEvent>) {
        if !text.is_empty() {
            self.open(Block::Text, json!({"type": "text", "text": ""}), out);
            self.delta(json!({"type": "text_delta", "text": text}), out);
        }
    }

    pub fn thinking(&mut self, text: &str, out: &mut Vec<AnthropicEvent>) {
        self.open(Block::Thinking, json!({"type": "thinking", "thinking": "", "signature": ""}), out);
        if !text.is_empty() {
            self.delta(json!({"type": "thinking_delta", "thinking": text}), out);
        }
    }

    /// Ends the open thinking block (opening an empty one if none is) with its signature.
    pub fn signature(&mut self, signature: &str, out: &mut Vec<AnthropicEvent>) {
        self.thinking("", out);
        self.delta(json!({"type": "signature_delta", "signature": signature}), out);
        self.close(out);
    }

    /// A whole tool call: start, its arguments as one `input_json_delta`, stop.
    pub fn tool_call(&mut self, n: u64, id: &str, name: &str, args: &Value, out: &mut Vec<AnthropicEvent>) {
        self.close(out);
        self.open(Block::Tool(n), json!({"type": "tool_use", "id": id, "name": name, "input": {}}), out);
        self.delta(json!({"type": "input_json_delta", "partial_json": args.to_string()}), out);
        self.close(out);
    }

    /// A redacted thinking block, whole.
    pub fn redacted(&mut self, data: &str, out: &mut Vec<AnthropicEvent>) {
        self.close(out);
        self.open(Block::Thinking, json!({"type": "redacted_thinking", "data": data}), out);
        self.close(out);
    }

    /// Closes the message: the open block, `message_delta` with the stop reason and the
    /// full usage, `message_stop`.
    pub fn end(&mut self, reason: StopReason, usage: &Usage, out: &mut Vec<AnthropicEvent>) {
        self.finished = true;
        self.close(out);
        out.push(AnthropicEvent::new(
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason_to_wire(reason), "stop_sequence": null},
                "usage": WireUsage::from_usage(usage)}),
        ));
        out.push(AnthropicEvent::new("message_stop", json!({"type": "message_stop"})));
    }

    /// An in-band `error` event; the stream ends with it.
    pub fn error(&mut self, kind: &str, message: &str) -> Vec<AnthropicEvent> {
        self.finished = true;
        vec![AnthropicEvent::new("error", error_body(kind, message))]
    }
}
