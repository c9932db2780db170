//! `GET /v1/models` entries in the OpenAI shape (`id`, `object`, `created`, `owned_by`, what
//! the OpenAI SDK reads), extended like OpenRouter's: `context_length`, `architecture` (the
//! modalities), `pricing` per token (per unit for requests and images) in the gateway's credit
//! unit, and `top_provider`. Clients that know only OpenAI's fields ignore the others.

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
    }
}
