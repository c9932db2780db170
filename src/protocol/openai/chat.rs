//! OpenAI Chat Completions ↔ the canonical [`ir`] form: requests, responses, finish
//! reasons and usage. Used when the inbound dialect and the provider's protocol differ;
//! same-dialect traffic never comes here (it passes through, see the parent module).
//!
//! Deliberate losses, OpenAI request → IR (→ Anthropic):
//! - Dropped (no Anthropic equivalent; the answer keeps its meaning): `frequency_penalty`,
//!   `presence_penalty`, `logit_bias`, `seed`, `store`, `metadata`, `service_tier`,
//!   `reasoning_effort`, `verbosity`, `prediction`, `prompt_cache_key`, message `name`,
//!   image `detail`, tool `strict`.
//! - System and developer messages anywhere in the conversation are hoisted, in order, into
//!   the one top-level system prompt.
//! - Rejected (a 400 with this module's message): `n` > 1, `logprobs` / `top_logprobs`,
//!   audio output, `web_search_options`, deprecated `functions` / `function_call`, audio
//!   parts, file parts other than inline PDFs (a `file_id` names OpenAI storage), non-function tools, tool-call arguments that are not a JSON object;
//!   `response_format: json_object` when the target is Anthropic (see `anthropic`).
//!
//! Deliberate losses, IR → OpenAI request (from Anthropic):
//! - Dropped: `top_k`, prior thinking blocks in assistant turns (OpenAI cannot take
//!   reasoning back), `cache_control` markers, tool-result `is_error` (the result text still
//!   says what went wrong).
//! - Thinking (a budget, adaptive) and `output_config.effort` become `reasoning_effort` for
//!   OpenAI reasoning models (o-series, `gpt-5*`): the effort given, else the budget's level
//!   (≤1024 minimal, ≤4096 low, ≤16384 medium, more high; `max` is `high`); adaptive alone
//!   leaves the model's default. Other models take no reasoning setting: dropped. The
//!   thinking text itself is not returned (Chat Completions does not show it).
//! - System-role messages inside the conversation stay in place as `system` messages.
//! - Images inside a tool result move into a user message right after the tool messages,
//!   because OpenAI tool messages carry text only.
//! - `max_tokens` is sent as `max_completion_tokens` (the current OpenAI name; legacy
//!   OpenAI-compatible servers that only know `max_tokens` need the adapter to rename it).
//!
//! Responses: OpenAI usage cannot express cache writes, so IR → OpenAI counts them inside
//! `prompt_tokens` (they are prompt tokens) and OpenAI → IR has none. OpenAI does not say
//! which stop sequence matched, so `stop` maps to `end_turn`.

mod from_ir;
mod wire;

use serde_json::{Map, Value, json};

pub use self::from_ir::{request_from_ir, response_from_ir};
pub use self::wire::{finish_reason_from_wire, finish_reason_to_wire, usage_from_wire, usage_to_wire};
use crate::billing::pricing::Usage;
use crate::protocol::ir::{self, ImageSource, Part, Role, StopReason, TextPart, ToolResultPart};

// ---------------------------------------------------------------------------------------
// Requests

/// Parses a Chat Completions body into the IR; errors are messages for a 400.
pub fn parse_request(bytes: &[u8]) -> Result<ir::Request, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => request_to_ir(&m),
        Ok(_) => Err("the request body must be a JSON object".into()),
        Err(e) => Err(format!("the request body is not valid JSON: {e}")),
    }
}

fn get_str<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn present(o: &Map<String, Value>, k: &str) -> bool {
    !matches!(o.get(k), None | Some(Value::Null))
}

fn opt_u32(o: &Map<String, Value>, k: &str) -> Result<Option<u32>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or(format!("`{k}` must be a positive integer"))
        }
    }
}

fn opt_f64(o: &Map<String, Value>, k: &str) -> Result<Option<f64>, String> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(format!("`{k}` must be a number")),
    }
}

pub fn request_to_ir(o: &Map<String, Value>) -> Result<ir::Request, String> {
    let model = get_str(o, "model").filter(|m| !m.trim().is_empty()).ok_or("you must provide a model parameter")?;
    if o.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err("`n` greater than 1 is not supported by this model's provider".into());
    }
    if o.get("logprobs").and_then(Value::as_bool) == Some(true) || present(o, "top_logprobs") {
        return Err("`logprobs` is not supported by this model's provider".into());
    }
    if present(o, "audio")
        || o.get("modalities").and_then(Value::as_array).is_some_and(|m| m.iter().any(|x| x == "audio"))
    {
        return Err("audio output is not supported by this model's provider".into());
    }
    for k in ["web_search_options", "functions", "function_call"] {
        if present(o, k) {
            return Err(format!("`{k}` is not supported by this model's provider"));
        }
    }
    let mut system = Vec::new();
    let mut messages: Vec<ir::Message> = Vec::new();
    let Some(Value::Array(wire)) = o.get("messages") else { return Err("`messages` must be an array".into()) };
    for (i, m) in wire.iter().enumerate() {
        message_to_ir(m, &mut system, &mut messages).map_err(|e| format!("messages.{i}: {e}"))?;
    }
    let tools = match o.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ts)) => ts
            .iter()
            .enumerate()
            .map(|(i, t)| tool_to_ir(t).map_err(|e| format!("tools.{i}: {e}")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`tools` must be an array".into()),
    };
    let tool_choice = match o.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ir::ToolChoice::Auto,
            "none" => ir::ToolChoice::None,
            "required" => ir::ToolChoice::Required,
            other => return Err(format!("unknown tool_choice `{other}`")),
        }),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) if v.get("type") == Some(&json!("function")) => Some(ir::ToolChoice::Tool(name.to_string())),
            _ => return Err("tool_choice must be none, auto, required or a function".into()),
        },
    };
    let stop = match o.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string).ok_or("`stop` entries must be strings"))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`stop` must be a string or an array of strings".into()),
    };
    let response_format = match o.get("response_format") {
        None | Some(Value::Null) => None,
        Some(f) => Some(match f.get("type").and_then(Value::as_str) {
            Some("text") => ir::ResponseFormat::Text,
            Some("json_object") => ir::ResponseFormat::JsonObject,
            Some("json_schema") => {
                let s = f.get("json_schema").ok_or("response_format.json_schema is missing")?;
                ir::ResponseFormat::JsonSchema {
                    name: s.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
                    description: s.get("description").and_then(Value::as_str).map(str::to_string),
                    schema: s.get("schema").cloned().unwrap_or_else(|| json!({})),
                    strict: s.get("strict").and_then(Value::as_bool),
                }
            }
            _ => return Err("response_format.type must be text, json_object or json_schema".into()),
        }),
    };
    let stream = match o.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`stream` must be a boolean".into()),
    };
    Ok(ir::Request {
        model: model.to_string(),
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: o.get("parallel_tool_calls").and_then(Value::as_bool),
        max_tokens: opt_u32(o, "max_completion_tokens")?.or(opt_u32(o, "max_tokens")?),
        temperature: opt_f64(o, "temperature")?,
        top_p: opt_f64(o, "top_p")?,
        top_k: None,
        stop,
        response_format,
        stream,
        include_usage: o.get("stream_options").and_then(|s| s.get("include_usage")).and_then(Value::as_bool)
            == Some(true),
        user: get_str(o, "user").or(get_str(o, "safety_identifier")).map(str::to_string),
        thinking_budget: None,
        adaptive_thinking: false,
        effort: None,
    })
}

/// Text of a `content` that may only hold text parts (system, tool, assistant messages).
fn text_parts(content: Option<&Value>) -> Result<Vec<TextPart>, String> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(if s.is_empty() { Vec::new() } else { vec![TextPart::new(s.clone())] }),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Some(
                    p.get("text").and_then(Value::as_str).map(TextPart::new).ok_or("a text part needs `text`".into()),
                ),
                Some("refusal") => p.get("refusal").and_then(Value::as_str).map(|t| Ok(TextPart::new(t))),
                Some(other) => Some(Err(format!("content parts of type `{other}` are not allowed here"))),
                None => Some(Err("a content part needs a `type`".into())),
            })
            .filter(|r| !matches!(r, Ok(t) if t.text.is_empty()))
            .collect(),
        Some(_) => Err("`content` must be a string or an array".into()),
    }
}

fn message_to_ir(m: &Value, system: &mut Vec<TextPart>, out: &mut Vec<ir::Message>) -> Result<(), String> {
    let Value::Object(m) = m else { return Err("a message must be an object".into()) };
    match get_str(m, "role") {
        Some("system" | "developer") => system.extend(text_parts(m.get("content"))?),
        Some("user") => {
            let content = match m.get("content") {
                Some(Value::String(s)) => vec![Part::Text(TextPart::new(s.clone()))],
                Some(Value::Array(parts)) => parts.iter().map(user_part_to_ir).collect::<Result<_, _>>()?,
                _ => return Err("user `content` must be a string or an array".into()),
            };
            out.push(ir::Message { role: Role::User, content });
        }
        Some("assistant") => {
            let mut content = Vec::new();
            match m.get("thinking_blocks") {
                Some(Value::Array(blocks)) => {
                    for b in blocks {
                        content.push(thinking_block_to_ir(b)?);
                    }
                }
                _ => {
                    if let Some(r) = get_str(m, "reasoning_content").filter(|r| !r.is_empty()) {
                        content.push(Part::Thinking { thinking: r.to_string(), signature: None });
                    }
                }
            }
            content.extend(text_parts(m.get("content"))?.into_iter().map(Part::Text));
            if let Some(r) = get_str(m, "refusal").filter(|r| !r.is_empty()) {
                content.push(Part::Text(TextPart::new(r)));
            }
            if present(m, "function_call") {
                return Err("`function_call` is deprecated and not supported here; use `tool_calls`".into());
            }
            if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                for (j, c) in calls.iter().enumerate() {
                    content.push(tool_call_to_ir(c).map_err(|e| format!("tool_calls.{j}: {e}"))?);
                }
            }
            out.push(ir::Message { role: Role::Assistant, content });
        }
        Some("tool") => {
            let tool_use_id = get_str(m, "tool_call_id").ok_or("a tool message needs `tool_call_id`")?.to_string();
            let content = text_parts(m.get("content"))?.into_iter().map(ToolResultPart::Text).collect();
            let part = Part::ToolResult { tool_use_id, content, is_error: false };
            // Consecutive tool messages answer one assistant turn: one user message holds them.
            match out.last_mut() {
                Some(last)
                    if last.role == Role::User && last.content.iter().all(|p| matches!(p, Part::ToolResult { .. })) =>
                {
                    last.content.push(part)
                }
                _ => out.push(ir::Message { role: Role::User, content: vec![part] }),
            }
        }
        Some(other) => return Err(format!("role `{other}` is not supported")),
        None => return Err("a message needs a `role`".into()),
    }
    Ok(())
}

fn user_part_to_ir(p: &Value) -> Result<Part, String> {
    match p.get("type").and_then(Value::as_str) {
        Some("text") => {
            Ok(Part::Text(TextPart::new(p.get("text").and_then(Value::as_str).ok_or("a text part needs `text`")?)))
        }
        Some("image_url") => {
            let url = p
                .get("image_url")
                .and_then(|i| i.get("url").or(Some(i)))
                .and_then(Value::as_str)
                .ok_or("an image_url part needs `image_url.url`")?;
            Ok(Part::Image(ir::Image { source: ImageSource::from_url(url), cache_control: None }))
        }
        Some("file") => {
            let f = p.get("file").ok_or("a file part needs `file`")?;
            let url = f
                .get("file_data")
                .and_then(Value::as_str)
                .ok_or("only inline files (`file.file_data`) can be sent to this model's provider")?;
            match ImageSource::from_url(url) {
                ImageSource::Base64 { media_type, data } if media_type == "application/pdf" => {
                    Ok(Part::Document(ir::Document {
                        media_type,
                        data,
                        title: f.get("filename").and_then(Value::as_str).map(str::to_string),
                        cache_control: None,
                    }))
                }
                _ => Err("`file.file_data` must be a base64 PDF data URL".into()),
            }
        }
        Some(other) => Err(format!("content parts of type `{other}` are not supported by this model's provider")),
        None => Err("a content part needs a `type`".into()),
    }
}

/// A LiteLLM-style `thinking_blocks` entry: the Anthropic block, signature included, so
/// clients can hand reasoning back across turns.
fn thinking_block_to_ir(b: &Value) -> Result<Part, String> {
    match b.get("type").and_then(Value::as_str) {
        Some("thinking") => Ok(Part::Thinking {
            thinking: b.get("thinking").and_then(Value::as_str).unwrap_or("").to_string(),
            signature: b.get("signature").and_then(Value::as_str).map(str::to_string),
        }),
        Some("redacted_thinking") => Ok(Part::RedactedThinking {
            data: b.get("data").and_then(Value::as_str).ok_or("a redacted_thinking block needs `data`")?.to_string(),
        }),
        _ => Err("thinking_blocks entries must be thinking or redacted_thinking blocks".into()),
    }
}

fn tool_call_to_ir(c: &Value) -> Result<Part, String> {
    if c.get("type").and_then(Value::as_str).is_some_and(|t| t != "function") {
        return Err("only function tool calls are supported".into());
    }
    let id = c.get("id").and_then(Value::as_str).ok_or("a tool call needs an `id`")?;
    let name = c.pointer("/function/name").and_then(Value::as_str).ok_or("a tool call needs `function.name`")?;
    let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("");
    Ok(Part::ToolUse { id: id.to_string(), name: name.to_string(), input: parse_arguments(args)? })
}

/// Tool-call arguments as a JSON object; empty arguments mean no arguments.
pub fn parse_arguments(args: &str) -> Result<Value, String> {
    if args.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err("tool call arguments must be a JSON object".into()),
    }
}

fn tool_to_ir(t: &Value) -> Result<ir::Tool, String> {
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err("only tools of type `function` are supported by this model's provider".into());
    }
    let f = t.get("function").ok_or("a tool needs `function`")?;
    Ok(ir::Tool {
        name: f.get("name").and_then(Value::as_str).ok_or("a tool needs `function.name`")?.to_string(),
        description: f.get("description").and_then(Value::as_str).map(str::to_string),
        input_schema: f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        cache_control: None,
    })
}

// ---------------------------------------------------------------------------------------
// Responses

/// Parses a non-streamed chat completion into the IR (its first choice: the gateway never
/// asks a provider for more than one when converting).
pub fn parse_response(bytes: &[u8]) -> Result<ir::Response, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("the provider's response is not JSON: {e}"))?;
    response_to_ir(&v)
}

pub fn response_to_ir(v: &Value) -> Result<ir::Response, String> {
    let choice = v.pointer("/choices/0").ok_or("the provider's response has no choices")?;
    let msg = choice.get("message").ok_or("the provider's response has no message")?;
    let Value::Object(m) = msg else { return Err("the provider's message is not an object".into()) };
    let mut system = Vec::new();
    let mut out = Vec::new();
    let mut m = m.clone();
    m.insert("role".into(), "assistant".into());
    message_to_ir(&Value::Object(m.clone()), &mut system, &mut out)
        .map_err(|e| format!("the provider's message: {e}"))?;
    let content = out.pop().map(|m| m.content).unwrap_or_default();
    let refused = get_str(&m, "refusal").is_some_and(|r| !r.is_empty());
    let stop_reason = match choice.get("finish_reason").and_then(Value::as_str).and_then(finish_reason_from_wire) {
        Some(StopReason::EndTurn) if refused => Some(StopReason::Refusal),
        r => r,
    };
    Ok(ir::Response {
        id: v.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
        model: v.get("model").and_then(Value::as_str).unwrap_or("").to_string(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: v
            .get("usage")
            .and_then(usage_from_wire)
            .map(|u| Usage { service_tier: super::service_tier_of(v), ..u })
            .unwrap_or_default(),
    })
}

/// The OpenAI error `type` for an HTTP status.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        429 => "rate_limit_exceeded",
        _ => "api_error",
    }
}

/// An error body in the OpenAI shape.
pub fn error_body(message: &str, kind: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

#[cfg(test)]
mod tests;
