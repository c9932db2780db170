//! The throttle of repeated authentication failures per client address (settings under
//! `[auth_throttle]`): every answer 401 on the routes behind this layer (`/v1`, `/api/v1`,
//! `/metrics`: a bad, expired or missing key) is a failure of the request's [`ClientAddr`];
//! an address that used up its failures is answered 429 with `retry-after`, in the caller's
//! dialect, before its request reaches a handler — whatever key it presents, so guessing gets
//! no faster by ignoring the 429. One log line marks the start of each throttled episode.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::{ApiError, Dialect, ErrorKind};
use crate::state::AppState;
use crate::throttle::Throttled;
use crate::throttle::client_addr::ClientAddr;

pub async fn layer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(client) = req.extensions().get::<ClientAddr>().copied() else {
        return next.run(req).await;
    };
    let key = client.key();
    let throttle = &state.auth_throttle;
    if let Err(t) = throttle.check(&key, Instant::now()) {
        let dialect = Dialect::of_request(req.uri().path(), req.headers());
        return too_many_failures(&t).into_response_in(dialect);
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED
        && let Err(t) = throttle.fail(key, Instant::now())
    {
        let policy = throttle.policy();
        tracing::warn!(
            client = key.show(),
            failures = policy.burst,
            retry_after_ms = t.retry_after.as_millis() as u64,
            "client throttled after repeated authentication failures"
        );
    }
    resp
}

fn too_many_failures(t: &Throttled) -> ApiError {
    let mut e = ApiError::new(
        ErrorKind::RateLimited,
        format!("too many failed authentication attempts from this address; try again in {} s", t.retry_after_secs()),
    )
    .with_code("too_many_auth_failures");
    e.retry_after = Some(t.retry_after_secs());
    e
}
