//! Prices and exact cost: credits per million tokens (or per unit) stored as nano-credits.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::image_prices::{self, ImagePrice, ImagePriceInput, ImageSpec};
use super::money::{Credits, format_credits};
use super::price_shapes::{self, Applied, Rates, ServiceTier, Shape, ShapeInput};

/// A price list in nano-credits: token prices per million tokens, unit prices per unit.
/// This is what is stored, snapshotted onto call records, and multiplied.
///
/// Most lists are the base prices alone. `shapes` holds the prices that replace them for some
/// calls (long context, service tiers: [`price_shapes`]), and `image_prices` the per-image
/// prices by size and quality ([`image_prices`]), both shared rather than copied: cloning a
/// list never allocates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    pub input: i64,
    pub output: i64,
    #[serde(default)]
    pub cached_input: Option<i64>,
    /// Cache writes (Anthropic's five-minute writes, and any write of a provider with one kind).
    #[serde(default)]
    pub cache_write: Option<i64>,
    #[serde(default)]
    pub per_image: i64,
    #[serde(default)]
    pub per_request: i64,
    /// One-hour cache writes (Anthropic's `ephemeral_1h`); absent, they pay `cache_write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<Arc<[Shape]>>,
    /// Per-image prices by size and quality, over `per_image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_prices: Option<Arc<[ImagePrice]>>,
    /// On a call record's snapshot: which shape priced the call (see [`Pricing::for_usage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
}

/// The API form of a price list: decimal credits, accepted as numbers or strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingInput {
    pub input: Credits,
    pub output: Credits,
    pub cached_input: Option<Credits>,
    pub cache_write: Option<Credits>,
    pub per_image: Option<Credits>,
    pub per_request: Option<Credits>,
    pub cache_write_1h: Option<Credits>,
    /// Long-context and service-tier prices ([`price_shapes`]).
    pub shapes: Option<Vec<ShapeInput>>,
    /// Per-image prices by size and quality ([`image_prices`]).
    pub image_prices: Option<Vec<ImagePriceInput>>,
}

impl PricingInput {
    pub fn to_pricing(&self) -> Result<Pricing, String> {
        let shapes: Vec<Shape> = self.shapes.iter().flatten().map(ShapeInput::to_shape).collect();
        let p = Pricing {
            input: self.input.0,
            output: self.output.0,
            cached_input: self.cached_input.map(|c| c.0),
            cache_write: self.cache_write.map(|c| c.0),
            per_image: self.per_image.map_or(0, |c| c.0),
            per_request: self.per_request.map_or(0, |c| c.0),
            cache_write_1h: self.cache_write_1h.map(|c| c.0),
            shapes: None,
            image_prices: None,
            applied: None,
        }
        .with_shapes(shapes)
        .with_image_prices(self.image_prices.iter().flatten().map(ImagePriceInput::to_price).collect());
        p.check()?;
        Ok(p)
    }
}

impl Pricing {
    /// This list with `shapes` (none: no shapes), ordered by tier, then threshold.
    pub fn with_shapes(self, mut shapes: Vec<Shape>) -> Pricing {
        shapes.sort_by_key(|s| (s.service_tier, s.above));
        Pricing { shapes: (!shapes.is_empty()).then(|| shapes.into()), ..self }
    }

    pub fn shapes(&self) -> &[Shape] {
        self.shapes.as_deref().unwrap_or_default()
    }

    /// This list with `prices` as its per-image prices by size and quality (none: none),
    /// ordered by size, then quality.
    pub fn with_image_prices(self, mut prices: Vec<ImagePrice>) -> Pricing {
        prices.sort_by_key(|p| (p.size, p.quality));
        Pricing { image_prices: (!prices.is_empty()).then(|| prices.into()), ..self }
    }

    pub fn image_prices(&self) -> &[ImagePrice] {
        self.image_prices.as_deref().unwrap_or_default()
    }

    /// The price of each image of a call of `spec`, and the entry that set it (none: the
    /// base `per_image`).
    pub fn image_price(&self, spec: ImageSpec) -> (i64, Option<&ImagePrice>) {
        match image_prices::resolve(self.image_prices(), spec) {
            Some(p) => (p.price, Some(p)),
            None => (self.per_image, None),
        }
    }

    /// This list as a reservation prices a call of `spec`: each image at the most it may cost
    /// once the answer says its size and quality ([`image_prices::bound`]).
    pub fn for_image_reservation(&self, spec: ImageSpec) -> Pricing {
        if self.image_prices.is_none() {
            return self.clone();
        }
        let per_image = image_prices::bound(self.image_prices(), spec, self.per_image);
        Pricing { per_image, image_prices: None, ..self.clone() }
    }

    /// Refuses a negative price and shapes [`price_shapes::check`] refuses.
    pub fn check(&self) -> Result<(), String> {
        let all = [
            Some(self.input),
            Some(self.output),
            self.cached_input,
            self.cache_write,
            self.cache_write_1h,
            Some(self.per_image),
            Some(self.per_request),
        ];
        if all.into_iter().flatten().any(|v| v < 0) {
            return Err("prices must not be negative".into());
        }
        image_prices::check(self.image_prices())?;
        price_shapes::check(self.shapes())
    }

    /// Each price, the shapes' too, through `f` (a markup, a credit unit); `per_request` gets
    /// `fee` added after.
    pub fn map_prices(&self, f: impl Fn(i64) -> i64, fee: i64) -> Pricing {
        Pricing {
            input: f(self.input),
            output: f(self.output),
            cached_input: self.cached_input.map(&f),
            cache_write: self.cache_write.map(&f),
            per_image: f(self.per_image),
            per_request: f(self.per_request).saturating_add(fee),
            cache_write_1h: self.cache_write_1h.map(&f),
            shapes: self.shapes.as_ref().map(|s| s.iter().map(|s| s.map(&f)).collect()),
            image_prices: self
                .image_prices
                .as_ref()
                .map(|l| l.iter().map(|p| ImagePrice { price: f(p.price), ..*p }).collect()),
            applied: self.applied,
        }
    }

    /// The API form: decimal credit strings.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "input": format_credits(self.input),
            "output": format_credits(self.output),
            "per_image": format_credits(self.per_image),
            "per_request": format_credits(self.per_request),
        });
        if let Some(c) = self.cached_input {
            v["cached_input"] = format_credits(c).into();
        }
        if let Some(c) = self.cache_write {
            v["cache_write"] = format_credits(c).into();
        }
        if let Some(c) = self.cache_write_1h {
            v["cache_write_1h"] = format_credits(c).into();
        }
        if !self.shapes().is_empty() {
            v["shapes"] = self.shapes().iter().map(Shape::to_json).collect();
        }
        if !self.image_prices().is_empty() {
            v["image_prices"] = self.image_prices().iter().map(ImagePrice::to_json).collect();
        }
        if let Some(a) = self.applied {
            v["applied"] = a.to_json();
        }
        v
    }

    /// Each shape's prices in full ([`price_shapes::tiers`]): what a member is shown.
    pub fn tiers(&self) -> Vec<price_shapes::Tier> {
        price_shapes::tiers(self.base_rates(), self.shapes())
    }

    fn base_rates(&self) -> Rates {
        Rates {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
        }
    }

    /// The token prices a call with usage `u` pays, and which shape applied.
    fn rates_for(&self, u: &Usage) -> (Rates, Applied) {
        let mut out = match &self.shapes {
            None => (self.base_rates(), Applied::default()),
            Some(shapes) => price_shapes::resolve(self.base_rates(), shapes, u.service_tier, u.prompt_tokens()),
        };
        out.1.cache_write_1h_tokens = u.cache_write_1h();
        if u.images > 0 {
            out.1.image = self.image_price(u.image).1.map(ImagePrice::label);
        }
        out
    }

    /// The price snapshot a call with usage `u` keeps on its record: the prices it paid, no
    /// shapes or image prices, and `applied` naming the shape and image price (absent when the
    /// base prices applied to everything). It costs `u` exactly what this list does. A list
    /// without shapes is its own snapshot (a copy: nothing allocated).
    pub fn for_usage(&self, u: &Usage) -> Pricing {
        let (r, applied) = self.rates_for(u);
        Pricing {
            input: r.input,
            output: r.output,
            cached_input: r.cached_input,
            cache_write: r.cache_write,
            cache_write_1h: r.cache_write_1h,
            per_image: self.image_price(u.image).0,
            shapes: None,
            image_prices: None,
            applied: (!applied.is_empty()).then_some(applied),
            ..*self
        }
    }

    /// Exact cost in nano-credits. Token counts follow one convention: `input_tokens` are the
    /// uncached prompt tokens, `cached_tokens` the cache reads and `cache_write_tokens` the
    /// cache writes (`cache_write_1h_tokens` of them one-hour writes), so each token is priced
    /// once. Cached reads and writes without a price of their own pay the input price, one-hour
    /// writes without one the cache-write price. The prices are those of the shape the usage
    /// falls in ([`price_shapes`]). The token sum is divided by one million once, rounding up,
    /// so a call never costs less than its exact price.
    pub fn cost(&self, u: &Usage) -> i64 {
        i64::try_from(div_up(self.exact_micros(u), 1_000_000)).unwrap_or(i64::MAX)
    }

    /// The exact cost in millionths of a nano-credit, before the one division (a markup
    /// multiplies this, so a marked-up charge is also rounded once).
    pub fn exact_micros(&self, u: &Usage) -> i128 {
        let (r, _) = self.rates_for(u);
        let cached_price = r.cached_input.unwrap_or(r.input) as i128;
        let write_price = r.cache_write.unwrap_or(r.input);
        let write_1h_price = r.cache_write_1h.unwrap_or(write_price) as i128;
        let writes_1h = u.cache_write_1h() as i128;
        let token_part = u.input_tokens as i128 * r.input as i128
            + u.output_tokens as i128 * r.output as i128
            + u.cached_tokens as i128 * cached_price
            + (u.cache_write_tokens as i128 - writes_1h) * write_price as i128
            + writes_1h * write_1h_price;
        let unit_part = u.images as i128 * self.image_price(u.image).0 as i128 + self.per_request as i128;
        token_part + unit_part * 1_000_000
    }
}

/// `n / d` rounded up, for `n >= 0` and `d > 0` (a non-negative amount split exactly once).
pub fn div_up(n: i128, d: i128) -> i128 {
    n / d + i128::from(n % d != 0)
}

/// Usage of one call in the gateway's convention (see [`Pricing::cost`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens that were neither read from nor written to a cache.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    /// Part of `output_tokens` spent on reasoning (informational; already in output).
    pub reasoning_tokens: i64,
    pub images: i64,
    /// Part of `cache_write_tokens` written for one hour (Anthropic's `ephemeral_1h`).
    pub cache_write_1h_tokens: i64,
    /// The service tier the call ran in: the provider's answer's, else the request's.
    pub service_tier: Option<ServiceTier>,
    /// The size and quality of the images made: the provider's answer's, else the request's.
    #[serde(skip_serializing_if = "ImageSpec::is_empty")]
    pub image: ImageSpec,
}

/// The most tokens of one kind a call is read as having, whatever its provider reports: far
/// past any real call (a quadrillion), and small enough that a sum of all of a call's counts
/// stays inside `i64`. A lying provider cannot overflow the gateway's arithmetic this way.
pub const MAX_REPORTED_TOKENS: i64 = 1_000_000_000_000_000;

/// One count from a provider's usage report, as the gateway reads it: a negative count is 0,
/// and none exceeds [`MAX_REPORTED_TOKENS`].
pub fn reported(n: i64) -> i64 {
    n.clamp(0, MAX_REPORTED_TOKENS)
}

impl Usage {
    /// Nothing counted at all: what a provider that reports no usage amounts to (an answer
    /// always has a prompt, so a report of all zeros is no report).
    pub fn is_zero(&self) -> bool {
        Usage { service_tier: None, image: ImageSpec::default(), ..*self } == Usage::default()
    }

    /// Prompt tokens all told (uncached, cache reads and cache writes): what a long-context
    /// threshold is compared with.
    pub fn prompt_tokens(&self) -> i64 {
        self.input_tokens + self.cached_tokens + self.cache_write_tokens
    }

    /// The one-hour cache writes, never more than the writes.
    pub fn cache_write_1h(&self) -> i64 {
        self.cache_write_1h_tokens.clamp(0, self.cache_write_tokens.max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::price_shapes::{Applied, ServiceTier, Shape};

    fn per_million(credits: i64) -> i64 {
        credits * 1_000_000_000
    }

    #[test]
    fn cost_is_exact() {
        // 2.5 and 10 credits per million tokens.
        let p = Pricing { input: 2_500_000_000, output: per_million(10), ..Pricing::default() };
        let u = Usage { input_tokens: 1000, output_tokens: 500, ..Usage::default() };
        assert_eq!(p.cost(&u), 7_500_000); // 0.0075 credits
    }

    #[test]
    fn cached_tokens_use_their_price_and_fall_back_to_input() {
        let p = Pricing { input: per_million(2), output: 0, cached_input: Some(per_million(1)), ..Pricing::default() };
        let u = Usage { input_tokens: 100, cached_tokens: 900, ..Usage::default() };
        assert_eq!(p.cost(&u), (100 * 2_000 + 900 * 1_000) as i64);
        let p = Pricing { cached_input: None, ..p };
        assert_eq!(p.cost(&u), 1000 * 2_000);
    }

    #[test]
    fn sub_nano_costs_round_up_and_unit_prices_add() {
        let p = Pricing { input: 1, output: 0, per_request: 5, per_image: 7, ..Pricing::default() };
        let u = Usage { input_tokens: 1, images: 2, ..Usage::default() };
        assert_eq!(p.cost(&u), 1 + 14 + 5);
        assert_eq!(Pricing::default().cost(&Usage::default()), 0);
    }

    /// Gemini 2.5 Pro's prices (LiteLLM's): 1.25 / 10 per million tokens, 2.5 / 15 above
    /// 200k prompt tokens, cache reads 0.125 and 0.25; priority 2.25 / 18, 4.5 / 27 above.
    fn gemini_pro() -> Pricing {
        let above = |t: Option<ServiceTier>, i, o, c| Shape {
            service_tier: t,
            above: Some(200_000),
            input: Some(i),
            output: Some(o),
            cached_input: c,
            ..Shape::default()
        };
        let priority = Some(ServiceTier::Priority);
        Pricing { input: 1_250_000_000, output: per_million(10), cached_input: Some(125_000_000), ..Pricing::default() }
            .with_shapes(vec![
                above(None, 2_500_000_000, per_million(15), Some(250_000_000)),
                above(priority, 4_500_000_000, per_million(27), Some(450_000_000)),
                Shape {
                    service_tier: priority,
                    input: Some(2_250_000_000),
                    output: Some(per_million(18)),
                    cached_input: Some(225_000_000),
                    ..Shape::default()
                },
            ])
    }

    #[test]
    fn a_long_context_tier_prices_the_whole_call_once_the_prompt_passes_its_threshold() {
        let p = gemini_pro();
        // Exactly 200k prompt tokens: the base prices. 1.25 × 0.2 + 10 × 0.001 = 0.26 credits.
        let at = Usage { input_tokens: 200_000, output_tokens: 1_000, ..Usage::default() };
        assert_eq!(p.cost(&at), 260_000_000);
        assert_eq!(p.for_usage(&at).applied, None);
        // One more: every token at the long-context prices, output too.
        // 2.5 × 0.200001 + 15 × 0.001 = 0.5150025 credits.
        let over = Usage { input_tokens: 200_001, ..at };
        assert_eq!(p.cost(&over), 515_002_500);
        assert_eq!(p.for_usage(&over).applied, Some(Applied { above: Some(200_000), ..Applied::default() }));
        // Cache reads count toward the threshold (the prompt is all of them) and pay the
        // tier's cache price: 199_999 uncached + 2 cached = 200_001.
        let cached = Usage { input_tokens: 199_999, cached_tokens: 2, output_tokens: 0, ..Usage::default() };
        assert_eq!(p.cost(&cached), div_up(199_999 * 2_500_000_000 + 2 * 250_000_000, 1_000_000) as i64);
        let writes = Usage { input_tokens: 199_999, cache_write_tokens: 1, ..Usage::default() };
        assert_eq!(p.for_usage(&writes).applied, None, "200_000 in all: not above");
    }

    #[test]
    fn a_service_tier_pays_its_own_prices_and_its_own_long_context_prices() {
        let p = gemini_pro();
        let u =
            |input, tier| Usage { input_tokens: input, output_tokens: 1_000, service_tier: tier, ..Usage::default() };
        let priority = Some(ServiceTier::Priority);
        // 2.25 × 0.1 + 18 × 0.001 = 0.243 credits.
        assert_eq!(p.cost(&u(100_000, priority)), 243_000_000);
        assert_eq!(p.for_usage(&u(100_000, priority)).applied.unwrap().service_tier, priority);
        // Above 200k at priority: 4.5 × 0.3 + 27 × 0.001 = 1.377 credits.
        assert_eq!(p.cost(&u(300_000, priority)), 1_377_000_000);
        let snap = p.for_usage(&u(300_000, priority));
        assert_eq!((snap.input, snap.output, snap.cached_input), (4_500_000_000, per_million(27), Some(450_000_000)));
        assert_eq!(snap.applied, Some(Applied { service_tier: priority, above: Some(200_000), ..Applied::default() }));
        // Flex has no prices here: the base ones, and the snapshot names no tier.
        let flex = u(100_000, Some(ServiceTier::Flex));
        assert_eq!(p.cost(&flex), p.cost(&u(100_000, None)));
        assert_eq!(p.for_usage(&flex).applied, None);
        // Standard is the base.
        assert_eq!(p.cost(&u(100_000, Some(ServiceTier::Standard))), p.cost(&u(100_000, None)));
    }

    #[test]
    fn one_hour_cache_writes_pay_their_price_and_fall_back_to_the_write_price() {
        // Claude Sonnet 4.5: input 3, 5-minute writes 3.75, 1-hour writes 6 per million.
        let p = Pricing {
            input: per_million(3),
            output: per_million(15),
            cache_write: Some(3_750_000_000),
            cache_write_1h: Some(per_million(6)),
            ..Pricing::default()
        };
        let u = Usage { input_tokens: 10, cache_write_tokens: 1_000, cache_write_1h_tokens: 400, ..Usage::default() };
        assert_eq!(p.cost(&u), 10 * 3_000 + 600 * 3_750 + 400 * 6_000);
        let snap = p.for_usage(&u);
        assert_eq!(snap.applied, Some(Applied { cache_write_1h_tokens: 400, ..Applied::default() }));
        assert_eq!(snap.cost(&u), p.cost(&u));
        // Without a one-hour price they pay the write price; without that, the input price.
        let p = Pricing { cache_write_1h: None, ..p };
        assert_eq!(p.cost(&u), 10 * 3_000 + 1_000 * 3_750);
        let p = Pricing { cache_write: None, ..p };
        assert_eq!(p.cost(&u), 1_010 * 3_000);
        // A report of more one-hour writes than writes is read as all of them.
        let odd = Usage { cache_write_1h_tokens: 5_000, ..u };
        assert_eq!(odd.cache_write_1h(), 1_000);
    }

    #[test]
    fn a_list_without_shapes_is_its_own_snapshot() {
        let p = Pricing { input: 5, output: 7, cached_input: Some(1), per_request: 3, ..Pricing::default() };
        let u = Usage {
            input_tokens: 10,
            output_tokens: 20,
            service_tier: Some(ServiceTier::Priority),
            ..Usage::default()
        };
        assert_eq!(p.for_usage(&u), p);
        // The JSON of such a snapshot is what it was before shapes existed.
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"input":5,"output":7,"cached_input":1,"cache_write":null,"per_image":0,"per_request":3}"#);
        assert_eq!(serde_json::from_str::<Pricing>(&text).unwrap(), p);
    }

    #[test]
    fn shapes_round_trip_through_the_api_form_and_storage() {
        let text = r#"{"input": "1.25", "output": 10, "cache_write_1h": 2.5,
            "shapes": [{"service_tier": "priority", "input": "2.25"}, {"above": 200000, "input": 2.5, "output": 15}]}"#;
        let p = serde_json::from_str::<PricingInput>(text).unwrap().to_pricing().unwrap();
        assert_eq!(p.cache_write_1h, Some(2_500_000_000));
        // Stored ordered: the standard tier's shapes first.
        assert_eq!(p.shapes()[0].above, Some(200_000));
        assert_eq!(p.shapes()[1].service_tier, Some(ServiceTier::Priority));
        let stored = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Pricing>(&stored).unwrap(), p);
        let json = p.to_json();
        assert_eq!(json["shapes"][0], serde_json::json!({"above": 200000, "input": "2.5", "output": "15"}));
        assert_eq!(json["cache_write_1h"], "2.5");
        let bad = |shapes: &str| {
            let text = format!(r#"{{"input": 1, "output": 1, "shapes": {shapes}}}"#);
            serde_json::from_str::<PricingInput>(&text).map_err(|e| e.to_string()).and_then(|i| i.to_pricing())
        };
        assert!(bad(r#"[{"above": 5, "input": -1}]"#).unwrap_err().contains("negative"));
        assert!(bad(r#"[{"input": 1}]"#).is_err(), "a shape names a tier or a threshold");
        assert!(bad(r#"[{"above": 5, "bogus": 1}]"#).is_err());
        assert!(bad(r#"[{"service_tier": "turbo", "input": 1}]"#).is_err());
    }

    #[test]
    fn input_form_is_validated() {
        let i: PricingInput = serde_json::from_str(r#"{"input": "2.5", "output": 10}"#).unwrap();
        assert_eq!(i.to_pricing().unwrap().input, 2_500_000_000);
        let i: PricingInput = serde_json::from_str(r#"{"input": -1, "output": 10}"#).unwrap();
        assert!(i.to_pricing().is_err());
        assert!(serde_json::from_str::<PricingInput>(r#"{"input": 1, "output": 1, "bogus": 1}"#).is_err());
    }
}
