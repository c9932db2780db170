//! Chat Completions: parsing the request and deciding the reply (text pieces or tool calls,
//! finish reason, usage), shared by the JSON and the streamed encodings.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::options::{Effective, Size};
use crate::{chat_json, chat_stream, errors};

/// Fixed `created` timestamp of every response.
pub(crate) const CREATED: u64 = 1_700_000_000;
/// The arguments of every mock tool call, split into the fragments a stream sends.
pub(crate) const TOOL_ARG_FRAGMENTS: [&str; 3] = ["{\"location\":", "\"Paris\"", "}"];
/// The arguments of every mock tool call, whole.
pub(crate) const TOOL_ARGS: &str = "{\"location\":\"Paris\"}";
/// The content of a `response_format` json_object / json_schema reply, as streamed pieces.
const JSON_PIECES: [&str; 3] = ["{\"answer\":", "\"Hello\"", "}"];
/// Reply vocabulary: piece 0 is "Hello", later pieces cycle through the rest.
const WORDS: [&str; 9] = ["Hello", " from", " the", " mock", " provider", " with", " a", " deterministic", " reply"];
/// Most choices a request may ask for with `n`.
const MAX_N: u64 = 128;
/// Target content length of a `size=large` reply, leaving room for the envelope of ~10 KB.
const LARGE_CONTENT: usize = 9_600;

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

/// `usage` of a completion.
#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct PromptDetails {
    pub cached_tokens: u64,
}

#[derive(Serialize, Clone, Copy, Debug)]
pub(crate) struct CompletionDetails {
    pub reasoning_tokens: u64,
}

/// One tool call of the reply.
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
}

/// What the assistant says.
pub(crate) enum Reply {
    /// Text, as the pieces a stream sends (their concatenation is the content).
    Text(Vec<Cow<'static, str>>),
    /// Tool calls (content null).
    Tools(Vec<ToolCall>),
}

/// The decided reply to one chat request.
pub(crate) struct Plan {
    pub id: String,
    pub model: String,
    pub choices: u64,
    pub reply: Reply,
    pub finish_reason: &'static str,
    pub logprobs: bool,
    pub include_usage: bool,
    pub usage: Usage,
}

/// One entry of a `logprobs.content` list.
#[derive(Serialize)]
pub(crate) struct TokenLogprob<'a> {
    pub token: &'a str,
    pub logprob: f64,
    pub bytes: &'a [u8],
    pub top_logprobs: [u8; 0],
}

impl<'a> TokenLogprob<'a> {
    pub(crate) fn new(token: &'a str) -> Self {
        TokenLogprob { token, logprob: -0.1, bytes: token.as_bytes(), top_logprobs: [] }
    }
}

/// A `logprobs` object.
#[derive(Serialize)]
pub(crate) struct Logprobs<'a> {
    pub content: &'a [TokenLogprob<'a>],
}

/// Serves `POST /v1/chat/completions` once latency and scripted errors are done with.
pub(crate) fn handle(body: &[u8], eff: &Effective, counter: &AtomicU64) -> Response {
    let req: ChatRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return errors::bad_request(&format!("invalid chat completion request: {e}")),
    };
    let stream = req.stream == Some(true);
    let plan = plan(req, eff, counter);
    if stream { chat_stream::response(&plan, eff) } else { chat_json::response(&plan, eff) }
}

/// Words in message text (string contents and `text` parts).
fn prompt_words(messages: &[InMessage]) -> u64 {
    messages
        .iter()
        .filter_map(|m| m.content.as_ref())
        .map(|c| match c {
            Value::String(s) => s.split_whitespace().count() as u64,
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(|s| s.split_whitespace().count() as u64)
                .sum(),
            _ => 0,
        })
        .sum()
}

/// The text of a message content (a string, or the concatenated `text` parts).
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        Some(other @ (Value::Number(_) | Value::Bool(_) | Value::Object(_))) => other.to_string(),
        _ => String::new(),
    }
}

/// Splits text into pieces that each start at a word (with the whitespace before it), so
/// their concatenation is exactly `text`.
fn split_words(text: &str) -> Vec<Cow<'static, str>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = true;
    for (i, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if space && !prev_space && i > start {
            pieces.push(Cow::Owned(text[start..i].to_owned()));
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(Cow::Owned(text[start..].to_owned()));
    }
    pieces
}

/// The standard reply: `chunks` words, the first "Hello"; padded when `size=large`.
fn text_pieces(chunks: u64, size: Size) -> Vec<Cow<'static, str>> {
    let n = chunks as usize;
    let mut pieces: Vec<Cow<'static, str>> = (0..n)
        .map(|i| match i {
            0 => Cow::Borrowed(WORDS[0]),
            _ => Cow::Borrowed(WORDS[1 + (i - 1) % (WORDS.len() - 1)]),
        })
        .collect();
    if size == Size::Large && n > 0 {
        let per_piece = LARGE_CONTENT / n;
        for piece in &mut pieces {
            let pad = per_piece.saturating_sub(piece.len() + 1);
            if pad > 0 {
                let mut s = String::with_capacity(piece.len() + 1 + pad);
                s.push_str(piece);
                s.push('-');
                s.extend((0..pad).map(|j| (b'a' + (j % 26) as u8) as char));
                *piece = Cow::Owned(s);
            }
        }
    }
    pieces
}

/// The tool calls for a request that offers tools, or `None` if no tool should be called.
fn tool_calls(req: &ChatRequest, counter: &AtomicU64) -> Option<Vec<ToolCall>> {
    let names: Vec<&str> =
        req.tools.as_deref()?.iter().filter_map(|t| t.function.as_ref()).map(|f| f.name.as_str()).collect();
    if names.is_empty() {
        return None;
    }
    let chosen: Vec<&str> = match &req.tool_choice {
        Some(Value::String(s)) if s == "none" => return None,
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => vec![name],
            None => names[..1].to_vec(),
        },
        _ if req.parallel_tool_calls != Some(false) => names.into_iter().take(2).collect(),
        _ => names[..1].to_vec(),
    };
    Some(
        chosen
            .into_iter()
            .map(|name| ToolCall {
                id: format!("call_mock_{}", counter.fetch_add(1, Ordering::Relaxed)),
                name: name.to_owned(),
            })
            .collect(),
    )
}

/// Decides the reply to `req` under `eff`.
fn plan(req: ChatRequest, eff: &Effective, counter: &AtomicU64) -> Plan {
    let last_is_tool = req.messages.last().is_some_and(|m| m.role == "tool");
    let json_format = req.response_format.as_ref().is_some_and(|f| f.kind == "json_object" || f.kind == "json_schema");
    let mut finish_reason = "stop";
    let reply = if last_is_tool {
        let result = content_text(req.messages.last().and_then(|m| m.content.as_ref()));
        Reply::Text(split_words(&format!("tool result received: {result}")))
    } else if let Some(calls) = tool_calls(&req, counter) {
        finish_reason = "tool_calls";
        Reply::Tools(calls)
    } else if json_format {
        Reply::Text(JSON_PIECES.iter().map(|p| Cow::Borrowed(*p)).collect())
    } else {
        let mut pieces = text_pieces(eff.chunks, eff.size);
        let limit = req.max_completion_tokens.or(req.max_tokens);
        if let Some(limit) = limit.filter(|l| *l < pieces.len() as u64) {
            pieces.truncate(limit as usize);
            finish_reason = "length";
        }
        Reply::Text(pieces)
    };
    let choices = req.n.unwrap_or(1).clamp(1, MAX_N);
    let per_choice = match &reply {
        Reply::Text(pieces) => pieces.len() as u64,
        Reply::Tools(calls) => (calls.len() * TOOL_ARG_FRAGMENTS.len()) as u64,
    };
    let prompt_tokens = eff.prompt_tokens.unwrap_or_else(|| prompt_words(&req.messages).max(1));
    let completion_tokens = eff.completion_tokens.unwrap_or(per_choice * choices);
    Plan {
        id: format!("chatcmpl-mock-{}", counter.fetch_add(1, Ordering::Relaxed)),
        model: req.model.unwrap_or_else(|| "mock-gpt".to_owned()),
        choices,
        reply,
        finish_reason,
        logprobs: req.logprobs == Some(true),
        include_usage: req.stream_options.and_then(|o| o.include_usage) == Some(true),
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails { cached_tokens: eff.cached_tokens },
            completion_tokens_details: CompletionDetails { reasoning_tokens: eff.reasoning_tokens },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_is_lossless() {
        let text = "tool result received: {\"temp\":  20}\n ok";
        let pieces = split_words(text);
        assert_eq!(pieces.concat(), text);
        assert_eq!(pieces.len(), 6);
        assert_eq!(text_pieces(3, Size::Small).concat(), "Hello from the");
        let large: usize = text_pieces(8, Size::Large).iter().map(|p| p.len()).sum();
        assert!((9_000..=LARGE_CONTENT).contains(&large), "{large}");
    }
}
