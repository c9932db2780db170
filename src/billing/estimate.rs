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

use super::image_prices::ImageSpec;
use super::markup::Markup;
use super::price_shapes::ServiceTier;
use super::pricing::{Pricing, Usage};

/// Output tokens reserved for a call that names no `max_tokens`/`max_completion_tokens`.
pub const DEFAULT_OUTPUT_CAP: i64 = 4096;

/// The most output tokens one choice may ask for, whatever the model: no model writes a
/// million tokens in one answer, so a larger `max_tokens` is a mistake or an attack on the
/// reservation arithmetic, refused with a 400. (A model the catalog knows is held to its own,
/// smaller, maximum by the pipeline.)
pub const MAX_OUTPUT_TOKENS: i64 = 1_000_000;

/// The most choices (`n`, `best_of`) one chat call may ask for: OpenAI's own limit.
pub const MAX_CHOICES: i64 = 128;

/// The most images one image-generation call may ask for: OpenAI's own limit.
pub const MAX_IMAGES: i64 = 10;

/// Framing tokens per chat message (role, separators).
const PER_MESSAGE: i64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub prompt_tokens: i64,
    /// The output the client capped each choice at, if it did, and the field that said so.
    pub max_output: Option<(i64, &'static str)>,
    /// Choices the call asks for (`n`, or `best_of` when larger; 1 unless the client says).
    pub choices: i64,
    /// Output tokens reserved over all choices: `max_output`, else [`DEFAULT_OUTPUT_CAP`]
    /// (0 for embeddings), times `choices`.
    pub output_tokens: i64,
    /// Images the call may generate (image generation's `n`), reserved at the per-image price.
    pub images: i64,
    /// The service tier the request asks for (OpenAI's `service_tier`), when it names a
    /// priced one: the reservation is priced at it, and so is a call whose answer names none.
    pub service_tier: Option<ServiceTier>,
    /// The size and quality of the images the request asks for (`size`, `quality`), as far
    /// as it names them: they price a call whose answer does not say.
    pub image: ImageSpec,
}

impl Estimate {
    /// A prompt of `prompt_tokens` and nothing else asked for: one choice, no output cap, no
    /// images, no service tier. The estimators and tests set what a body adds on top.
    pub fn of_prompt(prompt_tokens: i64) -> Estimate {
        Estimate {
            prompt_tokens,
            max_output: None,
            choices: 1,
            output_tokens: 0,
            images: 0,
            service_tier: None,
            image: ImageSpec::default(),
        }
    }

    /// Tokens claimed against a tokens-per-minute limit at admission: the prompt and the
    /// output the client asked for (every choice). The default cap is a money guard, not a
    /// claim on the limit; the real count replaces this when the call settles.
    pub fn rate_tokens(&self) -> i64 {
        self.prompt_tokens + self.max_output.map_or(0, |(n, _)| n) * self.choices
    }

    /// The reservation in nano-credits: the estimate charged as a call would be, each image
    /// at the most its size and quality may cost once the answer names them.
    pub fn cost(&self, price: &Pricing, markup: &Markup) -> i64 {
        let usage = Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.output_tokens,
            images: self.images,
            service_tier: self.service_tier,
            ..Usage::default()
        };
        if self.images > 0 {
            return markup.charge(&price.for_image_reservation(self.image), &usage).cost;
        }
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

/// A whole number field of the body between `min` and `max`, if present (`null` is absent):
/// anything else — negative, zero where 1 is the least, a fraction, a string, past `max` —
/// is the client's 400, never clamped and forwarded.
fn bounded(body: &Map<String, Value>, field: &'static str, min: i64, max: i64) -> Result<Option<i64>, InvalidValue> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid_value(field, format!("`{field}` must be a whole number from {min} to {max}"))),
        },
    }
}

/// A field of the body out of its range: the client's 400 (`invalid_value`), naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidValue {
    pub param: Option<&'static str>,
    pub message: String,
}

fn invalid_value(field: &'static str, message: String) -> InvalidValue {
    InvalidValue { param: Some(field), message }
}

/// The client's cap on each choice's output: the first of `fields` present, checked.
fn max_output(body: &Map<String, Value>, fields: &[&'static str]) -> Result<Option<(i64, &'static str)>, InvalidValue> {
    for field in fields {
        if let Some(n) = bounded(body, field, 1, MAX_OUTPUT_TOKENS)? {
            return Ok(Some((n, *field)));
        }
    }
    Ok(None)
}

/// Estimates an OpenAI chat completions or embeddings body (`messages`, `input`, `prompt`).
/// A chat call reserves output for every choice it asks for (`n`, or `best_of` when larger:
/// the provider bills every candidate it generates).
pub fn openai(body: &Map<String, Value>, generates_text: bool) -> Result<Estimate, InvalidValue> {
    let mut e = estimate(body, &["input", "prompt", "tools"]);
    e.service_tier = service_tier(body);
    if !generates_text {
        return Ok(e);
    }
    let n = bounded(body, "n", 1, MAX_CHOICES)?.unwrap_or(1);
    let best_of = bounded(body, "best_of", 1, MAX_CHOICES)?.unwrap_or(1);
    e.choices = n.max(best_of);
    e.max_output = max_output(body, &["max_completion_tokens", "max_tokens"])?;
    Ok(e.reserving_output())
}

/// Estimates an OpenAI Responses body: `input`, `instructions`, `tools`; output capped at
/// `max_output_tokens` (one answer: the Responses API has no `n`).
pub fn responses(body: &Map<String, Value>) -> Result<Estimate, InvalidValue> {
    let mut e = estimate(body, &["input", "instructions", "tools"]);
    e.service_tier = service_tier(body);
    e.max_output = max_output(body, &["max_output_tokens"])?;
    Ok(e.reserving_output())
}

/// Image tokens one generated image may cost at most (gpt-image's largest, high quality
/// 1536×1024, is 6208): the reservation of a model priced by image tokens.
const IMAGE_OUTPUT_TOKENS_CAP: i64 = 6240;

/// Refuses a cap on each choice's output above what the model can write, when the catalog
/// knows it (`model_max`): the provider would refuse it too, after admission reserved for it.
pub fn check_model_max(e: &Estimate, model_max: Option<i64>) -> Result<(), InvalidValue> {
    match (e.max_output, model_max) {
        (Some((n, field)), Some(max)) if n > max => {
            Err(invalid_value(field, format!("`{field}` is {n}, above the {max} output tokens this model can write")))
        }
        _ => Ok(()),
    }
}

/// Estimates an image-generation body: the `prompt`, and `n` images (default 1, at most
/// [`MAX_IMAGES`]) reserved at the per-image price (by the `size` and `quality` asked for)
/// and at the most image tokens one image may take.
pub fn images(body: &Map<String, Value>) -> Result<Estimate, InvalidValue> {
    let n = bounded(body, "n", 1, MAX_IMAGES)?.unwrap_or(1);
    let prompt = body.get("prompt").map_or(0, |p| text_tokens(text_bytes(p)));
    Ok(Estimate {
        output_tokens: n * IMAGE_OUTPUT_TOKENS_CAP,
        images: n,
        image: ImageSpec::of_body(body),
        ..Estimate::of_prompt(prompt)
    })
}

/// The service tier an OpenAI body asks for, if it names one ([`ServiceTier::from_wire`]).
fn service_tier(body: &Map<String, Value>) -> Option<ServiceTier> {
    body.get("service_tier").and_then(Value::as_str).and_then(ServiceTier::from_wire)
}

/// Estimates an Anthropic Messages (or count_tokens) body: `messages`, `system`, `tools`;
/// output capped at `max_tokens` (one answer: Messages has no `n`).
pub fn messages(body: &Map<String, Value>) -> Result<Estimate, InvalidValue> {
    let mut e = estimate(body, &["system", "tools"]);
    e.max_output = max_output(body, &["max_tokens"])?;
    Ok(e.reserving_output())
}

impl Estimate {
    /// Reserves the output of every choice: the client's cap, else the default.
    fn reserving_output(mut self) -> Estimate {
        let per_choice = self.max_output.map_or(DEFAULT_OUTPUT_CAP, |(n, _)| n);
        // At most 10^6 × 128: no overflow.
        self.output_tokens = per_choice * self.choices;
        self
    }
}

/// Counts `messages` and the other prompt `fields`; no output (embeddings) until told.
fn estimate(body: &Map<String, Value>, fields: &[&str]) -> Estimate {
    let mut prompt: i64 = 0;
    if let Some(Value::Array(messages)) = body.get("messages") {
        prompt += messages.iter().map(|m| text_tokens(text_bytes(m)) + PER_MESSAGE).sum::<i64>();
    }
    for field in fields {
        if let Some(v) = body.get(*field) {
            prompt += text_tokens(text_bytes(v));
        }
    }
    Estimate::of_prompt(prompt)
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
        let e = openai(&body, true).unwrap();
        // "user"+"12345678" = 12 bytes → 3 + 4; "assistant"+"text"+"abcd" = 17 bytes → 5 + 4.
        let want = Estimate { max_output: Some((100, "max_tokens")), output_tokens: 100, ..Estimate::of_prompt(16) };
        assert_eq!(e, want);
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
        let e = openai(&map(json!({"messages": [], "max_completion_tokens": 5, "max_tokens": 9})), true).unwrap();
        assert_eq!(e.output_tokens, 5, "max_completion_tokens wins");
        let e = openai(&map(json!({"messages": [{"role": "user", "content": "hi"}]})), true).unwrap();
        assert_eq!((e.output_tokens, e.max_output, e.rate_tokens()), (DEFAULT_OUTPUT_CAP, None, 6));
        let e = openai(&map(json!({"input": ["abcdefgh", "ab"], "n": 5})), false).unwrap();
        assert_eq!(e, Estimate::of_prompt(3));
    }

    #[test]
    fn a_requested_service_tier_prices_the_reservation() {
        use crate::billing::price_shapes::Shape;
        let flex = Shape { service_tier: Some(ServiceTier::Flex), input: Some(500_000_000), ..Shape::default() };
        let p = Pricing { input: 1_000_000_000, ..Pricing::default() }.with_shapes(vec![flex]);
        let body = |tier: &str| map(json!({"model": "m", "input": "12345678", "service_tier": tier}));
        let e = responses(&body("flex")).unwrap();
        assert_eq!(e.service_tier, Some(ServiceTier::Flex));
        // 2 prompt tokens at the flex price; the default output cap is priced at 0 here.
        assert_eq!(e.cost(&p, &Markup::NONE), 2 * 500);
        let e = openai(&body("auto"), true).unwrap();
        assert_eq!(e.service_tier, None, "`auto` names no priced tier");
        assert_eq!(e.cost(&p, &Markup::NONE), 2 * 1000);
        assert_eq!(openai(&body("priority"), false).unwrap().service_tier, Some(ServiceTier::Priority));
    }

    #[test]
    fn anthropic_bodies_count_the_system_prompt() {
        let body = map(json!({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "12345678"}],
            "messages": [{"role": "user", "content": "hi"}]}));
        // system: "text"+"12345678" = 12 bytes → 3; message: "user"+"hi" = 6 bytes → 2 + 4.
        let want = Estimate { max_output: Some((10, "max_tokens")), output_tokens: 10, ..Estimate::of_prompt(9) };
        assert_eq!(messages(&body).unwrap(), want);
    }

    #[test]
    fn every_choice_is_reserved() {
        let body = map(json!({"messages": [], "n": 8, "max_tokens": 100}));
        let e = openai(&body, true).unwrap();
        assert_eq!((e.choices, e.output_tokens, e.rate_tokens()), (8, 800, 800));
        let p = Pricing { output: 1_000_000_000, ..Pricing::default() };
        assert_eq!(e.cost(&p, &Markup::NONE), 800 * 1000, "the reservation is eight answers' worth");
        let e = openai(&map(json!({"messages": [], "n": 2, "best_of": 5})), true).unwrap();
        assert_eq!(e.output_tokens, 5 * DEFAULT_OUTPUT_CAP, "best_of generates (and bills) more than n");
        let e = images(&map(json!({"prompt": "cat", "n": 3}))).unwrap();
        assert_eq!((e.images, e.output_tokens), (3, 3 * IMAGE_OUTPUT_TOKENS_CAP));
    }

    #[test]
    fn images_are_reserved_at_the_most_their_size_and_quality_may_cost() {
        use crate::billing::image_prices::{ImagePrice, ImageQuality, ImageSize};
        let size = |w, h| Some(ImageSize { width: w, height: h });
        let p = Pricing { per_image: 5, ..Pricing::default() }.with_image_prices(vec![
            ImagePrice { size: size(1024, 1024), quality: None, price: 40 },
            ImagePrice { size: size(1024, 1024), quality: Some(ImageQuality::Hd), price: 80 },
            ImagePrice { size: size(1792, 1024), quality: Some(ImageQuality::Hd), price: 120 },
        ]);
        let reserve = |body: Value| images(&map(body)).unwrap().cost(&p, &Markup::NONE);
        // Named in full: the one price that fits. 2 × 80.
        assert_eq!(reserve(json!({"prompt": "", "n": 2, "size": "1024x1024", "quality": "hd"})), 160);
        assert_eq!(reserve(json!({"prompt": "", "size": "1024x1024", "quality": "standard"})), 40);
        assert_eq!(reserve(json!({"prompt": "", "size": "512x512", "quality": "hd"})), 5, "none fits: base");
        // The quality left open (or `auto`): the dearest that may fit once the answer says.
        assert_eq!(reserve(json!({"prompt": "", "size": "1024x1024", "quality": "auto"})), 80);
        assert_eq!(reserve(json!({"prompt": ""})), 120);
        let e = images(&map(json!({"prompt": "", "size": "1792x1024", "quality": "hd"}))).unwrap();
        assert_eq!((e.image.size, e.image.quality), (size(1792, 1024), Some(ImageQuality::Hd)));
    }

    #[test]
    fn negative_fractional_or_absurd_limits_are_refused_not_clamped() {
        let chat = |v: Value| openai(&map(v), true).map_err(|e| (e.param, e.message));
        for (body, param) in [
            (json!({"max_tokens": -1}), "max_tokens"),
            (json!({"max_tokens": 0}), "max_tokens"),
            (json!({"max_tokens": 1.5}), "max_tokens"),
            (json!({"max_tokens": "100"}), "max_tokens"),
            (json!({"max_tokens": MAX_OUTPUT_TOKENS + 1}), "max_tokens"),
            (json!({"max_tokens": u64::MAX}), "max_tokens"),
            (json!({"max_completion_tokens": -5, "max_tokens": 5}), "max_completion_tokens"),
            (json!({"n": 0}), "n"),
            (json!({"n": -8}), "n"),
            (json!({"n": MAX_CHOICES + 1}), "n"),
            (json!({"best_of": 1000}), "best_of"),
        ] {
            let (p, message) = chat(body.clone()).unwrap_err();
            assert_eq!(p, Some(param), "{body}");
            assert!(message.contains("whole number"), "{message}");
        }
        assert!(chat(json!({"max_tokens": null, "n": null})).is_ok(), "null is absent");
        assert!(chat(json!({"max_tokens": MAX_OUTPUT_TOKENS, "n": MAX_CHOICES})).is_ok());
        assert!(messages(&map(json!({"max_tokens": 9_223_372_036_854_775_807u64}))).is_err());
        assert!(responses(&map(json!({"max_output_tokens": -1}))).is_err());
        assert!(images(&map(json!({"n": -1}))).is_err());
        assert!(images(&map(json!({"n": MAX_IMAGES + 1}))).is_err());
    }

    #[test]
    fn a_cap_above_the_models_known_maximum_is_refused() {
        let e = messages(&map(json!({"max_tokens": 64001}))).unwrap();
        let err = check_model_max(&e, Some(64000)).unwrap_err();
        assert_eq!(err.param, Some("max_tokens"));
        assert!(err.message.contains("64000"));
        assert!(check_model_max(&e, Some(64001)).is_ok());
        assert!(check_model_max(&e, None).is_ok(), "an unknown model is held to MAX_OUTPUT_TOKENS only");
        let no_cap = openai(&map(json!({"messages": []})), true).unwrap();
        assert!(check_model_max(&no_cap, Some(10)).is_ok());
    }
}
