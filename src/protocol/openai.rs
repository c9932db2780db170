//! The OpenAI dialect: the few request fields the gateway reads or rewrites, and usage.
//! Everything else in a body passes through untouched. Conversion to and from the canonical
//! form lives in [`chat`].

pub mod chat;
pub mod images;
pub mod models;
pub mod responses;

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::billing::price_shapes::ServiceTier;
use crate::billing::pricing::{Usage, reported};
use crate::protocol::usage_count;

/// A parsed request body; fields the gateway does not know stay in `body`.
#[derive(Debug)]
pub struct ChatRequest {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// The client asked for the final usage chunk (`stream_options.include_usage`).
    pub client_wants_usage: bool,
}

/// Parses a JSON object body and reads `model` and the streaming flags.
pub fn parse_request(bytes: &[u8]) -> Result<ChatRequest, String> {
    let body = super::json_object(bytes)?;
    let model = super::model_of(&body).map_err(|e| format!("`model` {e}"))?;
    let stream = super::stream_flag(&body).map_err(|e| format!("`stream` {e}"))?;
    let client_wants_usage = client_wants_usage(&body);
    Ok(ChatRequest { body, model, stream, client_wants_usage })
}

/// The client asked for the final usage chunk of a stream (`stream_options.include_usage`).
pub fn client_wants_usage(body: &Map<String, Value>) -> bool {
    body.get("stream_options").and_then(|o| o.get("include_usage")).and_then(Value::as_bool).unwrap_or(false)
}

/// Usage as OpenAI reports it: `prompt_tokens` includes cached tokens.
#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default, deserialize_with = "usage_count::count")]
    prompt_tokens: i64,
    #[serde(default, deserialize_with = "usage_count::count")]
    completion_tokens: i64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Deserialize)]
struct PromptDetails {
    #[serde(default, deserialize_with = "usage_count::optional")]
    cached_tokens: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CompletionDetails {
    #[serde(default, deserialize_with = "usage_count::optional")]
    reasoning_tokens: Option<i64>,
}

impl WireUsage {
    fn to_usage(&self) -> Usage {
        let cached = reported(self.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0));
        Usage {
            input_tokens: (reported(self.prompt_tokens) - cached).max(0),
            cached_tokens: cached,
            output_tokens: reported(self.completion_tokens),
            reasoning_tokens: reported(
                self.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0),
            ),
            ..Usage::default()
        }
    }
}

#[derive(Deserialize)]
struct UsageHolder<'a> {
    #[serde(default)]
    usage: Option<WireUsage>,
    /// The tier the provider ran the call in (`default`, `flex`, `priority`).
    #[serde(default, borrow)]
    service_tier: Option<Cow<'a, str>>,
}

/// Usage of a JSON response body (chat completion, embeddings), if it reports any, with the
/// service tier the answer names.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let h = serde_json::from_slice::<UsageHolder>(body).ok()?;
    let tier = h.service_tier.as_deref().and_then(ServiceTier::from_wire);
    h.usage.map(|u| Usage { service_tier: tier, ..u.to_usage() })
}

/// The service tier an OpenAI answer (a body, a stream chunk, a Responses object) names.
pub fn service_tier_of(v: &Value) -> Option<ServiceTier> {
    v.get("service_tier").and_then(Value::as_str).and_then(ServiceTier::from_wire)
}

/// True if a stream chunk's JSON carries a usage object (not `"usage":null`), checked
/// without parsing so ordinary chunks cost a substring search.
pub fn chunk_has_usage(data: &str) -> bool {
    static USAGE: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("\"usage\""));
    let mut rest = data;
    while let Some(i) = USAGE.find(rest.as_bytes()) {
        rest = &rest[i + 7..];
        let after = rest.trim_start();
        if let Some(v) = after.strip_prefix(':')
            && v.trim_start().starts_with('{')
        {
            return true;
        }
    }
    false
}

/// What to do with a usage-carrying chunk the client did not ask for: `None` drops it (the
/// dedicated usage chunk has no choices), `Some` is the chunk without its usage field.
pub fn strip_usage(data: &str) -> Option<String> {
    let mut v: Map<String, Value> = serde_json::from_str(data).ok()?;
    v.remove("usage");
    match v.get("choices") {
        Some(Value::Array(c)) if !c.is_empty() => Some(serde_json::to_string(&v).expect("map serializes")),
        _ => None,
    }
}

/// Usage of one stream chunk's JSON.
pub fn chunk_usage(data: &str) -> Option<Usage> {
    usage_of(data.as_bytes())
}

/// The message of a stream chunk that is an error object (`{"error": {...}}`), as providers
/// send when a stream fails after it started. Ordinary chunks cost a substring search.
pub fn chunk_error(data: &str) -> Option<String> {
    static ERROR: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new("\"error\""));
    ERROR.find(data.as_bytes())?;
    let v: Map<String, Value> = serde_json::from_str(data).ok()?;
    let e = v.get("error").filter(|e| !e.is_null())?;
    let message = e.get("message").and_then(Value::as_str).or_else(|| e.as_str()).unwrap_or("unknown error");
    Some(message.chars().take(500).collect())
}

#[derive(Deserialize)]
struct OutputChunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<OutputChoice<'a>>,
}

#[derive(Deserialize)]
struct OutputChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<OutputDelta<'a>>,
}

#[derive(Deserialize)]
struct OutputDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Vec<OutputToolCall<'a>>,
}

#[derive(Deserialize)]
struct OutputToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<OutputFunction<'a>>,
}

#[derive(Deserialize)]
struct OutputFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// Bytes of generated text in one stream chunk: message text, reasoning, refusals and
/// tool-call names and arguments of every choice (0 for chunks without them); `None` when the
/// chunk is not a JSON object (a stream that is not what it claims).
pub fn chunk_output_bytes(data: &str) -> Option<usize> {
    match serde_json::from_str::<OutputChunk>(data) {
        Ok(c) => Some(output_bytes(&c)),
        // Shapes this reader does not know (a `content` array) are still JSON: no text counted.
        Err(_) => serde_json::from_str::<Map<String, Value>>(data).ok().map(|_| 0),
    }
}

#[derive(Deserialize)]
struct OutputAnswer<'a> {
    #[serde(default, borrow)]
    choices: Vec<OutputMessage<'a>>,
}

#[derive(Deserialize)]
struct OutputMessage<'a> {
    #[serde(default, borrow)]
    message: Option<OutputDelta<'a>>,
}

/// Bytes of generated text in a whole chat completion: [`chunk_output_bytes`]' fields, read
/// from every choice's `message` (so `n` choices count `n` times).
pub fn answer_output_bytes(body: &[u8]) -> usize {
    let Ok(answer) = serde_json::from_slice::<OutputAnswer>(body) else { return 0 };
    let as_chunk =
        OutputChunk { choices: answer.choices.into_iter().map(|c| OutputChoice { delta: c.message }).collect() };
    output_bytes(&as_chunk)
}

/// [`chunk_output_bytes`] of a chunk already parsed (a translated stream's events).
pub fn chunk_value_output_bytes(chunk: &Value) -> usize {
    OutputChunk::deserialize(chunk).map_or(0, |c| output_bytes(&c))
}

fn output_bytes(chunk: &OutputChunk) -> usize {
    let len = |s: &Option<Cow<str>>| s.as_ref().map_or(0, |s| s.len());
    chunk
        .choices
        .iter()
        .filter_map(|c| c.delta.as_ref())
        .map(|d| {
            let tools: usize =
                d.tool_calls.iter().filter_map(|t| t.function.as_ref()).map(|f| len(&f.name) + len(&f.arguments)).sum();
            len(&d.content) + len(&d.reasoning_content) + len(&d.refusal) + tools
        })
        .sum()
}

/// An in-band error event for a stream that already started.
pub fn stream_error_event(message: &str, kind: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_bytes_count_generated_text_only() {
        let text = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello \u00e9"}}]}"#;
        assert_eq!(chunk_output_bytes(text), Some("Hello é".len()));
        let tools = r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}},
            {"delta":{"reasoning_content":"hmm"}}]}"#;
        assert_eq!(chunk_output_bytes(tools), Some(3 + 7 + 3));
        assert_eq!(chunk_output_bytes(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#), Some(0));
        assert_eq!(chunk_output_bytes("not json"), None);
        assert_eq!(chunk_output_bytes("<html>"), None);
        assert_eq!(chunk_output_bytes("[1]"), None, "not an object");
        assert_eq!(chunk_output_bytes(r#"{"choices":[{"delta":{"content":[{"type":"text"}]}}]}"#), Some(0));
        assert_eq!(chunk_output_bytes(r#"{"choices":[{"delta":{"content":null}}]}"#), Some(0));
        let answer = r#"{"choices":[{"message":{"content":"abcd"}},{"message":{"content":"ef","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}"#;
        assert_eq!(answer_output_bytes(answer.as_bytes()), 4 + 2 + 1 + 2, "every choice counts");
        assert_eq!(answer_output_bytes(b"{\"data\":[]}"), 0);
        let v: Value = serde_json::from_str(tools).unwrap();
        assert_eq!(chunk_value_output_bytes(&v), 13);
    }

    #[test]
    fn error_chunks_are_told_from_content_that_mentions_errors() {
        assert_eq!(
            chunk_error(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).as_deref(),
            Some("overloaded")
        );
        assert_eq!(chunk_error(r#"{"error":"plain"}"#).as_deref(), Some("plain"));
        let content = r#"{"choices":[{"delta":{"content":"the \"error\" key"}}]}"#;
        assert_eq!(chunk_error(content), None);
        assert_eq!(chunk_error(r#"{"choices":[],"error":null}"#), None);
    }

    #[test]
    fn parses_and_validates_requests() {
        let r = parse_request(br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"x":1}"#).unwrap();
        assert_eq!(r.model, "m");
        assert!(r.stream && r.client_wants_usage);
        assert!(parse_request(b"{").unwrap_err().contains("not valid JSON"));
        assert!(parse_request(b"[]").unwrap_err().contains("JSON object"));
        assert!(parse_request(br#"{"messages":[]}"#).unwrap_err().contains("model"));
        assert!(parse_request(br#"{"model":5}"#).is_err());
        assert!(parse_request(br#"{"model":"m","stream":"yes"}"#).is_err());
    }

    #[test]
    fn usage_converts_cached_tokens_out_of_prompt_tokens() {
        let u = usage_of(
            br#"{"id":"x","usage":{"prompt_tokens":100,"completion_tokens":20,
            "prompt_tokens_details":{"cached_tokens":60},"completion_tokens_details":{"reasoning_tokens":5}}}"#,
        )
        .unwrap();
        assert_eq!((u.input_tokens, u.cached_tokens, u.output_tokens, u.reasoning_tokens), (40, 60, 20, 5));
        assert_eq!(usage_of(br#"{"id":"x"}"#), None);
        assert_eq!(usage_of(br#"{"usage":null}"#), None);
    }

    #[test]
    fn lying_usage_is_read_within_bounds() {
        use crate::billing::pricing::MAX_REPORTED_TOKENS;
        // Counts at the ends of i64 (a subtraction or a sum of them overflowed) and negative ones.
        let body = format!(
            r#"{{"usage":{{"prompt_tokens":{},"completion_tokens":{},"prompt_tokens_details":{{"cached_tokens":{}}},
            "completion_tokens_details":{{"reasoning_tokens":-3}}}}}}"#,
            i64::MIN,
            i64::MAX,
            i64::MAX
        );
        let u = usage_of(body.as_bytes()).unwrap();
        assert_eq!((u.input_tokens, u.cached_tokens), (0, MAX_REPORTED_TOKENS));
        assert_eq!((u.output_tokens, u.reasoning_tokens), (MAX_REPORTED_TOKENS, 0));
        let total = u.input_tokens + u.output_tokens + u.cached_tokens + u.cache_write_tokens;
        assert!(total > 0, "every sum of counts stays in range");
        let wire = super::chat::usage_to_wire(&u);
        assert_eq!(wire["total_tokens"], 2 * MAX_REPORTED_TOKENS);
    }

    #[test]
    fn detects_and_strips_usage_chunks() {
        assert!(!chunk_has_usage(r#"{"choices":[{"delta":{}}],"usage":null}"#));
        assert!(chunk_has_usage(r#"{"choices":[],"usage": {"prompt_tokens":1}}"#));
        assert_eq!(strip_usage(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#), None);
        let kept = strip_usage(r#"{"choices":[{"index":0}],"usage":{"prompt_tokens":1}}"#).unwrap();
        assert!(!kept.contains("usage") && kept.contains("choices"));
    }
}
