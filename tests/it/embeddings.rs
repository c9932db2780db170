//! `/v1/embeddings` on the kinds that are not OpenAI-protocol: Gemini (`batchEmbedContents`)
//! and Bedrock (Titan Text Embeddings and Cohere Embed through InvokeModel, SigV4 verified in
//! full by the mock), answered as OpenAI's list (floats or base64) with usage, charged exactly
//! (the provider's count, or the gateway's when Gemini reports none); and what such a provider
//! cannot take is the client's 400 before anything is charged.

use base64::Engine;
use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};

use crate::harness::*;

const SECRET: &str = "embed-test-secret";
/// Scenario of the providers that report a count: 1000 input tokens whatever the input.
const COUNTED_1000: &str = "prompt_tokens=1000";

/// The mock's element j of the vector for input i, as f32.
fn mock_value(i: usize, j: usize) -> f32 {
    ((i + 1) * (j + 1)) as f32 / 100.0
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn from_base64(v: &Value) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
    bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

async fn provider(gw: &Gateway, kind: &str, base_url: &str) -> String {
    let name = format!("{kind}{}", &tollgate::store::new_id()[24..]);
    let p = gw
        .admin_ok("POST", "/api/v1/providers", Some(json!({"name": name, "kind": kind, "base_url": base_url})), 201)
        .await;
    let key = match kind {
        "bedrock" => {
            json!({"access_key_id": "AKIDEMBED", "secret_access_key": SECRET, "region": "us-east-1"}).to_string()
        }
        _ => "embed-provider-key".to_string(),
    };
    let id = p["id"].as_str().unwrap();
    gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": key})), 201).await;
    name
}

async fn model(gw: &Gateway, name: &str, provider: &str, upstream: &str) {
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": name, "targets": [{"provider": provider, "model": upstream}], "pricing": {"input": 2.5, "output": 0}})),
        201,
    )
    .await;
}

async fn embed(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    gw.http.post(format!("{}/v1/embeddings", gw.url)).bearer_auth(key).json(&body).send().await.unwrap()
}

/// A 200 embeddings answer: the body, and the cost header.
async fn ok(resp: reqwest::Response) -> (Value, String) {
    assert_eq!(resp.status(), 200);
    let cost = resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string();
    (resp.json().await.unwrap(), cost)
}

#[tokio::test]
async fn gemini_and_bedrock_embeddings_are_openai_lists_charged_exactly() {
    let mock =
        MockServer::start(MockConfig { aws_secret_access_key: Some(SECRET.into()), ..MockConfig::default() }).await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "10").await;
        let gemini = provider(&gw, "gemini", &mock.scenario_root(COUNTED_1000)).await;
        let gemini_plain = provider(&gw, "gemini", &mock.root_url()).await;
        let bedrock = provider(&gw, "bedrock", &mock.scenario_root(COUNTED_1000)).await;
        let bedrock_plain = provider(&gw, "bedrock", &mock.root_url()).await;
        let anthropic = provider(&gw, "anthropic", &mock.root_url()).await;
        model(&gw, "emb-gemini", &gemini, "gemini-embedding-001").await;
        model(&gw, "emb-gemini-uncounted", &gemini_plain, "gemini-embedding-001").await;
        model(&gw, "emb-titan", &bedrock, "amazon.titan-embed-text-v2:0").await;
        model(&gw, "emb-cohere", &bedrock_plain, "cohere.embed-english-v3").await;
        model(&gw, "emb-claude", &bedrock, "anthropic.claude-3-haiku-20240307-v1:0").await;
        model(&gw, "emb-anthropic", &anthropic, "claude-haiku-4-5").await;

        // Gemini: one request per input, the vectors back in order, the count it reported.
        let resp = embed(&gw, &f.key, json!({"model": "emb-gemini", "input": ["a b", "c d e"], "dimensions": 4})).await;
        let (v, cost) = ok(resp).await;
        assert_eq!((v["object"].as_str(), v["model"].as_str()), (Some("list"), Some("emb-gemini")));
        for i in 0..2 {
            assert_eq!(v["data"][i]["index"], i);
            assert_eq!(v["data"][i]["object"], "embedding");
            assert_eq!(floats(&v["data"][i]["embedding"]), (0..4).map(|j| mock_value(i, j)).collect::<Vec<_>>());
        }
        assert_eq!(v["usage"]["prompt_tokens"], 1000);
        assert_eq!(v["usage"]["total_tokens"], 1000);
        assert_eq!(cost, "0.0025");
        assert_eq!(v["usage"]["cost"], 0.0025, "the answer's usage carries the charge");
        let last = mock.last_request().unwrap();
        assert_eq!(last.dialect, "gemini");
        assert!(last.path.ends_with("/v1beta/models/gemini-embedding-001:batchEmbedContents"), "{}", last.path);
        assert!(last.headers.iter().any(|(n, v)| n == "x-goog-api-key" && v == "embed-provider-key"));
        let one = |t: &str| json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4});
        assert_eq!(last.body, json!({"requests": [one("a b"), one("c d e")]}));

        // Gemini reporting no count (as its API does): the gateway's count, shown and charged.
        let input = "the quick brown fox jumps over"; // 30 bytes: 8 tokens at 4 bytes a token
        let (v, cost) = ok(embed(&gw, &f.key, json!({"model": "emb-gemini-uncounted", "input": input})).await).await;
        assert_eq!(v["usage"]["prompt_tokens"], 8);
        assert_eq!(cost, "0.00002");
        assert_eq!(floats(&v["data"][0]["embedding"]).len(), 8);

        // Titan: one text, base64 as the OpenAI SDK asks by default; its inputTextTokenCount.
        let resp =
            embed(&gw, &f.key, json!({"model": "emb-titan", "input": ["hello world"], "encoding_format": "base64"}))
                .await;
        let (v, cost) = ok(resp).await;
        assert_eq!(from_base64(&v["data"][0]["embedding"]), (0..8).map(|j| mock_value(0, j)).collect::<Vec<_>>());
        assert_eq!((v["usage"]["prompt_tokens"].as_i64(), cost.as_str()), (Some(1000), "0.0025"));
        let last = mock.last_request().unwrap();
        assert_eq!(last.dialect, "bedrock");
        assert!(last.path.ends_with("/model/amazon.titan-embed-text-v2%3A0/invoke"), "{}", last.path);
        assert_eq!(last.body, json!({"inputText": "hello world"}));

        // Cohere: the whole list in one call; the count from Bedrock's header (3 + 1 + 2 words).
        let resp =
            embed(&gw, &f.key, json!({"model": "emb-cohere", "input": ["one two three", "four", "five six"]})).await;
        let (v, cost) = ok(resp).await;
        assert_eq!(v["data"].as_array().unwrap().len(), 3);
        assert_eq!(floats(&v["data"][2]["embedding"])[1], mock_value(2, 1));
        assert_eq!((v["usage"]["prompt_tokens"].as_i64(), cost.as_str()), (Some(6), "0.000015"));
        let last = mock.last_request().unwrap();
        assert!(last.path.ends_with("/model/cohere.embed-english-v3/invoke"), "{}", last.path);
        assert_eq!(last.body, json!({"texts": ["one two three", "four", "five six"], "input_type": "search_document"}));

        // What these providers cannot take: a 400 saying why, nothing sent, nothing charged.
        mock.reset();
        for (body, says) in [
            (json!({"model": "emb-titan", "input": ["a", "b"]}), "one text per request"),
            (json!({"model": "emb-claude", "input": "a"}), "is neither"),
            (json!({"model": "emb-gemini", "input": [[1, 2], [3]]}), "token ids"),
            (json!({"model": "emb-gemini", "input": "a", "encoding_format": "int8"}), "encoding_format"),
            (json!({"model": "emb-anthropic", "input": "a"}), "does not serve it"),
        ] {
            let resp = embed(&gw, &f.key, body.clone()).await;
            assert_eq!(resp.status(), 400, "{body}");
            let e: Value = resp.json().await.unwrap();
            assert!(e["error"]["message"].as_str().unwrap().contains(says), "{body}: {e}");
        }
        assert_eq!(mock.stats().total, 0, "a refused request reaches no provider");

        // One record per call, each holding what the answer said it cost; the ledger agrees.
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 4 && c.iter().all(|c| c["status"] == "success")).await;
        let by_model = |m: &str| calls.iter().find(|c| c["model"] == m).unwrap().clone();
        for (m, tokens, cost, estimated) in [
            ("emb-gemini", 1000, "0.0025", false),
            ("emb-gemini-uncounted", 8, "0.00002", true),
            ("emb-titan", 1000, "0.0025", false),
            ("emb-cohere", 6, "0.000015", false),
        ] {
            let c = by_model(m);
            assert_eq!(c["endpoint"], "embeddings", "{m}");
            assert_eq!(c["input_tokens"], tokens, "{m}");
            assert_eq!(c["output_tokens"], 0, "{m}");
            assert_eq!(c["cost"], cost, "{m}");
            assert_eq!(c["usage_estimated"], estimated, "{m}");
        }
        assert_eq!(f.balance(&gw).await, "9.994965");
        gw.stop().await;
    }
}
