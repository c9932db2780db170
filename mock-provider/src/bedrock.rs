//! Bedrock Converse: `POST /model/{modelId}/converse` (JSON) and `/converse-stream` (the
//! AWS event-stream framing of [`crate::event_stream`]): text, reasoning and `toolUse`
//! blocks, `stopReason`, usage with Bedrock's cache fields. The signature checks are in
//! [`crate::bedrock_auth`].

use std::sync::atomic::AtomicU64;

use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::options::Effective;
use crate::reply::{self, Answer, Ask, Finish, Reply, Tokens, ToolChoice, content_words};
use crate::script::{self, Script};
use crate::{errors, event_stream};

/// Padding Bedrock adds to every stream event to hide the lengths of the deltas; a decoder
/// must ignore it.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
/// `metrics.latencyMs` of every reply.
const LATENCY_MS: u64 = 42;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest {
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    system: Option<Value>,
    #[serde(default)]
    inference_config: Option<Value>,
    #[serde(default)]
    tool_config: Option<Value>,
    #[serde(default)]
    additional_model_request_fields: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Value,
}

/// The text of the `toolResult` that ends the conversation, if it ends with one: its text
/// blocks, and its JSON blocks as JSON text.
fn tool_result(messages: &[Message]) -> Option<String> {
    let last = messages.last().filter(|m| m.role == "user")?;
    let result = last.content.as_array()?.iter().rev().find_map(|b| b.get("toolResult"))?;
    let blocks = result["content"].as_array().into_iter().flatten();
    Some(blocks.map(|b| b["text"].as_str().map_or_else(|| b["json"].to_string(), str::to_owned)).collect())
}

fn ask(req: &ConverseRequest) -> Ask {
    let tools = req.tool_config.as_ref().map_or(&Value::Null, |c| &c["tools"]);
    let choice = req.tool_config.as_ref().map_or(&Value::Null, |c| &c["toolChoice"]);
    let thinking = req.additional_model_request_fields.as_ref().map_or(&Value::Null, |f| &f["thinking"]["type"]);
    Ask {
        tool_result: tool_result(&req.messages),
        tools: tools
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
            .collect(),
        choice: match choice["tool"]["name"].as_str() {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        parallel: true,
        json: false,
        max_tokens: req.inference_config.as_ref().and_then(|c| c["maxTokens"].as_u64()),
        thinking: thinking == "enabled",
        directive: None,
    }
}

fn stop_reason(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolUse => "tool_use",
    }
}

/// Usage with Bedrock's semantics: `inputTokens` excludes cache reads and writes,
/// `totalTokens` counts everything; zero cache counts are omitted.
fn usage(tokens: &Tokens) -> Value {
    let input = tokens.uncached_prompt();
    let mut usage = json!({
        "inputTokens": input,
        "outputTokens": tokens.output,
        "totalTokens": input.saturating_add(tokens.cached).saturating_add(tokens.cache_write).saturating_add(tokens.output),
    });
    if tokens.cached > 0 {
        usage["cacheReadInputTokens"] = json!(tokens.cached);
    }
    if tokens.cache_write > 0 {
        usage["cacheWriteInputTokens"] = json!(tokens.cache_write);
    }
    usage
}

/// The non-stream `ConverseResponse`.
fn converse(answer: &Answer, tokens: &Tokens) -> Value {
    let mut content = Vec::new();
    if let Some(t) = &answer.thinking {
        let text = t.pieces.concat();
        content.push(json!({"reasoningContent": {"reasoningText": {"text": text, "signature": t.signature}}}));
    }
    match &answer.reply {
        Reply::Text(_) => content.push(json!({ "text": answer.text() })),
        Reply::Tools(calls) => content
            .extend(calls.iter().map(|c| json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.input()}}))),
    }
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(answer.finish),
        "usage": usage(tokens),
        "metrics": {"latencyMs": LATENCY_MS},
    })
}

/// One stream event with the padding field added.
fn event(event_type: &str, mut payload: Value) -> Bytes {
    payload["p"] = json!(PADDING);
    event_stream::event(event_type, payload.to_string().as_bytes())
}

fn stream_error() -> Bytes {
    event_stream::exception(
        "internalServerException",
        json!({ "message": errors::STREAM_ERROR }).to_string().as_bytes(),
    )
}

/// One content block of the stream: its optional start, its deltas (content chunks) and a
/// closing delta that is not content (the reasoning signature).
struct Block {
    start: Option<Value>,
    deltas: Vec<Value>,
    closing: Option<Value>,
}

fn blocks(answer: &Answer) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let Some(t) = &answer.thinking {
        blocks.push(Block {
            start: None,
            deltas: t.pieces.iter().map(|p| json!({"reasoningContent": {"text": p}})).collect(),
            closing: Some(json!({"reasoningContent": {"signature": t.signature}})),
        });
    }
    match &answer.reply {
        Reply::Text(pieces) => blocks.push(Block {
            start: None,
            deltas: pieces.iter().map(|p| json!({ "text": p })).collect(),
            closing: None,
        }),
        Reply::Tools(calls) => blocks.extend(calls.iter().map(|c| Block {
            start: Some(json!({"toolUse": {"toolUseId": c.id, "name": c.name}})),
            deltas: c.fragments().iter().map(|f| json!({"toolUse": {"input": f}})).collect(),
            closing: None,
        })),
    }
    blocks
}

fn stream<'e>(answer: &Answer, tokens: &Tokens, eff: &'e Effective) -> Script<'e> {
    let garbage = event_stream::event("contentBlockDelta", crate::script::GARBAGE.as_bytes());
    let mut script = Script::new(eff).garbage_frame(garbage);
    script.send(event("messageStart", json!({"role": "assistant"})));
    for (index, block) in blocks(answer).into_iter().enumerate() {
        if let Some(start) = block.start {
            script.send(event("contentBlockStart", json!({"contentBlockIndex": index, "start": start})));
        }
        for delta in block.deltas {
            if script.content(stream_error) {
                return script;
            }
            script.send(event("contentBlockDelta", json!({"contentBlockIndex": index, "delta": delta})));
        }
        if let Some(delta) = block.closing {
            script.send(event("contentBlockDelta", json!({"contentBlockIndex": index, "delta": delta})));
        }
        script.send(event("contentBlockStop", json!({ "contentBlockIndex": index })));
    }
    if script.finish(stream_error) {
        return script;
    }
    script.send(event("messageStop", json!({"stopReason": stop_reason(answer.finish)})));
    if !eff.no_usage {
        script.send(event("metadata", json!({"usage": usage(tokens), "metrics": {"latencyMs": LATENCY_MS}})));
    }
    script
}

/// Serves Converse / ConverseStream once latency and scripted errors are done with.
pub(crate) fn handle(body: &[u8], eff: &Effective, counter: &AtomicU64, stream_it: bool) -> Response {
    let bad = |m: &str| errors::bedrock(400, "ValidationException", m, None);
    let req: ConverseRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("Malformed input request: {e}")),
    };
    if req.messages.first().is_none_or(|m| m.role != "user") {
        return bad(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        );
    }
    let answer = reply::decide(&Ask { directive: reply::directive(body), ..ask(&req) }, eff, counter, "tooluse_mock_");
    let words = req.system.as_ref().map_or(0, content_words)
        + req.messages.iter().map(|m| content_words(&m.content)).sum::<u64>();
    let tokens = Tokens::new(words, &answer, eff);
    if stream_it {
        stream(&answer, &tokens, eff).into_response("application/vnd.amazon.eventstream")
    } else {
        let mut body = converse(&answer, &tokens);
        if eff.no_usage
            && let Some(m) = body.as_object_mut()
        {
            m.remove("usage");
        }
        script::json_response(body.to_string().into_bytes(), eff)
    }
}
