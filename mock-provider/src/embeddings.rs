//! Embeddings: deterministic vectors, as float arrays or base64 little-endian f32. The same
//! vectors and word counts serve the Gemini and Bedrock embedding routes
//! ([`crate::embed_kinds`]).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::errors;
use crate::options::Effective;
use crate::route::Dialect;

/// Default vector length.
pub(crate) const DEFAULT_DIMENSIONS: u64 = 8;
/// Largest `dimensions` accepted.
pub(crate) const MAX_DIMENSIONS: u64 = 65_536;

#[derive(Deserialize)]
struct EmbeddingRequest {
    #[serde(default)]
    input: Value,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    dimensions: Option<u64>,
    #[serde(default)]
    encoding_format: Option<String>,
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<EmbeddingUsage>,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// The vector of input `index`: value j is `(index+1)*(j+1)/100`.
enum Vector {
    Float { index: usize, dimensions: usize },
    Base64(String),
}

pub(crate) fn value(index: usize, j: usize) -> f32 {
    ((index + 1) * (j + 1)) as f32 / 100.0
}

/// The whole vector of input `index`.
pub(crate) fn vector(index: usize, dimensions: usize) -> Vec<f32> {
    (0..dimensions).map(|j| value(index, j)).collect()
}

/// The tokens of one text, as the mock counts them: its words.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Vector::Float { index, dimensions } => {
                let mut seq = s.serialize_seq(Some(*dimensions))?;
                for j in 0..*dimensions {
                    seq.serialize_element(&value(*index, j))?;
                }
                seq.end()
            }
            Vector::Base64(text) => s.serialize_str(text),
        }
    }
}

/// Token count of each input, or an error message for an unsupported `input`.
fn input_tokens(input: &Value) -> Result<Vec<u64>, &'static str> {
    match input {
        Value::String(s) => Ok(vec![words(s)]),
        Value::Array(items) if items.is_empty() => Err("input must not be empty"),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Ok(items.iter().map(|v| words(v.as_str().unwrap_or_default())).collect())
        }
        Value::Array(items) if items.iter().all(Value::is_u64) => Ok(vec![items.len() as u64]),
        Value::Array(items) if items.iter().all(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_u64))) => {
            Ok(items.iter().map(|v| v.as_array().map_or(0, |a| a.len() as u64)).collect())
        }
        _ => Err("input must be a string, an array of strings, or token arrays"),
    }
}

/// Serves `POST /v1/embeddings` (and Azure's deployment route, in `dialect`'s errors) once
/// latency and scripted errors are done with; `default_model` names the reply when the body
/// has no `model`.
pub(crate) fn handle(body: &[u8], eff: &Effective, dialect: Dialect, default_model: &str) -> Response {
    let req: EmbeddingRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return errors::bad_request(dialect, &format!("invalid embeddings request: {e}")),
    };
    let tokens = match input_tokens(&req.input) {
        Ok(t) => t,
        Err(msg) => return errors::bad_request(dialect, msg),
    };
    let dimensions = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
    if !(1..=MAX_DIMENSIONS).contains(&dimensions) {
        return errors::bad_request(dialect, "dimensions must be between 1 and 65536");
    }
    let dimensions = dimensions as usize;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return errors::bad_request(dialect, "encoding_format must be float or base64"),
    };
    let data = (0..tokens.len())
        .map(|index| Embedding {
            object: "embedding",
            index,
            embedding: if base64 {
                let bytes: Vec<u8> = (0..dimensions).flat_map(|j| value(index, j).to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Float { index, dimensions }
            },
        })
        .collect();
    let prompt_tokens = eff.prompt_tokens.unwrap_or_else(|| tokens.iter().sum());
    let list = EmbeddingList {
        object: "list",
        data,
        model: req.model.as_deref().unwrap_or(default_model),
        usage: (!eff.no_usage).then_some(EmbeddingUsage { prompt_tokens, total_tokens: prompt_tokens }),
    };
    if eff.garbage_after.is_some() {
        return crate::script::garbage_response();
    }
    let body = serde_json::to_vec(&list).unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}
