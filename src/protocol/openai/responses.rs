//! The OpenAI Responses API (`POST /v1/responses`): the fields the gateway reads of a request,
//! and the usage of a response or of its stream (`response.completed`, `response.incomplete`
//! or `response.failed` carry the whole response, usage included). To OpenAI-protocol
//! providers (`openai`, `azure-openai`) a request passes through with only `model` rewritten,
//! and the stream is relayed event by event.
//!
//! Usage: `input_tokens` includes `input_tokens_details.cached_tokens` (as Chat Completions'
//! `prompt_tokens` does), `output_tokens` includes `output_tokens_details.reasoning_tokens`.
//!
//! To other providers (Anthropic, Gemini, Bedrock) a request is converted through the
//! canonical form (`convert.rs`; the stream by `stream::anthropic_to_responses`):
//! `instructions` and leading `system`/`developer` messages → the system prompt, later ones →
//! system messages in place (each provider's form, see `anthropic`); messages, `input_image`
//! (URLs and data URLs), `input_file` PDFs, `function_call` → tool use,
//! `function_call_output` → tool results; function tools (a `namespace`'s functions offered
//! by their own names: a call comes back naming the function only), `tool_choice` (`allowed_tools` →
//! auto or required), `parallel_tool_calls`, `text.format` (json_schema, json_object),
//! `reasoning.effort`, `max_output_tokens`, `temperature`, `top_p`, `safety_identifier` /
//! `user`.
//!
//! Deliberate losses on converted routes: `reasoning` input items (OpenAI's encrypted
//! reasoning, which no other provider can read) are dropped; `include`, `store`,
//! `prompt_cache_key`, `metadata`, `client_metadata`, `truncation`, `service_tier`,
//! `background`, `text.verbosity`, `reasoning.summary` are dropped; thinking comes back as
//! `reasoning` items with its text as the summary, without signatures (a Responses client
//! can only send OpenAI's encrypted reasoning back). `store: true` (the API's default) stores
//! nothing: Tollgate keeps no conversations, so a converted response cannot be fetched by
//! `GET /v1/responses/{id}` or continued by `previous_response_id`.
//!
//! Refused on converted routes (a 400 naming the field): `previous_response_id`,
//! `conversation` and `prompt` (OpenAI-stored objects), built-in tools (`web_search`,
//! `file_search`, `computer_use_preview`, `code_interpreter`, `image_generation`, `mcp`,
//! `local_shell`, ...) and a `tool_choice` naming one, input items other than messages,
//! function calls, their outputs and reasoning, `file_id` images and files, non-PDF files.

mod convert;
mod wire;

use serde_json::{Map, Value, json};

pub use self::convert::{output_items, request_to_ir, response_from_ir, response_id};
pub use self::wire::{usage_from_wire, usage_to_wire};
use crate::billing::pricing::Usage;

/// What the gateway reads of a `/v1/responses` body before routing it.
#[derive(Debug)]
pub struct Envelope {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
}

/// Checks `model` (a string), `input` (a string or an array, when given) and `stream`.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, String> {
    let body = super::super::json_object(bytes)?;
    let model = super::super::model_of(&body).map_err(|e| format!("`model` {e}"))?;
    let stream = super::super::stream_flag(&body).map_err(|e| format!("`stream` {e}"))?;
    match body.get("input") {
        None | Some(Value::String(_) | Value::Array(_)) => {}
        Some(_) => return Err("`input` must be a string or an array of input items".into()),
    }
    Ok(Envelope { body, model, stream })
}

/// The id of a Responses object the provider stored (`store` is not `false`: the API stores
/// by default), which `GET /responses/{id}` can read back.
pub fn stored_id(response: &Value) -> Option<String> {
    if response.get("store").and_then(Value::as_bool) == Some(false) {
        return None;
    }
    response.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_string)
}

/// The usage of a whole (non-streamed) response body.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    usage_of_response(&v)
}

/// A Responses object's usage, with the service tier it names.
fn usage_of_response(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object()).map(usage_from_wire)?;
    Some(Usage { service_tier: super::service_tier_of(v), ..u })
}

/// Bytes of generated text in a whole response: message text, refusals, reasoning summaries
/// and function-call arguments (what an answer without usage is charged by).
pub fn answer_output_bytes(body: &[u8]) -> usize {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return 0 };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map_or(0, str::len);
    let items = v.get("output").and_then(Value::as_array).into_iter().flatten();
    items
        .map(|item| {
            let parts = ["content", "summary"]
                .iter()
                .filter_map(|k| item.get(*k).and_then(Value::as_array))
                .flatten()
                .map(|p| text(p, "text") + text(p, "refusal"))
                .sum::<usize>();
            parts + text(item, "arguments")
        })
        .sum()
}

/// How a stream event bears on the call.
#[derive(Debug, PartialEq)]
pub enum StreamEvent {
    /// Content or bookkeeping; `output_bytes` of generated text it carries.
    Progress { output_bytes: usize },
    /// The last event: the response is complete (or stopped at the token limit), with its usage.
    Done { usage: Option<Usage> },
    /// The response failed, or the stream reported an error: the message.
    Failed { message: String, usage: Option<Usage> },
}

/// Reads one stream event's data.
pub fn stream_event(v: &Value) -> StreamEvent {
    let usage = || v.get("response").and_then(usage_of_response);
    match v.get("type").and_then(Value::as_str) {
        Some("response.completed" | "response.incomplete") => StreamEvent::Done { usage: usage() },
        Some("response.failed") => {
            let message = v.pointer("/response/error/message").and_then(Value::as_str).unwrap_or("the response failed");
            StreamEvent::Failed { message: message.to_string(), usage: usage() }
        }
        Some("error") => {
            let message = v.get("message").or(v.pointer("/error/message")).and_then(Value::as_str).unwrap_or("");
            StreamEvent::Failed { message: format!("the provider's stream reported an error: {message}"), usage: None }
        }
        Some(
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta"
            | "response.reasoning_text.delta"
            | "response.refusal.delta",
        ) => StreamEvent::Progress { output_bytes: v.get("delta").and_then(Value::as_str).map_or(0, str::len) },
        _ => StreamEvent::Progress { output_bytes: 0 },
    }
}

/// The in-band error event a Responses stream ends with when the gateway gives up on it.
pub fn stream_error_event(message: &str) -> String {
    let data = json!({"type": "error", "code": "server_error", "message": message, "param": null});
    format!("event: error\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_keeps_cached_tokens_apart_both_ways() {
        let wire = json!({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": 500, "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 1500});
        let u = usage_from_wire(&wire);
        assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens, u.reasoning_tokens), (800, 200, 500, 40));
        assert_eq!(usage_to_wire(&u), wire);
        assert_eq!(usage_of(br#"{"id":"r","usage":{"input_tokens":3,"output_tokens":1}}"#).unwrap().input_tokens, 3);
        assert!(usage_of(br#"{"id":"r","usage":null}"#).is_none());
    }

    #[test]
    fn stored_ids_are_those_not_stored_false() {
        assert_eq!(stored_id(&json!({"id": "resp_1", "store": true})).as_deref(), Some("resp_1"));
        assert_eq!(stored_id(&json!({"id": "resp_1"})).as_deref(), Some("resp_1"), "stored by default");
        assert_eq!(stored_id(&json!({"id": "resp_1", "store": false})), None);
        assert_eq!(stored_id(&json!({"id": ""})), None);
    }

    #[test]
    fn stream_events_end_the_call_or_count_its_output() {
        let done =
            json!({"type": "response.completed", "response": {"usage": {"input_tokens": 5, "output_tokens": 2}}});
        assert!(matches!(stream_event(&done), StreamEvent::Done { usage: Some(u) } if u.output_tokens == 2));
        let delta = json!({"type": "response.output_text.delta", "delta": "héllo"});
        assert_eq!(stream_event(&delta), StreamEvent::Progress { output_bytes: 6 });
        let failed = json!({"type": "response.failed", "response": {"error": {"message": "boom"}}});
        assert!(matches!(stream_event(&failed), StreamEvent::Failed { message, .. } if message == "boom"));
        let error = json!({"type": "error", "message": "overloaded"});
        assert!(matches!(stream_event(&error), StreamEvent::Failed { message, .. } if message.ends_with("overloaded")));
    }

    #[test]
    fn a_codex_style_request_converts_and_built_in_tools_and_stored_state_are_refused() {
        let body = json!({
            "model": "claude-x", "instructions": "Be Codex.", "stream": true, "store": false,
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: read-only."}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "cat notes"}]},
                {"type": "reasoning", "id": "rs_1", "encrypted_content": "opaque"},
                {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"cat notes\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "canary"},
                {"type": "message", "role": "developer", "content": "Now answer."}
            ],
            "tools": [{"type": "function", "name": "exec_command", "parameters": {"type": "object"}}],
            "tool_choice": "auto", "reasoning": {"effort": "high", "summary": "auto"},
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
            "max_output_tokens": 500
        });
        let r = request_to_ir(body.as_object().unwrap()).unwrap();
        let system: Vec<&str> = r.system.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(system, ["Be Codex.", "Sandbox: read-only."]);
        let roles: Vec<crate::protocol::ir::Role> = r.messages.iter().map(|m| m.role).collect();
        use crate::protocol::ir::Role;
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::System]);
        assert!(matches!(&r.messages[1].content[0], crate::protocol::ir::Part::ToolUse { id, input, .. }
            if id == "call_1" && input["cmd"] == "cat notes"));
        assert_eq!(r.effort, Some(crate::protocol::ir::Effort::High));
        assert_eq!(r.max_tokens, Some(500));
        assert!(matches!(
            r.response_format,
            Some(crate::protocol::ir::ResponseFormat::JsonSchema { strict: Some(true), .. })
        ));
        let refused = |patch: Value| {
            let mut b = body.clone();
            for (k, v) in patch.as_object().unwrap() {
                b[k] = v.clone();
            }
            request_to_ir(b.as_object().unwrap()).unwrap_err()
        };
        assert!(refused(json!({"tools": [{"type": "web_search"}]})).contains("built-in tool `web_search`"));
        assert!(refused(json!({"previous_response_id": "resp_1"})).contains("previous_response_id"));
        assert!(refused(json!({"input": [{"type": "web_search_call", "id": "ws"}]})).contains("web_search_call"));
    }

    #[test]
    fn a_converted_response_has_the_responses_shape() {
        use crate::protocol::ir::{Part, Response, StopReason, TextPart};
        let r = Response {
            id: "msg_1".into(),
            model: "claude-x".into(),
            content: vec![
                Part::Thinking { thinking: "hmm".into(), signature: Some("sig".into()) },
                Part::Text(TextPart::new("Hello")),
                Part::ToolUse { id: "toolu_1".into(), name: "get".into(), input: json!({"a": 1}) },
            ],
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Usage { input_tokens: 8, cached_tokens: 2, output_tokens: 3, ..Usage::default() },
        };
        let v = response_from_ir(&r, 9);
        assert_eq!((v["id"].as_str(), v["status"].as_str()), (Some("resp_msg_1"), Some("completed")));
        let kinds: Vec<&str> = v["output"].as_array().unwrap().iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
        assert_eq!(v["output"][1]["content"][0]["text"], "Hello");
        assert_eq!(v["output"][2]["arguments"], "{\"a\":1}");
        assert_eq!(v["usage"]["input_tokens"], 10);
    }

    #[test]
    fn envelopes_need_a_model_and_take_string_or_item_input() {
        let e = parse_envelope(br#"{"model": "gpt-5", "input": "hi", "stream": true}"#).unwrap();
        assert_eq!((e.model.as_str(), e.stream), ("gpt-5", true));
        assert!(parse_envelope(br#"{"input": "hi"}"#).is_err());
        assert!(parse_envelope(br#"{"model": "m", "input": 3}"#).unwrap_err().contains("input"));
    }
}
