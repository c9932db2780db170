//! Exact money: credits as integer nano-credits (1 credit = 10^9), parsed from and printed as decimals.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::value::RawValue;

/// Nano-credits per credit.
pub const NANOS_PER_CREDIT: i64 = 1_000_000_000;

/// Parses a decimal amount of credits ("1.5", "-2", "0.000000001") into nano-credits exactly.
/// More than nine decimals, exponents, or values out of range are errors, never rounded.
pub fn parse_credits(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (whole, frac) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(format!("not a decimal number: {text:?}"));
    }
    if frac.len() > 9 {
        return Err(format!("more than 9 decimal places: {text:?}"));
    }
    let whole: i64 =
        if whole.is_empty() { 0 } else { whole.parse().map_err(|_| format!("amount too large: {text:?}"))? };
    let frac_nanos: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().expect("nine ascii digits") };
    let nanos = whole
        .checked_mul(NANOS_PER_CREDIT)
        .and_then(|w| w.checked_add(frac_nanos))
        .ok_or_else(|| format!("amount too large: {text:?}"))?;
    Ok(if negative { -nanos } else { nanos })
}

/// Prints nano-credits as the shortest exact decimal: 7_500_000 → "0.0075", 10^10 → "10".
pub fn format_credits(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let whole = abs / NANOS_PER_CREDIT as u64;
    let frac = abs % NANOS_PER_CREDIT as u64;
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:09}");
    format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
}

/// A credit amount that deserializes exactly from a JSON number (`1.5`) or string (`"1.5"`).
/// It reads the raw JSON text, so no float ever touches the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits(pub i64);

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: &RawValue = Deserialize::deserialize(d)?;
        let text = raw.get();
        let inner = if let Some(s) = text.strip_prefix('"').and_then(|s| s.strip_suffix('"')) { s } else { text };
        if inner.contains(['e', 'E']) {
            return Err(de::Error::custom(format!("exponents are not accepted for credit amounts: {text}")));
        }
        parse_credits(inner).map(Credits).map_err(de::Error::custom)
    }
}

impl serde::Serialize for Credits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_credits(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_credits("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_credits("0.000000001").unwrap(), 1);
        assert_eq!(parse_credits("-2").unwrap(), -2 * NANOS_PER_CREDIT);
        assert_eq!(parse_credits(".25").unwrap(), 250_000_000);
        assert_eq!(parse_credits("10.").unwrap(), 10 * NANOS_PER_CREDIT);
        assert!(parse_credits("0.0000000001").is_err());
        assert!(parse_credits("abc").is_err());
        assert!(parse_credits("").is_err());
        assert!(parse_credits("1e3").is_err());
        assert!(parse_credits("99999999999999999999").is_err());
    }

    #[test]
    fn formats_shortest_exact() {
        assert_eq!(format_credits(7_500_000), "0.0075");
        assert_eq!(format_credits(10 * NANOS_PER_CREDIT), "10");
        assert_eq!(format_credits(-1), "-0.000000001");
        assert_eq!(format_credits(0), "0");
        for n in [0, 1, 7_500_000, 123_456_789_012, -42] {
            assert_eq!(parse_credits(&format_credits(n)).unwrap(), n);
        }
    }

    #[test]
    fn deserializes_numbers_and_strings_without_floats() {
        let v: Vec<Credits> = serde_json::from_str(r#"[0.1, "0.2", 3, "0.000000001"]"#).unwrap();
        assert_eq!(v, vec![Credits(100_000_000), Credits(200_000_000), Credits(3 * NANOS_PER_CREDIT), Credits(1)]);
        assert!(serde_json::from_str::<Credits>("1e2").is_err());
        assert!(serde_json::from_str::<Credits>("true").is_err());
    }
}
