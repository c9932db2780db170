//! Relaying a streamed response: events go out as they arrive while usage is read from them.
//! One loop serves every (client dialect, provider protocol) pair; what differs — passthrough
//! or translation, which event ends the stream, how an error is written in-band — is a
//! [`Shape`] (`relay_openai.rs`, `relay_anthropic.rs`).
//!
//! The call is settled (journaled) before the client's final event (`data: [DONE]`,
//! `event: message_stop`) goes out, so a client that saw the end of the stream always has its
//! record and charge. Usage is copied onto the call as soon as it is seen, so a client that
//! stops reading midway is still charged for what the upstream reported. Failures after the
//! first byte are reported in-band, never as a silently cut stream. Clients whose dialect has
//! a keep-alive event (Anthropic `ping`) get one whenever the upstream is silent for the
//! `stream_keepalive_ms` setting.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::time::Instant;

use super::call::CallGuard;
use crate::billing::pricing::Usage;
use crate::protocol::stream::{SseTranslator, Translate, encode_all};

/// Where a stream is, as its shape sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Streaming,
    /// The upstream's final event was seen; the client's is held back until the call settles.
    Complete,
    /// The stream failed and the client was told in-band (`class` goes on the call record).
    Failed {
        class: &'static str,
        message: String,
    },
}

/// What a relay does with the upstream's bytes for one client dialect and provider protocol.
pub trait Shape: Send + 'static {
    /// One network read of the upstream body (split anywhere); the client's bytes it completes.
    fn push(&mut self, chunk: &[u8]) -> Bytes;
    /// The upstream body ended: whatever an unterminated last event completes. If the stream
    /// is still [`Progress::Streaming`] afterwards, the relay fails it as truncated.
    fn end(&mut self) -> Bytes;
    fn progress(&self) -> Progress;
    /// The client's final event, sent once the call is settled.
    fn closing(&mut self) -> Bytes;
    /// A gateway-side failure (I/O error, idle timeout), written in-band in the client's dialect.
    fn fail(&mut self, message: &str) -> Bytes;
    /// Usage the upstream reported so far.
    fn usage(&self) -> Option<Usage>;
    /// A keep-alive event, if the client's dialect has one and the stream is at a point where
    /// it may be sent.
    fn keepalive(&self) -> Option<Bytes> {
        None
    }
}

struct RelayState<S> {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    shape: S,
    /// `None` once settled.
    call: Option<CallGuard>,
    timing: Timing,
    out: VecDeque<Bytes>,
}

/// How long a stream may be silent.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Upstream silence after which the stream fails.
    pub idle: Duration,
    /// Upstream silence after which the client gets a keep-alive event (if its dialect has one).
    pub keepalive: Duration,
}

/// The client's streamed body for an upstream response, through `shape`.
pub fn stream<S: Shape>(resp: reqwest::Response, call: CallGuard, timing: Timing, shape: S) -> Body {
    let upstream: BoxStream<'static, reqwest::Result<Bytes>> = resp.bytes_stream().boxed();
    let state = RelayState { upstream, shape, call: Some(call), timing, out: VecDeque::new() };
    Body::from_stream(futures_util::stream::unfold(state, |mut st| async move {
        let mut silent_since = Instant::now();
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), st));
            }
            st.call.as_ref()?;
            let idle = st.timing.idle;
            let idle_left = idle.saturating_sub(silent_since.elapsed());
            let wait = if st.shape.keepalive().is_some() { idle_left.min(st.timing.keepalive) } else { idle_left };
            match tokio::time::timeout(wait, st.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    silent_since = Instant::now();
                    let bytes = st.shape.push(&chunk);
                    st.after(bytes);
                }
                Ok(None) => {
                    let bytes = st.shape.end();
                    st.after(bytes);
                    if st.call.is_some() && st.shape.progress() == Progress::Streaming {
                        st.fail("the provider's stream ended before it was complete", "upstream_truncated");
                    }
                }
                Ok(Some(Err(e))) => st.fail(&format!("the provider's stream failed: {e}"), "upstream_io_error"),
                Err(_) if silent_since.elapsed() >= idle => {
                    st.fail(&format!("the provider sent nothing for {} ms", idle.as_millis()), "timeout")
                }
                Err(_) => {
                    if let Some(ping) = st.shape.keepalive() {
                        st.out.push_back(ping);
                    }
                }
            }
        }
    }))
}

impl<S: Shape> RelayState<S> {
    /// Queues what the shape produced and settles the call if the stream is over.
    fn after(&mut self, bytes: Bytes) {
        let Some(call) = &mut self.call else { return };
        if let Some(u) = self.shape.usage() {
            call.usage = Some(u);
        }
        if !bytes.is_empty() {
            call.mark_first_token();
            self.out.push_back(bytes);
        }
        match self.shape.progress() {
            Progress::Streaming => {}
            Progress::Complete => {
                if let Some(call) = self.call.take() {
                    call.success(200);
                    self.out.push_back(self.shape.closing());
                }
            }
            Progress::Failed { class, message } => {
                if let Some(call) = self.call.take() {
                    tracing::warn!(call = call.id(), class, "stream failed after it started: {message}");
                    call.failure(502, class, &message);
                }
            }
        }
    }

    fn fail(&mut self, message: &str, class: &str) {
        if let Some(call) = self.call.take() {
            tracing::warn!(call = call.id(), class, "stream failed after it started: {message}");
            call.failure(502, class, message);
            self.out.push_back(self.shape.fail(message));
        }
    }
}

/// A client event produced by a translating state machine (`protocol::stream`).
pub trait ClientEvent {
    /// The event that ends a successful stream (held back until the call is settled).
    fn is_closing(&self) -> bool;
    /// The message of an in-band error event (the stream ends with it).
    fn error_message(&self) -> Option<String>;
    /// The dialect's keep-alive event, if it has one.
    fn keepalive() -> Option<Bytes>;
}

/// A stream translated from the provider's protocol into the client's dialect by one of
/// `protocol::stream`'s machines.
pub struct Translated<T: Translate> {
    sse: SseTranslator<T>,
    progress: Progress,
    closing: Option<Bytes>,
    /// Whether the client got its first event (keep-alives may only follow it).
    started: bool,
}

impl<T: Translate> Translated<T> {
    pub fn new(machine: T) -> Self {
        Translated { sse: SseTranslator::new(machine), progress: Progress::Streaming, closing: None, started: false }
    }
}

impl<T> Translated<T>
where
    T: Translate,
    T::Out: ClientEvent,
{
    /// Encodes what the machine emitted, holding back the closing event. `class` is what a
    /// failure reported by these events is recorded as.
    fn take(&mut self, outs: Vec<T::Out>, class: &'static str) -> Bytes {
        let mut buf = BytesMut::new();
        for o in outs {
            if self.progress != Progress::Streaming {
                break;
            }
            if o.is_closing() {
                self.closing = Some(T::encode(&o));
                self.progress = Progress::Complete;
                continue;
            }
            if let Some(message) = o.error_message() {
                self.progress = Progress::Failed { class, message };
            }
            buf.extend_from_slice(&T::encode(&o));
        }
        self.started |= !buf.is_empty();
        buf.freeze()
    }
}

impl<T> Shape for Translated<T>
where
    T: Translate + Send + 'static,
    T::Out: ClientEvent,
{
    fn push(&mut self, chunk: &[u8]) -> Bytes {
        let outs = self.sse.push_bytes(chunk);
        self.take(outs, "upstream_error")
    }

    fn end(&mut self) -> Bytes {
        let outs = self.sse.finish();
        self.take(outs, "upstream_truncated")
    }

    fn progress(&self) -> Progress {
        self.progress.clone()
    }

    fn closing(&mut self) -> Bytes {
        self.closing.take().unwrap_or_default()
    }

    fn fail(&mut self, message: &str) -> Bytes {
        let outs = self.sse.fail(message);
        Bytes::from(encode_all::<T>(&outs))
    }

    fn usage(&self) -> Option<Usage> {
        let u = self.sse.usage();
        (u != Usage::default()).then_some(u)
    }

    fn keepalive(&self) -> Option<Bytes> {
        if self.started && self.progress == Progress::Streaming { T::Out::keepalive() } else { None }
    }
}
