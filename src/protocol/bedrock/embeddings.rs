//! Bedrock embeddings through InvokeModel (`POST /model/{modelId}/invoke`, signed like
//! Converse), for the two model families whose bodies are known here, told by the model id:
//!
//! - Amazon Titan Text Embeddings (`amazon.titan-embed-*`): `{"inputText", "dimensions"}` →
//!   `{"embedding", "inputTextTokenCount"}`. One text per call: a request of several inputs
//!   is refused (a 400 saying to send them one by one) rather than fanned out into several
//!   upstream calls, which could half-fail.
//! - Cohere Embed (`cohere.embed-*`): `{"texts", "input_type": "search_document",
//!   "output_dimension"}` → `{"embeddings": [[…]]}` (or `{"embeddings": {"float": [[…]]}}`).
//!   `input_type` is required by Cohere and has no OpenAI counterpart: documents is the
//!   neutral choice.
//!
//! Any other model id is refused with a 400 naming both families. The input token count is
//! Titan's `inputTextTokenCount`, else the `x-amzn-bedrock-input-token-count` header Bedrock
//! puts on every InvokeModel answer.

use serde_json::{Value, json};

use crate::protocol::embeddings::{Request, Vectors, one_per_input, vector};

/// The response header with the input token count of an InvokeModel call.
pub const INPUT_TOKEN_COUNT_HEADER: &str = "x-amzn-bedrock-input-token-count";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Titan,
    Cohere,
}

fn family(model_id: &str) -> Result<Family, String> {
    if model_id.contains("amazon.titan-embed") {
        Ok(Family::Titan)
    } else if model_id.contains("cohere.embed") {
        Ok(Family::Cohere)
    } else {
        Err(format!(
            "Bedrock embeddings are served for Amazon Titan Text Embeddings (amazon.titan-embed-*) and Cohere Embed \
             (cohere.embed-*) models; `{model_id}` is neither"
        ))
    }
}

/// The request path for `model_id`.
pub fn endpoint_path(model_id: &str) -> Result<String, String> {
    super::model_path(model_id, "invoke")
}

/// The InvokeModel body for `model_id`, or why this model cannot take the request (a 400).
pub fn request_body(r: &Request, model_id: &str) -> Result<Value, String> {
    match family(model_id)? {
        Family::Titan => {
            let [text] = r.inputs.as_slice() else {
                return Err(format!(
                    "Titan Text Embeddings (`{model_id}`) embeds one text per request; this request has {}: send \
                     them one by one",
                    r.inputs.len()
                ));
            };
            let mut body = json!({ "inputText": text });
            if let Some(d) = r.dimensions {
                body["dimensions"] = json!(d);
            }
            Ok(body)
        }
        Family::Cohere => {
            let mut body = json!({"texts": r.inputs, "input_type": "search_document"});
            if let Some(d) = r.dimensions {
                body["output_dimension"] = json!(d);
            }
            Ok(body)
        }
    }
}

/// The vectors of an InvokeModel answer to `inputs` texts (Titan's or Cohere's shape);
/// `header_tokens` is the count Bedrock sent in [`INPUT_TOKEN_COUNT_HEADER`].
pub fn parse_response(body: &[u8], inputs: usize, header_tokens: Option<i64>) -> Result<Vectors, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let (vectors, counted) = if let Some(one) = v.get("embedding") {
        (vec![vector(one)?], v["inputTextTokenCount"].as_i64())
    } else {
        let list = match &v["embeddings"] {
            Value::Object(by_type) => by_type.get("float").ok_or("the answer has no float embeddings")?,
            other => other,
        };
        let list = list.as_array().ok_or("the answer has no `embedding` or `embeddings`")?;
        (list.iter().map(vector).collect::<Result<Vec<_>, _>>()?, None)
    };
    one_per_input(&vectors, inputs)?;
    let input_tokens = counted.or(header_tokens).filter(|n| *n > 0);
    Ok(Vectors { vectors, input_tokens })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn req(inputs: &[&str], dimensions: Option<u64>) -> Request {
        Request { inputs: inputs.iter().map(|s| s.to_string()).collect(), dimensions, base64: false }
    }

    #[test]
    fn titan_takes_one_text_and_cohere_a_list() {
        let titan = "amazon.titan-embed-text-v2:0";
        assert_eq!(
            request_body(&req(&["hi"], Some(256)), titan).unwrap(),
            json!({"inputText": "hi", "dimensions": 256})
        );
        let e = request_body(&req(&["a", "b"], None), titan).unwrap_err();
        assert!(e.contains("one text per request") && e.contains("has 2"), "{e}");
        assert_eq!(
            request_body(&req(&["a", "b"], None), "us.cohere.embed-v4:0").unwrap(),
            json!({"texts": ["a", "b"], "input_type": "search_document"})
        );
        let e = request_body(&req(&["a"], None), "anthropic.claude-3-haiku").unwrap_err();
        assert!(e.contains("is neither"), "{e}");
        assert_eq!(
            endpoint_path("amazon.titan-embed-text-v2:0").unwrap(),
            "/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
    }

    #[test]
    fn reads_either_answer_with_its_count() {
        let titan = json!({"embedding": [0.5, 0.25], "inputTextTokenCount": 3}).to_string();
        let v = parse_response(titan.as_bytes(), 1, Some(99)).unwrap();
        assert_eq!(v, Vectors { vectors: vec![vec![0.5, 0.25]], input_tokens: Some(3) });
        let cohere = json!({"id": "x", "embeddings": [[1.0], [2.0]], "response_type": "embeddings_floats"});
        let v = parse_response(cohere.to_string().as_bytes(), 2, Some(4)).unwrap();
        assert_eq!(v, Vectors { vectors: vec![vec![1.0], vec![2.0]], input_tokens: Some(4) });
        let by_type = json!({"embeddings": {"float": [[1.0]]}, "response_type": "embeddings_by_type"});
        assert_eq!(parse_response(by_type.to_string().as_bytes(), 1, None).unwrap().input_tokens, None);
        assert!(parse_response(cohere.to_string().as_bytes(), 3, None).is_err());
        assert!(parse_response(b"{}", 1, None).is_err());
    }
}
