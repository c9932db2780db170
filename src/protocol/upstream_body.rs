//! The body sent upstream for one route: the client's body (or its conversion for the route's
//! protocol) with the route's `model` and, on OpenAI chat streams, usage requested. Written
//! straight from the stored body with those fields substituted, so an attempt never
//! deep-copies the request (which may carry megabytes of base64 images).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::Protocol;

/// `body` as a body of `protocol` for `model`. OpenAI and Anthropic name the model in the body;
/// Gemini and Bedrock in the URL (`providers/`), so theirs is left as it is. `chat_stream`: the
/// call streams chat completions, where an OpenAI provider reports usage only when asked
/// (`stream_options.include_usage`, always asked: the gateway bills on it, and the relay
/// strips it again if the client did not ask).
pub fn upstream_body(protocol: Protocol, body: &Map<String, Value>, model: &str, chat_stream: bool) -> Vec<u8> {
    let outgoing = Outgoing {
        body,
        model: matches!(protocol, Protocol::OpenAi | Protocol::Anthropic).then_some(model),
        force_usage: protocol == Protocol::OpenAi && chat_stream,
    };
    serde_json::to_vec(&outgoing).expect("a JSON map serializes")
}

/// A body as sent upstream: `body` with `model` set (when given) and, when `force_usage`,
/// `stream_options.include_usage` true (added, or replacing a non-object `stream_options`).
struct Outgoing<'a> {
    body: &'a Map<String, Value>,
    model: Option<&'a str>,
    force_usage: bool,
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.body {
            match k.as_str() {
                "model" if self.model.is_some() => continue,
                "stream_options" if self.force_usage => continue,
                _ => m.serialize_entry(k, v)?,
            }
        }
        if let Some(model) = self.model {
            m.serialize_entry("model", model)?;
        }
        if self.force_usage {
            let given = self.body.get("stream_options").and_then(Value::as_object);
            m.serialize_entry("stream_options", &WithUsage(given))?;
        }
        m.end()
    }
}

/// The client's `stream_options` (if an object) with `include_usage: true`.
struct WithUsage<'a>(Option<&'a Map<String, Value>>);

impl Serialize for WithUsage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.into_iter().flatten().filter(|(k, _)| k.as_str() != "include_usage") {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("include_usage", &true)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Outgoing, upstream_body};
    use crate::protocol::Protocol;

    fn out(body: Value, model: Option<&str>, force_usage: bool) -> Value {
        let body = body.as_object().unwrap();
        serde_json::from_slice(&serde_json::to_vec(&Outgoing { body, model, force_usage }).unwrap()).unwrap()
    }

    #[test]
    fn the_route_model_replaces_or_joins_the_body() {
        let body = json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}], "x": {"y": 1}});
        let expected = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "x": {"y": 1}});
        assert_eq!(out(body.clone(), Some("gpt-4o"), false), expected);
        assert_eq!(out(json!({"contents": []}), Some("m"), false), json!({"contents": [], "model": "m"}));
        assert_eq!(out(body.clone(), None, false), body);
    }

    #[test]
    fn streams_always_ask_for_usage_keeping_other_options() {
        let cases = [
            (json!({"stream": true}), json!({"include_usage": true})),
            (json!({"stream_options": {"include_usage": false, "z": 2}}), json!({"include_usage": true, "z": 2})),
            (json!({"stream_options": "odd"}), json!({"include_usage": true})),
        ];
        for (body, options) in cases {
            let sent = out(body, Some("m"), true);
            assert_eq!(sent["stream_options"], options);
            assert_eq!(sent["model"], "m");
        }
    }

    #[test]
    fn upstream_body_rewrites_model_and_forces_usage_on_streams() {
        let send = |body: Value, protocol, model, chat_stream| -> Value {
            serde_json::from_slice(&upstream_body(protocol, body.as_object().unwrap(), model, chat_stream)).unwrap()
        };
        let body = json!({"model":"alias","stream":true,"custom":{"a":[1,2]},"temperature":0.3});
        let out = send(body.clone(), Protocol::OpenAi, "real-model", true);
        assert_eq!(out["model"], "real-model");
        assert_eq!(out["stream_options"]["include_usage"], true);
        assert_eq!(out["custom"]["a"][1], 2);
        assert_eq!(out["temperature"], 0.3);
        let out = send(json!({"model":"a"}), Protocol::OpenAi, "b", false);
        assert!(out.get("stream_options").is_none());
        // Only OpenAI is asked for usage; Gemini and Bedrock name the model in the URL.
        assert!(send(body.clone(), Protocol::Anthropic, "c", true).get("stream_options").is_none());
        assert_eq!(send(body.clone(), Protocol::Anthropic, "c", true)["model"], "c");
        assert_eq!(send(json!({"contents": []}), Protocol::Gemini, "g", true), json!({"contents": []}));
        assert_eq!(send(json!({"messages": []}), Protocol::Bedrock, "b", false), json!({"messages": []}));
    }
}
