//! A member's own pages (administrators have them too, for their own user): balance and
//! ledger, usage chart and calls, keys (created and revoked within the limits an
//! administrator set), and a quick-start for the SDKs and CLIs. Everything here is narrowed
//! to the signed-in user; calls are shown without provider internals.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::calls::{CallView, Filters, PAGE, call_view, detail, names};
use super::keys::{CreatedPage, KEY_FIELDS, KeyForm, KeyView, base_url, key_view};
use super::users::{EntryView, entry_views};
use super::{error, render, render_status};
use crate::billing::limits::Limits;
use crate::console::auth::Signed;
use crate::console::i18n::Lang;
use crate::console::{Chrome, Errors, Form};
use crate::error::{ApiError, ErrorKind};
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::calls::CallFilter;

type S = State<Arc<AppState>>;

/// Live keys a member may hold when the administrator set no `max_keys`.
pub const DEFAULT_MAX_KEYS: i64 = 10;

fn user_limits(s: &Session) -> Limits {
    s.user.limits.as_ref().and_then(|l| Limits::from_json(l).ok()).unwrap_or_default()
}

/// Member calls show the error's class, never a provider's text, and no provider or credential.
fn member_view(mut v: CallView) -> CallView {
    v.provider = String::new();
    v
}

#[derive(Template)]
#[template(path = "me.html")]
struct Overview {
    c: Chrome,
    /// The credit unit's name (`[credits] name`), amounts are shown in it.
    unit: String,
    balance: String,
    reserved: String,
    available: String,
    plan: String,
    limits: Vec<(&'static str, String)>,
    calls: Vec<CallView>,
    entries: Vec<EntryView>,
    query: String,
}

pub async fn overview(State(state): S, Signed(s, lang): Signed) -> Response {
    let result = async {
        let filter = CallFilter { user_id: Some(s.user.id.clone()), ..CallFilter::default() };
        let rows = crate::store::call_list::list(&state.db, &filter, None, 10).await?;
        let entries = crate::store::ledger::list(&state.db, &s.user.id, None, 20).await?;
        let (users, keys, providers) = names(&state, &rows).await?;
        Ok::<_, ApiError>((rows, entries, users, keys, providers))
    }
    .await;
    let (rows, entries, users, keys, providers) = match result {
        Ok(r) => r,
        Err(e) => return error::from_api(lang, &e),
    };
    let account = state.accounts.account(&s.user.id);
    let l = user_limits(&s);
    let mut limits = Vec::new();
    if let Some(n) = l.rpm {
        limits.push(("limits.rpm", n.to_string()));
    }
    if let Some(n) = l.tpm {
        limits.push(("limits.tpm", n.to_string()));
    }
    if let Some(n) = l.max_concurrency {
        limits.push(("limits.max_concurrency", n.to_string()));
    }
    if let Some(b) = l.budget {
        let period = l.budget_period.map(|p| p.as_str()).unwrap_or("");
        limits.push(("limits.budget", format!("{} {period}", state.credits.show_named(b))));
    }
    limits.push(("limits.max_keys", l.max_keys.unwrap_or(DEFAULT_MAX_KEYS).to_string()));
    let (_, query) = super::dashboard::range_query("7d");
    render(&Overview {
        c: Chrome::new(lang, "/me", &s),
        unit: state.credits.name.clone(),
        balance: state.credits.show(account.balance),
        reserved: state.credits.show(account.reserved),
        available: state.credits.show(account.available()),
        plan: s.user.plan.clone(),
        limits,
        calls: rows.iter().map(|c| member_view(call_view(c, &users, &keys, &providers))).collect(),
        entries: entry_views(entries),
        query,
    })
}

#[derive(Template)]
#[template(path = "me_keys.html")]
struct KeysPage {
    c: Chrome,
    keys: Vec<KeyView>,
    live: i64,
    max_keys: i64,
    form: KeyForm,
    errors: Errors,
    notice: Option<&'static str>,
}

async fn keys_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    form: KeyForm,
    errors: Errors,
) -> Result<KeysPage, ApiError> {
    let rows = crate::store::api_keys::list(&state.db, Some(&s.user.id), None, 500).await?;
    Ok(KeysPage {
        c: Chrome::new(lang, "/me/keys", s),
        live: rows.iter().filter(|k| k.revoked_at.is_none()).count() as i64,
        max_keys: user_limits(s).max_keys.unwrap_or(DEFAULT_MAX_KEYS),
        keys: rows.iter().map(|k| key_view(k, "")).collect(),
        form,
        errors,
        notice: None,
    })
}

#[derive(Deserialize)]
pub struct OkQuery {
    ok: Option<String>,
}

pub async fn keys(State(state): S, Signed(s, lang): Signed, Query(q): Query<OkQuery>) -> Response {
    let form = KeyForm { name: "default".into(), ..KeyForm::default() };
    match keys_page(&state, &s, lang, form, Errors::none()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

/// A member's key may not be looser than the member's own limits, and the member may hold at
/// most `max_keys` live keys.
fn within_limits(state_keys: i64, l: &Limits, b: &crate::admin::keys::KeyBody, lang: Lang) -> Result<(), ApiError> {
    let max_keys = l.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
    if state_keys >= max_keys {
        return Err(ApiError::new(ErrorKind::PermissionDenied, format!("{} ({max_keys})", lang.t("me.too_many_keys"))));
    }
    let over = |field: &'static str, key: Option<i64>, user: Option<i64>| match (key, user) {
        (Some(k), Some(u)) if k > u => {
            Err(ApiError::invalid(format!("{} {u}", lang.t("me.above_limit"))).with_param(field))
        }
        _ => Ok(()),
    };
    over("rpm", b.rpm, l.rpm)?;
    over("tpm", b.tpm, l.tpm)?;
    over("max_concurrency", b.max_concurrency, l.max_concurrency)?;
    over("budget", b.budget.map(|c| c.0), l.budget)?;
    Ok(())
}

pub async fn create_key(State(state): S, Signed(s, lang): Signed, headers: HeaderMap, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let mut b = KeyForm::to_body(&f)?;
        // A member's key is always the member's own, whatever the form says.
        b.user_id = Some(s.user.id.clone());
        let live = crate::store::api_keys::list(&state.db, Some(&s.user.id), None, 1000)
            .await?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count();
        within_limits(live as i64, &user_limits(&s), &b, lang)?;
        crate::admin::keys::create_key(&state, b).await
    }
    .await;
    match result {
        Ok((row, secret)) => {
            let page = CreatedPage {
                c: Chrome::new(lang, "/me/keys", &s),
                secret,
                key: key_view(&row, ""),
                back: "/me/keys".into(),
                base_url: base_url(&headers),
            };
            render_status(StatusCode::CREATED, &page)
        }
        Err(e) => match keys_page(&state, &s, lang, KeyForm::read(&f), Errors::from_api(&e, KEY_FIELDS)).await {
            Ok(p) => render_status(e.status(), &p),
            Err(e) => error::from_api(lang, &e),
        },
    }
}

pub async fn revoke_key(State(state): S, Signed(s, lang): Signed, Path(id): Path<String>) -> Response {
    let result = async {
        let k = crate::admin::keys::load(&state, &id).await?;
        if k.user_id != s.user.id {
            // Another user's key does not exist, as far as a member can tell.
            return Err(crate::admin::not_found("key", &id));
        }
        crate::admin::keys::revoke_key(&state, &id).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to("/me/keys?ok=revoked").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

#[derive(Template)]
#[template(path = "me_calls.html")]
struct CallsPage {
    c: Chrome,
    calls: Vec<CallView>,
    next: Option<String>,
    first_page: bool,
}

pub async fn calls(State(state): S, Signed(s, lang): Signed, Query(f): Query<Filters>) -> Response {
    let result = async {
        let filter = CallFilter { user_id: Some(s.user.id.clone()), ..CallFilter::default() };
        let after = crate::admin::calls::cursor(&state, f.cursor.as_deref()).await?;
        let rows = crate::store::call_list::list(&state.db, &filter, after.as_ref(), PAGE).await?;
        let n = names(&state, &rows).await?;
        Ok::<_, ApiError>((rows, n))
    }
    .await;
    match result {
        Ok((rows, (users, keys, providers))) => render(&CallsPage {
            c: Chrome::new(lang, "/me/calls", &s),
            next: crate::store::call_list::next_cursor(&rows, PAGE),
            first_page: f.cursor.is_none(),
            calls: rows.iter().map(|c| member_view(call_view(c, &users, &keys, &providers))).collect(),
        }),
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn call(State(state): S, Signed(s, lang): Signed, Path(id): Path<String>) -> Response {
    let result = async {
        let c = crate::store::calls::get(&state.db, &id)
            .await?
            .filter(|c| c.user_id == s.user.id)
            .ok_or_else(|| crate::admin::not_found("call", &id))?;
        let n = names(&state, std::slice::from_ref(&c)).await?;
        Ok::<_, ApiError>((c, n))
    }
    .await;
    match result {
        Ok((c, (users, keys, providers))) => {
            let mut d = detail(&c, member_view(call_view(&c, &users, &keys, &providers)), &state.snapshot.load());
            d.credential.clear();
            d.trail.clear();
            d.upstream_model.clear();
            d.error_message = c
                .error_class
                .as_deref()
                .map(|class| crate::admin::calls_format::member_error_message(class).to_string())
                .unwrap_or_default();
            render(&super::calls::ShowPage { c: Chrome::new(lang, "/me/calls", &s), d, full: false, back: "/me/calls" })
        }
        Err(e) => error::from_api(lang, &e),
    }
}

#[derive(Template)]
#[template(path = "quickstart.html")]
struct Quickstart {
    c: Chrome,
    base: String,
    model: String,
    anthropic_model: String,
}

pub async fn quickstart(State(state): S, Signed(s, lang): Signed, headers: HeaderMap) -> Response {
    let snap = state.snapshot.load();
    let mut models: Vec<&String> = snap.models.keys().filter(|m| !m.contains('*')).collect();
    models.sort();
    let model = models.first().map(|m| m.to_string()).unwrap_or_else(|| "gpt-4o-mini".into());
    let anthropic_model =
        models.iter().find(|m| m.contains("claude")).map(|m| m.to_string()).unwrap_or_else(|| model.clone());
    render(&Quickstart { c: Chrome::new(lang, "/me/quickstart", &s), base: base_url(&headers), model, anthropic_model })
}
