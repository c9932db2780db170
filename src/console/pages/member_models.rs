//! `/me/models`: the models a member may use, what they cost them (effective prices in the
//! credit unit, markup included) and what they can do — the same offers as
//! `GET /api/v1/models/public`.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{count, render};
use crate::console::auth::Signed;
use crate::console::chrome::Chrome;
use crate::routing::offers::{self, Offer};
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
}

#[derive(Template)]
#[template(path = "me_models.html")]
struct Page {
    c: Chrome,
    unit: String,
    offers: Vec<OfferView>,
}

fn view(o: &Offer, state: &AppState) -> OfferView {
    let show = |n: i64| state.credits.show(n);
    let p = o.pricing.unwrap_or_default();
    OfferView {
        name: o.name.clone(),
        free: o.free,
        input: show(p.input),
        output: show(p.output),
        cached: p.cached_input.map(show).unwrap_or_default(),
        per_request: if p.per_request == 0 { String::new() } else { show(p.per_request) },
        context: o.context_length.map(count).unwrap_or_default(),
        modality: o.modality(),
    }
}

pub async fn page(State(state): State<Arc<AppState>>, Signed(s, lang): Signed) -> Response {
    let snap = state.snapshot.load();
    let offers = offers::offers(&snap, &snap.model_names(|_| true));
    render(&Page {
        c: Chrome::new(lang, "/me/models", &s),
        unit: state.credits.name.clone(),
        offers: offers.iter().map(|o| view(o, &state)).collect(),
    })
}
