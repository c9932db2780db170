//! Time as the store keeps it (Unix milliseconds) and as the API shows it (RFC 3339).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// The latest time the API takes: the end of year 9999, the last instant RFC 3339 can write.
/// Anything later is a mistake (or an overflow in the making), never a real deadline.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Accepts RFC 3339 text or Unix seconds (a JSON number or numeric string), from 1970 to the
/// end of year 9999. The range is checked before any arithmetic, so a huge number is an error,
/// never a time that wrapped into the past.
pub fn parse_timestamp(v: &serde_json::Value) -> Result<i64, String> {
    let ms = match v {
        serde_json::Value::Number(n) => {
            let fraction = n.as_f64().is_some_and(|f| f.fract() != 0.0);
            let secs = n.as_i64().ok_or_else(|| {
                if fraction { "timestamp must be whole Unix seconds".to_string() } else { out_of_range() }
            })?;
            from_secs(secs)?
        }
        serde_json::Value::String(s) => match s.trim().parse::<i64>() {
            Ok(secs) => from_secs(secs)?,
            Err(_) => OffsetDateTime::parse(s, &Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| format!("not an RFC 3339 timestamp: {}", s.chars().take(64).collect::<String>()))?,
        },
        _ => return Err("timestamp must be an RFC 3339 string or Unix seconds".into()),
    };
    if !(0..=MAX_MS).contains(&ms) {
        return Err(out_of_range());
    }
    Ok(ms)
}

fn from_secs(secs: i64) -> Result<i64, String> {
    secs.checked_mul(1000).filter(|ms| (0..=MAX_MS).contains(ms)).ok_or_else(out_of_range)
}

fn out_of_range() -> String {
    "timestamp out of range: it must lie between 1970-01-01 and 9999-12-31".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ms = 1_700_000_000_123;
        let text = rfc3339(ms);
        assert_eq!(text, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_timestamp(&text.into()).unwrap(), ms);
        assert_eq!(parse_timestamp(&serde_json::json!(1_700_000_000)).unwrap(), 1_700_000_000_000);
        assert!(parse_timestamp(&serde_json::json!("yesterday")).is_err());
    }

    #[test]
    fn huge_or_negative_times_are_refused_not_wrapped() {
        // i64::MAX / 1000 + 1 seconds overflowed the old multiply into the past.
        for v in [
            serde_json::json!(i64::MAX),
            serde_json::json!(i64::MAX / 1000 + 1),
            serde_json::json!("9223372036854775807"),
            serde_json::json!(MAX_MS / 1000 + 1),
            serde_json::json!(-1),
            serde_json::json!("-62135596800"),
            serde_json::json!(u64::MAX),
            serde_json::json!(1e30),
        ] {
            let e = parse_timestamp(&v).unwrap_err();
            assert!(e.contains("range") || e.contains("whole"), "{v}: {e}");
        }
        assert_eq!(parse_timestamp(&serde_json::json!(MAX_MS / 1000)).unwrap(), MAX_MS / 1000 * 1000);
        assert_eq!(parse_timestamp(&"9999-12-31T23:59:59.999Z".into()).unwrap(), MAX_MS);
        assert_eq!(rfc3339(MAX_MS), "9999-12-31T23:59:59.999Z");
    }
}
