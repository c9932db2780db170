//! Bedrock Converse ↔ the canonical [`ir`] form: requests and responses. The mapping, its
//! deliberate losses and its refusals are listed in the parent module's notes.

use serde_json::{Map, Value, json};

use super::wire::{stop_reason_from_wire, stop_reason_to_wire, usage_from_wire, usage_to_wire};
use crate::protocol::ir::{self, ImageSource, Part, Role, TextPart, ToolResultPart};

const CACHE_POINT: &str = "cachePoint";

fn cache_point() -> Value {
    json!({CACHE_POINT: {"type": "default"}})
}

/// What a `cachePoint` block means on the block before it.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

// ---------------------------------------------------------------------------------------
// IR → Converse request

/// The IR as a Converse body (the model id goes in the URL, see [`super::endpoint_path`]);
/// errors are messages for a 400.
pub fn request_from_ir(r: &ir::Request) -> Result<Value, String> {
    if matches!(r.response_format, Some(ir::ResponseFormat::JsonObject | ir::ResponseFormat::JsonSchema { .. })) {
        return Err("response_format (JSON mode) is not supported by this model's provider (Bedrock Converse)".into());
    }
    let has_tool_blocks =
        r.messages.iter().flat_map(|m| &m.content).any(|p| matches!(p, Part::ToolUse { .. } | Part::ToolResult { .. }));
    let send_tools = !r.tools.is_empty() && r.tool_choice != Some(ir::ToolChoice::None);
    if r.tool_choice == Some(ir::ToolChoice::None) && has_tool_blocks {
        return Err("tool_choice `none` is not supported by this model's provider (Bedrock Converse) once the \
                    conversation holds tool calls"
            .into());
    }
    let mut documents = 0;
    let mut messages: Vec<Value> = Vec::with_capacity(r.messages.len());
    let mut last_role = None;
    let mut system_messages: Vec<&ir::TextPart> = Vec::new();
    for (i, m) in r.messages.iter().enumerate() {
        if m.role == Role::System {
            system_messages.extend(m.texts());
            continue;
        }
        let mut blocks = Vec::new();
        for p in &m.content {
            part_to_blocks(p, &mut documents, &mut blocks).map_err(|e| format!("messages.{i}: {e}"))?;
        }
        if blocks.is_empty() {
            continue;
        }
        // Converse wants alternating roles: consecutive turns of one role are merged.
        if last_role == Some(m.role)
            && let Some(Value::Array(prev)) = messages.last_mut().and_then(|p| p.get_mut("content"))
        {
            prev.extend(blocks);
        } else {
            let role = if m.role == Role::User { "user" } else { "assistant" };
            messages.push(json!({"role": role, "content": blocks}));
        }
        last_role = Some(m.role);
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !r.system.is_empty() || !system_messages.is_empty() {
        let mut system = Vec::new();
        for t in r.system.iter().chain(system_messages) {
            system.push(json!({"text": t.text}));
            if t.cache_control.is_some() {
                system.push(cache_point());
            }
        }
        body.insert("system".into(), Value::Array(system));
    }
    let mut inference = Map::new();
    if let Some(n) = r.max_tokens {
        inference.insert("maxTokens".into(), n.into());
    }
    if let Some(t) = r.temperature {
        inference.insert("temperature".into(), t.into());
    }
    if let Some(p) = r.top_p {
        inference.insert("topP".into(), p.into());
    }
    if !r.stop.is_empty() {
        inference.insert("stopSequences".into(), r.stop.clone().into());
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if send_tools {
        let mut tools = Vec::new();
        for t in &r.tools {
            let mut spec = json!({"name": t.name, "inputSchema": {"json": t.input_schema}});
            if let Some(d) = &t.description {
                spec["description"] = d.clone().into();
            }
            tools.push(json!({"toolSpec": spec}));
            if t.cache_control.is_some() {
                tools.push(cache_point());
            }
        }
        let mut config = json!({"tools": tools});
        match &r.tool_choice {
            None => {}
            Some(ir::ToolChoice::Auto) => config["toolChoice"] = json!({"auto": {}}),
            Some(ir::ToolChoice::Required) => config["toolChoice"] = json!({"any": {}}),
            Some(ir::ToolChoice::Tool(n)) => config["toolChoice"] = json!({"tool": {"name": n}}),
            Some(ir::ToolChoice::None) => unreachable!("tools are not sent with tool_choice none"),
        }
        body.insert("toolConfig".into(), config);
    }
    let mut additional = Map::new();
    if let Some(k) = r.top_k {
        additional.insert("top_k".into(), k.into());
    }
    reasoning_fields(r, &mut additional);
    if !additional.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(additional));
    }
    Ok(Value::Object(body))
}

/// The model-specific reasoning settings of `additionalModelRequestFields` (see the module
/// notes): Anthropic's `thinking` on Claude models, `reasoningConfig` on Nova 2.
fn reasoning_fields(r: &ir::Request, additional: &mut Map<String, Value>) {
    if let Some(b) = r.thinking_budget {
        additional.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": b}));
        return;
    }
    let effort = match (r.effort, r.adaptive_thinking) {
        (Some(e), _) => e,
        (None, true) => ir::Effort::Medium,
        (None, false) => return,
    };
    let model = r.model.to_ascii_lowercase();
    if model.contains("claude") {
        // Anthropic wants 1024 ≤ budget < max_tokens.
        let cap = r.max_tokens.map_or(u32::MAX, |m| m.saturating_sub(1));
        let budget = effort.budget().min(cap);
        if budget >= 1024 {
            additional.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
        }
    } else if model.contains("nova-2") {
        let level = match effort {
            ir::Effort::Minimal | ir::Effort::Low => "low",
            ir::Effort::Medium => "medium",
            ir::Effort::High | ir::Effort::Max => "high",
        };
        additional.insert("reasoningConfig".into(), json!({"type": "enabled", "maxReasoningEffort": level}));
    }
}

/// True for the image types Converse takes inline (png, jpeg, gif, webp).
pub fn accepts_image_type(media_type: &str) -> bool {
    image_format(media_type).is_some()
}

/// `image/png` → `png`, and the other three formats Converse takes.
fn image_format(media_type: &str) -> Option<&'static str> {
    Some(match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

fn image_block(source: &ImageSource) -> Result<Value, String> {
    match source {
        ImageSource::Base64 { media_type, data } => {
            let format = image_format(media_type).ok_or_else(|| {
                format!("image type `{media_type}` is not supported by this model's provider (Bedrock): png, jpeg, gif, webp")
            })?;
            Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
        }
        ImageSource::Url(_) => {
            Err("image URLs cannot be sent to this model's provider (Bedrock); send the image inline as base64".into())
        }
    }
}

/// A document name as Converse allows it: letters, digits, single spaces, hyphens,
/// parentheses and square brackets.
fn document_name(title: Option<&str>, n: usize) -> String {
    let cleaned: String = title
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') { c } else { ' ' })
        .collect();
    let name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() { format!("document {n}") } else { name }
}

fn part_to_blocks(p: &Part, documents: &mut usize, out: &mut Vec<Value>) -> Result<(), String> {
    let cache = match p {
        Part::Text(t) if t.text.is_empty() => return Ok(()),
        Part::Text(t) => {
            out.push(json!({"text": t.text}));
            t.cache_control.is_some()
        }
        Part::Image(i) => {
            out.push(image_block(&i.source)?);
            i.cache_control.is_some()
        }
        Part::Document(d) => {
            *documents += 1;
            if d.media_type != "application/pdf" {
                return Err(format!("document type `{}` is not supported by Bedrock", d.media_type));
            }
            let name = document_name(d.title.as_deref(), *documents);
            out.push(json!({"document": {"format": "pdf", "name": name, "source": {"bytes": d.data}}}));
            d.cache_control.is_some()
        }
        Part::ToolUse { id, name, input } => {
            out.push(json!({"toolUse": {"toolUseId": ir::sanitize_tool_id(id), "name": name, "input": input}}));
            false
        }
        Part::ToolResult { tool_use_id, content, is_error } => {
            let blocks = content
                .iter()
                .map(|c| match c {
                    ToolResultPart::Text(t) => Ok(json!({"text": t.text})),
                    ToolResultPart::Image(i) => image_block(&i.source),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut result = json!({"toolUseId": ir::sanitize_tool_id(tool_use_id), "content": blocks});
            if *is_error {
                result["status"] = "error".into();
            }
            out.push(json!({ "toolResult": result }));
            false
        }
        Part::Thinking { thinking, signature: Some(sig) } => {
            out.push(json!({"reasoningContent": {"reasoningText": {"text": thinking, "signature": sig}}}));
            false
        }
        Part::Thinking { signature: None, .. } => return Ok(()),
        Part::RedactedThinking { data } => {
            out.push(json!({"reasoningContent": {"redactedContent": data}}));
            false
        }
    };
    if cache {
        out.push(cache_point());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Converse → IR

fn str_of<'a>(v: &'a Value, k: &str) -> Result<&'a str, String> {
    v.get(k).and_then(Value::as_str).ok_or_else(|| format!("`{k}` must be a string"))
}

fn image_to_ir(v: &Value) -> Result<ir::Image, String> {
    let format = str_of(v, "format")?;
    let data = v.pointer("/source/bytes").and_then(Value::as_str).ok_or("only inline image bytes are supported")?;
    Ok(ir::Image {
        source: ImageSource::Base64 { media_type: format!("image/{format}"), data: data.to_string() },
        cache_control: None,
    })
}

/// Converse content blocks → IR parts; a `cachePoint` marks the part before it.
/// `lenient` drops blocks with no IR form (responses) instead of refusing them (requests).
fn blocks_to_ir(blocks: &[Value], lenient: bool) -> Result<Vec<Part>, String> {
    let mut out: Vec<Part> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let part = if let Some(t) = b.get("text") {
            Part::Text(TextPart::new(t.as_str().ok_or("`text` must be a string")?))
        } else if let Some(i) = b.get("image") {
            Part::Image(image_to_ir(i)?)
        } else if let Some(d) = b.get("document") {
            if d.get("format").and_then(Value::as_str) != Some("pdf") {
                return Err("only pdf documents can be sent to another provider".into());
            }
            let data =
                d.pointer("/source/bytes").and_then(Value::as_str).ok_or("only inline document bytes are supported")?;
            Part::Document(ir::Document {
                media_type: "application/pdf".into(),
                data: data.to_string(),
                title: d.get("name").and_then(Value::as_str).map(str::to_string),
                cache_control: None,
            })
        } else if let Some(u) = b.get("toolUse") {
            let input = u.get("input").cloned().unwrap_or_else(|| json!({}));
            if !input.is_object() {
                return Err("toolUse `input` must be an object".into());
            }
            Part::ToolUse { id: str_of(u, "toolUseId")?.to_string(), name: str_of(u, "name")?.to_string(), input }
        } else if let Some(r) = b.get("toolResult") {
            let mut content = Vec::new();
            for c in r.get("content").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                if let Some(t) = c.get("text").and_then(Value::as_str) {
                    content.push(ToolResultPart::Text(TextPart::new(t)));
                } else if let Some(j) = c.get("json") {
                    content.push(ToolResultPart::Text(TextPart::new(j.to_string())));
                } else if let Some(i) = c.get("image") {
                    content.push(ToolResultPart::Image(image_to_ir(i)?));
                } else {
                    return Err("toolResult content may hold only text, json and image blocks".into());
                }
            }
            Part::ToolResult {
                tool_use_id: str_of(r, "toolUseId")?.to_string(),
                content,
                is_error: r.get("status").and_then(Value::as_str) == Some("error"),
            }
        } else if let Some(rc) = b.get("reasoningContent") {
            if let Some(t) = rc.get("reasoningText") {
                Part::Thinking {
                    thinking: t.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
                    signature: t.get("signature").and_then(Value::as_str).map(str::to_string),
                }
            } else if let Some(d) = rc.get("redactedContent").and_then(Value::as_str) {
                Part::RedactedThinking { data: d.to_string() }
            } else {
                return Err("reasoningContent needs reasoningText or redactedContent".into());
            }
        } else if b.get(CACHE_POINT).is_some() {
            match out.last_mut() {
                Some(Part::Text(t)) => t.cache_control = Some(ephemeral()),
                Some(Part::Image(i)) => i.cache_control = Some(ephemeral()),
                Some(Part::Document(d)) => d.cache_control = Some(ephemeral()),
                _ => {}
            }
            continue;
        } else if lenient {
            continue;
        } else {
            let kind = b.as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            return Err(format!("content blocks of type `{kind}` cannot be sent to another provider"));
        };
        out.push(part);
    }
    Ok(out)
}

/// Parses a Converse body into the IR (the model id is in the URL, so the caller passes it).
pub fn parse_request(bytes: &[u8], model: &str) -> Result<ir::Request, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("invalid request body: {e}"))?;
    request_to_ir(&v, model)
}

pub fn request_to_ir(v: &Value, model: &str) -> Result<ir::Request, String> {
    let arr = |k: &str| v.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut messages = Vec::new();
    for (i, m) in arr("messages").iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => return Err(format!("messages.{i}.role must be `user` or `assistant`")),
        };
        let blocks =
            m.get("content").and_then(Value::as_array).ok_or(format!("messages.{i}.content must be an array"))?;
        let content = blocks_to_ir(blocks, false).map_err(|e| format!("messages.{i}: {e}"))?;
        messages.push(ir::Message { role, content });
    }
    if messages.is_empty() {
        return Err("messages must not be empty".into());
    }
    let mut system: Vec<TextPart> = Vec::new();
    for b in arr("system") {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            system.push(TextPart::new(t));
        } else if b.get(CACHE_POINT).is_some() {
            if let Some(last) = system.last_mut() {
                last.cache_control = Some(ephemeral());
            }
        } else {
            return Err("system blocks must be text or cachePoint blocks".into());
        }
    }
    let mut tools: Vec<ir::Tool> = Vec::new();
    let config = v.get("toolConfig");
    for t in config.and_then(|c| c.get("tools")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
        if let Some(s) = t.get("toolSpec") {
            tools.push(ir::Tool {
                name: str_of(s, "name")?.to_string(),
                description: s.get("description").and_then(Value::as_str).map(str::to_string),
                input_schema: s.pointer("/inputSchema/json").cloned().ok_or("a toolSpec needs inputSchema.json")?,
                cache_control: None,
            });
        } else if t.get(CACHE_POINT).is_some() {
            if let Some(last) = tools.last_mut() {
                last.cache_control = Some(ephemeral());
            }
        } else {
            return Err("tools must be toolSpec or cachePoint entries".into());
        }
    }
    let tool_choice = match config.and_then(|c| c.get("toolChoice")) {
        None => None,
        Some(c) if c.get("auto").is_some() => Some(ir::ToolChoice::Auto),
        Some(c) if c.get("any").is_some() => Some(ir::ToolChoice::Required),
        Some(c) => Some(ir::ToolChoice::Tool(
            c.pointer("/tool/name").and_then(Value::as_str).ok_or("toolChoice must be auto, any or tool")?.to_string(),
        )),
    };
    let inf = v.get("inferenceConfig").cloned().unwrap_or_default();
    let extra = v.get("additionalModelRequestFields").cloned().unwrap_or_default();
    let u32_of = |x: Option<&Value>, what: &str| -> Result<Option<u32>, String> {
        x.map(|n| {
            n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(format!("{what} must be a non-negative integer"))
        })
        .transpose()
    };
    let thinking_budget = match extra.pointer("/thinking/type").and_then(Value::as_str) {
        Some("enabled") => u32_of(extra.pointer("/thinking/budget_tokens"), "thinking.budget_tokens")?,
        _ => None,
    };
    Ok(ir::Request {
        model: model.to_string(),
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        max_tokens: u32_of(inf.get("maxTokens"), "inferenceConfig.maxTokens")?,
        temperature: inf.get("temperature").and_then(Value::as_f64),
        top_p: inf.get("topP").and_then(Value::as_f64),
        top_k: u32_of(extra.get("top_k"), "top_k")?,
        stop: inf
            .get("stopSequences")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        response_format: None,
        stream: false,
        include_usage: true,
        user: None,
        thinking_budget,
        adaptive_thinking: false,
        effort: None,
    })
}

/// Parses a non-streamed Converse response; Bedrock bodies have no id, so `id` names the
/// message (the gateway uses the request id).
pub fn parse_response(bytes: &[u8], id: &str) -> Result<ir::Response, String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("the provider's response is not a Converse response: {e}"))?;
    response_to_ir(&v, id)
}

pub fn response_to_ir(v: &Value, id: &str) -> Result<ir::Response, String> {
    let blocks = v
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or("the provider's response has no output message")?;
    Ok(ir::Response {
        id: id.to_string(),
        model: String::new(),
        content: blocks_to_ir(blocks, true)?,
        stop_reason: v.get("stopReason").and_then(Value::as_str).map(stop_reason_from_wire),
        stop_sequence: None,
        usage: v.get("usage").map(usage_from_wire).unwrap_or_default(),
    })
}

/// The IR as a Converse response body.
pub fn response_from_ir(r: &ir::Response) -> Result<Value, String> {
    let mut documents = 0;
    let mut content = Vec::new();
    for p in &r.content {
        part_to_blocks(p, &mut documents, &mut content)?;
    }
    Ok(json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason_to_wire(r.stop_reason.unwrap_or(ir::StopReason::EndTurn)),
        "usage": usage_to_wire(&r.usage),
    }))
}
