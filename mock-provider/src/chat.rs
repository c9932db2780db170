//! Chat Completions: parsing the request and deciding the reply (text pieces or tool calls,
//! finish reason, usage), shared by the JSON and the streamed encodings.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use crate::chat_plan::{CompletionDetails, Plan, PromptDetails, Usage};
use crate::options::Effective;
use crate::reply::{self, Ask, Finish, ToolChoice, content_text, content_words};
use crate::route::Dialect;
use crate::{chat_json, chat_stream, errors};

/// Most choices a request may ask for with `n`.
const MAX_N: u64 = 128;

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Option<Vec<Tool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    n: Option<u64>,
    #[serde(default)]
    logprobs: Option<bool>,
    #[serde(default)]
    response_format: Option<ResponseFormat>,
}

#[derive(Deserialize)]
struct InMessage {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
struct Tool {
    #[serde(default)]
    function: Option<ToolFunction>,
}

#[derive(Deserialize)]
struct ToolFunction {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct ResponseFormat {
    #[serde(rename = "type", default)]
    kind: String,
}

/// Serves `POST /v1/chat/completions` (and Azure's deployment route, in `dialect`'s errors) once latency and scripted errors are done with.
/// `default_model` names the reply when the body has no `model` (Azure names the deployment in
/// the URL instead).
pub(crate) fn handle(
    body: &[u8],
    eff: &Effective,
    counter: &AtomicU64,
    dialect: Dialect,
    default_model: &str,
) -> Response {
    let req: ChatRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return errors::bad_request(dialect, &format!("invalid chat completion request: {e}")),
    };
    let stream = req.stream == Some(true);
    let plan = plan(req, reply::directive(body), eff, counter, default_model);
    if stream { chat_stream::response(&plan, eff) } else { chat_json::response(&plan, eff) }
}

/// Words in message text (string contents and `text` parts).
fn prompt_words(messages: &[InMessage]) -> u64 {
    messages.iter().filter_map(|m| m.content.as_ref()).map(content_words).sum()
}

/// The request reduced to what decides the answer.
fn ask(req: &ChatRequest) -> Ask {
    let last = req.messages.last();
    let tools: Vec<String> =
        req.tools.iter().flatten().filter_map(|t| t.function.as_ref()).map(|f| f.name.clone()).collect();
    let choice = match &req.tool_choice {
        Some(Value::String(s)) if s == "none" => ToolChoice::Never,
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Named(tools.first().cloned().unwrap_or_default()),
        },
        _ => ToolChoice::Auto,
    };
    Ask {
        tool_result: last.filter(|m| m.role == "tool").map(|m| content_text(m.content.as_ref())),
        tools,
        choice,
        parallel: req.parallel_tool_calls != Some(false),
        json: req.response_format.as_ref().is_some_and(|f| f.kind == "json_object" || f.kind == "json_schema"),
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        thinking: false,
        directive: None,
    }
}

/// The OpenAI name of a finish reason.
pub(crate) fn finish_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolUse => "tool_calls",
    }
}

/// Decides the reply to `req` under `eff`; `default_model` names it when the body does not.
fn plan(
    req: ChatRequest,
    directive: Option<reply::Directive>,
    eff: &Effective,
    counter: &AtomicU64,
    default_model: &str,
) -> Plan {
    let answer = reply::decide(&Ask { directive, ..ask(&req) }, eff, counter, "call_mock_");
    let choices = req.n.unwrap_or(1).clamp(1, MAX_N);
    let prompt_tokens = eff.prompt_tokens.unwrap_or_else(|| prompt_words(&req.messages).max(1));
    let completion_tokens = eff.completion_tokens.unwrap_or(answer.chunks() * choices);
    Plan {
        id: format!("chatcmpl-mock-{}", counter.fetch_add(1, Ordering::Relaxed)),
        model: req.model.unwrap_or_else(|| default_model.to_owned()),
        choices,
        reply: answer.reply,
        finish_reason: finish_reason(answer.finish),
        logprobs: req.logprobs == Some(true),
        include_usage: req.stream_options.and_then(|o| o.include_usage) == Some(true),
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: PromptDetails { cached_tokens: eff.cached_tokens },
            completion_tokens_details: CompletionDetails { reasoning_tokens: eff.reasoning_tokens },
        },
    }
}
