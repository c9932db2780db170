//! Live model status (`GET /api/v1/models/status`, and each entry of `/api/v1/models/public`):
//! from real traffic (counted calls, success rate, median latency), a model whose every target
//! is out says `down` before anyone spends a call, and the probe of idle models flips a model
//! to `down` when the mock's target fails and back to `up` when it recovers — without charging
//! or recording anything.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

fn by_id<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    list["data"].as_array().unwrap().iter().find(|m| m["id"] == id)
}

async fn status_of(gw: &Gateway, key: &str, model: &str) -> Value {
    let (status, list) = gw.request_as(key, "GET", "/api/v1/models/status", None).await;
    assert_eq!(status, 200, "{list}");
    by_id(&list, model).cloned().unwrap_or(Value::Null)
}

/// Polls `model`'s status (as the master key sees it) until it reads `want`.
async fn wait_for(gw: &Gateway, model: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status_of(gw, MASTER_KEY, model).await;
        if s["status"] == want {
            return s;
        }
        assert!(Instant::now() < deadline, "{model} never became {want}: {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn status_follows_traffic_and_says_down_before_a_call_is_spent() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    // A second model the member's limited key may not see.
    let other = format!("{}-other", f.model);
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": other, "targets": [{"provider": f.provider_name, "model": "mock-gpt"}],
            "pricing": {"input": 1, "output": 1}})),
        201,
    )
    .await;
    let s = status_of(&gw, &f.key, &f.model).await;
    assert_eq!((s["status"].as_str(), s["calls"].as_u64()), (Some("unknown"), Some(0)), "no evidence yet: {s}");
    assert!(s["success_rate"].is_null() && s["last_checked"].is_null(), "{s}");

    for _ in 0..3 {
        let r = gw.chat(&f.key, json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]})).await;
        assert_eq!(r.status(), 200);
    }
    gw.calls_until(&f.key_id, |c| c.iter().filter(|c| c["status"] != "processing").count() == 3).await;
    let s = status_of(&gw, &f.key, &f.model).await;
    assert_eq!(
        (s["status"].as_str(), s["calls"].as_u64(), s["success_rate"].as_f64()),
        (Some("up"), Some(3), Some(1.0))
    );
    assert!(s["p50_latency_ms"].as_i64().is_some() && s["last_checked"].as_str().is_some(), "{s}");

    // The public models list carries the same status.
    let (_, list) = gw.request_as(&f.key, "GET", "/api/v1/models/public", None).await;
    assert_eq!(by_id(&list, &f.model).unwrap()["status"]["status"], "up", "{list}");

    // A key limited to one model sees that one's status only; a bad key sees nothing.
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": [f.model]})), 201).await;
    let (_, only) = gw.request_as(k["key"].as_str().unwrap(), "GET", "/api/v1/models/status", None).await;
    let ids: Vec<&str> = only["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [f.model.as_str()]);
    assert!(status_of(&gw, MASTER_KEY, &other).await.is_object(), "an admin sees every model");
    let (status, v) = gw.request_as("tg-not-a-key", "GET", "/api/v1/models/status", None).await;
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    // Members are not told about providers, credentials or targets.
    let text = only.to_string();
    assert!(!text.contains(&f.provider_name) && !text.contains("mock-gpt"), "{text}");

    // Every credential of the model's only provider disabled: down, before any call is made.
    let provider = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
    let pid =
        provider["data"].as_array().unwrap().iter().find(|p| p["name"] == f.provider_name.as_str()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    let creds = gw.admin_ok("GET", &format!("/api/v1/providers/{pid}/credentials"), None, 200).await;
    let cid = creds["data"][0]["id"].as_str().unwrap().to_string();
    let before = mock.stats().total;
    gw.admin_ok("PATCH", &format!("/api/v1/credentials/{cid}"), Some(json!({"enabled": false})), 200).await;
    assert_eq!(status_of(&gw, &f.key, &f.model).await["status"], "down");
    gw.admin_ok("PATCH", &format!("/api/v1/credentials/{cid}"), Some(json!({"enabled": true})), 200).await;
    assert_eq!(status_of(&gw, &f.key, &f.model).await["status"], "up");
    assert_eq!(mock.stats().total, before, "the status is read, nothing is sent");
    gw.stop().await;
}

#[tokio::test]
async fn the_probe_flips_an_idle_model_down_and_back_up_without_charging_anyone() {
    let mock = mock().await;
    let toml = "[status]\nprobe_interval = \"150ms\"\n".to_string();
    let gw = Gateway::start_with(GatewayOptions { config_toml: Some(toml), ..GatewayOptions::default() }).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    // Providers of the other protocols are probed in their own shapes.
    let claude = Fixture::of_kind(&gw, "anthropic", &mock.root_url(), "0").await;
    let gemini = Fixture::of_kind(&gw, "gemini", &mock.root_url(), "0").await;
    let s = wait_for(&gw, &f.model, "up").await;
    assert_eq!(s["calls"], 0, "a probe is not a call: {s}");
    assert!(s["last_checked"].as_str().is_some(), "{s}");
    wait_for(&gw, &claude.model, "up").await;
    wait_for(&gw, &gemini.model, "up").await;
    let stats = mock.stats();
    assert!(stats.by_path.get("/v1/messages").is_some_and(|n| *n > 0), "{stats:?}");
    assert!(stats.by_path.keys().any(|p| p.contains(":generateContent")), "{stats:?}");

    // The provider starts failing: the next probe says so.
    let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
    let pid =
        providers["data"].as_array().unwrap().iter().find(|p| p["name"] == f.provider_name.as_str()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    let failing = mock.scenario_url("status=500");
    gw.admin_ok("PATCH", &format!("/api/v1/providers/{pid}"), Some(json!({"base_url": failing})), 200).await;
    let down = wait_for(&gw, &f.model, "down").await;
    assert_eq!(down["calls"], 0, "{down}");
    let (_, list) = gw.request_as(&f.key, "GET", "/api/v1/models/public", None).await;
    assert_eq!(by_id(&list, &f.model).unwrap()["status"]["status"], "down", "a member sees it before calling");
    // It recovers: the next probe says that too.
    gw.admin_ok("PATCH", &format!("/api/v1/providers/{pid}"), Some(json!({"base_url": mock.base_url()})), 200).await;
    wait_for(&gw, &f.model, "up").await;

    // Nobody was charged and nothing was recorded for the probes.
    assert_eq!(f.balance(&gw).await, "10");
    let calls = gw.admin_ok("GET", "/api/v1/calls", None, 200).await;
    assert_eq!(calls["data"].as_array().unwrap().len(), 0, "{calls}");
    let stats = gw.admin_ok("GET", "/api/v1/stats?group_by=model", None, 200).await;
    assert_eq!(stats["totals"]["calls"].as_i64().unwrap_or(0), 0, "{stats}");
    gw.stop().await;
}
