//! Image generation: `POST /v1/images/generations` (and Azure's deployment route): `n` tiny
//! PNGs as `b64_json` (or `url`s of the mock's own image route when `response_format: url`),
//! with `usage` in gpt-image's shape (text tokens in, image tokens out) when `prompt_tokens`
//! or `completion_tokens` is set — and then, as gpt-image answers do, the `size` and `quality`
//! it made: the request's, `auto` (or none) made as `1024x1024` and `medium`.

use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::errors;
use crate::images::PNG;
use crate::options::Effective;
use crate::route::Dialect;

/// Most images one request may ask for (as OpenAI's `n` allows).
const MAX_N: u64 = 10;

pub(crate) fn handle(body: &[u8], eff: &Effective, dialect: Dialect) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return errors::bad_request(dialect, "invalid JSON body");
    };
    if req.get("prompt").and_then(Value::as_str).is_none_or(str::is_empty) {
        return errors::bad_request(dialect, "Missing required parameter: 'prompt'.");
    }
    let n = req.get("n").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=MAX_N).contains(&n) {
        return errors::bad_request(dialect, &format!("n must be between 1 and {MAX_N}"));
    }
    let url = req.get("response_format").and_then(Value::as_str) == Some("url");
    let data: Vec<Value> = (0..n)
        .map(|_| {
            if url {
                json!({"url": "/_img/png"})
            } else {
                json!({"b64_json": base64::engine::general_purpose::STANDARD.encode(PNG)})
            }
        })
        .collect();
    let mut out = json!({"created": 1_700_000_000, "data": data});
    if eff.prompt_tokens.is_some() || eff.completion_tokens.is_some() {
        let (input, output) = (eff.prompt_tokens.unwrap_or(0), eff.completion_tokens.unwrap_or(0));
        out["usage"] = json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output,
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0}});
        let made = |field: &str, auto: &str| match req.get(field).and_then(Value::as_str) {
            None | Some("auto") => auto.to_string(),
            Some(v) => v.to_string(),
        };
        out["size"] = made("size", "1024x1024").into();
        out["quality"] = made("quality", "medium").into();
    }
    axum::Json(out).into_response()
}
