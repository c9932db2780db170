//! Overload (issue 12's battery): when calls arrive faster than the database takes their
//! records (here the database's write lock is held by another connection, so the usage writer
//! cannot commit at all), the writer's queue stops at `TOLLGATE_USAGE_BACKLOG_MAX` and new calls
//! are shed with a 503 `overloaded` in the caller's dialect, before any provider is called,
//! unrecorded and free, instead of the queue growing the gateway's memory without bound. Once
//! the database takes writes again, every admitted call is recorded and charged exactly once and
//! calls are served again, without a restart.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;

use crate::harness::*;

const BACKLOG_MAX: usize = 4;

async fn scrape(gw: &Gateway) -> String {
    let resp = gw.http.get(format!("{}/metrics", gw.url)).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_full_usage_backlog_sheds_calls_with_a_503_and_loses_nothing() {
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_USAGE_BACKLOG_MAX".into(), BACKLOG_MAX.to_string())],
        ..GatewayOptions::default()
    })
    .await;
    let f = Fixture::new(&gw, &mock.scenario_url("prompt_tokens=1000,completion_tokens=20"), "10").await;
    let hello = json!({"model": f.model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(gw.chat(&f.key, hello.clone()).await.status(), 200);
    gw.calls_until(&f.key_id, |c| c.len() == 1).await;

    // Another connection takes the database's write lock: the usage writer cannot commit.
    let url = format!("sqlite://{}", gw.data_dir().join("tollgate.db").display());
    let mut blocker = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();

    // Calls are admitted until the queue is full, then shed. The writer holds the batch it
    // took before it blocked (one call) outside the count, and each call queues at most two
    // writes (its start and its finish), so the first 503 comes within BACKLOG_MAX + 1 calls.
    // That first call is made alone, and the writer is seen to take its writes off the queue
    // (the gauge back at 0): it is then stuck committing them, and takes nothing more until the
    // lock is released. Otherwise, on a slow machine, a writer that had not reached the lock
    // yet could take the queue's writes just after a call was shed, and the next be admitted.
    assert_eq!(gw.chat(&f.key, hello.clone()).await.status(), 200);
    let mut admitted = 1;
    let mut taken = false;
    for _ in 0..300 {
        if sample(&scrape(&gw).await, "tollgate_usage_backlog") == 0 {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(taken, "the writer takes the first call's writes");
    let shed = loop {
        let resp = gw.chat(&f.key, hello.clone()).await;
        if resp.status() == 503 {
            break resp;
        }
        assert_eq!(resp.status(), 200);
        admitted += 1;
        assert!(admitted <= BACKLOG_MAX + 1, "no call shed after {admitted} calls");
    };
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(body["error"]["message"], "the gateway is overloaded; try again shortly");
    let served = mock.stats().total;
    let anthropic = gw.messages(&f.key, hello.clone()).await;
    assert_eq!(anthropic.status(), 503);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!((body["type"].as_str(), body["error"]["type"].as_str()), (Some("error"), Some("overloaded_error")));
    let streamed = gw
        .chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(streamed.status(), 503);
    assert_eq!(mock.stats().total, served, "no shed call reached the provider");
    let metrics = scrape(&gw).await;
    assert_eq!(sample(&metrics, "tollgate_calls_shed_total"), 3, "{metrics}");
    assert!(sample(&metrics, "tollgate_usage_backlog") >= BACKLOG_MAX as u64, "{metrics}");

    // The database takes writes again: the queue drains and calls are served.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();
    let mut drained = false;
    for _ in 0..300 {
        if sample(&scrape(&gw).await, "tollgate_usage_backlog") == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drained, "the usage backlog drains once the database takes writes");
    assert_eq!(gw.chat(&f.key, hello.clone()).await.status(), 200);

    // Every admitted call recorded and charged once; the shed ones left no record and no charge.
    let answered = admitted + 2;
    let calls = gw.calls_until(&f.key_id, |c| c.len() == answered).await;
    assert!(calls.iter().all(|c| c["status"] == "success"), "{calls:?}");
    // Each call: (1000 × 2.5 + 20 × 10) / 1e6 = 0.0027 credits.
    let left = 10_000_000_000i64 - answered as i64 * 2_700_000;
    assert_eq!(
        f.balance(&gw).await,
        format!("{}.{:09}", left / 1_000_000_000, left % 1_000_000_000).trim_end_matches('0')
    );
    gw.stop().await;
}
