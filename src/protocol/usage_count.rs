//! A provider's token count as its wire carries it, read whatever JSON number it is: a count
//! past `i64`, or a fraction, is neither a reason to refuse a whole answer nor to read the count
//! as 0 (which would make a lying answer free). Every number becomes an `i64` bounded by
//! `billing::pricing::reported`; anything that is not a number is no count.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::billing::pricing::{MAX_REPORTED_TOKENS, reported};

/// The count a JSON value says, bounded; `None` for a value that is not a number.
pub fn of_value(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    Some(reported(match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i,
        (None, Some(_), _) => MAX_REPORTED_TOKENS,
        // `as` saturates (and reads NaN as 0); `reported` clamps the rest.
        (None, None, Some(f)) => f.ceil() as i64,
        (None, None, None) => 0,
    }))
}

/// The count at `v`, or 0 when there is none.
pub fn or_zero(v: Option<&Value>) -> i64 {
    v.and_then(of_value).unwrap_or(0)
}

/// `deserialize_with` for a count that defaults to 0 (with `#[serde(default)]` for an absent
/// one): any number, bounded; anything else 0.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(of_value(&Value::deserialize(d)?).unwrap_or(0))
}

/// `deserialize_with` for a count that may be absent or null: any number, bounded.
pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(of_value(&Value::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_number_is_a_bounded_count() {
        assert_eq!(of_value(&json!(7)), Some(7));
        assert_eq!(of_value(&json!(-7)), Some(0));
        assert_eq!(of_value(&json!(u64::MAX)), Some(MAX_REPORTED_TOKENS));
        assert_eq!(of_value(&json!(i64::MAX)), Some(MAX_REPORTED_TOKENS));
        assert_eq!(of_value(&json!(2.5)), Some(3));
        assert_eq!(of_value(&json!(1e300)), Some(MAX_REPORTED_TOKENS));
        assert_eq!(of_value(&json!("12")), None);
        assert_eq!(or_zero(None), 0);
        #[derive(serde::Deserialize)]
        struct W {
            #[serde(default, deserialize_with = "count")]
            a: i64,
            #[serde(default, deserialize_with = "optional")]
            b: Option<i64>,
        }
        let w: W = serde_json::from_str(r#"{"a": 18446744073709551615, "b": null}"#).unwrap();
        assert_eq!((w.a, w.b), (MAX_REPORTED_TOKENS, None));
        let w: W = serde_json::from_str("{}").unwrap();
        assert_eq!((w.a, w.b), (0, None));
    }
}
