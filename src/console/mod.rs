//! The console: server-rendered pages at `/` for administrators and members, signed in with
//! a name or e-mail and a password. Pages are askama templates (`templates/`) compiled into
//! the binary, styled and enhanced by our own static files and the vendored uPlot
//! (`static/`, see `assets`). Forms post and redirect, so every page works without
//! scripts; every state change carries the session's CSRF token (checked in [`csrf_layer`]
//! before any handler runs). Writes go through the same operations as the management API
//! (`admin::*`), so the console validates exactly as the API does.

mod assets;
mod auth;
mod chrome;
mod form;
mod i18n;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use form::Form;

use crate::state::AppState;

/// Largest form body a console page accepts (the biggest is a model with many targets).
const MAX_FORM_BYTES: usize = 256 * 1024;

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    use pages::*;
    let pages = Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/account", get(auth::account).post(auth::change_password))
        .route("/account/sessions/end", post(auth::end_other_sessions))
        .route("/lang/{code}", get(auth::set_language))
        .route("/dashboard", get(dashboard::page))
        .route("/providers", get(providers::list).post(providers::create))
        .route("/providers/{id}", get(providers::show).post(providers::update))
        .route("/providers/{id}/delete", post(providers::delete))
        .route("/providers/{id}/credentials", post(providers::add_credential))
        .route("/credentials/{id}", post(providers::update_credential))
        .route("/credentials/{id}/test", post(providers::test_credential))
        .route("/credentials/{id}/delete", post(providers::delete_credential))
        .route("/models", get(models::list).post(models::create))
        .route("/models/catalog", get(models::catalog))
        .route("/models/{id}", get(models::show).post(models::update))
        .route("/models/{id}/delete", post(models::delete))
        .route("/markup", post(markup::set_global))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::show).post(users::update))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/users/{id}/credits", post(users::grant))
        .route("/users/{id}/sessions/end", post(users::end_sessions))
        .route("/users/{id}/delete", post(users::delete))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/calls", get(calls::list))
        .route("/calls/{id}", get(calls::show))
        .route("/settings", get(settings::page))
        .route("/me", get(member::overview))
        .route("/me/keys", get(member::keys).post(member::create_key))
        .route("/me/keys/{id}/revoke", post(member::revoke_key))
        .route("/me/calls", get(member::calls))
        .route("/me/models", get(member_models::page))
        .route("/me/calls/{id}", get(member::call))
        .route("/me/quickstart", get(member::quickstart))
        .layer(axum::middleware::from_fn_with_state(state, csrf_layer));
    Router::new().merge(pages).route("/static/{version}/{name}", get(assets::serve))
}

/// Every console POST carries a CSRF token in its `csrf` form field (or the `x-csrf-token`
/// header): the session's own for a signed-in person, else (the sign-in form) the one in the
/// sign-in cookie. A request without it is refused before any handler runs.
async fn csrf_layer(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let presented = parts
        .headers
        .get(crate::sessions::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| Form::parse(&bytes).get("csrf").map(str::to_string));
    let ok = if parts.uri.path() == "/login" {
        crate::sessions::cookie(&parts.headers, crate::sessions::LOGIN_COOKIE)
            .is_some_and(|c| presented.as_deref().is_some_and(|p| crate::sessions::tokens_equal(c, p)))
    } else {
        match crate::sessions::from_headers(&state, &parts.headers).await {
            Ok(Some(s)) => s.csrf_ok(presented.as_deref()),
            // Not signed in: the handler's own check sends the person to the sign-in page.
            Ok(None) => return Redirect::to("/login").into_response(),
            Err(e) => return e.into_response(),
        }
    };
    if !ok {
        tracing::warn!(path = parts.uri.path(), "console form refused: missing or wrong CSRF token");
        let lang = i18n::Lang::negotiate(&parts.headers);
        return pages::error::page(lang, StatusCode::FORBIDDEN, lang.t("error.csrf_title"), lang.t("error.csrf_body"));
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a request is a browser asking for a page (console 404s for people, JSON for the rest).
pub fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// The console's answer to an unknown path asked for by a browser.
pub fn not_found_page(headers: &axum::http::HeaderMap) -> Response {
    pages::error::not_found(headers)
}
