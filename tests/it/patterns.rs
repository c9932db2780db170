//! Model patterns through the real gateway: `claude-*` on an Anthropic provider forwards the
//! requested name and is priced from the catalog; an exact name and a longer pattern win;
//! `/v1/models` lists what a key may use; malformed patterns are refused by the API.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn a_pattern_model_serves_every_name_it_matches_priced_from_the_catalog_or_its_own_price() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
    let anthropic = format!("{}-anthropic", f.provider_name);
    let p = gw
        .admin_ok(
            "POST",
            "/api/v1/providers",
            Some(json!({"name": anthropic, "kind": "anthropic",
                "base_url": mock.scenario_root("prompt_tokens=1000,completion_tokens=500")})),
            201,
        )
        .await;
    let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
    gw.admin_ok("POST", &path, Some(json!({"api_key": PROVIDER_KEY})), 201).await;
    let model = |name: &str, target: &str, provider: &str, pricing: Value| json!({"name": name, "targets": [{"provider": provider, "model": target}], "pricing": pricing});
    for body in [
        model("claude-*", "claude-*", &anthropic, Value::Null),
        // More specific: its own price, its own provider.
        model("claude-opus-*", "claude-opus-*", &f.provider_name, json!({"input": 1, "output": 1})),
        model("vendor/*", "*", &anthropic, Value::Null),
    ] {
        gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    }

    // Forwarded under the requested name; claude-haiku-4-5 at 1 / 5 USD per million tokens:
    // 1000 × 1/1M + 500 × 5/1M.
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let resp = gw.messages(&f.key, json!({"model": "claude-haiku-4-5", "max_tokens": 64, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0035");
    let last = mock.last_request().unwrap();
    assert_eq!((last.dialect.as_str(), last.body["model"].as_str()), ("anthropic", Some("claude-haiku-4-5")));

    // The longer pattern wins (OpenAI wire, its own price); `vendor/*` forwards its star.
    let resp = gw.chat(&f.key, json!({"model": "claude-opus-4-7", "messages": msgs})).await;
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0015");
    assert_eq!(mock.last_request().unwrap().body["model"], "claude-opus-4-7");
    let resp =
        gw.messages(&f.key, json!({"model": "vendor/claude-sonnet-4-5", "max_tokens": 64, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.last_request().unwrap().body["model"], "claude-sonnet-4-5");

    // A name the catalog does not price and the pattern has no price for is refused.
    let resp = gw.messages(&f.key, json!({"model": "claude-unreleased", "max_tokens": 64, "messages": msgs})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("no price"), "{v}");

    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3).await;
    let haiku = calls.iter().find(|c| c["model"] == "claude-haiku-4-5").unwrap();
    assert_eq!((haiku["upstream_model"].as_str(), haiku["cost"].as_str()), (Some("claude-haiku-4-5"), Some("0.0035")));

    // `/v1/models` lists the catalog names the patterns serve, and not the patterns.
    let listed = gw.models(&f.key, false).await;
    let ids: Vec<&str> = listed["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"claude-haiku-4-5") && ids.contains(&"vendor/claude-sonnet-4-5"), "{ids:?}");
    assert!(!ids.iter().any(|i| i.contains('*')), "{ids:?}");
    assert!(ids.contains(&f.model.as_str()));

    // A key limited to a pattern may use what it serves, and nothing else.
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": ["claude-*"]})), 201).await;
    let limited = k["key"].as_str().unwrap();
    let ok = gw.messages(limited, json!({"model": "claude-haiku-4-5", "max_tokens": 64, "messages": msgs})).await;
    assert_eq!(ok.status(), 200);
    let no = gw.messages(limited, json!({"model": "claude-opus-4-7", "max_tokens": 64, "messages": msgs})).await;
    assert_eq!(no.status(), 403, "served by claude-opus-*, which the key does not list");

    // Malformed patterns and stray stars are the API's 400.
    for body in [model("a*b*", "x", &anthropic, Value::Null), model("plain", "claude-*", &anthropic, Value::Null)] {
        let (status, v) = gw.admin("POST", "/api/v1/models", Some(body)).await;
        assert_eq!(status, 400, "{v}");
    }
    gw.stop().await;
}
