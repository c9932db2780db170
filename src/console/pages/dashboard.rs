//! The dashboard: calls, tokens, cost, error rate, latency and time to first token over a
//! chosen range, by model, provider, user or key. The page is a frame; its script draws the
//! charts from `GET /api/v1/stats` (the session is accepted there), so the numbers are the
//! API's own.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::render;
use crate::console::auth::Admin;
use crate::console::chrome::Chrome;
use crate::state::AppState;

pub const RANGES: &[(&str, i64, &str)] = &[
    ("24h", 24 * 3_600_000, "hour"),
    ("7d", 7 * 86_400_000, "hour"),
    ("30d", 30 * 86_400_000, "day"),
    ("90d", 90 * 86_400_000, "day"),
];
pub const GROUPS: &[&str] = &["model", "provider", "user", "key"];

#[derive(Deserialize)]
pub struct DashQuery {
    range: Option<String>,
    group_by: Option<String>,
}

/// `from=&to=&granularity=` of a named range ending now.
pub fn range_query(range: &str) -> (String, String) {
    let (name, span, granularity) = RANGES.iter().find(|(n, ..)| *n == range).copied().unwrap_or(RANGES[0]);
    let now = crate::clock::now_ms();
    let q = format!(
        "from={}&to={}&granularity={granularity}",
        crate::console::chrome::urlencode(&crate::clock::rfc3339(now - span)),
        crate::console::chrome::urlencode(&crate::clock::rfc3339(now))
    );
    (name.to_string(), q)
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Page {
    c: Chrome,
    range: String,
    group_by: String,
    query: String,
    ranges: Vec<&'static str>,
    groups: &'static [&'static str],
    providers: usize,
    models: usize,
}

pub async fn page(State(state): State<Arc<AppState>>, Admin(s, lang): Admin, Query(q): Query<DashQuery>) -> Response {
    let (range, query) = range_query(q.range.as_deref().unwrap_or("24h"));
    let group_by = q.group_by.filter(|g| GROUPS.contains(&g.as_str())).unwrap_or_else(|| "model".into());
    let snap = state.snapshot.load();
    render(&Page {
        c: Chrome::new(lang, "/dashboard", &s),
        range,
        group_by,
        query,
        ranges: RANGES.iter().map(|r| r.0).collect(),
        groups: GROUPS,
        providers: snap.providers.len(),
        models: snap.models.len(),
    })
}
