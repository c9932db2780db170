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

/// DALL·E 3's prices (as the catalog has Azure's, rounded): 0.04 the base (1024x1024
/// standard), 0.08 for 1792x1024 at any quality but hd, hd 0.08 and 0.12.
const SIZED: &str = concat!(
    r#"{ input = 0, output = 0, per_image = "0.04", image_prices = ["#,
    r#"{ size = "1024x1024", quality = "hd", price = "0.08" }, { size = "1792x1024", price = 0.08 }, "#,
    r#"{ size = "1792x1024", quality = "hd", price = "0.12" }] }"#
);

#[tokio::test]
async fn images_are_priced_by_the_size_and_quality_the_answer_or_the_request_names() {
    let mock = mock().await;
    for engine in engines() {
        // The sized model is declared in tollgate.toml; the gpt-image one through the API.
        let toml = format!(
            r#"
[[providers]]
name = "img"
kind = "openai"
base_url = "{}"
credentials = [{{ name = "main", api_key = "{PROVIDER_KEY}" }}]

[[models]]
name = "dalle"
targets = [{{ provider = "img", model = "dall-e-3" }}]
pricing = {SIZED}
multiplier = 1.5
"#,
            mock.base_url()
        );
        let gw =
            Gateway::start_with(GatewayOptions { engine, config_toml: Some(toml), ..GatewayOptions::default() }).await;
        let m = gw.admin_ok("GET", "/api/v1/models/dalle", None, 200).await;
        assert_eq!(
            m["pricing"]["image_prices"],
            json!([{"size": "1024x1024", "quality": "hd", "price": "0.08"}, {"size": "1792x1024", "price": "0.08"},
                {"size": "1792x1024", "quality": "hd", "price": "0.12"}])
        );
        let u = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "painter"})), 201).await;
        let uid = u["id"].as_str().unwrap();
        let credits = json!({"amount": "10", "idempotency_key": "start"});
        gw.admin_ok("POST", &format!("/api/v1/users/{uid}/credits"), Some(credits), 201).await;
        let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": uid})), 201).await;
        let (key, key_id) = (k["key"].as_str().unwrap(), k["id"].as_str().unwrap());

        // The request names size and quality (DALL·E's answer names neither); ×1.5, once.
        let g = &gw;
        let cost = |body: Value| async move {
            let resp = generate(g, key, body).await;
            assert_eq!(resp.status(), 200);
            resp.headers()["x-tollgate-cost"].to_str().unwrap().to_string()
        };
        // 2 × 0.08 × 1.5.
        assert_eq!(
            cost(json!({"model": "dalle", "prompt": "p", "n": 2, "size": "1024x1024", "quality": "hd"})).await,
            "0.24"
        );
        // 1792x1024, no quality: the size's price. 0.08 × 1.5.
        assert_eq!(cost(json!({"model": "dalle", "prompt": "p", "size": "1792x1024"})).await, "0.12");
        // 3 × 0.12 × 1.5.
        assert_eq!(
            cost(json!({"model": "dalle", "prompt": "p", "n": 3, "size": "1792x1024", "quality": "hd"})).await,
            "0.54"
        );
        // A size no price names, and none at all: the base. 0.04 × 1.5.
        assert_eq!(cost(json!({"model": "dalle", "prompt": "p", "size": "512x512", "quality": "hd"})).await, "0.06");
        assert_eq!(cost(json!({"model": "dalle", "prompt": "p"})).await, "0.06");

        // gpt-image: its answer names the size and quality it made (`auto` made as medium), and
        // that prices the images, over the request's `auto`; its tokens are charged too.
        // 10 × 5/1M + 100 × 40/1M + 2 × 0.01 = 0.02405.
        let p = gw
            .admin_ok(
                "POST",
                "/api/v1/providers",
                Some(json!({"name": "img-tokens", "kind": "openai",
                    "base_url": mock.scenario_url("prompt_tokens=10,completion_tokens=100")})),
                201,
            )
            .await;
        let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
        gw.admin_ok("POST", &path, Some(json!({"api_key": PROVIDER_KEY})), 201).await;
        let pricing = json!({"input": 5, "output": 40,
            "image_prices": [{"quality": "medium", "price": "0.01"}, {"quality": "high", "price": "0.02"}]});
        let body = json!({"name": "gpt-img", "targets": [{"provider": "img-tokens", "model": "gpt-image-1"}],
            "pricing": pricing});
        gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
        assert_eq!(cost(json!({"model": "gpt-img", "prompt": "p", "n": 2, "quality": "auto"})).await, "0.02405");
        let answer = mock.last_request().unwrap();
        assert_eq!(answer.body["quality"], "auto", "the request is passed on as it is");
        // Asked for high: 10 × 5/1M + 100 × 40/1M + 0.02.
        assert_eq!(cost(json!({"model": "gpt-img", "prompt": "p", "quality": "high"})).await, "0.02405");

        // Each record keeps the price its images paid and which entry it was.
        let calls = gw.calls_until(key_id, |c| c.len() == 7).await;
        let hd = calls.iter().find(|c| c["cost"] == "0.54").unwrap();
        assert_eq!(hd["images"], 3);
        assert_eq!(hd["provider_cost"], "0.36");
        assert_eq!(hd["price"]["per_image"], "0.12");
        assert_eq!(hd["price"]["applied"], json!({"image": {"size": "1792x1024", "quality": "hd"}}));
        assert!(hd["price"].get("image_prices").is_none(), "the snapshot is the price paid: {hd}");
        let base: Vec<&Value> = calls.iter().filter(|c| c["cost"] == "0.06").collect();
        assert_eq!(base.len(), 2);
        assert!(base.iter().all(|c| c["price"]["per_image"] == "0.04" && c["price"].get("applied").is_none()));
        let gpt: Vec<&Value> = calls.iter().filter(|c| c["model"] == "gpt-img").collect();
        let applied: Vec<&Value> = gpt.iter().map(|c| &c["price"]["applied"]["image"]["quality"]).collect();
        assert!(applied.contains(&&json!("medium")) && applied.contains(&&json!("high")), "{applied:?}");
        // 10 - (0.24 + 0.12 + 0.54 + 0.06 + 0.06 + 0.02405 × 2).
        let me = gw.admin_ok("GET", &format!("/api/v1/users/{uid}"), None, 200).await;
        assert_eq!(me["balance"], "8.9319");

        // A bad image price is the client's 400.
        for bad in [
            json!([{"price": 1}]),
            json!([{"size": "big", "price": 1}]),
            json!([{"size": "1x1", "price": -1}]),
            json!([{"quality": "hd", "price": 1}, {"quality": "hd", "price": 2}]),
        ] {
            let body = json!({"pricing": {"input": 0, "output": 0, "image_prices": bad}});
            let (status, v) = gw.admin("PATCH", "/api/v1/models/gpt-img", Some(body)).await;
            assert_eq!(status, 400, "{bad}: {v}");
        }
        gw.stop().await;
    }
}
