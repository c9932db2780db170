//! Relaying an OpenAI stream: events go out as they arrive, while a copy is read for usage.
//! The usage chunk the gateway asked for is removed when the client did not ask for it. The
//! call is settled (journaled) before `data: [DONE]` goes out, so a client that saw the end of
//! the stream always has its record and charge. Failures after the first byte are reported
//! in-band, never as a silently cut stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::call::CallGuard;
use crate::protocol::{openai, sse};

struct RelayState {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    framer: sse::SseFramer,
    /// `None` once settled.
    call: Option<CallGuard>,
    client_wants_usage: bool,
    idle: Duration,
    out: VecDeque<Bytes>,
    saw_done: bool,
}

pub fn openai_stream(resp: reqwest::Response, call: CallGuard, client_wants_usage: bool, idle: Duration) -> Body {
    let state = RelayState {
        upstream: resp.bytes_stream().boxed(),
        framer: sse::SseFramer::default(),
        call: Some(call),
        client_wants_usage,
        idle,
        out: VecDeque::new(),
        saw_done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), st));
            }
            st.call.as_ref()?;
            match tokio::time::timeout(st.idle, st.upstream.next()).await {
                Ok(Some(Ok(chunk))) => st.on_chunk(&chunk),
                Ok(None) => st.on_end(),
                Ok(Some(Err(e))) => st.on_error(&format!("the provider's stream failed: {e}"), "upstream_io_error"),
                Err(_) => st.on_error(&format!("the provider sent nothing for {} ms", st.idle.as_millis()), "timeout"),
            }
        }
    });
    Body::from_stream(stream)
}

impl RelayState {
    fn on_chunk(&mut self, chunk: &[u8]) {
        self.framer.push(chunk);
        let mut out = BytesMut::new();
        while let Some(event) = self.framer.next_event() {
            if let Some(kept) = self.filter(event) {
                out.extend_from_slice(&kept);
            }
        }
        if !out.is_empty() {
            if let Some(call) = &mut self.call {
                call.mark_first_token();
            }
            self.out.push_back(out.freeze());
        }
        if self.saw_done {
            self.settle_success();
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
        if !openai::chunk_has_usage(&data) {
            return Some(event);
        }
        if let (Some(call), Some(u)) = (&mut self.call, openai::chunk_usage(&data)) {
            call.usage = Some(u);
        }
        if self.client_wants_usage {
            return Some(event);
        }
        openai::strip_usage(&data).map(|d| sse::data_event(&d))
    }

    fn settle_success(&mut self) {
        if let Some(call) = self.call.take() {
            call.success(200);
            self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        }
    }

    fn on_end(&mut self) {
        let rest = self.framer.take_rest();
        if !rest.is_empty() {
            self.on_chunk(&rest);
            self.on_chunk(b"\n\n");
        }
        if self.call.is_some() {
            self.on_error("the provider's stream ended before it was complete", "upstream_truncated");
        }
    }

    fn on_error(&mut self, message: &str, class: &str) {
        if let Some(call) = self.call.take() {
            tracing::warn!(call = call.id(), class, "stream failed after it started: {message}");
            call.failure(502, class, message);
            let event = openai::stream_error_event(message, "upstream_error");
            self.out.push_back(sse::data_event(&event));
        }
    }
}
