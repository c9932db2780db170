//! Gemini ↔ the canonical [`ir`] form: requests and responses. The mapping, its deliberate
//! losses and its refusals are listed in the parent module's notes.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::wire::{
    Blob, Candidate, Content, FunctionCall, FunctionCallingConfig, FunctionResponse, GENERATED_ID_PREFIX,
    GenerateContentRequest, GenerateContentResponse, GenerationConfig, ThinkingConfig, ToolConfig, UsageMetadata,
    WirePart, finish_reason_from_wire, finish_reason_to_wire,
};
use crate::protocol::ir::{self, ImageSource, Part, Role, TextPart, ToolResultPart};

// ---------------------------------------------------------------------------------------
// IR → Gemini request

/// The IR as a `generateContent` body (the model goes in the URL, see
/// [`super::endpoint_path`]); errors are messages for a 400.
pub fn request_from_ir(r: &ir::Request) -> Result<GenerateContentRequest, String> {
    // Tool results need their call's name; calls are looked up by id in conversation order.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut contents: Vec<Content> = Vec::with_capacity(r.messages.len());
    let mut system_parts: Vec<WirePart> =
        r.system.iter().map(|t| WirePart { text: Some(t.text.clone()), ..WirePart::default() }).collect();
    for (i, m) in r.messages.iter().enumerate() {
        if m.role == Role::System && contents.is_empty() {
            system_parts.extend(m.texts().map(|t| WirePart { text: Some(t.text.clone()), ..WirePart::default() }));
            continue;
        }
        for p in &m.content {
            if let Part::ToolUse { id, name, .. } = p {
                names.insert(id.as_str(), name.as_str());
            }
        }
        let parts = parts_to_wire(&m.content, &names).map_err(|e| format!("messages.{i}: {e}"))?;
        if parts.is_empty() {
            continue;
        }
        let role = match m.role {
            Role::User | Role::System => "user",
            Role::Assistant => "model",
        };
        // Consecutive turns of one role are merged: Gemini reads them as one turn anyway.
        match contents.last_mut() {
            Some(prev) if prev.role.as_deref() == Some(role) => prev.parts.extend(parts),
            _ => contents.push(Content { role: Some(role.into()), parts }),
        }
    }
    let system_instruction = (!system_parts.is_empty()).then_some(Content { role: None, parts: system_parts });
    let tools = (!r.tools.is_empty()).then(|| {
        let declarations: Vec<Value> = r
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name, "parametersJsonSchema": t.input_schema});
                if let Some(desc) = &t.description {
                    d["description"] = desc.clone().into();
                }
                d
            })
            .collect();
        vec![json!({"functionDeclarations": declarations})]
    });
    let tool_config = r.tool_choice.as_ref().map(|c| {
        let (mode, allowed) = match c {
            ir::ToolChoice::Auto => ("AUTO", None),
            ir::ToolChoice::None => ("NONE", None),
            ir::ToolChoice::Required => ("ANY", None),
            ir::ToolChoice::Tool(n) => ("ANY", Some(vec![n.clone()])),
        };
        ToolConfig {
            function_calling_config: Some(FunctionCallingConfig {
                mode: Some(mode.into()),
                allowed_function_names: allowed,
            }),
        }
    });
    let (response_mime_type, response_json_schema) = match &r.response_format {
        None | Some(ir::ResponseFormat::Text) => (None, None),
        Some(ir::ResponseFormat::JsonObject) => (Some("application/json".to_string()), None),
        Some(ir::ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json".to_string()), Some(schema.clone()))
        }
    };
    let generation_config = GenerationConfig {
        stop_sequences: (!r.stop.is_empty()).then(|| r.stop.clone()),
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        max_output_tokens: r.max_tokens,
        candidate_count: None,
        response_mime_type,
        response_schema: None,
        response_json_schema,
        thinking_config: thinking_config(r),
        extra: Map::new(),
    };
    Ok(GenerateContentRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        generation_config: (generation_config != GenerationConfig::default()).then_some(generation_config),
        extra: Map::new(),
    })
}

/// `thinkingConfig` for the request's thinking budget or effort (see the module notes).
fn thinking_config(r: &ir::Request) -> Option<ThinkingConfig> {
    if let Some(b) = r.thinking_budget {
        return Some(ThinkingConfig {
            thinking_budget: Some(i64::from(b)),
            include_thoughts: Some(true),
            thinking_level: None,
        });
    }
    let effort = r.effort?;
    let version = gemini_version(&r.model)?;
    if version >= (3, 0) {
        let level = if effort <= ir::Effort::Low { "low" } else { "high" };
        return Some(ThinkingConfig { thinking_level: Some(level.into()), ..ThinkingConfig::default() });
    }
    let budget = match effort {
        ir::Effort::Minimal => 1024,
        ir::Effort::Low => 4096,
        ir::Effort::Medium => 8192,
        ir::Effort::High | ir::Effort::Max => 24576,
    };
    (version >= (2, 5)).then_some(ThinkingConfig { thinking_budget: Some(budget), ..ThinkingConfig::default() })
}

/// `gemini-2.5-flash` → (2, 5); `None` for names that are not `gemini-N...`.
fn gemini_version(model: &str) -> Option<(u32, u32)> {
    let rest = model.rsplit('/').next()?.strip_prefix("gemini-")?;
    let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let mut parts = number.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Gemini wants no ids it did not make: the ones the gateway generated are left out.
fn wire_id(id: &str) -> Option<String> {
    (!id.starts_with(GENERATED_ID_PREFIX) && !id.is_empty()).then(|| id.to_string())
}

/// True for the image types Gemini documents for `inlineData` (png, jpeg, webp, heic,
/// heif: not gif). Checked on images the gateway fetched; base64 the client sent goes as it is.
pub fn accepts_image_type(media_type: &str) -> bool {
    matches!(media_type, "image/png" | "image/jpeg" | "image/webp" | "image/heic" | "image/heif")
}

fn blob(source: &ImageSource) -> Result<Blob, String> {
    match source {
        ImageSource::Base64 { media_type, data } => Ok(Blob { mime_type: media_type.clone(), data: data.clone() }),
        ImageSource::Url(_) => Err("image URLs cannot be sent to this model's provider (Gemini); \
                                    send the image inline as base64"
            .into()),
    }
}

fn parts_to_wire(parts: &[Part], names: &HashMap<&str, &str>) -> Result<Vec<WirePart>, String> {
    let mut out: Vec<WirePart> = Vec::with_capacity(parts.len());
    // A signature carried by an empty thinking block belongs to the next part.
    let mut pending_signature: Option<String> = None;
    let flush = |out: &mut Vec<WirePart>, sig: Option<String>| {
        if let Some(s) = sig {
            out.push(WirePart {
                text: Some(String::new()),
                thought: Some(true),
                thought_signature: Some(s),
                ..WirePart::default()
            });
        }
    };
    for p in parts {
        // An empty signature is none (Anthropic shows unsigned thinking with `""`).
        let signed = |s: &Option<String>| s.as_ref().filter(|s| !s.is_empty()).cloned();
        let mut wire: Vec<WirePart> = match p {
            Part::Thinking { signature, .. } if signed(signature).is_none() => continue,
            Part::Thinking { thinking, signature: Some(sig) } if thinking.is_empty() => {
                flush(&mut out, pending_signature.replace(sig.clone()));
                continue;
            }
            Part::Thinking { thinking, signature: Some(sig) } => {
                flush(&mut out, pending_signature.take());
                out.push(WirePart {
                    text: Some(thinking.clone()),
                    thought: Some(true),
                    thought_signature: Some(sig.clone()),
                    ..WirePart::default()
                });
                continue;
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => continue,
            Part::Text(t) if t.text.is_empty() => continue,
            Part::Text(t) => vec![WirePart { text: Some(t.text.clone()), ..WirePart::default() }],
            Part::Image(i) => vec![WirePart { inline_data: Some(blob(&i.source)?), ..WirePart::default() }],
            Part::Document(d) => vec![WirePart {
                inline_data: Some(Blob { mime_type: d.media_type.clone(), data: d.data.clone() }),
                ..WirePart::default()
            }],
            Part::ToolUse { id, name, input } => vec![WirePart {
                function_call: Some(FunctionCall { id: wire_id(id), name: name.clone(), args: Some(input.clone()) }),
                ..WirePart::default()
            }],
            Part::ToolResult { tool_use_id, content, is_error } => {
                let name = names.get(tool_use_id.as_str()).ok_or_else(|| {
                    format!("the tool result for `{tool_use_id}` has no matching tool call in the conversation")
                })?;
                let text: String = content
                    .iter()
                    .filter_map(|c| match c {
                        ToolResultPart::Text(t) => Some(t.text.as_str()),
                        ToolResultPart::Image(_) => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let key = if *is_error { "error" } else { "result" };
                let mut v = vec![WirePart {
                    function_response: Some(FunctionResponse {
                        id: wire_id(tool_use_id),
                        name: name.to_string(),
                        response: json!({ key: text }),
                    }),
                    ..WirePart::default()
                }];
                for c in content {
                    if let ToolResultPart::Image(i) = c {
                        v.push(WirePart { inline_data: Some(blob(&i.source)?), ..WirePart::default() });
                    }
                }
                v
            }
        };
        if let (Some(sig), Some(first)) = (pending_signature.take(), wire.first_mut()) {
            first.thought_signature = Some(sig);
        }
        out.append(&mut wire);
    }
    flush(&mut out, pending_signature);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Gemini → IR

/// Gemini parts → IR parts (see the module notes for signatures). `new_id` names a function
/// call that has no `id`.
fn parts_to_ir(parts: Vec<WirePart>, mut new_id: impl FnMut(&str) -> String) -> Vec<Part> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        if p.thought == Some(true) {
            out.push(Part::Thinking { thinking: p.text.unwrap_or_default(), signature: p.thought_signature });
            continue;
        }
        let part = if let Some(t) = p.text {
            Part::Text(TextPart::new(t))
        } else if let Some(c) = p.function_call {
            let id = c.id.unwrap_or_else(|| new_id(&c.name));
            let input = match c.args {
                Some(Value::Object(o)) => Value::Object(o),
                _ => json!({}),
            };
            Part::ToolUse { id, name: c.name, input }
        } else if let Some(b) = p.inline_data {
            Part::Image(ir::Image {
                source: ImageSource::Base64 { media_type: b.mime_type, data: b.data },
                cache_control: None,
            })
        } else {
            continue;
        };
        if let Some(sig) = p.thought_signature {
            out.push(Part::Thinking { thinking: String::new(), signature: Some(sig) });
        }
        out.push(part);
    }
    out
}

/// The text of a `functionResponse.response` and whether it reports an error.
fn response_text(response: &Value) -> (String, bool) {
    match response {
        Value::Object(o) if o.len() == 1 => match (o.get("result"), o.get("error")) {
            (Some(Value::String(s)), _) => (s.clone(), false),
            (_, Some(Value::String(s))) => (s.clone(), true),
            _ => (response.to_string(), false),
        },
        Value::Null => (String::new(), false),
        other => (other.to_string(), false),
    }
}

/// Parses a `generateContent` body into the IR (`model` is in the URL, so the caller
/// passes it).
pub fn parse_request(bytes: &[u8], model: &str) -> Result<ir::Request, String> {
    let req: GenerateContentRequest =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid request body: {e}"))?;
    request_to_ir(req, model)
}

pub fn request_to_ir(req: GenerateContentRequest, model: &str) -> Result<ir::Request, String> {
    if req.contents.is_empty() {
        return Err("contents is not specified".into());
    }
    let system = req
        .system_instruction
        .map(|c| c.parts.into_iter().filter_map(|p| p.text.map(TextPart::new)).collect())
        .unwrap_or_default();
    // Calls without ids get generated ones; a response without an id answers the oldest
    // unanswered call of its name.
    let mut open_calls: Vec<(String, String)> = Vec::new();
    let mut counter = 0;
    let mut messages = Vec::with_capacity(req.contents.len());
    for (i, c) in req.contents.into_iter().enumerate() {
        let role = match c.role.as_deref() {
            None | Some("user") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => return Err(format!("contents.{i}.role: unexpected role `{other}`")),
        };
        let mut content = Vec::with_capacity(c.parts.len());
        for p in c.parts {
            if let Some(r) = p.function_response {
                let id = match r.id {
                    Some(id) => id,
                    None => {
                        let pos = open_calls.iter().position(|(n, _)| *n == r.name).ok_or_else(|| {
                            format!("contents.{i}: functionResponse `{}` answers no function call", r.name)
                        })?;
                        open_calls.remove(pos).1
                    }
                };
                let (text, is_error) = response_text(&r.response);
                content.push(Part::ToolResult {
                    tool_use_id: id,
                    content: vec![ToolResultPart::Text(TextPart::new(text))],
                    is_error,
                });
                continue;
            }
            if let Some(f) = &p.file_data {
                return Err(format!(
                    "contents.{i}: fileData parts ({}) cannot be sent to another provider",
                    f.file_uri
                ));
            }
            let parts = parts_to_ir(vec![p], |name| {
                counter += 1;
                let id = format!("{GENERATED_ID_PREFIX}{counter}");
                open_calls.push((name.to_string(), id.clone()));
                id
            });
            content.extend(parts);
        }
        messages.push(ir::Message { role, content });
    }
    let mut tools = Vec::new();
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        let Some(decls) = t.get("functionDeclarations").and_then(Value::as_array) else {
            return Err(format!("tools.{i}: only functionDeclarations can be sent to another provider"));
        };
        for d in decls {
            let name = d.get("name").and_then(Value::as_str).ok_or(format!("tools.{i}: a function needs a `name`"))?;
            let schema = d
                .get("parametersJsonSchema")
                .or(d.get("parameters"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            tools.push(ir::Tool {
                name: name.to_string(),
                description: d.get("description").and_then(Value::as_str).map(str::to_string),
                input_schema: schema,
                cache_control: None,
            });
        }
    }
    let tool_choice = match req.tool_config.and_then(|c| c.function_calling_config) {
        None => None,
        Some(f) => Some(match (f.mode.as_deref().unwrap_or("AUTO"), f.allowed_function_names.as_deref()) {
            ("NONE", _) => ir::ToolChoice::None,
            ("ANY", Some([one])) => ir::ToolChoice::Tool(one.clone()),
            ("ANY", _) => ir::ToolChoice::Required,
            ("AUTO" | "VALIDATED", _) => ir::ToolChoice::Auto,
            (other, _) => return Err(format!("toolConfig mode `{other}` is not supported")),
        }),
    };
    let g = req.generation_config.unwrap_or_default();
    if g.candidate_count.is_some_and(|n| n > 1) {
        return Err("candidateCount above 1 is not supported".into());
    }
    let response_format = match (g.response_mime_type.as_deref(), g.response_json_schema.or(g.response_schema)) {
        (Some("application/json"), Some(schema)) => {
            Some(ir::ResponseFormat::JsonSchema { name: "response".into(), description: None, schema, strict: None })
        }
        (Some("application/json"), None) => Some(ir::ResponseFormat::JsonObject),
        (None | Some("text/plain"), _) => None,
        (Some(other), _) => return Err(format!("responseMimeType `{other}` is not supported")),
    };
    let thinking_budget = g
        .thinking_config
        .and_then(|t| t.thinking_budget)
        .filter(|b| *b > 0)
        .map(|b| u32::try_from(b).map_err(|_| "thinkingBudget is too large".to_string()))
        .transpose()?;
    Ok(ir::Request {
        model: model.to_string(),
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        max_tokens: g.max_output_tokens,
        temperature: g.temperature,
        top_p: g.top_p,
        top_k: g.top_k,
        stop: g.stop_sequences.unwrap_or_default(),
        response_format,
        stream: false,
        include_usage: true,
        user: None,
        thinking_budget,
        adaptive_thinking: false,
        effort: None,
    })
}

/// Parses a non-streamed `generateContent` response into the IR.
pub fn parse_response(bytes: &[u8]) -> Result<ir::Response, String> {
    let r: GenerateContentResponse = serde_json::from_slice(bytes)
        .map_err(|e| format!("the provider's response is not a GenerateContentResponse: {e}"))?;
    Ok(response_to_ir(r))
}

/// The id of the `n`-th function call without an id in response `response_id`.
pub(crate) fn generated_call_id(response_id: &str, n: usize) -> String {
    format!("{GENERATED_ID_PREFIX}{}_{n}", ir::sanitize_tool_id(response_id))
}

pub fn response_to_ir(r: GenerateContentResponse) -> ir::Response {
    let id = r.response_id.unwrap_or_else(|| "gemini-response".into());
    let blocked = r.prompt_feedback.as_ref().is_some_and(|f| f.get("blockReason").is_some());
    let candidate = r.candidates.into_iter().find(|c| c.index.unwrap_or(0) == 0);
    let (parts, finish) = match candidate {
        Some(c) => (c.content.map(|c| c.parts).unwrap_or_default(), c.finish_reason),
        None => (Vec::new(), None),
    };
    let mut n = 0;
    let content = parts_to_ir(parts, |_| {
        n += 1;
        generated_call_id(&id, n - 1)
    });
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolUse { .. }));
    let stop_reason = match finish {
        Some(f) => Some(finish_reason_from_wire(&f, has_calls)),
        None if blocked => Some(ir::StopReason::Refusal),
        None => None,
    };
    ir::Response {
        id,
        model: r.model_version.unwrap_or_default(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: r.usage_metadata.unwrap_or_default().to_usage(),
    }
}

/// The IR as a `GenerateContentResponse` (one candidate).
pub fn response_from_ir(r: &ir::Response) -> Result<GenerateContentResponse, String> {
    let names = HashMap::new();
    let parts = parts_to_wire(&r.content, &names)?;
    Ok(GenerateContentResponse {
        candidates: vec![Candidate {
            content: Some(Content { role: Some("model".into()), parts }),
            finish_reason: r.stop_reason.map(|s| finish_reason_to_wire(s).to_string()),
            index: Some(0),
        }],
        prompt_feedback: None,
        usage_metadata: Some(UsageMetadata::from_usage(&r.usage)),
        model_version: Some(r.model.clone()),
        response_id: Some(r.id.clone()),
    })
}
