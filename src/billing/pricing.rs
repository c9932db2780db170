//! Prices and exact cost: credits per million tokens (or per unit) stored as nano-credits.

use serde::{Deserialize, Serialize};

use super::money::{Credits, format_credits};

/// A price list in nano-credits: token prices per million tokens, unit prices per unit.
/// This is what is stored, snapshotted onto call records, and multiplied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pricing {
    pub input: i64,
    pub output: i64,
    #[serde(default)]
    pub cached_input: Option<i64>,
    #[serde(default)]
    pub cache_write: Option<i64>,
    #[serde(default)]
    pub per_image: i64,
    #[serde(default)]
    pub per_request: i64,
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
}

impl PricingInput {
    pub fn to_pricing(&self) -> Result<Pricing, String> {
        let p = Pricing {
            input: self.input.0,
            output: self.output.0,
            cached_input: self.cached_input.map(|c| c.0),
            cache_write: self.cache_write.map(|c| c.0),
            per_image: self.per_image.map_or(0, |c| c.0),
            per_request: self.per_request.map_or(0, |c| c.0),
        };
        let all =
            [Some(p.input), Some(p.output), p.cached_input, p.cache_write, Some(p.per_image), Some(p.per_request)];
        if all.into_iter().flatten().any(|v| v < 0) {
            return Err("prices must not be negative".into());
        }
        Ok(p)
    }
}

impl Pricing {
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
        v
    }

    /// Exact cost in nano-credits. Token counts follow one convention: `input_tokens` are the
    /// uncached prompt tokens, `cached_tokens` the cache reads and `cache_write_tokens` the
    /// cache writes, so each token is priced once. Cached reads without a cached price pay the
    /// input price. The token sum is divided by one million once, rounding up, so a call never
    /// costs less than its exact price.
    pub fn cost(&self, u: &Usage) -> i64 {
        i64::try_from(div_up(self.exact_micros(u), 1_000_000)).unwrap_or(i64::MAX)
    }

    /// The exact cost in millionths of a nano-credit, before the one division (a markup
    /// multiplies this, so a marked-up charge is also rounded once).
    pub fn exact_micros(&self, u: &Usage) -> i128 {
        let cached_price = self.cached_input.unwrap_or(self.input) as i128;
        let write_price = self.cache_write.unwrap_or(self.input) as i128;
        let token_part = u.input_tokens as i128 * self.input as i128
            + u.output_tokens as i128 * self.output as i128
            + u.cached_tokens as i128 * cached_price
            + u.cache_write_tokens as i128 * write_price;
        let unit_part = u.images as i128 * self.per_image as i128 + self.per_request as i128;
        token_part + unit_part * 1_000_000
    }
}

/// `n / d` rounded up, for `n >= 0` and `d > 0` (a non-negative amount split exactly once).
pub fn div_up(n: i128, d: i128) -> i128 {
    n / d + i128::from(n % d != 0)
}

/// Usage of one call in the gateway's convention (see [`Pricing::cost`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens that were neither read from nor written to a cache.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    /// Part of `output_tokens` spent on reasoning (informational; already in output).
    pub reasoning_tokens: i64,
    pub images: i64,
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
        *self == Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn input_form_is_validated() {
        let i: PricingInput = serde_json::from_str(r#"{"input": "2.5", "output": 10}"#).unwrap();
        assert_eq!(i.to_pricing().unwrap().input, 2_500_000_000);
        let i: PricingInput = serde_json::from_str(r#"{"input": -1, "output": 10}"#).unwrap();
        assert!(i.to_pricing().is_err());
        assert!(serde_json::from_str::<PricingInput>(r#"{"input": 1, "output": 1, "bogus": 1}"#).is_err());
    }
}
