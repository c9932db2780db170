//! The estimate a call is admitted on, before the provider says what it used: prompt tokens
//! counted from the request, plus the output the client allows, priced with the call's price.
//!
//! The prompt count is a deliberately simple counter, not a tokenizer: one token per four
//! bytes of UTF-8 text (rounded up) plus four tokens of framing per message. English BPE runs
//! near four characters a token; CJK text, at three bytes a character, comes out near one
//! token per 1.3 characters, close to real tokenizers. It only sizes the reservation — the
//! charge is always the provider's reported usage — so a miss costs at most a refused call
//! near an exhausted balance or a reservation a little too small, never a wrong bill. (A
//! per-family tokenizer such as tiktoken-rs would tighten it at a compile- and start-up cost.)

use serde_json::{Map, Value};

use super::markup::Markup;
use super::pricing::{Pricing, Usage};

/// Output tokens reserved for a call that names no `max_tokens`/`max_completion_tokens`.
pub const DEFAULT_OUTPUT_CAP: i64 = 4096;

/// Framing tokens per chat message (role, separators).
const PER_MESSAGE: i64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub prompt_tokens: i64,
    /// The output the client capped the call at, if it did.
    pub max_output: Option<i64>,
    /// Output tokens reserved: `max_output`, else [`DEFAULT_OUTPUT_CAP`] (0 for embeddings).
    pub output_tokens: i64,
    /// Images the call may generate (image generation's `n`), reserved at the per-image price.
    pub images: i64,
}

impl Estimate {
    /// Tokens claimed against a tokens-per-minute limit at admission: the prompt and the
    /// output the client asked for. The default cap is a money guard, not a claim on the
    /// limit; the real count replaces this when the call settles.
    pub fn rate_tokens(&self) -> i64 {
        self.prompt_tokens + self.max_output.unwrap_or(0)
    }

    /// The reservation in nano-credits: the estimate charged as a call would be.
    pub fn cost(&self, price: &Pricing, markup: &Markup) -> i64 {
        let usage = Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.output_tokens,
            images: self.images,
            ..Usage::default()
        };
        markup.charge(price, &usage).cost
    }
}

/// Tokens in `bytes` of UTF-8 text, by the counter described at the top of this file.
pub fn text_tokens(bytes: usize) -> i64 {
    bytes.div_ceil(4) as i64
}

/// Text a provider produced, counted as it is relayed (message text, reasoning, tool-call
/// arguments). When a call is cut short before the provider reports its usage, this is the
/// output it is charged for — counted by the same rule as the prompt, and flagged on the
/// record as an estimate.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutputCount {
    bytes: usize,
}

impl OutputCount {
    pub fn add(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
    }

    pub fn tokens(&self) -> i64 {
        text_tokens(self.bytes)
    }

    /// `bytes` of output, counted at once (a whole answer).
    pub fn of(bytes: usize) -> OutputCount {
        OutputCount { bytes }
    }
}

/// The usage a call is charged when its provider reported none: the prompt as counted at
/// admission and the output as counted from what was relayed, by the same rule.
pub fn counted(prompt_tokens: i64, output: OutputCount) -> Usage {
    Usage { input_tokens: prompt_tokens, output_tokens: output.tokens(), ..Usage::default() }
}

/// Bytes of every string inside a JSON value (message contents, parts, tool arguments).
fn text_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(m) => m.values().map(text_bytes).sum(),
        _ => 0,
    }
}

/// Estimates an OpenAI chat completions or embeddings body (`messages`, `input`, `prompt`).
pub fn openai(body: &Map<String, Value>, generates_text: bool) -> Estimate {
    estimate(body, &["input", "prompt", "tools"], generates_text)
}

/// Estimates an OpenAI Responses body: `input`, `instructions`, `tools`; output capped at
/// `max_output_tokens`.
pub fn responses(body: &Map<String, Value>) -> Estimate {
    let mut e = estimate(body, &["input", "instructions", "tools"], true);
    if let Some(n) = body.get("max_output_tokens").and_then(Value::as_i64).map(|n| n.max(0)) {
        (e.max_output, e.output_tokens) = (Some(n), n);
    }
    e
}

/// Image tokens one generated image may cost at most (gpt-image's largest, high quality
/// 1536×1024, is 6208): the reservation of a model priced by image tokens.
const IMAGE_OUTPUT_TOKENS_CAP: i64 = 6240;

/// Estimates an image-generation body: the `prompt`, and `n` images (default 1) reserved at
/// the per-image price and at the most image tokens one image may take.
pub fn images(body: &Map<String, Value>) -> Estimate {
    let n = body.get("n").and_then(Value::as_i64).unwrap_or(1).max(1);
    let prompt = body.get("prompt").map_or(0, |p| text_tokens(text_bytes(p)));
    Estimate { prompt_tokens: prompt, max_output: None, output_tokens: n * IMAGE_OUTPUT_TOKENS_CAP, images: n }
}

/// Estimates an Anthropic Messages (or count_tokens) body: `messages`, `system`, `tools`.
pub fn messages(body: &Map<String, Value>) -> Estimate {
    estimate(body, &["system", "tools"], true)
}

/// Counts `messages` and the other prompt `fields`; caps output at the body's limit.
fn estimate(body: &Map<String, Value>, fields: &[&str], generates_text: bool) -> Estimate {
    let mut prompt = 0;
    if let Some(Value::Array(messages)) = body.get("messages") {
        prompt += messages.iter().map(|m| text_tokens(text_bytes(m)) + PER_MESSAGE).sum::<i64>();
    }
    for field in fields {
        if let Some(v) = body.get(*field) {
            prompt += text_tokens(text_bytes(v));
        }
    }
    let max_output = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|f| body.get(*f).and_then(Value::as_i64))
        .map(|n| n.max(0));
    let output_tokens = if generates_text { max_output.unwrap_or(DEFAULT_OUTPUT_CAP) } else { 0 };
    Estimate { prompt_tokens: prompt, max_output: max_output.filter(|_| generates_text), output_tokens, images: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn counts_text_and_caps_output() {
        let body = map(json!({"model": "m", "max_tokens": 100,
            "messages": [{"role": "user", "content": "12345678"}, {"role": "assistant", "content": [{"type": "text", "text": "abcd"}]}]}));
        let e = openai(&body, true);
        // "user"+"12345678" = 12 bytes → 3 + 4; "assistant"+"text"+"abcd" = 17 bytes → 5 + 4.
        assert_eq!(e, Estimate { prompt_tokens: 16, max_output: Some(100), output_tokens: 100, images: 0 });
        assert_eq!(e.rate_tokens(), 116);
        let p = Pricing { input: 1_000_000_000, output: 2_000_000_000, per_request: 7, ..Pricing::default() };
        assert_eq!(e.cost(&p, &Markup::NONE), (16 * 1000 + 100 * 2000) + 7);
    }

    #[test]
    fn output_is_counted_by_the_prompt_rule() {
        let mut out = OutputCount::default();
        assert_eq!(out.tokens(), 0);
        out.add(5);
        out.add(4);
        assert_eq!(out.tokens(), 3, "9 bytes → 3 tokens, rounded up");
        out.add(usize::MAX);
        assert!(out.tokens() > 0);
    }

    #[test]
    fn defaults_and_embeddings() {
        let e = openai(&map(json!({"messages": [], "max_completion_tokens": 5, "max_tokens": 9})), true);
        assert_eq!(e.output_tokens, 5, "max_completion_tokens wins");
        let e = openai(&map(json!({"messages": [{"role": "user", "content": "hi"}]})), true);
        assert_eq!((e.output_tokens, e.max_output, e.rate_tokens()), (DEFAULT_OUTPUT_CAP, None, 6));
        let e = openai(&map(json!({"input": ["abcdefgh", "ab"]})), false);
        assert_eq!(e, Estimate { prompt_tokens: 3, max_output: None, output_tokens: 0, images: 0 });
    }

    #[test]
    fn anthropic_bodies_count_the_system_prompt() {
        let body = map(json!({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "12345678"}],
            "messages": [{"role": "user", "content": "hi"}]}));
        // system: "text"+"12345678" = 12 bytes → 3; message: "user"+"hi" = 6 bytes → 2 + 4.
        assert_eq!(messages(&body), Estimate { prompt_tokens: 9, max_output: Some(10), output_tokens: 10, images: 0 });
    }
}
