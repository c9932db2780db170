//! `POST /v1/images/generations` through OpenAI and Azure OpenAI providers: charged per image
//! (and by tokens when the provider reports them, as gpt-image does), recorded with the image
//! count; other kinds and streams are the client's 400.

use serde_json::{Value, json};

use crate::harness::*;

async fn image_model(gw: &Gateway, provider: &str, name: &str, pricing: Value) {
    let body = json!({"name": name, "targets": [{"provider": provider, "model": "gpt-image-1"}], "pricing": pricing});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
}

async fn generate(gw: &Gateway, key: &str, body: Value) -> reqwest::Response {
    gw.http.post(format!("{}/v1/images/generations", gw.url)).bearer_auth(key).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn images_are_generated_on_openai_and_azure_and_charged_per_image() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    let azure = Fixture::of_kind(&gw, "azure-openai", &mock.root_url(), "0").await;
    let tokens = format!("{}-tokens", f.provider_name);
    let p = gw
        .admin_ok(
            "POST",
            "/api/v1/providers",
            Some(json!({"name": tokens, "kind": "openai",
                "base_url": mock.scenario_url("prompt_tokens=12,completion_tokens=4160")})),
            201,
        )
        .await;
    let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
    gw.admin_ok("POST", &path, Some(json!({"api_key": PROVIDER_KEY})), 201).await;
    let per_image = json!({"input": 0, "output": 0, "per_image": "0.04"});
    image_model(&gw, &f.provider_name, "img-openai", per_image.clone()).await;
    image_model(&gw, &azure.provider_name, "img-azure", per_image).await;
    image_model(&gw, &tokens, "img-tokens", json!({"input": 5, "output": 40})).await;

    for (model, dialect) in [("img-openai", "openai"), ("img-azure", "azure-openai")] {
        let resp = generate(&gw, &f.key, json!({"model": model, "prompt": "a red square", "n": 2})).await;
        assert_eq!(resp.status(), 200, "{model}");
        assert_eq!(resp.headers()["x-tollgate-cost"], "0.08");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert!(v["data"][0]["b64_json"].as_str().is_some_and(|b| !b.is_empty()));
        let last = mock.last_request().unwrap();
        assert_eq!(last.dialect, dialect);
        assert_eq!(last.body["model"], "gpt-image-1");
        if dialect == "azure-openai" {
            assert!(last.path.contains("/openai/deployments/gpt-image-1/images/generations"), "{}", last.path);
        }
    }
    // Token-priced: 12 × 5/1M + 4160 × 40/1M.
    let resp = generate(&gw, &f.key, json!({"model": "img-tokens", "prompt": "a red square"})).await;
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.16646");

    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3).await;
    let openai = calls.iter().find(|c| c["model"] == "img-openai").unwrap();
    assert_eq!(
        (openai["endpoint"].as_str(), openai["images"].as_i64(), openai["cost"].as_str()),
        (Some("images"), Some(2), Some("0.08"))
    );
    assert_eq!(f.balance(&gw).await, "9.67354");

    // No streaming, and no image generation on providers without the endpoint.
    let resp = generate(&gw, &f.key, json!({"model": "img-openai", "prompt": "x", "stream": true})).await;
    assert_eq!(resp.status(), 400);
    let anthropic = Fixture::of_kind(&gw, "anthropic", &mock.root_url(), "0").await;
    let resp = generate(&gw, &f.key, json!({"model": anthropic.model, "prompt": "x"})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("does not serve it"), "{v}");
    gw.stop().await;
}
