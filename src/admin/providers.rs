//! `/api/v1/providers` and `/api/v1/credentials`: upstream accounts and their keys. Keys are
//! sealed by the vault before they reach the database and only ever shown masked.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiBody, created, not_found, parse_body, required_name};
use super::text;
use crate::billing::markup::{MultiplierInput, RuleInput, nullable};
use crate::billing::money::Credits;
use crate::config::Timeouts;
use crate::error::{ApiError, ErrorKind};
use crate::jobs::retest;
use crate::providers::kind::ProviderKind;
use crate::providers::ssrf;
use crate::routing::health::HealthKey;
use crate::secrets::vault::mask;
use crate::state::AppState;
use crate::store::providers::{self as q, CredentialRow, ProviderRow};

type S = State<Arc<AppState>>;

pub(crate) fn provider_json(p: &ProviderRow) -> Value {
    json!({
        "id": p.id, "object": "provider", "name": p.name, "kind": p.kind, "base_url": p.base_url,
        "region": p.region, "enabled": p.enabled, "timeouts": p.timeouts, "api_version": p.api_version,
        "multiplier": p.markup.to_json()["multiplier"], "request_fee": p.markup.to_json()["request_fee"],
        "created_at": crate::clock::rfc3339(p.created_at), "updated_at": crate::clock::rfc3339(p.updated_at),
    })
}

pub(crate) fn credential_json(c: &CredentialRow) -> Value {
    json!({
        "id": c.id, "object": "credential", "provider_id": c.provider_id, "name": c.name,
        "api_key_masked": c.secret_masked, "weight": c.weight, "enabled": c.enabled,
        "disabled_reason": c.disabled_reason, "key_version": c.key_id,
        "created_at": crate::clock::rfc3339(c.created_at), "updated_at": crate::clock::rfc3339(c.updated_at),
    })
}

/// The API's (and the console's) form of a provider.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderBody {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub region: Option<String>,
    pub enabled: Option<bool>,
    pub timeouts: Option<Timeouts>,
    pub api_version: Option<String>,
    /// The markup of this provider's calls where the model sets none (`null` clears it).
    #[serde(default, deserialize_with = "nullable")]
    pub multiplier: Option<Option<MultiplierInput>>,
    /// A fixed fee per priced call, in credits (`null` clears it).
    #[serde(default, deserialize_with = "nullable")]
    pub request_fee: Option<Option<Credits>>,
}

/// Validates the fields of a provider as they will be stored.
pub(crate) fn validate_provider(state: &AppState, p: &ProviderRow) -> Result<(), ApiError> {
    text::check_opt("base_url", p.base_url.as_deref(), text::URL_MAX)?;
    text::check_opt("region", p.region.as_deref(), text::NAME_MAX)?;
    text::check_opt("api_version", p.api_version.as_deref(), text::NAME_MAX)?;
    text::check("kind", &p.kind, text::NAME_MAX)?;
    let kind = ProviderKind::parse(&p.kind).map_err(|e| ApiError::invalid(e).with_param("kind"))?;
    crate::providers::check_settings(kind, p.base_url.as_deref(), p.api_version.as_deref())
        .map_err(|e| ApiError::invalid(e).with_param("api_version"))?;
    if let Some(url) = &p.base_url {
        ssrf::check_base_url(url, state.config.allow_private_upstreams)
            .map_err(|e| ApiError::invalid(e).with_param("base_url"))?;
    }
    if let Some(t) = &p.timeouts {
        t.check().map_err(|e| ApiError::invalid(e).with_param("timeouts"))?;
    }
    Ok(())
}

pub async fn list(State(state): S) -> Result<Response, ApiError> {
    let rows = q::list(&state.db).await?;
    Ok(Json(json!({"data": rows.iter().map(provider_json).collect::<Vec<_>>(), "next_cursor": null})).into_response())
}

pub async fn create(State(state): S, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    Ok(created(provider_json(&create_provider(&state, parse_body(&body)?).await?)))
}

pub(crate) async fn create_provider(state: &AppState, b: ProviderBody) -> Result<ProviderRow, ApiError> {
    let name = required_name("name", b.name.as_deref().unwrap_or(""))?;
    let kind = b.kind.ok_or_else(|| ApiError::invalid("`kind` is required").with_param("kind"))?;
    let now = crate::clock::now_ms();
    let mut markup = Default::default();
    super::markup::apply(RuleInput { multiplier: b.multiplier, request_fee: b.request_fee }, &mut markup)?;
    let row = ProviderRow {
        id: crate::store::new_id(),
        name,
        kind,
        base_url: b.base_url.map(|u| u.trim().to_string()),
        region: b.region,
        enabled: b.enabled.unwrap_or(true),
        timeouts: b.timeouts,
        api_version: b.api_version,
        markup,
        created_at: now,
        updated_at: now,
    };
    validate_provider(state, &row)?;
    save(state, &row).await?;
    state.reload().await?;
    Ok(row)
}

/// Stores a provider, a clash on the name answered as a 409 on that field.
async fn save(state: &AppState, row: &ProviderRow) -> Result<(), ApiError> {
    q::save(&state.db, row)
        .await
        .map_err(|e| super::api::clash(e, "name", format!("a provider named `{}` exists", row.name)))
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<ProviderRow, ApiError> {
    q::get(&state.db, id).await?.ok_or_else(|| not_found("provider", id))
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(provider_json(&load(&state, &id).await?)).into_response())
}

pub async fn update(State(state): S, Path(id): Path<String>, ApiBody(body): ApiBody) -> Result<Response, ApiError> {
    Ok(Json(provider_json(&update_provider(&state, &id, parse_body(&body)?).await?)).into_response())
}

pub(crate) async fn update_provider(state: &AppState, id: &str, b: ProviderBody) -> Result<ProviderRow, ApiError> {
    let mut row = load(state, id).await?;
    if let Some(n) = b.name {
        row.name = required_name("name", &n)?;
    }
    if let Some(k) = b.kind {
        row.kind = k;
    }
    if let Some(u) = b.base_url {
        row.base_url = Some(u.trim().to_string());
    }
    if b.region.is_some() {
        row.region = b.region;
    }
    if let Some(e) = b.enabled {
        row.enabled = e;
    }
    if b.timeouts.is_some() {
        row.timeouts = b.timeouts;
    }
    if b.api_version.is_some() {
        row.api_version = b.api_version;
    }
    super::markup::apply(RuleInput { multiplier: b.multiplier, request_fee: b.request_fee }, &mut row.markup)?;
    row.updated_at = crate::clock::now_ms();
    validate_provider(state, &row)?;
    save(state, &row).await?;
    state.reload().await?;
    Ok(row)
}

pub async fn delete(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = delete_provider(&state, &id).await?;
    Ok(Json(json!({"id": row.id, "object": "provider", "deleted": true})).into_response())
}

pub(crate) async fn delete_provider(state: &AppState, id: &str) -> Result<ProviderRow, ApiError> {
    let row = load(state, id).await?;
    q::delete(&state.db, &row.id).await?;
    state.reload().await?;
    Ok(row)
}

/// The API's (and the console's) form of a credential.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialBody {
    pub name: Option<String>,
    pub api_key: Option<String>,
    pub weight: Option<i64>,
    pub enabled: Option<bool>,
}

/// A credential valid for its provider's kind (a Bedrock credential is its JSON object): the
/// operator hears of a mistake now, with a 400, not every client at call time.
fn check_credential_kind(p: &ProviderRow, api_key: &str) -> Result<(), ApiError> {
    let kind = ProviderKind::parse(&p.kind).map_err(|e| ApiError::invalid(e).with_param("kind"))?;
    crate::providers::check_credential(kind, api_key)
        .map_err(|e| ApiError::invalid(e).with_param("api_key").with_code("invalid_credential"))
}

fn check_weight(w: i64) -> Result<i64, ApiError> {
    if !(0..=1_000_000).contains(&w) {
        return Err(ApiError::invalid("`weight` must be between 0 and 1000000").with_param("weight"));
    }
    Ok(w)
}

pub async fn list_credentials(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = load(&state, &id).await?;
    let rows = q::list_credentials(&state.db, Some(&p.id)).await?;
    let now = Instant::now();
    let data: Vec<Value> = rows
        .iter()
        .map(|c| {
            let mut v = credential_json(c);
            v["health"] = credential_health(&state, c, now);
            v
        })
        .collect();
    Ok(Json(json!({"data": data, "next_cursor": null})).into_response())
}

/// A credential's live health; an operator's or a stored refusal's `enabled: false` wins.
pub(crate) fn credential_health(state: &AppState, c: &CredentialRow, now: Instant) -> Value {
    let report = state.routing.health.credential_report(&c.id, c.enabled, c.disabled_reason.as_deref(), now);
    serde_json::to_value(report).expect("a health report serializes")
}

/// `GET /api/v1/providers/{id}/health`: the provider's credentials and every target (a model
/// routed to this provider) with its state, last error, recent error rate and latency.
pub async fn health(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let p = load(&state, &id).await?;
    let rows = q::list_credentials(&state.db, Some(&p.id)).await?;
    Ok(Json(provider_health(&state, &p, &rows, Instant::now())).into_response())
}

/// `GET /api/v1/health`: [`health`] of every provider.
pub async fn health_all(State(state): S) -> Result<Response, ApiError> {
    let providers = q::list(&state.db).await?;
    let credentials = q::list_credentials(&state.db, None).await?;
    let now = Instant::now();
    let data: Vec<Value> = providers
        .iter()
        .map(|p| {
            let rows: Vec<CredentialRow> = credentials.iter().filter(|c| c.provider_id == p.id).cloned().collect();
            provider_health(&state, p, &rows, now)
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})).into_response())
}

fn provider_health(state: &AppState, p: &ProviderRow, rows: &[CredentialRow], now: Instant) -> Value {
    let credentials: Vec<Value> = rows
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "weight": c.weight, "health": credential_health(state, c, now)}))
        .collect();
    let snap = state.snapshot.load_full();
    let mut targets: Vec<(String, Vec<String>)> = Vec::new();
    let mut models: Vec<_> = snap.models.values().collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    for m in models {
        for t in m.targets.iter().filter(|t| t.provider_id == p.id) {
            match targets.iter_mut().find(|(u, _)| *u == t.upstream_model) {
                Some((_, names)) => names.push(m.name.clone()),
                None => targets.push((t.upstream_model.clone(), vec![m.name.clone()])),
            }
        }
    }
    let targets: Vec<Value> = targets
        .into_iter()
        .map(|(upstream, models)| {
            let report = state.routing.health.report(&HealthKey::target(&p.id, &upstream), now);
            json!({"upstream_model": upstream, "models": models, "health": report})
        })
        .collect();
    json!({
        "id": p.id, "object": "provider.health", "name": p.name, "enabled": p.enabled,
        "credentials": credentials, "targets": targets,
    })
}

/// Seals and stores a new credential for provider `provider_id`.
pub(crate) async fn add_credential(
    state: &AppState,
    provider_id: &str,
    name: &str,
    api_key: &str,
    weight: i64,
) -> Result<CredentialRow, ApiError> {
    let now = crate::clock::now_ms();
    let id = crate::store::new_id();
    let row = CredentialRow {
        secret_sealed: state.vault.seal(&id, api_key),
        secret_masked: mask(api_key),
        key_id: state.vault.key_id().to_string(),
        id,
        provider_id: provider_id.to_string(),
        name: name.to_string(),
        weight,
        enabled: true,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    q::save_credential(&state.db, &row).await?;
    Ok(row)
}

pub async fn create_credential(
    State(state): S,
    Path(id): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    Ok(created(credential_json(&new_credential(&state, &id, parse_body(&body)?).await?)))
}

pub(crate) async fn new_credential(
    state: &AppState,
    provider_id: &str,
    b: CredentialBody,
) -> Result<CredentialRow, ApiError> {
    let p = load(state, provider_id).await?;
    let api_key = b.api_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
    let api_key = api_key.ok_or_else(|| ApiError::invalid("`api_key` is required").with_param("api_key"))?;
    check_credential_kind(&p, &api_key)?;
    let name = match b.name {
        Some(n) => required_name("name", &n)?,
        // The tail of a v7 id: its head is a timestamp, shared by keys added in the same ms.
        None => format!("key-{}", &crate::store::new_id()[28..]),
    };
    let weight = check_weight(b.weight.unwrap_or(100))?;
    let mut row = add_credential(state, &p.id, &name, &api_key, weight).await?;
    if b.enabled == Some(false) {
        row.enabled = false;
        q::save_credential(&state.db, &row).await?;
    }
    state.reload().await?;
    Ok(row)
}

pub(crate) async fn load_credential(state: &AppState, id: &str) -> Result<CredentialRow, ApiError> {
    q::get_credential(&state.db, id).await?.ok_or_else(|| not_found("credential", id))
}

pub async fn get_credential(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let c = load_credential(&state, &id).await?;
    let mut v = credential_json(&c);
    v["health"] = credential_health(&state, &c, Instant::now());
    Ok(Json(v).into_response())
}

pub async fn update_credential(
    State(state): S,
    Path(id): Path<String>,
    ApiBody(body): ApiBody,
) -> Result<Response, ApiError> {
    Ok(Json(credential_json(&change_credential(&state, &id, parse_body(&body)?).await?)).into_response())
}

pub(crate) async fn change_credential(
    state: &AppState,
    id: &str,
    b: CredentialBody,
) -> Result<CredentialRow, ApiError> {
    let mut row = load_credential(state, id).await?;
    if let Some(n) = b.name {
        row.name = required_name("name", &n)?;
    }
    if let Some(k) = b.api_key {
        let k = k.trim();
        if k.is_empty() {
            return Err(ApiError::invalid("`api_key` must not be empty").with_param("api_key"));
        }
        check_credential_kind(&load(state, &row.provider_id).await?, k)?;
        row.secret_sealed = state.vault.seal(&row.id, k);
        row.secret_masked = mask(k);
        row.key_id = state.vault.key_id().to_string();
    }
    if let Some(w) = b.weight {
        row.weight = check_weight(w)?;
    }
    if let Some(e) = b.enabled {
        row.enabled = e;
        // An operator's decision replaces a refusal: it also stops the background re-test.
        row.disabled_reason = None;
        if e {
            state.routing.health.enable(&HealthKey::credential(&row.id));
        }
    }
    row.updated_at = crate::clock::now_ms();
    q::save_credential(&state.db, &row).await?;
    state.reload().await?;
    Ok(row)
}

pub async fn delete_credential(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let row = remove_credential(&state, &id).await?;
    Ok(Json(json!({"id": row.id, "object": "credential", "deleted": true})).into_response())
}

pub(crate) async fn remove_credential(state: &AppState, id: &str) -> Result<CredentialRow, ApiError> {
    let row = load_credential(state, id).await?;
    q::delete_credential(&state.db, &row.id).await?;
    state.reload().await?;
    Ok(row)
}

/// Checks a credential by listing the provider's models: no billable completion is made.
pub async fn test_credential(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok((StatusCode::OK, Json(check_credential(&state, &id).await?)).into_response())
}

/// The key check: `{id, ok, status, latency_ms, error, re_enabled}`.
pub(crate) async fn check_credential(state: &AppState, id: &str) -> Result<Value, ApiError> {
    let row = load_credential(state, id).await?;
    let snap = state.snapshot.load_full();
    let provider = snap.providers.get(&row.provider_id).ok_or_else(|| not_found("provider", &row.provider_id))?;
    let cred =
        provider.credentials.iter().find(|c| c.id == row.id).ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "the credential cannot be decrypted with the current key")
        })?;
    let probe = crate::providers::probe::probe(&state.http, provider, cred).await;
    let (ok, status, message, latency_ms) = (probe.ok, probe.status, probe.error, probe.latency.as_millis() as i64);
    // A key the provider refused earlier and accepts now goes back into the rotation at once,
    // rather than at its next background re-test.
    let mut re_enabled = false;
    if let Some(reason) =
        row.disabled_reason.as_deref().filter(|r| ok && !row.enabled && r.starts_with(retest::REFUSED_PREFIX))
    {
        re_enabled = q::reenable_credential(&state.db, &row.id, reason, crate::clock::now_ms()).await?;
        state.reload().await?;
        state.routing.health.enable(&HealthKey::credential(&row.id));
    }
    Ok(json!({
        "id": row.id, "ok": ok, "status": status, "latency_ms": latency_ms, "error": message,
        "re_enabled": re_enabled,
    }))
}
