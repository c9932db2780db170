//! Responses API ↔ the canonical [`ir`] form, for providers that do not speak it (Anthropic,
//! Gemini, Bedrock): requests in, whole responses out. The stream is
//! [`crate::protocol::stream::anthropic_to_responses`]. Losses and refusals are listed in the
//! parent module's notes.

use serde_json::{Map, Value, json};

use super::wire::usage_to_wire;
use crate::protocol::ir::{self, Document, Image, ImageSource, Part, Role, StopReason, TextPart, ToolResultPart};

/// Reads a `/v1/responses` body into the IR; errors are messages for a 400.
pub fn request_to_ir(o: &Map<String, Value>) -> Result<ir::Request, String> {
    let get = |k: &str| o.get(k).filter(|v| !v.is_null());
    if get("previous_response_id").is_some() {
        return Err("previous_response_id cannot be used with this model's provider: Tollgate keeps no \
                    conversation for providers that do not store responses themselves; send the whole \
                    conversation in `input`"
            .into());
    }
    if get("conversation").is_some() || get("prompt").is_some() {
        return Err(
            "`conversation` and `prompt` name OpenAI-stored objects, which this model's provider cannot read".into()
        );
    }
    let model = o.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut system: Vec<TextPart> = Vec::new();
    if let Some(i) = get("instructions") {
        let text = i.as_str().ok_or("`instructions` must be a string")?;
        if !text.is_empty() {
            system.push(TextPart::new(text));
        }
    }
    let items: Vec<Value> = match get("input") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("`input` must be a string or an array of input items".into()),
    };
    let mut messages: Vec<ir::Message> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (role, part) = item_to_ir(item).map_err(|e| format!("input.{i}: {e}"))?;
        let Some(role) = role else { continue };
        // Instructions before the conversation starts join the system prompt.
        if role == Role::System && messages.is_empty() {
            system.extend(part.into_iter().filter_map(|p| if let Part::Text(t) = p { Some(t) } else { None }));
            continue;
        }
        match messages.last_mut() {
            // Calls follow their message, results follow each other: one turn each.
            Some(last) if last.role == role && role != Role::System => last.content.extend(part),
            _ => messages.push(ir::Message { role, content: part }),
        }
    }
    let tools = get("tools")
        .map(|t| t.as_array().ok_or("`tools` must be an array"))
        .transpose()?
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, t)| tools_to_ir(t).map_err(|e| format!("tools.{i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let tool_choice = match get("tool_choice") {
        None => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ir::ToolChoice::Auto,
            "none" => ir::ToolChoice::None,
            "required" => ir::ToolChoice::Required,
            other => return Err(format!("unknown tool_choice `{other}`")),
        }),
        Some(c) if c.get("type").and_then(Value::as_str) == Some("function") => Some(ir::ToolChoice::Tool(
            c.get("name").and_then(Value::as_str).ok_or("tool_choice of type `function` needs a `name`")?.to_string(),
        )),
        Some(c) if c.get("type").and_then(Value::as_str) == Some("allowed_tools") => {
            Some(if c.get("mode").and_then(Value::as_str) == Some("required") {
                ir::ToolChoice::Required
            } else {
                ir::ToolChoice::Auto
            })
        }
        Some(c) => {
            let kind = c.get("type").and_then(Value::as_str).unwrap_or("?");
            return Err(format!("tool_choice `{kind}` names a built-in tool this model's provider does not have"));
        }
    };
    let response_format = match o.get("text").and_then(|t| t.get("format")) {
        None | Some(Value::Null) => None,
        Some(f) => Some(match f.get("type").and_then(Value::as_str) {
            Some("text") => ir::ResponseFormat::Text,
            Some("json_object") => ir::ResponseFormat::JsonObject,
            Some("json_schema") => ir::ResponseFormat::JsonSchema {
                name: f.get("name").and_then(Value::as_str).unwrap_or("response").to_string(),
                description: f.get("description").and_then(Value::as_str).map(str::to_string),
                schema: f.get("schema").cloned().ok_or("text.format of type `json_schema` needs a `schema`")?,
                strict: f.get("strict").and_then(Value::as_bool),
            },
            _ => return Err("text.format.type must be text, json_object or json_schema".into()),
        }),
    };
    let effort = match o.get("reasoning").and_then(|r| r.get("effort")) {
        None | Some(Value::Null) => None,
        Some(e) => Some(e.as_str().and_then(ir::Effort::parse).ok_or("reasoning.effort is not a known effort")?),
    };
    let number = |k: &str| get(k).map(|v| v.as_f64().ok_or(format!("`{k}` must be a number"))).transpose();
    let max_tokens = get("max_output_tokens")
        .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("`max_output_tokens` must be a positive integer"))
        .transpose()?;
    Ok(ir::Request {
        model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: get("parallel_tool_calls").and_then(Value::as_bool),
        max_tokens,
        temperature: number("temperature")?,
        top_p: number("top_p")?,
        top_k: None,
        stop: Vec::new(),
        response_format,
        stream: get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: true,
        user: get("safety_identifier").or(get("user")).and_then(Value::as_str).map(str::to_string),
        thinking_budget: None,
        adaptive_thinking: false,
        effort,
    })
}

/// One input item: its role in the conversation and its parts (`None`: left out).
fn item_to_ir(item: &Value) -> Result<(Option<Role>, Vec<Part>), String> {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
    let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(match kind {
        "message" => {
            let role = match item.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("system" | "developer") => Role::System,
                other => return Err(format!("unexpected role {other:?}")),
            };
            let parts = content_to_ir(item.get("content"))?;
            if role == Role::System && !parts.iter().all(|p| matches!(p, Part::Text(_))) {
                return Err("system and developer messages may hold only text".into());
            }
            (Some(role), parts)
        }
        "function_call" => {
            let arguments = text("arguments");
            let input: Value = if arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&arguments).map_err(|_| "function_call arguments must be JSON")?
            };
            if !input.is_object() {
                return Err("function_call arguments must be a JSON object".into());
            }
            (Some(Role::Assistant), vec![Part::ToolUse { id: text("call_id"), name: text("name"), input }])
        }
        "function_call_output" => {
            let content = match item.get("output") {
                Some(Value::String(s)) => vec![ToolResultPart::Text(TextPart::new(s.clone()))],
                Some(Value::Array(_)) => content_to_ir(item.get("output"))?
                    .into_iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(ToolResultPart::Text(t)),
                        Part::Image(i) => Some(ToolResultPart::Image(i)),
                        _ => None,
                    })
                    .collect(),
                _ => return Err("function_call_output needs an `output`".into()),
            };
            (Some(Role::User), vec![Part::ToolResult { tool_use_id: text("call_id"), content, is_error: false }])
        }
        // Reasoning items carry OpenAI's encrypted reasoning, which no other provider reads.
        "reasoning" => (None, Vec::new()),
        other => return Err(format!("input items of type `{other}` cannot be sent to this model's provider")),
    })
}

fn content_to_ir(content: Option<&Value>) -> Result<Vec<Part>, String> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(TextPart::new(s.clone()))]),
        Some(Value::Array(parts)) => parts.iter().map(part_to_ir).collect(),
        Some(_) => Err("`content` must be a string or an array of content parts".into()),
    }
}

fn part_to_ir(p: &Value) -> Result<Part, String> {
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    Ok(match s("type") {
        Some("input_text" | "output_text" | "text") => Part::Text(TextPart::new(s("text").unwrap_or_default())),
        Some("refusal") => Part::Text(TextPart::new(s("refusal").unwrap_or_default())),
        Some("input_image") => match s("image_url") {
            Some(url) => Part::Image(Image { source: ImageSource::from_url(url), cache_control: None }),
            None => return Err("input_image needs an `image_url` (a `file_id` names OpenAI storage)".into()),
        },
        Some("input_file") => {
            let data =
                s("file_data").ok_or("input_file needs inline `file_data` (a `file_id` names OpenAI storage)")?;
            let (media_type, data) = match ImageSource::from_url(data) {
                ImageSource::Base64 { media_type, data } => (media_type, data),
                ImageSource::Url(_) => ("application/pdf".to_string(), data.to_string()),
            };
            if media_type != "application/pdf" {
                return Err(format!("input_file of type {media_type} cannot be sent; only PDFs can"));
            }
            Part::Document(Document { media_type, data, title: s("filename").map(str::to_string), cache_control: None })
        }
        other => return Err(format!("content parts of type {other:?} cannot be sent to this model's provider")),
    })
}

/// A tool as function tools: itself, or a `namespace`'s functions (offered by their names).
fn tools_to_ir(t: &Value) -> Result<Vec<ir::Tool>, String> {
    match t.get("type").and_then(Value::as_str) {
        Some("namespace") => t.get("tools").and_then(Value::as_array).into_iter().flatten().map(tool_to_ir).collect(),
        _ => Ok(vec![tool_to_ir(t)?]),
    }
}

fn tool_to_ir(t: &Value) -> Result<ir::Tool, String> {
    match t.get("type").and_then(Value::as_str) {
        Some("function") => Ok(ir::Tool {
            name: t.get("name").and_then(Value::as_str).ok_or("a function tool needs a `name`")?.to_string(),
            description: t.get("description").and_then(Value::as_str).map(str::to_string),
            input_schema: t.get("parameters").filter(|p| !p.is_null()).cloned().unwrap_or(json!({"type": "object"})),
            cache_control: None,
        }),
        Some(other) => Err(format!(
            "the built-in tool `{other}` runs only on OpenAI and Azure OpenAI providers; this model's provider \
             cannot run it (offer it as a function tool, or leave it out)"
        )),
        None => Err("a tool needs a `type`".into()),
    }
}

/// The IR as a whole Responses-API response; `created` is the Unix time to stamp.
pub fn response_from_ir(r: &ir::Response, created: i64) -> Value {
    let incomplete = r.stop_reason == Some(StopReason::MaxTokens);
    json!({
        "id": response_id(&r.id), "object": "response", "created_at": created,
        "status": if incomplete { "incomplete" } else { "completed" },
        "incomplete_details": if incomplete { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "error": null, "model": r.model, "output": output_items(&r.content, &r.id),
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "store": false,
        "usage": usage_to_wire(&r.usage),
    })
}

/// A Responses id for a provider's message id.
pub fn response_id(message_id: &str) -> String {
    format!("resp_{}", ir::sanitize_tool_id(message_id))
}

/// Output items: thinking as `reasoning` items (their summary text; signatures cannot go
/// back), text as one `message`, tool calls as `function_call` items, in order.
pub fn output_items(content: &[Part], id: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut text: Option<usize> = None;
    for (n, p) in content.iter().enumerate() {
        match p {
            Part::Thinking { thinking, .. } if !thinking.is_empty() => out.push(json!({
                "type": "reasoning", "id": format!("rs_{id}_{n}"),
                "summary": [{"type": "summary_text", "text": thinking}],
            })),
            Part::Text(t) => match text {
                Some(i) => {
                    let joined = format!("{}{}", out[i]["content"][0]["text"].as_str().unwrap_or(""), t.text);
                    out[i]["content"][0]["text"] = joined.into();
                }
                None => {
                    text = Some(out.len());
                    out.push(json!({"type": "message", "id": format!("msg_{id}"), "status": "completed",
                        "role": "assistant", "content": [{"type": "output_text", "text": t.text, "annotations": []}]}));
                }
            },
            Part::ToolUse { id: call, name, input } => out.push(json!({
                "type": "function_call", "id": format!("fc_{call}"), "call_id": call, "name": name,
                "arguments": input.to_string(), "status": "completed",
            })),
            _ => {}
        }
    }
    out
}
