//! Keys (administrators): every key with its owner and limits, create one for any user (the
//! secret shown once, with a copy button), revoke.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{credits, error, render, render_status, when};
use crate::admin::keys::{self as ops, KeyBody};
use crate::console::auth::Admin;
use crate::console::i18n::Lang;
use crate::console::{Chrome, Errors, Form};
use crate::error::ApiError;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::api_keys::KeyRow;

type S = State<Arc<AppState>>;

pub const KEY_FIELDS: &[&str] =
    &["user_id", "name", "models", "rpm", "tpm", "max_concurrency", "budget", "budget_period", "expires_at"];

pub struct KeyView {
    pub id: String,
    pub user_id: String,
    pub user: String,
    pub name: String,
    pub prefix: String,
    pub models: String,
    pub limits: String,
    pub expires_at: String,
    pub revoked: bool,
    pub created_at: String,
}

pub fn key_view(k: &KeyRow, user: &str) -> KeyView {
    let mut limits = Vec::new();
    if let Some(n) = k.rpm {
        limits.push(format!("{n} rpm"));
    }
    if let Some(n) = k.tpm {
        limits.push(format!("{n} tpm"));
    }
    if let Some(n) = k.max_concurrency {
        limits.push(format!("≤{n} ∥"));
    }
    if let Some(b) = k.budget {
        limits.push(format!("{} / {}", credits(b), k.budget_period.as_deref().unwrap_or("∞")));
    }
    KeyView {
        id: k.id.clone(),
        user_id: k.user_id.clone(),
        user: user.to_string(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        models: k.models.as_ref().map(|m| m.join(", ")).unwrap_or_default(),
        limits: limits.join(" · "),
        expires_at: k.expires_at.map(when).unwrap_or_default(),
        revoked: k.revoked_at.is_some(),
        created_at: when(k.created_at),
    }
}

/// The new-key form, as filled in.
#[derive(Default)]
pub struct KeyForm {
    pub user_id: String,
    pub name: String,
    pub models: String,
    pub rpm: String,
    pub tpm: String,
    pub max_concurrency: String,
    pub budget: String,
    pub budget_period: String,
    pub expires_at: String,
}

impl KeyForm {
    pub fn read(f: &Form) -> KeyForm {
        KeyForm {
            user_id: f.text("user_id"),
            name: f.text("name"),
            models: f.text("models"),
            rpm: f.text("rpm"),
            tpm: f.text("tpm"),
            max_concurrency: f.text("max_concurrency"),
            budget: f.text("budget"),
            budget_period: f.text("budget_period"),
            expires_at: f.text("expires_at"),
        }
    }

    /// The API's form of the key (`expires_at` from a date input: the end of that day, UTC).
    pub fn to_body(f: &Form) -> Result<KeyBody, ApiError> {
        let expires_at = f
            .get("expires_at")
            .map(|d| serde_json::Value::String(if d.len() == 10 { format!("{d}T23:59:59Z") } else { d.to_string() }));
        Ok(KeyBody {
            user_id: f.get("user_id").map(str::to_string),
            name: f.get("name").map(str::to_string),
            models: f
                .get("models")
                .map(|m| m.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
            rpm: f.int("rpm")?,
            tpm: f.int("tpm")?,
            max_concurrency: f.int("max_concurrency")?,
            budget: f.credits("budget")?,
            budget_period: f.get("budget_period").map(str::to_string),
            expires_at,
        })
    }
}

#[derive(Template)]
#[template(path = "keys.html")]
struct ListPage {
    c: Chrome,
    keys: Vec<KeyView>,
    users: Vec<(String, String)>,
    users_fit: bool,
    filter_user: String,
    next: Option<String>,
    form: KeyForm,
    errors: Errors,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    user_id: Option<String>,
    cursor: Option<String>,
    ok: Option<String>,
}

const PAGE: i64 = 100;

/// Up to this many users the key forms pick the owner from a list; past it they take a typed
/// name, e-mail or id (with the first PICKER_MAX as suggestions), so no user is unreachable.
const PICKER_MAX: i64 = 500;

fn user_label(u: &crate::store::users::UserRow) -> String {
    format!("{}{}", u.name, u.email.as_ref().map(|e| format!(" <{e}>")).unwrap_or_default())
}

/// The user a typed owner names: an id as it is, else a user name or e-mail. `None` when
/// nothing matches (the API then answers its own clear error for the unknown id).
async fn resolve_user(state: &AppState, typed: &str) -> Result<Option<String>, ApiError> {
    let typed = typed.trim();
    if crate::store::users::get(&state.db, typed).await?.is_some() {
        return Ok(Some(typed.to_string()));
    }
    Ok(crate::store::users::find_login(&state.db, typed).await?.map(|u| u.id))
}

async fn list_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    q: &ListQuery,
    form: KeyForm,
    errors: Errors,
) -> Result<ListPage, ApiError> {
    let mut users = crate::store::users::list(&state.db, None, PICKER_MAX + 1).await?;
    let users_fit = users.len() as i64 <= PICKER_MAX;
    users.truncate(PICKER_MAX as usize);
    let filter = match q.user_id.as_deref().filter(|u| !u.is_empty()) {
        Some(typed) => Some(resolve_user(state, typed).await?.unwrap_or_else(|| typed.to_string())),
        None => None,
    };
    let rows = crate::store::api_keys::list(&state.db, filter.as_deref(), q.cursor.as_deref(), PAGE).await?;
    let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|k| k.id.clone())).flatten();
    // Names for this page's keys, including owners past the picker's first PICKER_MAX users.
    let mut names: HashMap<String, String> = users.iter().map(|u| (u.id.clone(), u.name.clone())).collect();
    for k in &rows {
        if !names.contains_key(&k.user_id) {
            let name = crate::store::users::get(&state.db, &k.user_id).await?.map(|u| u.name);
            names.insert(k.user_id.clone(), name.unwrap_or_else(|| "?".into()));
        }
    }
    Ok(ListPage {
        c: Chrome::new(lang, "/keys", s),
        keys: rows.iter().map(|k| key_view(k, names.get(&k.user_id).map_or("?", String::as_str))).collect(),
        users: users.iter().map(|u| (u.id.clone(), user_label(u))).collect(),
        users_fit,
        filter_user: filter.unwrap_or_default(),
        next,
        form,
        errors,
        notice: None,
    })
}

pub async fn list(State(state): S, Admin(s, lang): Admin, Query(q): Query<ListQuery>) -> Response {
    let form = KeyForm { user_id: q.user_id.clone().unwrap_or_default(), name: "default".into(), ..KeyForm::default() };
    match list_page(&state, &s, lang, &q, form, Errors::none()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

#[derive(Template)]
#[template(path = "key_created.html")]
pub struct CreatedPage {
    pub c: Chrome,
    pub secret: String,
    pub key: KeyView,
    pub back: String,
    pub base_url: String,
}

/// The base URL clients should use: the address this page was asked for.
pub fn base_url(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost:8080");
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

/// `POST /keys`: creates the key and shows its secret this once.
pub async fn create(State(state): S, Admin(s, lang): Admin, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let mut body = KeyForm::to_body(&f)?;
        if let Some(typed) = body.user_id.take() {
            body.user_id = Some(resolve_user(&state, &typed).await?.unwrap_or(typed));
        }
        ops::create_key(&state, body).await
    }
    .await;
    match result {
        Ok((row, secret)) => {
            let user = crate::store::users::get(&state.db, &row.user_id)
                .await
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_default();
            let page = CreatedPage {
                c: Chrome::new(lang, "/keys", &s),
                secret,
                key: key_view(&row, &user),
                back: format!("/users/{}", row.user_id),
                base_url: base_url(&headers),
            };
            render_status(axum::http::StatusCode::CREATED, &page)
        }
        Err(e) => {
            let q = ListQuery { user_id: f.get("user_id").map(str::to_string), ..ListQuery::default() };
            match list_page(&state, &s, lang, &q, KeyForm::read(&f), Errors::from_api(&e, KEY_FIELDS)).await {
                Ok(p) => render_status(e.status(), &p),
                Err(e) => error::from_api(lang, &e),
            }
        }
    }
}

pub async fn revoke(State(state): S, Admin(_, lang): Admin, Path(id): Path<String>) -> Response {
    match ops::revoke_key(&state, &id).await {
        Ok(_) => Redirect::to("/keys?ok=revoked").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}
