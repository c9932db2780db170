//! The credit unit members see: its name ("credits", "积分"), how many make one US dollar
//! (`per_usd`, default 1) and how many decimals amounts are shown to people with. The ledger,
//! balances, prices and charges are all in nano-credits of this unit; US dollars enter only
//! through the price catalog (LiteLLM's prices are in USD, converted by [`CreditUnit::from_usd`])
//! and payments. API answers keep exact decimal amounts and say which unit they are in
//! ([`CreditUnit::to_json`]); the console rounds amounts for people ([`CreditUnit::show`]).

use serde_json::{Value, json};

use super::markup::PPM;
use super::money::{format_credits, parse_scaled};
use super::pricing::{Pricing, div_up};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditUnit {
    pub name: String,
    /// Credits per US dollar in parts per million (1 credit = 1 USD is 1_000_000).
    per_usd_ppm: i64,
    /// Decimals amounts are shown to people with (9: exact).
    pub decimals: u32,
}

impl Default for CreditUnit {
    fn default() -> Self {
        CreditUnit { name: "credits".into(), per_usd_ppm: PPM, decimals: 9 }
    }
}

impl CreditUnit {
    /// `per_usd` is a decimal (`"100"`, `"0.5"`, at most six decimal places), exact.
    pub fn new(name: &str, per_usd: &str, decimals: u32) -> Result<CreditUnit, String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 32 {
            return Err("credits.name must be between 1 and 32 characters".into());
        }
        let per_usd_ppm = parse_scaled(per_usd, 6)
            .map_err(|_| format!("credits.per_usd: {per_usd:?} is not a decimal with at most six decimal places"))?;
        if !(1..=1_000_000_000 * PPM).contains(&per_usd_ppm) {
            return Err("credits.per_usd must be positive and at most 1000000000".into());
        }
        if decimals > 9 {
            return Err("credits.decimals must be between 0 and 9".into());
        }
        Ok(CreditUnit { name: name.to_string(), per_usd_ppm, decimals })
    }

    /// The unit `[credits]` configures (errors name the setting).
    pub fn from_config(c: &crate::config::CreditsConfig) -> Result<CreditUnit, String> {
        CreditUnit::new(&c.name, &c.per_usd_text(), c.decimals)
    }

    /// Credits per US dollar as an exact decimal.
    pub fn per_usd(&self) -> String {
        format_credits(self.per_usd_ppm * 1_000)
    }

    /// A USD price list (the catalog's) in this unit: each price × `per_usd`, rounded up to a
    /// nano-credit (exact for a whole `per_usd`, never below the dollar price otherwise).
    pub fn from_usd(&self, p: &Pricing) -> Pricing {
        if self.per_usd_ppm == PPM {
            return p.clone();
        }
        let m = |v: i64| i64::try_from(div_up(v as i128 * self.per_usd_ppm as i128, PPM as i128)).unwrap_or(i64::MAX);
        p.map_prices(m, 0)
    }

    /// An amount for people: rounded half away from zero to `decimals`, trailing zeros
    /// dropped, and never shown as 0 when it is not (the smallest shown step instead).
    pub fn show(&self, nanos: i64) -> String {
        let step = 10i64.pow(9 - self.decimals);
        let abs = nanos.unsigned_abs() as i64;
        let mut rounded = (abs + step / 2) / step * step;
        if rounded == 0 && abs != 0 {
            rounded = step;
        }
        format_credits(if nanos < 0 { -rounded } else { rounded })
    }

    /// An amount with the unit's name: `12.5 credits`.
    pub fn show_named(&self, nanos: i64) -> String {
        format!("{} {}", self.show(nanos), self.name)
    }

    /// What member-facing answers carry next to their (exact) amounts.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "per_usd": self.per_usd(), "decimals": self.decimals})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::money::NANOS_PER_CREDIT;

    const NANOS: i64 = NANOS_PER_CREDIT;

    #[test]
    fn a_unit_is_validated() {
        let u = CreditUnit::new("积分", "100", 2).unwrap();
        assert_eq!((u.name.as_str(), u.per_usd().as_str(), u.decimals), ("积分", "100", 2));
        assert_eq!(CreditUnit::new("c", "0.5", 9).unwrap().per_usd(), "0.5");
        assert!(CreditUnit::new("", "1", 2).is_err());
        assert!(CreditUnit::new("c", "0", 2).is_err());
        assert!(CreditUnit::new("c", "-1", 2).is_err());
        assert!(CreditUnit::new("c", "0.0000001", 2).is_err());
        assert!(CreditUnit::new("c", "1", 10).is_err());
        assert_eq!(CreditUnit::default().to_json(), json!({"name": "credits", "per_usd": "1", "decimals": 9}));
    }

    #[test]
    fn catalog_dollars_convert_exactly() {
        // gpt-4o-mini: 0.15 USD per million input tokens is 15 credits at 100 per dollar.
        let usd =
            Pricing { input: 150_000_000, output: 600_000_000, cached_input: Some(75_000_000), ..Pricing::default() };
        let p = CreditUnit::new("积分", "100", 2).unwrap().from_usd(&usd);
        assert_eq!((p.input, p.output, p.cached_input), (15 * NANOS, 60 * NANOS, Some(7_500_000_000)));
        assert_eq!(CreditUnit::default().from_usd(&usd), usd);
        // A fractional rate rounds each price up to a nano-credit.
        let p = CreditUnit::new("c", "0.333333", 9).unwrap().from_usd(&Pricing { input: 10, ..Pricing::default() });
        assert_eq!(p.input, 4);
    }

    #[test]
    fn amounts_are_rounded_for_people_but_never_to_zero() {
        let u = CreditUnit::new("credits", "1", 2).unwrap();
        assert_eq!(u.show(12_345_000_000), "12.35");
        assert_eq!(u.show(7_500_000), "0.01", "a small charge is not shown as free");
        assert_eq!(u.show(-1_234_000_000), "-1.23");
        assert_eq!(u.show(0), "0");
        assert_eq!(u.show_named(2 * NANOS), "2 credits");
        assert_eq!(CreditUnit::default().show(7_500_000), "0.0075", "nine decimals: exact");
    }
}
