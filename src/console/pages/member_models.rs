//! `/me/models`: the models a member may use, what they cost them (effective prices in the
//! credit unit, markup included), what they can do and whether they are up — the same offers
//! and status as `GET /api/v1/models/public`. Under a model's row, the prices that replace its
//! base ones for some calls, one line each: its long-context and service-tier shapes (every
//! price a call in one pays), one-hour cache writes, and its per-image prices by size and
//! quality.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{count, render};
use crate::billing::pricing::Pricing;
use crate::console::auth::Signed;
use crate::console::chrome::Chrome;
use crate::console::i18n::Lang;
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
    /// The prices that replace the base ones for some calls, one line each.
    pub extras: Vec<Extra>,
}

/// One line under a model's row: which calls (`Priority tier, prompt above 200,000 tokens`)
/// and what they pay (`Input 4.5 · Output 27`).
pub struct Extra {
    pub label: String,
    pub prices: String,
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

/// The lines under a model's row (see the module notes), in the member's language.
fn extras(p: &Pricing, lang: Lang, show: &dyn Fn(i64) -> String) -> Vec<Extra> {
    let priced = |key: &str, n: i64| format!("{} {}", lang.t(key), show(n));
    let mut out = Vec::new();
    for t in p.tiers() {
        let mut label = Vec::new();
        if let Some(tier) = t.service_tier {
            label.push(lang.t(&format!("offers.tier_{}", tier.as_str())).to_string());
        }
        if let Some(a) = t.above {
            label.push(format!("{} {} {}", lang.t("offers.above_prefix"), count(a), lang.t("offers.above_suffix")));
        }
        let r = &t.rates;
        let mut prices = vec![priced("offers.input", r.input), priced("offers.output", r.output)];
        let optional = [
            ("offers.cached", r.cached_input),
            ("offers.cache_write", r.cache_write),
            ("offers.cache_write_1h", r.cache_write_1h),
        ];
        prices.extend(optional.into_iter().filter_map(|(key, n)| Some(priced(key, n?))));
        out.push(Extra { label: label.join(lang.t("offers.and")), prices: prices.join(" · ") });
    }
    // Cache writes have no column: the five-minute (or only) and the one-hour price, one line.
    let writes: Vec<String> = [("offers.cache_write", p.cache_write), ("offers.cache_write_1h", p.cache_write_1h)]
        .into_iter()
        .filter_map(|(key, n)| Some(priced(key, n?)))
        .collect();
    if !writes.is_empty() {
        out.push(Extra { label: lang.t("offers.cache_writes").into(), prices: writes.join(" · ") });
    }
    if p.per_image > 0 || !p.image_prices().is_empty() {
        out.push(Extra { label: lang.t("offers.per_image").into(), prices: show(p.per_image) });
    }
    for i in p.image_prices() {
        // Sizes and qualities as a request names them (`1024x1024`, `hd`).
        let named: Vec<String> =
            [i.size.map(|s| s.to_string()), i.quality.map(|q| q.as_str().to_string())].into_iter().flatten().collect();
        out.push(Extra { label: format!("{} {}", lang.t("offers.image"), named.join(" ")), prices: show(i.price) });
    }
    out
}

fn view(o: &Offer, state: &AppState, snap: &Snapshot, lang: Lang) -> OfferView {
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
        extras: o.pricing.as_ref().map(|p| extras(p, lang, &show)).unwrap_or_default(),
    }
}

pub async fn page(State(state): State<Arc<AppState>>, Signed(s, lang): Signed) -> Response {
    let snap = state.snapshot.load();
    let offers = offers::offers(&snap, &snap.model_names(|_| true));
    render(&Page {
        c: Chrome::new(lang, "/me/models", &s),
        unit: state.credits.name.clone(),
        offers: offers.iter().map(|o| view(o, &state, &snap, lang)).collect(),
    })
}
