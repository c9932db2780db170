//! The scenario machinery every dialect's replies share: pacing stream frames
//! (`chunk_delay_ms`), mid-stream stalls (`stall_after`), aborts (`cut_after`), in-stream
//! errors (`error_after`), and the truncated non-stream body.

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
}

impl<'e> Script<'e> {
    pub(crate) fn new(eff: &'e Effective) -> Self {
        Script { eff, steps: Vec::new(), sent_any: false, emitted: 0 }
    }

    /// Sends `bytes` as one frame, `chunk_delay_ms` after the previous one.
    pub(crate) fn send(&mut self, bytes: Bytes) {
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
/// with `stall_after` set, the first half, a `stall_mid_ms` stall, then the rest.
pub(crate) fn json_response(bytes: Vec<u8>, eff: &Effective) -> Response {
    let bytes = Bytes::from(bytes);
    let half = bytes.len() / 2;
    let body = if eff.cut_after.is_some() {
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
