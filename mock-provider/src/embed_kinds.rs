//! Embeddings in the Gemini and Bedrock wire formats, with the vectors and word counts of
//! [`crate::embeddings`] (element j of text i is `(i+1)*(j+1)/100`, default 8 elements):
//!
//! - Gemini `POST /v1beta/models/{model}:batchEmbedContents`: `{"requests": [{"model":
//!   "models/{model}", "content": {"parts": [{"text"}]}, "outputDimensionality"}]}` →
//!   `{"embeddings": [{"values"}]}`. Like the real Gemini API it reports no token counts,
//!   unless the `prompt_tokens` option is set (then `usageMetadata.promptTokenCount`).
//! - Bedrock `POST /model/{modelId}/invoke` for Titan Text Embeddings (`amazon.titan-embed-*`:
//!   `{"inputText", "dimensions"}` → `{"embedding", "inputTextTokenCount"}`, one text per call)
//!   and Cohere Embed (`cohere.embed-*`: `{"texts", "input_type", "output_dimension"}` →
//!   `{"id", "embeddings", "response_type": "embeddings_floats", "texts"}`). Both carry the
//!   count in `x-amzn-bedrock-input-token-count`, as Bedrock's InvokeModel does.

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::embeddings::{DEFAULT_DIMENSIONS, MAX_DIMENSIONS, vector, words};
use crate::errors;
use crate::options::Effective;
use crate::route::Dialect;

/// A vector length from the request, or why it is refused.
fn dimensions(v: Option<&Value>) -> Result<usize, String> {
    match v {
        None | Some(Value::Null) => Ok(DEFAULT_DIMENSIONS as usize),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_DIMENSIONS).contains(&n) => Ok(n as usize),
            _ => Err(format!("the output dimension must be between 1 and {MAX_DIMENSIONS}, not {v}")),
        },
    }
}

fn json_response(body: Value, input_tokens: Option<u64>) -> Response {
    let mut resp =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response();
    if let Some(n) = input_tokens {
        resp.headers_mut().insert(HeaderName::from_static("x-amzn-bedrock-input-token-count"), HeaderValue::from(n));
    }
    resp
}

/// Gemini `batchEmbedContents` for `model` (as named in the URL).
pub(crate) fn gemini(body: &[u8], eff: &Effective, model: &str) -> Response {
    let bad = |m: &str| errors::bad_request(Dialect::Gemini, m);
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(&format!("Invalid JSON payload received. {e}")),
    };
    let Some(requests) = req["requests"].as_array().filter(|r| !r.is_empty()) else {
        return bad("* BatchEmbedContentsRequest.requests: contents is not specified");
    };
    let wanted = format!("models/{model}");
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if r["model"].as_str() != Some(wanted.as_str()) {
            return bad(&format!(
                "* BatchEmbedContentsRequest.requests[{i}].model: the model must match the batch's ({wanted})"
            ));
        }
        if r["content"]["parts"].as_array().is_none_or(|p| p.is_empty()) {
            return bad(&format!("* BatchEmbedContentsRequest.requests[{i}].content: contents is not specified"));
        }
        let dims = match dimensions(r.get("outputDimensionality")) {
            Ok(d) => d,
            Err(e) => return bad(&e),
        };
        embeddings.push(json!({"values": vector(i, dims)}));
    }
    if eff.garbage_after.is_some() {
        return crate::script::garbage_response();
    }
    let mut out = json!({"embeddings": embeddings});
    if let Some(n) = eff.prompt_tokens.filter(|_| !eff.no_usage) {
        out["usageMetadata"] = json!({"promptTokenCount": n, "totalTokenCount": n});
    }
    json_response(out, None)
}

/// Bedrock `InvokeModel` of an embeddings model: Titan or Cohere, told by the model id.
pub(crate) fn bedrock(body: &[u8], eff: &Effective, model: &str) -> Response {
    let invalid = |m: &str| errors::bedrock(400, "ValidationException", m, None);
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return invalid("Malformed input request, please reformat your input and try again."),
    };
    let (out, counted) = if model.contains("titan-embed") {
        let Some(text) = req["inputText"].as_str() else {
            return invalid(
                "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.",
            );
        };
        let dims = match dimensions(req.get("dimensions")) {
            Ok(d) => d,
            Err(e) => return invalid(&e),
        };
        let n = eff.prompt_tokens.unwrap_or_else(|| words(text));
        let mut out = json!({"embedding": vector(0, dims)});
        if !eff.no_usage {
            out["inputTextTokenCount"] = json!(n);
        }
        (out, n)
    } else if model.contains("cohere.embed") {
        let Some(texts) = req["texts"].as_array().filter(|t| !t.is_empty() && t.iter().all(Value::is_string)) else {
            return invalid(
                "Malformed input request: #: required key [texts] not found, please reformat your input and try again.",
            );
        };
        if !req["input_type"].is_string() {
            return invalid(
                "Malformed input request: #: required key [input_type] not found, please reformat your input and try again.",
            );
        }
        let dims = match dimensions(req.get("output_dimension")) {
            Ok(d) => d,
            Err(e) => return invalid(&e),
        };
        let vectors: Vec<Vec<f32>> = (0..texts.len()).map(|i| vector(i, dims)).collect();
        let n = eff.prompt_tokens.unwrap_or_else(|| texts.iter().filter_map(Value::as_str).map(words).sum());
        let out = json!({
            "id": "3a7c1c5e-mock-embed",
            "embeddings": vectors,
            "response_type": "embeddings_floats",
            "texts": texts,
        });
        (out, n)
    } else {
        return invalid(&format!("mock-provider: `{model}` is not a Titan or Cohere embeddings model"));
    };
    if eff.garbage_after.is_some() {
        return crate::script::garbage_response();
    }
    json_response(out, (!eff.no_usage).then_some(counted))
}
