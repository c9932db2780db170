//! LiteLLM's per-image prices by size and quality (`billing::image_prices`), for the two kinds
//! with an image endpoint (`openai`, `azure-openai`). LiteLLM writes them as entries of their
//! own, keyed `[QUALITY/]WIDTH-x-HEIGHT/MODEL` (`hd/1024-x-1792/dall-e-3`,
//! `1024-x-1024/dall-e-2`), priced per image (`input_cost_per_image`, `output_cost_per_image`:
//! dollars → nano-credits exactly) or per pixel (`input_cost_per_pixel`: the image's price is
//! the exact decimal product with the size's pixels, rounded up to a whole nano-credit once —
//! never below LiteLLM's cost, at most one nano-credit above it).
//!
//! LiteLLM's cost calculator takes an unnamed quality as `standard` and an unnamed size as
//! `1024-x-1024`, so a `standard` entry (or one naming no quality) becomes a price for its size
//! alone, and the model's base `per_image` is its 1024×1024 price (the highest of its prices
//! when it has none). A model priced only by such entries joins the catalog as an image model;
//! one whose base entry prices per image gets them over its `per_image`. One whose base entry
//! prices image tokens (gpt-image: what its answers report, which LiteLLM charges whenever
//! they report usage) does not: a per-image price on top would charge its images twice, so
//! those entries are left out and reported. A price of zero is left out too (a model is never
//! priced at nothing by default).

use std::collections::{BTreeMap, HashMap};

use super::catalog::CatalogModel;
use super::image_prices::{ImagePrice, ImageQuality, ImageSize};
use super::money::parse_scaled;
use super::pricing::div_up;

/// Provider kinds whose image entries may be keyed by size and quality.
const KINDS: &[&str] = &["openai", "azure-openai"];

/// Dollars per image × 10^9 = nano-credits per image.
const PER_IMAGE_TO_NANOS: i32 = 9;

/// Dollars per pixel × 10^21 = 10^-12 nano-credits per pixel (LiteLLM's per-pixel prices have
/// at most 21 decimal places).
const PER_PIXEL_SCALE: i32 = 21;

/// One LiteLLM entry keyed by size: the key, the model it prices and the price it gives.
pub struct SizedEntry {
    pub key: String,
    pub kind: &'static str,
    pub model: String,
    pub size: ImageSize,
    pub quality: Option<ImageQuality>,
    pub price: Result<i64, String>,
}

/// The entry `key` (its provider prefix stripped) of kind `kind`, if it is keyed by size.
pub fn sized_entry(
    key: &str,
    kind: &'static str,
    name: &str,
    text_of: &dyn Fn(&str) -> Option<String>,
) -> Option<SizedEntry> {
    if !KINDS.contains(&kind) {
        return None;
    }
    let (quality, rest) = match name.split_once('/') {
        Some(("standard", rest)) => (None, rest),
        Some((q, rest)) => match ImageQuality::from_wire(q) {
            Some(q) => (Some(q), rest),
            None => (None, name),
        },
        None => return None,
    };
    let (size_text, model) = rest.split_once('/')?;
    if !size_text.contains("-x-") || model.is_empty() {
        return None;
    }
    let size = ImageSize::parse(size_text)?;
    let price = price_of(text_of, size);
    Some(SizedEntry { key: key.to_string(), kind, model: model.to_string(), size, quality, price })
}

/// The nano-credits one image of `size` costs by the entry's fields.
fn price_of(text_of: &dyn Fn(&str) -> Option<String>, size: ImageSize) -> Result<i64, String> {
    for field in ["input_cost_per_image", "output_cost_per_image"] {
        if let Some(t) = text_of(field) {
            return parse_scaled(&t, PER_IMAGE_TO_NANOS).map_err(|e| format!("{field}: {e}"));
        }
    }
    let t = text_of("input_cost_per_pixel").ok_or("no per-image or per-pixel price")?;
    let per_pixel = parse_scaled(&t, PER_PIXEL_SCALE).map_err(|e| format!("input_cost_per_pixel: {e}"))?;
    let exact = per_pixel as i128 * size.pixels() as i128;
    i64::try_from(div_up(exact, 1_000_000_000_000)).map_err(|_| "input_cost_per_pixel: too large".into())
}

/// Puts the sized entries on their models (see the module notes), reporting what is left out.
pub fn attach(
    models: &mut HashMap<(String, String), CatalogModel>,
    entries: Vec<SizedEntry>,
    left_out: &mut Vec<(String, String)>,
) {
    let mut by_model: BTreeMap<(String, String), Vec<(String, ImagePrice)>> = BTreeMap::new();
    for e in entries {
        match e.price {
            Err(why) => left_out.push((e.key, why)),
            Ok(0) => left_out.push((e.key, "priced at zero".into())),
            Ok(price) => {
                let p = ImagePrice { size: Some(e.size), quality: e.quality, price };
                by_model.entry((e.kind.to_string(), e.model)).or_default().push((e.key, p));
            }
        }
    }
    for ((kind, model), list) in by_model {
        if models.get(&(kind.clone(), model.clone())).is_some_and(|m| m.per_image.is_none()) {
            let why = format!(
                "{model} is priced by the image tokens its answers report: a per-image price too would charge its images twice"
            );
            left_out.extend(list.into_iter().map(|(key, _)| (key, why.clone())));
            continue;
        }
        let mut prices: Vec<ImagePrice> = Vec::new();
        for (key, p) in list {
            if prices.iter().any(|o| (o.size, o.quality) == (p.size, p.quality)) {
                left_out.push((key, "another entry already prices this size and quality".into()));
            } else {
                prices.push(p);
            }
        }
        prices.sort_by_key(|p| (p.size, p.quality));
        match models.get_mut(&(kind.clone(), model.clone())) {
            Some(m) => m.image_prices = prices,
            None => {
                let m = image_model(kind, model, prices);
                models.insert((m.provider.clone(), m.model.clone()), m);
            }
        }
    }
}

/// A model priced only by sized entries: its base `per_image` is the 1024×1024 price of the
/// default quality, else the highest.
fn image_model(kind: String, model: String, prices: Vec<ImagePrice>) -> CatalogModel {
    let default = ImageSize { width: 1024, height: 1024 };
    let base = prices
        .iter()
        .find(|p| p.size == Some(default) && p.quality.is_none())
        .or_else(|| prices.iter().max_by_key(|p| p.price))
        .map(|p| p.price);
    CatalogModel {
        provider: kind,
        model,
        input: 0,
        output: 0,
        cached_input: None,
        cache_write: None,
        max_output_tokens: None,
        per_image: base,
        context_length: None,
        modality: Some("text->image".into()),
        cache_write_1h: None,
        shapes: vec![],
        image_prices: prices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::catalog::Catalog;
    use crate::billing::litellm::convert;

    #[test]
    fn dalle_entries_by_size_and_quality_become_one_image_model() {
        // Azure's DALL·E 3 as LiteLLM has it: per pixel, standard and hd.
        let text = r#"{
            "azure/standard/1024-x-1024/dall-e-3": {"litellm_provider": "azure", "mode": "image_generation", "input_cost_per_pixel": 4.19617e-08},
            "azure/standard/1792-x-1024/dall-e-3": {"litellm_provider": "azure", "mode": "image_generation", "input_cost_per_pixel": 4.79562e-08},
            "azure/hd/1024-x-1024/dall-e-3": {"litellm_provider": "azure", "mode": "image_generation", "input_cost_per_pixel": 8.39233e-08},
            "azure/standard/1024-x-1024/dall-e-2": {"litellm_provider": "azure", "mode": "image_generation", "input_cost_per_pixel": 0.0},
            "1024-x-1024/50-steps/stability.stable-diffusion-xl-v1": {"litellm_provider": "bedrock", "mode": "image_generation", "output_cost_per_image": 0.04}
        }"#;
        let c = convert(text, "s").unwrap();
        let cat = Catalog::parse(&c.text).unwrap();
        let m = cat.get("azure-openai", "dall-e-3").unwrap();
        let size = |w, h| Some(ImageSize { width: w, height: h });
        // 4.19617e-08 × 1024 × 1024 = 0.0440000315392: 44_000_031.5392 nano-credits, rounded up
        // once; 4.79562e-08 × 1792 × 1024 = 88_000_010.6496; 8.39233e-08 × 1024² = 87_999_958.2208.
        assert_eq!(
            m.image_prices,
            [
                ImagePrice { size: size(1024, 1024), quality: None, price: 44_000_032 },
                ImagePrice { size: size(1024, 1024), quality: Some(ImageQuality::Hd), price: 87_999_959 },
                ImagePrice { size: size(1792, 1024), quality: None, price: 88_000_011 },
            ]
        );
        assert_eq!((m.input, m.output, m.per_image), (0, 0, Some(44_000_032)), "the base: 1024x1024 standard");
        assert_eq!(m.modality.as_deref(), Some("text->image"));
        assert!(cat.get("azure-openai", "dall-e-2").is_none(), "priced at zero: left out");
        assert!(c.left_out.iter().any(|(k, why)| k == "azure/standard/1024-x-1024/dall-e-2" && why.contains("zero")));
        // Bedrock's step counts are no qualities: those entries stay models of their own.
        assert!(cat.get("bedrock", "1024-x-1024/50-steps/stability.stable-diffusion-xl-v1").is_some());
    }

    #[test]
    fn token_priced_image_models_get_no_per_image_prices_and_per_image_ones_do() {
        let text = r#"{
            "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05},
            "low/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.011, "input_cost_per_pixel": 1.0490417e-08},
            "img-x": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.05},
            "hd/1024-x-1024/img-x": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.09},
            "1024-x-1024/img-x": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04},
            "standard/1024-x-1024/img-x": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04}
        }"#;
        let c = convert(text, "s").unwrap();
        let cat = Catalog::parse(&c.text).unwrap();
        assert!(cat.get("openai", "gpt-image-1").unwrap().image_prices.is_empty());
        let why = &c.left_out.iter().find(|(k, _)| k == "low/1024-x-1024/gpt-image-1").unwrap().1;
        assert!(why.contains("twice"), "{why}");
        let m = cat.get("openai", "img-x").unwrap();
        assert_eq!(m.per_image, Some(50_000_000), "its own base price stays");
        let prices: Vec<(Option<ImageQuality>, i64)> = m.image_prices.iter().map(|p| (p.quality, p.price)).collect();
        assert_eq!(prices, [(None, 40_000_000), (Some(ImageQuality::Hd), 90_000_000)]);
        assert!(c.left_out.iter().any(|(k, why)| k == "standard/1024-x-1024/img-x" && why.contains("already")));
    }
}
