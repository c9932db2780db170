//! Composition through the hub format: a machine that makes Anthropic events (from Gemini
//! or Bedrock) followed by [`AnthropicToOpenAi`], so an OpenAI client of a Gemini or Bedrock
//! model gets OpenAI chunks. Each Anthropic event is handed on as the Anthropic stream
//! would carry it, so the composition is exactly the two documented conversions in a row.

use bytes::Bytes;

use super::AnthropicEvent;
use super::Translate;
use super::anthropic_to_openai::{AnthropicToOpenAi, OpenAiEvent};
use crate::billing::pricing::Usage;

pub struct ViaAnthropic<A> {
    first: A,
    second: AnthropicToOpenAi,
}

impl<A: Translate<Out = AnthropicEvent>> ViaAnthropic<A> {
    pub fn new(first: A, second: AnthropicToOpenAi) -> Self {
        ViaAnthropic { first, second }
    }

    fn relay(&mut self, events: Vec<AnthropicEvent>) -> Vec<OpenAiEvent> {
        events.iter().flat_map(|e| self.second.push(&e.data)).collect()
    }
}

impl<A: Translate<Out = AnthropicEvent>> Translate for ViaAnthropic<A> {
    type Out = OpenAiEvent;

    fn push(&mut self, event: &serde_json::Value) -> Vec<OpenAiEvent> {
        let events = self.first.push(event);
        self.relay(events)
    }

    fn finish(&mut self) -> Vec<OpenAiEvent> {
        let events = self.first.finish();
        let mut out = self.relay(events);
        out.extend(self.second.finish());
        out
    }

    fn fail(&mut self, message: &str) -> Vec<OpenAiEvent> {
        let events = self.first.fail(message);
        let mut out = self.relay(events);
        out.extend(self.second.fail(message));
        out
    }

    /// The first machine's: it has the provider's exact split (cache reads, reasoning).
    fn usage(&self) -> Usage {
        self.first.usage()
    }

    fn encode(out: &OpenAiEvent) -> Bytes {
        AnthropicToOpenAi::encode(out)
    }
}
