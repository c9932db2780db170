//! Relaying a streamed response: events go out as they arrive while usage is read from them.
//! One loop serves every (client dialect, provider protocol) pair; what differs — passthrough
//! or translation, which event ends the stream, how an error is written in-band — is a
//! [`Shape`] (`relay_openai.rs`, `relay_anthropic.rs`).
//!
//! The call is settled (journaled) before the client's final event (`data: [DONE]`,
//! `event: message_stop`) goes out, so a client that saw the end of the stream always has its
//! record and charge; the event with the final usage waits with it and goes out carrying
//! the call's cost as the settlement charged it (`usage.cost`, `final_usage.rs`). Usage is copied onto the call as soon as it is seen, so a client that
//! stops reading midway is still charged for what the upstream reported. Failures after the
//! first byte are reported in-band, never as a silently cut stream, and judged against the
//! credential and target ([`Verdict`]). Clients whose dialect has a keep-alive event
//! (Anthropic `ping`) get one whenever the upstream is silent for the `stream_keepalive_ms`
//! setting. When the client goes away the upstream is dropped at once, or — with the
//! provider's `drain_ms` — read on in the background for up to that long so usage is known.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http_body_util::BodyExt;

use super::call::CallGuard;
use super::final_usage::FinalUsage;
use super::verdict::Verdict;
use crate::billing::estimate::{self, OutputCount};
use crate::billing::money::format_credits;
use crate::billing::pricing::Usage;
use crate::config::Timeouts;
use crate::protocol::stream::{ByteTranslator, EventStreamTranslator, SseTranslator, Translate, encode_all};
use crate::providers::http;
use crate::store::call_outcome::ErrorClass;

/// Where a stream is, as its shape sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Streaming,
    /// The upstream's final event was seen; the client's is held back until the call settles.
    Complete,
    /// The stream failed and the client was told in-band (`class` goes on the call record).
    Failed {
        class: ErrorClass,
        message: String,
    },
}

/// What a relay does with the upstream's bytes for one client dialect and provider protocol.
pub trait Shape: Send + 'static {
    /// One network read of the upstream body (split anywhere); the client's bytes it completes.
    /// Nothing after the event that ends the stream (its final or an error event) is returned.
    fn push(&mut self, chunk: &[u8]) -> Bytes;
    /// The upstream body ended: whatever an unterminated last event completes. If the stream
    /// is still [`Progress::Streaming`] afterwards, the relay fails it as truncated.
    fn end(&mut self) -> Bytes;
    fn progress(&self) -> Progress;
    /// The client's final events, sent once the call is settled: the final usage carrying
    /// `cost` (the call's charge in credits, as a decimal), then the event that ends the stream.
    fn closing(&mut self, cost: &str) -> Bytes;
    /// A gateway-side failure (I/O error, idle timeout), written in-band in the client's dialect.
    fn fail(&mut self, message: &str) -> Bytes;
    /// Usage the upstream reported so far.
    fn usage(&self) -> Option<Usage>;
    /// Text the upstream generated so far (message text, reasoning, tool calls), counted as
    /// it passes: what a stream cut before usage arrived is charged for.
    fn produced(&self) -> OutputCount;
    /// A keep-alive event, if the client's dialect has one and the stream is at a point where
    /// it may be sent.
    fn keepalive(&self) -> Option<Bytes> {
        None
    }
    /// The prompt tokens admission counted: a shape that writes the client's usage itself (a
    /// translated stream) tells the counted estimate the call is charged, not zeros, when the
    /// provider reports no usage. A passthrough relays what the provider sent.
    fn estimate_missing_usage(&mut self, _prompt_tokens: i64) {}
    /// The id of a response the provider stored (a passed-through Responses stream).
    fn stored_response(&self) -> Option<&str> {
        None
    }
}

struct RelayState<S> {
    upstream: BoxStream<'static, Result<Bytes, hyper::Error>>,
    shape: S,
    /// `None` once settled.
    call: Option<CallGuard>,
    /// `None` once decided.
    verdict: Option<Verdict>,
    idle: Duration,
    keepalive: Duration,
    /// How long to read on after the client left (zero: cancel).
    drain: Duration,
    /// When the upstream last sent something.
    heard: Instant,
    out: VecDeque<Bytes>,
    /// Set in the background drain: what is read is no longer sent, and the call settles as
    /// disconnected (charged for the usage the provider reports).
    client_gone: bool,
}

/// Owns the relay while the client reads; dropped early (the client left), it hands an
/// unsettled relay to a background drain when the provider has a drain bound.
struct Relay<S: Shape>(Option<RelayState<S>>);

/// The client's streamed body for an upstream response, through `shape`.
pub fn stream<S: Shape>(
    resp: http::Response,
    call: CallGuard,
    verdict: Verdict,
    timeouts: &Timeouts,
    keepalive: Duration,
    mut shape: S,
) -> Body {
    shape.estimate_missing_usage(call.prompt_estimate());
    let state = RelayState {
        upstream: resp.into_body().into_data_stream().boxed(),
        shape,
        call: Some(call),
        verdict: Some(verdict),
        idle: Duration::from_millis(timeouts.idle_ms),
        keepalive,
        drain: Duration::from_millis(timeouts.drain_ms),
        heard: Instant::now(),
        out: VecDeque::new(),
        client_gone: false,
    };
    let stream = futures_util::stream::unfold(Relay(Some(state)), |mut relay| async move {
        let st = relay.0.as_mut().expect("present until dropped");
        loop {
            if let Some(b) = st.out.pop_front() {
                return Some((Ok::<Bytes, Infallible>(b), relay));
            }
            st.call.as_ref()?;
            st.wait().await;
        }
    });
    Body::from_stream(stream)
}

impl<S: Shape> RelayState<S> {
    /// Waits for the upstream while the client reads: a keep-alive when it is silent for
    /// `keepalive` (if the dialect has one), a failure when it is silent for `idle`.
    async fn wait(&mut self) {
        let idle_left = self.idle.saturating_sub(self.heard.elapsed());
        let keepalive = self.shape.keepalive();
        let wait = if keepalive.is_some() { idle_left.min(self.keepalive) } else { idle_left };
        match tokio::time::timeout(wait, self.upstream.next()).await {
            Ok(next) => self.on_next(next),
            Err(_) if self.heard.elapsed() >= self.idle => {
                let message = format!("the provider sent nothing for {} ms", self.idle.as_millis());
                self.on_error(&message, ErrorClass::Timeout)
            }
            Err(_) => self.out.extend(keepalive),
        }
    }

    fn on_next(&mut self, next: Option<Result<Bytes, hyper::Error>>) {
        match next {
            Some(Ok(chunk)) => {
                self.heard = Instant::now();
                let bytes = self.shape.push(&chunk);
                self.after(bytes);
            }
            None => {
                let bytes = self.shape.end();
                self.after(bytes);
                if self.call.is_some() {
                    self.on_error("the provider's stream ended before it was complete", ErrorClass::UpstreamTruncated);
                }
            }
            Some(Err(e)) => self.on_error(&format!("the provider's stream failed: {e}"), ErrorClass::UpstreamIoError),
        }
    }

    /// Queues what the shape produced and settles the call if the stream is over.
    fn after(&mut self, bytes: Bytes) {
        let Some(call) = &mut self.call else { return };
        // The shape's report as it stands now: a provisional count (`message_start`'s) that the
        // final one takes back to zeros is no report, not the provisional count.
        call.usage = self.shape.usage();
        call.note_output(self.shape.produced());
        if call.stored_response.is_none() {
            call.stored_response = self.shape.stored_response().map(str::to_string);
        }
        if !bytes.is_empty() && !self.client_gone {
            call.mark_first_token();
            self.out.push_back(bytes);
        }
        match self.shape.progress() {
            Progress::Streaming => {}
            Progress::Complete => self.settle_success(),
            // The shape already wrote the provider's error in the client's dialect.
            Progress::Failed { class, message } => {
                self.fail(&message, class);
            }
        }
    }

    fn settle_success(&mut self) {
        if let Some(verdict) = self.verdict.take() {
            verdict.ok();
        }
        if let Some(mut call) = self.call.take() {
            if self.client_gone {
                // Read to its end: the provider's report is final, not provisional.
                call.provider_finished();
                call.failure(
                    499,
                    ErrorClass::ClientDisconnectedDrained,
                    "the client left; the stream was read to its end",
                );
                return;
            }
            let settled = call.success(200);
            self.out.push_back(self.shape.closing(&format_credits(settled.cost)));
        }
    }

    /// The provider failed after the stream started: an in-band error event for the client.
    fn on_error(&mut self, message: &str, class: ErrorClass) {
        if self.fail(message, class) && !self.client_gone {
            self.out.push_back(self.shape.fail(message));
        }
    }

    /// Settles the call as failed by the provider; false if it was settled already.
    fn fail(&mut self, message: &str, class: ErrorClass) -> bool {
        if let Some(verdict) = self.verdict.take() {
            verdict.broke(message);
        }
        let Some(call) = self.call.take() else { return false };
        tracing::warn!(call = call.id(), class = class.as_str(), "stream failed after it started: {message}");
        if self.client_gone {
            call.failure(499, ErrorClass::ClientDisconnected, &format!("the client left; then {message}"));
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
            // Past the drain bound the wait ends without blaming the provider.
            match tokio::time::timeout(left.min(self.idle), self.upstream.next()).await {
                Ok(next) => self.on_next(next),
                Err(_) if left < self.idle => break,
                Err(_) => {
                    let message = format!("the provider sent nothing for {} ms", self.idle.as_millis());
                    self.on_error(&message, ErrorClass::Timeout)
                }
            }
            self.out.clear();
        }
        if let Some(call) = self.call.take() {
            let message =
                format!("the client left; the stream was read for the {} ms drain limit", self.drain.as_millis());
            call.failure(499, ErrorClass::DrainLimit, &message);
        }
    }
}

impl<S: Shape> Drop for Relay<S> {
    /// The client went away before the call settled: with a drain bound, the rest of the
    /// stream is read in the background; without, the upstream is dropped here (cancelled)
    /// and the call settles as `client_disconnected` in `CallGuard`'s own drop.
    fn drop(&mut self) {
        let Some(mut st) = self.0.take() else { return };
        if st.call.is_none() || st.drain.is_zero() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        st.client_gone = true;
        runtime.spawn(st.drain());
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
    /// Bytes of generated text this event carries.
    fn output_bytes(&self) -> usize;
    /// Puts `usage` in place of a final usage of all zeros (the provider reported none), if
    /// this event carries the final usage.
    fn fill_missing_usage(&mut self, usage: &Usage);
    /// Where this event has the usage the client is told (its dialect's final usage), if it
    /// carries it: the event that will carry the call's cost.
    fn usage_path(&self) -> Option<&'static [&'static str]>;
}

/// A stream translated from the provider's protocol into the client's dialect by one of
/// `protocol::stream`'s machines.
pub struct Translated<T: Translate> {
    /// The upstream framing (SSE, or Bedrock's event-stream) in front of the machine.
    sse: Box<dyn ByteTranslator<Out = T::Out> + Send>,
    progress: Progress,
    /// The event that ends the stream, and where it has usage if it carries the final usage.
    closing: Option<(Bytes, Option<&'static [&'static str]>)>,
    final_usage: FinalUsage,
    /// Whether the client got its first event (keep-alives may only follow it).
    started: bool,
    produced: OutputCount,
    /// Prompt tokens counted at admission, to tell the client a counted estimate when the
    /// provider reports no usage (`None`: relay the zeros).
    prompt_tokens: Option<i64>,
}

impl<T: Translate + Send + 'static> Translated<T> {
    /// An upstream stream in SSE framing (OpenAI, Anthropic, Gemini).
    pub fn new(machine: T) -> Self {
        Self::framed(Box::new(SseTranslator::new(machine)))
    }

    /// An upstream stream in the AWS event-stream framing (Bedrock).
    pub fn event_stream(machine: T) -> Self {
        Self::framed(Box::new(EventStreamTranslator::new(machine)))
    }

    fn framed(sse: Box<dyn ByteTranslator<Out = T::Out> + Send>) -> Self {
        Translated {
            sse,
            progress: Progress::Streaming,
            closing: None,
            final_usage: FinalUsage::default(),
            started: false,
            produced: OutputCount::default(),
            prompt_tokens: None,
        }
    }
}

impl<T> Translated<T>
where
    T: Translate,
    T::Out: ClientEvent,
{
    /// Encodes what the machine emitted, holding back the closing event. `class` is what a
    /// failure reported by these events is recorded as.
    fn take(&mut self, outs: Vec<T::Out>, class: ErrorClass) -> Bytes {
        let mut buf = BytesMut::new();
        let missing_usage = self.prompt_tokens.filter(|_| self.sse.usage().is_zero());
        for mut o in outs {
            if self.progress != Progress::Streaming {
                break;
            }
            if let Some(prompt_tokens) = missing_usage {
                o.fill_missing_usage(&estimate::counted(prompt_tokens, self.produced));
            }
            if o.is_closing() {
                self.closing = Some((T::encode(&o), o.usage_path()));
                self.progress = Progress::Complete;
                continue;
            }
            self.produced.add(o.output_bytes());
            let encoded = T::encode(&o);
            if let Some(message) = o.error_message() {
                self.progress = Progress::Failed { class, message };
                buf.extend_from_slice(&self.final_usage.release());
                buf.extend_from_slice(&encoded);
            } else if let Some(path) = o.usage_path() {
                buf.extend_from_slice(&self.final_usage.hold(encoded, path));
            } else if let Some(now) = self.final_usage.after(encoded) {
                buf.extend_from_slice(&now);
            }
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
        self.take(outs, ErrorClass::UpstreamError)
    }

    fn end(&mut self) -> Bytes {
        let outs = self.sse.finish();
        self.take(outs, ErrorClass::UpstreamTruncated)
    }

    fn progress(&self) -> Progress {
        self.progress.clone()
    }

    fn closing(&mut self, cost: &str) -> Bytes {
        let Some((closing, path)) = self.closing.take() else { return Bytes::new() };
        match path {
            // The closing event carries the final usage itself (Responses).
            Some(path) => {
                [self.final_usage.release(), crate::protocol::usage_cost::event_with_cost(&closing, path, cost)]
                    .concat()
                    .into()
            }
            None => [self.final_usage.with_cost(cost), closing].concat().into(),
        }
    }

    fn fail(&mut self, message: &str) -> Bytes {
        let outs = self.sse.fail(message);
        [self.final_usage.release(), Bytes::from(encode_all::<T>(&outs))].concat().into()
    }

    fn usage(&self) -> Option<Usage> {
        let u = self.sse.usage();
        (u != Usage::default()).then_some(u)
    }

    fn produced(&self) -> OutputCount {
        self.produced
    }

    fn keepalive(&self) -> Option<Bytes> {
        if self.started && self.progress == Progress::Streaming { T::Out::keepalive() } else { None }
    }

    fn estimate_missing_usage(&mut self, prompt_tokens: i64) {
        self.prompt_tokens = Some(prompt_tokens);
    }
}
