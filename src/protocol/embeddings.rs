//! Embeddings across wire formats. An OpenAI `/v1/embeddings` body passes through unchanged to
//! OpenAI-protocol providers; for the others it is read into [`Request`], written as the
//! provider's body (Gemini `batchEmbedContents`: [`super::gemini::embeddings`]; Bedrock
//! InvokeModel of Titan Text Embeddings or Cohere Embed: [`super::bedrock::embeddings`]), and
//! the provider's vectors ([`Vectors`]) come back as the OpenAI list ([`openai_list`]).
//!
//! Mapping: `input` (a string or an array of strings) → one text each; `dimensions` → Gemini
//! `outputDimensionality`, Titan `dimensions`, Cohere `output_dimension` (a model that cannot
//! shorten its vectors refuses it upstream, and that 400 is relayed); `encoding_format:
//! base64` is done here (little-endian f32, as OpenAI sends it) since no other provider has it.
//! Refused (a 400): token-id input (arrays of integers: the ids are OpenAI's tokenizer's, no
//! other provider reads them), an empty input list, an `encoding_format` other than `float`
//! or `base64`. Deliberate losses: `user` (no provider field; the record keeps it as the end
//! user), and the providers' task types, which OpenAI cannot express (Gemini's default;
//! Cohere's `input_type` is required and sent as `search_document`).

use base64::Engine;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

/// An OpenAI embeddings request, as the other providers need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// One text per vector wanted, in order.
    pub inputs: Vec<String>,
    pub dimensions: Option<u64>,
    /// `encoding_format: base64`: vectors as base64 of little-endian f32.
    pub base64: bool,
}

impl Request {
    /// Reads an OpenAI embeddings body; the error is the client's 400 message.
    pub fn from_openai(body: &Map<String, Value>) -> Result<Request, String> {
        let token_ids = "`input` holds token ids, which only OpenAI-protocol providers read: send the text instead";
        let inputs = match body.get("input") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) if items.is_empty() => return Err("`input` must not be empty".into()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            Some(Value::Array(items))
                if items.iter().all(|v| v.is_u64() || v.as_array().is_some_and(|a| a.iter().all(Value::is_u64))) =>
            {
                return Err(token_ids.into());
            }
            None | Some(Value::Null) => return Err("`input` is required".into()),
            Some(_) => return Err("`input` must be a string or an array of strings".into()),
        };
        let dimensions = match body.get("dimensions") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Some(n),
                _ => return Err("`dimensions` must be a positive whole number".into()),
            },
        };
        let base64 = match body.get("encoding_format") {
            None | Some(Value::Null) => false,
            Some(Value::String(f)) if f == "float" => false,
            Some(Value::String(f)) if f == "base64" => true,
            Some(_) => return Err("`encoding_format` must be `float` or `base64`".into()),
        };
        Ok(Request { inputs, dimensions, base64 })
    }
}

/// The vectors a provider answered, in input order, and the input tokens it reported.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors {
    pub vectors: Vec<Vec<f64>>,
    pub input_tokens: Option<i64>,
}

/// Reads one vector: an array of numbers.
pub(crate) fn vector(v: &Value) -> Result<Vec<f64>, String> {
    let items = v.as_array().ok_or("a vector is not an array")?;
    items.iter().map(|x| x.as_f64().ok_or_else(|| "a vector holds a non-number".to_string())).collect()
}

/// Checks that the answer has one vector per input.
pub(crate) fn one_per_input(vectors: &[Vec<f64>], inputs: usize) -> Result<(), String> {
    if vectors.len() == inputs {
        Ok(())
    } else {
        Err(format!("the answer has {} vectors for {inputs} inputs", vectors.len()))
    }
}

/// The OpenAI embeddings list for the client: `model` is the name the client asked for,
/// `prompt_tokens` what the call is charged for.
pub fn openai_list(vectors: &Vectors, model: &str, base64: bool, prompt_tokens: i64) -> Vec<u8> {
    serde_json::to_vec(&List { vectors: &vectors.vectors, model, base64, prompt_tokens }).expect("serializes")
}

struct List<'a> {
    vectors: &'a [Vec<f64>],
    model: &'a str,
    base64: bool,
    prompt_tokens: i64,
}

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("object", "list")?;
        m.serialize_entry("data", &Data(self))?;
        m.serialize_entry("model", self.model)?;
        let usage = serde_json::json!({"prompt_tokens": self.prompt_tokens, "total_tokens": self.prompt_tokens});
        m.serialize_entry("usage", &usage)?;
        m.end()
    }
}

struct Data<'a, 'b>(&'a List<'b>);

impl Serialize for Data<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.vectors.len()))?;
        for (index, v) in self.0.vectors.iter().enumerate() {
            let embedding = if self.0.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| (*x as f32).to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(v.clone())
            };
            seq.serialize_element(&serde_json::json!({"object": "embedding", "index": index, "embedding": embedding}))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn req(body: Value) -> Result<Request, String> {
        Request::from_openai(body.as_object().unwrap())
    }

    #[test]
    fn reads_text_inputs_and_options() {
        let r = req(json!({"model": "m", "input": "a b"})).unwrap();
        assert_eq!(r, Request { inputs: vec!["a b".into()], dimensions: None, base64: false });
        let r = req(json!({"input": ["x", "y"], "dimensions": 4, "encoding_format": "base64", "user": "u"})).unwrap();
        assert_eq!(r, Request { inputs: vec!["x".into(), "y".into()], dimensions: Some(4), base64: true });
    }

    #[test]
    fn refuses_what_another_provider_cannot_read() {
        for (body, says) in [
            (json!({"input": [1, 2, 3]}), "token ids"),
            (json!({"input": [[1, 2], [3]]}), "token ids"),
            (json!({"input": []}), "must not be empty"),
            (json!({}), "is required"),
            (json!({"input": 5}), "a string or an array"),
            (json!({"input": "x", "dimensions": 0}), "dimensions"),
            (json!({"input": "x", "dimensions": "8"}), "dimensions"),
            (json!({"input": "x", "encoding_format": "int8"}), "encoding_format"),
        ] {
            let e = req(body.clone()).unwrap_err();
            assert!(e.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn writes_the_openai_list_as_floats_or_base64() {
        let v = Vectors { vectors: vec![vec![0.01, 0.02], vec![0.5, -1.0]], input_tokens: None };
        let out: Value = serde_json::from_slice(&openai_list(&v, "emb", false, 7)).unwrap();
        assert_eq!(
            out,
            json!({"object": "list", "model": "emb", "usage": {"prompt_tokens": 7, "total_tokens": 7}, "data": [
                {"object": "embedding", "index": 0, "embedding": [0.01, 0.02]},
                {"object": "embedding", "index": 1, "embedding": [0.5, -1.0]}]})
        );
        let out: Value = serde_json::from_slice(&openai_list(&v, "emb", true, 7)).unwrap();
        let b64 = out["data"][1]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let floats: Vec<f32> = bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(floats, vec![0.5f32, -1.0]);
    }
}
