//! The Anthropic side of every machine that produces Anthropic events from a provider that
//! is not Anthropic (Gemini, Bedrock): `message_start` once, content blocks opened, fed and
//! closed in order with their indexes, and the closing `message_delta` (stop reason and the
//! final usage, input and cache counts included, so an SDK's accumulated message is exact
//! even when `message_start` had none) + `message_stop`, or the in-band error of a stream
//! that ended without a stop reason ([`AnthropicWriter::finish`]).
//! Keeping this in one place keeps the event order the SDKs rely on the same for all of them.

use serde_json::{Value, json};

use super::AnthropicEvent;
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

    /// The upstream ended, or said all it will: with its stop reason, the closing sequence
    /// (`message_start` first if nothing came before it, the open block closed,
    /// `message_delta` with the final usage, `message_stop`); without one, the in-band error
    /// that the answer was cut short. Nothing once the message is closed.
    pub fn finish(&mut self, id: &str, reason: Option<StopReason>, usage: &Usage) -> Vec<AnthropicEvent> {
        if self.finished {
            return Vec::new();
        }
        let Some(reason) = reason else {
            return self.error("api_error", "the provider's stream ended before the response was complete");
        };
        let mut out = Vec::new();
        self.start(id, usage, &mut out);
        self.end(reason, usage, &mut out);
        out
    }

    /// A gateway-side failure, reported in-band unless the message is already closed.
    pub fn fail(&mut self, message: &str) -> Vec<AnthropicEvent> {
        if self.finished {
            return Vec::new();
        }
        self.error("api_error", message)
    }

    /// An in-band `error` event; the stream ends with it.
    pub fn error(&mut self, kind: &str, message: &str) -> Vec<AnthropicEvent> {
        self.finished = true;
        vec![AnthropicEvent::new("error", error_body(kind, message))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(out: &[AnthropicEvent]) -> Vec<&'static str> {
        out.iter().map(|e| e.event).collect()
    }

    #[test]
    fn finish_closes_the_message_once_with_the_final_usage() {
        let usage = Usage { input_tokens: 8, cached_tokens: 2, output_tokens: 5, ..Usage::default() };
        let mut w = AnthropicWriter::new("m");
        let mut out = Vec::new();
        w.start("id", &Usage::default(), &mut out);
        w.text("hi", &mut out);
        out.extend(w.finish("id", Some(StopReason::EndTurn), &usage));
        assert_eq!(
            names(&out),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            out[4].data["usage"],
            serde_json::json!({"input_tokens": 8, "output_tokens": 5, "cache_read_input_tokens": 2,
                "cache_creation_input_tokens": 0})
        );
        assert!(w.finish("id", Some(StopReason::EndTurn), &usage).is_empty());
        assert!(w.fail("late").is_empty());
    }

    #[test]
    fn finish_without_content_still_starts_the_message() {
        let mut w = AnthropicWriter::new("m");
        let out = w.finish("id", Some(StopReason::MaxTokens), &Usage::default());
        assert_eq!(names(&out), ["message_start", "message_delta", "message_stop"]);
        assert_eq!(out[1].data["delta"]["stop_reason"], "max_tokens");
    }

    #[test]
    fn finish_without_a_stop_reason_reports_the_cut_in_band() {
        let mut w = AnthropicWriter::new("m");
        let out = w.finish("id", None, &Usage::default());
        assert_eq!(names(&out), ["error"]);
        assert_eq!(out[0].data["error"]["type"], "api_error");
        assert!(w.finish("id", Some(StopReason::EndTurn), &Usage::default()).is_empty());
    }
}
