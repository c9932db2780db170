//! Gemini: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`,
//! the key in `x-goog-api-key` (never in the URL), `candidates` with text, thought and
//! `functionCall` parts, `finishReason`, `usageMetadata`, Google's error shape.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors;
use crate::options::Effective;
use crate::reply::{self, Answer, Ask, Finish, Reply, Tokens, ToolChoice, content_text, content_words};
use crate::route::Dialect;
use crate::script::{self, Script};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    #[serde(default)]
    contents: Vec<Content>,
    #[serde(default)]
    system_instruction: Option<Content>,
    #[serde(default)]
    tools: Vec<Tool>,
    #[serde(default)]
    tool_config: Option<Value>,
    #[serde(default)]
    generation_config: Option<Value>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    role: String,
    #[serde(default)]
    parts: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tool {
    #[serde(default)]
    function_declarations: Vec<Value>,
}

/// Refuses a key in the URL (400, so the gateway is proven never to put it there), a request
/// without `x-goog-api-key` (403, as Google answers unregistered callers) and a stream not
/// asked for as SSE.
pub(crate) fn refusal(headers: &HeaderMap, query: &str, stream: bool) -> Option<Response> {
    let params = || query.split('&').filter_map(|pair| pair.split_once('=').or(Some((pair, ""))));
    if params().any(|(name, _)| name == "key") {
        let message = "mock-provider: the API key must be sent in the x-goog-api-key header, not in the URL";
        return Some(errors::bad_request(Dialect::Gemini, message));
    }
    if headers.get("x-goog-api-key").is_none_or(|v| v.is_empty()) {
        let message = "Method doesn't allow unregistered callers (callers without established identity). Please use \
                       API Key or other form of API consumer identity to call this API.";
        return Some(errors::error(Dialect::Gemini, 403, message, None));
    }
    if stream && !params().any(|pair| pair == ("alt", "sse")) {
        let message = "mock-provider: streamGenerateContent is served as server-sent events only; add alt=sse";
        return Some(errors::bad_request(Dialect::Gemini, message));
    }
    None
}

/// The text of the `functionResponse` that ends the conversation, if it ends with one.
fn tool_result(contents: &[Content]) -> Option<String> {
    let last = contents.last().filter(|c| c.role != "model")?;
    let part = last.parts.as_array()?.iter().rev().find_map(|p| p.get("functionResponse"))?;
    Some(content_text(part.get("response")))
}

fn ask(req: &GenerateRequest) -> Ask {
    let calling = req.tool_config.as_ref().and_then(|c| c.get("functionCallingConfig"));
    let mode = calling.and_then(|c| c["mode"].as_str()).unwrap_or("AUTO");
    let allowed: Vec<&str> = calling
        .and_then(|c| c["allowedFunctionNames"].as_array())
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let generation = req.generation_config.as_ref();
    let config = |path: &[&str]| generation.and_then(|g| path.iter().try_fold(g, |v, k| v.get(*k)));
    Ask {
        tool_result: tool_result(&req.contents),
        tools: req
            .tools
            .iter()
            .flat_map(|t| &t.function_declarations)
            .filter_map(|f| f["name"].as_str().map(str::to_owned))
            .collect(),
        choice: match (mode, allowed.as_slice()) {
            ("NONE", _) => ToolChoice::Never,
            ("ANY", [name, ..]) => ToolChoice::Named((*name).to_owned()),
            _ => ToolChoice::Auto,
        },
        parallel: true,
        json: config(&["responseMimeType"]).and_then(Value::as_str) == Some("application/json"),
        max_tokens: config(&["maxOutputTokens"]).and_then(Value::as_u64),
        thinking: config(&["thinkingConfig", "includeThoughts"]).and_then(Value::as_bool) == Some(true),
        directive: None,
    }
}

/// The Gemini name of a finish reason (a function call ends with `STOP`).
fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop | Finish::ToolUse => "STOP",
        Finish::Length => "MAX_TOKENS",
    }
}

/// `usageMetadata` with Gemini's semantics: `promptTokenCount` includes the cached tokens,
/// `candidatesTokenCount` excludes the thoughts; zero cache and thought counts are omitted.
fn usage_metadata(tokens: &Tokens) -> Value {
    let mut usage = json!({
        "promptTokenCount": tokens.prompt,
        "candidatesTokenCount": tokens.output.saturating_sub(tokens.reasoning),
        "totalTokenCount": tokens.prompt.saturating_add(tokens.output),
    });
    if tokens.cached > 0 {
        usage["cachedContentTokenCount"] = json!(tokens.cached);
    }
    if tokens.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(tokens.reasoning);
    }
    usage
}

/// The parts of the answer as a stream sends them, one per chunk: thought pieces, text
/// pieces, whole function calls (the first reply part carries the thought signature).
fn parts(answer: &Answer) -> Vec<Value> {
    let mut parts: Vec<Value> = Vec::new();
    if let Some(thinking) = &answer.thinking {
        parts.extend(thinking.pieces.iter().map(|p| json!({"text": p, "thought": true})));
    }
    let first_reply = parts.len();
    match &answer.reply {
        Reply::Text(pieces) => parts.extend(pieces.iter().map(|p| json!({"text": p}))),
        Reply::Tools(calls) => {
            parts.extend(calls.iter().map(|c| json!({"functionCall": {"name": c.name, "args": c.input()}})))
        }
    }
    if let (Some(thinking), Some(part)) = (&answer.thinking, parts.get_mut(first_reply)) {
        part["thoughtSignature"] = json!(thinking.signature);
    }
    parts
}

/// Joins adjacent text parts of the same kind, as a non-stream reply has them.
fn merged(parts: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for part in parts {
        let same_kind = |prev: &Value| prev.get("text").is_some() && prev.get("thought") == part.get("thought");
        match (out.last_mut(), part.get("text").and_then(Value::as_str)) {
            (Some(prev), Some(text)) if same_kind(prev) && part.get("thoughtSignature").is_none() => {
                let joined = format!("{}{text}", prev["text"].as_str().unwrap_or_default());
                prev["text"] = json!(joined);
            }
            _ => out.push(part),
        }
    }
    out
}

/// One `GenerateContentResponse`.
/// `usage` of `None` leaves `usageMetadata` out (`no_usage`).
fn response_object(parts: Vec<Value>, finish: Option<Finish>, usage: Option<Value>, model: &str, id: &str) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish_reason(finish));
    }
    let mut object = json!({"candidates": [candidate], "modelVersion": model, "responseId": id});
    if let Some(usage) = usage {
        object["usageMetadata"] = usage;
    }
    object
}

/// Gemini's SSE framing: `data: ...` and CRLF line ends.
fn sse(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\r\n\r\n"))
}

fn stream_error() -> Bytes {
    let data = String::from_utf8_lossy(&errors::gemini_body(500, errors::STREAM_ERROR)).into_owned();
    Bytes::from(format!("data: {data}\r\n\r\n"))
}

/// Serves `generateContent` / `streamGenerateContent` once latency and scripted errors are
/// done with.
pub(crate) fn handle(body: &[u8], eff: &Effective, counter: &AtomicU64, model: &str, stream: bool) -> Response {
    let req: GenerateRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return errors::bad_request(Dialect::Gemini, &format!("Invalid JSON payload received. {e}")),
    };
    if req.contents.is_empty() {
        return errors::bad_request(Dialect::Gemini, "* GenerateContentRequest.contents: contents is not specified");
    }
    let answer = reply::decide(&Ask { directive: reply::directive(body), ..ask(&req) }, eff, counter, "call_mock_");
    let words = req.system_instruction.iter().chain(&req.contents).map(|c| content_words(&c.parts)).sum();
    let tokens = Tokens::new(words, &answer, eff);
    let id = format!("mock-response-{}", counter.fetch_add(1, Ordering::Relaxed));
    if !stream {
        let usage = (!eff.no_usage).then(|| usage_metadata(&tokens));
        let object = response_object(merged(parts(&answer)), Some(answer.finish), usage, model, &id);
        return script::json_response(object.to_string().into_bytes(), eff);
    }
    let mut script = Script::new(eff);
    // Chunks before the last carry the prompt's counts (cache reads included, as Gemini
    // sends them), so a gateway can report input usage before the answer ends.
    let mut running = json!({"promptTokenCount": tokens.prompt, "totalTokenCount": tokens.prompt});
    if tokens.cached > 0 {
        running["cachedContentTokenCount"] = json!(tokens.cached);
    }
    for part in parts(&answer) {
        if script.content(stream_error) {
            return script.into_response("text/event-stream");
        }
        let usage = (!eff.no_usage).then(|| running.clone());
        script.send(sse(&response_object(vec![part], None, usage, model, &id)));
    }
    if !script.finish(stream_error) {
        let usage = (!eff.no_usage).then(|| usage_metadata(&tokens));
        let last = response_object(vec![json!({"text": ""})], Some(answer.finish), usage, model, &id);
        script.send(sse(&last));
    }
    script.into_response("text/event-stream")
}
