//! `/me/models`: the models a member may use, what they cost them (effective prices in the
//! credit unit, markup included), what they can do and whether they are up — the same offers
//! and status as `GET /api/v1/models/public`.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{count, render};
use crate::console::auth::Signed;
use crate::console::chrome::Chrome;
use crate::routing::offers::{self, Offer};
use crate::routing::status::State as Live;
use crate::snapshot::Snapshot;
use crate::state::AppState;

pub struct OfferView {
    pub name: String,
    pub free: bool,
    pub input: String,
    pub output: String,
    pub cached: String,
    pub per_request: String,
    pub context: String,
    pub modality: String,
    pub status: StatusView,
}

/// A model's live status for a table cell (`routing::status`), shared with the admin's models
/// page.
pub struct StatusView {
    /// `up`, `degraded`, `down` or `unknown` (its text is `modelstatus.{state}`).
    pub state: &'static str,
    /// The badge's class.
    pub class: &'static str,
    /// `98% · p50 120 ms · 12`: success rate, median latency, calls counted; blank without calls.
    pub detail: String,
}

impl StatusView {
    pub fn of(state: &AppState, snap: &Snapshot, name: &str) -> StatusView {
        let Some(r) = crate::admin::model_status::report_now(state, snap, name) else {
            return StatusView { state: "unknown", class: "", detail: String::new() };
        };
        let class = match r.state {
            Live::Up => "ok",
            Live::Degraded => "warn",
            Live::Down => "bad",
            Live::Unknown => "",
        };
        let t = &r.traffic;
        let detail = match (t.successes * 100).checked_div(t.calls) {
            None => String::new(),
            Some(rate) => {
                let p50 = t.p50_ms.map(|ms| format!(" · p50 {} ms", count(ms))).unwrap_or_default();
                format!("{rate}%{p50} · {}", count(t.calls as i64))
            }
        };
        StatusView { state: r.state.as_str(), class, detail }
    }
}

#[derive(Template)]
#[template(path = "me_models.html")]
struct Page {
    c: Chrome,
    unit: String,
    offers: Vec<OfferView>,
}

fn view(o: &Offer, state: &AppState, snap: &Snapshot) -> OfferView {
    let show = |n: i64| state.credits.show(n);
    let p = o.pricing.clone().unwrap_or_default();
    // A model whose targets charge differently shows each price as `low – high`.
    let (lo, hi) = o.range.clone().unwrap_or_else(|| (p.clone(), p));
    let span = |a: i64, b: i64| if a == b { show(a) } else { format!("{} – {}", show(a), show(b)) };
    let cached = match (lo.cached_input, hi.cached_input) {
        (Some(a), Some(b)) => span(a, b),
        _ => String::new(),
    };
    OfferView {
        name: o.name.clone(),
        free: o.free,
        input: span(lo.input, hi.input),
        output: span(lo.output, hi.output),
        cached,
        per_request: if hi.per_request == 0 { String::new() } else { span(lo.per_request, hi.per_request) },
        context: o.context_length.map(count).unwrap_or_default(),
        modality: o.modality(),
        status: StatusView::of(state, snap, &o.name),
    }
}

pub async fn page(State(state): State<Arc<AppState>>, Signed(s, lang): Signed) -> Response {
    let snap = state.snapshot.load();
    let offers = offers::offers(&snap, &snap.model_names(|_| true));
    render(&Page {
        c: Chrome::new(lang, "/me/models", &s),
        unit: state.credits.name.clone(),
        offers: offers.iter().map(|o| view(o, &state, &snap)).collect(),
    })
}
