//! Streaming translation between dialects: one pure state machine per direction, fed one
//! parsed upstream event at a time, emitting the client dialect's events. [`SseTranslator`]
//! puts an [`SseFramer`] in front of a machine, so raw upstream bytes go in (split anywhere,
//! even inside a UTF-8 character) and whole client events come out.

pub mod anthropic_to_openai;
pub mod openai_to_anthropic;

use bytes::Bytes;
use serde_json::Value;

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

/// Encodes client events into one buffer.
pub fn encode_all<T: Translate>(outs: &[T::Out]) -> Vec<u8> {
    outs.iter().flat_map(|o| T::encode(o).to_vec()).collect()
}

#[cfg(test)]
mod tests;
