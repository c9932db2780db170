//! Anthropic Messages: `POST /v1/messages` (JSON or SSE), `POST /v1/messages/count_tokens`,
//! the header checks the real API makes, and the non-stream `message` body. The stream is in
//! [`crate::anthropic_stream`].

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::anthropic_plan::{Plan, stop_reason, usage};
use crate::options::Effective;
use crate::reply::{self, Ask, Reply, Tokens, ToolChoice, content_text, content_words};
use crate::route::Dialect;
use crate::{anthropic_stream, errors, script};

#[derive(Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    tools: Vec<Tool>,
    #[serde(default)]
    tool_choice: Option<ToolChoiceIn>,
    #[serde(default)]
    thinking: Option<Typed>,
    /// Structured outputs (beta `output_format`, GA `output_config.format`): the reply is JSON.
    #[serde(default)]
    output_format: Option<Typed>,
    #[serde(default)]
    output_config: Option<Value>,
}

#[derive(Deserialize)]
struct InMessage {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Value,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ToolChoiceIn {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "type", default)]
    kind: String,
}

/// Refuses a request without a key (`x-api-key`, or a bearer token as Claude Code sends)
/// or without `anthropic-version`, with the real API's statuses and messages.
pub(crate) fn refusal(headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Bearer ").is_some_and(|t| !t.trim().is_empty()));
    if !bearer && headers.get("x-api-key").is_none_or(|v| v.is_empty()) {
        return Some(errors::error(Dialect::Anthropic, 401, "x-api-key header is required", None));
    }
    if headers.get("anthropic-version").is_none_or(|v| v.is_empty()) {
        return Some(errors::bad_request(Dialect::Anthropic, "anthropic-version: header is required"));
    }
    None
}

/// Parses and validates a Messages (or count_tokens) body as the real API does.
fn parse(body: &[u8], needs_max_tokens: bool) -> Result<MessagesRequest, Box<Response>> {
    let bad = |m: &str| Box::new(errors::bad_request(Dialect::Anthropic, m));
    let req: MessagesRequest = serde_json::from_slice(body).map_err(|e| bad(&format!("invalid request body: {e}")))?;
    if req.model.as_deref().is_none_or(str::is_empty) {
        return Err(bad("model: Field required"));
    }
    if needs_max_tokens && req.max_tokens.is_none() {
        return Err(bad("max_tokens: Field required"));
    }
    if req.messages.is_empty() {
        return Err(bad("messages: at least one message is required"));
    }
    Ok(req)
}

/// Words of the system prompt and every message.
fn prompt_words(req: &MessagesRequest) -> u64 {
    req.system.as_ref().map_or(0, content_words) + req.messages.iter().map(|m| content_words(&m.content)).sum::<u64>()
}

/// The text of the `tool_result` block that ends the conversation, if it ends with one.
fn tool_result(messages: &[InMessage]) -> Option<String> {
    let last = messages.last().filter(|m| m.role == "user")?;
    let block = last.content.as_array()?.iter().rev().find(|b| b["type"] == "tool_result")?;
    Some(content_text(block.get("content")))
}

fn ask(req: &MessagesRequest) -> Ask {
    let choice = req.tool_choice.as_ref();
    Ask {
        tool_result: tool_result(&req.messages),
        tools: req.tools.iter().map(|t| t.name.clone()).collect(),
        choice: match choice.map(|c| (c.kind.as_str(), &c.name)) {
            Some(("none", _)) => ToolChoice::Never,
            Some(("tool", Some(name))) => ToolChoice::Named(name.clone()),
            _ => ToolChoice::Auto,
        },
        parallel: choice.and_then(|c| c.disable_parallel_tool_use) != Some(true),
        json: req.output_format.as_ref().is_some_and(|f| f.kind == "json_schema")
            || req.output_config.as_ref().and_then(|c| c.pointer("/format/type")) == Some(&json!("json_schema")),
        max_tokens: req.max_tokens,
        thinking: req.thinking.as_ref().is_some_and(|t| t.kind == "enabled" || t.kind == "adaptive"),
        directive: None,
    }
}

/// Serves `POST /v1/messages` once latency and scripted errors are done with.
pub(crate) fn handle(body: &[u8], eff: &Effective, counter: &AtomicU64) -> Response {
    let req = match parse(body, true) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let answer = reply::decide(&Ask { directive: reply::directive(body), ..ask(&req) }, eff, counter, "toolu_mock_");
    let plan = Plan {
        id: format!("msg_mock_{}", counter.fetch_add(1, Ordering::Relaxed)),
        model: req.model.clone().unwrap_or_default(),
        tokens: Tokens::new(prompt_words(&req), &answer, eff),
        answer,
    };
    if req.stream == Some(true) {
        anthropic_stream::response(&plan, eff)
    } else {
        let mut message = message(&plan);
        if eff.no_usage
            && let Some(m) = message.as_object_mut()
        {
            m.remove("usage");
        }
        script::json_response(message.to_string().into_bytes(), eff)
    }
}

/// The whole `message` object.
fn message(plan: &Plan) -> Value {
    let mut content = Vec::new();
    if let Some(thinking) = &plan.answer.thinking {
        content
            .push(json!({"type": "thinking", "thinking": thinking.pieces.concat(), "signature": thinking.signature}));
    }
    match &plan.answer.reply {
        Reply::Text(_) => content.push(json!({"type": "text", "text": plan.answer.text()})),
        Reply::Tools(calls) => content
            .extend(calls.iter().map(|c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.input()}))),
    }
    json!({
        "id": plan.id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": stop_reason(plan.answer.finish),
        "stop_sequence": null,
        "usage": usage(&plan.tokens, plan.tokens.output),
    })
}

/// Serves `POST /v1/messages/count_tokens`: the prompt's words, or `prompt_tokens`; a whole
/// JSON reply, so the body's failure modes (`stall_after`, `cut_after`, ...) apply to it too.
pub(crate) fn count_tokens(body: &[u8], eff: &Effective) -> Response {
    let req = match parse(body, false) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let input_tokens = eff.prompt_tokens.unwrap_or_else(|| prompt_words(&req).max(1));
    script::json_response(json!({ "input_tokens": input_tokens }).to_string().into_bytes(), eff)
}
