//! OpenAI Responses: `POST /v1/responses` (JSON or SSE events), `GET /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items` for responses it stored (`store` not false, as the real
//! API defaults), also under Azure's `/openai/v1/responses`. The stream is the event sequence
//! the official SDKs accumulate: `response.created`, `response.in_progress`, per output item
//! `response.output_item.added`, its content (`response.content_part.added`,
//! `response.output_text.delta`…`.done`, `response.content_part.done`; or
//! `response.function_call_arguments.delta`…`.done`), `response.output_item.done`, then
//! `response.completed` (or `response.incomplete` at the token limit) with the usage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::errors;
use crate::options::Effective;
use crate::reply::{self, Answer, Ask, Finish, Reply, Tokens, ToolChoice, content_text, content_words};
use crate::route::Dialect;
use crate::script::{self, Script};

/// Responses kept for `GET`, newest last; the oldest go beyond this many.
const KEPT: usize = 256;

/// Responses and their input items by id, and the ids oldest first.
type Kept = (HashMap<String, (Value, Vec<Value>)>, Vec<String>);

/// Stored responses and their input items, by id.
#[derive(Default)]
pub(crate) struct Store {
    kept: Mutex<Kept>,
}

impl Store {
    fn put(&self, response: &Value, input: Vec<Value>) {
        let id = response["id"].as_str().unwrap_or_default().to_string();
        let mut kept = self.kept.lock().unwrap();
        kept.1.push(id.clone());
        kept.0.insert(id, (response.clone(), input));
        if kept.1.len() > KEPT {
            let old = kept.1.remove(0);
            kept.0.remove(&old);
        }
    }

    /// `GET /v1/responses/{id}` (`items` false) or `/input_items` (true).
    pub(crate) fn get(&self, id: &str, items: bool) -> Response {
        let kept = self.kept.lock().unwrap();
        match kept.0.get(id) {
            None => errors::error(Dialect::OpenAi, 404, &format!("Response with id '{id}' not found."), None),
            Some((response, _)) if !items => axum::Json(response.clone()).into_response(),
            Some((_, input)) => axum::Json(json!({
                "object": "list", "data": input, "has_more": false,
                "first_id": input.first().and_then(|i| i.get("id")).cloned(),
                "last_id": input.last().and_then(|i| i.get("id")).cloned(),
            }))
            .into_response(),
        }
    }

    pub(crate) fn reset(&self) {
        *self.kept.lock().unwrap() = Default::default();
    }
}

/// The input as a list of items (a string is one user message).
fn input_items(body: &Value) -> Vec<Value> {
    match body.get("input") {
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn ask(body: &Value, items: &[Value], directive: Option<reply::Directive>) -> Ask {
    let tools: Vec<String> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function")
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    let choice = match &body["tool_choice"] {
        Value::String(s) if s == "none" => ToolChoice::Never,
        Value::Object(o) => match o.get("name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        _ => ToolChoice::Auto,
    };
    let last = items.last();
    Ask {
        tool_result: last.filter(|i| i["type"] == "function_call_output").map(|i| content_text(i.get("output"))),
        tools,
        choice,
        parallel: body["parallel_tool_calls"] != false,
        json: body.pointer("/text/format/type").and_then(Value::as_str).is_some_and(|t| t != "text"),
        max_tokens: body["max_output_tokens"].as_u64(),
        thinking: body.pointer("/reasoning/summary").is_some_and(|s| !s.is_null()),
        directive,
    }
}

fn prompt_words(body: &Value, items: &[Value]) -> u64 {
    let instructions = body["instructions"].as_str().map_or(0, reply::words);
    let input: u64 = items
        .iter()
        .map(|i| match i.get("content") {
            Some(Value::Array(parts)) => {
                parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).map(reply::words).sum()
            }
            Some(c) => content_words(c),
            None => i.get("output").map_or(0, content_words),
        })
        .sum();
    (instructions + input).max(1)
}

/// The output items of an answer: a reasoning summary, then a message or function calls.
fn output(answer: &Answer, counter: &AtomicU64) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(t) = &answer.thinking {
        out.push(json!({"type": "reasoning", "id": format!("rs_mock_{}", counter.fetch_add(1, Ordering::Relaxed)),
            "summary": [{"type": "summary_text", "text": t.pieces.concat()}]}));
    }
    match &answer.reply {
        Reply::Text(_) => out.push(json!({
            "type": "message", "id": format!("msg_mock_{}", counter.fetch_add(1, Ordering::Relaxed)),
            "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": answer.text(), "annotations": []}],
        })),
        Reply::Tools(calls) => out.extend(calls.iter().map(|c| {
            json!({"type": "function_call", "id": format!("fc_{}", c.id), "call_id": c.id, "name": c.name,
                "arguments": c.args, "status": "completed"})
        })),
    }
    out
}

fn usage(tokens: &Tokens) -> Value {
    json!({
        "input_tokens": tokens.prompt,
        "input_tokens_details": {"cached_tokens": tokens.cached},
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
        "total_tokens": tokens.prompt.saturating_add(tokens.output),
    })
}

/// Serves `POST /v1/responses` once latency and scripted errors are done with.
pub(crate) fn handle(body: &[u8], eff: &Effective, counter: &AtomicU64, store: &Store) -> Response {
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return errors::bad_request(Dialect::OpenAi, "invalid JSON body"),
    };
    let Some(model) = req["model"].as_str() else {
        return errors::bad_request(Dialect::OpenAi, "Missing required parameter: 'model'.");
    };
    let items = input_items(&req);
    if items.is_empty() {
        return errors::bad_request(Dialect::OpenAi, "Missing required parameter: 'input'.");
    }
    let answer = reply::decide(&ask(&req, &items, reply::directive(body)), eff, counter, "call_mock_");
    let tokens = Tokens::new(prompt_words(&req, &items), &answer, eff);
    let id = format!("resp_mock_{}", counter.fetch_add(1, Ordering::Relaxed));
    let incomplete = answer.finish == Finish::Length;
    let mut response = json!({
        "id": id, "object": "response", "created_at": 1_700_000_000, "model": model,
        "status": if incomplete { "incomplete" } else { "completed" },
        "incomplete_details": if incomplete { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "error": null, "instructions": req["instructions"], "output": output(&answer, counter),
        "parallel_tool_calls": req["parallel_tool_calls"] != false, "tool_choice": req.get("tool_choice").cloned().unwrap_or(json!("auto")),
        "tools": req.get("tools").cloned().unwrap_or(json!([])), "store": req["store"] != false,
        "previous_response_id": req["previous_response_id"], "text": req.get("text").cloned().unwrap_or(json!({"format": {"type": "text"}})),
        "usage": usage(&tokens),
    });
    if let Some(tier) = eff.service_tier {
        response["service_tier"] = json!(tier);
    }
    if req["store"] != false {
        let ids = (0..items.len()).map(|i| format!("item_{id}_{i}"));
        store.put(
            &response,
            items
                .into_iter()
                .zip(ids)
                .map(|(mut i, n)| {
                    i["id"] = json!(n);
                    i
                })
                .collect(),
        );
    }
    if req["stream"] != true {
        return script::json_response(response.to_string().into_bytes(), eff);
    }
    let mut s = Script::new(eff);
    let mut seq = 0u64;
    let mut send = |s: &mut Script, mut data: Value| {
        data["sequence_number"] = json!(seq);
        seq += 1;
        let kind = data["type"].as_str().unwrap_or_default().to_string();
        s.send(Bytes::from(format!("event: {kind}\ndata: {data}\n\n")));
    };
    let done = std::mem::take(&mut response["output"]);
    let mut shell = response.clone();
    (shell["status"], shell["usage"], shell["output"]) = (json!("in_progress"), Value::Null, json!([]));
    send(&mut s, json!({"type": "response.created", "response": shell}));
    send(&mut s, json!({"type": "response.in_progress", "response": shell}));
    let pieces: Vec<String> = match &answer.reply {
        Reply::Text(p) => p.iter().map(|p| p.to_string()).collect(),
        Reply::Tools(_) => Vec::new(),
    };
    let fragments: Vec<Vec<String>> = match &answer.reply {
        Reply::Tools(calls) => calls.iter().map(|c| c.fragments().into_iter().map(str::to_string).collect()).collect(),
        Reply::Text(_) => Vec::new(),
    };
    let mut calls = fragments.iter();
    for (index, item) in done.as_array().into_iter().flatten().enumerate() {
        let mut open = item.clone();
        match item["type"].as_str() {
            Some("message") => {
                (open["status"], open["content"]) = (json!("in_progress"), json!([]));
                send(&mut s, json!({"type": "response.output_item.added", "output_index": index, "item": open}));
                let part = json!({"type": "output_text", "text": "", "annotations": []});
                let at = json!({"item_id": item["id"], "output_index": index, "content_index": 0});
                send(&mut s, merge(json!({"type": "response.content_part.added", "part": part}), &at));
                for p in &pieces {
                    if s.content(stream_error) {
                        return s.into_response("text/event-stream; charset=utf-8");
                    }
                    send(&mut s, merge(json!({"type": "response.output_text.delta", "delta": p}), &at));
                }
                let text = answer.text();
                send(&mut s, merge(json!({"type": "response.output_text.done", "text": text}), &at));
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                send(&mut s, merge(json!({"type": "response.content_part.done", "part": part}), &at));
            }
            Some("function_call") => {
                (open["status"], open["arguments"]) = (json!("in_progress"), json!(""));
                send(&mut s, json!({"type": "response.output_item.added", "output_index": index, "item": open}));
                let at = json!({"item_id": item["id"], "output_index": index});
                for f in calls.next().into_iter().flatten() {
                    if s.content(stream_error) {
                        return s.into_response("text/event-stream; charset=utf-8");
                    }
                    send(&mut s, merge(json!({"type": "response.function_call_arguments.delta", "delta": f}), &at));
                }
                let args = item["arguments"].clone();
                send(&mut s, merge(json!({"type": "response.function_call_arguments.done", "arguments": args}), &at));
            }
            _ => send(&mut s, json!({"type": "response.output_item.added", "output_index": index, "item": open})),
        }
        send(&mut s, json!({"type": "response.output_item.done", "output_index": index, "item": item}));
    }
    if s.finish(stream_error) {
        return s.into_response("text/event-stream; charset=utf-8");
    }
    response["output"] = done;
    let last = if incomplete { "response.incomplete" } else { "response.completed" };
    send(&mut s, json!({"type": last, "response": response}));
    s.into_response("text/event-stream; charset=utf-8")
}

fn merge(mut event: Value, at: &Value) -> Value {
    for (k, v) in at.as_object().into_iter().flatten() {
        event[k] = v.clone();
    }
    event
}

/// The in-stream failure: an `error` event, as the real API sends one.
fn stream_error() -> Bytes {
    let data = json!({"type": "error", "code": "server_error", "message": "The server had an error processing your request.", "param": null});
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}
