//! Overspending (issue 12, finding 3): a reservation covers every choice a call asks for at
//! the client's cap, caps that are negative, fractional or beyond the model are refused in the
//! caller's dialect, and no settlement takes a balance below zero — the bound stated in
//! ARCHITECTURE.md — even when the provider ignores `max_tokens` and reports more.

use serde_json::{Value, json};

use mock_provider::MockServer;

use crate::harness::*;
use crate::setup::{expect_anthropic_error, expect_error};

/// A model on the mock at `opts`, priced 1 credit in and 100 out per million tokens, and a
/// user holding `credits` with a key: (model, user id, key).
async fn priced(gw: &Gateway, mock: &MockServer, opts: &str, credits: &str) -> (String, String, String) {
    let f = Fixture::new(gw, &mock.scenario_url(opts), credits).await;
    let model = format!("{}-dear", f.model);
    let body = json!({"name": model, "targets": [{"provider": f.provider_name, "model": "mock-gpt"}],
        "pricing": {"input": "1", "output": "100"}});
    gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
    (model, f.user_id, f.key)
}

/// Fires 50 concurrent chat calls with `n: 8`; answers how many were answered 200.
async fn storm(gw: &Gateway, key: &str, model: &str) -> usize {
    let body = json!({"model": model, "n": 8, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    let calls = (0..50).map(|_| {
        let body = body.clone();
        async move { gw.chat(key, body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| matches!(s, 200 | 402)), "{statuses:?}");
    statuses.iter().filter(|s| **s == 200).count()
}

async fn ledger(gw: &Gateway, user_id: &str) -> Vec<Value> {
    let v = gw.admin_ok("GET", &format!("/api/v1/users/{user_id}/ledger?limit=500"), None, 200).await;
    v["data"].as_array().unwrap().clone()
}

/// Waits until the ledger has `n` entries (the writer batches), then checks the balance is
/// their sum and answers it in nano-credits.
async fn settled_balance(gw: &Gateway, user_id: &str, n: usize) -> (i64, Vec<Value>) {
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = ledger(gw, user_id).await;
        if entries.len() == n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), n, "{entries:?}");
    let sum: i64 =
        entries.iter().map(|e| tollgate::billing::money::parse_credits(e["amount"].as_str().unwrap()).unwrap()).sum();
    let user = gw.admin_ok("GET", &format!("/api/v1/users/{user_id}"), None, 200).await;
    let balance = tollgate::billing::money::parse_credits(user["balance"].as_str().unwrap()).unwrap();
    assert_eq!(balance, sum, "the balance is the ledger's sum");
    (balance, entries)
}

/// The costs of the user's successful call records, once `n` of them are written: the records
/// of calls whose whole charge was written off reach the batch writer after the ledger entry
/// the test waited for, so they are awaited too.
async fn success_costs(gw: &Gateway, user_id: &str, n: usize) -> Vec<i64> {
    let mut costs = Vec::new();
    for _ in 0..100 {
        let calls = gw.admin_ok("GET", &format!("/api/v1/calls?user_id={user_id}&limit=100"), None, 200).await;
        costs = calls["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "success")
            .map(|c| tollgate::billing::money::parse_credits(c["cost"].as_str().unwrap()).unwrap())
            .collect();
        if costs.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    costs
}

#[tokio::test]
async fn fifty_concurrent_calls_with_n_8_never_take_the_balance_below_zero() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        // An honest provider: 50 tokens a choice, eight choices, 400 output tokens = 0.04
        // credits a call (and a few prompt tokens). A balance of 0.15 covers three.
        let (model, user, key) = priced(&gw, &mock, "chunks=60,latency_ms=200", "0.15").await;
        let before = mock.stats().total;
        let answered = storm(&gw, &key, &model).await;
        assert_eq!(answered, 3, "the reservation is eight choices' worth, so only three fit");
        assert_eq!(mock.stats().total - before, 3, "refused calls never reached the provider");
        let (balance, _) = settled_balance(&gw, &user, 4).await;
        assert!(balance >= 0, "balance {balance}");
        assert!(balance < 150_000_000 - 3 * 40_000_000, "each call was charged its eight answers: {balance}");

        // A lying provider that ignores max_tokens and reports 100 000 output tokens (10
        // credits) for every call: the three admitted calls cannot take the balance below
        // zero; what the balance could not cover is written off, on the ledger entry's note.
        let (model, user, key) = priced(&gw, &mock, "completion_tokens=100000,latency_ms=200", "0.15").await;
        let answered = storm(&gw, &key, &model).await;
        assert!((1..=3).contains(&answered), "{answered}");
        let (balance, entries) = settled_balance(&gw, &user, 2).await;
        assert_eq!(balance, 0, "the bound: never below zero");
        let charge = &entries[0];
        assert_eq!(charge["amount"], "-0.15", "{charge}");
        assert!(charge["note"].as_str().unwrap().contains("written off"), "{charge}");
        let costs = success_costs(&gw, &user, answered).await;
        assert_eq!(costs.len(), answered);
        assert!(costs.iter().all(|c| *c >= 10_000_000_000), "the record keeps the exact cost: {costs:?}");
        gw.stop().await;
    }
}

#[tokio::test]
async fn negative_fractional_or_absurd_output_caps_are_refused_in_the_callers_dialect() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let (model, _, key) = priced(&gw, &mock, "chunks=3", "10").await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    for (extra, param) in [
        (json!({"max_tokens": -100}), "max_tokens"),
        (json!({"max_tokens": 2.5}), "max_tokens"),
        (json!({"max_completion_tokens": 1_000_000_000_000i64}), "max_completion_tokens"),
        (json!({"max_tokens": 9_223_372_036_854_775_807i64}), "max_tokens"),
        (json!({"n": -8}), "n"),
        (json!({"n": 0}), "n"),
        (json!({"n": 100_000}), "n"),
    ] {
        let mut body = json!({"model": model, "messages": msgs});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let v = expect_error(gw.chat(&key, body).await, 400, "invalid_request_error").await;
        assert_eq!(v["error"]["param"], param, "{v}");
    }
    // The model's own maximum, when the catalog knows it: gpt-4o-mini writes at most 16384.
    let provider =
        gw.admin_ok("GET", "/api/v1/providers", None, 200).await["data"][0]["name"].as_str().unwrap().to_string();
    let direct = format!("{provider}/gpt-4o-mini");
    let v = expect_error(
        gw.chat(&key, json!({"model": direct, "max_tokens": 16385, "messages": msgs})).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(v["error"]["message"].as_str().unwrap().contains("16384"), "{v}");
    assert_eq!(gw.chat(&key, json!({"model": direct, "max_tokens": 16384, "messages": msgs})).await.status(), 200);

    // The Anthropic dialect, and the Responses API.
    for max_tokens in [json!(9_223_372_036_854_775_807u64), json!(-1), json!(2_000_000)] {
        let body = json!({"model": model, "max_tokens": max_tokens, "messages": msgs});
        expect_anthropic_error(gw.messages(&key, body).await, 400, "invalid_request_error").await;
    }
    let resp = gw
        .http
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth(&key)
        .json(&json!({"model": model, "input": "hi", "max_output_tokens": -1}))
        .send()
        .await
        .unwrap();
    let v = expect_error(resp, 400, "invalid_request_error").await;
    assert_eq!(v["error"]["param"], "max_output_tokens");
    assert_eq!(mock.stats().total, 1, "only the valid call reached the provider");
    gw.stop().await;
}
