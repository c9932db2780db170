//! The price catalog: per-token (and per-image) prices of known models by provider kind,
//! compiled in from `catalog/prices.json` (generated from LiteLLM's MIT-licensed price data by
//! `tollgate refresh-prices`, see [`super::litellm`]), or the data directory's `prices.json`
//! when `tollgate refresh-prices` has written one there (a running gateway picks it up, see
//! [`CatalogFile`]). It prices `provider/model` calls, pattern models and configured targets
//! that carry no price of their own; an operator's configured price always wins, and a model
//! in neither place stays unpriced (refused, never billed at zero).
//!
//! Prices in the file are integers already (nano-credits per million tokens, 1 credit =
//! 1 USD), so loading it involves no decimal parsing and no float.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::image_prices::ImagePrice;
use super::price_shapes::Shape;
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
    /// Nano-credits per generated image (image models priced by the image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image: Option<i64>,
    /// The most input tokens the model takes (its context window), when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<i64>,
    /// What the model takes and makes, as OpenRouter writes it (`text+image->text`); absent
    /// means `text->text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// One-hour cache writes (Anthropic's), when they cost more than `cache_write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<i64>,
    /// Long-context and service-tier prices (`billing::price_shapes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<Shape>,
    /// Per-image prices by size and quality (`billing::image_prices`), over `per_image`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_prices: Vec<ImagePrice>,
}

impl CatalogModel {
    /// Input and output modalities (`["text", "image"]`, `["text"]`).
    pub fn modalities(&self) -> (Vec<String>, Vec<String>) {
        let m = self.modality.as_deref().unwrap_or("text->text");
        let (input, output) = m.split_once("->").unwrap_or((m, "text"));
        let list = |s: &str| s.split('+').filter(|p| !p.is_empty()).map(str::to_string).collect();
        (list(input), list(output))
    }

    pub fn pricing(&self) -> Pricing {
        Pricing {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            per_image: self.per_image.unwrap_or(0),
            cache_write_1h: self.cache_write_1h,
            ..Pricing::default()
        }
        .with_shapes(self.shapes.clone())
        .with_image_prices(self.image_prices.clone())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogText {
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
    /// Each model's price list, built once: pricing a call clones one (its shapes shared).
    prices: Vec<Pricing>,
}

/// What the catalog file says its numbers are.
pub const UNIT: &str = "nano-credits per million tokens (1 credit = 1 USD)";

impl Catalog {
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let file: CatalogText = serde_json::from_str(text).map_err(|e| format!("price catalog: {e}"))?;
        if file.unit != UNIT {
            return Err(format!("price catalog: unit {:?} is not {UNIT:?}", file.unit));
        }
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        let mut prices = Vec::with_capacity(file.models.len());
        for (i, m) in file.models.iter().enumerate() {
            let each = [Some(m.input), Some(m.output), m.cached_input, m.cache_write, m.per_image, m.cache_write_1h];
            if each.into_iter().flatten().any(|p| p < 0) {
                return Err(format!("price catalog: negative price for {}/{}", m.provider, m.model));
            }
            let price = m.pricing();
            price.check().map_err(|e| format!("price catalog: {}/{}: {e}", m.provider, m.model))?;
            prices.push(price);
            if index.entry(m.provider.clone()).or_default().insert(m.model.clone(), i).is_some() {
                return Err(format!("price catalog: {}/{} is listed twice", m.provider, m.model));
            }
        }
        Ok(Catalog { source: file.source, models: file.models, index, prices })
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
        self.index.get(provider_kind)?.get(model).map(|&i| self.prices[i].clone())
    }

    /// Models priced per provider kind.
    pub fn counts(&self) -> Vec<(&str, usize)> {
        let mut counts: Vec<(&str, usize)> = self.index.iter().map(|(k, m)| (k.as_str(), m.len())).collect();
        counts.sort_unstable();
        counts
    }
}

/// The catalog compiled into this build (parsed once; a malformed file fails the unit tests,
/// never a running gateway).
pub fn embedded() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| Arc::new(Catalog::parse(EMBEDDED).expect("catalog/prices.json is checked by the unit tests")))
        .clone()
}

/// The catalog file's name in the data directory.
pub const DATA_FILE: &str = "prices.json";

/// The data directory's catalog file, as a running gateway watches it: `tollgate
/// refresh-prices` writes it whole (a temporary file renamed over it), and [`CatalogFile::poll`]
/// notices a new version by its modification time and size. While the file is absent the
/// compiled-in catalog is in effect; a file that does not parse is reported and the catalog in
/// effect is kept (prices never silently disappear).
pub struct CatalogFile {
    path: PathBuf,
    seen: Option<(SystemTime, u64)>,
}

/// What a poll found.
pub enum Polled {
    Unchanged,
    /// A new catalog to use (the file's, or the compiled-in one after the file was removed).
    Changed(Arc<Catalog>),
    /// The file changed but cannot be used; the message says why.
    Invalid(String),
}

impl CatalogFile {
    pub fn new(data_dir: &Path) -> CatalogFile {
        CatalogFile { path: data_dir.join(DATA_FILE), seen: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The catalog in effect at start-up: the file's if it exists and parses, else an error
    /// (a gateway does not start on prices it cannot read), or the compiled-in one when the
    /// file is absent.
    pub fn load(&mut self) -> Result<Arc<Catalog>, String> {
        match self.poll() {
            Polled::Changed(c) => Ok(c),
            Polled::Unchanged => Ok(embedded()),
            Polled::Invalid(e) => Err(e),
        }
    }

    pub fn poll(&mut self) -> Polled {
        let stamp =
            std::fs::metadata(&self.path).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp == self.seen {
            return Polled::Unchanged;
        }
        self.seen = stamp;
        if stamp.is_none() {
            return Polled::Changed(embedded());
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => return Polled::Invalid(format!("cannot read {}: {e}", self.path.display())),
        };
        match Catalog::parse(&text) {
            Ok(c) => Polled::Changed(Arc::new(c)),
            Err(e) => Polled::Invalid(format!("{}: {e}", self.path.display())),
        }
    }
}

/// Writes a catalog file whole: a temporary file in the same directory, renamed over `path`,
/// so a watching gateway never reads half a file.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", DATA_FILE, std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
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
    fn the_embedded_catalog_is_litellms_full_data_for_the_five_kinds() {
        let c = embedded();
        assert!(c.source.contains("LiteLLM"), "{}", c.source);
        let counts: HashMap<&str, usize> = c.counts().into_iter().collect();
        for (kind, at_least) in
            [("openai", 130), ("anthropic", 20), ("azure-openai", 200), ("gemini", 50), ("bedrock", 450)]
        {
            assert!(counts.get(kind).copied().unwrap_or(0) >= at_least, "{kind}: {counts:?}");
        }
        // The models the 45-entry excerpt lacked.
        for (kind, model) in [
            ("openai", "gpt-4o"),
            ("openai", "gpt-4.1"),
            ("openai", "o3"),
            ("openai", "text-embedding-3-small"),
            ("anthropic", "claude-haiku-4-5"),
            ("gemini", "gemini-2.5-flash"),
            ("azure-openai", "gpt-4o"),
            ("bedrock", "amazon.titan-embed-text-v2:0"),
        ] {
            assert!(c.get(kind, model).is_some(), "{kind}/{model} is not in the catalog");
        }
        let p = c.price("openai", "gpt-4o").unwrap();
        assert_eq!((p.input, p.output, p.cached_input), (2_500_000_000, 10_000_000_000, Some(1_250_000_000)));
    }

    #[test]
    fn the_embedded_catalog_carries_long_context_tier_and_one_hour_prices() {
        use crate::billing::price_shapes::ServiceTier;
        let c = embedded();
        // Gemini 2.5 Pro: 1.25 / 10 per million, 2.5 / 15 above 200k prompt tokens.
        let p = c.price("gemini", "gemini-2.5-pro").unwrap();
        let at = Usage { input_tokens: 200_000, output_tokens: 1_000, ..Usage::default() };
        assert_eq!(p.cost(&at), 200_000 * 1_250 + 1_000 * 10_000);
        let over = Usage { input_tokens: 200_001, ..at };
        assert_eq!(p.cost(&over), 200_001 * 2_500 + 1_000 * 15_000);
        // GPT-5 at flex and priority: half and twice the standard prices.
        let p = c.price("openai", "gpt-5").unwrap();
        let u = |t| Usage { input_tokens: 1_000, output_tokens: 1_000, service_tier: t, ..Usage::default() };
        assert_eq!(p.cost(&u(None)), 1_000 * 1_250 + 1_000 * 10_000);
        assert_eq!(p.cost(&u(Some(ServiceTier::Flex))), 1_000 * 625 + 1_000 * 5_000);
        assert_eq!(p.cost(&u(Some(ServiceTier::Priority))), 1_000 * 2_500 + 1_000 * 20_000);
        // Claude Sonnet 4.5: five-minute writes 3.75, one-hour writes 6 per million.
        let p = c.price("anthropic", "claude-sonnet-4-5").unwrap();
        assert_eq!((p.cache_write, p.cache_write_1h), (Some(3_750_000_000), Some(6_000_000_000)));
        let shaped = c.models.iter().filter(|m| !m.shapes.is_empty() || m.cache_write_1h.is_some()).count();
        assert!(shaped > 400, "{shaped} models with shapes");
    }

    #[test]
    fn the_embedded_catalog_prices_dalle_3_images_by_size_and_quality() {
        use crate::billing::image_prices::{ImageQuality, ImageSize, ImageSpec};
        let p = embedded().price("azure-openai", "dall-e-3").unwrap();
        let spec = |w, h, q| ImageSpec { size: Some(ImageSize { width: w, height: h }), quality: q };
        let images = |n, s| Usage { images: n, image: s, ..Usage::default() };
        // LiteLLM's per-pixel prices × the size's pixels, rounded up once to a nano-credit:
        // 8.39233e-08 × 1024 × 1024 = 0.0879999582208; 7.19343e-08 × 1792 × 1024 = 0.1320000159744.
        assert_eq!(p.cost(&images(2, spec(1024, 1024, Some(ImageQuality::Hd)))), 2 * 87_999_959);
        assert_eq!(p.cost(&images(1, spec(1792, 1024, Some(ImageQuality::Hd)))), 132_000_016);
        // Standard is the size alone; no size at all is LiteLLM's default, 1024x1024 standard.
        assert_eq!(p.cost(&images(1, spec(1024, 1792, Some(ImageQuality::Standard)))), 88_000_011);
        assert_eq!(p.cost(&images(1, spec(1024, 1792, None))), 88_000_011);
        assert_eq!(p.cost(&images(3, ImageSpec::default())), 3 * 44_000_032);
        let snap = p.for_usage(&images(1, spec(1792, 1024, Some(ImageQuality::Hd))));
        assert_eq!((snap.per_image, snap.image_prices.is_none()), (132_000_016, true));
        assert_eq!(snap.applied.unwrap().image, Some(spec(1792, 1024, Some(ImageQuality::Hd))));
        // gpt-image is priced by its tokens: no per-image prices on top.
        assert!(embedded().price("openai", "gpt-image-1").unwrap().image_prices().is_empty());
    }

    #[test]
    fn a_data_directory_catalog_replaces_the_compiled_in_one_while_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = CatalogFile::new(dir.path());
        assert!(Arc::ptr_eq(&file.load().unwrap(), &embedded()), "no file: the compiled-in catalog");
        assert!(matches!(file.poll(), Polled::Unchanged));
        let line = r#"{"provider": "openai", "model": "only-here", "input": 1, "output": 2}"#;
        let text = format!(r#"{{"source": "test", "unit": "{UNIT}", "models": [{line}]}}"#);
        write_atomically(file.path(), &text).unwrap();
        let Polled::Changed(c) = file.poll() else { panic!("a new file is a change") };
        assert_eq!((c.source.as_str(), c.models.len()), ("test", 1));
        assert!(matches!(file.poll(), Polled::Unchanged));
        // A broken file is reported; the caller keeps what it had.
        std::fs::write(file.path(), "{ not json").unwrap();
        assert!(matches!(file.poll(), Polled::Invalid(e) if e.contains("prices.json")));
        assert!(CatalogFile::new(dir.path()).load().is_err(), "a gateway does not start on unreadable prices");
        std::fs::remove_file(file.path()).unwrap();
        assert!(matches!(file.poll(), Polled::Changed(c) if Arc::ptr_eq(&c, &embedded())));
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
            per_image: None,
            context_length: Some(1000),
            modality: Some("text+image->text".into()),
            cache_write_1h: None,
            shapes: vec![],
            image_prices: vec![],
        };
        let text = Catalog::render("src", vec![m("openai", "b"), m("anthropic", "z"), m("openai", "a")]);
        assert_eq!(text.lines().filter(|l| l.contains("\"provider\"")).count(), 3);
        let c = Catalog::parse(&text).unwrap();
        let order: Vec<&str> = c.models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(order, ["z", "a", "b"]);
        assert_eq!(c.source, "src");
    }
}
