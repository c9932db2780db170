//! Signing in and out, the signed-in person's own account (password, sessions), the language
//! switch, and the extractors that admit a page's visitor: [`Signed`] (anyone signed in) and
//! [`Admin`] (administrators; members get 403).

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Extension, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::chrome::Chrome;
use super::form::{Errors, Form};
use super::i18n::{self, Lang};
use super::pages::{error, render, render_status};
use crate::secrets::passwords;
use crate::sessions::{self, Session};
use crate::state::AppState;
use crate::throttle::client_addr::ClientAddr;
use crate::throttle::sign_in::SignInThrottle;

type S = State<Arc<AppState>>;

/// A signed-in visitor and the language their pages are in.
pub struct Signed(pub Session, pub Lang);

/// A signed-in administrator.
pub struct Admin(pub Session, pub Lang);

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let lang = Lang::negotiate(&parts.headers);
        match sessions::from_headers(state, &parts.headers).await {
            Ok(Some(s)) => Ok(Signed(s, lang)),
            Ok(None) => {
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(Redirect::to(&format!("/login?next={}", super::chrome::urlencode(path))).into_response())
            }
            Err(e) => Err(error::from_api(lang, &e)),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let Signed(s, lang) = Signed::from_request_parts(parts, state).await?;
        if !s.is_admin() {
            tracing::info!(user = %s.user.id, path = parts.uri.path(), "member refused an administrator's page");
            return Err(error::page(
                lang,
                StatusCode::FORBIDDEN,
                lang.t("error.forbidden_title"),
                lang.t("error.forbidden_body"),
            ));
        }
        Ok(Admin(s, lang))
    }
}

/// `GET /`: the dashboard for administrators, the member's own page for members, else sign-in.
pub async fn home(State(state): S, headers: HeaderMap) -> Response {
    match sessions::from_headers(&state, &headers).await {
        Ok(Some(s)) if s.is_admin() => Redirect::to("/dashboard").into_response(),
        Ok(Some(_)) => Redirect::to("/me").into_response(),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => error::from_api(Lang::negotiate(&headers), &e),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    username: String,
    next: String,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path on this site: never `//host` or a full URL (no open redirect).
fn local_path(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\')).map(str::to_string)
}

/// `GET /login`: the sign-in form, with a fresh sign-in CSRF cookie.
pub async fn login_page(State(state): S, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::negotiate(&headers);
    if let Ok(Some(_)) = sessions::from_headers(&state, &headers).await {
        return Redirect::to(&local_path(q.next.as_deref()).unwrap_or_else(|| "/".into())).into_response();
    }
    let token = sessions::random_token();
    let cookie = sessions::set_cookie(sessions::LOGIN_COOKIE, &token, 3600, sessions::secure(&state, &headers));
    let page = LoginPage {
        c: Chrome::anonymous(lang, "/login", &token),
        username: String::new(),
        next: local_path(q.next.as_deref()).unwrap_or_default(),
        errors: Errors::none(),
    };
    ([(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

/// A valid Argon2id hash of nothing anyone knows, checked when no user matched, so an unknown
/// name costs the same time as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| passwords::hash(&sessions::random_token()).unwrap_or_default());

/// Checks a password off the async threads (Argon2id is deliberately slow).
pub(crate) async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => passwords::verify(&password, &h),
        None => {
            passwords::verify(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// `POST /login` (its CSRF token checked by the console's layer against the sign-in cookie).
pub async fn login(
    State(state): S,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::negotiate(&headers);
    let form = Form::parse(&body);
    let username = form.text("username");
    let next = local_path(form.get("next"));
    let csrf = sessions::cookie(&headers, sessions::LOGIN_COOKIE).unwrap_or_default().to_string();
    let fail = |status: StatusCode, field: &'static str, message: String| {
        let page = LoginPage {
            c: Chrome::anonymous(lang, "/login", &csrf),
            username: username.clone(),
            next: next.clone().unwrap_or_default(),
            errors: Errors::message(field, message, &["username", "password"]),
        };
        render_status(status, &page)
    };
    if username.is_empty() {
        return fail(StatusCode::BAD_REQUEST, "username", lang.t("login.need_username").into());
    }
    let Some(password) = form.raw("password").map(str::to_string) else {
        return fail(StatusCode::BAD_REQUEST, "password", lang.t("login.need_password").into());
    };
    let user = match crate::store::users::find_login(&state.db, &username).await {
        Ok(u) => u,
        Err(e) => return error::from_api(lang, &e.into()),
    };
    let throttle = &state.sign_in_throttle;
    let account = SignInThrottle::account_key(user.as_ref().map(|u| u.id.as_str()), &username);
    if let Err(t) = throttle.check(&account, client.key(), Instant::now()) {
        let secs = t.retry_after_secs();
        let mut resp =
            fail(StatusCode::TOO_MANY_REQUESTS, "password", format!("{} {secs} s.", lang.t("login.throttled")));
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        return resp;
    }
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    if !verify_password(password, hash).await {
        let user_id = user.as_ref().map_or("", |u| u.id.as_str());
        if throttle.fail(account, client.key(), Instant::now()).is_err() {
            tracing::warn!(client = %client.key().show(), user = user_id, "console sign-ins throttled after repeated wrong passwords");
        } else {
            tracing::info!(client = %client.key().show(), user = user_id, "console sign-in failed");
        }
        return fail(StatusCode::UNAUTHORIZED, "password", lang.t("login.wrong").into());
    }
    throttle.succeed(&account);
    let user = user.expect("a password verified against a user's hash");
    let (session, cookie) = match sessions::start(&state, user, &headers, Some(client.0.to_string())).await {
        Ok(s) => s,
        Err(e) => return error::from_api(lang, &e),
    };
    tracing::info!(user = %session.user.id, "console sign-in");
    let to = next.unwrap_or_else(|| if session.is_admin() { "/dashboard".into() } else { "/me".into() });
    let clear = sessions::set_cookie(sessions::LOGIN_COOKIE, "", 0, sessions::secure(&state, &headers));
    let mut resp = Redirect::to(&to).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("a cookie is a header value"));
    resp.headers_mut().append(header::SET_COOKIE, clear.parse().expect("a cookie is a header value"));
    resp
}

/// `POST /logout`: ends this session and clears its cookie.
pub async fn logout(State(state): S, headers: HeaderMap, Signed(s, lang): Signed) -> Response {
    if let Err(e) = sessions::end(&state, &s).await {
        return error::from_api(lang, &e);
    }
    let clear = sessions::set_cookie(sessions::COOKIE, "", 0, sessions::secure(&state, &headers));
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

pub(crate) struct SessionView {
    pub current: bool,
    pub user_agent: String,
    pub client_addr: String,
    pub created_at: String,
    pub last_seen_at: String,
}

pub(crate) async fn session_views(state: &AppState, user_id: &str, current: Option<&str>) -> Vec<SessionView> {
    let rows = crate::store::sessions::list_open(&state.db, user_id, crate::clock::now_ms()).await.unwrap_or_default();
    rows.into_iter()
        .map(|r| SessionView {
            current: current == Some(r.id.as_str()),
            user_agent: r.user_agent.unwrap_or_default(),
            client_addr: r.client_addr.unwrap_or_default(),
            created_at: super::pages::when(r.created_at),
            last_seen_at: super::pages::when(r.last_seen_at),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    name: String,
    email: String,
    role: String,
    sessions: Vec<SessionView>,
    errors: Errors,
    notice: Option<&'static str>,
}

async fn account_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    errors: Errors,
    notice: Option<&'static str>,
) -> AccountPage {
    AccountPage {
        c: Chrome::new(lang, "/account", s),
        name: s.user.name.clone(),
        email: s.user.email.clone().unwrap_or_default(),
        role: s.user.role.clone(),
        sessions: session_views(state, &s.user.id, Some(&s.id)).await,
        errors,
        notice,
    }
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    ok: Option<String>,
}

/// `GET /account`: who I am, change my password, my open sessions.
pub async fn account(State(state): S, Signed(s, lang): Signed, Query(q): Query<NoticeQuery>) -> Response {
    let notice = match q.ok.as_deref() {
        Some("password") => Some(lang.t("account.password_changed")),
        Some("sessions") => Some(lang.t("account.sessions_ended")),
        _ => None,
    };
    render(&account_page(&state, &s, lang, Errors::none(), notice).await)
}

const PASSWORD_FIELDS: &[&str] = &["current_password", "password", "confirm"];

/// `POST /account`: a new password, given the current one; every other session ends.
pub async fn change_password(State(state): S, Signed(s, lang): Signed, body: Bytes) -> Response {
    let form = Form::parse(&body);
    let fail = async |field: &'static str, msg: String| {
        let page = account_page(&state, &s, lang, Errors::message(field, msg, PASSWORD_FIELDS), None).await;
        render_status(StatusCode::BAD_REQUEST, &page)
    };
    let current = form.raw("current_password").unwrap_or_default().to_string();
    if !verify_password(current, s.user.password_hash.clone()).await {
        return fail("current_password", lang.t("account.wrong_current").into()).await;
    }
    let new = form.raw("password").unwrap_or_default().to_string();
    if form.raw("confirm") != Some(new.as_str()) {
        return fail("confirm", lang.t("account.mismatch").into()).await;
    }
    let body = crate::admin::users::UserBody { password: Some(new), ..Default::default() };
    match crate::admin::users::update_user(&state, &s.user.id, body, Some(&s.id)).await {
        Ok(_) => Redirect::to("/account?ok=password").into_response(),
        Err(e) => {
            let page = account_page(&state, &s, lang, Errors::from_api(&e, PASSWORD_FIELDS), None).await;
            render_status(e.status(), &page)
        }
    }
}

/// `POST /account/sessions/end`: signs me out everywhere else.
pub async fn end_other_sessions(State(state): S, Signed(s, lang): Signed) -> Response {
    match sessions::end_all(&state, &s.user.id, Some(&s.id)).await {
        Ok(_) => Redirect::to("/account?ok=sessions").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

/// `GET /lang/{code}?next=`: remembers the language (a preference cookie, no server state)
/// and goes back to the page.
pub async fn set_language(
    State(state): S,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return error::not_found(&headers);
    };
    let secure = if sessions::secure(&state, &headers) { "; Secure" } else { "" };
    let cookie = format!("{}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}", i18n::COOKIE, lang.code());
    let to = local_path(q.next.as_deref()).unwrap_or_else(|| "/".into());
    ([(header::SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
}
