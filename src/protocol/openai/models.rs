//! `GET /v1/models` entries in the OpenAI shape (`id`, `object`, `created`, `owned_by`, what
//! the OpenAI SDK reads), extended like OpenRouter's: `context_length`, `architecture` (the
//! modalities), `pricing` per token (per unit for requests and images) in the gateway's credit
//! unit, and `top_provider`. Beyond OpenRouter's price fields, `pricing` carries the price
//! shapes a call may pay: `input_cache_write_1h` (one-hour cache writes), `tiers` (each
//! long-context or service-tier shape with every per-token price a call in it pays: its
//! `service_tier` and/or the prompt size it applies `above`) and `images` (per-image prices by
//! `size` and/or `quality`). Clients that know only OpenAI's fields ignore the others.

use serde_json::{Value, json};

use crate::billing::money::format_decimal;
use crate::billing::pricing::Pricing;

/// What an entry says of one model.
pub struct ModelCard<'a> {
    pub id: &'a str,
    pub created: i64,
    pub context_length: Option<i64>,
    pub max_output_tokens: Option<i64>,
    pub input_modalities: &'a [String],
    pub output_modalities: &'a [String],
    /// Nano-credits per million tokens (per unit for requests and images); `None`: free.
    pub pricing: Option<&'a Pricing>,
}

/// The `GET /v1/models` body: a list of entries.
pub fn models_list(entries: Vec<Value>) -> Value {
    json!({"object": "list", "data": entries})
}

/// A bare entry: a model the gateway knows nothing more of.
pub fn model_entry(id: &str, created: i64) -> Value {
    json!({"id": id, "object": "model", "created": created, "owned_by": "tollgate"})
}

/// An entry with what OpenRouter's carry.
pub fn model_card(c: &ModelCard) -> Value {
    // Nano-credits per million tokens are credits per token at 15 decimal places.
    let per_token = |n: i64| format_decimal(n, 15);
    let per_unit = |n: i64| format_decimal(n, 9);
    let p = c.pricing.cloned().unwrap_or_default();
    let mut pricing = json!({
        "prompt": per_token(p.input), "completion": per_token(p.output),
        "request": per_unit(p.per_request), "image": per_unit(p.per_image),
    });
    if let Some(x) = p.cached_input {
        pricing["input_cache_read"] = per_token(x).into();
    }
    if let Some(x) = p.cache_write {
        pricing["input_cache_write"] = per_token(x).into();
    }
    if let Some(x) = p.cache_write_1h {
        pricing["input_cache_write_1h"] = per_token(x).into();
    }
    let tiers: Vec<Value> = p
        .tiers()
        .iter()
        .map(|t| {
            let mut v = json!({"prompt": per_token(t.rates.input), "completion": per_token(t.rates.output)});
            if let Some(s) = t.service_tier {
                v["service_tier"] = s.as_str().into();
            }
            if let Some(a) = t.above {
                v["above"] = a.into();
            }
            let cache = [
                ("input_cache_read", t.rates.cached_input),
                ("input_cache_write", t.rates.cache_write),
                ("input_cache_write_1h", t.rates.cache_write_1h),
            ];
            for (name, x) in cache {
                if let Some(x) = x {
                    v[name] = per_token(x).into();
                }
            }
            v
        })
        .collect();
    if !tiers.is_empty() {
        pricing["tiers"] = tiers.into();
    }
    if !p.image_prices().is_empty() {
        let images: Vec<Value> = p
            .image_prices()
            .iter()
            .map(|i| {
                let mut v = json!({"image": per_unit(i.price)});
                if let Some(s) = i.size {
                    v["size"] = s.to_string().into();
                }
                if let Some(q) = i.quality {
                    v["quality"] = q.as_str().into();
                }
                v
            })
            .collect();
        pricing["images"] = images.into();
    }
    let mut entry = model_entry(c.id, c.created);
    entry["context_length"] = c.context_length.into();
    entry["architecture"] = json!({
        "modality": format!("{}->{}", c.input_modalities.join("+"), c.output_modalities.join("+")),
        "input_modalities": c.input_modalities, "output_modalities": c.output_modalities,
    });
    entry["pricing"] = pricing;
    entry["top_provider"] = json!({"context_length": c.context_length, "max_completion_tokens": c.max_output_tokens});
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_carry_openrouters_fields_with_per_token_prices() {
        let p =
            Pricing { input: 150_000_000, output: 600_000_000, cached_input: Some(75_000_000), ..Pricing::default() };
        let (input, output) = (vec!["text".to_string(), "image".to_string()], vec!["text".to_string()]);
        let card = model_card(&ModelCard {
            id: "gpt-4o-mini",
            created: 1,
            context_length: Some(128_000),
            max_output_tokens: Some(16_384),
            input_modalities: &input,
            output_modalities: &output,
            pricing: Some(&p),
        });
        assert_eq!(
            (card["id"].as_str(), card["object"].as_str(), card["owned_by"].as_str()),
            (Some("gpt-4o-mini"), Some("model"), Some("tollgate"))
        );
        assert_eq!(card["pricing"]["prompt"], "0.00000015");
        assert_eq!(card["pricing"]["completion"], "0.0000006");
        assert_eq!(card["pricing"]["input_cache_read"], "0.000000075");
        assert_eq!(card["pricing"]["request"], "0");
        assert_eq!(card["architecture"]["modality"], "text+image->text");
        assert_eq!(card["context_length"], 128_000);
        assert_eq!(card["top_provider"]["max_completion_tokens"], 16_384);
        assert!(card["pricing"].get("tiers").is_none() && card["pricing"].get("images").is_none());
    }

    #[test]
    fn cards_carry_the_shapes_a_call_may_pay() {
        use crate::billing::image_prices::{ImagePrice, ImageQuality, ImageSize};
        use crate::billing::price_shapes::{ServiceTier, Shape};
        // 1.25 / 10 per million, cache reads 0.125; above 200k 2.5 / 15; priority input 2.25.
        let p = Pricing {
            input: 1_250_000_000,
            output: 10_000_000_000,
            cached_input: Some(125_000_000),
            cache_write_1h: Some(2_000_000_000),
            ..Pricing::default()
        }
        .with_shapes(vec![
            Shape {
                above: Some(200_000),
                input: Some(2_500_000_000),
                output: Some(15_000_000_000),
                ..Shape::default()
            },
            Shape { service_tier: Some(ServiceTier::Priority), input: Some(2_250_000_000), ..Shape::default() },
        ])
        .with_image_prices(vec![ImagePrice {
            size: Some(ImageSize { width: 1024, height: 1024 }),
            quality: Some(ImageQuality::Hd),
            price: 80_000_000,
        }]);
        let text = vec!["text".to_string()];
        let card = model_card(&ModelCard {
            id: "m",
            created: 1,
            context_length: None,
            max_output_tokens: None,
            input_modalities: &text,
            output_modalities: &text,
            pricing: Some(&p),
        });
        let pricing = &card["pricing"];
        assert_eq!(pricing["input_cache_write_1h"], "0.000002");
        assert_eq!(
            pricing["tiers"],
            json!([
                {"above": 200000, "prompt": "0.0000025", "completion": "0.000015", "input_cache_read": "0.000000125",
                    "input_cache_write_1h": "0.000002"},
                {"service_tier": "priority", "prompt": "0.00000225", "completion": "0.00001",
                    "input_cache_read": "0.000000125", "input_cache_write_1h": "0.000002"},
            ])
        );
        assert_eq!(pricing["images"], json!([{"size": "1024x1024", "quality": "hd", "image": "0.08"}]));
    }
}
