//! `/api/v1/calls`: the usage log, filtered and paged by cursor (newest first), as JSON or
//! CSV (`calls_format.rs`); `calls_export.rs` streams all of it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::api::{ApiQuery, not_found, page_limit, query_time};
use super::calls_format::{call_json, csv_header, csv_line};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::call_list::{self, Cursor};
use crate::store::calls::{self as q, CallFilter};

type S = State<Arc<AppState>>;

/// The filters of `GET /api/v1/calls`, shared by the export.
#[derive(Deserialize)]
pub struct CallQuery {
    user_id: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    pub(super) format: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    trace_id: Option<String>,
    end_user: Option<String>,
    /// `k=v` (or `k:v`): calls carrying that tag.
    tag: Option<String>,
}

impl CallQuery {
    /// The store's filter; a provider may be named by its name or its id.
    pub(super) fn filter(&self, state: &AppState) -> Result<CallFilter, ApiError> {
        let provider_id = self.provider.as_ref().map(|name_or_id| {
            let snap = state.snapshot.load();
            snap.providers_by_name.get(name_or_id).map_or(name_or_id.clone(), |pr| pr.id.clone())
        });
        Ok(CallFilter {
            user_id: self.user_id.clone(),
            key_id: self.key_id.clone(),
            model: self.model.clone(),
            provider_id,
            status: self.status.clone(),
            from_ms: query_time("from", &self.from)?,
            to_ms: query_time("to", &self.to)?,
            trace_id: self.trace_id.clone(),
            end_user: self.end_user.clone(),
            tag: self.tag.as_deref().map(tag_filter).transpose()?,
        })
    }
}

/// `?tag=team=search` (or `team:search`) as stored, `team=search`.
fn tag_filter(t: &str) -> Result<String, ApiError> {
    let (k, v) = t
        .split_once('=')
        .or_else(|| t.split_once(':'))
        .ok_or_else(|| ApiError::invalid("`tag` must be name=value").with_param("tag"))?;
    Ok(format!("{}={}", k.trim(), v.trim()))
}

/// A page's `cursor` as the store reads it: a `next_cursor` token, or a call id (what the
/// cursor was before tokens); anything else is a 400.
pub(crate) async fn cursor(state: &AppState, token: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
    match call_list::resolve(&state.db, token).await? {
        Some(c) => Ok(Some(c)),
        None => Err(ApiError::invalid("`cursor` is not a cursor this list gave out").with_param("cursor")),
    }
}

pub async fn list(State(state): S, ApiQuery(p): ApiQuery<CallQuery>) -> Result<Response, ApiError> {
    let filter = p.filter(&state)?;
    let after = cursor(&state, p.cursor.as_deref()).await?;
    let limit = page_limit(p.limit);
    let rows = call_list::list(&state.db, &filter, after.as_ref(), limit).await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(Json(json!({
            "data": rows.iter().map(call_json).collect::<Vec<_>>(),
            "next_cursor": call_list::next_cursor(&rows, limit),
        }))
        .into_response()),
        Some("csv") => {
            let mut out = csv_header();
            rows.iter().for_each(|c| csv_line(c, &mut out));
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
        }
        Some(_) => Err(ApiError::invalid("`format` must be json or csv").with_param("format")),
    }
}

pub async fn get(State(state): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let c = q::get(&state.db, &id).await?.ok_or_else(|| not_found("call", &id))?;
    Ok(Json(call_json(&c)).into_response())
}
