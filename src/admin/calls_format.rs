//! How a call is shown: the API's JSON object, and the CSV line of the list's `format=csv`
//! and the export.

use serde_json::{Value, json};

use crate::billing::markup::Markup;
use crate::billing::money::format_credits;
use crate::billing::pricing::Pricing;
use crate::store::call_outcome::ErrorClass;
use crate::store::calls::CallRecord;

/// Stored tags (`env=prod,team=search`) as an object.
fn tags_json(c: &CallRecord) -> Value {
    let tags = c.tags.as_deref().unwrap_or_default().split(',').filter_map(|t| t.split_once('='));
    Value::Object(tags.map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect())
}

/// A call as the API shows it.
pub(crate) fn call_json(c: &CallRecord) -> Value {
    json!({
        "id": c.id, "object": "call", "request_id": c.request_id, "trace_id": c.trace_id,
        "user_id": c.user_id, "key_id": c.key_id, "app": c.app, "end_user": c.end_user, "tags": tags_json(c), "dialect": c.dialect, "endpoint": c.endpoint,
        "model": c.model, "provider_id": c.provider_id, "credential_id": c.credential_id,
        "upstream_model": c.upstream_model, "stream": c.stream, "status": c.status, "http_status": c.http_status,
        "error_class": c.error_class, "error_message": c.error_message,
        "input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "cached_tokens": c.cached_tokens,
        "cache_write_tokens": c.cache_write_tokens, "reasoning_tokens": c.reasoning_tokens, "images": c.images,
        "cost": format_credits(c.cost), "price": c.price.as_ref().map(Pricing::to_json), "attempts": c.attempts,
        "started_at": crate::clock::rfc3339(c.started_at), "duration_ms": c.duration_ms, "ttft_ms": c.ttft_ms,
        "overhead_us": c.overhead_us, "usage_estimated": c.usage_estimated,
        "provider_cost": format_credits(c.provider_cost), "markup": markup_json(&c.markup),
        "effective_price": c.price.as_ref().map(|p| c.markup.effective(p).to_json()),
        "failed_attempts": c.attempt_trail,
    })
}

fn markup_json(m: &Markup) -> Value {
    json!({"multiplier": m.multiplier.to_decimal(), "request_fee": format_credits(m.request_fee)})
}

/// A call as the member who made it sees it (`GET /api/v1/me`, with a key or a console
/// session): what they were charged and at what price, without provider internals — no
/// provider, credential or upstream model, and never the recorded error text, which may quote
/// a provider's body: only the error's class and the gateway's own sentence for it
/// ([`member_error_message`]) — nor the operator's cost and markup.
pub(crate) fn member_call_json(c: &CallRecord) -> Value {
    let mut v = call_json(c);
    if let Some(o) = v.as_object_mut() {
        for field in
            ["provider_id", "credential_id", "upstream_model", "price", "provider_cost", "markup", "failed_attempts"]
        {
            o.remove(field);
        }
        o.insert("error_message".into(), c.error_class.as_deref().map(member_error_message).into());
    }
    v
}

/// What a member is told about a failed call of `class`: a fixed sentence of the gateway's,
/// whatever the provider said.
pub(crate) fn member_error_message(class: &str) -> &'static str {
    use ErrorClass as C;
    const NO_PROVIDER: &str = "no provider was available for the model";
    let Some(class) = ErrorClass::parse(class) else {
        // A class this version no longer writes.
        return if class == "overloaded" { NO_PROVIDER } else { "the provider failed" };
    };
    match class {
        C::InsufficientCredits => "the credit balance did not cover the call's estimated cost",
        C::BudgetExceeded => "a spend budget of this key or user was used up",
        C::RateLimited => "a rate limit of this key or user was reached",
        C::ConcurrencyLimited => "too many calls of this key or user were in flight",
        C::ClientDisconnected | C::ClientDisconnectedDrained | C::DrainLimit => {
            "the client closed the connection before the call finished"
        }
        C::Timeout => "the provider did not answer in time",
        C::UpstreamBadRequest => "the provider rejected the request",
        C::UpstreamRateLimited => "the provider was rate limiting the gateway",
        C::UpstreamAuth | C::CredentialMisconfigured => "the gateway could not use its provider credential",
        C::UpstreamInvalidResponse | C::UpstreamTruncated | C::UpstreamStreamError => {
            "the provider's response could not be read"
        }
        C::ImageFetchFailed => "an image URL in the request could not be fetched",
        C::NoAvailableProvider => NO_PROVIDER,
        C::JournalUnavailable | C::UpstreamError | C::ConnectError | C::UpstreamIoError | C::Interrupted => {
            "the provider failed"
        }
    }
}

pub(crate) const CSV_COLUMNS: &[&str] = &[
    "id",
    "request_id",
    "user_id",
    "key_id",
    "dialect",
    "endpoint",
    "model",
    "provider_id",
    "upstream_model",
    "status",
    "http_status",
    "error_class",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "provider_cost",
    "usage_estimated",
    "started_at",
    "duration_ms",
    "ttft_ms",
    // Attribution, after the older columns so readers by position keep working.
    "trace_id",
    "app",
    "end_user",
    "tags",
];

pub(crate) fn csv_header() -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    out
}

/// One call as a CSV line, its fields as the JSON shows them.
pub(crate) fn csv_line(c: &CallRecord, out: &mut String) {
    let j = call_json(c);
    for (i, col) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match &j[*col] {
            // Tags as stored (`k=v` joined by commas, quoted as one field), not the JSON object.
            _ if *col == "tags" => out.push_str(&csv_field(c.tags.as_deref().unwrap_or_default())),
            Value::Null => {}
            Value::String(s) => out.push_str(&csv_field(s)),
            other => out.push_str(&other.to_string()),
        }
    }
    out.push('\n');
}

/// Quotes a CSV field when needed, and defuses spreadsheet formulas.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        let mut line = String::new();
        csv_line(
            &CallRecord { id: "c1".into(), model: "m,1".into(), cost: 1_500_000_000, ..Default::default() },
            &mut line,
        );
        assert!(line.starts_with("c1,,,,,,\"m,1\","), "{line}");
        assert_eq!(line.matches(',').count() - 1, CSV_COLUMNS.len() - 1, "{line}");
        let attributed = CallRecord {
            id: "c2".into(),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            app: Some("search".into()),
            end_user: Some("=cmd".into()),
            tags: Some("env=prod,team=search".into()),
            ..Default::default()
        };
        let mut line = String::new();
        csv_line(&attributed, &mut line);
        assert!(line.ends_with(",4bf92f3577b34da6a3ce929d0e0e4736,search,'=cmd,\"env=prod,team=search\"\n"), "{line}");
        assert!(csv_header().ends_with(",ttft_ms,trace_id,app,end_user,tags\n"));
    }
}
