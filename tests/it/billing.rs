//! Exact cost, charged once to the ledger; 402 when the balance is used up.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn each_call_is_charged_exactly_and_the_balance_is_the_ledger() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
        let msgs = json!([{"role": "user", "content": "hi"}]);
        let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
        assert_eq!(resp.status(), 200);
        // 1000 × 2.5/1M + 500 × 10/1M = 0.0025 + 0.005
        assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
        let streamed = gw.chat(&f.key, json!({"model": f.model, "stream": true, "messages": msgs})).await;
        assert!(streamed.text().await.unwrap().ends_with("data: [DONE]\n\n"));

        let calls = gw.calls_until(&f.key_id, |c| c.len() == 2 && c.iter().all(|c| c["status"] == "success")).await;
        for c in &calls {
            assert_eq!(c["cost"], "0.0075");
            assert_eq!(c["input_tokens"], 1000);
            assert_eq!(c["output_tokens"], 500);
            assert_eq!(c["price"]["input"], "2.5");
            assert_eq!(c["model"], f.model.as_str());
            assert_eq!(c["upstream_model"], "mock-gpt");
            assert_eq!(c["attempts"], 1);
        }
        assert_eq!(f.balance(&gw).await, "9.985");
        // The ledger agrees once the writer has committed: grant + two charges.
        let mut entries = Vec::new();
        for _ in 0..100 {
            let v = gw.admin_ok("GET", &format!("/api/v1/users/{}/ledger", f.user_id), None, 200).await;
            entries = v["data"].as_array().unwrap().clone();
            if entries.len() == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["charge", "charge", "grant"]);
        assert_eq!(entries[0]["balance_after"], "9.985");
        let me = gw.request_as(&f.key, "GET", "/api/v1/me", None).await.1;
        assert_eq!(me["user"]["balance"], "9.985");
        assert_eq!(me["key"]["id"], f.key_id.as_str());
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_used_up_balance_is_refused_with_402_before_the_provider_is_called() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000000,completion_tokens=0"), "1").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    // One call costs 2.5 credits: it is admitted (balance positive) and takes the balance below zero.
    assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
    assert_eq!(f.balance(&gw).await, "-1.5");
    let before = mock.stats().total;
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 402);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "insufficient_credits");
    assert!(v["error"]["message"].as_str().unwrap().contains("credit"));
    assert_eq!(mock.stats().total, before, "the provider was not called");

    // A grant with an idempotency key counts once, and calls go through again.
    let grant = json!({"amount": "2", "idempotency_key": "topup-1", "kind": "topup"});
    let path = format!("/api/v1/users/{}/credits", f.user_id);
    let first = gw.admin_ok("POST", &path, Some(grant.clone()), 201).await;
    let again = gw.admin_ok("POST", &path, Some(grant), 200).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(f.balance(&gw).await, "0.5");
    assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn unlimited_plans_and_free_models_are_recorded_but_not_deducted() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=0"), "0").await;
    gw.admin_ok("PATCH", &format!("/api/v1/users/{}", f.user_id), Some(json!({"plan": "unlimited"})), 200).await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0025");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!(calls[0]["cost"], "0.0025");
    assert_eq!(f.balance(&gw).await, "0");
    gw.stop().await;
}
