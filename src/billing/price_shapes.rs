//! Price shapes: the prices that replace a model's base token prices for some calls, as
//! providers publish them — above a prompt-size threshold (long context: the whole call at the
//! higher rate once its prompt passes the threshold), per service tier (OpenAI's `flex` and
//! `priority`), and both (a tier's long-context prices). A shape sets only the prices that
//! differ; the rest fall back as LiteLLM's cost calculator falls back (its price data is the
//! catalog's source, so a catalog price charges what LiteLLM would): a field comes from the
//! applicable shape with the highest threshold that sets it, the call's tier's shape before
//! the standard one at the same threshold, then the tier's flat shape, then the base price.
//!
//! Which shape applies is decided by what the provider reports the call used: its prompt
//! tokens (uncached, cache reads and cache writes together, as Anthropic and Gemini count the
//! threshold) and its service tier (the provider's answer, else the request's).

use serde::{Deserialize, Serialize};

use super::image_prices::ImageSpec;
use super::money::{Credits, format_credits};

/// The most shapes one price list may have (LiteLLM's richest entries have six).
pub const MAX_SHAPES: usize = 32;

/// A service tier, as providers report it (`service_tier` in OpenAI's answers and requests,
/// `usage.service_tier` in Anthropic's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    Standard,
    Flex,
    Priority,
}

impl ServiceTier {
    /// A provider's or client's tier name: `flex` and `priority` are priced tiers, `default`
    /// and `standard` the base; anything else (`auto`, `scale`, `batch`, ...) says nothing
    /// about the price and reads as `None`.
    pub fn from_wire(name: &str) -> Option<ServiceTier> {
        match name {
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            "default" | "standard" => Some(ServiceTier::Standard),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }
}

/// Prices in nano-credits per million tokens that replace the base ones for the calls a
/// shape applies to: calls of `service_tier` (any tier when absent), with a prompt of more
/// than `above` tokens (any prompt when absent). At least one of the two is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// The shape applies when the prompt has more than this many tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<i64>,
}

impl Shape {
    fn prices(&self) -> [Option<i64>; 5] {
        [self.input, self.output, self.cached_input, self.cache_write, self.cache_write_1h]
    }

    /// Each price through `f` (a markup, a credit unit).
    pub fn map(&self, f: &dyn Fn(i64) -> i64) -> Shape {
        Shape {
            input: self.input.map(f),
            output: self.output.map(f),
            cached_input: self.cached_input.map(f),
            cache_write: self.cache_write.map(f),
            cache_write_1h: self.cache_write_1h.map(f),
            ..*self
        }
    }

    /// Whether the shape is one a call of `tier` with `prompt` tokens may take prices from.
    fn applies(&self, tier: Option<ServiceTier>, prompt: i64) -> bool {
        let tier_ok = self.service_tier.is_none() || self.service_tier == tier;
        tier_ok && self.above.is_none_or(|a| prompt > a)
    }

    /// Precedence among applicable shapes: the higher threshold, then the tier's own.
    fn rank(&self) -> (i64, bool) {
        (self.above.unwrap_or(-1), self.service_tier.is_some())
    }

    /// The API form: decimal credit strings.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({});
        if let Some(t) = self.service_tier {
            v["service_tier"] = t.as_str().into();
        }
        if let Some(a) = self.above {
            v["above"] = a.into();
        }
        let names = ["input", "output", "cached_input", "cache_write", "cache_write_1h"];
        for (name, price) in names.into_iter().zip(self.prices()) {
            if let Some(p) = price {
                v[name] = format_credits(p).into();
            }
        }
        v
    }
}

/// Checks a list of shapes as a price list may hold it: each sets a tier or a threshold and at
/// least one price, no price is negative, no two apply to the same calls, the standard tier is
/// the base prices' (not a shape's), and there are at most [`MAX_SHAPES`].
pub fn check(shapes: &[Shape]) -> Result<(), String> {
    if shapes.len() > MAX_SHAPES {
        return Err(format!("a price list may have at most {MAX_SHAPES} shapes"));
    }
    for (i, s) in shapes.iter().enumerate() {
        if s.service_tier.is_none() && s.above.is_none() {
            return Err("a price shape needs a `service_tier` or an `above` threshold".into());
        }
        if s.service_tier == Some(ServiceTier::Standard) {
            return Err("the standard service tier pays the base prices: name `flex` or `priority`".into());
        }
        if s.above.is_some_and(|a| a < 1) {
            return Err("a price shape's `above` must be at least 1 token".into());
        }
        if s.prices().iter().all(Option::is_none) {
            return Err("a price shape sets at least one price".into());
        }
        if s.prices().into_iter().flatten().any(|p| p < 0) {
            return Err("prices must not be negative".into());
        }
        if shapes[..i].iter().any(|o| (o.service_tier, o.above) == (s.service_tier, s.above)) {
            return Err("two price shapes apply to the same calls (same `service_tier` and `above`)".into());
        }
    }
    Ok(())
}

/// Which shape priced a call, as its record's price snapshot keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Applied {
    /// The service tier whose prices applied (absent: no tier's prices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// The prompt was above this many tokens and that threshold's prices applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub above: Option<i64>,
    /// This many of the call's cache writes were one-hour writes, at `cache_write_1h`.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: i64,
    /// The per-image price by size and quality that priced the images (`image_prices`), as it
    /// names them; absent: the base `per_image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSpec>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        *self == Applied::default()
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("plain data")
    }
}

/// The token prices one call pays, before the fallbacks of absent cache prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub input: i64,
    pub output: i64,
    pub cached_input: Option<i64>,
    pub cache_write: Option<i64>,
    pub cache_write_1h: Option<i64>,
}

/// The rates a call of `tier` with `prompt` tokens pays under `shapes` over `base`, and which
/// shape applied (see the module notes for the order).
pub fn resolve(base: Rates, shapes: &[Shape], tier: Option<ServiceTier>, prompt: i64) -> (Rates, Applied) {
    let applicable = || shapes.iter().filter(move |s| s.applies(tier, prompt));
    let pick = |field: fn(&Shape) -> Option<i64>| {
        applicable().filter(|s| field(s).is_some()).max_by_key(|s| s.rank()).and_then(field)
    };
    let rates = Rates {
        input: pick(|s| s.input).unwrap_or(base.input),
        output: pick(|s| s.output).unwrap_or(base.output),
        cached_input: pick(|s| s.cached_input).or(base.cached_input),
        cache_write: pick(|s| s.cache_write).or(base.cache_write),
        cache_write_1h: pick(|s| s.cache_write_1h).or(base.cache_write_1h),
    };
    let applied = Applied {
        service_tier: tier.filter(|t| applicable().any(|s| s.service_tier == Some(*t))),
        above: applicable().filter_map(|s| s.above).max(),
        cache_write_1h_tokens: 0,
        image: None,
    };
    (rates, applied)
}

/// The prices of one shape in full, as a member is shown them: what a call of its tier whose
/// prompt passes its threshold pays for every kind of token, fallbacks applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub service_tier: Option<ServiceTier>,
    pub above: Option<i64>,
    pub rates: Rates,
}

/// Each shape's [`Tier`], in the order of `shapes`: the rates [`resolve`] gives a call of the
/// shape's tier with a prompt one token past its threshold (any prompt when it has none).
pub fn tiers(base: Rates, shapes: &[Shape]) -> Vec<Tier> {
    shapes
        .iter()
        .map(|s| {
            let prompt = s.above.map_or(0, |a| a.saturating_add(1));
            let (rates, _) = resolve(base, shapes, s.service_tier, prompt);
            Tier { service_tier: s.service_tier, above: s.above, rates }
        })
        .collect()
}

impl Tier {
    /// The API form: the tier, the threshold and each price, in decimal credits per million
    /// tokens (`cached_input` and the cache writes when the list prices them).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = Shape { service_tier: self.service_tier, above: self.above, ..Shape::default() }.to_json();
        let r = &self.rates;
        v["input"] = format_credits(r.input).into();
        v["output"] = format_credits(r.output).into();
        let optional =
            [("cached_input", r.cached_input), ("cache_write", r.cache_write), ("cache_write_1h", r.cache_write_1h)];
        for (name, price) in optional {
            if let Some(p) = price {
                v[name] = format_credits(p).into();
            }
        }
        v
    }
}

/// The API form of a shape: decimal credits, accepted as numbers or strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeInput {
    pub service_tier: Option<ServiceTier>,
    pub above: Option<i64>,
    pub input: Option<Credits>,
    pub output: Option<Credits>,
    pub cached_input: Option<Credits>,
    pub cache_write: Option<Credits>,
    pub cache_write_1h: Option<Credits>,
}

impl ShapeInput {
    pub fn to_shape(&self) -> Shape {
        let n = |c: Option<Credits>| c.map(|c| c.0);
        Shape {
            service_tier: self.service_tier,
            above: self.above,
            input: n(self.input),
            output: n(self.output),
            cached_input: n(self.cached_input),
            cache_write: n(self.cache_write),
            cache_write_1h: n(self.cache_write_1h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Rates = Rates { input: 10, output: 20, cached_input: Some(1), cache_write: None, cache_write_1h: None };

    fn above(tokens: i64, input: i64) -> Shape {
        Shape { above: Some(tokens), input: Some(input), ..Shape::default() }
    }

    #[test]
    fn the_highest_crossed_threshold_wins_field_by_field() {
        let shapes = [above(100, 11), Shape { above: Some(200), output: Some(40), ..Shape::default() }];
        let (r, a) = resolve(BASE, &shapes, None, 100);
        assert_eq!((r, a), (BASE, Applied::default()), "a prompt at the threshold pays the base");
        let (r, a) = resolve(BASE, &shapes, None, 201);
        // 200's output, 100's input (200 sets none), the base's cache read.
        assert_eq!((r.input, r.output, r.cached_input), (11, 40, Some(1)));
        assert_eq!(a.above, Some(200));
    }

    #[test]
    fn a_tier_takes_its_own_prices_then_the_standard_threshold_then_the_base() {
        let tier = Some(ServiceTier::Priority);
        let shapes = [
            Shape { service_tier: tier, input: Some(17), ..Shape::default() },
            above(1000, 20),
            Shape { service_tier: tier, above: Some(1000), output: Some(70), ..Shape::default() },
        ];
        let (r, a) = resolve(BASE, &shapes, tier, 5);
        assert_eq!((r.input, r.output), (17, 20));
        assert_eq!(a, Applied { service_tier: tier, ..Applied::default() });
        let (r, a) = resolve(BASE, &shapes, tier, 1001);
        // The standard long-context input outranks the tier's flat one (as LiteLLM's
        // suffix-stripping fallback does); the tier's long-context output is its own.
        assert_eq!((r.input, r.output), (20, 70));
        assert_eq!((a.service_tier, a.above), (tier, Some(1000)));
        // A flex call takes none of priority's prices, and a call with no tier none either.
        let (r, a) = resolve(BASE, &shapes, Some(ServiceTier::Flex), 5);
        assert_eq!((r, a), (BASE, Applied::default()));
        assert_eq!(resolve(BASE, &shapes, None, 5).0, BASE);
    }

    #[test]
    fn each_tier_shows_what_its_calls_pay_with_the_fallbacks_applied() {
        let tier = Some(ServiceTier::Priority);
        let shapes = [
            above(1000, 20),
            Shape { service_tier: tier, input: Some(17), ..Shape::default() },
            Shape { service_tier: tier, above: Some(1000), output: Some(70), ..Shape::default() },
        ];
        let t = tiers(BASE, &shapes);
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].above, t[0].rates.input, t[0].rates.output, t[0].rates.cached_input),
            (Some(1000), 20, 20, Some(1))
        );
        assert_eq!((t[1].service_tier, t[1].rates.input, t[1].rates.output), (tier, 17, 20));
        assert_eq!((t[2].service_tier, t[2].above, t[2].rates.input, t[2].rates.output), (tier, Some(1000), 20, 70));
        for x in &t {
            let prompt = x.above.map_or(0, |a| a + 1);
            assert_eq!(x.rates, resolve(BASE, &shapes, x.service_tier, prompt).0, "what a call in it pays");
        }
        assert_eq!(
            t[2].to_json(),
            serde_json::json!({"service_tier": "priority", "above": 1000, "input": "0.00000002", "output": "0.00000007",
                "cached_input": "0.000000001"})
        );
    }

    #[test]
    fn shapes_are_checked() {
        let ok =
            [above(200_000, 1), Shape { service_tier: Some(ServiceTier::Flex), input: Some(1), ..Shape::default() }];
        assert!(check(&ok).is_ok());
        let err = |s: &[Shape]| check(s).unwrap_err();
        assert!(err(&[Shape { input: Some(1), ..Shape::default() }]).contains("`service_tier` or an `above`"));
        assert!(err(&[above(0, 1)]).contains("at least 1 token"));
        assert!(err(&[Shape { above: Some(5), ..Shape::default() }]).contains("at least one price"));
        assert!(err(&[above(5, -1)]).contains("negative"));
        assert!(err(&[above(5, 1), above(5, 2)]).contains("same calls"));
        let standard = Shape { service_tier: Some(ServiceTier::Standard), input: Some(1), ..Shape::default() };
        assert!(err(&[standard]).contains("standard"));
        assert!(err(&vec![above(1, 1); MAX_SHAPES + 1]).contains("at most"));
    }

    #[test]
    fn tiers_read_from_the_wire() {
        assert_eq!(ServiceTier::from_wire("flex"), Some(ServiceTier::Flex));
        assert_eq!(ServiceTier::from_wire("priority"), Some(ServiceTier::Priority));
        assert_eq!(ServiceTier::from_wire("default"), Some(ServiceTier::Standard));
        assert_eq!(ServiceTier::from_wire("standard"), Some(ServiceTier::Standard));
        for other in ["auto", "scale", "batch", ""] {
            assert_eq!(ServiceTier::from_wire(other), None, "{other}");
        }
    }
}
