//! `GET /api/v1/stats` (administrators: every user) and `GET /api/v1/me/stats` (a key's or a
//! signed-in user's own calls): usage per time bucket and group, read from the rollups (the
//! current hour included: rollups change in the transaction that records each finished call).
//! Administrators also get `provider_cost` (the calls at the provider's price) and `margin`
//! (charged − provider cost); members never see either.
//!
//! `from` and `to` are widened to whole buckets of `granularity` in `tz`, so every answered
//! bucket is complete and equals the aggregation of the records started in it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, query_time};
use crate::billing::money::format_credits;
use crate::error::ApiError;
use crate::state::AppState;
use crate::stats::buckets::{Buckets, Granularity, Tz};
use crate::stats::rollup::Rollup;
use crate::store::record_stats::{self, RecordGroup};
use crate::store::rollups::{self, GroupBy};

#[derive(Deserialize)]
pub struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    group_by: Option<String>,
    tz: Option<String>,
}

/// Who asks: an administrator sees everyone, a member their own calls and no provider.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Viewer {
    Admin,
    Member,
}

/// A grouping the rollups keep, or one read from the records.
enum Grouping {
    Rollups(GroupBy),
    Records(RecordGroup),
}

struct Request {
    buckets: Buckets,
    from: i64,
    to: i64,
    group: Grouping,
}

fn parse(q: &StatsQuery, viewer: Viewer) -> Result<Request, ApiError> {
    let granularity = match q.granularity.as_deref() {
        None => Granularity::Day,
        Some(g) => Granularity::parse(g)
            .ok_or_else(|| ApiError::invalid("`granularity` must be hour, day or month").with_param("granularity"))?,
    };
    let tz = match q.tz.as_deref() {
        None | Some("") => Tz::UTC,
        Some(t) => Tz::parse(t).map_err(|e| ApiError::invalid(format!("`tz`: {e}")).with_param("tz"))?,
    };
    let buckets = Buckets::new(granularity, tz).map_err(|e| ApiError::invalid(e).with_param("tz"))?;
    let by = q.group_by.as_deref().unwrap_or("none");
    let group = match by {
        "none" => Grouping::Rollups(GroupBy::None),
        "model" => Grouping::Rollups(GroupBy::Model),
        "user" => Grouping::Rollups(GroupBy::User),
        "key" => Grouping::Rollups(GroupBy::Key),
        "app" => Grouping::Rollups(GroupBy::App),
        "provider" if viewer == Viewer::Admin => Grouping::Rollups(GroupBy::Provider),
        "provider" => {
            return Err(ApiError::invalid("`group_by=provider` is for administrators").with_param("group_by"));
        }
        "end_user" => Grouping::Records(RecordGroup::EndUser),
        _ => match by.strip_prefix("tag:") {
            Some(name) if !name.is_empty() => Grouping::Records(RecordGroup::Tag(name.to_string())),
            _ => {
                return Err(ApiError::invalid(
                    "`group_by` must be none, model, user, key, app, provider, end_user or tag:<name>",
                )
                .with_param("group_by"));
            }
        },
    };
    let to = query_time("to", &q.to)?.unwrap_or_else(crate::clock::now_ms);
    let from = query_time("from", &q.from)?.unwrap_or(to - granularity.default_span_ms());
    if from >= to {
        return Err(ApiError::invalid("`from` must be before `to`").with_param("from"));
    }
    let (from, to) = buckets.widen(from, to);
    Ok(Request { buckets, from, to, group })
}

/// The numbers of one row (and of the totals), as `viewer` may see them.
fn numbers(r: &Rollup, viewer: Viewer) -> serde_json::Map<String, Value> {
    let v = json!({
        "calls": r.calls, "successes": r.successes, "failures": r.failures,
        "failures_by_class": r.failures_by_class,
        "input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "cached_tokens": r.cached_tokens,
        "cache_write_tokens": r.cache_write_tokens, "reasoning_tokens": r.reasoning_tokens, "images": r.images,
        "cost": format_credits(r.cost),
        "duration_ms_p50": r.duration.percentile(50), "duration_ms_p95": r.duration.percentile(95),
        "ttft_ms_p50": r.ttft.percentile(50), "ttft_ms_p95": r.ttft.percentile(95),
    });
    let mut m = match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    };
    if viewer == Viewer::Admin {
        m.insert("provider_cost".into(), format_credits(r.provider_cost).into());
        m.insert("margin".into(), format_credits(r.cost.saturating_sub(r.provider_cost)).into());
    }
    m
}

/// Display names of the groups that are ids (users, keys, providers).
async fn names(state: &AppState, group: GroupBy, ids: &[&String]) -> Result<BTreeMap<String, String>, ApiError> {
    let snap = state.snapshot.load();
    let mut out = BTreeMap::new();
    for id in ids {
        let name = match group {
            GroupBy::User => snap.users.get(*id).map(|u| u.name.clone()),
            GroupBy::Provider => snap.providers.get(*id).map(|p| p.name.clone()),
            GroupBy::Key => crate::store::api_keys::get(&state.db, id).await?.map(|k| k.name),
            _ => None,
        };
        if let Some(name) = name {
            out.insert((*id).clone(), name);
        }
    }
    Ok(out)
}

async fn answer(state: &AppState, req: Request, viewer: Viewer, user_id: Option<&str>) -> Result<Response, ApiError> {
    let (buckets, db) = (req.buckets, &state.db);
    let (rows, names_of) = match &req.group {
        Grouping::Rollups(g) => (rollups::query(db, buckets.period, req.from, req.to, *g, user_id).await?, *g),
        Grouping::Records(g) => {
            let rows = record_stats::query(db, req.from, req.to, g, user_id, |ms| buckets.floor(ms)).await?;
            (rows, GroupBy::None)
        }
    };
    let mut cells: BTreeMap<(i64, String), Rollup> = BTreeMap::new();
    let mut totals = Rollup::default();
    for row in rows {
        totals.merge(&row.rollup);
        cells.entry((req.buckets.floor(row.bucket), row.group)).or_default().merge(&row.rollup);
    }
    let ids: Vec<&String> = {
        let mut seen: Vec<&String> = cells.keys().map(|(_, g)| g).filter(|g| !g.is_empty()).collect();
        seen.sort();
        seen.dedup();
        seen
    };
    let names = names(state, names_of, &ids).await?;
    let data: Vec<Value> = cells
        .iter()
        .map(|((bucket, group), r)| {
            let mut row = serde_json::Map::new();
            row.insert("bucket".into(), req.buckets.label(*bucket).into());
            let group = (!group.is_empty()).then(|| group.clone());
            row.insert("name".into(), group.as_ref().and_then(|g| names.get(g)).cloned().into());
            row.insert("group".into(), group.into());
            row.extend(numbers(r, viewer));
            Value::Object(row)
        })
        .collect();
    Ok(Json(json!({
        "object": "stats",
        "from": req.buckets.label(req.from),
        "to": req.buckets.label(req.to),
        "data": data,
        "totals": numbers(&totals, viewer),
    }))
    .into_response())
}

pub async fn all(State(state): State<Arc<AppState>>, ApiQuery(q): ApiQuery<StatsQuery>) -> Result<Response, ApiError> {
    let req = parse(&q, Viewer::Admin)?;
    answer(&state, req, Viewer::Admin, None).await
}

/// The caller's own: a key's user, or the signed-in user (a console session).
pub async fn mine(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Response, ApiError> {
    let user_id = super::me::caller_user_id(&state, &headers).await?;
    let req = parse(&q, Viewer::Member)?;
    answer(&state, req, Viewer::Member, Some(&user_id)).await
}
