//! Bedrock ConverseStream events in, Anthropic Messages stream events out: the stream an
//! Anthropic client sees when its model is served by Bedrock (and, through
//! [`super::ViaAnthropic`], an OpenAI client too). [`super::EventStreamTranslator`] decodes
//! the binary framing and hands each event over as `{"<event type>": payload}`.
//!
//! `messageStart` opens the message; `contentBlockStart` with `toolUse` opens a `tool_use`
//! block, whose `toolUse.input` deltas become `input_json_delta`; `text` deltas a text
//! block; `reasoningContent` deltas a thinking block (`text` → `thinking_delta`,
//! `signature` → `signature_delta`, `redactedContent` → a `redacted_thinking` block);
//! `contentBlockStop` closes the block. `messageStop` carries the stop reason and
//! `metadata` the usage, after it: the message closes at `metadata`, or when the body ends
//! after `messageStop`. Exceptions (`throttlingException`, `modelStreamErrorException`,
//! ...) become an Anthropic `error` event of the matching type.
//!
//! The padding field `p` Bedrock adds to events is ignored. Deliberate losses: `metrics`,
//! `trace`, citations and guardrail content; which stop sequence matched.

use bytes::Bytes;
use serde_json::Value;

use super::AnthropicEvent;
use super::Translate;
use super::anthropic_writer::{AnthropicWriter, Block};
use crate::billing::pricing::Usage;
use crate::protocol::bedrock::{anthropic_error_type, stop_reason_from_wire, usage_from_wire};
use crate::protocol::ir::{StopReason, sanitize_tool_id};

pub struct BedrockToAnthropic {
    w: AnthropicWriter,
    /// Bedrock streams carry no message id; the caller names the message.
    id: String,
    /// The Bedrock block index of the open block, so a new index closes it.
    current: Option<u64>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

impl BedrockToAnthropic {
    pub fn new(client_model: impl Into<String>, message_id: impl Into<String>) -> Self {
        BedrockToAnthropic {
            w: AnthropicWriter::new(client_model),
            id: message_id.into(),
            current: None,
            stop_reason: None,
            usage: Usage::default(),
        }
    }

    /// Closes the open block if `index` is another one.
    fn switch(&mut self, index: u64, out: &mut Vec<AnthropicEvent>) {
        if self.current != Some(index) {
            self.w.close(out);
            self.current = Some(index);
        }
    }

    fn on_delta(&mut self, index: u64, d: &Value, out: &mut Vec<AnthropicEvent>) -> Result<(), &'static str> {
        self.switch(index, out);
        if let Some(t) = d.get("text").and_then(Value::as_str) {
            self.w.text(t, out);
        } else if let Some(input) = d.pointer("/toolUse/input").and_then(Value::as_str) {
            // Tool arguments only ever follow their block's start.
            if self.w.open_block() != Some(Block::Tool(index)) {
                return Err("the provider sent tool arguments for a block it did not start");
            }
            if !input.is_empty() {
                self.w.delta(serde_json::json!({"type": "input_json_delta", "partial_json": input}), out);
            }
        } else if let Some(r) = d.get("reasoningContent") {
            if let Some(t) = r.get("text").and_then(Value::as_str) {
                self.w.thinking(t, out);
            } else if let Some(s) = r.get("signature").and_then(Value::as_str) {
                self.w.signature(s, out);
            } else if let Some(data) = r.get("redactedContent").and_then(Value::as_str) {
                self.w.redacted(data, out);
            }
        }
        Ok(())
    }
}

impl Translate for BedrockToAnthropic {
    type Out = AnthropicEvent;

    fn push(&mut self, event: &Value) -> Vec<AnthropicEvent> {
        if self.w.finished {
            return Vec::new();
        }
        let Some((kind, body)) = event.as_object().and_then(|o| o.iter().next()) else {
            return self.w.error("api_error", "the provider sent an empty stream event");
        };
        let index = body.get("contentBlockIndex").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match kind.as_str() {
            "messageStart" => self.w.start(&self.id, &self.usage, &mut out),
            "contentBlockStart" => {
                self.w.start(&self.id, &self.usage, &mut out);
                if let Some(t) = body.pointer("/start/toolUse") {
                    self.w.close(&mut out);
                    self.current = Some(index);
                    let id = sanitize_tool_id(t.get("toolUseId").and_then(Value::as_str).unwrap_or(""));
                    let name = t.get("name").and_then(Value::as_str).unwrap_or("");
                    let block = serde_json::json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                    self.w.open(Block::Tool(index), block, &mut out);
                }
            }
            "contentBlockDelta" => {
                self.w.start(&self.id, &self.usage, &mut out);
                if let Err(e) = self.on_delta(index, body.get("delta").unwrap_or(&Value::Null), &mut out) {
                    out.extend(self.w.error("api_error", e));
                }
            }
            "contentBlockStop" if self.current == Some(index) => {
                self.w.close(&mut out);
                self.current = None;
            }
            "messageStop" => {
                let reason = body.get("stopReason").and_then(Value::as_str).unwrap_or("end_turn");
                self.stop_reason = Some(stop_reason_from_wire(reason));
            }
            "metadata" => {
                if let Some(u) = body.get("usage") {
                    self.usage = usage_from_wire(u);
                }
                // The usage comes after `messageStop`: the message is complete now.
                if self.stop_reason.is_some() {
                    out.extend(self.w.finish(&self.id, self.stop_reason, &self.usage));
                }
            }
            exception if exception.ends_with("Exception") => {
                let message = body.get("message").and_then(Value::as_str).unwrap_or("the provider reported an error");
                return self.w.error(anthropic_error_type(exception), message);
            }
            // Event types added later carry nothing this machine relays.
            _ => {}
        }
        out
    }

    fn finish(&mut self) -> Vec<AnthropicEvent> {
        self.w.finish(&self.id, self.stop_reason, &self.usage)
    }

    fn fail(&mut self, message: &str) -> Vec<AnthropicEvent> {
        self.w.fail(message)
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn encode(out: &AnthropicEvent) -> Bytes {
        out.to_sse()
    }
}
