//! Streams for Responses-API clients: from an OpenAI-protocol provider the events relayed as
//! they arrive (from any other, the events of `protocol::stream::anthropic_to_responses`
//! through the relay's `Translated`), usage read from the last one (`response.completed`, `response.incomplete`),
//! which is held back until the call settles, like every dialect's final event. An SSE
//! comment keeps a silent stream open (clients skip it); a failure after the first byte is an
//! in-band `error` event, as the API sends one. The last event goes out carrying the call's
//! cost in its usage (`response.usage.cost`).

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::relay::{ClientEvent, Progress, Shape};
use crate::billing::estimate::OutputCount;
use crate::billing::pricing::Usage;
use crate::protocol::openai::responses::{self, StreamEvent};
use crate::protocol::sse;
use crate::protocol::stream::anthropic_to_responses::ResponsesEvent;
use crate::protocol::usage_cost::{self, RESPONSE_USAGE};
use crate::store::call_outcome::ErrorClass;

/// An OpenAI provider's Responses stream relayed to the client.
#[derive(Default)]
pub struct Passthrough {
    framer: sse::SseFramer,
    usage: Option<Usage>,
    /// The provider's last event, held back until the call settles.
    closing: Option<Bytes>,
    /// What ended the stream as a failure (the provider's error, or an event that is not
    /// JSON): its class and message.
    failed: Option<(ErrorClass, String)>,
    started: bool,
    produced: OutputCount,
    /// The id of the response, once the last event says the provider stored it.
    stored: Option<String>,
}

impl Passthrough {
    /// Reads an event; `false` for what is not relayed: the last event, held back, and an
    /// event that is not JSON (which ends the stream: the relay reports it in-band).
    fn read(&mut self, event: &Bytes) -> bool {
        let Some(data) = sse::event_data(event) else { return true };
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            let message = "the provider's stream sent an event that is not JSON".to_string();
            self.failed = Some((ErrorClass::UpstreamInvalidResponse, message));
            return false;
        };
        match responses::stream_event(&v) {
            StreamEvent::Progress { output_bytes } => self.produced.add(output_bytes),
            StreamEvent::Done { usage } => {
                self.usage = usage.or(self.usage);
                self.stored = v.get("response").and_then(responses::stored_id);
                self.closing = Some(event.clone());
                return false;
            }
            StreamEvent::Failed { message, usage } => {
                self.usage = usage.or(self.usage);
                self.failed = Some((ErrorClass::UpstreamStreamError, message));
            }
        }
        true
    }
}

impl Shape for Passthrough {
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.framer.push(chunk);
        let mut out = BytesMut::new();
        while self.progress() == Progress::Streaming
            && let Some(event) = self.framer.next_event()
        {
            if self.read(&event) {
                out.extend_from_slice(&event);
            } else if let Some((_, message)) = &self.failed {
                // An event that is not JSON: an error event in its place ends the stream.
                let error = self.fail(&message.clone());
                out.extend_from_slice(&error);
            }
        }
        self.started |= !out.is_empty();
        out.freeze()
    }

    fn end(&mut self) -> Bytes {
        self.push(b"\n\n")
    }

    fn progress(&self) -> Progress {
        match (&self.failed, &self.closing) {
            (Some((class, message)), _) => Progress::Failed { class: *class, message: message.clone() },
            (None, Some(_)) => Progress::Complete,
            (None, None) => Progress::Streaming,
        }
    }

    fn closing(&mut self, cost: &str) -> Bytes {
        self.closing.take().map(|e| usage_cost::event_with_cost(&e, RESPONSE_USAGE, cost)).unwrap_or_default()
    }

    fn fail(&mut self, message: &str) -> Bytes {
        Bytes::from(responses::stream_error_event(message))
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn produced(&self) -> OutputCount {
        self.produced
    }

    fn keepalive(&self) -> Option<Bytes> {
        (self.started && self.progress() == Progress::Streaming).then(|| Bytes::from_static(KEEPALIVE))
    }

    fn stored_response(&self) -> Option<&str> {
        self.stored.as_deref()
    }
}

/// Events of a Responses stream converted from another protocol.
impl ClientEvent for ResponsesEvent {
    fn is_closing(&self) -> bool {
        ResponsesEvent::is_closing(self)
    }

    fn error_message(&self) -> Option<String> {
        ResponsesEvent::error_message(self)
    }

    fn keepalive() -> Option<Bytes> {
        Some(Bytes::from_static(KEEPALIVE))
    }

    fn output_bytes(&self) -> usize {
        match responses::stream_event(&self.0) {
            StreamEvent::Progress { output_bytes } => output_bytes,
            _ => 0,
        }
    }

    fn fill_missing_usage(&mut self, usage: &Usage) {
        ResponsesEvent::fill_missing_usage(self, usage)
    }

    fn usage_path(&self) -> Option<&'static [&'static str]> {
        self.is_closing().then_some(RESPONSE_USAGE)
    }
}

/// An SSE comment: ignored by every client, it keeps proxies from closing a quiet stream.
const KEEPALIVE: &[u8] = b": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    const UPSTREAM: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n\
        event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hello\"}\n\n\
        event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"usage\":{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":3}}}\n\n";

    #[test]
    fn relays_events_byte_exact_and_holds_the_last_one_back_with_its_usage() {
        let bytes = UPSTREAM.as_bytes();
        let last = bytes.len() - UPSTREAM.split("\n\n").filter(|e| !e.is_empty()).last().unwrap().len() - 2;
        for split in 0..bytes.len() {
            let mut p = Passthrough::default();
            let mut out = p.push(&bytes[..split]).to_vec();
            out.extend_from_slice(&p.push(&bytes[split..]));
            assert_eq!(out, &bytes[..last], "split at {split}");
            assert_eq!(p.progress(), Progress::Complete);
            let u = p.usage().unwrap();
            assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens), (6, 4, 3));
            let closing = String::from_utf8(p.closing("0.01").to_vec()).unwrap();
            assert_eq!(
                closing,
                UPSTREAM[last..].replace("\"output_tokens\":3}", "\"output_tokens\":3,\"cost\":0.01}"),
                "the usage carries the cost"
            );
            assert_eq!(p.produced().tokens(), 2);
            assert_eq!(p.stored_response(), Some("r"), "noted for GET /v1/responses/r");
        }
    }

    #[test]
    fn errors_end_the_stream_in_band() {
        let mut p = Passthrough::default();
        p.push(b"event: response.created\ndata: {\"type\":\"response.created\"}\n\n");
        assert_eq!(p.keepalive().as_deref(), Some(KEEPALIVE));
        let out = p.push(b"event: error\ndata: {\"type\":\"error\",\"message\":\"busy\"}\n\nevent: x\ndata: {}\n\n");
        assert!(out.starts_with(b"event: error\n") && !out.ends_with(b"{}\n\n"));
        assert!(matches!(p.progress(), Progress::Failed { message, .. } if message.ends_with("busy")));
        let fail = String::from_utf8(Passthrough::default().fail("gone").to_vec()).unwrap();
        assert!(fail.starts_with("event: error\ndata: ") && fail.contains("\"gone\""), "{fail}");
    }
}
