//! Repeated authentication failures per client address: 429 with `retry-after` in the caller's
//! dialect once an address has used up its failures (model traffic and the management API
//! alike), other addresses unaffected, and `X-Forwarded-For` believed only from a trusted proxy.

use serde_json::{Value, json};

use crate::harness::*;
use crate::setup::expect_anthropic_error;

async fn throttled_gateway(trusted_proxies: Option<&str>) -> Gateway {
    let mut env = vec![
        ("TOLLGATE_AUTH_THROTTLE_BURST".to_string(), "5".to_string()),
        ("TOLLGATE_AUTH_THROTTLE_RECOVER_MS".to_string(), "60000".to_string()),
    ];
    if let Some(p) = trusted_proxies {
        env.push(("TOLLGATE_TRUSTED_PROXIES".into(), p.into()));
    }
    Gateway::start_with(GatewayOptions { env, ..GatewayOptions::default() }).await
}

/// A chat call with `key`, as the client `forwarded_for` (sent as `X-Forwarded-For`) if given.
async fn chat_from(gw: &Gateway, key: &str, model: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn repeated_bad_keys_from_one_address_are_throttled_with_retry_after() {
    let mock = mock().await;
    let gw = throttled_gateway(None).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    // The gateway's peer is loopback, a trusted proxy by default: `X-Forwarded-For` names the
    // client, so each test client below is its own address.
    let attacker = "203.0.113.7";
    for i in 0..5 {
        let resp = chat_from(&gw, &format!("tg-wrong-{i}"), &f.model, Some(attacker)).await;
        assert_eq!(resp.status(), 401, "failure {i} is still answered as such");
    }
    let resp = chat_from(&gw, "tg-wrong-again", &f.model, Some(attacker)).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["error"]["type"].as_str(), v["error"]["code"].as_str()),
        (Some("rate_limit_error"), Some("too_many_auth_failures"))
    );
    // In the Anthropic dialect for an Anthropic client, and whatever key is presented: a
    // throttled address gets nowhere by guessing faster.
    let resp = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", &f.key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .header("x-forwarded-for", attacker)
        .json(&json!({"model": f.model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let (headers, message) = expect_anthropic_error(resp, 429, "rate_limit_error").await;
    assert!(headers.contains_key("retry-after") && message.contains("failed authentication"), "{message}");
    // The management API counts too, and is closed to the address as well.
    let resp = gw
        .http
        .get(format!("{}/api/v1/users", gw.url))
        .bearer_auth(MASTER_KEY)
        .header("x-forwarded-for", attacker)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);

    // Another address is not affected: its good key works, its own failures count apart.
    let other = Some("198.51.100.20");
    assert_eq!(chat_from(&gw, &f.key, &f.model, other).await.status(), 200);
    assert_eq!(chat_from(&gw, "tg-typo", &f.model, other).await.status(), 401);
    assert_eq!(chat_from(&gw, &f.key, &f.model, None).await.status(), 200, "the proxy's own address");
    // Bad admin keys from a third address throttle it the same way.
    let admin_guesser = "192.0.2.99";
    for _ in 0..5 {
        let resp = gw
            .http
            .get(format!("{}/api/v1/users", gw.url))
            .bearer_auth("not-the-master-key")
            .header("x-forwarded-for", admin_guesser)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }
    let resp = gw
        .http
        .get(format!("{}/api/v1/users", gw.url))
        .bearer_auth(MASTER_KEY)
        .header("x-forwarded-for", admin_guesser)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    // One log line per throttled episode, naming the address and never a key.
    let log = gw.log();
    assert_eq!(log.matches("client throttled after repeated authentication failures").count(), 2, "{log}");
    assert!(log.contains("203.0.113.7") && !log.contains("tg-wrong-"));
    gw.stop().await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let mock = mock().await;
    // No proxy trusted: the loopback peer is the client, whatever the header says.
    let gw = throttled_gateway(Some("")).await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    for i in 0..5 {
        let spoofed = format!("203.0.113.{i}");
        assert_eq!(chat_from(&gw, "tg-wrong", &f.model, Some(&spoofed)).await.status(), 401);
    }
    let resp = chat_from(&gw, &f.key, &f.model, Some("198.51.100.1")).await;
    assert_eq!(resp.status(), 429, "a new X-Forwarded-For does not buy a fresh budget");
    gw.stop().await;
}
