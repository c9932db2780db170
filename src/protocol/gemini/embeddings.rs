//! Gemini embeddings: `models/{model}:batchEmbedContents`. One `EmbedContentRequest` per
//! input (`model` repeated as `models/{model}`, as the batch requires; the text as one part;
//! `outputDimensionality` when asked), answered by `{"embeddings": [{"values"}]}` in order.
//! The Gemini API reports no token counts for embeddings; a `usageMetadata.promptTokenCount`
//! (Vertex-style) is read when present, otherwise the gateway counts the input itself.

use serde_json::{Value, json};

use crate::protocol::embeddings::{Request, Vectors, one_per_input, vector};

/// The request path for `model`.
pub fn endpoint_path(model: &str) -> Result<String, String> {
    super::check_model_name(model)?;
    Ok(format!("/v1beta/models/{model}:batchEmbedContents"))
}

/// The `batchEmbedContents` body for `model`.
pub fn request_body(r: &Request, model: &str) -> Value {
    let requests: Vec<Value> = r
        .inputs
        .iter()
        .map(|text| {
            let mut one = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": text}]}});
            if let Some(d) = r.dimensions {
                one["outputDimensionality"] = json!(d);
            }
            one
        })
        .collect();
    json!({ "requests": requests })
}

/// The vectors of a `batchEmbedContents` answer to a request of `inputs` texts.
pub fn parse_response(body: &[u8], inputs: usize) -> Result<Vectors, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let embeddings = v["embeddings"].as_array().ok_or("the answer has no `embeddings` array")?;
    let vectors = embeddings.iter().map(|e| vector(&e["values"])).collect::<Result<Vec<_>, _>>()?;
    one_per_input(&vectors, inputs)?;
    let input_tokens = v["usageMetadata"]["promptTokenCount"].as_i64().filter(|n| *n > 0);
    Ok(Vectors { vectors, input_tokens })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn one_request_per_input_with_the_batch_model() {
        let r = Request { inputs: vec!["a".into(), "b c".into()], dimensions: Some(3), base64: false };
        assert_eq!(
            request_body(&r, "gemini-embedding-001"),
            json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 3},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b c"}]}, "outputDimensionality": 3},
            ]})
        );
        assert_eq!(
            endpoint_path("text-embedding-004").unwrap(),
            "/v1beta/models/text-embedding-004:batchEmbedContents"
        );
        assert!(endpoint_path("../x").is_err());
    }

    #[test]
    fn reads_vectors_and_usage_when_reported() {
        let body = json!({"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}).to_string();
        let v = parse_response(body.as_bytes(), 2).unwrap();
        assert_eq!(v, Vectors { vectors: vec![vec![0.1, 0.2], vec![0.3, 0.4]], input_tokens: None });
        let with_usage = json!({"embeddings": [{"values": [1]}], "usageMetadata": {"promptTokenCount": 9}});
        assert_eq!(parse_response(with_usage.to_string().as_bytes(), 1).unwrap().input_tokens, Some(9));
        assert!(parse_response(body.as_bytes(), 3).unwrap_err().contains("2 vectors for 3 inputs"));
        assert!(parse_response(br#"{"embeddings": [{"values": ["x"]}]}"#, 1).is_err());
    }
}
