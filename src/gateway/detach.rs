//! Non-stream calls whose provider has a `drain_ms`: the upstream work runs in its own task,
//! so a client that goes away does not drop it. It carries on for up to `drain_ms` after the
//! client left, then is dropped; a call that finishes in time settles with the provider's
//! usage (charged, `client_disconnected_drained`), one that does not as `drain_limit`.
//! Without a drain bound none of this happens: the work runs in the handler and is dropped
//! (cancelled) with it.

use std::future::Future;
use std::time::Duration;

use axum::response::Response;
use tokio_util::sync::CancellationToken;

use crate::error::{ApiError, ErrorKind};

/// Runs `work` in a task the handler awaits. `left` is cancelled if the handler is dropped
/// (the client went away); from then on `work` has `drain` to finish.
pub async fn run(
    drain: Duration,
    left: CancellationToken,
    work: impl Future<Output = Result<Response, ApiError>> + Send + 'static,
) -> Result<Response, ApiError> {
    let bound = left.clone();
    let task = tokio::spawn(async move {
        tokio::select! {
            out = work => Some(out),
            () = async { bound.cancelled().await; tokio::time::sleep(drain).await } => None,
        }
    });
    // Cancels `left` when the handler is dropped before the task is done.
    let guard = left.drop_guard();
    let out = task.await;
    guard.disarm();
    match out {
        Ok(Some(answer)) => answer,
        // Only after the client left: nobody reads this answer.
        Ok(None) => Err(ApiError::new(ErrorKind::Timeout, "the drain limit passed")),
        Err(e) => {
            tracing::error!("a detached call's task failed: {e}");
            Err(ApiError::new(ErrorKind::Internal, "the call failed inside the gateway"))
        }
    }
}
