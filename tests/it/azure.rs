//! Providers of kind `azure-openai`: OpenAI bodies at deployment URLs with an `api-version`
//! and the key in `api-key`, for OpenAI clients (passthrough) and Anthropic clients (converted).

use serde_json::{Value, json};

use crate::harness::*;

fn header(req: &mock_provider::RecordedRequest, name: &str) -> Option<String> {
    req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[tokio::test]
async fn azure_deployments_serve_both_dialects() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(
        &gw,
        "azure-openai",
        &mock.scenario_root("prompt_tokens=1000,completion_tokens=500,cached_tokens=200"),
        "10",
    )
    .await;

    let body = json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}], "seed": 3});
    let resp = gw.chat(&f.key, body.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
    let c: Value = resp.json().await.unwrap();
    assert!(c["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello"));
    let last = mock.last_request().unwrap();
    assert_eq!(last.dialect, "azure-openai");
    assert!(last.path.contains("/openai/deployments/mock-gpt/chat/completions?"), "{}", last.path);
    assert_eq!(last.query, "api-version=2024-10-21", "the default api-version");
    assert_eq!(header(&last, "api-key").as_deref(), Some(PROVIDER_KEY));
    assert_eq!(header(&last, "authorization"), None);
    let mut expected = body.clone();
    expected["model"] = "mock-gpt".into();
    assert_eq!(last.body, expected, "an OpenAI body passes through");

    // An Anthropic client, streamed: converted to OpenAI and back.
    let resp = gw
        .messages(&f.key, json!({"model": f.model, "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let events = anthropic_events(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap().0, "message_stop");
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(
        (delta.1["usage"]["input_tokens"].as_i64(), delta.1["usage"]["cache_read_input_tokens"].as_i64()),
        (Some(800), Some(200))
    );
    assert_eq!(mock.last_request().unwrap().body["stream_options"]["include_usage"], true);

    // The provider's own api-version, set through the management API.
    let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
    let id =
        providers["data"].as_array().unwrap().iter().find(|p| p["name"] == f.provider_name.as_str()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    let p = gw
        .admin_ok("PATCH", &format!("/api/v1/providers/{id}"), Some(json!({"api_version": "2025-04-01-preview"})), 200)
        .await;
    assert_eq!(p["api_version"], "2025-04-01-preview");
    assert_eq!(gw.chat(&f.key, body.clone()).await.status(), 200);
    assert_eq!(mock.last_request().unwrap().query, "api-version=2025-04-01-preview");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3 && c.iter().all(|c| c["status"] == "success")).await;
    assert!(calls.iter().all(|c| c["input_tokens"] == 800 && c["cached_tokens"] == 200));

    // Settings checked: an api_version on another kind, an Azure provider without endpoint.
    let (status, v) = gw
        .admin("POST", "/api/v1/providers", Some(json!({"name": "o", "kind": "openai", "api_version": "2024-10-21"})))
        .await;
    assert_eq!((status, v["error"]["param"].as_str()), (400, Some("api_version")));
    let (status, _) = gw.admin("POST", "/api/v1/providers", Some(json!({"name": "a", "kind": "azure-openai"}))).await;
    assert_eq!(status, 400);
    gw.stop().await;
}
