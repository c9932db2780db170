//! Streams for Anthropic clients: an Anthropic provider's stream passed through (bytes
//! relayed as they arrive, usage read from `message_start` and `message_delta`), or the
//! events of a stream translated from another protocol (`protocol::stream::openai_to_anthropic`),
//! with `ping` keep-alives while the upstream is silent. The relay (`relay.rs`) settles the
//! call before `message_stop` is written and turns an upstream failure after the first byte
//! into an in-band `event: error`. The `message_delta` with the final usage waits with
//! `message_stop` and goes out carrying the call's cost (`usage.cost`).

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::final_usage::FinalUsage;
use super::relay::{ClientEvent, Progress, Shape};
use crate::billing::estimate::OutputCount;
use crate::billing::pricing::Usage;
use crate::protocol::anthropic::{self, PING_EVENT as PING, StreamEvent, fold_stream_usage};
use crate::protocol::sse;
use crate::protocol::stream::AnthropicEvent;
use crate::protocol::usage_cost::USAGE;
use crate::store::call_outcome::ErrorClass;

/// An Anthropic provider's stream relayed to an Anthropic client.
#[derive(Default)]
pub struct Passthrough {
    framer: sse::SseFramer,
    usage: Option<Usage>,
    /// The provider's `message_stop`, held back until the call settles.
    closing: Option<Bytes>,
    /// What ended the stream as a failure (the provider's in-band error, or an event that is
    /// not JSON): its class and message.
    failed: Option<(ErrorClass, String)>,
    started: bool,
    produced: OutputCount,
    /// The `message_delta` with the final usage, held back to carry the call's cost.
    final_usage: FinalUsage,
}

/// What becomes of an upstream event.
enum Read {
    Relay,
    /// `message_delta`: relayed once the call settles, with its cost.
    FinalUsage,
    /// Not relayed: the `message_stop` held back, or an event that is not JSON (which ends
    /// the stream: the relay reports it in-band).
    Keep,
}

impl Passthrough {
    /// Reads usage from an event and decides what becomes of it.
    fn read(&mut self, event: &Bytes) -> Read {
        let Some(data) = sse::event_data(event) else { return Read::Relay };
        let Ok(v) = serde_json::from_str::<Value>(&data) else {
            let message = "the provider's stream sent an event that is not JSON".to_string();
            self.failed = Some((ErrorClass::UpstreamInvalidResponse, message));
            return Read::Keep;
        };
        self.produced.add(anthropic::event_output_bytes(&v));
        let read = anthropic::stream_event(&v);
        let usage = match read {
            StreamEvent::Start(usage) | StreamEvent::Delta(usage) => usage,
            StreamEvent::Stop => {
                self.closing = Some(event.clone());
                return Read::Keep;
            }
            StreamEvent::Error(message) => {
                self.failed = Some((
                    ErrorClass::UpstreamStreamError,
                    format!("the provider's stream reported an error: {message}"),
                ));
                None
            }
            StreamEvent::Other => None,
        };
        let last = matches!(read, StreamEvent::Delta(_));
        if let Some(u) = usage {
            fold_stream_usage(self.usage.get_or_insert_default(), u);
        }
        if last { Read::FinalUsage } else { Read::Relay }
    }
}

impl Shape for Passthrough {
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        self.framer.push(chunk);
        let mut out = BytesMut::new();
        while self.progress() == Progress::Streaming
            && let Some(event) = self.framer.next_event()
        {
            match self.read(&event) {
                Read::Relay if self.failed.is_some() => {
                    out.extend_from_slice(&self.final_usage.release());
                    out.extend_from_slice(&event);
                }
                Read::Relay => out.extend_from_slice(&self.final_usage.after(event).unwrap_or_default()),
                Read::FinalUsage => out.extend_from_slice(&self.final_usage.hold(event, USAGE)),
                Read::Keep => {
                    if let Some((_, message)) = &self.failed {
                        // An event that is not JSON: an error event in its place ends the stream.
                        let error = self.fail(&message.clone());
                        out.extend_from_slice(&error);
                    }
                }
            }
        }
        self.started |= !out.is_empty();
        out.freeze()
    }

    fn end(&mut self) -> Bytes {
        // An unterminated last event is still an event.
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
        [self.final_usage.with_cost(cost), self.closing.take().unwrap_or_default()].concat().into()
    }

    fn fail(&mut self, message: &str) -> Bytes {
        let error = anthropic::error_event("api_error", message);
        [self.final_usage.release(), Bytes::from(error)].concat().into()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn produced(&self) -> OutputCount {
        self.produced
    }

    fn keepalive(&self) -> Option<Bytes> {
        (self.started && self.progress() == Progress::Streaming).then(|| Bytes::from_static(PING))
    }
}

impl ClientEvent for AnthropicEvent {
    fn is_closing(&self) -> bool {
        self.is_stop()
    }

    fn error_message(&self) -> Option<String> {
        AnthropicEvent::error_message(self)
    }

    fn keepalive() -> Option<Bytes> {
        Some(Bytes::from_static(PING))
    }

    fn output_bytes(&self) -> usize {
        anthropic::event_output_bytes(&self.data)
    }

    fn fill_missing_usage(&mut self, usage: &Usage) {
        AnthropicEvent::fill_missing_usage(self, usage)
    }

    fn usage_path(&self) -> Option<&'static [&'static str]> {
        self.carries_final_usage().then_some(USAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::relay::{Progress, Shape, Translated};
    use crate::protocol::stream::openai_to_anthropic::OpenAiToAnthropic;

    fn chunk(delta: &str, finish: &str) -> String {
        format!(
            "data: {{\"id\":\"c1\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
        )
    }

    const UPSTREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"x_unknown\":1,\"usage\":{\"input_tokens\":7,\"output_tokens\":1,\"cache_read_input_tokens\":3}}}\n\n\
        event: ping\ndata: {\"type\": \"ping\"}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"h\u{e9}\"}}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn passthrough_relays_bytes_and_holds_message_stop_back() {
        let bytes = UPSTREAM.as_bytes();
        let delta = UPSTREAM.find("event: message_delta").unwrap();
        for split in 0..bytes.len() {
            let mut p = Passthrough::default();
            let mut out = p.push(&bytes[..split]).to_vec();
            out.extend_from_slice(&p.push(&bytes[split..]));
            assert_eq!(out, &bytes[..delta], "byte-exact up to message_delta (split at {split})");
            assert_eq!(p.progress(), Progress::Complete);
            let u = p.usage().unwrap();
            assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens), (7, 3, 5));
            assert_eq!(
                String::from_utf8(p.closing("0.000042").to_vec()).unwrap(),
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":5,\"cost\":0.000042}}\n\n\
                 event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
            );
        }
        let mut p = Passthrough::default();
        p.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n");
        assert_eq!(p.keepalive().as_deref(), Some(PING));
        let out = p.push(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy\"}}\n\nevent: ping\n\n");
        assert!(out.starts_with(b"event: error\n") && !out.ends_with(b"ping\n\n"));
        assert!(matches!(p.progress(), Progress::Failed { message, .. } if message.ends_with("busy")));
    }

    #[test]
    fn holds_message_stop_back_and_reports_usage() {
        let mut t = Translated::new(OpenAiToAnthropic::new("claude-x"));
        assert_eq!(t.keepalive(), None, "no ping before message_start");
        let first = t.push(chunk(r#"{"role":"assistant","content":"Hel"}"#, "null").as_bytes());
        assert!(first.starts_with(b"event: message_start\n"));
        assert_eq!(t.keepalive().as_deref(), Some(PING));
        let rest = [
            chunk(r#"{"content":"lo"}"#, "\"stop\""),
            r#"data: {"id":"c1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#.to_string() + "\n\n",
            "data: [DONE]\n\n".to_string(),
        ]
        .concat();
        let out = String::from_utf8(t.push(rest.as_bytes()).to_vec()).unwrap();
        assert!(!out.contains("message_delta") && !out.contains("message_stop"), "held back until the call settles");
        assert_eq!(t.progress(), Progress::Complete);
        let u = t.usage().unwrap();
        assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens), (8, 4, 2));
        let closing = String::from_utf8(t.closing("1.5").to_vec()).unwrap();
        assert!(closing.starts_with("event: message_delta\n") && closing.contains("\"end_turn\""), "{closing}");
        assert!(closing.contains(",\"cost\":1.5}"), "{closing}");
        assert!(closing.ends_with("}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{closing}");
        assert_eq!(t.keepalive(), None, "no ping after the end");
        assert_eq!(t.produced().tokens(), 2, "\"Hel\" + \"lo\": 5 bytes of text");
    }

    #[test]
    fn upstream_errors_and_early_ends_fail_in_band() {
        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = t.push(b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n");
        assert!(out.starts_with(b"event: error\n"), "{out:?}");
        assert_eq!(t.progress(), Progress::Failed { class: ErrorClass::UpstreamError, message: "overloaded".into() });

        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = t.end();
        assert!(out.starts_with(b"event: error\n"));
        assert!(matches!(t.progress(), Progress::Failed { class: ErrorClass::UpstreamTruncated, .. }));

        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = String::from_utf8(t.fail("the provider sent nothing for 5 ms").to_vec()).unwrap();
        assert!(out.starts_with("event: error\n") && out.contains("\"api_error\""), "{out}");
    }
}
