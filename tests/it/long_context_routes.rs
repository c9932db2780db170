//! Long-context prices on the routes whose providers report usage in their own shapes: Gemini
//! (`promptTokenCount` includes the cached tokens) and Bedrock (`inputTokens` excludes cache
//! reads and writes). The gateway reads both into one prompt count — uncached, cache reads and
//! cache writes together — so a catalog model's `_above_200k_tokens` prices apply one token past
//! the threshold, the whole call at them, streamed or not.

use serde_json::{Value, json};

use crate::harness::*;

/// A model on a provider of `kind` whose answers report `usage`, priced by the catalog.
async fn catalog_model(gw: &Gateway, f: &Fixture, kind: &str, base_url: &str, upstream: &str) -> String {
    let provider = format!("{}-{kind}", f.provider_name);
    let p = gw
        .admin_ok("POST", "/api/v1/providers", Some(json!({"name": provider, "kind": kind, "base_url": base_url})), 201)
        .await;
    let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
    let credential = match kind {
        "bedrock" => {
            json!({"api_key": r#"{"access_key_id":"AKIDEXAMPLE","secret_access_key":"secret","region":"us-east-1"}"#})
        }
        _ => json!({"api_key": PROVIDER_KEY}),
    };
    gw.admin_ok("POST", &path, Some(credential), 201).await;
    let name = format!("{kind}-long");
    let body = json!({"name": name, "targets": [{"provider": provider, "model": upstream}]});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    name
}

async fn chat_cost(gw: &Gateway, f: &Fixture, model: &str) -> String {
    let resp = gw.chat(&f.key, json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string()
}

async fn streamed_cost(gw: &Gateway, f: &Fixture, model: &str) -> String {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": true,
        "stream_options": {"include_usage": true}});
    let resp = gw.chat(&f.key, body).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let chunk = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.strip_prefix("data: ")?).ok())
        .find(|c| c["usage"].is_object())
        .unwrap_or_else(|| panic!("no usage chunk: {text}"));
    chunk["usage"]["cost"].as_str().map_or_else(|| chunk["usage"]["cost"].to_string(), str::to_string)
}

#[tokio::test]
async fn gemini_and_bedrock_calls_pay_long_context_prices_past_the_threshold() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "100").await;
        let at =
            |prompt: u64, more: &str| mock.scenario_root(&format!("prompt_tokens={prompt},completion_tokens=10{more}"));

        // Gemini 2.5 Pro (catalog): 1.25 / 10, cache reads 0.125; above 200k: 2.5 / 15 / 0.25.
        let gemini = catalog_model(&gw, &f, "gemini", &at(200_000, ",cached_tokens=1000"), "gemini-2.5-pro").await;
        // 200,000 prompt tokens (1,000 of them cached): the base prices.
        // 199,000 × 1.25 + 1,000 × 0.125 + 10 × 10, per million.
        assert_eq!(chat_cost(&gw, &f, &gemini).await, "0.248975");
        let path = format!("/api/v1/providers/{}-gemini", f.provider_name);
        let past = json!({"base_url": at(200_001, ",cached_tokens=1000")});
        gw.admin_ok("PATCH", &path, Some(past), 200).await;
        // One more: every token at the long-context prices.
        // 199,001 × 2.5 + 1,000 × 0.25 + 10 × 15, per million.
        assert_eq!(chat_cost(&gw, &f, &gemini).await, "0.4979025");
        assert_eq!(streamed_cost(&gw, &f, &gemini).await, "0.4979025");

        // Claude Sonnet 4 on Bedrock (catalog): 3 / 15, reads 0.3, writes 3.75; above 200k:
        // 6 / 22.5 / 0.6 / 7.5. Bedrock's `inputTokens` leaves out the reads and writes.
        let cache = ",cached_tokens=1000,cache_write_tokens=2000";
        let bedrock =
            catalog_model(&gw, &f, "bedrock", &at(200_000, cache), "anthropic.claude-sonnet-4-20250514-v1:0").await;
        // 197,000 × 3 + 1,000 × 0.3 + 2,000 × 3.75 + 10 × 15.
        assert_eq!(chat_cost(&gw, &f, &bedrock).await, "0.59895");
        let path = format!("/api/v1/providers/{}-bedrock", f.provider_name);
        gw.admin_ok("PATCH", &path, Some(json!({"base_url": at(200_001, cache)})), 200).await;
        // 197,001 × 6 + 1,000 × 0.6 + 2,000 × 7.5 + 10 × 22.5.
        assert_eq!(chat_cost(&gw, &f, &bedrock).await, "1.197831");
        assert_eq!(streamed_cost(&gw, &f, &bedrock).await, "1.197831");

        // The records name the shape.
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 6 && c.iter().all(|c| c["status"] == "success")).await;
        let long: Vec<&Value> = calls.iter().filter(|c| c["price"]["applied"] == json!({"above": 200000})).collect();
        assert_eq!(long.len(), 4, "{calls:?}");
        gw.stop().await;
    }
}
