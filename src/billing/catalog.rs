//! The built-in price catalog: per-token prices of known models by provider kind, compiled
//! in from `catalog/prices.json` (generated from LiteLLM's MIT-licensed price data by
//! `tollgate refresh-prices`, see [`super::litellm`]). It prices `provider/model` calls and
//! configured targets that carry no price of their own; an operator's configured price always
//! wins, and a model in neither place stays unpriced (refused, never billed at zero).
//!
//! Prices in the file are integers already (nano-credits per million tokens, 1 credit =
//! 1 USD), so loading it involves no decimal parsing and no float.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::pricing::Pricing;

/// The catalog compiled into this build.
const EMBEDDED: &str = include_str!("../../catalog/prices.json");

/// One model's prices, as stored in the catalog file (one line per model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogModel {
    /// A Tollgate provider kind (`openai`, `anthropic`, `gemini`, `bedrock`, `azure-openai`).
    pub provider: String,
    /// The provider's model id, as a `provider/model` call names it.
    pub model: String,
    pub input: i64,
    pub output: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<i64>,
    /// The most output tokens the model produces in one call, when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<i64>,
}

impl CatalogModel {
    pub fn pricing(&self) -> Pricing {
        Pricing {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            ..Pricing::default()
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    source: String,
    unit: String,
    models: Vec<CatalogModel>,
}

#[derive(Debug)]
pub struct Catalog {
    pub source: String,
    /// Sorted by provider, then model.
    pub models: Vec<CatalogModel>,
    /// provider kind → model → position in `models`.
    index: HashMap<String, HashMap<String, usize>>,
}

/// What the catalog file says its numbers are.
pub const UNIT: &str = "nano-credits per million tokens (1 credit = 1 USD)";

impl Catalog {
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let file: CatalogFile = serde_json::from_str(text).map_err(|e| format!("price catalog: {e}"))?;
        if file.unit != UNIT {
            return Err(format!("price catalog: unit {:?} is not {UNIT:?}", file.unit));
        }
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, m) in file.models.iter().enumerate() {
            let prices = [Some(m.input), Some(m.output), m.cached_input, m.cache_write];
            if prices.into_iter().flatten().any(|p| p < 0) {
                return Err(format!("price catalog: negative price for {}/{}", m.provider, m.model));
            }
            if index.entry(m.provider.clone()).or_default().insert(m.model.clone(), i).is_some() {
                return Err(format!("price catalog: {}/{} is listed twice", m.provider, m.model));
            }
        }
        Ok(Catalog { source: file.source, models: file.models, index })
    }

    /// The catalog file's text for `models` (sorted here), one model per line so a refresh
    /// reads as a small diff.
    pub fn render(source: &str, mut models: Vec<CatalogModel>) -> String {
        models.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        let head = serde_json::json!({"source": source, "unit": UNIT});
        let mut out = String::from("{\n");
        for key in ["source", "unit"] {
            out.push_str(&format!("  \"{key}\": {},\n", head[key]));
        }
        out.push_str("  \"models\": [\n");
        let lines: Vec<String> =
            models.iter().map(|m| format!("    {}", serde_json::to_string(m).expect("plain data"))).collect();
        out.push_str(&lines.join(",\n"));
        out.push_str("\n  ]\n}\n");
        out
    }

    pub fn get(&self, provider_kind: &str, model: &str) -> Option<&CatalogModel> {
        self.index.get(provider_kind)?.get(model).map(|&i| &self.models[i])
    }

    pub fn price(&self, provider_kind: &str, model: &str) -> Option<Pricing> {
        self.get(provider_kind, model).map(CatalogModel::pricing)
    }
}

/// The catalog compiled into this build (parsed once; a malformed file fails the unit tests,
/// never a running gateway).
pub fn embedded() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::parse(EMBEDDED).expect("catalog/prices.json is checked by the unit tests"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::pricing::Usage;

    #[test]
    fn the_embedded_catalog_loads_and_prices_gpt_4o_mini_exactly() {
        let c = embedded();
        assert!(c.models.len() > 40, "{} models", c.models.len());
        let p = c.price("openai", "gpt-4o-mini").expect("gpt-4o-mini is in the catalog");
        // 0.15 and 0.60 USD per million tokens, 0.075 for cache reads.
        assert_eq!((p.input, p.output, p.cached_input), (150_000_000, 600_000_000, Some(75_000_000)));
        let cost = p.cost(&Usage { input_tokens: 1000, output_tokens: 500, ..Usage::default() });
        assert_eq!(crate::billing::money::format_credits(cost), "0.00045");
        assert_eq!(c.get("openai", "gpt-4o-mini").unwrap().max_output_tokens, Some(16384));
        assert!(c.price("anthropic", "gpt-4o-mini").is_none(), "prices are per provider kind");
        assert!(c.price("openai", "no-such-model").is_none());
    }

    #[test]
    fn the_embedded_catalog_is_what_the_generator_makes_of_the_committed_excerpt() {
        let excerpt = include_str!("../../tests/fixtures/litellm/model_prices_excerpt.json");
        let converted = super::super::litellm::convert(excerpt, "test").unwrap();
        let regenerated = Catalog::parse(&converted.text).unwrap();
        assert_eq!(regenerated.models, embedded().models, "run scripts/refresh-prices to regenerate the catalog");
    }

    #[test]
    fn malformed_catalogs_are_refused() {
        let line = r#"{"provider": "openai", "model": "m", "input": 1, "output": 2}"#;
        let file = |models: &str| format!(r#"{{"source": "s", "unit": "{UNIT}", "models": [{models}]}}"#);
        assert!(Catalog::parse(&file(line)).is_ok());
        assert!(Catalog::parse(&file(&format!("{line}, {line}"))).unwrap_err().contains("twice"));
        let negative = r#"{"provider": "openai", "model": "m", "input": -1, "output": 2}"#;
        assert!(Catalog::parse(&file(negative)).unwrap_err().contains("negative"));
        let float = r#"{"provider": "openai", "model": "m", "input": 1.5, "output": 2}"#;
        assert!(Catalog::parse(&file(float)).is_err());
        assert!(Catalog::parse(r#"{"source": "s", "unit": "USD", "models": []}"#).unwrap_err().contains("unit"));
    }

    #[test]
    fn render_round_trips_one_model_per_line() {
        let m = |provider: &str, model: &str| CatalogModel {
            provider: provider.into(),
            model: model.into(),
            input: 1,
            output: 2,
            cached_input: None,
            cache_write: Some(3),
            max_output_tokens: None,
        };
        let text = Catalog::render("src", vec![m("openai", "b"), m("anthropic", "z"), m("openai", "a")]);
        assert_eq!(text.lines().filter(|l| l.contains("\"provider\"")).count(), 3);
        let c = Catalog::parse(&text).unwrap();
        let order: Vec<&str> = c.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(order, ["z", "a", "b"]);
        assert_eq!(c.source, "src");
    }
}
