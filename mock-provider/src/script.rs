//! The scenario machinery every dialect's replies share: pacing stream frames
//! (`chunk_delay_ms`), mid-stream stalls (`stall_after`), aborts (`cut_after`), in-stream
//! errors (`error_after`), frames that are not JSON (`garbage_after`), frames cut in half at
//! a clean end of the body (`truncate_after`), and the truncated (or not JSON) non-stream body.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use crate::body::{self, Step};
use crate::options::Effective;

/// Builds the steps of one streamed reply. A dialect sends its frames through it and calls
/// [`Script::content`] before each content chunk and [`Script::finish`] before the closing
/// frames; when either returns `true` the stream has ended and the dialect stops.
pub(crate) struct Script<'e> {
    eff: &'e Effective,
    steps: Vec<Step>,
    sent_any: bool,
    emitted: u64,
    /// The frame `garbage_after` sends: SSE data that is not JSON unless the dialect says
    /// otherwise ([`Script::garbage_frame`]).
    garbage: Bytes,
    /// `truncate_after` was reached: the next frame goes out half, then nothing more.
    truncating: bool,
    /// The body has ended (a truncated frame was sent); later frames are dropped.
    done: bool,
}

/// What a provider behind a misconfigured proxy answers instead of its protocol.
pub(crate) const GARBAGE: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

impl<'e> Script<'e> {
    pub(crate) fn new(eff: &'e Effective) -> Self {
        let garbage = Bytes::from(format!("data: {GARBAGE}\n\n"));
        Script { eff, steps: Vec::new(), sent_any: false, emitted: 0, garbage, truncating: false, done: false }
    }

    /// The dialect's frame for `garbage_after` when SSE data is not its framing.
    pub(crate) fn garbage_frame(mut self, frame: Bytes) -> Self {
        self.garbage = frame;
        self
    }

    /// Sends `bytes` as one frame, `chunk_delay_ms` after the previous one.
    pub(crate) fn send(&mut self, bytes: Bytes) {
        if self.done {
            return;
        }
        if self.truncating {
            self.done = true;
            self.steps.push(Step::Data(bytes.slice(..bytes.len() / 2)));
            return;
        }
        if self.sent_any && self.eff.chunk_delay_ms > 0 {
            self.steps.push(Step::Sleep(self.eff.chunk_delay_ms));
        }
        self.sent_any = true;
        self.steps.push(Step::Data(bytes));
    }

    /// Before a content chunk: stall, cut or fail here if the scenario says so. `error` renders
    /// the dialect's in-stream error.
    pub(crate) fn content(&mut self, error: impl FnOnce() -> Bytes) -> bool {
        let ended = self.checkpoint(error);
        self.emitted += 1;
        ended
    }

    /// Before the closing frames: the same checks as [`Script::content`] after the last chunk.
    pub(crate) fn finish(&mut self, error: impl FnOnce() -> Bytes) -> bool {
        self.checkpoint(error)
    }

    fn checkpoint(&mut self, error: impl FnOnce() -> Bytes) -> bool {
        if self.done {
            return true;
        }
        if self.eff.truncate_after == Some(self.emitted) {
            self.truncating = true;
        }
        if self.eff.stall_after == Some(self.emitted) {
            self.steps.push(Step::Sleep(self.eff.stall_mid_ms));
        }
        if self.eff.cut_after == Some(self.emitted) {
            self.steps.push(Step::Cut);
            return true;
        }
        if self.eff.error_after == Some(self.emitted) {
            self.send(error());
            return true;
        }
        if self.eff.garbage_after == Some(self.emitted) {
            self.send(self.garbage.clone());
        }
        false
    }

    /// The streamed response with `content_type`: each frame its own body chunk.
    pub(crate) fn into_response(self, content_type: &'static str) -> Response {
        let mut resp = Response::new(body::scripted(self.steps));
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    }
}

/// A whole JSON reply; with `cut_after` set, the first half of the body and then an abort;
/// with `stall_after` set, the first half, a `stall_mid_ms` stall, then the rest; with
/// `garbage_after` set, an HTML page instead (still a 200); with `truncate_after` set, the
/// first half and a clean end.
pub(crate) fn json_response(bytes: Vec<u8>, eff: &Effective) -> Response {
    if eff.garbage_after.is_some() {
        return garbage_response();
    }
    let bytes = Bytes::from(bytes);
    let half = bytes.len() / 2;
    let body = if eff.truncate_after.is_some() {
        Body::from(bytes.slice(..half))
    } else if eff.cut_after.is_some() {
        body::scripted(vec![Step::Data(bytes.slice(..half)), Step::Cut])
    } else if eff.stall_after.is_some() {
        let (head, tail) = (bytes.slice(..half), bytes.slice(half..));
        body::scripted(vec![Step::Data(head), Step::Sleep(eff.stall_mid_ms), Step::Data(tail)])
    } else {
        Body::from(bytes)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A 200 whose body is not JSON.
pub(crate) fn garbage_response() -> Response {
    let mut resp = Response::new(Body::from(GARBAGE));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}
