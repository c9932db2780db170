//! Scripted response bodies: a sequence of data frames, sleeps and an abrupt abort.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;

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
