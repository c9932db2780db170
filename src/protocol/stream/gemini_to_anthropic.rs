//! Gemini `streamGenerateContent?alt=sse` chunks in, Anthropic Messages stream events out:
//! the stream an Anthropic client sees when its model is served by Gemini (and, through
//! [`super::ViaAnthropic`], an OpenAI client too).
//!
//! Every chunk is a `GenerateContentResponse` holding the next parts. Thought parts become
//! a thinking block (`thinking_delta`; a `thoughtSignature` ends the block with a
//! `signature_delta`); a signature on a text or `functionCall` part becomes an empty
//! thinking block carrying it, just before that part's block, exactly as the non-streamed
//! conversion places it (`protocol::gemini`). Text parts become a text block; each
//! `functionCall` (Gemini sends it whole) a `tool_use` block with its arguments in one
//! `input_json_delta`. Usage is Gemini's running `usageMetadata`, the last one wins;
//! `message_start` carries the input counts known at the first chunk.
//!
//! The stream has no end marker: the body ending after a chunk with `finishReason` closes
//! the message; ending before one is reported in-band. An `error` object in a chunk becomes
//! an Anthropic `error` event. Deliberate losses: as for non-streamed responses
//! (`protocol::gemini`): candidates other than the first, safety ratings, citations, parts
//! with no Anthropic form.

use bytes::Bytes;
use serde_json::Value;

use super::AnthropicEvent;
use super::Translate;
use super::anthropic_writer::AnthropicWriter;
use crate::billing::pricing::Usage;
use crate::protocol::gemini::{
    self, GenerateContentResponse, WirePart, anthropic_error_type, convert::generated_call_id, finish_reason_from_wire,
};
use crate::protocol::ir::StopReason;

pub struct GeminiToAnthropic {
    w: AnthropicWriter,
    id: Option<String>,
    calls: u64,
    /// Calls that came without an `id`, numbered as the non-streamed conversion numbers them.
    unnamed: usize,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

impl GeminiToAnthropic {
    pub fn new(client_model: impl Into<String>) -> Self {
        GeminiToAnthropic {
            w: AnthropicWriter::new(client_model),
            id: None,
            calls: 0,
            unnamed: 0,
            stop_reason: None,
            usage: Usage::default(),
        }
    }

    fn on_part(&mut self, p: WirePart, out: &mut Vec<AnthropicEvent>) {
        if p.thought == Some(true) {
            self.w.thinking(p.text.as_deref().unwrap_or(""), out);
            if let Some(sig) = &p.thought_signature {
                self.w.signature(sig, out);
            }
            return;
        }
        let known = p.text.is_some() || p.function_call.is_some();
        if let (true, Some(sig)) = (known, &p.thought_signature) {
            self.w.close(out);
            self.w.signature(sig, out);
        }
        if let Some(t) = &p.text {
            self.w.text(t, out);
        } else if let Some(c) = p.function_call {
            let id = match c.id {
                Some(id) => id,
                None => {
                    self.unnamed += 1;
                    generated_call_id(self.id.as_deref().unwrap_or(""), self.unnamed - 1)
                }
            };
            let args = match c.args {
                Some(Value::Object(o)) => Value::Object(o),
                _ => Value::Object(Default::default()),
            };
            self.w.tool_call(self.calls, &id, &c.name, &args, out);
            self.calls += 1;
        }
    }
}

impl Translate for GeminiToAnthropic {
    type Out = AnthropicEvent;

    fn push(&mut self, chunk: &Value) -> Vec<AnthropicEvent> {
        if self.w.finished {
            return Vec::new();
        }
        if let Some((status, message)) = gemini::error_of(chunk) {
            return self.w.error(anthropic_error_type(&status), &message);
        }
        let Ok(r) = serde_json::from_value::<GenerateContentResponse>(chunk.clone()) else {
            return self.w.error("api_error", "the provider sent a stream chunk that is not a GenerateContentResponse");
        };
        let id =
            self.id.get_or_insert_with(|| r.response_id.clone().unwrap_or_else(|| "gemini-response".into())).clone();
        if let Some(u) = r.usage_metadata {
            self.usage = u.to_usage();
        }
        let mut out = Vec::new();
        self.w.start(&id, &self.usage, &mut out);
        if r.prompt_feedback.as_ref().is_some_and(|f| f.get("blockReason").is_some()) {
            self.stop_reason = Some(StopReason::Refusal);
        }
        if let Some(c) = r.candidates.into_iter().find(|c| c.index.unwrap_or(0) == 0) {
            for p in c.content.map(|c| c.parts).unwrap_or_default() {
                self.on_part(p, &mut out);
            }
            if let Some(f) = c.finish_reason {
                self.stop_reason = Some(finish_reason_from_wire(&f, self.calls > 0));
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<AnthropicEvent> {
        let id = self.id.clone().unwrap_or_else(|| "gemini-response".into());
        self.w.finish(&id, self.stop_reason, &self.usage)
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
