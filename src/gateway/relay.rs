//! Relaying an OpenAI stream: events go out as they arrive, while a copy is read for usage.
//! The usage chunk the gateway asked for is removed when the client did not ask for it. The
//! call is settled (journaled) before `data: [DONE]` goes out, so a client that saw the end of
//! the stream always has its record and charge. Failures after the first byte are reported
//! in-band, never as a silently cut stream, and judged against the credential and target
//! ([`Verdict`]). When the client goes away the upstream is dropped at once, or — with the
//! provider's `drain_ms` — read on in the background for up to that long so usage is known.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::call::CallGuard;
use super::verdict::Verdict;
use crate::config::Timeouts;
use crate::protocol::{openai, sse};

struct RelayState {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    framer: sse::SseFramer,
    /// `None` once settled.
    call: Option<CallGuard>,
    /// `None` once decided.
    verdict: Option<Verdict>,
    client_wants_usage: bool,
    idle: Duration,
    /// How long to read on after the client left (zero: cancel).
    drain: Duration,
    out: VecDeque<Bytes>,
    saw_done: bool,
    /// Set in the background drain: what is read is no longer sent, and the call settles as
    /// disconnected (charged for the usage the provider reports).
    client_gone: bool,
}

pub fn openai_stream(
    resp: reqwest::Response,
    call: CallGuard,
    verdict: Verdict,
    client_wants_usage: bool,
    timeouts: &Timeouts,
) -> Body {
    let state = RelayState {
        upstream: resp.bytes_stream().boxed(),
        framer: sse::SseFramer::default(),
        call: Some(call),
        verdict: Some(verdict),
        client_wants_usage,
        idle: Duration::from_millis(timeouts.idle_ms),
        drain: Duration::from_millis(timeouts.drain_ms),
        out: VecDeque::new(),
        saw_done: false,
        client_gone: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), st));
            }
            st.call.as_ref()?;
            st.pull(st.idle).await;
        }
    });
    Body::from_stream(stream)
}

impl RelayState {
    /// Reads the next piece of the upstream, waiting at most `wait`.
    async fn pull(&mut self, wait: Duration) {
        match tokio::time::timeout(wait, self.upstream.next()).await {
            Ok(Some(Ok(chunk))) => self.on_chunk(&chunk),
            Ok(None) => self.on_end(),
            Ok(Some(Err(e))) => self.on_error(&format!("the provider's stream failed: {e}"), "upstream_io_error"),
            Err(_) => self.on_error(&format!("the provider sent nothing for {} ms", wait.as_millis()), "timeout"),
        }
    }

    fn on_chunk(&mut self, chunk: &[u8]) {
        self.framer.push(chunk);
        let mut out = BytesMut::new();
        // Nothing after the event that settled the call (an error event) goes out.
        while self.call.is_some()
            && let Some(event) = self.framer.next_event()
        {
            if let Some(kept) = self.filter(event) {
                out.extend_from_slice(&kept);
            }
        }
        if !out.is_empty() && !self.client_gone {
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
        if let Some(message) = openai::chunk_error(&data) {
            // The provider ended the stream with an error event, already in the client's
            // dialect: it goes out as the stream's last event, in place of the gateway's own.
            self.fail(&format!("the provider's stream reported an error: {message}"), "upstream_stream_error");
            return Some(event);
        }
        if let Some(call) = &mut self.call {
            // Counted in case the stream is cut before the provider reports usage.
            call.note_output(openai::chunk_output_bytes(&data));
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
        if let Some(verdict) = self.verdict.take() {
            verdict.ok();
        }
        if let Some(call) = self.call.take() {
            if self.client_gone {
                call.failure(499, "client_disconnected_drained", "the client left; the stream was read to its end");
                return;
            }
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

    /// The provider failed after the stream started: an in-band error event for the client.
    fn on_error(&mut self, message: &str, class: &str) {
        if self.fail(message, class) {
            let event = openai::stream_error_event(message, "upstream_error");
            self.out.push_back(sse::data_event(&event));
        }
    }

    /// Settles the call as failed by the provider; false if it was settled already.
    fn fail(&mut self, message: &str, class: &str) -> bool {
        if let Some(verdict) = self.verdict.take() {
            verdict.broke(message);
        }
        let Some(call) = self.call.take() else { return false };
        tracing::warn!(call = call.id(), class, "stream failed after it started: {message}");
        if self.client_gone {
            call.failure(499, "client_disconnected", &format!("the client left; then {message}"));
        } else {
            call.failure(502, class, message);
        }
        true
    }

    /// After the client left: reads on until the stream ends or `drain` has passed, then
    /// settles with what the provider reported.
    async fn drain(mut self) {
        let deadline = Instant::now() + self.drain;
        while self.call.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if left < self.idle {
                // The drain bound, not the provider, ends this wait: not the provider's fault.
                match tokio::time::timeout(left, self.upstream.next()).await {
                    Ok(Some(Ok(chunk))) => self.on_chunk(&chunk),
                    Ok(None) => self.on_end(),
                    Ok(Some(Err(e))) => {
                        self.on_error(&format!("the provider's stream failed: {e}"), "upstream_io_error")
                    }
                    Err(_) => break,
                }
            } else {
                self.pull(self.idle).await;
            }
            self.out.clear();
        }
        if let Some(call) = self.call.take() {
            let message =
                format!("the client left; the stream was read for the {} ms drain limit", self.drain.as_millis());
            call.failure(499, "drain_limit", &message);
        }
    }
}

impl Drop for RelayState {
    /// The client went away before the call settled: with a drain bound, the rest of the
    /// stream is read in the background; without, the upstream is dropped here (cancelled)
    /// and the call settles as `client_disconnected` in `CallGuard`'s own drop.
    fn drop(&mut self) {
        if self.call.is_none() || self.drain.is_zero() || self.client_gone {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let rest = RelayState {
            upstream: std::mem::replace(&mut self.upstream, futures_util::stream::empty().boxed()),
            framer: std::mem::take(&mut self.framer),
            call: self.call.take(),
            verdict: self.verdict.take(),
            client_wants_usage: self.client_wants_usage,
            idle: self.idle,
            drain: self.drain,
            out: VecDeque::new(),
            saw_done: self.saw_done,
            client_gone: true,
        };
        runtime.spawn(rest.drain());
    }
}
