//! Anthropic Messages ↔ the canonical [`ir`] form: requests and responses. The deliberate
//! losses and rejections of these conversions are listed in the parent module's notes.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::wire::{
    Block, MessagesRequest, MessagesResponse, Metadata, WireDocumentSource, WireImageSource, WireMessage,
    WireToolChoice, WireUsage, stop_reason_from_wire, stop_reason_to_wire,
};
use crate::billing::pricing::Usage;
use crate::protocol::ir::{self, ImageSource, Part, Role, TextPart, ToolResultPart};

// ---------------------------------------------------------------------------------------
// Requests

/// Parses a `/v1/messages` body into the IR; errors are messages for a 400.
pub fn parse_request(bytes: &[u8]) -> Result<ir::Request, String> {
    let req: MessagesRequest = serde_json::from_slice(bytes).map_err(|e| format!("invalid request body: {e}"))?;
    request_to_ir(req)
}

/// Parses a `/v1/messages/count_tokens` body: a Messages request without `max_tokens` (and
/// without `stream`), so the IR has neither.
pub fn parse_count_tokens_request(bytes: &[u8]) -> Result<ir::Request, String> {
    let mut body: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid request body: {e}"))?;
    // Any value satisfies the Messages shape; it is cleared again below.
    body.entry("max_tokens").or_insert(json!(1));
    let req: MessagesRequest =
        serde_json::from_value(Value::Object(body)).map_err(|e| format!("invalid request body: {e}"))?;
    let mut ir = request_to_ir(req)?;
    ir.max_tokens = None;
    ir.stream = false;
    Ok(ir)
}

pub fn request_to_ir(req: MessagesRequest) -> Result<ir::Request, String> {
    if req.model.trim().is_empty() {
        return Err("you must provide a model parameter".into());
    }
    let system = match req.system {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![TextPart::new(s)],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|b| match serde_json::from_value::<Block>(b) {
                Ok(Block::Text { text, cache_control }) => Ok(TextPart { text, cache_control }),
                Ok(_) => Err("`system` blocks must be text blocks".to_string()),
                Err(e) => Err(format!("invalid `system` block: {e}")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`system` must be a string or an array of text blocks".into()),
    };
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // Claude Code sends instructions as system-role entries in the conversation.
            "system" => Role::System,
            other => return Err(format!("messages.{i}.role: unexpected role `{other}`")),
        };
        let content = content_to_ir(m.content).map_err(|e| format!("messages.{i}.content: {e}"))?;
        if role == Role::System && !content.iter().all(|p| matches!(p, Part::Text(_))) {
            return Err(format!("messages.{i}.content: a system message may hold only text blocks"));
        }
        messages.push(ir::Message { role, content });
    }
    let tools = req
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| tool_to_ir(t).map_err(|e| format!("tools.{i}: {e}")))
        .collect::<Result<_, _>>()?;
    let (tool_choice, parallel_tool_calls) = match req.tool_choice {
        None => (None, None),
        Some(c) => {
            let choice = match (c.kind.as_str(), c.name) {
                ("auto", _) => ir::ToolChoice::Auto,
                ("any", _) => ir::ToolChoice::Required,
                ("none", _) => ir::ToolChoice::None,
                ("tool", Some(name)) => ir::ToolChoice::Tool(name),
                ("tool", None) => return Err("tool_choice of type `tool` needs a `name`".into()),
                (other, _) => return Err(format!("unknown tool_choice type `{other}`")),
            };
            (Some(choice), c.disable_parallel_tool_use.map(|d| !d))
        }
    };
    let thinking_budget = match &req.thinking {
        None | Some(Value::Null) => None,
        Some(t) => match t.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(
                t.get("budget_tokens")
                    .and_then(Value::as_u64)
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or("thinking.budget_tokens must be a positive integer")?,
            ),
            Some("disabled" | "adaptive") => None,
            _ => return Err("thinking.type must be `enabled`, `adaptive` or `disabled`".into()),
        },
    };
    // `display` (summarized or omitted thinking text) has no other provider's equivalent.
    let adaptive_thinking =
        req.thinking.as_ref().and_then(|t| t.get("type")).and_then(Value::as_str) == Some("adaptive");
    let effort = match req.extra.get("output_config").and_then(|c| c.get("effort")) {
        None | Some(Value::Null) => None,
        Some(e) => {
            let parsed = e.as_str().and_then(ir::Effort::parse);
            if parsed.is_none() {
                tracing::debug!(effort = %e, "output_config.effort not understood; dropped");
            }
            parsed
        }
    };
    for field in req.extra.keys().filter(|k| !matches!(k.as_str(), "output_config" | "output_format")) {
        tracing::debug!(field, "Anthropic request field without an equivalent in the canonical form; dropped");
    }
    // Structured outputs: GA `output_config.format`, or the beta `output_format`.
    let format = req.extra.get("output_config").and_then(|c| c.get("format")).or(req.extra.get("output_format"));
    let response_format = match format {
        None | Some(Value::Null) => None,
        Some(f) if f.get("type").and_then(Value::as_str) == Some("json_schema") => {
            Some(ir::ResponseFormat::JsonSchema {
                name: "response".into(),
                description: None,
                schema: f.get("schema").cloned().ok_or("output_config.format needs a `schema`")?,
                strict: Some(true),
            })
        }
        Some(_) => return Err("output_config.format.type must be `json_schema`".into()),
    };
    Ok(ir::Request {
        model: req.model,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls,
        max_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        stop: req.stop_sequences.unwrap_or_default(),
        response_format,
        stream: req.stream.unwrap_or(false),
        // Anthropic streams always carry usage; the OpenAI side decides whether to show it.
        include_usage: true,
        user: req.metadata.and_then(|m| m.user_id),
        thinking_budget,
        adaptive_thinking,
        effort,
    })
}

fn tool_to_ir(t: Value) -> Result<ir::Tool, String> {
    let Value::Object(mut t) = t else { return Err("a tool must be an object".into()) };
    match t.get("type").and_then(Value::as_str) {
        None | Some("custom") => {}
        Some(other) => return Err(format!("Anthropic-defined tool `{other}` cannot be sent to this provider")),
    }
    let name = match t.remove("name") {
        Some(Value::String(n)) => n,
        _ => return Err("a tool needs a string `name`".into()),
    };
    let input_schema = t.remove("input_schema").ok_or("a tool needs an `input_schema`")?;
    let description = match t.remove("description") {
        Some(Value::String(d)) => Some(d),
        _ => None,
    };
    Ok(ir::Tool { name, description, input_schema, cache_control: t.remove("cache_control") })
}

fn content_to_ir(content: Value) -> Result<Vec<Part>, String> {
    let blocks = match content {
        Value::String(s) => return Ok(vec![Part::Text(TextPart::new(s))]),
        Value::Array(blocks) => blocks,
        _ => return Err("must be a string or an array of content blocks".into()),
    };
    blocks.into_iter().map(block_value_to_ir).collect()
}

fn block_value_to_ir(b: Value) -> Result<Part, String> {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let block: Block = serde_json::from_value(b).map_err(|e| {
        if matches!(
            kind.as_str(),
            "text" | "image" | "document" | "tool_use" | "tool_result" | "thinking" | "redacted_thinking"
        ) {
            format!("invalid `{kind}` block: {e}")
        } else {
            format!("content blocks of type `{kind}` cannot be sent to this provider")
        }
    })?;
    block_to_ir(block)
}

fn block_to_ir(b: Block) -> Result<Part, String> {
    Ok(match b {
        Block::Text { text, cache_control } => Part::Text(TextPart { text, cache_control }),
        Block::Image { source, cache_control } => Part::Image(ir::Image { source: image_to_ir(source), cache_control }),
        Block::Document { source: WireDocumentSource::Base64 { media_type, data }, title, cache_control } => {
            Part::Document(ir::Document { media_type, data, title, cache_control })
        }
        // Other dialects carry arguments as a JSON object; Anthropic requires one too.
        Block::ToolUse { input, .. } if !input.is_object() => return Err("tool_use `input` must be an object".into()),
        Block::ToolUse { id, name, input, .. } => Part::ToolUse { id, name, input },
        Block::ToolResult { tool_use_id, content, is_error, .. } => {
            let content = match content {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![ToolResultPart::Text(TextPart::new(s))],
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(|i| match block_value_to_ir(i)? {
                        Part::Text(t) => Ok(ToolResultPart::Text(t)),
                        Part::Image(i) => Ok(ToolResultPart::Image(i)),
                        _ => Err("tool_result content may hold only text and image blocks".to_string()),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("tool_result content must be a string or an array".into()),
            };
            Part::ToolResult { tool_use_id, content, is_error: is_error.unwrap_or(false) }
        }
        Block::Thinking { thinking, signature } => Part::Thinking { thinking, signature: Some(signature) },
        Block::RedactedThinking { data } => Part::RedactedThinking { data },
    })
}

fn image_to_ir(s: WireImageSource) -> ImageSource {
    match s {
        WireImageSource::Base64 { media_type, data } => ImageSource::Base64 { media_type, data },
        WireImageSource::Url { url } => ImageSource::Url(url),
    }
}

fn image_to_wire(s: &ImageSource) -> WireImageSource {
    match s {
        ImageSource::Base64 { media_type, data } => {
            WireImageSource::Base64 { media_type: media_type.clone(), data: data.clone() }
        }
        ImageSource::Url(url) => WireImageSource::Url { url: url.clone() },
    }
}

/// IR content → Anthropic blocks; `None` for parts Anthropic cannot take back (unsigned
/// thinking, see the module notes). Tool ids are sanitized to Anthropic's id pattern.
fn part_to_block(p: &Part) -> Option<Block> {
    Some(match p {
        // Anthropic rejects empty text blocks; OpenAI clients send `""` next to tool calls.
        Part::Text(t) if t.text.is_empty() => return None,
        Part::Text(t) => Block::Text { text: t.text.clone(), cache_control: t.cache_control.clone() },
        Part::Image(i) => Block::Image { source: image_to_wire(&i.source), cache_control: i.cache_control.clone() },
        Part::Document(d) => Block::Document {
            source: WireDocumentSource::Base64 { media_type: d.media_type.clone(), data: d.data.clone() },
            title: d.title.clone(),
            cache_control: d.cache_control.clone(),
        },
        Part::ToolUse { id, name, input } => Block::ToolUse {
            id: ir::sanitize_tool_id(id),
            name: name.clone(),
            input: input.clone(),
            cache_control: None,
        },
        Part::ToolResult { tool_use_id, content, is_error } => {
            // A lone text result is sent as a string, the shape most clients use.
            let content = match content.as_slice() {
                [] => None,
                [ToolResultPart::Text(t)] if t.cache_control.is_none() => Some(Value::String(t.text.clone())),
                parts => Some(Value::Array(
                    parts
                        .iter()
                        .filter_map(|p| match p {
                            ToolResultPart::Text(t) => part_to_block(&Part::Text(t.clone())),
                            ToolResultPart::Image(i) => part_to_block(&Part::Image(i.clone())),
                        })
                        .map(|b| serde_json::to_value(b).expect("blocks serialize"))
                        .collect(),
                )),
            };
            Block::ToolResult {
                tool_use_id: ir::sanitize_tool_id(tool_use_id),
                content,
                is_error: is_error.then_some(true),
                cache_control: None,
            }
        }
        Part::Thinking { thinking, signature: Some(sig) } => {
            Block::Thinking { thinking: thinking.clone(), signature: sig.clone() }
        }
        Part::Thinking { signature: None, .. } => return None,
        Part::RedactedThinking { data } => Block::RedactedThinking { data: data.clone() },
    })
}

/// The IR as an Anthropic request. `default_max_tokens` fills Anthropic's required
/// `max_tokens` when the client gave none (OpenAI makes it optional).
pub fn request_from_ir(r: &ir::Request, default_max_tokens: u32) -> Result<MessagesRequest, String> {
    // Structured outputs (GA): `output_config.format`. Models without it answer with a
    // clear 400 of their own; OpenAI's schemaless `json_object` has no Anthropic form.
    let mut extra = Map::new();
    match &r.response_format {
        None | Some(ir::ResponseFormat::Text) => {}
        Some(ir::ResponseFormat::JsonSchema { schema, .. }) => {
            extra.insert("output_config".into(), json!({"format": {"type": "json_schema", "schema": schema}}));
        }
        Some(ir::ResponseFormat::JsonObject) => {
            return Err("response_format json_object is not supported by this model's provider (Anthropic); \
                        use json_schema"
                .into());
        }
    }
    if let Some(e) = r.effort {
        let word = match e {
            ir::Effort::Minimal | ir::Effort::Low => "low",
            ir::Effort::Medium => "medium",
            ir::Effort::High => "high",
            ir::Effort::Max => "max",
        };
        let config = extra.entry("output_config").or_insert_with(|| json!({}));
        config["effort"] = word.into();
    }
    if let Some(t) = r.temperature
        && !(0.0..=1.0).contains(&t)
    {
        return Err(format!("temperature {t} is out of range for this model's provider (Anthropic accepts 0 to 1)"));
    }
    // Anthropic wants alternating roles; consecutive messages of one role are merged, which
    // is also how it reads them.
    let mut messages: Vec<WireMessage> = Vec::with_capacity(r.messages.len());
    let mut last_role: Option<Role> = None;
    for m in &r.messages {
        let blocks: Vec<Value> = m
            .content
            .iter()
            .filter_map(part_to_block)
            .map(|b| serde_json::to_value(b).expect("blocks serialize"))
            .collect();
        if blocks.is_empty() {
            continue;
        }
        match (last_role == Some(m.role), messages.last_mut()) {
            (true, Some(WireMessage { content: Value::Array(prev), .. })) => prev.extend(blocks),
            _ => {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    // Anthropic takes system-role entries in place, as Claude Code sends them.
                    Role::System => "system",
                };
                messages.push(WireMessage { role: role.into(), content: Value::Array(blocks) });
            }
        }
        last_role = Some(m.role);
    }
    let system = match r.system.as_slice() {
        [] => None,
        [one] if one.cache_control.is_none() => Some(Value::String(one.text.clone())),
        blocks => Some(Value::Array(
            blocks
                .iter()
                .map(|t| {
                    serde_json::to_value(Block::Text { text: t.text.clone(), cache_control: t.cache_control.clone() })
                        .expect("blocks serialize")
                })
                .collect(),
        )),
    };
    let tools = (!r.tools.is_empty()).then(|| {
        r.tools
            .iter()
            .map(|t| {
                let mut o = json!({"name": t.name, "input_schema": t.input_schema});
                if let Some(d) = &t.description {
                    o["description"] = d.clone().into();
                }
                if let Some(c) = &t.cache_control {
                    o["cache_control"] = c.clone();
                }
                o
            })
            .collect()
    });
    let disable_parallel = (r.parallel_tool_calls == Some(false)).then_some(true);
    let tool_choice = match (&r.tool_choice, disable_parallel) {
        (None, None) => None,
        (None, Some(_)) if r.tools.is_empty() => None,
        (None | Some(ir::ToolChoice::Auto), d) => Some(choice("auto", None, d)),
        (Some(ir::ToolChoice::Required), d) => Some(choice("any", None, d)),
        (Some(ir::ToolChoice::Tool(n)), d) => Some(choice("tool", Some(n.clone()), d)),
        // `none` takes no parallelism flag.
        (Some(ir::ToolChoice::None), _) => Some(choice("none", None, None)),
    };
    Ok(MessagesRequest {
        model: r.model.clone(),
        messages,
        system,
        max_tokens: r.max_tokens.unwrap_or(default_max_tokens),
        metadata: r.user.as_ref().map(|u| Metadata { user_id: Some(u.clone()) }),
        stop_sequences: (!r.stop.is_empty()).then(|| r.stop.clone()),
        stream: r.stream.then_some(true),
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        tools,
        tool_choice,
        thinking: match (r.thinking_budget, r.adaptive_thinking) {
            (Some(b), _) => Some(json!({"type": "enabled", "budget_tokens": b})),
            (None, true) => Some(json!({"type": "adaptive"})),
            (None, false) => None,
        },
        extra,
    })
}

fn choice(kind: &str, name: Option<String>, disable_parallel_tool_use: Option<bool>) -> WireToolChoice {
    WireToolChoice { kind: kind.into(), name, disable_parallel_tool_use }
}

// ---------------------------------------------------------------------------------------
// Responses

/// Parses a non-streamed Anthropic response body into the IR.
pub fn parse_response(bytes: &[u8]) -> Result<ir::Response, String> {
    let r: MessagesResponse = serde_json::from_slice(bytes)
        .map_err(|e| format!("the provider's response is not a Messages response: {e}"))?;
    response_to_ir(r)
}

pub fn response_to_ir(r: MessagesResponse) -> Result<ir::Response, String> {
    Ok(ir::Response {
        id: r.id,
        model: r.model,
        content: r.content.into_iter().map(block_to_ir).collect::<Result<_, _>>()?,
        stop_reason: r.stop_reason.as_deref().and_then(stop_reason_from_wire),
        stop_sequence: r.stop_sequence,
        usage: r.usage.to_usage(),
    })
}

/// The IR as an Anthropic response body. Unsigned thinking (from OpenAI-compatible
/// providers) is shown with an empty signature, because the SDKs require the field.
pub fn response_from_ir(r: &ir::Response) -> MessagesResponse {
    let content = r
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Thinking { thinking, signature: None } => {
                Some(Block::Thinking { thinking: thinking.clone(), signature: String::new() })
            }
            p => part_to_block(p),
        })
        .collect();
    MessagesResponse {
        id: r.id.clone(),
        kind: "message".into(),
        role: "assistant".into(),
        model: r.model.clone(),
        content,
        stop_reason: r.stop_reason.map(|s| stop_reason_to_wire(s).to_string()),
        stop_sequence: r.stop_sequence.clone(),
        usage: WireUsage::from_usage(&r.usage),
    }
}

/// Bytes of generated text in a non-streamed Anthropic response body: text and thinking
/// blocks, and each tool call's name and input as sent.
pub fn answer_output_bytes(body: &[u8]) -> usize {
    use std::borrow::Cow;
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(default, borrow)]
        content: Vec<AnswerBlock<'a>>,
    }
    #[derive(Deserialize)]
    struct AnswerBlock<'a> {
        #[serde(default, borrow)]
        text: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        thinking: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(default, borrow)]
        input: Option<&'a serde_json::value::RawValue>,
    }
    let Ok(a) = serde_json::from_slice::<Answer>(body) else { return 0 };
    let len = |s: &Option<Cow<str>>| s.as_ref().map_or(0, |s| s.len());
    a.content
        .iter()
        .map(|b| len(&b.text) + len(&b.thinking) + len(&b.name) + b.input.map_or(0, |i| i.get().len()))
        .sum()
}

/// Usage of a non-streamed Anthropic response body.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Holder {
        usage: Option<WireUsage>,
    }
    serde_json::from_slice::<Holder>(body).ok()?.usage.map(WireUsage::to_usage)
}
