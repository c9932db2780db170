//! Users: create (with a password and opening credits), role, plan, limits, password reset,
//! credit grants and the ledger, their keys and sessions.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{credits, error, render, render_status, when};
use crate::admin::users::{self as ops, GrantBody, UserBody};
use crate::billing::limits::Limits;
use crate::console::auth::{Admin, SessionView, session_views};
use crate::console::i18n::Lang;
use crate::console::{Chrome, Errors, Form};
use crate::error::ApiError;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::users::UserRow;

type S = State<Arc<AppState>>;

const CREATE_FIELDS: &[&str] = &["name", "email", "role", "plan", "password", "amount"];

pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub plan: String,
    pub balance: String,
    pub created_at: String,
}

fn view(state: &AppState, u: &UserRow) -> UserView {
    UserView {
        id: u.id.clone(),
        name: u.name.clone(),
        email: u.email.clone().unwrap_or_default(),
        role: u.role.clone(),
        plan: u.plan.clone(),
        balance: credits(state.accounts.balance(&u.id)),
        created_at: when(u.created_at),
    }
}

#[derive(Default)]
pub struct NewUserForm {
    pub name: String,
    pub email: String,
    pub role: String,
    pub plan: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct ListPage {
    c: Chrome,
    users: Vec<UserView>,
    next: Option<String>,
    form: NewUserForm,
    errors: Errors,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    cursor: Option<String>,
    ok: Option<String>,
}

const PAGE: i64 = 50;

async fn list_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    cursor: Option<&str>,
    form: NewUserForm,
    errors: Errors,
) -> Result<ListPage, ApiError> {
    let rows = crate::store::users::list(&state.db, cursor, PAGE).await?;
    let next = (rows.len() as i64 == PAGE).then(|| rows.last().map(|u| u.id.clone())).flatten();
    Ok(ListPage {
        c: Chrome::new(lang, "/users", s),
        users: rows.iter().map(|u| view(state, u)).collect(),
        next,
        form,
        errors,
        notice: None,
    })
}

pub async fn list(State(state): S, Admin(s, lang): Admin, Query(q): Query<ListQuery>) -> Response {
    let form = NewUserForm { role: "member".into(), plan: "prepaid".into(), ..NewUserForm::default() };
    match list_page(&state, &s, lang, q.cursor.as_deref(), form, Errors::none()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

/// `POST /users`: a user, with a password to sign in with and opening credits if given.
pub async fn create(State(state): S, Admin(s, lang): Admin, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let filled = NewUserForm {
        name: f.text("name"),
        email: f.text("email"),
        role: f.text("role"),
        plan: f.text("plan"),
        amount: f.text("amount"),
    };
    let result = async {
        let amount = f.credits("amount")?;
        if amount.is_some_and(|a| a.0 <= 0) {
            return Err(ApiError::invalid(lang.t("users.amount_positive")).with_param("amount"));
        }
        let b = UserBody {
            name: Some(f.text("name")),
            email: f.opt("email"),
            role: f.opt("role"),
            plan: f.opt("plan"),
            password: f.raw("password").map(str::to_string),
            limits: None,
        };
        let u = ops::create_user(&state, b).await?;
        if let Some(amount) = amount {
            let g = GrantBody {
                amount,
                kind: Some("grant".into()),
                note: Some("opening credits".into()),
                idempotency_key: None,
            };
            ops::post_credits(&state, &u.id, g).await?;
        }
        Ok(u)
    }
    .await;
    match result {
        Ok(u) => Redirect::to(&format!("/users/{}?ok=created", u.id)).into_response(),
        Err(e) => match list_page(&state, &s, lang, None, filled, Errors::from_api(&e, CREATE_FIELDS)).await {
            Ok(p) => render_status(e.status(), &p),
            Err(e) => error::from_api(lang, &e),
        },
    }
}

pub struct EntryView {
    pub kind: String,
    pub amount: String,
    pub positive: bool,
    pub balance_after: String,
    pub note: String,
    pub call_id: String,
    pub created_at: String,
}

pub fn entry_views(rows: Vec<crate::store::ledger::LedgerEntry>) -> Vec<EntryView> {
    rows.into_iter()
        .map(|e| EntryView {
            kind: e.kind,
            positive: e.amount >= 0,
            amount: credits(e.amount),
            balance_after: credits(e.balance_after),
            note: e.note.unwrap_or_default(),
            call_id: e.call_id.unwrap_or_default(),
            created_at: when(e.created_at),
        })
        .collect()
}

/// Limits as the form shows them.
#[derive(Default)]
pub struct LimitsForm {
    pub rpm: String,
    pub tpm: String,
    pub max_concurrency: String,
    pub budget: String,
    pub budget_period: String,
    pub max_keys: String,
}

impl LimitsForm {
    fn of(l: &Limits) -> LimitsForm {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        LimitsForm {
            rpm: n(l.rpm),
            tpm: n(l.tpm),
            max_concurrency: n(l.max_concurrency),
            budget: l.budget.map(credits).unwrap_or_default(),
            budget_period: l.budget_period.map(|p| p.as_str().to_string()).unwrap_or_default(),
            max_keys: n(l.max_keys),
        }
    }

    /// The JSON the API takes (`null` when nothing is limited).
    fn to_json(f: &Form) -> Result<Box<serde_json::value::RawValue>, ApiError> {
        let mut m = serde_json::Map::new();
        for field in ["rpm", "tpm", "max_concurrency", "max_keys"] {
            if let Some(v) = f.get(field) {
                let n: i64 = v.parse().map_err(|_| {
                    ApiError::invalid(format!("`{v}` is not a whole number")).with_param(limit_param(field))
                })?;
                m.insert(field.into(), n.into());
            }
        }
        if let Some(b) = f.get("budget") {
            m.insert("budget".into(), b.into());
        }
        if let Some(p) = f.get("budget_period") {
            m.insert("budget_period".into(), p.into());
        }
        let text = if m.is_empty() { "null".to_string() } else { serde_json::Value::Object(m).to_string() };
        Ok(serde_json::value::RawValue::from_string(text).expect("JSON text"))
    }
}

fn limit_param(field: &str) -> &'static str {
    match field {
        "rpm" => "rpm",
        "tpm" => "tpm",
        "max_concurrency" => "max_concurrency",
        _ => "max_keys",
    }
}

pub struct KeyLine {
    pub name: String,
    pub prefix: String,
    pub revoked: bool,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "user.html")]
struct ShowPage {
    c: Chrome,
    u: UserView,
    limits: LimitsForm,
    entries: Vec<EntryView>,
    ledger_next: Option<String>,
    keys: Vec<KeyLine>,
    sessions: Vec<SessionView>,
    errors: Errors,
    notice: Option<&'static str>,
    is_self: bool,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    ok: Option<String>,
    ledger_cursor: Option<String>,
}

async fn show_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    id: &str,
    ledger_cursor: Option<&str>,
) -> Result<ShowPage, ApiError> {
    let u = ops::load(state, id).await?;
    let entries = crate::store::ledger::list(&state.db, &u.id, ledger_cursor, PAGE).await?;
    let ledger_next = (entries.len() as i64 == PAGE).then(|| entries.last().map(|e| e.id.clone())).flatten();
    let keys = crate::store::api_keys::list(&state.db, Some(&u.id), None, 100).await?;
    let limits = u.limits.as_ref().map(Limits::from_json).transpose().ok().flatten().unwrap_or_default();
    Ok(ShowPage {
        c: Chrome::new(lang, "/users", s),
        limits: LimitsForm::of(&limits),
        entries: entry_views(entries),
        ledger_next,
        keys: keys
            .into_iter()
            .map(|k| KeyLine {
                name: k.name,
                prefix: k.prefix,
                revoked: k.revoked_at.is_some(),
                created_at: when(k.created_at),
            })
            .collect(),
        sessions: session_views(state, &u.id, None).await,
        errors: Errors::none(),
        notice: None,
        is_self: u.id == s.user.id,
        u: view(state, &u),
    })
}

pub async fn show(
    State(state): S,
    Admin(s, lang): Admin,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match show_page(&state, &s, lang, &id, q.ledger_cursor.as_deref()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

async fn show_with_error(state: &AppState, s: &Session, lang: Lang, id: &str, e: ApiError) -> Response {
    const SHOWN: &[&str] = &[
        "name",
        "email",
        "role",
        "plan",
        "rpm",
        "tpm",
        "max_concurrency",
        "budget",
        "budget_period",
        "max_keys",
        "password",
        "amount",
        "kind",
        "note",
    ];
    match show_page(state, s, lang, id, None).await {
        Ok(mut p) => {
            p.errors = Errors::from_api(&e, SHOWN);
            render_status(e.status(), &p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

/// `POST /users/{id}`: the profile (`section=profile`) or the limits (`section=limits`).
pub async fn update(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let b = if f.get("section") == Some("limits") {
            UserBody { limits: Some(LimitsForm::to_json(&f)?), ..Default::default() }
        } else {
            UserBody {
                name: Some(f.text("name")),
                email: f.opt("email"),
                role: f.opt("role"),
                plan: f.opt("plan"),
                ..Default::default()
            }
        };
        if b.role.as_deref() == Some("member") && id == s.user.id {
            return Err(ApiError::invalid(lang.t("users.no_self_demote")).with_param("role"));
        }
        ops::update_user(&state, &id, b, None).await
    }
    .await;
    match result {
        Ok(u) => Redirect::to(&format!("/users/{}?ok=saved", u.id)).into_response(),
        Err(mut e) => {
            // The limits parser names the field inside `limits`; point at it.
            if e.param == Some("limits") {
                for field in ["rpm", "tpm", "max_concurrency", "budget_period", "budget", "max_keys"] {
                    if e.message.contains(&format!("limits.{field}")) {
                        e.param = Some(match field {
                            "budget" => "budget",
                            "budget_period" => "budget_period",
                            other => limit_param(other),
                        });
                        break;
                    }
                }
            }
            show_with_error(&state, &s, lang, &id, e).await
        }
    }
}

/// `POST /users/{id}/password`: sets a new password and signs the user out everywhere.
pub async fn reset_password(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let b = UserBody { password: Some(f.raw("password").unwrap_or_default().to_string()), ..Default::default() };
    let keep = (id == s.user.id).then_some(s.id.as_str());
    match ops::update_user(&state, &id, b, keep).await {
        Ok(u) => Redirect::to(&format!("/users/{}?ok=password_reset", u.id)).into_response(),
        Err(e) => show_with_error(&state, &s, lang, &id, e).await,
    }
}

/// `POST /users/{id}/credits`: a grant, top-up, refund or adjustment. The form carries an
/// idempotency key made when it was rendered, so a double submit credits once.
pub async fn grant(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let amount = f
            .credits("amount")?
            .ok_or_else(|| ApiError::invalid(lang.t("users.amount_needed")).with_param("amount"))?;
        let g =
            GrantBody { amount, kind: f.opt("kind"), note: f.opt("note"), idempotency_key: f.opt("idempotency_key") };
        ops::post_credits(&state, &id, g).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/users/{id}?ok=credited")).into_response(),
        Err(e) => show_with_error(&state, &s, lang, &id, e).await,
    }
}

pub async fn end_sessions(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>) -> Response {
    let keep = (id == s.user.id).then_some(s.id.as_str());
    match crate::sessions::end_all(&state, &id, keep).await {
        Ok(_) => Redirect::to(&format!("/users/{id}?ok=sessions_ended")).into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn delete(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>) -> Response {
    if id == s.user.id {
        return show_with_error(&state, &s, lang, &id, ApiError::invalid(lang.t("users.no_self_delete"))).await;
    }
    match ops::delete_user(&state, &id).await {
        Ok(_) => Redirect::to("/users?ok=deleted").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

/// A fresh idempotency key for a credits form.
impl ShowPage {
    fn grant_key(&self) -> String {
        format!("console-{}", crate::store::new_id())
    }
}
