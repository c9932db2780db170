//! The canonical [`ir`] form → OpenAI Chat Completions: request bodies for OpenAI-protocol
//! providers and response bodies for OpenAI clients. Losses are listed in the parent module.

use serde_json::{Map, Value, json};

use super::wire::{finish_reason_to_wire, usage_to_wire};
use crate::protocol::ir::{self, Part, Role, TextPart, ToolResultPart};

fn text_content(parts: &[&TextPart]) -> Value {
    match parts {
        [one] => Value::String(one.text.clone()),
        many => Value::Array(many.iter().map(|t| json!({"type": "text", "text": t.text})).collect()),
    }
}

fn image_part(i: &ir::Image) -> Value {
    json!({"type": "image_url", "image_url": {"url": i.source.to_url()}})
}

/// The IR as a Chat Completions body for an OpenAI-protocol provider.
pub fn request_from_ir(r: &ir::Request) -> Value {
    let mut messages = Vec::new();
    if !r.system.is_empty() {
        messages.push(json!({"role": "system", "content": text_content(&r.system.iter().collect::<Vec<_>>())}));
    }
    for m in &r.messages {
        match m.role {
            Role::User => user_to_wire(&m.content, &mut messages),
            // An instruction given mid-conversation stays where it was given.
            Role::System => {
                let texts: Vec<&TextPart> = m.texts().collect();
                if !texts.is_empty() {
                    messages.push(json!({"role": "system", "content": text_content(&texts)}));
                }
            }
            Role::Assistant => {
                if let Some(msg) = assistant_message(&m.content, false) {
                    messages.push(msg)
                }
            }
        }
    }
    let mut o = Map::new();
    o.insert("model".into(), r.model.clone().into());
    o.insert("messages".into(), messages.into());
    if let Some(n) = r.max_tokens {
        o.insert("max_completion_tokens".into(), n.into());
    }
    if let Some(effort) = reasoning_effort(r) {
        o.insert("reasoning_effort".into(), effort.into());
    }
    if let Some(t) = r.temperature {
        o.insert("temperature".into(), t.into());
    }
    if let Some(p) = r.top_p {
        o.insert("top_p".into(), p.into());
    }
    if !r.stop.is_empty() {
        o.insert("stop".into(), r.stop.clone().into());
    }
    if !r.tools.is_empty() {
        let tools: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.input_schema});
                if let Some(d) = &t.description {
                    f["description"] = d.clone().into();
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        o.insert("tools".into(), tools.into());
        if let Some(p) = r.parallel_tool_calls {
            o.insert("parallel_tool_calls".into(), p.into());
        }
    }
    if let Some(c) = &r.tool_choice {
        let v = match c {
            ir::ToolChoice::Auto => json!("auto"),
            ir::ToolChoice::None => json!("none"),
            ir::ToolChoice::Required => json!("required"),
            ir::ToolChoice::Tool(n) => json!({"type": "function", "function": {"name": n}}),
        };
        o.insert("tool_choice".into(), v);
    }
    match &r.response_format {
        None => {}
        Some(ir::ResponseFormat::Text) => {
            o.insert("response_format".into(), json!({"type": "text"}));
        }
        Some(ir::ResponseFormat::JsonObject) => {
            o.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ir::ResponseFormat::JsonSchema { name, description, schema, strict }) => {
            let mut s = json!({"name": name, "schema": schema});
            if let Some(d) = description {
                s["description"] = d.clone().into();
            }
            if let Some(st) = strict {
                s["strict"] = (*st).into();
            }
            o.insert("response_format".into(), json!({"type": "json_schema", "json_schema": s}));
        }
    }
    if let Some(u) = &r.user {
        o.insert("user".into(), u.clone().into());
    }
    if r.stream {
        o.insert("stream".into(), true.into());
        // The gateway bills on usage, so it is always requested upstream.
        o.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(o)
}

/// `reasoning_effort` for a request that asked for reasoning (an effort, a thinking budget, or
/// adaptive thinking: the effort given, else the budget's level; adaptive alone leaves the
/// model's default). Sent to OpenAI reasoning models only (o-series, `gpt-5*`): the others
/// refuse the field, and a client asking Claude to think should not fail on `gpt-4o`.
fn reasoning_effort(r: &ir::Request) -> Option<&'static str> {
    if !is_reasoning_model(&r.model) {
        return None;
    }
    let effort = r.effort.or(r.thinking_budget.map(ir::Effort::of_budget))?;
    Some(match effort {
        ir::Effort::Minimal => "minimal",
        ir::Effort::Low => "low",
        ir::Effort::Medium => "medium",
        ir::Effort::High | ir::Effort::Max => "high",
    })
}

/// OpenAI model names that take `reasoning_effort` (deployment names on Azure follow them
/// when operators keep the model's name, as is usual).
pub fn is_reasoning_model(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    m.starts_with("gpt-5")
        || m.starts_with("codex")
        || ["o1", "o3", "o4"].iter().any(|p| m == *p || m.starts_with(&format!("{p}-")))
}

fn user_to_wire(parts: &[Part], messages: &mut Vec<Value>) {
    let mut rest: Vec<Value> = Vec::new();
    for p in parts {
        match p {
            Part::ToolResult { tool_use_id, content, .. } => {
                let texts: Vec<&TextPart> = content
                    .iter()
                    .filter_map(|c| match c {
                        ToolResultPart::Text(t) => Some(t),
                        ToolResultPart::Image(_) => None,
                    })
                    .collect();
                let body = if texts.is_empty() { Value::String(String::new()) } else { text_content(&texts) };
                messages
                    .push(json!({"role": "tool", "tool_call_id": ir::sanitize_tool_id(tool_use_id), "content": body}));
                for c in content {
                    if let ToolResultPart::Image(i) = c {
                        rest.push(image_part(i));
                    }
                }
            }
            Part::Text(t) => rest.push(json!({"type": "text", "text": t.text})),
            Part::Image(i) => rest.push(image_part(i)),
            Part::Document(d) => {
                let mut file = json!({"file_data": format!("data:{};base64,{}", d.media_type, d.data)});
                if let Some(t) = &d.title {
                    file["filename"] = t.clone().into();
                }
                rest.push(json!({"type": "file", "file": file}));
            }
            // Assistant-only parts cannot appear in a user turn of a valid conversation.
            Part::ToolUse { .. } | Part::Thinking { .. } | Part::RedactedThinking { .. } => {}
        }
    }
    if rest.is_empty() {
        return;
    }
    let content = match rest.as_slice() {
        [t] if t["type"] == "text" => t["text"].clone(),
        _ => Value::Array(rest),
    };
    messages.push(json!({"role": "user", "content": content}));
}

/// An assistant message from IR parts. `with_reasoning` adds `reasoning_content` and
/// `thinking_blocks` (responses to clients); requests to providers leave them out.
fn assistant_message(parts: &[Part], with_reasoning: bool) -> Option<Value> {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => {
                text.push_str(&t.text);
                has_text = true;
            }
            Part::ToolUse { id, name, input } => tool_calls.push(json!({
                "id": ir::sanitize_tool_id(id),
                "type": "function",
                "function": {"name": name, "arguments": serde_json::to_string(input).expect("JSON serializes")},
            })),
            Part::Thinking { thinking, signature } => {
                reasoning.push_str(thinking);
                let mut b = json!({"type": "thinking", "thinking": thinking});
                if let Some(s) = signature {
                    b["signature"] = s.clone().into();
                }
                thinking_blocks.push(b);
            }
            Part::RedactedThinking { data } => thinking_blocks.push(json!({"type": "redacted_thinking", "data": data})),
            Part::Image(_) | Part::Document(_) | Part::ToolResult { .. } => {}
        }
    }
    if !has_text && tool_calls.is_empty() && !with_reasoning {
        return None;
    }
    let mut m = json!({"role": "assistant", "content": if has_text { Value::String(text) } else { Value::Null }});
    if !tool_calls.is_empty() {
        m["tool_calls"] = tool_calls.into();
    }
    if with_reasoning {
        m["refusal"] = Value::Null;
        if !thinking_blocks.is_empty() {
            m["reasoning_content"] = reasoning.into();
            m["thinking_blocks"] = thinking_blocks.into();
        }
    }
    Some(m)
}

/// The IR as a chat completion body. `created` is the Unix time to report (the caller owns
/// the clock).
pub fn response_from_ir(r: &ir::Response, created: i64) -> Value {
    let message = assistant_message(&r.content, true).expect("with reasoning a message is always built");
    json!({
        "id": r.id,
        "object": "chat.completion",
        "created": created,
        "model": r.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": r.stop_reason.map(finish_reason_to_wire),
        }],
        "usage": usage_to_wire(&r.usage),
    })
}
