//! Markups: what a call is charged over its provider cost. A rule is a `multiplier` over the
//! base price (configured or catalog) and a fixed per-request fee, set at several levels —
//! per model, per provider, the global default (and a subscription plan's, next); each part
//! comes from the most specific level that sets it ([`Markup::resolve`] takes the levels in
//! that order, so a new level is one more entry, not new code).
//!
//! Exact: the multiplier is parts per million (`1.25` is 1_250_000), the charge is the base
//! cost's exact value (before any rounding) times the multiplier, divided once and rounded up,
//! plus the fee. A multiplier below 1 is refused, so a charge is never below the provider cost.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::money::{Credits, format_credits, parse_scaled};
use super::pricing::{Pricing, Usage, div_up};

/// Parts per million of ×1.
pub const PPM: i64 = 1_000_000;
/// The largest multiplier accepted (a typo guard: ×1000).
pub const MAX_MULTIPLIER_PPM: i64 = 1_000 * PPM;

/// A multiplier in parts per million, at least ×1 ([`Multiplier::parse`] checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Multiplier(i64);

impl Multiplier {
    pub const ONE: Multiplier = Multiplier(PPM);

    pub fn from_ppm(ppm: i64) -> Result<Multiplier, String> {
        if ppm < PPM {
            return Err("a multiplier must be at least 1 (a markup never prices a call below its cost)".into());
        }
        if ppm > MAX_MULTIPLIER_PPM {
            return Err(format!("a multiplier must be at most {}", MAX_MULTIPLIER_PPM / PPM));
        }
        Ok(Multiplier(ppm))
    }

    /// A decimal such as `1.25` (at most six decimal places), exactly, never through a float.
    pub fn parse(text: &str) -> Result<Multiplier, String> {
        let ppm = parse_scaled(text, 6)
            .map_err(|_| format!("multiplier {text:?} is not a decimal number with at most six decimal places"))?;
        Multiplier::from_ppm(ppm)
    }

    /// A stored multiplier (validated when it was set); anything below ×1 reads as ×1.
    pub fn from_stored(ppm: i64) -> Multiplier {
        Multiplier(ppm.max(PPM))
    }

    pub fn ppm(self) -> i64 {
        self.0
    }

    /// The shortest exact decimal: `1.25`, `2`.
    pub fn to_decimal(self) -> String {
        // ppm × 1000 is nano-units, which the credit formatter prints exactly.
        format_credits(self.0 * 1_000)
    }
}

/// The API form of a multiplier: a JSON number or a decimal string, read from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiplierInput(pub Multiplier);

impl<'de> Deserialize<'de> for MultiplierInput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(d)?;
        let text = raw.get();
        let inner = text.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(text);
        Multiplier::parse(inner).map(MultiplierInput).map_err(de::Error::custom)
    }
}

/// One level's rule; a part left unset is decided by a less specific level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<Multiplier>,
    /// Nano-credits added to every priced call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_fee: Option<i64>,
}

impl Rule {
    pub fn is_empty(&self) -> bool {
        *self == Rule::default()
    }

    /// The API form: `{"multiplier": "1.25" | null, "request_fee": "0.001" | null}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "multiplier": self.multiplier.map(Multiplier::to_decimal),
            "request_fee": self.request_fee.map(format_credits),
        })
    }
}

/// The API and config form of a rule's parts (`null` clears a part).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    #[serde(default, deserialize_with = "nullable")]
    pub multiplier: Option<Option<MultiplierInput>>,
    #[serde(default, deserialize_with = "nullable")]
    pub request_fee: Option<Option<Credits>>,
}

/// Tells a field given as `null` (clear it) from one left out (keep it): use with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl RuleInput {
    /// Applies the parts given to `rule`.
    pub fn apply(&self, rule: &mut Rule) -> Result<(), (&'static str, String)> {
        if let Some(m) = self.multiplier {
            rule.multiplier = m.map(|m| m.0);
        }
        if let Some(fee) = self.request_fee {
            let fee = fee.map(|c| c.0);
            if fee.is_some_and(|f| f < 0) {
                return Err(("request_fee", "a request fee must not be negative".into()));
            }
            rule.request_fee = fee;
        }
        Ok(())
    }
}

/// A resolved markup: what one route's calls are charged over their cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markup {
    pub multiplier: Multiplier,
    /// Nano-credits per priced call.
    pub request_fee: i64,
}

impl Default for Markup {
    fn default() -> Self {
        Markup::NONE
    }
}

/// A call's charge and what it cost at the provider's price (for margin).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Charge {
    /// Nano-credits at the base price, rounded up once.
    pub base: i64,
    /// Nano-credits charged: base × multiplier rounded up once, plus the fee.
    pub cost: i64,
}

impl Markup {
    pub const NONE: Markup = Markup { multiplier: Multiplier::ONE, request_fee: 0 };

    pub fn is_none(&self) -> bool {
        *self == Markup::NONE
    }

    /// Each part from the first (most specific) level that sets it, else no markup.
    pub fn resolve<'a>(levels: impl IntoIterator<Item = &'a Rule>) -> Markup {
        let mut multiplier = None;
        let mut request_fee = None;
        for r in levels {
            multiplier = multiplier.or(r.multiplier);
            request_fee = request_fee.or(r.request_fee);
        }
        Markup { multiplier: multiplier.unwrap_or(Multiplier::ONE), request_fee: request_fee.unwrap_or(0) }
    }

    /// The charge for `usage` at `price`: base and charged cost, each rounded up once.
    pub fn charge(&self, price: &Pricing, usage: &Usage) -> Charge {
        let exact = price.exact_micros(usage);
        let base = div_up(exact, 1_000_000);
        let marked = div_up(exact.saturating_mul(self.multiplier.0 as i128), 1_000_000 * PPM as i128);
        let cost = marked.saturating_add(self.request_fee as i128);
        let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
        Charge { base: clamp(base), cost: clamp(cost) }
    }

    /// The price list a member is shown: each price times the multiplier, rounded up to a
    /// nano-credit, the fee added to the per-request price. (Calls are charged by
    /// [`Markup::charge`], which rounds once per call, so the list is never below a charge.)
    pub fn effective(&self, p: &Pricing) -> Pricing {
        let m = |v: i64| -> i64 {
            let v = div_up(v as i128 * self.multiplier.0 as i128, PPM as i128);
            i64::try_from(v).unwrap_or(i64::MAX)
        };
        p.map_prices(m, self.request_fee)
    }
}

#[cfg(test)]
#[path = "markup_tests.rs"]
mod tests;
