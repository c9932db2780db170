//! What a caller may use and what it costs them: for each model name, its effective price (the
//! base price of the route a call takes first, times its markup, in the credit unit), the range
//! of prices its targets charge when they differ (a call is priced as the target that answers
//! it), and what the catalog says of the model (context length, output cap, modalities). Read
//! by the members' models page, `GET /api/v1/models/public` and `/v1/models`. Pure: reads a
//! snapshot.

use super::failover::{first_route, routes};
use crate::billing::pricing::Pricing;
use crate::snapshot::Snapshot;

/// One model as a member is offered it.
pub struct Offer {
    pub name: String,
    /// Per million tokens (per unit for images and requests), markup included; `None` for a
    /// free model.
    pub pricing: Option<Pricing>,
    pub free: bool,
    /// The lowest and the highest effective price of each kind over the model's priced
    /// targets, when they differ (`None`: every target charges `pricing`).
    pub range: Option<(Pricing, Pricing)>,
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
        range: if route.free { None } else { range(snap, name) },
        free: route.free,
        context_length: entry.and_then(|e| e.context_length),
        max_output_tokens: entry.and_then(|e| e.max_output_tokens),
        input_modalities: input,
        output_modalities: output,
    })
}

/// Each price's lowest and highest over the priced targets of `name` (markups included), when
/// the targets do not all charge the same.
fn range(snap: &Snapshot, name: &str) -> Option<(Pricing, Pricing)> {
    let prices: Vec<Pricing> =
        routes(snap, name).iter().filter_map(|r| Some(r.markup.effective(r.pricing.as_ref()?))).collect();
    let first = prices.first()?;
    if prices.iter().all(|p| p == first) {
        return None;
    }
    Some((fold(&prices, i64::min), fold(&prices, i64::max)))
}

/// One price list of `pick` over each field (an optional price over the lists that set it).
fn fold(prices: &[Pricing], pick: fn(i64, i64) -> i64) -> Pricing {
    let all = |f: fn(&Pricing) -> i64| prices.iter().map(f).reduce(pick).unwrap_or(0);
    let some = |f: fn(&Pricing) -> Option<i64>| prices.iter().filter_map(f).reduce(pick);
    Pricing {
        input: all(|p| p.input),
        output: all(|p| p.output),
        cached_input: some(|p| p.cached_input),
        cache_write: some(|p| p.cache_write),
        per_image: all(|p| p.per_image),
        per_request: all(|p| p.per_request),
        cache_write_1h: some(|p| p.cache_write_1h),
        ..Pricing::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_takes_each_price_from_its_own_extreme() {
        let a = Pricing { input: 1, output: 9, cached_input: Some(1), ..Pricing::default() };
        let b = Pricing { input: 3, output: 4, per_request: 2, ..Pricing::default() };
        let lo = fold(&[a.clone(), b.clone()], i64::min);
        let hi = fold(&[a, b], i64::max);
        assert_eq!((lo.input, lo.output, lo.cached_input, lo.per_request), (1, 4, Some(1), 0));
        assert_eq!((hi.input, hi.output, hi.cached_input, hi.per_request), (3, 9, Some(1), 2));
    }
}
