//! Crashes and shutdowns: a call the client saw complete keeps its record and charge even if
//! the process is killed right after; interrupted calls are closed at start-up; SIGTERM lets
//! in-flight streams finish.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn kill_9_right_after_a_response_loses_neither_record_nor_charge() {
    let mock = mock().await;
    for engine in engines() {
        let mut gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=500"), "10").await;
        let msgs = json!([{"role": "user", "content": "hi"}]);
        for stream in [false, true] {
            let resp = gw.chat(&f.key, json!({"model": f.model, "stream": stream, "messages": msgs})).await;
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
        }
        gw.kill9().await;
        gw.spawn().await;
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 2).await;
        assert!(calls.iter().all(|c| c["status"] == "success" && c["cost"] == "0.0075"), "{calls:?}");
        assert_eq!(f.balance(&gw).await, "9.985");
        gw.stop().await;
    }
}

#[tokio::test]
async fn calls_interrupted_by_a_crash_are_closed_as_failed_at_start() {
    let mock = mock().await;
    let mut gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("chunks=8,stall_after=2"), "10").await;
    let resp = gw
        .chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    let mut body = resp.bytes_stream();
    body.next().await.unwrap().unwrap(); // the stream has started, then stalls upstream
    gw.kill9().await;
    drop(body);
    gw.spawn().await;
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1).await;
    assert_eq!(calls[0]["status"], "failed");
    assert_eq!(calls[0]["error_class"], "interrupted");
    assert_eq!(f.balance(&gw).await, "10");
    gw.stop().await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_streams_finish_then_exits_cleanly() {
    let mock = mock().await;
    let mut gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("chunks=8,chunk_delay_ms=100"), "10").await;
    let resp = gw
        .chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    let mut body = resp.bytes_stream();
    let mut text = String::from_utf8(body.next().await.unwrap().unwrap().to_vec()).unwrap();
    gw.send_sigterm();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the stream goes on.
    assert!(reqwest::Client::new().get(format!("{}/healthz", gw.url)).send().await.is_err());
    while let Some(chunk) = body.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(text.ends_with("data: [DONE]\n\n"), "the stream completed: {text}");
    assert!(gw.wait_exit().await.success());
    assert!(
        std::fs::read_dir(gw.data_dir().join("journal"))
            .unwrap()
            .all(|e| std::fs::metadata(e.unwrap().path()).unwrap().len() == 0),
        "a clean shutdown leaves no journal to replay"
    );
    gw.spawn().await;
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1).await;
    assert_eq!(calls[0]["status"], "success");
    gw.stop().await;
}
