//! Scripted response bodies: a sequence of data frames, sleeps and an abrupt abort; and the
//! count of bodies dropped before their end (the client went away).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;

/// One step of a scripted body.
pub(crate) enum Step {
    /// Send these bytes as their own frame.
    Data(Bytes),
    /// Sleep this many milliseconds.
    Sleep(u64),
    /// Flush what was sent, then fail the body so the connection is dropped without the
    /// terminating chunk.
    Cut,
}

/// A body that plays `steps` in order.
pub(crate) fn scripted(steps: Vec<Step>) -> Body {
    let stream = futures_util::stream::unfold(steps.into_iter(), |mut steps| async move {
        loop {
            match steps.next()? {
                Step::Data(bytes) => return Some((Ok(bytes), steps)),
                Step::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Step::Cut => {
                    // Returning Pending once makes hyper flush the frames it buffered.
                    tokio::task::yield_now().await;
                    let err = std::io::Error::other("mock-provider: cut_after");
                    return Some((Err(err), Vec::new().into_iter()));
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// Counts `unfinished` up when the body is dropped before its end was read.
struct EndGuard {
    ended: bool,
    unfinished: Arc<AtomicU64>,
}

impl EndGuard {
    fn finish(&mut self) {
        self.ended = true;
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.unfinished.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `body`, counting in `unfinished` if it is dropped before its end (a cancelled download).
pub(crate) fn counting_drops(body: Body, unfinished: Arc<AtomicU64>) -> Body {
    let guard = EndGuard { ended: false, unfinished };
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), guard),
        |(mut data, mut guard): (_, EndGuard)| async move {
            match data.next().await {
                Some(item) => Some((item, (data, guard))),
                None => {
                    guard.finish();
                    None
                }
            }
        },
    );
    Body::from_stream(stream)
}
