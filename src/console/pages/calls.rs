//! The call log: filters, cursor paging (newest first, keyset on `(started_at, id)`, so the
//! last page of millions of rows comes as fast as the first), a detail view with attempts, timings and the price snapshot, and export (streamed
//! by the API, with progress). Members see the same list narrowed to their own calls and
//! without provider internals (see `member`).

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{count, credits, error, render, when};
use crate::console::auth::Admin;
use crate::console::chrome::{Chrome, urlencode};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::call_list;
use crate::store::calls::{self as q, CallFilter, CallRecord};

type S = State<Arc<AppState>>;

/// One row of the log as people read it.
pub struct CallView {
    pub id: String,
    pub started_at: String,
    pub user_id: String,
    pub user: String,
    pub key: String,
    pub model: String,
    pub provider: String,
    pub status: String,
    pub http_status: String,
    pub error_class: String,
    pub input_tokens: String,
    pub output_tokens: String,
    pub cost: String,
    pub duration: String,
    pub ttft: String,
    pub estimated: bool,
}

pub fn ms(v: Option<i64>) -> String {
    v.map(|v| format!("{} ms", count(v))).unwrap_or_else(|| "–".into())
}

pub fn call_view(
    c: &CallRecord,
    users: &HashMap<String, String>,
    keys: &HashMap<String, String>,
    providers: &HashMap<String, String>,
) -> CallView {
    CallView {
        id: c.id.clone(),
        started_at: when(c.started_at),
        user_id: c.user_id.clone(),
        user: users.get(&c.user_id).cloned().unwrap_or_else(|| c.user_id.chars().take(8).collect()),
        key: keys.get(&c.key_id).cloned().unwrap_or_default(),
        model: c.model.clone(),
        provider: c
            .provider_id
            .as_ref()
            .map(|p| providers.get(p).cloned().unwrap_or_else(|| p.clone()))
            .unwrap_or_default(),
        status: c.status.clone(),
        http_status: c.http_status.map(|s| s.to_string()).unwrap_or_default(),
        error_class: c.error_class.clone().unwrap_or_default(),
        input_tokens: count(c.input_tokens),
        output_tokens: count(c.output_tokens),
        cost: credits(c.cost),
        duration: ms(c.duration_ms),
        ttft: ms(c.ttft_ms),
        estimated: c.usage_estimated,
    }
}

/// The filters of the log, as the form and the links carry them.
#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub status: Option<String>,
    /// `YYYY-MM-DD` (UTC) or RFC 3339.
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
}

fn blank_none(v: &Option<String>) -> Option<String> {
    v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A date box's value as a time: the start of the day for `from`, its end for `to`.
fn day_or_time(field: &'static str, v: &Option<String>, end: bool) -> Result<Option<i64>, ApiError> {
    let Some(v) = blank_none(v) else { return Ok(None) };
    let text =
        if v.len() == 10 { if end { format!("{v}T23:59:59.999Z") } else { format!("{v}T00:00:00Z") } } else { v };
    crate::clock::parse_timestamp(&serde_json::Value::String(text))
        .map(Some)
        .map_err(|e| ApiError::invalid(e).with_param(field))
}

impl Filters {
    pub fn to_filter(&self, state: &AppState) -> Result<CallFilter, ApiError> {
        let provider_id = blank_none(&self.provider).map(|p| {
            let snap = state.snapshot.load();
            snap.providers_by_name.get(&p).map_or(p, |pr| pr.id.clone())
        });
        Ok(CallFilter {
            user_id: blank_none(&self.user_id),
            key_id: blank_none(&self.key_id),
            model: blank_none(&self.model),
            provider_id,
            status: blank_none(&self.status),
            from_ms: day_or_time("from", &self.from, false)?,
            to_ms: day_or_time("to", &self.to, true)?,
            ..CallFilter::default()
        })
    }

    /// The query string of these filters (no cursor), for paging links and the export.
    pub fn query(&self) -> String {
        let pairs: Vec<(&str, String)> = [
            ("user_id", &self.user_id),
            ("key_id", &self.key_id),
            ("model", &self.model),
            ("provider", &self.provider),
            ("status", &self.status),
        ]
        .into_iter()
        .filter_map(|(k, v)| blank_none(v).map(|v| (k, v)))
        .collect();
        let mut out: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
        // The API takes RFC 3339 times; a date box gives a day.
        if let Ok(Some(f)) = day_or_time("from", &self.from, false) {
            out.push(format!("from={}", urlencode(&crate::clock::rfc3339(f))));
        }
        if let Ok(Some(t)) = day_or_time("to", &self.to, true) {
            out.push(format!("to={}", urlencode(&crate::clock::rfc3339(t))));
        }
        out.join("&")
    }

    pub fn text(v: &Option<String>) -> String {
        v.clone().unwrap_or_default()
    }
}

pub const PAGE: i64 = 50;

#[derive(Template)]
#[template(path = "calls.html")]
struct ListPage {
    c: Chrome,
    calls: Vec<CallView>,
    f: Filters,
    query: String,
    next: Option<String>,
    first_page: bool,
    models: Vec<String>,
    providers: Vec<String>,
    error: Option<String>,
}

type Names = (HashMap<String, String>, HashMap<String, String>, HashMap<String, String>);

/// Names of the users, keys and providers these calls name, for showing ids as people know
/// them: users and providers from memory, the page's keys (at most one page's worth) from
/// the database, since revoked keys are not in memory.
pub async fn names(state: &AppState, calls: &[CallRecord]) -> Result<Names, ApiError> {
    let snap = state.snapshot.load();
    let users = snap.users.values().map(|u| (u.id.clone(), u.name.clone())).collect();
    let providers = snap.providers.values().map(|p| (p.id.clone(), p.name.clone())).collect();
    let mut keys = HashMap::new();
    for c in calls {
        if !keys.contains_key(&c.key_id)
            && let Some(k) = crate::store::api_keys::get(&state.db, &c.key_id).await?
        {
            keys.insert(k.id, k.name);
        }
    }
    Ok((users, keys, providers))
}

pub async fn list(State(state): S, Admin(s, lang): Admin, Query(f): Query<Filters>) -> Response {
    let (filter, error) = match f.to_filter(&state) {
        Ok(filter) => (filter, None),
        Err(e) => (CallFilter { user_id: Some(String::new()), ..CallFilter::default() }, Some(e.message)),
    };
    let result = async {
        let rows = if error.is_some() {
            Vec::new()
        } else {
            let after = crate::admin::calls::cursor(&state, f.cursor.as_deref()).await?;
            call_list::list(&state.db, &filter, after.as_ref(), PAGE).await?
        };
        let (users, keys, providers) = names(&state, &rows).await?;
        Ok::<_, ApiError>((rows, users, keys, providers))
    }
    .await;
    let (rows, users, keys, providers) = match result {
        Ok(r) => r,
        Err(e) => return error::from_api(lang, &e),
    };
    let next = call_list::next_cursor(&rows, PAGE);
    let snap = state.snapshot.load();
    let mut models: Vec<String> = snap.models.keys().cloned().collect();
    models.sort();
    let mut provider_names: Vec<String> = snap.providers_by_name.keys().cloned().collect();
    provider_names.sort();
    render(&ListPage {
        c: Chrome::new(lang, "/calls", &s),
        calls: rows.iter().map(|c| call_view(c, &users, &keys, &providers)).collect(),
        query: f.query(),
        first_page: f.cursor.is_none(),
        f,
        next,
        models,
        providers: provider_names,
        error,
    })
}

/// A call in full, as the detail page shows it.
pub struct CallDetail {
    pub v: CallView,
    pub request_id: String,
    pub trace_id: String,
    pub dialect: String,
    pub endpoint: String,
    pub upstream_model: String,
    pub credential: String,
    pub stream: bool,
    pub error_message: String,
    pub cached_tokens: String,
    pub cache_write_tokens: String,
    pub reasoning_tokens: String,
    pub images: i64,
    pub attempts: i64,
    /// Every attempt in order (operators only): the failed ones, then the one that answered.
    pub trail: Vec<AttemptRow>,
    pub overhead: String,
    pub price: Vec<(&'static str, String)>,
}

/// One upstream attempt of a call, as the detail page lists it.
pub struct AttemptRow {
    pub provider: String,
    pub credential: String,
    pub upstream_model: String,
    /// The failure's class, empty for the attempt that answered.
    pub class: String,
    pub http_status: String,
    pub duration: String,
    pub detail: String,
}

/// A provider's and a credential's names from the snapshot (the ids of deleted ones as they
/// are).
fn route_names(snap: &crate::snapshot::Snapshot, provider_id: &str, credential_id: &str) -> (String, String) {
    let p = snap.providers.get(provider_id);
    let provider = p.map_or_else(|| provider_id.to_string(), |p| p.name.clone());
    let credential = p
        .and_then(|p| p.credentials.iter().find(|k| k.id == credential_id))
        .map_or_else(|| credential_id.to_string(), |k| k.name.clone());
    (provider, credential)
}

/// The call's attempts with provider and credential names from the snapshot (ids of deleted
/// ones shown as they are). The attempt that answered is the record's own route, timed by the
/// call's duration less the failed attempts'.
fn attempt_rows(c: &CallRecord, snap: &crate::snapshot::Snapshot) -> Vec<AttemptRow> {
    let mut rows: Vec<AttemptRow> = c
        .attempt_trail
        .iter()
        .map(|a| {
            let (provider, credential) = route_names(snap, &a.provider_id, &a.credential_id);
            AttemptRow {
                provider,
                credential,
                upstream_model: a.upstream_model.clone(),
                class: a.class.clone(),
                http_status: a.http_status.map(|s| s.to_string()).unwrap_or_else(|| "–".into()),
                duration: format!("{} ms", a.duration_ms),
                detail: a.detail.clone(),
            }
        })
        .collect();
    if c.status == "success"
        && let Some(provider_id) = &c.provider_id
    {
        let (provider, credential) = route_names(snap, provider_id, c.credential_id.as_deref().unwrap_or_default());
        let failed: i64 = c.attempt_trail.iter().map(|a| a.duration_ms).sum();
        rows.push(AttemptRow {
            provider,
            credential,
            upstream_model: c.upstream_model.clone().unwrap_or_default(),
            class: String::new(),
            http_status: c.http_status.map(|s| s.to_string()).unwrap_or_else(|| "200".into()),
            duration: c.duration_ms.map(|d| format!("{} ms", (d - failed).max(0))).unwrap_or_else(|| "–".into()),
            detail: String::new(),
        });
    }
    rows
}

/// Which price shape a call paid, compactly: `priority · >200000 · 1h×400 · 1024x1024 hd` (its
/// tier, the prompt threshold it passed, its one-hour cache writes, the image price by size
/// and quality that priced its images).
fn shape_text(a: &crate::billing::price_shapes::Applied) -> String {
    let mut parts = Vec::new();
    if let Some(t) = a.service_tier {
        parts.push(t.as_str().to_string());
    }
    if let Some(n) = a.above {
        parts.push(format!(">{n}"));
    }
    if a.cache_write_1h_tokens > 0 {
        parts.push(format!("1h×{}", a.cache_write_1h_tokens));
    }
    if let Some(i) = a.image {
        let named: Vec<String> =
            [i.size.map(|s| s.to_string()), i.quality.map(|q| q.as_str().to_string())].into_iter().flatten().collect();
        parts.push(named.join(" "));
    }
    parts.join(" · ")
}

pub fn detail(c: &CallRecord, v: CallView, snap: &crate::snapshot::Snapshot) -> CallDetail {
    let price = c
        .price
        .as_ref()
        .map(|p| {
            let mut rows = vec![("models.price_input", credits(p.input)), ("models.price_output", credits(p.output))];
            if let Some(x) = p.cached_input {
                rows.push(("models.price_cached", credits(x)));
            }
            if let Some(x) = p.cache_write {
                rows.push(("models.price_cache_write", credits(x)));
            }
            if let Some(x) = p.cache_write_1h {
                rows.push(("models.price_cache_write_1h", credits(x)));
            }
            if p.per_request != 0 {
                rows.push(("models.price_request", credits(p.per_request)));
            }
            if p.per_image != 0 {
                rows.push(("models.price_image", credits(p.per_image)));
            }
            if let Some(a) = p.applied {
                rows.push(("calls.price_shape", shape_text(&a)));
            }
            rows
        })
        .unwrap_or_default();
    CallDetail {
        v,
        request_id: c.request_id.clone(),
        trace_id: c.trace_id.clone().unwrap_or_default(),
        dialect: c.dialect.clone(),
        endpoint: c.endpoint.clone(),
        upstream_model: c.upstream_model.clone().unwrap_or_default(),
        credential: c
            .credential_id
            .as_deref()
            .map(|k| route_names(snap, c.provider_id.as_deref().unwrap_or_default(), k).1)
            .unwrap_or_default(),
        stream: c.stream,
        error_message: c.error_message.clone().unwrap_or_default(),
        cached_tokens: count(c.cached_tokens),
        cache_write_tokens: count(c.cache_write_tokens),
        reasoning_tokens: count(c.reasoning_tokens),
        images: c.images,
        attempts: c.attempts,
        trail: attempt_rows(c, snap),
        overhead: c.overhead_us.map(|u| format!("{:.2} ms", u as f64 / 1000.0)).unwrap_or_else(|| "–".into()),
        price,
    }
}

#[derive(Template)]
#[template(path = "call.html")]
pub struct ShowPage {
    pub c: Chrome,
    pub d: CallDetail,
    /// Administrators see provider internals (credential, upstream error text); members do not.
    pub full: bool,
    pub back: &'static str,
}

pub async fn show(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>) -> Response {
    let result = async {
        let c =
            q::get(&state.db, &id).await?.ok_or_else(|| ApiError::not_found(format!("call `{id}` does not exist")))?;
        let (users, keys, providers) = names(&state, std::slice::from_ref(&c)).await?;
        Ok::<_, ApiError>((c, users, keys, providers))
    }
    .await;
    match result {
        Ok((c, users, keys, providers)) => {
            let v = call_view(&c, &users, &keys, &providers);
            render(&ShowPage {
                c: Chrome::new(lang, "/calls", &s),
                d: detail(&c, v, &state.snapshot.load()),
                full: true,
                back: "/calls",
            })
        }
        Err(e) => error::from_api(lang, &e),
    }
}
