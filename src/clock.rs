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

/// Accepts RFC 3339 text or Unix seconds (a JSON number or numeric string).
pub fn parse_timestamp(v: &serde_json::Value) -> Result<i64, String> {
    match v {
        serde_json::Value::Number(n) => {
            n.as_i64().map(|s| s * 1000).ok_or_else(|| "timestamp must be whole Unix seconds".to_string())
        }
        serde_json::Value::String(s) => {
            if let Ok(secs) = s.parse::<i64>() {
                return Ok(secs * 1000);
            }
            OffsetDateTime::parse(s, &Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| format!("not an RFC 3339 timestamp: {s}"))
        }
        _ => Err("timestamp must be an RFC 3339 string or Unix seconds".into()),
    }
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
}
