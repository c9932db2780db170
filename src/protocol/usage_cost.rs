//! The call's cost in an answer's usage, as OpenRouter reports it (`usage.cost`, a decimal in
//! the credit unit): written into a JSON text at a path without touching anything else. The
//! members around it keep their order and their exact bytes (only whitespace between members
//! is dropped), so a passed-through answer stays what the provider sent but for the one member
//! — and the amount is written as its exact decimal text, never through a float.

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::sse;

/// Where each answer carries its usage: a chat completion (and its usage chunk), an
/// embeddings or image answer, an Anthropic message, a Responses object, an Anthropic
/// `message_delta` event.
pub const USAGE: &[&str] = &["usage"];
/// A Responses stream's final event (`response.completed`, `response.incomplete`).
pub const RESPONSE_USAGE: &[&str] = &["response", "usage"];

/// `json` with `"cost": cost` set in the object at `path` (any `cost` already there, such as
/// an upstream's own in its own currency, replaced). `None` when `json` is not an object or
/// the path does not lead to one (an answer without usage, `"usage": null`).
pub fn with_cost(json: &str, path: &[&str], cost: &str) -> Option<String> {
    let Members(members) = serde_json::from_str(json).ok()?;
    let mut out = String::with_capacity(json.len() + cost.len() + 10);
    out.push('{');
    let mut found = false;
    for (key, value) in &members {
        if path.is_empty() && key == "cost" {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("a string serializes"));
        out.push(':');
        match path.split_first() {
            Some((first, rest)) if !found && key == first => {
                out.push_str(&with_cost(value.get(), rest, cost)?);
                found = true;
            }
            _ => out.push_str(value.get()),
        }
    }
    if path.is_empty() {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str("\"cost\":");
        out.push_str(cost);
        found = true;
    }
    out.push('}');
    found.then_some(out)
}

/// An SSE event with the cost set in its data at `path`; the event unchanged when its data
/// has no usage object there.
pub fn event_with_cost(event: &Bytes, path: &[&str], cost: &str) -> Bytes {
    match sse::event_data(event).and_then(|data| with_cost(&data, path, cost)) {
        Some(data) => sse::replace_data(event, &data),
        None => event.clone(),
    }
}

/// An object's members in their order, each value's JSON text as it was.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_cost_keeping_every_other_member_as_it_was() {
        let json = r#"{"id":"c","usage":{"prompt_tokens":3, "completion_tokens":1,"x":{"b":1.50,"a":2}},"z":[1, 2]}"#;
        assert_eq!(
            with_cost(json, USAGE, "0.000000123").unwrap(),
            r#"{"id":"c","usage":{"prompt_tokens":3,"completion_tokens":1,"x":{"b":1.50,"a":2},"cost":0.000000123},"z":[1, 2]}"#
        );
        let completed = r#"{"type":"response.completed","response":{"id":"r","usage":{"cost":9,"input_tokens":1}}}"#;
        assert_eq!(
            with_cost(completed, RESPONSE_USAGE, "12.5").unwrap(),
            r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":1,"cost":12.5}}}"#,
            "an upstream's own cost is replaced"
        );
        assert_eq!(with_cost(r#"{"usage":{}}"#, USAGE, "0").unwrap(), r#"{"usage":{"cost":0}}"#);
    }

    #[test]
    fn no_usage_object_no_change() {
        for json in [r#"{"usage":null}"#, r#"{"id":1}"#, "[1]", "not json", r#"{"response":{"usage":3}}"#] {
            assert_eq!(with_cost(json, RESPONSE_USAGE, "1"), None, "{json}");
        }
        let event = Bytes::from_static(b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
        assert_eq!(event_with_cost(&event, USAGE, "1"), event);
    }

    #[test]
    fn an_event_keeps_its_name() {
        let event = Bytes::from_static(b"event: message_delta\r\ndata: {\"usage\":{\"output_tokens\":5}}\r\n\r\n");
        assert_eq!(
            &event_with_cost(&event, USAGE, "0.25")[..],
            b"event: message_delta\ndata: {\"usage\":{\"output_tokens\":5,\"cost\":0.25}}\n\n"
        );
    }
}
