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

/// Parses a decimal number as written in JSON ("1.5e-07", "0.000168", "3") and multiplies it
/// by 10^`scale` exactly: `parse_scaled("1.5e-07", 15)` is 150_000_000 (dollars per token →
/// nano-credits per million tokens). A result that is not a whole number, or does not fit,
/// is an error — never rounded, and no float is involved.
pub fn parse_scaled(text: &str, scale: i32) -> Result<i64, String> {
    let bad = || format!("not a decimal number: {text:?}");
    let t = text.trim();
    let (negative, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{frac}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let digits = digits.trim_start_matches('0');
    let too_large = || format!("number too large: {text:?}");
    let mut value: i128 = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| too_large())? };
    let power = scale as i64 + exponent as i64 - frac.len() as i64;
    if power >= 0 {
        for _ in 0..power {
            value = value.checked_mul(10).ok_or_else(too_large)?;
        }
    } else {
        for _ in 0..-power {
            if value % 10 != 0 {
                return Err(format!("{text} is not a whole number once scaled by 10^{scale}"));
            }
            value /= 10;
            if value == 0 {
                break;
            }
        }
    }
    let value = i64::try_from(value).map_err(|_| too_large())?;
    Ok(if negative { -value } else { value })
}

/// Prints nano-credits as the shortest exact decimal: 7_500_000 → "0.0075", 10^10 → "10".
pub fn format_credits(nanos: i64) -> String {
    format_decimal(nanos, 9)
}

/// Prints `value` / 10^`decimals` as the shortest exact decimal (`format_decimal(15, 1)` is
/// "1.5"): nano-credits per million tokens are credits per token at 15 decimals.
pub fn format_decimal(value: i64, decimals: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs() as u128;
    let scale = 10u128.pow(decimals);
    let (whole, frac) = (abs / scale, abs % scale);
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let frac = format!("{frac:0width$}", width = decimals as usize);
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
    fn parses_scaled_decimals_exactly() {
        assert_eq!(parse_scaled("1.5e-07", 15).unwrap(), 150_000_000);
        assert_eq!(parse_scaled("6e-07", 15).unwrap(), 600_000_000);
        assert_eq!(parse_scaled("0.000168", 15).unwrap(), 168_000_000_000);
        assert_eq!(parse_scaled("5.46875e-07", 15).unwrap(), 546_875_000);
        assert_eq!(parse_scaled("5e-09", 15).unwrap(), 5_000_000);
        assert_eq!(parse_scaled("1.2E+1", 0).unwrap(), 12);
        assert_eq!(parse_scaled("0.0", 15).unwrap(), 0);
        assert_eq!(parse_scaled("-2.5", 1).unwrap(), -25);
        assert_eq!(parse_scaled("3", 2).unwrap(), 300);
        // Float noise does not land on a whole nano-credit: refused, not rounded.
        assert!(parse_scaled("2.9999900000000002e-06", 15).unwrap_err().contains("not a whole number"));
        assert!(parse_scaled("1e-16", 15).is_err());
        assert!(parse_scaled("1e30", 15).is_err());
        for bad in ["", "e5", "1.2.3", "abc", "1e", "0x10", "1e-07x"] {
            assert!(parse_scaled(bad, 15).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_shortest_exact() {
        assert_eq!(format_credits(7_500_000), "0.0075");
        assert_eq!(format_credits(10 * NANOS_PER_CREDIT), "10");
        assert_eq!(format_credits(-1), "-0.000000001");
        assert_eq!(format_credits(0), "0");
        assert_eq!(format_decimal(150_000_000, 15), "0.00000015");
        assert_eq!(format_decimal(i64::MIN, 15), "-9223.372036854775808");
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
