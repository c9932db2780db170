//! The streamed (`text/event-stream`) chat response: the `chat.completion.chunk` sequence with
//! scripted delays, mid-stream stalls and aborts.

use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use crate::chat_plan::{CREATED, Logprobs, Plan, TokenLogprob, Usage};
use crate::errors;
use crate::options::Effective;
use crate::reply::Reply;
use crate::script::Script;

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: &'a [ChunkChoice<'a>],
    /// Absent unless usage was requested; then `null` except in the final usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a Usage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'static str>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u64,
    delta: &'a Delta<'a>,
    logprobs: Option<Logprobs<'a>>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// `Some(None)` serializes as `"content": null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// A delta to send once per choice; `content` marks the ones counted as content chunks.
struct Event<'a> {
    delta: Delta<'a>,
    content: bool,
    token: Option<&'a str>,
}

/// Serializes one SSE `data:` event.
fn sse(chunk: &Chunk) -> Bytes {
    let mut buf = Vec::with_capacity(320);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, chunk).unwrap_or_default();
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// The deltas of the reply, role chunk first.
fn events(plan: &Plan) -> Vec<Event<'_>> {
    match &plan.reply {
        Reply::Text(pieces) => {
            let mut events = Vec::with_capacity(pieces.len() + 1);
            events.push(Event {
                delta: Delta { role: Some("assistant"), content: Some(Some("")), tool_calls: None },
                content: false,
                token: None,
            });
            events.extend(pieces.iter().map(|p| Event {
                delta: Delta { content: Some(Some(p)), ..Delta::default() },
                content: true,
                token: Some(p),
            }));
            events
        }
        Reply::Tools(calls) => {
            let mut events = Vec::new();
            for (index, call) in calls.iter().enumerate() {
                let head = ToolCallDelta {
                    index,
                    id: Some(&call.id),
                    kind: Some("function"),
                    function: FunctionDelta { name: Some(&call.name), arguments: "" },
                };
                let first = index == 0;
                events.push(Event {
                    delta: Delta {
                        role: first.then_some("assistant"),
                        content: first.then_some(None),
                        tool_calls: Some([head]),
                    },
                    content: false,
                    token: None,
                });
                events.extend(call.fragments().into_iter().map(|frag| Event {
                    delta: Delta {
                        tool_calls: Some([ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: FunctionDelta { name: None, arguments: frag },
                        }]),
                        ..Delta::default()
                    },
                    content: true,
                    token: None,
                }));
            }
            events
        }
    }
}

/// The in-stream error object OpenAI sends when a stream fails after it started.
fn stream_error() -> Bytes {
    let mut buf = b"data: ".to_vec();
    buf.extend_from_slice(&errors::openai_body(500, errors::STREAM_ERROR));
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// Builds every frame of the stream up front.
fn script<'e>(plan: &Plan, eff: &'e Effective) -> Script<'e> {
    let usage_field = plan.include_usage.then_some(None);
    let chunk = |choices: &[ChunkChoice]| {
        sse(&Chunk {
            id: &plan.id,
            object: "chat.completion.chunk",
            created: CREATED,
            model: &plan.model,
            system_fingerprint: "fp_mock",
            choices,
            usage: usage_field,
            service_tier: eff.service_tier,
        })
    };
    let mut script = Script::new(eff);
    for event in events(plan) {
        if event.content && script.content(stream_error) {
            return script;
        }
        let token = event.token.map(TokenLogprob::new);
        for index in 0..plan.choices {
            let logprobs = match (&token, plan.logprobs) {
                (Some(t), true) => Some(Logprobs { content: std::slice::from_ref(t) }),
                _ => None,
            };
            let choice = ChunkChoice { index, delta: &event.delta, logprobs, finish_reason: None };
            script.send(chunk(std::slice::from_ref(&choice)));
        }
    }
    if script.finish(stream_error) {
        return script;
    }
    let empty = Delta::default();
    for index in 0..plan.choices {
        let choice = ChunkChoice { index, delta: &empty, logprobs: None, finish_reason: Some(plan.finish_reason) };
        script.send(chunk(std::slice::from_ref(&choice)));
    }
    if plan.include_usage && !eff.no_usage {
        script.send(sse(&Chunk {
            id: &plan.id,
            object: "chat.completion.chunk",
            created: CREATED,
            model: &plan.model,
            system_fingerprint: "fp_mock",
            choices: &[],
            usage: Some(Some(&plan.usage)),
            service_tier: eff.service_tier,
        }));
    }
    script.send(Bytes::from_static(b"data: [DONE]\n\n"));
    script
}

/// The streamed response: each chunk is its own body frame, with the delays in between.
pub(crate) fn response(plan: &Plan, eff: &Effective) -> Response {
    script(plan, eff).into_response("text/event-stream")
}
