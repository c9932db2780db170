//! Admission under load and at its limits: credit reservations against a concurrent burst,
//! rate limits (429 with OpenAI's headers), budgets (402 naming the budget), and no
//! reservation left open after many mixed calls.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

/// A model on the fixture's provider priced only on output: 10 credits per million tokens.
async fn output_priced_model(gw: &Gateway, f: &Fixture) -> String {
    let name = format!("{}-out", f.model);
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": name, "targets": [{"provider": f.provider_name, "model": "mock-gpt"}],
            "pricing": {"input": 0, "output": 10}})),
        201,
    )
    .await;
    name
}

async fn me(gw: &Gateway, key: &str) -> Value {
    let (status, v) = gw.request_as(key, "GET", "/api/v1/me", None).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn msgs() -> Value {
    json!([{"role": "user", "content": "hi"}])
}

#[tokio::test]
async fn a_burst_of_200_against_a_balance_covering_10_admits_at_most_10() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Arc::new(Gateway::start(engine).await);
        // Each call reserves and costs exactly 1000 output tokens × 10/1M = 0.01 credits.
        let url = mock.scenario_url("latency_ms=300,prompt_tokens=3,completion_tokens=1000");
        let f = Fixture::new(&gw, &url, "0.1").await;
        let model = output_priced_model(&gw, &f).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(200));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (gw, barrier, key, model) = (gw.clone(), barrier.clone(), f.key.clone(), model.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let body = json!({"model": model, "messages": msgs(), "max_tokens": 1000});
                    gw.chat(&key, body).await.status().as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let admitted = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 402).count();
        println!("{engine:?}: 200-burst against a balance covering 10: {admitted} admitted, {refused} refused");
        assert!((1..=10).contains(&admitted), "{admitted} admitted");
        assert_eq!(admitted + refused, 200, "{statuses:?}");
        assert_eq!(mock.stats().by_path.get("/v1/chat/completions").copied().unwrap_or(0) as usize, admitted);
        let balance = f.balance(&gw).await;
        assert!(!balance.starts_with('-'), "balance went negative: {balance}");
        let me = me(&gw, &f.key).await;
        assert_eq!(me["user"]["open_reservations"], 0);
        assert_eq!(me["user"]["reserved"], "0");
        // Each refusal is on record, at no cost.
        let calls =
            gw.calls_until(&f.key_id, |c| c.len() == 100 && c.iter().all(|c| c["status"] != "processing")).await;
        for c in calls.iter().filter(|c| c["status"] == "failed") {
            assert_eq!(c["error_class"], "insufficient_credits");
            assert_eq!(c["cost"], "0");
            assert_eq!(c["http_status"], 402);
        }
        mock.reset();
        Arc::try_unwrap(gw).ok().unwrap().stop().await;
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_openai_headers_and_cost_nothing() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("latency_ms=400"), "10").await;
    gw.admin_ok("PATCH", &format!("/api/v1/keys/{}", f.key_id), Some(json!({"rpm": 2, "tpm": 5000})), 200).await;

    for _ in 0..2 {
        assert_eq!(gw.chat(&f.key, json!({"model": f.model, "messages": msgs()})).await.status(), 200);
    }
    let before = mock.stats().total;
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs()})).await;
    assert_eq!(resp.status(), 429);
    let h = resp.headers().clone();
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&secs), "retry-after {secs}");
    assert_eq!(h["x-ratelimit-limit-requests"], "2");
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert!(h["x-ratelimit-reset-requests"].to_str().unwrap().ends_with('s'));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].as_str().unwrap().contains("2 requests per minute"), "{v}");
    assert_eq!(mock.stats().total, before, "a refused call never reaches the provider");

    let calls = gw.calls_until(&f.key_id, |c| c.len() == 3 && c.iter().all(|c| c["status"] != "processing")).await;
    assert_eq!((calls[0]["status"].as_str(), calls[0]["error_class"].as_str()), (Some("failed"), Some("rate_limited")));
    assert_eq!((calls[0]["cost"].as_str(), calls[0]["http_status"].as_i64()), (Some("0"), Some(429)));

    // A second key of the same user, with a token limit: a call larger than the whole quota
    // is refused outright, without a retry-after.
    let k2 = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "tpm": 5000})), 201).await;
    let (key2, key2_id) = (k2["key"].as_str().unwrap(), k2["id"].as_str().unwrap());
    let resp = gw.chat(key2, json!({"model": f.model, "messages": msgs(), "max_tokens": 6000})).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(resp.headers()["x-ratelimit-limit-tokens"], "5000");
    assert!(resp.text().await.unwrap().contains("request too large"));

    // The user's concurrency limit holds across the user's calls.
    let limits = json!({"limits": {"max_concurrency": 1}});
    gw.admin_ok("PATCH", &format!("/api/v1/users/{}", f.user_id), Some(limits), 200).await;
    let body = json!({"model": f.model, "messages": msgs()});
    let (a, b) = tokio::join!(gw.chat(key2, body.clone()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        gw.chat(key2, body.clone()).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 429);
    assert_eq!(b.headers()["retry-after"], "1");
    assert!(b.text().await.unwrap().contains("concurrent requests for this user"));

    let calls = gw.calls_until(key2_id, |c| c.len() == 3 && c.iter().all(|c| c["status"] != "processing")).await;
    let classes: Vec<&str> = calls.iter().filter_map(|c| c["error_class"].as_str()).collect();
    assert_eq!(classes, vec!["concurrency_limited", "rate_limited"]);
    let me = me(&gw, &f.key).await;
    assert_eq!(me["limits"]["key"]["rpm"], 2);
    assert_eq!(me["limits"]["key"]["in_flight"], 0);
    assert_eq!(me["limits"]["user"]["max_concurrency"], 1);
    assert_eq!(me["limits"]["user"]["in_flight"], 0);
    gw.stop().await;
}

#[tokio::test]
async fn successful_calls_carry_the_binding_limits_headers() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // Every call uses 7 tokens (4 prompt + 3 completion); each is admitted on an estimate of
    // 6 ("user" + "hi" → 2 tokens, plus 4 of framing) and corrected to 7 when it settles.
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=4,completion_tokens=3"), "10").await;
    // 20 tokens a minute refill one token every 3 s and 3 requests one every 20 s: the
    // counts below are exact unless consecutive calls are seconds apart.
    gw.admin_ok("PATCH", &format!("/api/v1/keys/{}", f.key_id), Some(json!({"rpm": 3, "tpm": 20})), 200).await;
    for (i, (requests_left, tokens_left)) in [(2, 14), (1, 7), (0, 0)].into_iter().enumerate() {
        let stream = i == 1;
        let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs(), "stream": stream})).await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers().clone();
        assert_eq!(h["x-ratelimit-limit-requests"], "3");
        assert_eq!(h["x-ratelimit-remaining-requests"], requests_left.to_string().as_str(), "call {i}");
        assert_eq!(h["x-ratelimit-limit-tokens"], "20");
        assert_eq!(h["x-ratelimit-remaining-tokens"], tokens_left.to_string().as_str(), "call {i}");
        for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
            assert!(h[name].to_str().unwrap().ends_with('s'), "{name}: {:?}", h[name]);
        }
        // Read to the end so the call settles (and corrects the token count) before the next.
        let text = resp.text().await.unwrap();
        if stream {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        }
    }
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs()})).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "0");
    // A key without limits gets no rate-limit headers.
    let k2 = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id})), 201).await;
    let resp = gw.chat(k2["key"].as_str().unwrap(), json!({"model": f.model, "messages": msgs()})).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().keys().all(|n| !n.as_str().starts_with("x-ratelimit")), "{:?}", resp.headers());
    gw.stop().await;
}

#[tokio::test]
async fn user_limits_are_validated() {
    let gw = Gateway::start(Engine::Sqlite).await;
    let id = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "bob"})), 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/users/{id}");
    for bad in [json!({"rpm": 0}), json!({"budget": -1}), json!({"budget_period": "yearly"}), json!({"rpn": 1})] {
        let (status, v) = gw.admin("PATCH", &path, Some(json!({"limits": bad}))).await;
        assert_eq!(status, 400, "{bad} → {v}");
        assert_eq!(v["error"]["param"], "limits");
    }
    let ok = json!({"limits": {"rpm": 60, "budget": 12.5, "budget_period": "monthly"}});
    let v = gw.admin_ok("PATCH", &path, Some(ok), 200).await;
    assert_eq!(v["limits"], json!({"rpm": 60, "budget": "12.5", "budget_period": "monthly"}));
    gw.stop().await;
}

#[tokio::test]
async fn budgets_answer_402_naming_the_budget_and_survive_a_restart() {
    let mock = mock().await;
    for engine in engines() {
        let mut gw = Gateway::start(engine).await;
        // 1000 in × 2.5/1M + 500 out × 10/1M = 0.0075 per call; the estimate (6 prompt
        // tokens, max_tokens 500) is 0.005015.
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
        let key_path = format!("/api/v1/keys/{}", f.key_id);
        gw.admin_ok("PATCH", &key_path, Some(json!({"budget": "0.021", "budget_period": "daily"})), 200).await;
        let body = json!({"model": f.model, "messages": msgs(), "max_tokens": 500});
        let mut ok = 0;
        let refusal = loop {
            let resp = gw.chat(&f.key, body.clone()).await;
            if resp.status() != 200 {
                break resp;
            }
            ok += 1;
            assert!(ok <= 3, "the budget never ran out");
        };
        assert_eq!(ok, 3, "0.0075 × 2 + 0.005015 fits 0.021; 0.0225 + 0.005015 does not");
        assert_eq!(refusal.status(), 402);
        let v: Value = refusal.json().await.unwrap();
        assert_eq!(v["error"]["code"], "budget_exceeded");
        assert_eq!(v["error"]["type"], "insufficient_quota");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains("daily budget of this API key"), "{msg}");
        assert!(msg.contains("0.0225 of 0.021 credits"), "{msg}");

        let me_before = me(&gw, &f.key).await;
        let budget = &me_before["limits"]["key"]["budget"];
        assert_eq!(budget["limit"], "0.021");
        assert_eq!(budget["spent"], "0.0225");
        assert_eq!(budget["period"], "daily");
        assert!(budget["resets_at"].as_str().unwrap().ends_with("T00:00:00Z"));

        // After a restart the spend is seeded from the call records: still refused.
        gw.calls_until(&f.key_id, |c| c.len() == 4 && c.iter().all(|c| c["status"] != "processing")).await;
        gw.terminate().await;
        gw.spawn().await;
        assert_eq!(me(&gw, &f.key).await["limits"]["key"]["budget"]["spent"], "0.0225");
        assert_eq!(gw.chat(&f.key, body.clone()).await.status(), 402);

        // A user budget refuses the user's other keys too, naming the user.
        gw.admin_ok("PATCH", &key_path, Some(json!({"budget": "100"})), 200).await;
        let user_path = format!("/api/v1/users/{}", f.user_id);
        gw.admin_ok("PATCH", &user_path, Some(json!({"limits": {"budget": "0.02"}})), 200).await;
        let resp = gw.chat(&f.key, body.clone()).await;
        assert_eq!(resp.status(), 402);
        assert!(resp.text().await.unwrap().contains("spend budget of this user"));
        gw.stop().await;
    }
}

#[tokio::test]
async fn no_reservation_is_left_open_after_many_mixed_calls() {
    let mock = mock().await;
    let gw = Arc::new(Gateway::start(Engine::Sqlite).await);
    let f = Fixture::new(&gw, &mock.base_url(), "1000").await;
    // Mixed outcomes: success, upstream error, cut stream, stalled stream abandoned by the
    // client, and (with a concurrency limit of 16 under 24 concurrent clients, and a budget)
    // refusals.
    let scenarios = ["chunks=3", "status=500", "cut_after=2", "stall_after=1,stall_mid_ms=3000", "latency_ms=50"];
    let mut models = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let name = format!("{}-{i}", f.model);
        let provider = format!("{}-{i}", f.provider_name);
        let p = gw
            .admin_ok(
                "POST",
                "/api/v1/providers",
                Some(json!({"name": provider, "kind": "openai", "base_url": mock.scenario_url(s)})),
                201,
            )
            .await;
        let path = format!("/api/v1/providers/{}/credentials", p["id"].as_str().unwrap());
        gw.admin_ok("POST", &path, Some(json!({"api_key": PROVIDER_KEY})), 201).await;
        let body = json!({"name": name, "targets": [{"provider": provider, "model": "m"}],
            "pricing": {"input": 1, "output": 1}});
        gw.admin_ok("POST", "/api/v1/models", Some(body), 201).await;
        models.push(name);
    }
    gw.admin_ok("PATCH", &format!("/api/v1/keys/{}", f.key_id), Some(json!({"max_concurrency": 16})), 200).await;
    // A second key of the user with a small budget: once its spend and holds reach it, its
    // calls are refused with 402 (over budget), the rest of the mix going on around them.
    let k2 = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "budget": "0.02"})), 201).await;
    let budget_key = k2["key"].as_str().unwrap().to_string();
    // 1000 by default; the closing figure is taken with TOLLGATE_TEST_MIXED_CALLS=10000.
    let total: usize = std::env::var("TOLLGATE_TEST_MIXED_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let sem = Arc::new(tokio::sync::Semaphore::new(24));
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..total)
        .map(|i| {
            let key = if i % 4 == 3 { budget_key.clone() } else { f.key.clone() };
            let (gw, sem, model) = (gw.clone(), sem.clone(), models[i % models.len()].clone());
            tokio::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let stream = i % 2 == 0;
                let body = json!({"model": model, "messages": msgs(), "stream": stream});
                let resp = gw.chat(&key, body).await;
                let status = resp.status().as_u16();
                if stream && status == 200 && i % 3 == 0 {
                    // Read a little, then hang up mid-stream.
                    let mut resp = resp;
                    let _ = tokio::time::timeout(Duration::from_millis(100), resp.chunk()).await;
                    drop(resp);
                } else {
                    let _ = tokio::time::timeout(Duration::from_millis(500), resp.bytes()).await;
                }
                status
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::new();
    for t in tasks {
        *by_status.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    println!("{total} mixed calls by status: {by_status:?}");
    assert!(by_status.len() >= 3, "the mix has several outcomes: {by_status:?}");
    assert!(by_status.contains_key(&402), "over-budget refusals are part of the mix: {by_status:?}");
    // Abandoned streams settle when the gateway notices the hang-up.
    let mut last = Value::Null;
    for _ in 0..100 {
        last = me(&gw, &f.key).await;
        if last["user"]["open_reservations"] == 0 && last["limits"]["key"]["in_flight"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "reservation leaks after {total} mixed calls ({:.1} s): {} open reservations, {} credits reserved, {} in flight",
        started.elapsed().as_secs_f64(),
        last["user"]["open_reservations"],
        last["user"]["reserved"],
        last["limits"]["key"]["in_flight"]
    );
    assert_eq!(last["user"]["open_reservations"], 0, "{last}");
    assert_eq!(last["user"]["reserved"], "0", "{last}");
    assert_eq!(last["limits"]["key"]["in_flight"], 0, "{last}");
    Arc::try_unwrap(gw).ok().unwrap().stop().await;
}
