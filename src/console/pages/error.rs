//! Error pages: 403 for a member on an administrator's page or a form without its CSRF
//! token, 404, and internal errors (their cause is logged, not shown).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::super::chrome::Chrome;
use super::super::i18n::Lang;
use super::render_status;
use crate::error::ApiError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    status: u16,
    title: String,
    body: String,
}

pub fn page(lang: Lang, status: StatusCode, title: &str, body: &str) -> Response {
    let p = ErrorPage {
        c: Chrome::anonymous(lang, "", ""),
        status: status.as_u16(),
        title: title.to_string(),
        body: body.to_string(),
    };
    render_status(status, &p)
}

/// The console's answer to an unknown path asked for by a browser.
pub fn not_found(headers: &axum::http::HeaderMap) -> Response {
    let lang = Lang::negotiate(headers);
    page(lang, StatusCode::NOT_FOUND, lang.t("error.not_found_title"), lang.t("error.not_found_body"))
}

/// An API error as a page: its message for what a person can fix, a generic one otherwise.
pub fn from_api(lang: Lang, e: &ApiError) -> Response {
    if e.status().is_server_error() {
        page(lang, e.status(), lang.t("error.internal_title"), lang.t("error.internal_body"))
    } else {
        page(lang, e.status(), lang.t("error.request_title"), &e.message)
    }
}
