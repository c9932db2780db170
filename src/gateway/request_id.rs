//! Every response carries `x-request-id` (the client's, if it sent a sane one, else a new
//! id) and `x-tollgate-trace-id` (the trace id of the client's W3C `traceparent`, else one
//! derived from the request id: see `protocol::attribution::trace_id`, which the call's record
//! uses too).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::protocol::attribution::{TRACE_ID_HEADER, TRACEPARENT, trace_id};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| s.to_string())
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(acceptable)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::now_v7().simple()));
    let value = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    let traceparent = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    let trace = HeaderValue::from_str(&trace_id(traceparent, &id)).expect("trace ids are hex");
    req.extensions_mut().insert(RequestId(id));
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(X_REQUEST_ID.clone(), value);
    resp.headers_mut().insert(TRACE_ID_HEADER, trace);
    resp
}
