//! The smallest request that shows a model answers (the status probe of idle models,
//! `jobs::status_probe`): one short user message and one output token, or one word to embed,
//! in each protocol's shape. Whether an answer came back is read with [`answer_member`].

use serde_json::{Value, json};

use super::Protocol;

/// What a probe asks of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A one-token completion.
    Chat,
    /// One word embedded (OpenAI-protocol providers only).
    Embeddings,
}

const PROMPT: &str = "ping";

/// The probe's body for `protocol`, naming `model` where the body does (Gemini and Bedrock
/// name it in the URL); `None` when the protocol has no such operation.
pub fn body(protocol: Protocol, kind: ProbeKind, model: &str) -> Option<Value> {
    Some(match (protocol, kind) {
        (Protocol::OpenAi, ProbeKind::Chat) => json!({
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 1,
        }),
        (Protocol::OpenAi, ProbeKind::Embeddings) => json!({"model": model, "input": PROMPT}),
        (Protocol::Anthropic, ProbeKind::Chat) => json!({
            "model": model,
            "max_tokens": 1,
            "messages": [{"role": "user", "content": PROMPT}],
        }),
        (Protocol::Gemini, ProbeKind::Chat) => json!({
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": {"maxOutputTokens": 1},
        }),
        (Protocol::Bedrock, ProbeKind::Chat) => json!({
            "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
            "inferenceConfig": {"maxTokens": 1},
        }),
        _ => return None,
    })
}

/// The member a whole answer of `protocol` must carry (see [`super::not_an_answer`]).
pub fn answer_member(protocol: Protocol, kind: ProbeKind) -> Option<&'static str> {
    match (protocol, kind) {
        (Protocol::OpenAi, ProbeKind::Embeddings) => Some("data"),
        (Protocol::OpenAi, ProbeKind::Chat) => Some("choices"),
        (Protocol::Anthropic, _) => Some("content"),
        (Protocol::Bedrock, _) => Some("output"),
        // Any JSON object: its parser tells the rest (as for a call).
        (Protocol::Gemini, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_asks_for_one_token() {
        assert_eq!(body(Protocol::OpenAi, ProbeKind::Chat, "m").unwrap()["max_tokens"], 1);
        assert_eq!(body(Protocol::Anthropic, ProbeKind::Chat, "m").unwrap()["max_tokens"], 1);
        assert_eq!(body(Protocol::Gemini, ProbeKind::Chat, "m").unwrap()["generationConfig"]["maxOutputTokens"], 1);
        assert_eq!(body(Protocol::Bedrock, ProbeKind::Chat, "m").unwrap()["inferenceConfig"]["maxTokens"], 1);
        assert_eq!(body(Protocol::OpenAi, ProbeKind::Embeddings, "m").unwrap()["input"], PROMPT);
        assert!(body(Protocol::Anthropic, ProbeKind::Embeddings, "m").is_none());
    }
}
