//! Routing and resilience against the mock's failure modes, with exact upstream call counts:
//! weighted rotation, refused keys and their re-test, rate limits, breakers, unreachable
//! providers, stalls before and after the first byte, fallbacks and the retry rules.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;
use crate::routing_fixture::*;

#[tokio::test]
async fn five_one_one_weights_give_exactly_500_100_100_over_700_calls_across_reloads() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let Rig { model: m, key, .. } =
        Rig::new(&gw, &mock.base_url(), &[("sk-a", 5), ("sk-b", 1), ("sk-c", 1)], None).await;
    for i in 0..7 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
        if i == 2 {
            // A management write swaps the snapshot; the rotation must carry on (a a b | a c a a).
            gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "carol"})), 201).await;
        }
    }
    assert_eq!((count(&mock, "sk-a"), count(&mock, "sk-b"), count(&mock, "sk-c")), (5, 1, 1));
    let statuses: Vec<u16> = futures_util::stream::iter(0..693)
        .map(|_| async { gw.chat(&key, hello(&m)).await.status().as_u16() })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    assert_eq!((count(&mock, "sk-a"), count(&mock, "sk-b"), count(&mock, "sk-c")), (500, 100, 100));
    gw.stop().await;
}

#[tokio::test]
async fn a_refused_key_is_skipped_after_one_failure_and_re_enabled_after_its_re_test() {
    let mock = mock().await;
    for engine in engines() {
        mock.reset();
        // Re-tests at +500 ms and +1000 ms more: room for the calls below before the first.
        let mut env = fast_routing_env();
        env.push(("TOLLGATE_RETEST_BASE_MS".into(), "500".into()));
        let gw = Gateway::start_with(GatewayOptions { engine, env, ..GatewayOptions::default() }).await;
        // The provider refuses the second key for its first two requests (one call, one re-test).
        let refused = "mock:status=401,times=2";
        let Rig { provider_id: pid, credentials: ids, model: m, key, key_id, .. } =
            Rig::new(&gw, &mock.base_url(), &[("sk-a", 1), (refused, 1), ("sk-c", 1)], None).await;
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200); // sk-a
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200); // refused, then the next key
        let call = last_call(&gw, &key_id, 2).await;
        assert_eq!(call["attempts"], 2, "{call}");
        assert_ne!(call["credential_id"], ids[1]);
        for _ in 0..6 {
            assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
        }
        println!(
            "a refused (401) key: {} upstream call(s) over 8 client calls before it is skipped",
            count(&mock, refused)
        );
        assert_eq!(count(&mock, refused), 1, "skipped after one failure (before its first re-test)");
        let c = credential_health(&gw, &pid, &ids[1]).await;
        assert_eq!(c["health"]["state"], "disabled", "{c}");
        assert!(c["health"]["disabled_reason"].as_str().unwrap().starts_with("refused by the provider"), "{c}");

        // The first re-test is refused again, the second accepted: enabled again.
        let started = Instant::now();
        loop {
            let c = credential_health(&gw, &pid, &ids[1]).await;
            if c["enabled"] == true && c["health"]["state"] == "healthy" {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "never re-enabled: {c}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(count(&mock, refused), 3, "one call and two re-tests");
        for _ in 0..6 {
            assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
        }
        assert!(count(&mock, refused) >= 4, "back in the rotation");
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_refused_key_stays_disabled_across_a_restart() {
    let mock = mock().await;
    let mut env = fast_routing_env();
    env.push(("TOLLGATE_RETEST_BASE_MS".into(), "600000".into()));
    let mut gw = Gateway::start_with(GatewayOptions { env, ..GatewayOptions::default() }).await;
    let refused = "mock:status=403";
    let Rig { provider_id: pid, credentials: ids, model: m, key, .. } =
        Rig::new(&gw, &mock.base_url(), &[(refused, 1), ("sk-b", 1)], None).await;
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    let started = Instant::now();
    while credential_health(&gw, &pid, &ids[0]).await["enabled"] != false {
        assert!(started.elapsed() < Duration::from_secs(5), "the refusal never reached the database");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.terminate().await;
    gw.spawn().await;
    for _ in 0..4 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    }
    assert_eq!(count(&mock, refused), 1);
    assert_eq!(count(&mock, "sk-b"), 5);
    // A manual test while the provider still refuses it changes nothing...
    let test = format!("/api/v1/credentials/{}/test", ids[0]);
    let t = gw.admin_ok("POST", &test, None, 200).await;
    assert_eq!(
        (t["ok"].clone(), t["status"].clone(), t["re_enabled"].clone()),
        (json!(false), json!(403), json!(false))
    );
    // ...and an operator re-enabling it puts it straight back.
    gw.admin_ok("PATCH", &format!("/api/v1/credentials/{}", ids[0]), Some(json!({"enabled": true})), 200).await;
    let c = credential_health(&gw, &pid, &ids[0]).await;
    assert_eq!((c["enabled"].clone(), c["disabled_reason"].clone()), (json!(true), Value::Null));
    assert_eq!(c["health"]["state"], "healthy", "{c}");
    gw.stop().await;
}

#[tokio::test]
async fn a_manual_test_that_passes_re_enables_a_refused_key() {
    let mock = mock().await;
    let mut env = fast_routing_env();
    env.push(("TOLLGATE_RETEST_BASE_MS".into(), "600000".into()));
    let gw = Gateway::start_with(GatewayOptions { env, ..GatewayOptions::default() }).await;
    let refused = "mock:status=401,times=1";
    let Rig { provider_id: pid, credentials: ids, model: m, key, .. } =
        Rig::new(&gw, &mock.base_url(), &[(refused, 1), ("sk-b", 1)], None).await;
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    let started = Instant::now();
    while credential_health(&gw, &pid, &ids[0]).await["enabled"] != false {
        assert!(started.elapsed() < Duration::from_secs(5), "the refusal never reached the database");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = gw.admin_ok("POST", &format!("/api/v1/credentials/{}/test", ids[0]), None, 200).await;
    assert_eq!((t["ok"].clone(), t["re_enabled"].clone()), (json!(true), json!(true)), "{t}");
    let c = credential_health(&gw, &pid, &ids[0]).await;
    assert_eq!((c["enabled"].clone(), c["health"]["state"].clone()), (json!(true), json!("healthy")), "{c}");
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    assert_eq!(count(&mock, refused), 3, "one refused call, the manual test, one call back in rotation");
    gw.stop().await;
}

#[tokio::test]
async fn a_rate_limited_key_rests_for_retry_after() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let limited = "mock:status=429,retry_after=1,times=1";
    let Rig { provider_id: pid, credentials: ids, model: m, key, key_id, .. } =
        Rig::new(&gw, &mock.base_url(), &[(limited, 1), ("sk-b", 1)], None).await;
    let started = Instant::now();
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    for _ in 0..4 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    }
    let c = credential_health(&gw, &pid, &ids[0]).await;
    assert_eq!(c["health"]["state"], "cooling", "{c}");
    assert!(started.elapsed() < Duration::from_secs(1), "the test must run inside the retry-after");
    assert_eq!((count(&mock, limited), count(&mock, "sk-b")), (1, 5));
    let first = gw.calls_until(&key_id, |c| c.len() == 5 && c.iter().all(|c| c["status"] == "success")).await;
    assert_eq!(first[4]["attempts"], 2, "the first call moved on to the other key");
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(started.elapsed())).await;
    for _ in 0..2 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    }
    assert_eq!(count(&mock, limited), 2, "used again once retry-after has passed");
    gw.stop().await;
}

#[tokio::test]
async fn a_burst_of_500s_opens_the_breaker_and_a_probe_closes_it() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let flaky = "mock:status=500,times=4";
    let Rig { provider_id: pid, credentials: ids, model: m, key, .. } =
        Rig::new(&gw, &mock.base_url(), &[(flaky, 1)], None).await;
    for i in 0..3 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 502);
        assert_eq!(credential_health(&gw, &pid, &ids[0]).await["health"]["state"], "healthy", "not open after {i}");
    }
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 502);
    // Four errors out of four: open. Calls are refused without reaching the provider.
    let resp = gw.chat(&key, hello(&m)).await;
    assert_eq!(resp.status(), 503);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "no_available_provider");
    assert_eq!(count(&mock, flaky), 4);
    let h = gw.admin_ok("GET", &format!("/api/v1/providers/{pid}/health"), None, 200).await;
    assert_eq!(h["credentials"][0]["health"]["state"], "open", "{h}");
    assert_eq!(h["targets"][0]["health"]["state"], "open", "{h}");
    assert_eq!(h["targets"][0]["health"]["recent_error_rate"], 1.0, "{h}");
    assert_eq!(h["targets"][0]["models"], json!([m]));
    tokio::time::sleep(Duration::from_millis(550)).await;
    // Half-open: one probe, which succeeds (the burst is over) and closes the breaker.
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    assert_eq!(count(&mock, flaky), 6);
    let h = gw.admin_ok("GET", &format!("/api/v1/providers/{pid}/health"), None, 200).await;
    assert_eq!(h["credentials"][0]["health"]["state"], "healthy", "{h}");
    assert_eq!(h["targets"][0]["health"]["state"], "healthy", "{h}");
    assert!(h["targets"][0]["health"]["p50_latency_ms"].is_u64(), "{h}");
    gw.stop().await;
}

#[tokio::test]
async fn a_key_that_always_fails_does_not_shut_out_its_targets_healthy_keys() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let failing = "mock:status=500";
    let Rig { provider_id: pid, credentials: ids, model: m, key, .. } =
        Rig::new(&gw, &mock.base_url(), &[(failing, 1), ("sk-ok", 1)], None).await;
    for i in 0..10 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200, "call {i}");
    }
    let h = gw.admin_ok("GET", &format!("/api/v1/providers/{pid}/health"), None, 200).await;
    let cred = |id: &str| h["credentials"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(cred(&ids[0])["health"]["state"], "open", "{h}");
    assert_eq!(cred(&ids[1])["health"]["state"], "healthy", "{h}");
    assert_eq!(h["targets"][0]["health"]["state"], "healthy", "{h}");
    assert_eq!(h["targets"][0]["health"]["recent_error_rate"], 0.0, "the other key answered every call: {h}");
    assert!(count(&mock, failing) >= 4, "tried until its own breaker opened");
    gw.stop().await;
}

#[tokio::test]
async fn an_unreachable_provider_fails_over_to_the_next_target() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    // A port nothing listens on: connection refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let (down, _, _) = provider(&gw, &format!("http://{closed}/v1"), &[("sk-x1", 1), ("sk-x2", 1)], None).await;
    let (up, up_id, _) = provider(&gw, &mock.base_url(), &[("sk-y", 1)], None).await;
    let m = model(&gw, &[(&down, "mock-gpt", 1), (&up, "mock-gpt", 1)], &[]).await;
    let (key, key_id) = client(&gw).await;
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!((call["attempts"].clone(), call["provider_id"].clone()), (json!(2), json!(up_id)), "{call}");
    for _ in 0..9 {
        assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    }
    assert_eq!(count(&mock, "sk-y"), 10);
    gw.stop().await;
}

#[tokio::test]
async fn a_stall_before_headers_times_out_to_the_next_credential() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let timeouts = json!({"connect_ms": 1000, "first_byte_ms": 300, "idle_ms": 1000, "total_ms": 5000});
    let stalled = "mock:stall_ms=5000";
    let Rig { credentials: ids, model: m, key, key_id, .. } =
        Rig::new(&gw, &mock.base_url(), &[(stalled, 1), ("sk-b", 1)], Some(timeouts)).await;
    let started = Instant::now();
    assert_eq!(gw.chat(&key, hello(&m)).await.status(), 200);
    let took = started.elapsed();
    println!("stall before headers: answered by the next key after {took:?} (first_byte_ms 300)");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(2000), "took {took:?}");
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!((call["attempts"].clone(), call["credential_id"].clone()), (json!(2), json!(ids[1])), "{call}");
    assert_eq!((count(&mock, stalled), count(&mock, "sk-b")), (1, 1));
    gw.stop().await;
}

#[tokio::test]
async fn a_stall_mid_stream_ends_in_band_without_a_second_upstream_call() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let timeouts = json!({"connect_ms": 1000, "first_byte_ms": 1000, "idle_ms": 300, "total_ms": 5000});
    let url = mock.scenario_url("stall_after=2");
    let Rig { model: m, key, key_id, .. } = Rig::new(&gw, &url, &[("sk-a", 1), ("sk-b", 1)], Some(timeouts)).await;
    let started = Instant::now();
    let resp =
        gw.chat(&key, json!({"model": m, "stream": true, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let took = started.elapsed();
    println!("stall mid-stream: cut in-band after {took:?} (idle_ms 300)");
    let data = sse_data(&body);
    assert_ne!(data.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].as_str().unwrap().contains("sent nothing for 300 ms"), "{body}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1500), "cut after {took:?}");
    assert_eq!(mock.stats().total, 1, "no second upstream call after the first byte");
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!((call["status"].clone(), call["attempts"].clone()), (json!("failed"), json!(1)), "{call}");
    gw.stop().await;
}

#[tokio::test]
async fn fallback_models_serve_in_order_and_a_request_may_name_its_own() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let (broken, _, _) = provider(&gw, &mock.scenario_url("status=503"), &[("sk-broken", 1)], None).await;
    let (good, good_id, _) = provider(&gw, &mock.base_url(), &[("sk-good", 1)], None).await;
    let backup = model(&gw, &[(&good, "mock-gpt-mini", 1)], &[]).await;
    let main = model(&gw, &[(&broken, "mock-gpt", 1)], &[&backup]).await;
    let (key, key_id) = client(&gw).await;
    assert_eq!(gw.chat(&key, hello(&main)).await.status(), 200);
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!(call["attempts"], 2, "{call}");
    assert_eq!((call["provider_id"].clone(), call["upstream_model"].clone()), (json!(good_id), json!("mock-gpt-mini")));
    assert_eq!(call["model"], json!(main), "the record keeps the requested model");

    // A request's own `models` list replaces the configured fallbacks and never goes upstream.
    let other = model(&gw, &[(&broken, "mock-gpt", 1)], &[]).await;
    let mut body = hello(&other);
    body["models"] = json!(["no-such-model", backup]);
    assert_eq!(gw.chat(&key, body).await.status(), 200);
    let sent = mock.last_request().unwrap().body;
    assert!(sent.get("models").is_none(), "{sent}");
    assert_eq!(sent["model"], "mock-gpt-mini");
    let mut body = hello(&other);
    body["models"] = json!("backup");
    assert_eq!(gw.chat(&key, body).await.status(), 400);
    gw.stop().await;
}

#[tokio::test]
async fn a_provider_400_is_returned_and_not_retried() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let Rig { model: m, key, key_id, .. } =
        Rig::new(&gw, &mock.scenario_url("status=400"), &[("sk-a", 1), ("sk-b", 1)], None).await;
    let resp = gw.chat(&key, hello(&m)).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "upstream_bad_request", "{err}");
    assert_eq!(mock.stats().total, 1);
    assert_eq!(last_call(&gw, &key_id, 1).await["attempts"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_and_the_call_is_recorded() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    // 40 chunks, 100 ms apart: four seconds if nobody cancels.
    let Rig { model: m, key, key_id, .. } =
        Rig::new(&gw, &mock.scenario_url("chunks=40,chunk_delay_ms=100"), &[("sk-a", 1)], None).await;
    let resp =
        gw.chat(&key, json!({"model": m, "stream": true, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    assert!(body.next().await.unwrap().unwrap().starts_with(b"data: "));
    let dropped = Instant::now();
    drop(body);
    while mock.stats().unfinished_bodies == 0 {
        assert!(dropped.elapsed() < Duration::from_secs(2), "the upstream stream was never cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!((call["status"].clone(), call["http_status"].clone()), (json!("failed"), json!(499)), "{call}");
    assert_eq!((call["error_class"].clone(), call["attempts"].clone()), (json!("client_disconnected"), json!(1)));
    assert_eq!(mock.stats().total, 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_stream_cut_after_some_chunks_ends_in_band_without_a_retry() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let Rig { model: m, key, key_id, .. } =
        Rig::new(&gw, &mock.scenario_url("cut_after=3"), &[("sk-a", 1), ("sk-b", 1)], None).await;
    let resp =
        gw.chat(&key, json!({"model": m, "stream": true, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{data:?}");
    assert_eq!(mock.stats().total, 1);
    let call = last_call(&gw, &key_id, 1).await;
    assert_eq!((call["status"].clone(), call["attempts"].clone()), (json!("failed"), json!(1)), "{call}");
    gw.stop().await;
}

/// Retry amplification: half of the first attempts fail (one key of two always answers 500,
/// and its breaker is kept from opening), yet retries stay within 20% of the calls.
#[tokio::test]
async fn retries_under_half_failures_stay_within_the_budget() {
    let mock = mock().await;
    let mut env = fast_routing_env();
    env.push(("TOLLGATE_BREAKER_MIN_REQUESTS".into(), "1000000".into()));
    // No floor: the figure is the share of traffic alone.
    env.push(("TOLLGATE_RETRY_FLOOR_PER_SEC".into(), "0".into()));
    let gw = Gateway::start_with(GatewayOptions { env, ..GatewayOptions::default() }).await;
    let failing = "mock:status=500";
    let Rig { model: m, key, .. } = Rig::new(&gw, &mock.base_url(), &[(failing, 1), ("sk-ok", 1)], None).await;
    let calls = 200;
    let mut ok = 0;
    for _ in 0..calls {
        if gw.chat(&key, hello(&m)).await.status() == 200 {
            ok += 1;
        }
    }
    let upstream = mock.stats().total;
    let amplification = upstream as f64 / calls as f64;
    println!("upstream calls per client call at 50% failures: {amplification:.3} ({upstream}/{calls}, {ok} ok)");
    assert_eq!(count(&mock, failing), calls / 2, "every other call starts on the failing key");
    assert!((1.19..=1.21).contains(&amplification), "amplification {amplification}");
    assert_eq!(ok as u64, upstream - count(&mock, failing), "every retry went to the working key");
    gw.stop().await;
}
