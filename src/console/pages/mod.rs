//! The console's pages, one file per section, and what they share: rendering a template,
//! formatting times and amounts for people.

pub mod calls;
pub mod dashboard;
pub mod error;
pub mod keys;
pub mod markup;
pub mod member;
pub mod models;
pub mod providers;
pub mod settings;
pub mod users;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A page as HTML, never cached (it shows live data and the CSRF token).
pub fn render(page: &impl Template) -> Response {
    render_status(StatusCode::OK, page)
}

pub fn render_status(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::REFERRER_POLICY, "same-origin"),
                (header::HeaderName::from_static("x-content-type-options"), "nosniff"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                     img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
                ),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

/// A time for people: `2026-12-06 23:45:02 UTC`.
pub fn when(ms: i64) -> String {
    let t = crate::clock::rfc3339(ms);
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => t,
    }
}

/// Credits as an exact decimal.
pub fn credits(nanos: i64) -> String {
    crate::billing::money::format_credits(nanos)
}

/// A count with thousands separators: 1234567 → `1,234,567`.
pub fn count(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_for_people() {
        assert_eq!(super::count(1234567), "1,234,567");
        assert_eq!(super::count(-12), "-12");
        assert_eq!(super::count(0), "0");
        assert_eq!(super::when(0), "1970-01-01 00:00:00 UTC");
    }
}
