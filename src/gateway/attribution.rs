//! A call's attribution as its record keeps it: the trace id, the end user the client names
//! (the `x-tollgate-end-user` header, else the body's field of its dialect) and the operator's
//! tags. Bad tags or a bad end-user header are the client's 400, before admission.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::protocol::attribution::{self as wire, END_USER_HEADER, TAGS_HEADER, TRACEPARENT};
use crate::protocol::dialect::Dialect;

#[derive(Debug, Clone, Default)]
pub struct Attribution {
    pub trace_id: String,
    pub end_user: Option<String>,
    /// `k=v` pairs sorted by name, joined by commas; `None` without tags.
    pub tags: Option<String>,
}

impl Attribution {
    pub fn read(
        headers: &HeaderMap,
        request_id: &str,
        dialect: Dialect,
        body: &Map<String, Value>,
    ) -> Result<Attribution, ApiError> {
        let header = |name: &'static str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|v| v.to_str().map_err(|_| ApiError::invalid(format!("`{name}` must be printable text"))))
                .transpose()
        };
        let traceparent = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok());
        let end_user = match header(END_USER_HEADER)? {
            Some(v) => Some(wire::end_user_header(v).map_err(ApiError::invalid)?),
            None => wire::end_user_of(dialect, body),
        };
        let tags = match header(TAGS_HEADER)? {
            Some(v) => Some(wire::parse_tags(v).map_err(ApiError::invalid)?).filter(|t| !t.is_empty()),
            None => None,
        };
        Ok(Attribution { trace_id: wire::trace_id(traceparent, request_id), end_user, tags })
    }
}
