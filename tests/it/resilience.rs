//! Resilience against the mock's failure modes, with exact upstream call counts: a stream that
//! breaks after its first byte (idle timeout, error event, cut) ends in-band, is never retried
//! and counts against its credential and target; a non-stream body that stalls fails over to
//! the next key; a client that leaves cancels the upstream or, with `drain_ms`, lets the
//! gateway read on so the call is charged for what the provider produced; a slow client is
//! not mistaken for a stalled provider.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;
use crate::routing_fixture::*;

fn timeouts(idle_ms: u64, drain_ms: u64) -> Value {
    json!({"connect_ms": 1000, "first_byte_ms": 1000, "idle_ms": idle_ms, "total_ms": 5000, "drain_ms": drain_ms})
}

fn streamed(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

/// Polls the newest call of a key until it has settled.
async fn settled_call(gw: &Gateway, key_id: &str) -> Value {
    gw.calls_until(key_id, |c| !c.is_empty() && c[0]["status"] != "processing").await[0].clone()
}

#[tokio::test]
async fn broken_streams_end_in_band_and_count_against_credential_and_target() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let cases = [
        ("stall_after=2", "timeout", "sent nothing for 300 ms"),
        ("error_after=2", "upstream_stream_error", "reported an error"),
        ("cut_after=2", "upstream_io_error", "stream failed"),
    ];
    for (scenario, class, said) in cases {
        mock.reset();
        let url = mock.scenario_url(scenario);
        let rig = Rig::new(&gw, &url, &[("sk-a", 1), ("sk-b", 1)], Some(timeouts(300, 0))).await;
        let resp = gw.chat(&rig.key, streamed(&rig.model)).await;
        assert_eq!(resp.status(), 200);
        let data = sse_data(&resp.text().await.unwrap());
        let errors: Vec<&String> = data.iter().filter(|d| d.contains("\"error\"")).collect();
        assert_eq!(errors.len(), 1, "{scenario}: exactly one in-band error, as the last event: {data:?}");
        assert_eq!(data.last(), errors.last().copied(), "{scenario}: {data:?}");
        assert!(!data.contains(&"[DONE]".to_string()), "{scenario}: {data:?}");
        assert_eq!(mock.stats().total, 1, "{scenario}: no second upstream call after the first byte");
        let call = settled_call(&gw, &rig.key_id).await;
        assert_eq!((call["status"].as_str(), call["error_class"].as_str()), (Some("failed"), Some(class)), "{call}");
        assert!(call["error_message"].as_str().unwrap().contains(said), "{call}");
        // The verdict replaced the success the headers suggested: one outcome, a failure.
        let used = call["credential_id"].as_str().unwrap();
        assert!(rig.credentials.iter().any(|i| i == used));
        let h = gw.admin_ok("GET", &format!("/api/v1/providers/{}/health", rig.provider_id), None, 200).await;
        let cred = h["credentials"].as_array().unwrap().iter().find(|c| c["id"] == used).unwrap();
        assert_eq!(cred["health"]["recent_requests"], 1, "{scenario}: {h}");
        assert_eq!(cred["health"]["recent_error_rate"], 1.0, "{scenario}: {h}");
        assert!(cred["health"]["last_error"].as_str().unwrap().contains(said), "{scenario}: {h}");
        assert_eq!(h["targets"][0]["health"]["recent_error_rate"], 1.0, "{scenario}: {h}");
        // The same report on the credential itself and in the all-providers view.
        let same = |h: &Value| (h["state"].clone(), h["last_error"].clone(), h["recent_error_rate"].clone());
        let c = gw.admin_ok("GET", &format!("/api/v1/credentials/{used}"), None, 200).await;
        assert_eq!(same(&c["health"]), same(&cred["health"]), "{c}");
        let all = gw.admin_ok("GET", "/api/v1/health", None, 200).await;
        let listed = all["data"].as_array().unwrap().iter().find(|p| p["id"] == rig.provider_id).unwrap();
        assert_eq!(same(&listed["targets"][0]["health"]), same(&h["targets"][0]["health"]), "{all}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn streams_that_keep_breaking_open_the_breaker() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let broken = "mock:cut_after=1";
    let rig = Rig::new(&gw, &mock.base_url(), &[(broken, 1)], None).await;
    for _ in 0..4 {
        let resp = gw.chat(&rig.key, streamed(&rig.model)).await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
    }
    // Four broken streams out of four (the breaker's minimum): refused without an upstream call.
    let resp = gw.chat(&rig.key, streamed(&rig.model)).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(count(&mock, broken), 4);
    let h = gw.admin_ok("GET", &format!("/api/v1/providers/{}/health", rig.provider_id), None, 200).await;
    assert_eq!(h["credentials"][0]["health"]["state"], "open", "{h}");
    gw.stop().await;
}

#[tokio::test]
async fn a_non_stream_body_that_stalls_fails_over_to_the_next_key() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let stalled = "mock:stall_after=1,stall_mid_ms=5000";
    let rig = Rig::new(&gw, &mock.base_url(), &[(stalled, 1), ("sk-b", 1)], Some(timeouts(300, 0))).await;
    let started = Instant::now();
    let resp = gw.chat(&rig.key, hello(&rig.model)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let took = started.elapsed();
    println!("non-stream body stall: answered by the next key after {took:?} (idle_ms 300)");
    assert!(body["choices"][0]["message"]["content"].is_string(), "{body}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(2000), "took {took:?}");
    let call = settled_call(&gw, &rig.key_id).await;
    let ids = &rig.credentials;
    assert_eq!((call["attempts"].clone(), call["credential_id"].clone()), (json!(2), json!(ids[1])), "{call}");
    assert_eq!(call["status"], "success");
    assert_eq!((count(&mock, stalled), count(&mock, "sk-b")), (1, 1));
    let c = credential_health(&gw, &rig.provider_id, &ids[0]).await;
    assert!(c["health"]["last_error"].as_str().unwrap().contains("body stalled for 300 ms"), "{c}");
    gw.stop().await;
}

/// A stream from `scenario` with `timeouts` that the client drops after its first piece;
/// answers the set-up and when the client left.
async fn leave_a_stream(
    gw: &Gateway,
    mock: &mock_provider::MockServer,
    scenario: &str,
    timeouts: Value,
) -> (Rig, Instant) {
    let rig = Rig::new(gw, &mock.scenario_url(scenario), &[("sk-a", 1)], Some(timeouts)).await;
    let resp = gw.chat(&rig.key, streamed(&rig.model)).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    assert!(body.next().await.unwrap().unwrap().starts_with(b"data: "));
    drop(body);
    (rig, Instant::now())
}

/// Waits until the mock saw its stream dropped; answers how long after the client left.
async fn upstream_dropped(mock: &mock_provider::MockServer, left: Instant, limit: Duration) -> Duration {
    while mock.stats().unfinished_bodies == 0 {
        assert!(left.elapsed() < limit, "the upstream stream was never dropped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    left.elapsed()
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_upstream_by_default() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let (rig, left) = leave_a_stream(&gw, &mock, "chunks=40,chunk_delay_ms=100", timeouts(1000, 0)).await;
    let dropped = upstream_dropped(&mock, left, Duration::from_secs(2)).await;
    println!("client disconnect (cancel): upstream dropped {dropped:?} after the client left");
    let call = settled_call(&gw, &rig.key_id).await;
    assert_eq!((call["error_class"].as_str(), call["http_status"].as_i64()), (Some("client_disconnected"), Some(499)));
    assert_eq!(mock.stats().total, 1);
    gw.stop().await;
}

#[tokio::test]
async fn with_drain_the_stream_is_read_on_and_charged_for_what_was_produced() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    // Two seconds of stream; the drain bound covers it.
    let scenario = "chunks=20,chunk_delay_ms=100,prompt_tokens=1000";
    let (rig, left) = leave_a_stream(&gw, &mock, scenario, timeouts(1000, 5000)).await;
    let call = loop {
        let c = gw.admin_ok("GET", &format!("/api/v1/calls?key_id={}&limit=1", rig.key_id), None, 200).await;
        let c = c["data"][0].clone();
        if c["status"] == "failed" {
            break c;
        }
        assert!(left.elapsed() < Duration::from_secs(5), "never settled: {c}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let settled_after = left.elapsed();
    println!("client disconnect (drain): settled {settled_after:?} after the client left (stream ~2 s)");
    assert_eq!(call["error_class"], "client_disconnected_drained", "{call}");
    assert_eq!((call["input_tokens"].clone(), call["output_tokens"].clone()), (json!(1000), json!(20)), "{call}");
    // 1020 tokens at 1 credit per million.
    assert_eq!(call["cost"], "0.00102", "{call}");
    assert_eq!(mock.stats().unfinished_bodies, 0, "read to its end");
    assert_eq!(mock.stats().total, 1);
    assert!(settled_after >= Duration::from_millis(1500), "the stream ran its course: {settled_after:?}");
    gw.stop().await;
}

#[tokio::test]
async fn a_drain_stops_at_its_bound() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let (rig, left) = leave_a_stream(&gw, &mock, "chunks=40,chunk_delay_ms=100", timeouts(1000, 300)).await;
    let stopped = upstream_dropped(&mock, left, Duration::from_secs(3)).await;
    println!("client disconnect (drain_ms 300): upstream dropped {stopped:?} after the client left");
    assert!(stopped >= Duration::from_millis(300), "{stopped:?}");
    let call = settled_call(&gw, &rig.key_id).await;
    assert_eq!(
        (call["error_class"].as_str(), call["http_status"].as_i64()),
        (Some("drain_limit"), Some(499)),
        "{call}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_client_is_not_taken_for_a_stalled_provider() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    let rig =
        Rig::new(&gw, &mock.scenario_url("chunks=6,chunk_delay_ms=50"), &[("sk-a", 1)], Some(timeouts(300, 0))).await;
    let resp = gw.chat(&rig.key, streamed(&rig.model)).await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    // The client pauses longer than the provider's idle timeout between reads.
    while let Some(piece) = body.next().await {
        text.push_str(std::str::from_utf8(&piece.unwrap()).unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    let call = settled_call(&gw, &rig.key_id).await;
    assert_eq!(call["status"], "success", "{call}");
    assert_eq!(mock.stats().total, 1);
    gw.stop().await;
}

#[tokio::test]
async fn a_non_stream_call_is_cancelled_or_drained_when_its_client_leaves() {
    let mock = mock().await;
    let gw = gateway(Engine::Sqlite).await;
    // The answer comes 600 ms after the request; the client gives up after 200 ms.
    let url = mock.scenario_url("latency_ms=600,prompt_tokens=1000,completion_tokens=50");
    let cases =
        [(0, "client_disconnected", "0"), (3000, "client_disconnected_drained", "0.00105"), (150, "drain_limit", "0")];
    for (drain_ms, class, cost) in cases {
        // A first-byte limit well past the 600 ms answer: under a loaded machine the answer can
        // arrive late, and this test is about the client leaving, not about a slow upstream.
        let mut limits = timeouts(1000, drain_ms);
        limits["first_byte_ms"] = json!(4000);
        limits["total_ms"] = json!(8000);
        let rig = Rig::new(&gw, &url, &[("sk-a", 1)], Some(limits)).await;
        let sent = gw
            .http
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&rig.key)
            .json(&hello(&rig.model))
            .timeout(Duration::from_millis(200))
            .send()
            .await;
        assert!(sent.unwrap_err().is_timeout());
        let left = Instant::now();
        let call = settled_call(&gw, &rig.key_id).await;
        let settled = left.elapsed();
        println!("non-stream client left (drain_ms {drain_ms}): settled {settled:?} after, as {class}");
        assert_eq!((call["error_class"].as_str(), call["http_status"].as_i64()), (Some(class), Some(499)), "{call}");
        assert_eq!(call["cost"], cost, "{call}");
        if drain_ms == 3000 {
            assert_eq!((call["input_tokens"].clone(), call["output_tokens"].clone()), (json!(1000), json!(50)));
        }
    }
    assert_eq!(mock.stats().total, 3, "never a second upstream call");
    gw.stop().await;
}
