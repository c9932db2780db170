//! Streams for Anthropic clients: the events of a stream translated from another protocol
//! (`protocol::stream::openai_to_anthropic`), with `ping` keep-alives while the upstream is
//! silent. The relay (`relay.rs`) settles the call before `message_stop` is written and turns
//! an upstream failure after the first byte into an in-band `event: error`.

use bytes::Bytes;

use super::relay::ClientEvent;
use crate::protocol::stream::openai_to_anthropic::AnthropicEvent;

/// Anthropic's keep-alive event.
const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

impl ClientEvent for AnthropicEvent {
    fn is_closing(&self) -> bool {
        self.event == "message_stop"
    }

    fn error_message(&self) -> Option<String> {
        (self.event == "error")
            .then(|| self.data.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("").to_string())
    }

    fn keepalive() -> Option<Bytes> {
        Some(Bytes::from_static(PING))
    }

    fn output_bytes(&self) -> usize {
        crate::protocol::anthropic::event_output_bytes(&self.data)
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
        assert!(out.contains("event: message_delta") && out.contains("\"end_turn\""), "{out}");
        assert!(!out.contains("message_stop"), "held back until the call settles");
        assert_eq!(t.progress(), Progress::Complete);
        let u = t.usage().unwrap();
        assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens), (8, 4, 2));
        assert_eq!(&t.closing()[..], b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert_eq!(t.keepalive(), None, "no ping after the end");
        assert_eq!(t.produced().tokens(), 2, "\"Hel\" + \"lo\": 5 bytes of text");
    }

    #[test]
    fn upstream_errors_and_early_ends_fail_in_band() {
        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = t.push(b"data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n");
        assert!(out.starts_with(b"event: error\n"), "{out:?}");
        assert_eq!(t.progress(), Progress::Failed { class: "upstream_error", message: "overloaded".into() });

        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = t.end();
        assert!(out.starts_with(b"event: error\n"));
        assert!(matches!(t.progress(), Progress::Failed { class: "upstream_truncated", .. }));

        let mut t = Translated::new(OpenAiToAnthropic::new("m"));
        t.push(chunk(r#"{"content":"x"}"#, "null").as_bytes());
        let out = String::from_utf8(t.fail("the provider sent nothing for 5 ms").to_vec()).unwrap();
        assert!(out.starts_with("event: error\n") && out.contains("\"api_error\""), "{out}");
    }
}
