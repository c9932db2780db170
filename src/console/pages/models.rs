//! Models: public names (or patterns such as `claude-*`) routed to provider targets by weight,
//! with fallbacks and prices; added by hand or from the built-in price catalog.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::markup::MarkupForm;
use super::member_models::StatusView;
use super::{credits, error, render, render_status};
use crate::admin::models::{self as ops, ModelBody, TargetBody};
use crate::billing::money::Credits;
use crate::billing::pricing::{Pricing, PricingInput};
use crate::console::auth::Admin;
use crate::console::chrome::Chrome;
use crate::console::form::{Errors, Form};
use crate::console::i18n::Lang;
use crate::error::ApiError;
use crate::sessions::Session;
use crate::state::AppState;
use crate::store::models::ModelRow;

type S = State<Arc<AppState>>;

const FIELDS: &[&str] = &[
    "name",
    "targets",
    "fallbacks",
    "pricing",
    "input",
    "output",
    "cached_input",
    "cache_write",
    "per_request",
    "per_image",
    "shapes",
    "image_prices",
    "multiplier",
    "request_fee",
];

/// A price list as the form shows it: decimal credits, blank when unset.
#[derive(Default, Clone)]
pub struct PriceForm {
    pub input: String,
    pub output: String,
    pub cached_input: String,
    pub cache_write: String,
    pub cache_write_1h: String,
    pub per_request: String,
    pub per_image: String,
    /// The long-context and service-tier prices, as the API's JSON list of shapes.
    pub shapes: String,
    /// The per-image prices by size and quality, as the API's JSON list.
    pub image_prices: String,
}

impl PriceForm {
    fn of(p: &Option<Pricing>) -> PriceForm {
        let Some(p) = p else { return PriceForm::default() };
        let nz = |n: i64| if n == 0 { String::new() } else { credits(n) };
        PriceForm {
            input: credits(p.input),
            output: credits(p.output),
            cached_input: p.cached_input.map(credits).unwrap_or_default(),
            cache_write: p.cache_write.map(credits).unwrap_or_default(),
            cache_write_1h: p.cache_write_1h.map(credits).unwrap_or_default(),
            per_request: nz(p.per_request),
            per_image: nz(p.per_image),
            shapes: if p.shapes().is_empty() { String::new() } else { p.to_json()["shapes"].to_string() },
            image_prices: if p.image_prices().is_empty() {
                String::new()
            } else {
                p.to_json()["image_prices"].to_string()
            },
        }
    }

    fn read(f: &Form, prefix: &str) -> PriceForm {
        let g = |n: &str| f.text(&format!("{prefix}{n}"));
        PriceForm {
            input: g("input"),
            output: g("output"),
            cached_input: g("cached_input"),
            cache_write: g("cache_write"),
            cache_write_1h: g("cache_write_1h"),
            per_request: g("per_request"),
            per_image: g("per_image"),
            shapes: g("shapes"),
            image_prices: g("image_prices"),
        }
    }

    fn is_empty(&self) -> bool {
        [
            &self.input,
            &self.output,
            &self.cached_input,
            &self.cache_write,
            &self.cache_write_1h,
            &self.per_request,
            &self.per_image,
            &self.shapes,
            &self.image_prices,
        ]
        .iter()
        .all(|s| s.trim().is_empty())
    }

    /// The API's form; blank is no price; input and output are needed once any price is given.
    fn to_input(&self) -> Result<Option<PricingInput>, ApiError> {
        if self.is_empty() {
            return Ok(None);
        }
        let amount = |field: &'static str, v: &str| -> Result<Option<Credits>, ApiError> {
            if v.is_empty() {
                return Ok(None);
            }
            crate::billing::money::parse_credits(v)
                .map(|n| Some(Credits(n)))
                .map_err(|e| ApiError::invalid(e).with_param(field))
        };
        let need = |field: &'static str, v: &str| -> Result<Credits, ApiError> {
            amount(field, v)?
                .ok_or_else(|| ApiError::invalid("input and output prices are both needed").with_param(field))
        };
        Ok(Some(PricingInput {
            input: need("input", &self.input)?,
            output: need("output", &self.output)?,
            cached_input: amount("cached_input", &self.cached_input)?,
            cache_write: amount("cache_write", &self.cache_write)?,
            per_image: amount("per_image", &self.per_image)?,
            per_request: amount("per_request", &self.per_request)?,
            cache_write_1h: amount("cache_write_1h", &self.cache_write_1h)?,
            shapes: json_list(&self.shapes, "shapes")?,
            image_prices: json_list(&self.image_prices, "image_prices")?,
        }))
    }
}

/// A JSON list typed into the form (blank: none), read as the API reads it.
fn json_list<T: serde::de::DeserializeOwned>(text: &str, field: &'static str) -> Result<Option<Vec<T>>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| ApiError::invalid(e.to_string()).with_param(field))
}

#[derive(Default, Clone)]
pub struct TargetForm {
    pub provider: String,
    pub model: String,
    pub weight: String,
}

#[derive(Default)]
pub struct ModelForm {
    pub name: String,
    pub targets: Vec<TargetForm>,
    pub fallbacks: String,
    pub price: PriceForm,
    pub markup: MarkupForm,
    pub free: bool,
    pub enabled: bool,
}

impl ModelForm {
    fn read(f: &Form) -> ModelForm {
        let providers = f.all("target_provider");
        let models = f.all("target_model");
        let weights = f.all("target_weight");
        let targets = (0..providers.len().max(models.len()))
            .map(|i| TargetForm {
                provider: providers.get(i).unwrap_or(&"").to_string(),
                model: models.get(i).unwrap_or(&"").to_string(),
                weight: weights.get(i).unwrap_or(&"").to_string(),
            })
            .filter(|t| !t.model.is_empty())
            .collect();
        ModelForm {
            name: f.text("name"),
            targets,
            fallbacks: f.text("fallbacks"),
            price: PriceForm::read(f, ""),
            markup: MarkupForm::read(f),
            free: f.checked("free"),
            enabled: f.checked("enabled"),
        }
    }

    fn to_body(&self) -> Result<ModelBody, ApiError> {
        let targets = self
            .targets
            .iter()
            .map(|t| {
                let weight = match t.weight.as_str() {
                    "" => None,
                    w => Some(w.parse::<i64>().map_err(|_| {
                        ApiError::invalid(format!("`{w}` is not a whole number")).with_param("targets")
                    })?),
                };
                Ok(TargetBody { provider: t.provider.clone(), model: t.model.clone(), weight, pricing: None })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let markup = self.markup.to_input()?;
        Ok(ModelBody {
            name: Some(self.name.clone()),
            targets: Some(targets),
            fallbacks: Some(
                self.fallbacks.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            ),
            pricing: Some(self.price.to_input()?),
            free: Some(self.free),
            enabled: Some(self.enabled),
            multiplier: markup.multiplier,
            request_fee: markup.request_fee,
        })
    }

    /// The rows the form shows: every target, and one blank row to add another.
    pub fn rows(&self) -> Vec<TargetForm> {
        let mut rows = self.targets.clone();
        rows.push(TargetForm { weight: "100".into(), ..TargetForm::default() });
        rows
    }
}

pub struct ModelView {
    pub id: String,
    pub name: String,
    pub targets: Vec<String>,
    pub fallbacks: String,
    pub price_in: String,
    pub price_out: String,
    /// The model's own markup (`×1.2 + 0.001`), blank when it sets none.
    pub markup: String,
    pub free: bool,
    pub enabled: bool,
    /// Live status (`routing::status`).
    pub status: StatusView,
}

fn provider_names(state: &AppState) -> Vec<(String, String)> {
    let snap = state.snapshot.load();
    let mut v: Vec<(String, String)> =
        snap.providers.values().map(|p| (p.name.clone(), format!("{} ({})", p.name, p.kind.as_str()))).collect();
    v.sort();
    v
}

fn views(state: &AppState, rows: Vec<ModelRow>) -> Vec<ModelView> {
    let snap = state.snapshot.load();
    rows.into_iter()
        .map(|m| {
            // Each price's range over the targets (a target's own price, else the model's).
            let prices: Vec<Pricing> =
                m.targets.iter().filter_map(|t| t.pricing.clone().or_else(|| m.pricing.clone())).collect();
            let span = |f: fn(&Pricing) -> i64| {
                let lo = prices.iter().map(f).min();
                let hi = prices.iter().map(f).max();
                match (lo, hi) {
                    (Some(a), Some(b)) if a != b => format!("{} – {}", credits(a), credits(b)),
                    (Some(a), _) => credits(a),
                    _ => String::new(),
                }
            };
            ModelView {
                targets: m
                    .targets
                    .iter()
                    .map(|t| {
                        let p = snap.providers.get(&t.provider_id).map_or("?", |p| p.name.as_str());
                        format!("{p}/{} ×{}", t.upstream_model, t.weight)
                    })
                    .collect(),
                fallbacks: m.fallbacks.join(", "),
                price_in: span(|p| p.input),
                price_out: span(|p| p.output),
                markup: rule_text(&m.markup),
                free: m.free,
                enabled: m.enabled,
                status: StatusView::of(state, &snap, &m.name),
                id: m.id,
                name: m.name,
            }
        })
        .collect()
}

/// A rule for a table cell: `×1.2`, `+0.001`, `×1.2 + 0.001`, or blank.
pub fn rule_text(r: &crate::billing::markup::Rule) -> String {
    let m = r.multiplier.map(|m| format!("×{}", m.to_decimal()));
    let f = r.request_fee.map(|f| format!("+{}", credits(f)));
    [m, f].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

#[derive(Template)]
#[template(path = "models.html")]
struct ListPage {
    c: Chrome,
    models: Vec<ModelView>,
    providers: Vec<(String, String)>,
    /// The global default markup's form.
    global: MarkupForm,
    form: ModelForm,
    errors: Errors,
    notice: Option<&'static str>,
}

async fn list_page(
    state: &AppState,
    s: &Session,
    lang: Lang,
    form: ModelForm,
    errors: Errors,
) -> Result<ListPage, ApiError> {
    let rows = crate::store::models::list(&state.db).await?;
    Ok(ListPage {
        c: Chrome::new(lang, "/models", s),
        models: views(state, rows),
        providers: provider_names(state),
        global: MarkupForm::of(&crate::admin::markup::global(state).await?),
        form,
        errors,
        notice: None,
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    ok: Option<String>,
    /// Prefill from the catalog: a provider kind and its model id.
    kind: Option<String>,
    model: Option<String>,
}

pub async fn list(State(state): S, Admin(s, lang): Admin, Query(q): Query<ListQuery>) -> Response {
    let mut form = ModelForm { enabled: true, ..ModelForm::default() };
    let catalog = state.catalog.load_full();
    if let (Some(kind), Some(model)) = (&q.kind, &q.model)
        && let Some(entry) = catalog.get(kind, model)
    {
        let snap = state.snapshot.load();
        let provider = snap
            .providers
            .values()
            .filter(|p| p.kind.as_str() == kind)
            .map(|p| p.name.clone())
            .min()
            .unwrap_or_default();
        form.name = model.clone();
        form.targets = vec![TargetForm { provider, model: model.clone(), weight: "100".into() }];
        form.price = PriceForm::of(&Some(state.credits.from_usd(&entry.pricing())));
    }
    match list_page(&state, &s, lang, form, Errors::none()).await {
        Ok(mut p) => {
            p.notice = lang.notice(q.ok.as_deref());
            render(&p)
        }
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn create(State(state): S, Admin(s, lang): Admin, body: Bytes) -> Response {
    let form = ModelForm::read(&Form::parse(&body));
    let result = async { ops::create_model(&state, form.to_body()?).await }.await;
    match result {
        Ok(m) => Redirect::to(&format!("/models/{}?ok=created", m.id)).into_response(),
        Err(e) => match list_page(&state, &s, lang, form, Errors::from_api(&e, FIELDS)).await {
            Ok(p) => render_status(e.status(), &p),
            Err(e) => error::from_api(lang, &e),
        },
    }
}

#[derive(Template)]
#[template(path = "model.html")]
struct ShowPage {
    c: Chrome,
    id: String,
    providers: Vec<(String, String)>,
    form: ModelForm,
    errors: Errors,
    notice: Option<&'static str>,
}

fn form_of(state: &AppState, m: &ModelRow) -> ModelForm {
    let snap = state.snapshot.load();
    ModelForm {
        name: m.name.clone(),
        targets: m
            .targets
            .iter()
            .map(|t| TargetForm {
                provider: snap
                    .providers
                    .get(&t.provider_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| t.provider_id.clone()),
                model: t.upstream_model.clone(),
                weight: t.weight.to_string(),
            })
            .collect(),
        fallbacks: m.fallbacks.join(", "),
        price: PriceForm::of(&m.pricing),
        markup: MarkupForm::of(&m.markup),
        free: m.free,
        enabled: m.enabled,
    }
}

#[derive(Deserialize)]
pub struct OkQuery {
    ok: Option<String>,
}

pub async fn show(
    State(state): S,
    Admin(s, lang): Admin,
    Path(id): Path<String>,
    Query(q): Query<OkQuery>,
) -> Response {
    match ops::load(&state, &id).await {
        Ok(m) => render(&ShowPage {
            c: Chrome::new(lang, "/models", &s),
            form: form_of(&state, &m),
            id: m.id,
            providers: provider_names(&state),
            errors: Errors::none(),
            notice: lang.notice(q.ok.as_deref()),
        }),
        Err(e) => error::from_api(lang, &e),
    }
}

pub async fn update(State(state): S, Admin(s, lang): Admin, Path(id): Path<String>, body: Bytes) -> Response {
    let form = ModelForm::read(&Form::parse(&body));
    let result = async { ops::update_model(&state, &id, form.to_body()?).await }.await;
    match result {
        Ok(m) => Redirect::to(&format!("/models/{}?ok=saved", m.id)).into_response(),
        Err(e) => {
            let page = ShowPage {
                c: Chrome::new(lang, "/models", &s),
                id,
                providers: provider_names(&state),
                form,
                errors: Errors::from_api(&e, FIELDS),
                notice: None,
            };
            render_status(e.status(), &page)
        }
    }
}

pub async fn delete(State(state): S, Admin(_, lang): Admin, Path(id): Path<String>) -> Response {
    match ops::delete_model(&state, &id).await {
        Ok(_) => Redirect::to("/models?ok=deleted").into_response(),
        Err(e) => error::from_api(lang, &e),
    }
}

pub struct CatalogView {
    pub provider: String,
    pub model: String,
    pub input: String,
    pub output: String,
    pub cached_input: String,
    pub use_href: String,
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    c: Chrome,
    q: String,
    kind: String,
    kinds: &'static [&'static str],
    entries: Vec<CatalogView>,
    total: usize,
    source: String,
}

#[derive(Deserialize)]
pub struct CatalogQuery {
    q: Option<String>,
    kind: Option<String>,
}

/// `GET /models/catalog?q=&kind=`: searches the built-in price catalog; "Use" prefills the
/// new-model form with the entry's name and prices.
pub async fn catalog(State(state): S, Admin(s, lang): Admin, Query(q): Query<CatalogQuery>) -> Response {
    // The catalog in effect (the data directory's after `tollgate refresh-prices`).
    let c = state.catalog.load_full();
    let needle = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let kind = q.kind.clone().unwrap_or_default();
    let matching: Vec<_> = c
        .models
        .iter()
        .filter(|m| kind.is_empty() || m.provider == kind)
        .filter(|m| needle.is_empty() || m.model.to_lowercase().contains(&needle))
        .collect();
    let entries = matching
        .iter()
        .take(100)
        .map(|m| {
            let p = state.credits.from_usd(&m.pricing());
            CatalogView {
                provider: m.provider.clone(),
                model: m.model.clone(),
                input: credits(p.input),
                output: credits(p.output),
                cached_input: p.cached_input.map(credits).unwrap_or_default(),
                use_href: format!(
                    "/models?kind={}&model={}#add",
                    crate::console::chrome::urlencode(&m.provider),
                    crate::console::chrome::urlencode(&m.model)
                ),
            }
        })
        .collect();
    render(&CatalogPage {
        c: Chrome::new(lang, "/models", &s),
        q: q.q.unwrap_or_default(),
        kind,
        kinds: super::providers::KINDS,
        entries,
        total: matching.len(),
        source: c.source.clone(),
    })
}
