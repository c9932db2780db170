//! The credit unit: a gateway whose credits are "积分" at 100 per US dollar prices catalog
//! models (dollars) in 积分, charges and shows balances in them, and says so in member answers.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn catalog_dollars_are_priced_in_the_configured_credit_unit() {
    let mock = mock().await;
    let toml = "[credits]\nname = \"积分\"\nper_usd = 100\ndecimals = 2\n".to_string();
    let gw = Gateway::start_with(GatewayOptions { config_toml: Some(toml), ..GatewayOptions::default() }).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
    // gpt-4o-mini is 0.15 / 0.60 USD per million tokens in the catalog: 15 / 60 积分.
    let cat = gw.admin_ok("GET", "/api/v1/catalog?provider=openai", None, 200).await;
    let mini = cat["data"].as_array().unwrap().iter().find(|m| m["model"] == "gpt-4o-mini").unwrap();
    assert_eq!((mini["pricing"]["input"].as_str(), mini["pricing"]["output"].as_str()), (Some("15"), Some("60")));
    assert_eq!(cat["credit_unit"]["name"], "积分");
    // A call priced from the catalog: 1000 × 15/1M + 500 × 60/1M = 0.045 积分, exactly.
    let model = format!("{}/gpt-4o-mini", f.provider_name);
    let resp = gw.chat(&f.key, json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.045");
    // A configured price is in credits already: 2.5 / 10 per million, not converted.
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "success")).await;
    assert_eq!(calls[1]["price"]["input"], "15");
    assert_eq!(f.balance(&gw).await, "9.9475", "the ledger stays exact");
    // Member answers say which unit their amounts are in.
    let me = gw.request_as(&f.key, "GET", "/api/v1/me", None).await.1;
    assert_eq!(me["credit_unit"], json!({"name": "积分", "per_usd": "100", "decimals": 2}));
    assert_eq!(me["user"]["balance"], "9.9475");
    // A refusal names the unit.
    let broke = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "broke"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": broke["id"]})), 201).await;
    let resp = gw
        .chat(k["key"].as_str().unwrap(), json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(resp.status(), 402);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("积分"), "{v}");
    gw.stop().await;
}

#[test]
fn a_bad_credit_unit_stops_the_gateway_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TOLLGATE_MASTER_KEY", MASTER_KEY)
        .env("TOLLGATE_LISTEN", "127.0.0.1:0")
        .env("TOLLGATE_CREDITS_PER_USD", "-3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("per_usd"), "{stderr}");
}
