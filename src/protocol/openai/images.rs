//! OpenAI image generation (`/v1/images/generations`): the usage of an answer. Every image
//! in `data` is one image charged at the model's per-image price; gpt-image models also
//! report tokens (`usage.input_tokens` text and image input, `usage.output_tokens` image
//! output), charged at the model's token prices. Other providers have no such endpoint: a
//! request routed to one is the client's 400.

use serde_json::Value;

use crate::billing::pricing::Usage;
use crate::protocol::usage_count;

/// The images generated and the tokens reported, if the body is an image answer.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let images = v.get("data")?.as_array()?.len() as i64;
    let n = |p: &str| usage_count::or_zero(v.pointer(p));
    Some(Usage {
        images,
        input_tokens: n("/usage/input_tokens"),
        output_tokens: n("/usage/output_tokens"),
        ..Usage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_counted_and_tokens_read_when_reported() {
        let u = usage_of(br#"{"created": 1, "data": [{"b64_json": "x"}, {"url": "u"}]}"#).unwrap();
        assert_eq!((u.images, u.input_tokens, u.output_tokens), (2, 0, 0));
        let u = usage_of(br#"{"data": [{"b64_json": "x"}], "usage": {"input_tokens": 12, "output_tokens": 4160}}"#)
            .unwrap();
        assert_eq!((u.images, u.input_tokens, u.output_tokens), (1, 12, 4160));
        assert!(usage_of(br#"{"error": {}}"#).is_none());
    }
}
