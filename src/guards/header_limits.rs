//! Request headers within bounds: at most [`MAX_HEADERS`] headers, together at most
//! [`MAX_HEADER_BYTES`] of names and values, else a 431 in the caller's dialect
//! (`Dialect::of_request`) before anything else reads them — the auth throttle, the handlers,
//! the headers forwarded to a provider. HTTP/1's parser refuses past its own, larger bounds
//! (100 headers, about 400 KB) with a bare 431 and no body: these bounds sit below those, so a
//! client that goes too far is told why in its own error shape.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ApiError;
use crate::protocol::Dialect;

/// Most headers a request may carry (SDKs and browsers send about 20; proxies add a few).
pub const MAX_HEADERS: usize = 64;

/// Most bytes of header names and values together (a long cookie and a key fit many times).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

pub async fn layer(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let dialect = Dialect::of_request(req.uri().path(), headers);
        return ApiError::invalid(format!(
            "the request's headers are too large: at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes together \
             (got {} headers of {bytes} bytes)",
            headers.len()
        ))
        .with_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        .with_code("request_header_fields_too_large")
        .into_response_in(dialect);
    }
    next.run(req).await
}
