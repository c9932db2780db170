//! What a caller may use and what it costs them: for each model name, its effective price (the
//! base price of the route a call takes first, times its markup, in the credit unit) and what
//! the catalog says of the model (context length, output cap, modalities). Read by the members'
//! models page, `GET /api/v1/models/public` and `/v1/models`. Pure: reads a snapshot.

use super::failover::first_route;
use crate::billing::pricing::Pricing;
use crate::snapshot::Snapshot;

/// One model as a member is offered it.
pub struct Offer {
    pub name: String,
    /// Per million tokens (per unit for images and requests), markup included; `None` for a
    /// free model.
    pub pricing: Option<Pricing>,
    pub free: bool,
    pub context_length: Option<i64>,
    pub max_output_tokens: Option<i64>,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
}

impl Offer {
    /// OpenRouter's `architecture.modality`: `text+image->text`.
    pub fn modality(&self) -> String {
        format!("{}->{}", self.input_modalities.join("+"), self.output_modalities.join("+"))
    }
}

/// The offers of `names`, in order; a name no priced (or free) route serves is left out.
pub fn offers(snap: &Snapshot, names: &[String]) -> Vec<Offer> {
    names.iter().filter_map(|n| offer(snap, n)).collect()
}

pub fn offer(snap: &Snapshot, name: &str) -> Option<Offer> {
    let route = first_route(snap, name)?;
    let pricing = if route.free { None } else { Some(route.markup.effective(&route.pricing?)) };
    let entry = snap.catalog.get(route.provider.kind.as_str(), &route.upstream_model);
    let (input, output) = entry.map(|e| e.modalities()).unwrap_or_else(|| (vec!["text".into()], vec!["text".into()]));
    Some(Offer {
        name: name.to_string(),
        pricing,
        free: route.free,
        context_length: entry.and_then(|e| e.context_length),
        max_output_tokens: entry.and_then(|e| e.max_output_tokens),
        input_modalities: input,
        output_modalities: output,
    })
}
