//! SIGTERM under load (issue 12's battery): with 200 slow streams open, the gateway stops
//! accepting connections at once, lets every stream run to its end within the grace period,
//! and records and charges each call exactly once before it exits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;

const STREAMS: usize = 200;
const GRACE_SECS: u64 = 20;

/// Every page of a list endpoint (`limit=500`, following `next_cursor`).
async fn all_pages(gw: &Gateway, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let v = gw.admin_ok("GET", &url, None, 200).await;
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn sigterm_with_200_streams_open_finishes_records_and_charges_each_once() {
    let mock = mock().await;
    for engine in engines() {
        let mut gw = Gateway::start_with(GatewayOptions {
            engine,
            env: vec![("TOLLGATE_SHUTDOWN_GRACE_SECS".into(), GRACE_SECS.to_string())],
            ..GatewayOptions::default()
        })
        .await;
        // 20 chunks 150 ms apart: each stream runs about 3 s, far inside the grace period.
        let url = mock.scenario_url("chunks=20,chunk_delay_ms=150,prompt_tokens=1000");
        let f = Fixture::new(&gw, &url, "100").await;
        let body = json!({"model": f.model, "stream": true, "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}]});
        // Each stream on its own connection; the first piece read before SIGTERM is sent.
        let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(STREAMS);
        let mut streams = Vec::new();
        for _ in 0..STREAMS {
            let (gw_url, key, body, opened) = (gw.url.clone(), f.key.clone(), body.clone(), opened_tx.clone());
            streams.push(tokio::spawn(async move {
                let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
                let resp = client
                    .post(format!("{gw_url}/v1/chat/completions"))
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
                let mut pieces = resp.bytes_stream();
                let mut text = String::from_utf8(pieces.next().await.unwrap().unwrap().to_vec()).unwrap();
                opened.send(()).await.unwrap();
                while let Some(piece) = pieces.next().await {
                    match piece {
                        Ok(p) => text.push_str(std::str::from_utf8(&p).unwrap()),
                        Err(e) => return (text, Some(e.to_string()), Instant::now()),
                    }
                }
                (text, None, Instant::now())
            }));
        }
        for _ in 0..STREAMS {
            tokio::time::timeout(Duration::from_secs(60), opened_rx.recv()).await.expect("all streams open");
        }
        let signalled = Instant::now();
        gw.send_sigterm();
        // The listener closes at once: a new connection is refused while the streams go on.
        let refused = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                let addr = gw.url.trim_start_matches("http://").to_string();
                if tokio::net::TcpStream::connect(&addr).await.is_err() {
                    return signalled.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("new connections refused during the drain");
        let mut last_end = signalled;
        for (i, s) in streams.into_iter().enumerate() {
            let (text, error, ended) = s.await.unwrap();
            assert_eq!(error, None, "{engine:?} stream {i} broke during the drain: {text}");
            assert!(text.ends_with("data: [DONE]\n\n"), "{engine:?} stream {i} did not finish: {text}");
            last_end = last_end.max(ended);
        }
        let drained = last_end - signalled;
        let status = gw.wait_exit().await;
        let exited = signalled.elapsed();
        println!(
            "{engine:?}: {STREAMS} streams; new connections refused {refused:?} after SIGTERM; \
             last stream ended {drained:?} after; exit {exited:?} after (grace {GRACE_SECS} s)"
        );
        assert!(status.success(), "{engine:?}: {status:?}\n{}", gw.log());
        assert!(drained < Duration::from_secs(GRACE_SECS), "{engine:?}: {drained:?}");
        assert!(!gw.log().contains("outlived the grace period"), "{engine:?}");

        // Restarted: every call recorded once as a success, charged once, balance = ledger.
        gw.spawn().await;
        let calls = all_pages(&gw, &format!("/api/v1/calls?key_id={}", f.key_id)).await;
        assert_eq!(calls.len(), STREAMS, "{engine:?}: one record per stream");
        assert!(calls.iter().all(|c| c["status"] == "success" && c["cost"] == "0.0027"), "{engine:?}: {calls:?}");
        let ledger = all_pages(&gw, &format!("/api/v1/users/{}/ledger", f.user_id)).await;
        let mut charges: HashMap<String, usize> = HashMap::new();
        for e in ledger.iter().filter(|e| e["kind"] == "charge") {
            *charges.entry(e["call_id"].as_str().unwrap().to_string()).or_default() += 1;
        }
        assert_eq!(charges.len(), STREAMS, "{engine:?}: a charge for every call");
        assert!(charges.values().all(|n| *n == 1), "{engine:?}: never charged twice: {charges:?}");
        assert!(calls.iter().all(|c| charges.contains_key(c["id"].as_str().unwrap())), "{engine:?}");
        // 100 − 200 × (1000 × 2.5 + 20 × 10) / 1e6
        assert_eq!(f.balance(&gw).await, "99.46", "{engine:?}");
        gw.stop().await;
    }
}
