//! The usage journal's disk full (issue 12's battery): the gateway fails closed. A call whose
//! record cannot be written to the journal is refused with a clear 503 in the caller's
//! dialect before it reaches a provider; nothing already recorded is lost; once space returns
//! calls are served again, without a restart.
//!
//! "Disk full" without filling a disk and without root: the test lowers the running gateway's
//! file-size limit (`RLIMIT_FSIZE`, through `prlimit --pid`) to the size of its current journal
//! segment, so every append to it fails (`EFBIG`, as `ENOSPC` does on a full disk: the same
//! error path), then raises it again. The database (SQLite, in the same directory) is hit too,
//! as on a real full disk; its writer retries until it can write.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn prlimit_fsize(pid: u32, soft: &str) {
    let out = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={soft}:")])
        .output()
        .expect("prlimit (util-linux) is installed");
    assert!(out.status.success(), "prlimit: {}", String::from_utf8_lossy(&out.stderr));
}

/// The size of the newest journal segment (the one being appended to).
fn journal_segment_len(gw: &Gateway) -> u64 {
    let mut segments: Vec<_> = std::fs::read_dir(gw.data_dir().join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("calls-"))
        .collect();
    segments.sort();
    std::fs::metadata(segments.last().expect("a journal segment")).unwrap().len()
}

#[tokio::test]
async fn a_full_journal_disk_refuses_calls_with_a_clear_503_and_recovers() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=20"), "10").await;
    let hello = json!({"model": f.model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        assert_eq!(gw.chat(&f.key, hello.clone()).await.status(), 200);
    }
    let pid = gw.pid();
    let served_before = mock.stats().total;
    prlimit_fsize(pid, &journal_segment_len(&gw).to_string());

    // Both dialects: refused before any provider is called, in the caller's error shape.
    let openai = gw.chat(&f.key, hello.clone()).await;
    assert_eq!(openai.status(), 503);
    assert!(openai.headers().contains_key("retry-after"));
    let body: Value = openai.json().await.unwrap();
    assert_eq!(body["error"]["code"], "journal_unavailable", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("usage journal"), "{body}");
    let anthropic = gw.messages(&f.key, hello.clone()).await;
    assert_eq!(anthropic.status(), 503);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(
        (body["type"].as_str(), body["error"]["type"].as_str()),
        (Some("error"), Some("overloaded_error")),
        "{body}"
    );
    let streamed = gw
        .chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(streamed.status(), 503);
    assert_eq!(mock.stats().total, served_before, "no call reached the provider while the journal was full");
    // The process is alive and answering (a file-size limit does not kill it).
    assert_eq!(gw.http.get(format!("{}/healthz", gw.url)).send().await.unwrap().status(), 200);
    let ready = gw.http.get(format!("{}/readyz", gw.url)).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the journal cannot be written");

    // Space returns: calls are served again without a restart.
    prlimit_fsize(pid, "unlimited");
    let mut answered = None;
    for _ in 0..50 {
        let resp = gw.chat(&f.key, hello.clone()).await;
        if resp.status() == 200 {
            answered = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered.is_some(), "calls are served again once the journal can be written");
    assert_eq!(gw.http.get(format!("{}/readyz", gw.url)).send().await.unwrap().status(), 200);

    // Nothing lost: the four successes recorded and charged once each, the refusals recorded
    // as failed and free; a crash now replays a journal that reads back whole (no torn line
    // left by the failed appends), changing nothing.
    let calls = gw.calls_until(&f.key_id, |c| c.iter().filter(|c| c["status"] == "success").count() == 4).await;
    let refused: Vec<&Value> = calls.iter().filter(|c| c["status"] != "success").collect();
    assert!(refused.iter().all(|c| c["error_class"] == "journal_unavailable" && c["cost"] == "0"), "{calls:?}");
    // 10 − 4 × (1000 × 2.5 + 20 × 10) / 1e6
    assert_eq!(f.balance(&gw).await, "9.9892");
    let mut gw = gw;
    gw.kill9().await;
    gw.spawn().await;
    assert_eq!(f.balance(&gw).await, "9.9892");
    let after = gw.calls_until(&f.key_id, |c| c.len() == calls.len()).await;
    assert_eq!(after.iter().filter(|c| c["status"] == "success").count(), 4);
    gw.stop().await;
}
