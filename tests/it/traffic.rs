//! Model traffic through the gateway: passthrough fidelity, streaming, embeddings, models.

use serde_json::{Value, json};

use crate::harness::*;
use crate::setup::*;

#[tokio::test]
async fn chat_passes_through_with_only_the_model_rewritten() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "10").await;
        let body = json!({
            "model": f.model, "messages": [{"role": "user", "content": "hello there"}],
            "temperature": 0.3, "custom_field": {"a": [1, 2]}, "seed": 7,
            "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "none"
        });
        let resp = gw
            .http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&f.key)
            .header("x-request-id", "my-request-1")
            .header("cookie", "session=secret-cookie")
            .header("x-secret-header", "do-not-forward")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-request-id"], "my-request-1");
        assert!(resp.headers().contains_key("x-tollgate-overhead-ms"));
        let out: Value = resp.json().await.unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], r#"{"answer":"Hello"}"#);
        let last = mock.last_request().unwrap();
        let mut expected = body.clone();
        expected["model"] = "mock-gpt".into();
        assert_eq!(last.body, expected, "only the model is rewritten");
        let header = |name: &str| last.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        assert_eq!(header("authorization").as_deref(), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
        assert_eq!(header("cookie"), None);
        assert_eq!(header("x-secret-header"), None);
        assert!(last.headers.iter().all(|(_, v)| !v.contains(&f.key)), "the Tollgate key never goes upstream");
        gw.stop().await;
    }
}

#[tokio::test]
async fn streams_relay_every_chunk_and_strip_usage_unless_asked() {
    let Setup { mock, gw, f } = Setup::scenario("chunks=5").await;
    let msgs = json!([{"role": "user", "content": "one two three"}]);

    let resp = gw.chat(&f.key, json!({"model": f.model, "stream": true, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text.split_whitespace().count(), 5);
    assert!(chunks.iter().all(|c| c.get("usage").is_none_or(Value::is_null)), "usage chunk stripped: {body}");
    assert_eq!(mock.last_request().unwrap().body["stream_options"]["include_usage"], true, "usage always requested");

    let resp = gw
        .chat(
            &f.key,
            json!({"model": f.model, "stream": true, "stream_options": {"include_usage": true}, "messages": msgs}),
        )
        .await;
    let data = sse_data(&resp.text().await.unwrap());
    let usage_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 3);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 5);

    // Both streams are recorded with their usage, though the first client never saw it.
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "success")).await;
    for c in &calls {
        assert_eq!((c["input_tokens"].as_i64(), c["output_tokens"].as_i64()), (Some(3), Some(5)));
        assert_eq!(c["stream"], true);
        assert!(c["ttft_ms"].is_i64());
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_stream_cut_by_the_provider_ends_with_an_in_band_error() {
    let Setup { mock: _mock, gw, f } = Setup::scenario("chunks=6,cut_after=2").await;
    let resp = gw
        .chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].as_str().unwrap().contains("stream"), "{last}");
    assert!(!data.iter().any(|d| d == "[DONE]"));
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
    assert_eq!(calls[0]["status"], "failed");
    assert_eq!(calls[0]["error_class"], "upstream_io_error");
    gw.stop().await;
}

#[tokio::test]
async fn embeddings_and_models_list() {
    let Setup { mock, gw, f } = Setup::new().await;
    let resp = gw
        .http
        .post(format!("{}/v1/embeddings", gw.url))
        .bearer_auth(&f.key)
        .json(&json!({"model": f.model, "input": ["a b", "c"], "dimensions": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["embedding"].as_array().unwrap().len(), 4);
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!(calls[0]["endpoint"], "embeddings");
    assert_eq!(calls[0]["input_tokens"], 3);

    // A second key limited to nothing but this model; a third model it may not see.
    let other = Fixture::new(&gw, &mock.base_url(), "1").await;
    let limited =
        gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": [f.model]})), 201).await;
    let list = |v: Value| -> Vec<String> {
        v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
    };
    let all = list(gw.models(&f.key, false).await);
    assert!(all.contains(&f.model) && all.contains(&other.model));
    assert_eq!(list(gw.models(limited["key"].as_str().unwrap(), false).await), vec![f.model.clone()]);
    let anthropic = gw.models(&f.key, true).await;
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);
    gw.stop().await;
}

#[tokio::test]
async fn provider_slash_model_addressing_routes_directly_when_priced() {
    let Setup { mock: _mock, gw, f } = Setup::new().await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let ok = gw.chat(&f.key, json!({"model": format!("{}/mock-gpt", f.provider_name), "messages": msgs})).await;
    assert_eq!(ok.status(), 200);
    let unpriced =
        gw.chat(&f.key, json!({"model": format!("{}/other-model", f.provider_name), "messages": msgs})).await;
    assert_eq!(unpriced.status(), 400);
    let v: Value = unpriced.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_priced");
    assert!(v["error"]["message"].as_str().unwrap().contains("no price"));
    gw.stop().await;
}
