//! Providers and their credentials: add (with a first key), edit, enable, weight, test (with
//! progress), delete; live health and the last error of each credential and target. Keys are
//! only ever shown masked.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{error, render, render_status, when};
use crate::admin::providers::{self as ops, CredentialBody, ProviderBody};
use crate::console::auth::Admin;
use crate::console::chrome::Chrome;
use crate::console::form::{Errors, Form};
use crate::console::i18n::Lang;
use crate::error::ApiError;
use crate::routing::health::{HealthKey, HealthState, Report};
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::providers::{self as q, CredentialRow, ProviderRow};

type S = State<Arc<AppState>>;

pub const KINDS: &[&str] = &["openai", "anthropic", "azure-openai", "gemini", "bedrock"];
const PROVIDER_FIELDS: &[&str] =
    &["name", "kind", "base_url", "api_version", "region", "api_key", "weight", "multiplier", "request_fee"];
const CREDENTIAL_FIELDS: &[&str] = &["cred_name", "api_key", "weight"];

pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub enabled: bool,
    pub credentials: usize,
    pub healthy: usize,
    pub models: usize,
}

#[derive(Default)]
pub struct ProviderForm {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub api_version: String,
    pub region: String,
}

#[derive(Template)]
#[template(path = "providers.html")]
struct ListPage {
    c: Chrome,
    providers: Vec<ProviderView>,
    form: ProviderForm,
    kinds: &'static [&'static str],
    errors: Errors,
    notice: Option<&'static str>,
}

async fn list_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    form: ProviderForm,
    errors: Errors,
) -> Result<ListPage, ApiError> {
    let rows = q::list(&state.db).await?;
    let creds = q::list_credentials(&state.db, None).await?;
    let snap = state.snapshot.load();
    let now = Instant::now();
    let providers = rows
        .into_iter()
        .map(|p| {
            let mine: Vec<&CredentialRow> = creds.iter().filter(|c| c.provider_id == p.id).collect();
            let health = &state.routing.health;
            let healthy = mine
                .iter()
                .filter(|c| {
                    let report = health.credential_report(&c.id, c.enabled, c.disabled_reason.as_deref(), now);
                    report.state == HealthState::Healthy
                })
                .count();
            let models = snap.models.values().filter(|m| m.targets.iter().any(|t| t.provider_id == p.id)).count();
            ProviderView {
                id: p.id,
                name: p.name,
                kind: p.kind,
                base_url: p.base_url.unwrap_or_default(),
                enabled: p.enabled,
                credentials: mine.len(),
                healthy,
                models,
            }
        })
        .collect();
    Ok(ListPage { c: Chrome::new(lang, "/providers", s), providers, form, kinds: KINDS, errors, notice: None })
}

pub async fn list(State(state): S, Admin(s, lang): Admin, Query(q): Query<ShowQuery>) -> Response {
    let form = ProviderForm { kind: "openai".into(), ..ProviderForm::default() };
    match list_page(&state, &s, lang, form, Errors::none()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

/// `POST /providers`: a provider and, if a key was given, its first credential.
pub async fn create(State(state): S, Admin(s, lang): Admin, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let filled = ProviderForm {
        name: f.text("name"),
        kind: f.text("kind"),
        base_url: f.text("base_url"),
        api_version: f.text("api_version"),
        region: f.text("region"),
    };
    let result = async {
        let weight = f.int("weight")?;
        let b = ProviderBody {
            name: f.opt("name"),
            kind: f.opt("kind"),
            base_url: f.opt("base_url"),
            region: f.opt("region"),
            api_version: f.opt("api_version"),
            ..Default::default()
        };
        let p = ops::create_provider(&state, b).await?;
        if let Some(key) = f.raw("api_key") {
            let c = CredentialBody { api_key: Some(key.to_string()), weight, ..Default::default() };
            if let Err(e) = ops::new_credential(&state, &p.id, c).await {
                // The provider stays; its page says why the key was not added.
                return Ok(format!("/providers/{}?error={}", p.id, crate::console::chrome::urlencode(&e.message)));
            }
        }
        Ok::<_, ApiError>(format!("/providers/{}?ok=created", p.id))
    }
    .await;
    match result {
        Ok(to) => Redirect::to(&to).into_response(),
        Err(e) => match list_page(&state, &s, lang, filled, Errors::from_api(&e, PROVIDER_FIELDS)).await {
            Ok(p) => render_status(e.status(), &p),
            Err(e) => error::from_api(lang, &e),
        },
    }
}

pub struct CredentialView {
    pub id: String,
    pub name: String,
    pub masked: String,
    pub weight: i64,
    pub enabled: bool,
    pub health: Report,
}

pub struct TargetView {
    pub upstream: String,
    pub models: String,
    pub health: Report,
}

/// A key check's outcome, shown on the provider's page.
pub struct TestResult {
    pub name: String,
    pub ok: bool,
    pub status: String,
    pub latency_ms: i64,
    pub error: String,
}

#[derive(Template)]
#[template(path = "provider.html")]
struct ShowPage {
    c: Chrome,
    p: ProviderRow,
    credentials: Vec<CredentialView>,
    targets: Vec<TargetView>,
    errors: Errors,
    notice: Option<String>,
    test: Option<TestResult>,
    created_at: String,
    markup: super::markup::MarkupForm,
}

async fn show_page(state: &AppState, s: &Session, lang: Lang, id: &str) -> Result<ShowPage, ApiError> {
    let p = ops::load(state, id).await?;
    let now = Instant::now();
    let credentials = q::list_credentials(&state.db, Some(&p.id))
        .await?
        .into_iter()
        .map(|c| CredentialView {
            health: state.routing.health.credential_report(&c.id, c.enabled, c.disabled_reason.as_deref(), now),
            id: c.id,
            name: c.name,
            masked: c.secret_masked,
            weight: c.weight,
            enabled: c.enabled,
        })
        .collect();
    let snap = state.snapshot.load_full();
    let mut targets: Vec<TargetView> = Vec::new();
    let mut models: Vec<_> = snap.models.values().collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    for m in models {
        for t in m.targets.iter().filter(|t| t.provider_id == p.id) {
            match targets.iter_mut().find(|v| v.upstream == t.upstream_model) {
                Some(v) => v.models = format!("{}, {}", v.models, m.name),
                None => targets.push(TargetView {
                    upstream: t.upstream_model.clone(),
                    models: m.name.clone(),
                    health: state.routing.health.report(&HealthKey::target(&p.id, &t.upstream_model), now),
                }),
            }
        }
    }
    Ok(ShowPage {
        c: Chrome::new(lang, "/providers", s),
        created_at: when(p.created_at),
        markup: super::markup::MarkupForm::of(&p.markup),
        p,
        credentials,
        targets,
        errors: Errors::none(),
        notice: None,
        test: None,
    })
}

#[derive(Deserialize)]
pub struct ShowQuery {
    ok: Option<String>,
    error: Option<String>,
}

pub async fn show(
    State(state): S,
    Admin(s, lang): Admin,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    match show_page(&state, &s, lang, &id).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref()).map(str::to_string);
            if let Some(e) = q.error {
                p.errors = Errors::message("api_key", e, CREDENTIAL_FIELDS);
            }
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

async fn show_with_error(
    state: &AppState,
    s: &Session,
    lang: Lang,
    id: &str,
    e: ApiError,
    shown: &'static [&'static str],
) -> Response {
    match show_page(state, s, lang, id).await {
        Ok(mut p) => {
            p.errors = Errors::from_api(&e, shown);
            render_status(e.status(), &p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

/// `POST /providers/{id}`: edits the provider (name, address, API version, region, enabled).
pub async fn update(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let markup = super::markup::MarkupForm::read(&f).to_input()?;
        let b = ProviderBody {
            name: f.opt("name"),
            base_url: f.opt("base_url"),
            region: f.opt("region"),
            api_version: f.opt("api_version"),
            enabled: Some(f.checked("enabled")),
            multiplier: markup.multiplier,
            request_fee: markup.request_fee,
            ..Default::default()
        };
        ops::update_provider(&state, &id, b).await
    }
    .await;
    match result {
        Ok(p) => Redirect::to(&format!("/providers/{}?ok=saved", p.id)).into_response(),
        Err(e) => show_with_error(&state, &s, lang, &id, e, PROVIDER_FIELDS).await,
    }
}

pub async fn delete(State(state): S, Admin(_, lang): Admin, Path(id): Path<String>) -> Response {
    match ops::delete_provider(&state, &id).await {
        Ok(_) => Redirect::to("/providers?ok=deleted").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn add_credential(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let b = CredentialBody {
            name: f.opt("cred_name"),
            api_key: f.raw("api_key").map(str::to_string),
            weight: f.int("weight")?,
            ..Default::default()
        };
        ops::new_credential(&state, &id, b).await
    }
    .await;
    match result {
        Ok(_) => Redirect::to(&format!("/providers/{id}?ok=credential_added")).into_response(),
        Err(mut e) => {
            if e.param == Some("name") {
                e.param = Some("cred_name");
            }
            show_with_error(&state, &s, lang, &id, e, CREDENTIAL_FIELDS).await
        }
    }
}

/// `POST /credentials/{id}`: weight and enabled.
pub async fn update_credential(
    State(state): S,
    Admin(s, lang): Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let f = Form::parse(&body);
    let result = async {
        let b = CredentialBody { weight: f.int("weight")?, enabled: Some(f.checked("enabled")), ..Default::default() };
        ops::change_credential(&state, &id, b).await
    }
    .await;
    match result {
        Ok(c) => Redirect::to(&format!("/providers/{}?ok=saved", c.provider_id)).into_response(),
        Err(e) => match ops::load_credential(&state, &id).await {
            Ok(c) => show_with_error(&state, &s, lang, &c.provider_id, e, &[]).await,
            Err(e) => error::from_api(lang, &e),
        },
    }
}

/// `POST /credentials/{id}/test`: checks the key against the provider (no billable call) and
/// shows the outcome on the provider's page.
pub async fn test_credential(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>) -> Response {
    let c = match ops::load_credential(&state, &id).await {
        Ok(c) => c,
        Err(e) => return error::from_api(lang, &e),
    };
    let outcome = ops::check_credential(&state, &id).await;
    match show_page(&state, &s, lang, &c.provider_id).await {
        Ok(mut p) => {
            p.test = Some(match outcome {
                Ok(v) => TestResult {
                    name: c.name,
                    ok: v["ok"].as_bool().unwrap_or(false),
                    status: v["status"].as_i64().map(|s| s.to_string()).unwrap_or_default(),
                    latency_ms: v["latency_ms"].as_i64().unwrap_or(0),
                    error: v["error"].as_str().unwrap_or_default().to_string(),
                },
                Err(e) => {
                    TestResult { name: c.name, ok: false, status: String::new(), latency_ms: 0, error: e.message }
                }
            });
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn delete_credential(State(state): S, Admin(_, lang): Admin, Path(id): Path<String>) -> Response {
    match ops::remove_credential(&state, &id).await {
        Ok(c) => Redirect::to(&format!("/providers/{}?ok=credential_deleted", c.provider_id)).into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}
