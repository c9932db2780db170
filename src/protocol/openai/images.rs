//! OpenAI image generation (`/v1/images/generations`): the usage of an answer. Every image
//! in `data` is one image charged at the model's per-image price for its size and quality
//! (`billing::image_prices`: the answer's `size` and `quality` when it names them, as gpt-image
//! answers do, else the request's); gpt-image models also report tokens (`usage.input_tokens`
//! text and image input, `usage.output_tokens` image output), charged at the model's token
//! prices. Other providers have no such endpoint: a request routed to one is the client's 400.

use serde_json::Value;

use crate::billing::image_prices::ImageSpec;
use crate::billing::pricing::Usage;
use crate::protocol::usage_count;

/// The images generated, their size and quality where the answer names them, and the tokens
/// reported, if the body is an image answer.
pub fn usage_of(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let images = v.get("data")?.as_array()?.len() as i64;
    let n = |p: &str| usage_count::or_zero(v.pointer(p));
    Some(Usage {
        images,
        input_tokens: n("/usage/input_tokens"),
        output_tokens: n("/usage/output_tokens"),
        image: v.as_object().map(ImageSpec::of_body).unwrap_or_default(),
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
        assert!(u.image.is_empty(), "DALL·E's answer names no size or quality");
    }

    #[test]
    fn the_answers_size_and_quality_are_read() {
        use crate::billing::image_prices::{ImageQuality, ImageSize};
        let u = usage_of(br#"{"data": [{"b64_json": "x"}], "size": "1536x1024", "quality": "high"}"#).unwrap();
        assert_eq!(u.image.size, Some(ImageSize { width: 1536, height: 1024 }));
        assert_eq!(u.image.quality, Some(ImageQuality::High));
        let u = usage_of(br#"{"data": [], "size": "auto", "quality": 7}"#).unwrap();
        assert!(u.image.is_empty());
    }
}
