//! The limits a key or a user can carry (SPEC §4): requests and tokens per minute, concurrent
//! requests, and a spend budget with an optional reset period. Keys keep them in columns;
//! users keep them in the `limits` JSON column, whose one accepted shape is defined here:
//! `{"rpm": 60, "tpm": 100000, "max_concurrency": 4, "budget": "25.5", "budget_period":
//! "monthly", "max_keys": 5}` — every field optional, counts positive integers, the budget in credits
//! (number or decimal string, stored as a decimal string so it stays exact).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::money::{Credits, format_credits};

/// When a budget starts over: at 00:00 UTC daily, on Mondays weekly, on the 1st monthly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "daily" => Some(Period::Daily),
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
        }
    }
}

/// Limits of one key or user; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrency: Option<i64>,
    /// Nano-credits of cost allowed per period (or ever, without a period).
    pub budget: Option<i64>,
    pub budget_period: Option<Period>,
    /// Users only: how many live keys the user may hold, which caps the keys a member creates
    /// in the console (an administrator's own creations are not refused).
    pub max_keys: Option<i64>,
}

/// The API and storage form of [`Limits`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsInput {
    rpm: Option<i64>,
    tpm: Option<i64>,
    max_concurrency: Option<i64>,
    budget: Option<Credits>,
    budget_period: Option<String>,
    max_keys: Option<i64>,
}

/// A field at fault and why.
pub type FieldError = (&'static str, String);

impl Limits {
    /// Parses and validates the stored form (a JSON value whose budget is a string, so
    /// nothing passed through a float).
    pub fn from_json(v: &Value) -> Result<Limits, FieldError> {
        Limits::parse(&v.to_string())
    }

    /// Parses and validates JSON text (a users API body: read raw, so a budget given as a
    /// number is taken from its digits, never through a float).
    pub fn parse(text: &str) -> Result<Limits, FieldError> {
        let input: LimitsInput =
            serde_json::from_str(text).map_err(|e| ("limits", format!("`limits` is invalid: {e}")))?;
        let positive = |field: &'static str, n: Option<i64>| match n {
            Some(n) if n <= 0 => Err((field, format!("`limits.{field}` must be a positive integer"))),
            other => Ok(other),
        };
        let budget = match input.budget {
            Some(Credits(n)) if n <= 0 => return Err(("budget", "`limits.budget` must be positive".into())),
            other => other.map(|c| c.0),
        };
        let budget_period = match input.budget_period.as_deref() {
            None => None,
            Some(p) => Some(Period::parse(p).ok_or_else(|| {
                ("budget_period", "`limits.budget_period` must be daily, weekly or monthly".to_string())
            })?),
        };
        Ok(Limits {
            rpm: positive("rpm", input.rpm)?,
            tpm: positive("tpm", input.tpm)?,
            max_concurrency: positive("max_concurrency", input.max_concurrency)?,
            budget,
            budget_period,
            max_keys: positive("max_keys", input.max_keys)?,
        })
    }

    /// The stored and displayed form: only the fields that are set, the budget as an exact
    /// decimal string.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("rpm", self.rpm.map(Value::from));
        put("tpm", self.tpm.map(Value::from));
        put("max_concurrency", self.max_concurrency.map(Value::from));
        put("budget", self.budget.map(|b| Value::String(format_credits(b))));
        put("budget_period", self.budget_period.map(|p| Value::String(p.as_str().into())));
        put("max_keys", self.max_keys.map(Value::from));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_validates_and_round_trips() {
        let l = Limits::parse(r#"{"rpm": 60, "budget": 2.5, "budget_period": "weekly"}"#).unwrap();
        assert_eq!(Limits::parse(r#"{"budget": 12345678.123456789}"#).unwrap().budget, Some(12_345_678_123_456_789));
        assert_eq!(l.rpm, Some(60));
        assert_eq!(l.budget, Some(2_500_000_000));
        assert_eq!(l.budget_period, Some(Period::Weekly));
        assert_eq!(l.to_json(), json!({"rpm": 60, "budget": "2.5", "budget_period": "weekly"}));
        assert_eq!(Limits::from_json(&l.to_json()).unwrap(), l);
        assert_eq!(Limits::from_json(&json!({})).unwrap(), Limits::default());
    }

    #[test]
    fn rejects_bad_fields_naming_them() {
        assert_eq!(Limits::from_json(&json!({"rpm": 0})).unwrap_err().0, "rpm");
        assert_eq!(Limits::from_json(&json!({"tpm": -5})).unwrap_err().0, "tpm");
        assert_eq!(Limits::from_json(&json!({"budget": "0"})).unwrap_err().0, "budget");
        assert_eq!(Limits::from_json(&json!({"budget_period": "yearly"})).unwrap_err().0, "budget_period");
        assert_eq!(Limits::from_json(&json!({"rpn": 5})).unwrap_err().0, "limits");
        assert_eq!(Limits::from_json(&json!({"rpm": 1.5})).unwrap_err().0, "limits");
    }
}
