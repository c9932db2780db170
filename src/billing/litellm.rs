//! Conversion of LiteLLM's `model_prices_and_context_window.json` (MIT, BerriAI/litellm) into
//! Tollgate's price catalog: the models of the provider kinds Tollgate routes to, with their
//! input, output, cache-read and cache-write prices turned from dollars per token (JSON
//! numbers such as `1.5e-07`) into integer nano-credits per million tokens by exact decimal
//! arithmetic on the number's text. A price that is not a whole nano-credit per million
//! tokens (float noise such as `2.9999900000000002e-06`) is left out and reported, never
//! rounded: a model without a catalog price is refused until an operator prices it.
//!
//! Long-context and service-tier prices become price shapes (`billing::price_shapes`): a
//! `_above_200k_tokens` suffix (any threshold) is a shape for prompts above it, a `_flex` or
//! `_priority` suffix one for that tier, both together the tier's long-context prices, on
//! the input, output, cache-read, cache-write and one-hour cache-write
//! (`cache_creation_input_token_cost_above_1hr`) prices. Batch prices (`_batches`) are left
//! out, since the gateway serves no batch endpoint, as are the tiers no provider of these
//! kinds reports (`_ultrafast`, `_decisions`, `_balanced`) and 12-hour cache writes. A shape
//! price that is not exact leaves the whole model out, like a base price: a dropped shape
//! would undercharge the calls it prices.
//!
//! Image models are kept when LiteLLM gives a flat `output_cost_per_image` (dollars per image
//! → nano-credits per image) or prices their tokens (`gpt-image-*`: text in, image tokens
//! out); its entries by size and quality (`hd/1024-x-1024/dall-e-3`, per image or per pixel)
//! become per-image prices by size and quality ([`super::litellm_images`]).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;

use super::catalog::{Catalog, CatalogModel};
use super::litellm_images::{self, SizedEntry};
use super::money::parse_scaled;
use super::price_shapes::{self, ServiceTier, Shape};

/// Dollars per token × 10^15 = nano-credits per million tokens.
const PER_TOKEN_TO_NANOS_PER_MILLION: i32 = 15;

/// LiteLLM provider → Tollgate provider kind, and the key prefix LiteLLM puts on that
/// provider's model names (stripped, so the catalog names the model as the provider does).
const PROVIDERS: &[(&str, &str, &str)] = &[
    ("openai", "openai", "openai/"),
    ("anthropic", "anthropic", "anthropic/"),
    ("gemini", "gemini", "gemini/"),
    ("bedrock", "bedrock", "bedrock/"),
    ("bedrock_converse", "bedrock", "bedrock/"),
    ("azure", "azure-openai", "azure/"),
];

/// Dollars per image × 10^9 = nano-credits per image.
const PER_IMAGE_TO_NANOS: i32 = 9;

/// Modes whose calls Tollgate prices (by tokens, and images by the image).
const MODES: &[&str] = &["chat", "completion", "responses", "embedding", "image_generation"];

pub struct Converted {
    /// The catalog file's text.
    pub text: String,
    /// Models kept, by provider kind.
    pub kept: BTreeMap<String, usize>,
    /// Entries of supported providers that were left out, and why.
    pub left_out: Vec<(String, String)>,
}

/// Converts LiteLLM's file. `source` is recorded in the catalog (where it came from).
pub fn convert(text: &str, source: &str) -> Result<Converted, String> {
    let entries: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|e| format!("not LiteLLM's price file (a JSON object of models): {e}"))?;
    let mut models: HashMap<(String, String), CatalogModel> = HashMap::new();
    let mut left_out = Vec::new();
    let mut sized: Vec<SizedEntry> = Vec::new();
    for (key, raw) in &entries {
        if key == "sample_spec" {
            continue;
        }
        // Entries are objects of fields; anything else is not a model entry.
        let Ok(fields) = serde_json::from_str::<HashMap<String, Box<RawValue>>>(raw.get()) else {
            left_out.push((key.clone(), "not an object".into()));
            continue;
        };
        let text_of = |f: &str| fields.get(f).map(|v| v.get().trim_matches('"').to_string());
        let Some(litellm_provider) = text_of("litellm_provider") else { continue };
        let Some(&(_, kind, prefix)) = PROVIDERS.iter().find(|(p, _, _)| *p == litellm_provider) else { continue };
        let mode = text_of("mode").unwrap_or_else(|| "chat".into());
        if !MODES.contains(&mode.as_str()) {
            continue;
        }
        let name = key.strip_prefix(prefix).unwrap_or(key);
        if mode == "image_generation"
            && let Some(entry) = litellm_images::sized_entry(key, kind, name, &text_of)
        {
            sized.push(entry);
            continue;
        }
        let model = model_of(&text_of, kind, name, &mode).and_then(|m| with_shapes(m, &fields, &mode));
        match model {
            Ok(m) => match models.entry((m.provider.clone(), m.model.clone())) {
                Entry::Occupied(_) => {
                    left_out.push((key.clone(), format!("another entry already prices {}/{}", m.provider, m.model)))
                }
                Entry::Vacant(slot) => {
                    slot.insert(m);
                }
            },
            Err(why) => left_out.push((key.clone(), why)),
        }
    }
    litellm_images::attach(&mut models, sized, &mut left_out);
    let mut kept = BTreeMap::new();
    for (kind, _) in models.keys() {
        *kept.entry(kind.clone()).or_insert(0) += 1;
    }
    let text = Catalog::render(source, models.into_values().collect());
    Ok(Converted { text, kept, left_out })
}

fn model_of(
    text_of: &dyn Fn(&str) -> Option<String>,
    kind: &str,
    model: &str,
    mode: &str,
) -> Result<CatalogModel, String> {
    let price = |field: &str| -> Result<Option<i64>, String> {
        text_of(field)
            .map(|t| parse_scaled(&t, PER_TOKEN_TO_NANOS_PER_MILLION).map_err(|e| format!("{field}: {e}")))
            .transpose()
    };
    let per_image = text_of("output_cost_per_image")
        .map(|t| parse_scaled(&t, PER_IMAGE_TO_NANOS).map_err(|e| format!("output_cost_per_image: {e}")))
        .transpose()?;
    let image_mode = mode == "image_generation";
    if image_mode && per_image.is_none() && text_of("output_cost_per_image_token").is_none() {
        return Err("an image model priced per pixel or per size, not per image or token".into());
    }
    let input = match price("input_cost_per_token")? {
        Some(p) => p,
        None if image_mode => 0,
        None => return Err("no input_cost_per_token".into()),
    };
    // An image model's output tokens are image tokens where LiteLLM prices them apart.
    let output_field = if image_mode && text_of("output_cost_per_image_token").is_some() {
        "output_cost_per_image_token"
    } else {
        "output_cost_per_token"
    };
    let output = match price(output_field)? {
        Some(p) => p,
        // Embeddings produce no output tokens; every other mode must say what output costs.
        None if mode == "embedding" || image_mode => 0,
        None => return Err("no output_cost_per_token".into()),
    };
    let max_output_tokens = text_of("max_output_tokens").and_then(|t| t.parse::<i64>().ok()).filter(|n| *n > 0);
    let context_length = text_of("max_input_tokens").and_then(|t| t.parse::<i64>().ok()).filter(|n| *n > 0);
    Ok(CatalogModel {
        provider: kind.to_string(),
        model: model.to_string(),
        input,
        output,
        cached_input: price("cache_read_input_token_cost")?,
        cache_write: price("cache_creation_input_token_cost")?,
        max_output_tokens,
        per_image: per_image.filter(|p| *p > 0),
        context_length,
        modality: modality(text_of, mode),
        cache_write_1h: price("cache_creation_input_token_cost_above_1hr")?,
        shapes: vec![],
        image_prices: vec![],
    })
}

/// LiteLLM's token prices a shape may set, in the order of [`set_price`]'s fields.
const SHAPE_PRICES: [&str; 5] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "cache_creation_input_token_cost_above_1hr",
];

/// What a LiteLLM field names as a shape's price: which price ([`SHAPE_PRICES`]), for which
/// tier and above which threshold; `None` for a base price or a field that is no shape's.
fn shape_field(key: &str) -> Option<(usize, Option<ServiceTier>, Option<i64>)> {
    let (rest, tier) = match (key.strip_suffix("_flex"), key.strip_suffix("_priority")) {
        (Some(r), _) => (r, Some(ServiceTier::Flex)),
        (_, Some(r)) => (r, Some(ServiceTier::Priority)),
        _ => (key, None),
    };
    let (rest, above) = match rest.rsplit_once("_above_") {
        Some((head, tail)) if tail.ends_with("_tokens") => (head, Some(threshold(tail.strip_suffix("_tokens")?)?)),
        _ => (rest, None),
    };
    let price = SHAPE_PRICES.iter().position(|p| *p == rest)?;
    (tier.is_some() || above.is_some()).then_some((price, tier, above))
}

/// `200k` is 200000 tokens, `128` is 128.
fn threshold(text: &str) -> Option<i64> {
    let (digits, scale) = match text.strip_suffix('k') {
        Some(d) => (d, 1000),
        None => (text, 1),
    };
    digits.parse::<i64>().ok().filter(|n| *n > 0)?.checked_mul(scale)
}

fn set_price(shape: &mut Shape, price: usize, value: i64) {
    let slot = match price {
        0 => &mut shape.input,
        1 => &mut shape.output,
        2 => &mut shape.cached_input,
        3 => &mut shape.cache_write,
        _ => &mut shape.cache_write_1h,
    };
    *slot = Some(value);
}

/// `m` with the shapes its entry's fields describe (none for image models, whose output
/// price is the image tokens').
fn with_shapes(
    mut m: CatalogModel,
    fields: &HashMap<String, Box<RawValue>>,
    mode: &str,
) -> Result<CatalogModel, String> {
    if mode == "image_generation" {
        return Ok(m);
    }
    let mut shapes: BTreeMap<(Option<ServiceTier>, Option<i64>), Shape> = BTreeMap::new();
    for (key, value) in fields {
        let Some((price, service_tier, above)) = shape_field(key) else { continue };
        let text = value.get().trim_matches('"');
        if text == "null" {
            continue;
        }
        let nanos = parse_scaled(text, PER_TOKEN_TO_NANOS_PER_MILLION).map_err(|e| format!("{key}: {e}"))?;
        let shape = shapes.entry((service_tier, above)).or_insert(Shape { service_tier, above, ..Shape::default() });
        set_price(shape, price, nanos);
    }
    m.shapes = shapes.into_values().collect();
    price_shapes::check(&m.shapes)?;
    Ok(m)
}

/// OpenRouter's modality string for an entry (`text+image->text`), `None` for `text->text`:
/// LiteLLM's `supported_modalities` / `supported_output_modalities` where it lists them, else
/// what the mode and the `supports_vision` / audio flags say.
fn modality(text_of: &dyn Fn(&str) -> Option<String>, mode: &str) -> Option<String> {
    let list = |field: &str| -> Option<Vec<String>> {
        serde_json::from_str::<Vec<String>>(&text_of(field)?).ok().filter(|l| !l.is_empty())
    };
    let flag = |field: &str| text_of(field).as_deref() == Some("true");
    let input = list("supported_modalities").unwrap_or_else(|| {
        let mut m = vec!["text".to_string()];
        if flag("supports_vision") {
            m.push("image".into());
        }
        if flag("supports_audio_input") {
            m.push("audio".into());
        }
        m
    });
    let output = list("supported_output_modalities").unwrap_or_else(|| match mode {
        "embedding" => vec!["embeddings".into()],
        "image_generation" => vec!["image".into()],
        _ if flag("supports_audio_output") => vec!["text".into(), "audio".into()],
        _ => vec!["text".into()],
    });
    let m = format!("{}->{}", input.join("+"), output.join("+"));
    (m != "text->text").then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXCERPT: &str = include_str!("../../tests/fixtures/litellm/model_prices_excerpt.json");

    #[test]
    fn converts_supported_providers_exactly() {
        let c = convert(EXCERPT, "excerpt").unwrap();
        let cat = Catalog::parse(&c.text).unwrap();
        assert_eq!(cat.source, "excerpt");
        let m = cat.get("openai", "gpt-4o-mini").unwrap();
        assert_eq!(
            (m.input, m.output, m.cached_input, m.cache_write),
            (150_000_000, 600_000_000, Some(75_000_000), None)
        );
        let m = cat.get("anthropic", "claude-opus-4-1").unwrap();
        // 15 / 75 USD per million, cache reads 1.5, cache writes 18.75.
        assert_eq!(
            (m.input, m.output, m.cached_input, m.cache_write),
            (15_000_000_000, 75_000_000_000, Some(1_500_000_000), Some(18_750_000_000))
        );
        assert_eq!(m.max_output_tokens, Some(32000));
        // Prefixes are stripped; bedrock_converse is Bedrock; azure is azure-openai.
        assert_eq!(cat.get("gemini", "gemini-2.5-pro").unwrap().input, 1_250_000_000);
        assert_eq!(
            cat.get("bedrock", "amazon.nova-2-pro-preview-20251202-v1:0").unwrap().cached_input,
            Some(546_875_000)
        );
        assert_eq!(cat.get("azure-openai", "us/o4-mini-2025-04-16").unwrap().output, 4_840_000_000);
        assert_eq!(cat.get("openai", "gpt-5.2-pro").unwrap().output, 168_000_000_000, "mode responses is priced");
    }

    #[test]
    fn leaves_out_what_it_cannot_price_exactly() {
        let c = convert(EXCERPT, "excerpt").unwrap();
        let cat = Catalog::parse(&c.text).unwrap();
        // Unsupported providers and image models are not in the catalog at all.
        assert!(
            cat.models
                .iter()
                .all(|m| ["openai", "anthropic", "gemini", "bedrock", "azure-openai"].contains(&m.provider.as_str()))
        );
        assert!(cat.get("openai", "1024-x-1024/dall-e-2").is_none(), "a price by size, not a model");
        // 1.9e-08 per pixel × 1024 × 1024 = 0.019922944 per image.
        let dalle2 = cat.get("openai", "dall-e-2").unwrap();
        assert_eq!((dalle2.per_image, dalle2.image_prices[0].price), (Some(19_922_944), 19_922_944));
        // Audio models are priced per second, not per token: not in the catalog.
        assert!(cat.get("azure-openai", "whisper-1").is_none());
        assert!(c.left_out.is_empty(), "every entry of the excerpt is exact: {:?}", c.left_out);
        assert_eq!(c.kept.values().sum::<usize>(), cat.models.len());
        assert_eq!(c.kept["anthropic"], 11);
    }

    #[test]
    fn long_context_tier_and_one_hour_prices_become_shapes() {
        let entry = r#"{"gemini/g": {"litellm_provider": "gemini", "mode": "chat",
            "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
            "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05,
            "cache_read_input_token_cost_above_200k_tokens": 2.5e-07,
            "input_cost_per_token_priority": 2.25e-06, "input_cost_per_token_above_200k_tokens_priority": 4.5e-06,
            "output_cost_per_token_flex": 5e-06, "input_cost_per_token_batches": 6.25e-07,
            "output_cost_per_token_above_272k_tokens_batches": 7.5e-06, "input_cost_per_token_ultrafast": 9e-06,
            "cache_creation_input_token_cost_above_1hr": 2e-06,
            "cache_creation_input_token_cost_above_1hr_above_128k_tokens": 4e-06,
            "cache_creation_input_token_cost_above_12hr": 3e-06}}"#;
        let c = convert(entry, "s").unwrap();
        let m = Catalog::parse(&c.text).unwrap().get("gemini", "g").unwrap().clone();
        assert_eq!(m.cache_write_1h, Some(2_000_000_000));
        let shape = |tier, above| Shape { service_tier: tier, above, ..Shape::default() };
        let (flex, priority) = (Some(ServiceTier::Flex), Some(ServiceTier::Priority));
        assert_eq!(
            m.shapes,
            [
                Shape { cache_write_1h: Some(4_000_000_000), ..shape(None, Some(128_000)) },
                Shape {
                    input: Some(2_500_000_000),
                    output: Some(15_000_000_000),
                    cached_input: Some(250_000_000),
                    ..shape(None, Some(200_000))
                },
                Shape { output: Some(5_000_000_000), ..shape(flex, None) },
                Shape { input: Some(2_250_000_000), ..shape(priority, None) },
                Shape { input: Some(4_500_000_000), ..shape(priority, Some(200_000)) },
            ],
            "batch, ultrafast and 12-hour prices are no shapes"
        );
        assert_eq!(shape_field("input_cost_per_token_above_128_tokens"), Some((0, None, Some(128))));
        assert_eq!(shape_field("input_cost_per_token"), None, "a base price");
        // A shape price that is not exact leaves the model out, like a base price.
        let noisy = r#"{"m": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
            "output_cost_per_token": 1e-06, "input_cost_per_token_priority": 2.9999900000000002e-06}}"#;
        let c = convert(noisy, "s").unwrap();
        assert!(c.left_out[0].1.contains("input_cost_per_token_priority"), "{:?}", c.left_out);
    }

    #[test]
    fn float_noise_and_bad_input_are_refused_not_rounded() {
        let noisy = r#"{"m": {"litellm_provider": "openai", "mode": "chat",
            "input_cost_per_token": 2.9999900000000002e-06, "output_cost_per_token": 1e-05}}"#;
        let c = convert(noisy, "s").unwrap();
        assert!(Catalog::parse(&c.text).unwrap().models.is_empty());
        assert_eq!(c.left_out.len(), 1);
        assert!(c.left_out[0].1.contains("input_cost_per_token"), "{:?}", c.left_out);
        let embedding = r#"{"e": {"litellm_provider": "openai", "mode": "embedding", "input_cost_per_token": 2e-08}}"#;
        let cat = Catalog::parse(&convert(embedding, "s").unwrap().text).unwrap();
        assert_eq!((cat.models[0].input, cat.models[0].output), (20_000_000, 0));
        let images = r#"{"gemini/imagen-3.0-generate-001": {"litellm_provider": "gemini",
                "mode": "image_generation", "output_cost_per_image": 0.04},
            "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation",
                "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05}}"#;
        let cat = Catalog::parse(&convert(images, "s").unwrap().text).unwrap();
        let imagen = cat.get("gemini", "imagen-3.0-generate-001").unwrap();
        assert_eq!((imagen.input, imagen.output, imagen.per_image), (0, 0, Some(40_000_000)));
        let gpt_image = cat.get("openai", "gpt-image-1").unwrap();
        assert_eq!((gpt_image.input, gpt_image.output, gpt_image.per_image), (5_000_000_000, 40_000_000_000, None));
        assert!(convert("[1, 2]", "s").is_err());
        assert!(convert("not json", "s").is_err());
    }
}
