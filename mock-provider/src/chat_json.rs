//! The non-stream `chat.completion` response body.

use axum::response::Response;
use serde::Serialize;

use crate::chat_plan::{CREATED, Logprobs, Plan, TokenLogprob, Usage};
use crate::options::Effective;
use crate::reply::Reply;
use crate::script;

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<&'a Usage>,
    system_fingerprint: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<&'static str>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u64,
    message: Message<'a>,
    logprobs: Option<Logprobs<'a>>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<&'a [ToolCallOut<'a>]>,
    refusal: Option<&'a str>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// Serializes the whole reply of `plan`.
fn encode(plan: &Plan, eff: &Effective) -> Vec<u8> {
    let no_usage = eff.no_usage;
    let (text, tokens, calls) = match &plan.reply {
        Reply::Text(pieces) => {
            let tokens: Vec<TokenLogprob> =
                if plan.logprobs { pieces.iter().map(|p| TokenLogprob::new(p)).collect() } else { Vec::new() };
            (Some(pieces.concat()), tokens, Vec::new())
        }
        Reply::Tools(calls) => {
            let calls = calls
                .iter()
                .map(|c| ToolCallOut {
                    id: &c.id,
                    kind: "function",
                    function: FunctionOut { name: &c.name, arguments: &c.args },
                })
                .collect();
            (None, Vec::new(), calls)
        }
    };
    let choices = (0..plan.choices)
        .map(|index| Choice {
            index,
            message: Message {
                role: "assistant",
                content: text.as_deref(),
                tool_calls: (!calls.is_empty()).then_some(calls.as_slice()),
                refusal: None,
            },
            logprobs: plan.logprobs.then_some(Logprobs { content: &tokens }),
            finish_reason: plan.finish_reason,
        })
        .collect();
    let completion = Completion {
        id: &plan.id,
        object: "chat.completion",
        created: CREATED,
        model: &plan.model,
        choices,
        usage: (!no_usage).then_some(&plan.usage),
        system_fingerprint: "fp_mock",
        service_tier: eff.service_tier,
    };
    serde_json::to_vec(&completion).unwrap_or_default()
}

/// The `chat.completion` response; with `cut_after` set, half the body then an abort.
pub(crate) fn response(plan: &Plan, eff: &Effective) -> Response {
    script::json_response(encode(plan, eff), eff)
}
