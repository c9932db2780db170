//! Streaming translation between dialects: one pure state machine per direction, fed one
//! parsed upstream event at a time, emitting the client dialect's events. [`SseTranslator`]
//! puts an [`SseFramer`] in front of a machine, so raw upstream bytes go in (split anywhere,
//! even inside a UTF-8 character) and whole client events come out; [`EventStreamTranslator`]
//! does the same for Bedrock's binary AWS event-stream framing.
//!
//! Anthropic events are the hub: Gemini and Bedrock streams are translated to Anthropic
//! events, and an OpenAI client gets them through [`via_anthropic::ViaAnthropic`]
//! (provider → Anthropic → OpenAI). [`ByteTranslator`] is what a relay drives, whatever the
//! framing.

pub mod anthropic_to_openai;
pub mod anthropic_to_responses;
mod anthropic_writer;
pub mod bedrock_to_anthropic;
pub mod gemini_to_anthropic;
pub mod openai_to_anthropic;
pub mod via_anthropic;

use bytes::Bytes;
use serde_json::Value;

use super::eventstream::{self, Decoder};
use super::sse::{self, SseFramer};
use crate::billing::pricing::Usage;

/// One direction of stream translation.
pub trait Translate {
    /// An event in the client's dialect.
    type Out;
    /// Takes one upstream event (its parsed `data`) and returns the client events it causes.
    fn push(&mut self, event: &Value) -> Vec<Self::Out>;
    /// The upstream stream ended (its end marker or end of body): closes the client stream,
    /// or reports in-band that the upstream ended early. Returns nothing when already closed.
    fn finish(&mut self) -> Vec<Self::Out>;
    /// Reports an error in-band and closes the client stream.
    fn fail(&mut self, message: &str) -> Vec<Self::Out>;
    /// Usage captured so far, in the gateway's convention (valid at any point, so a stream
    /// the client abandons is still billed for what the upstream reported).
    fn usage(&self) -> Usage;
    /// The bytes of one client event.
    fn encode(out: &Self::Out) -> Bytes;
}

/// One Anthropic SSE event, its `event:` name and its data: the hub every machine that
/// translates between other dialects goes through.
#[derive(Debug, Clone, PartialEq)]
pub struct AnthropicEvent {
    pub event: &'static str,
    pub data: Value,
}

impl AnthropicEvent {
    pub(crate) fn new(event: &'static str, data: Value) -> Self {
        AnthropicEvent { event, data }
    }

    pub fn to_sse(&self) -> Bytes {
        Bytes::from(format!("event: {}\ndata: {}\n\n", self.event, self.data))
    }

    /// `message_stop`: the last event of an answer.
    pub fn is_stop(&self) -> bool {
        self.event == "message_stop"
    }

    /// An `error` event's message.
    pub fn error_message(&self) -> Option<String> {
        (self.event == "error").then(|| super::anthropic::error_message(&self.data).to_string())
    }

    /// `message_delta` carries the final usage (`message_start`'s is only what is known
    /// before the answer, zeros from a provider that reports usage last).
    pub fn carries_final_usage(&self) -> bool {
        self.event == "message_delta"
    }

    /// Writes `usage` into a `message_delta` whose reported usage is all zeros.
    pub fn fill_missing_usage(&mut self, usage: &Usage) {
        if !self.carries_final_usage() {
            return;
        }
        if let Some(u) = self.data.get_mut("usage") {
            let mut reported = Usage::default();
            super::anthropic::fold_stream_usage(&mut reported, u);
            if reported.is_zero() {
                *u = serde_json::to_value(super::anthropic::WireUsage::from_usage(usage)).expect("usage serializes");
            }
        }
    }
}

/// Raw upstream SSE bytes in, client events out.
pub struct SseTranslator<T> {
    framer: SseFramer,
    machine: T,
}

impl<T: Translate> SseTranslator<T> {
    pub fn new(machine: T) -> Self {
        SseTranslator { framer: SseFramer::default(), machine }
    }

    pub fn machine(&self) -> &T {
        &self.machine
    }

    /// Usage captured so far (see [`Translate::usage`]).
    pub fn usage(&self) -> Usage {
        self.machine.usage()
    }

    /// A gateway-side failure (upstream I/O error, idle timeout): reported in-band in the
    /// client's dialect; the stream is closed after it.
    pub fn fail(&mut self, message: &str) -> Vec<T::Out> {
        self.machine.fail(message)
    }

    /// Feeds one network read; returns the client events of every event it completed.
    pub fn push_bytes(&mut self, chunk: &[u8]) -> Vec<T::Out> {
        self.framer.push(chunk);
        let mut out = Vec::new();
        while let Some(ev) = self.framer.next_event() {
            out.extend(self.on_event(&ev));
        }
        out
    }

    /// The upstream body ended: handles an unterminated last event, then closes.
    pub fn finish(&mut self) -> Vec<T::Out> {
        let rest = self.framer.take_rest();
        let mut out = if rest.iter().all(u8::is_ascii_whitespace) { Vec::new() } else { self.on_event(&rest) };
        out.extend(self.machine.finish());
        out
    }

    fn on_event(&mut self, ev: &[u8]) -> Vec<T::Out> {
        let Some(data) = sse::event_data(ev) else { return Vec::new() };
        if data.trim() == "[DONE]" {
            return self.machine.finish();
        }
        match serde_json::from_str::<Value>(&data) {
            Ok(v) => self.machine.push(&v),
            Err(_) => self.machine.fail("the provider sent a stream event that is not JSON"),
        }
    }
}

/// What a relay drives: upstream bytes in (split anywhere), client events out.
pub trait ByteTranslator {
    type Out;
    /// Feeds one network read; returns the client events of every upstream event it completed.
    fn push_bytes(&mut self, chunk: &[u8]) -> Vec<Self::Out>;
    /// The upstream body ended.
    fn finish(&mut self) -> Vec<Self::Out>;
    /// A gateway-side failure, reported in-band; the stream is closed after it.
    fn fail(&mut self, message: &str) -> Vec<Self::Out>;
    /// Usage captured so far.
    fn usage(&self) -> Usage;
}

impl<T: Translate> ByteTranslator for SseTranslator<T> {
    type Out = T::Out;
    fn push_bytes(&mut self, chunk: &[u8]) -> Vec<T::Out> {
        SseTranslator::push_bytes(self, chunk)
    }
    fn finish(&mut self) -> Vec<T::Out> {
        SseTranslator::finish(self)
    }
    fn fail(&mut self, message: &str) -> Vec<T::Out> {
        SseTranslator::fail(self, message)
    }
    fn usage(&self) -> Usage {
        SseTranslator::usage(self)
    }
}

/// Raw AWS event-stream bytes in (Bedrock ConverseStream), client events out. Each message
/// goes to the machine as the JSON form of Bedrock's stream union: `{"<event type>":
/// payload}` for events, `{"<exception type>": payload}` for exceptions. A frame that fails
/// its checksums ends the stream with an in-band error.
pub struct EventStreamTranslator<T> {
    decoder: Decoder,
    machine: T,
}

impl<T: Translate> EventStreamTranslator<T> {
    pub fn new(machine: T) -> Self {
        EventStreamTranslator { decoder: Decoder::default(), machine }
    }

    pub fn machine(&self) -> &T {
        &self.machine
    }

    fn on_message(&mut self, m: &eventstream::Message) -> Vec<T::Out> {
        let kind = match m.header_str(":message-type") {
            Some("exception") | Some("error") => {
                m.header_str(":exception-type").or(m.header_str(":error-code")).unwrap_or("exception")
            }
            _ => match m.header_str(":event-type") {
                Some(t) => t,
                None => return Vec::new(),
            },
        };
        let payload: Value = if m.payload.is_empty() {
            Value::Object(Default::default())
        } else {
            match serde_json::from_slice(&m.payload) {
                Ok(v) => v,
                Err(_) => return self.machine.fail("the provider sent a stream event that is not JSON"),
            }
        };
        let mut event = serde_json::Map::new();
        event.insert(kind.to_string(), payload);
        self.machine.push(&Value::Object(event))
    }
}

impl<T: Translate> ByteTranslator for EventStreamTranslator<T> {
    type Out = T::Out;

    fn push_bytes(&mut self, chunk: &[u8]) -> Vec<T::Out> {
        self.decoder.push(chunk);
        let mut out = Vec::new();
        loop {
            match self.decoder.next_message() {
                Ok(Some(m)) => out.extend(self.on_message(&m)),
                Ok(None) => break,
                Err(e) => {
                    out.extend(self.machine.fail(&format!("the provider's stream is damaged: {e}")));
                    break;
                }
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<T::Out> {
        if self.decoder.pending() > 0 {
            return self.machine.fail("the provider's stream ended inside an event");
        }
        self.machine.finish()
    }

    fn fail(&mut self, message: &str) -> Vec<T::Out> {
        self.machine.fail(message)
    }

    fn usage(&self) -> Usage {
        self.machine.usage()
    }
}

/// Encodes client events into one buffer.
pub fn encode_all<T: Translate>(outs: &[T::Out]) -> Vec<u8> {
    outs.iter().flat_map(|o| T::encode(o).to_vec()).collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod provider_tests;

/// Fixture helpers shared with `protocol::invariants`' tests.
#[cfg(test)]
pub(crate) mod provider_test_support {
    pub(crate) use super::provider_tests::bedrock_stream_bytes;
}
