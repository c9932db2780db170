//! Composition through the hub format: a machine that makes Anthropic events (from Gemini
//! or Bedrock) followed by [`AnthropicToOpenAi`] (or the Responses machine), so an OpenAI
//! client of a Gemini or Bedrock model gets OpenAI chunks (or Responses events). Each Anthropic event is handed on as the Anthropic stream
//! would carry it, so the composition is exactly the two documented conversions in a row.

use bytes::Bytes;

use super::Translate;
use super::anthropic_to_openai::AnthropicToOpenAi;
use super::openai_to_anthropic::AnthropicEvent;
use crate::billing::pricing::Usage;

/// `second` is the machine from Anthropic events to the client's dialect
/// ([`AnthropicToOpenAi`], or `AnthropicToResponses` for Responses clients).
pub struct ViaAnthropic<A, B = AnthropicToOpenAi> {
    first: A,
    second: B,
}

impl<A: Translate<Out = AnthropicEvent>, B: Translate> ViaAnthropic<A, B> {
    pub fn new(first: A, second: B) -> Self {
        ViaAnthropic { first, second }
    }

    fn relay(&mut self, events: Vec<AnthropicEvent>) -> Vec<B::Out> {
        events.iter().flat_map(|e| self.second.push(&e.data)).collect()
    }
}

impl<A: Translate<Out = AnthropicEvent>, B: Translate> Translate for ViaAnthropic<A, B> {
    type Out = B::Out;

    fn push(&mut self, event: &serde_json::Value) -> Vec<B::Out> {
        let events = self.first.push(event);
        self.relay(events)
    }

    fn finish(&mut self) -> Vec<B::Out> {
        let events = self.first.finish();
        let mut out = self.relay(events);
        out.extend(self.second.finish());
        out
    }

    fn fail(&mut self, message: &str) -> Vec<B::Out> {
        let events = self.first.fail(message);
        let mut out = self.relay(events);
        out.extend(self.second.fail(message));
        out
    }

    /// The first machine's: it has the provider's exact split (cache reads, reasoning).
    fn usage(&self) -> Usage {
        self.first.usage()
    }

    fn encode(out: &B::Out) -> Bytes {
        B::encode(out)
    }
}
