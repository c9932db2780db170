//! Streams for OpenAI clients: the OpenAI passthrough (bytes relayed as they arrive, the usage
//! chunk the gateway asked for removed when the client did not ask for it) and the events of
//! a translated stream (`protocol::stream::*_to_openai`). The usage chunk the client gets
//! waits for the call to settle and goes out carrying its cost (`usage.cost`).

use bytes::{Bytes, BytesMut};

use super::final_usage::FinalUsage;
use super::relay::{ClientEvent, Progress, Shape};
use crate::billing::estimate::OutputCount;
use crate::billing::pricing::Usage;
use crate::protocol::stream::anthropic_to_openai::OpenAiEvent;
use crate::protocol::usage_cost::USAGE;
use crate::protocol::{openai, sse};
use crate::store::call_outcome::ErrorClass;

/// An OpenAI provider's stream relayed to an OpenAI client.
pub struct Passthrough {
    framer: sse::SseFramer,
    client_wants_usage: bool,
    usage: Option<Usage>,
    saw_done: bool,
    /// What ended the stream as a failure (the provider's in-band error, or an event that is
    /// not JSON): its class and message.
    failed: Option<(ErrorClass, String)>,
    produced: OutputCount,
    /// The usage chunk the client asked for, held back to carry the call's cost.
    final_usage: FinalUsage,
}

impl Passthrough {
    pub fn new(client_wants_usage: bool) -> Self {
        Passthrough {
            framer: sse::SseFramer::default(),
            client_wants_usage,
            usage: None,
            saw_done: false,
            failed: None,
            produced: OutputCount::default(),
            final_usage: FinalUsage::default(),
        }
    }

    /// Reads usage from an event and decides what the client gets of it.
    fn filter(&mut self, event: Bytes) -> Option<Bytes> {
        let Some(data) = sse::event_data(&event) else {
            return Some(event);
        };
        if data.trim() == "[DONE]" {
            // Held back until the call is settled.
            self.saw_done = true;
            return None;
        }
        if let Some(message) = openai::chunk_error(&data) {
            // The provider ended the stream with an error event, already in the client's
            // dialect: it goes out as the stream's last event, in place of the gateway's own.
            let message = format!("the provider's stream reported an error: {message}");
            self.failed = Some((ErrorClass::UpstreamStreamError, message));
            return Some([self.final_usage.release(), event].concat().into());
        }
        let Some(output) = openai::chunk_output_bytes(&data) else {
            // Not an event of the protocol: never relayed; the stream ends with an error event
            // in its place.
            let message = "the provider's stream sent an event that is not JSON".to_string();
            let error = self.fail(&message);
            self.failed = Some((ErrorClass::UpstreamInvalidResponse, message));
            return Some(error);
        };
        self.produced.add(output);
        if !openai::chunk_has_usage(&data) {
            return self.final_usage.after(event);
        }
        if let Some(u) = openai::chunk_usage(&data) {
            self.usage = Some(u);
        }
        if self.client_wants_usage {
            return Some(self.final_usage.hold(event, USAGE));
        }
        openai::strip_usage(&data).and_then(|d| self.final_usage.after(sse::data_event(&d)))
    }
}

impl Shape for Passthrough {
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.framer.push(chunk);
        let mut out = BytesMut::new();
        while self.progress() == Progress::Streaming
            && let Some(event) = self.framer.next_event()
        {
            if let Some(kept) = self.filter(event) {
                out.extend_from_slice(&kept);
            }
        }
        out.freeze()
    }

    fn end(&mut self) -> Bytes {
        // An unterminated last event is still an event.
        self.push(b"\n\n")
    }

    fn progress(&self) -> Progress {
        match (&self.failed, self.saw_done) {
            (Some((class, message)), _) => Progress::Failed { class: *class, message: message.clone() },
            (None, true) => Progress::Complete,
            (None, false) => Progress::Streaming,
        }
    }

    fn closing(&mut self, cost: &str) -> Bytes {
        [self.final_usage.with_cost(cost), Bytes::from_static(b"data: [DONE]\n\n")].concat().into()
    }

    fn fail(&mut self, message: &str) -> Bytes {
        let error = sse::data_event(&openai::stream_error_event(message, "upstream_error"));
        [self.final_usage.release(), error].concat().into()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn produced(&self) -> OutputCount {
        self.produced
    }
}

impl ClientEvent for OpenAiEvent {
    fn is_closing(&self) -> bool {
        matches!(self, OpenAiEvent::Done)
    }

    fn error_message(&self) -> Option<String> {
        OpenAiEvent::error_message(self)
    }

    /// OpenAI streams have no keep-alive event.
    fn keepalive() -> Option<Bytes> {
        None
    }

    fn output_bytes(&self) -> usize {
        match self {
            OpenAiEvent::Chunk(v) => openai::chunk_value_output_bytes(v),
            _ => 0,
        }
    }

    fn fill_missing_usage(&mut self, usage: &Usage) {
        OpenAiEvent::fill_missing_usage(self, usage)
    }

    fn usage_path(&self) -> Option<&'static [&'static str]> {
        self.carries_usage().then_some(USAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_usage_unless_asked_and_holds_done_back() {
        let stream = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
                      data: [DONE]\n\n";
        for wants in [false, true] {
            let mut p = Passthrough::new(wants);
            let out = String::from_utf8(p.push(stream.as_bytes()).to_vec()).unwrap();
            assert!(out.contains("\"hi\""));
            assert!(!out.contains("usage"), "stripped, or held back to carry the cost: {out}");
            assert!(!out.contains("[DONE]"), "held back until settled");
            assert_eq!(p.progress(), Progress::Complete);
            assert_eq!((p.usage().unwrap().input_tokens, p.usage().unwrap().output_tokens), (3, 1));
            let closing = String::from_utf8(p.closing("0.002").to_vec()).unwrap();
            let usage =
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"cost\":0.002}}\n\n";
            assert_eq!(closing, if wants { format!("{usage}data: [DONE]\n\n") } else { "data: [DONE]\n\n".into() });
            assert_eq!(p.produced().tokens(), 1, "\"hi\": 2 bytes of text");
        }
    }

    #[test]
    fn a_provider_error_event_is_the_last_event() {
        let mut p = Passthrough::new(false);
        let out = p.push(b"data: {\"error\":{\"message\":\"boom\"}}\n\ndata: {\"choices\":[]}\n\n");
        assert_eq!(&out[..], b"data: {\"error\":{\"message\":\"boom\"}}\n\n");
        assert!(
            matches!(p.progress(), Progress::Failed { class: ErrorClass::UpstreamStreamError, message } if message.contains("boom"))
        );
    }

    #[test]
    fn an_event_that_is_not_json_ends_the_stream_unrelayed() {
        let mut p = Passthrough::new(false);
        let out = p.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: <html>502</html>\n\ndata: [DONE]\n\n");
        let out = String::from_utf8(out.to_vec()).unwrap();
        assert!(out.contains("\"hi\"") && !out.contains("html") && !out.contains("[DONE]"), "{out}");
        assert!(
            out.ends_with("\"type\":\"upstream_error\"}}\n\n") || out.contains("\"error\""),
            "in-band error: {out}"
        );
        assert!(matches!(p.progress(), Progress::Failed { class: ErrorClass::UpstreamInvalidResponse, .. }));
        assert_eq!(p.produced().tokens(), 1, "what was relayed is counted");
    }

    #[test]
    fn an_unterminated_last_event_still_counts() {
        let mut p = Passthrough::new(false);
        assert!(p.push(b"data: {\"choices\":[{\"index\":0}]}\n\ndata: [DO").starts_with(b"data: "));
        assert_eq!(p.progress(), Progress::Streaming);
        assert!(p.push(b"NE]").is_empty());
        assert!(p.end().is_empty());
        assert_eq!(p.progress(), Progress::Complete);
    }
}
