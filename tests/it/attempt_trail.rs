//! The attempt trail: a call that failed over keeps each failed attempt in order (provider,
//! credential, upstream model, class, HTTP status, time) for the operator — in the management
//! API and the console's call detail — and never shows it to the member who made the call.

use serde_json::{Value, json};

use crate::console_session::{PASSWORD, sign_in};
use crate::harness::*;
use crate::routing_fixture::*;

/// A member with a password, credits and a key: (user id, key, key id).
async fn member(gw: &Gateway) -> (String, String, String) {
    let user = gw
        .admin_ok("POST", "/api/v1/users", Some(json!({"name": "carol", "password": PASSWORD, "role": "member"})), 201)
        .await;
    let uid = user["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{uid}/credits"), Some(json!({"amount": "10"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": uid})), 201).await;
    (uid, k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_failed_over_call_keeps_each_failed_attempt_for_the_operator_only() {
    let mock = mock().await;
    for engine in engines() {
        let gw = gateway(engine).await;
        // The model's only target answers 503; its fallback model's target answers.
        let (failing, failing_id, failing_creds) =
            provider(&gw, &mock.base_url(), &[("mock:status=503", 1)], None).await;
        let (up, up_id, up_creds) = provider(&gw, &mock.base_url(), &[("sk-fine", 1)], None).await;
        let backup = model(&gw, &[(&up, "mock-gpt", 1)], &[]).await;
        let first = model(&gw, &[(&failing, "mock-gpt-a", 1)], &[&backup]).await;
        // A model whose only provider refuses connections: a failed call, every attempt kept.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let (down, down_id, _) = provider(&gw, &format!("http://{closed}/v1"), &[("sk-d", 1)], None).await;
        let dead = model(&gw, &[(&down, "mock-gpt", 1)], &[]).await;
        let (_, key, key_id) = member(&gw).await;

        assert_eq!(gw.chat(&key, hello(&first)).await.status(), 200);
        let call = last_call(&gw, &key_id, 1).await;
        assert_eq!(call["provider_id"], up_id.as_str(), "{call}");
        assert_eq!(call["credential_id"], up_creds[0].as_str(), "{call}");
        let trail = call["failed_attempts"].as_array().expect("the trail").clone();
        assert_eq!(trail.len(), 1, "{call}");
        let a = &trail[0];
        assert_eq!(
            (&a["provider_id"], &a["credential_id"], &a["upstream_model"], &a["class"], &a["http_status"]),
            (&json!(failing_id), &json!(failing_creds[0]), &json!("mock-gpt-a"), &json!("upstream_error"), &json!(503)),
            "{a}"
        );
        assert!(a["duration_ms"].as_i64().unwrap() >= 0 && a["detail"].as_str().unwrap().contains("503"), "{a}");
        let ok_id = call["id"].as_str().unwrap().to_string();

        assert!(gw.chat(&key, hello(&dead)).await.status().is_server_error());
        let call = last_call(&gw, &key_id, 2).await;
        assert_eq!(call["status"], "failed", "{call}");
        let trail = call["failed_attempts"].as_array().expect("the trail").clone();
        assert!(!trail.is_empty(), "{call}");
        assert!(
            trail.iter().all(|a| a["provider_id"] == down_id.as_str() && a["class"] == "connect_error"),
            "{trail:?}"
        );
        assert!(trail.iter().all(|a| a["http_status"].is_null()), "no provider answered: {trail:?}");
        assert_eq!(trail.len() as i64, call["attempts"].as_i64().unwrap(), "every attempt of a failed call: {call}");

        // An answered call on its first attempt has no trail.
        assert_eq!(gw.chat(&key, hello(&backup)).await.status(), 200);
        let call = last_call(&gw, &key_id, 3).await;
        assert_eq!(call["failed_attempts"], json!([]), "{call}");

        // The member sees none of it, by key or in the console.
        let (status, me) = gw.request_as(&key, "GET", "/api/v1/me", None).await;
        assert_eq!(status, 200);
        let recent: &Vec<Value> = me["recent_calls"].as_array().unwrap();
        assert!(recent.iter().all(|c| c.get("failed_attempts").is_none()), "{me}");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let s = sign_in(&gw, &http, "carol").await;
        let page = http.get(format!("{}/me/calls/{ok_id}", gw.url)).header("cookie", &s.cookie).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(!html.contains("id=\"attempts\"") && !html.contains(&failing), "{html}");

        // The operator's call detail lists the attempts in order, by name.
        gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "opal", "password": PASSWORD, "role": "admin"})), 201)
            .await;
        let s = sign_in(&gw, &http, "opal").await;
        let page = http.get(format!("{}/calls/{ok_id}", gw.url)).header("cookie", &s.cookie).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let panel = html.split("id=\"attempts\"").nth(1).expect("the attempts panel");
        let (at_failing, at_up) =
            (panel.find(&failing).expect("the failed provider"), panel.find(&up).expect("the one that answered"));
        assert!(at_failing < at_up, "in order");
        assert!(panel.contains("upstream_error") && panel.contains("503"), "{panel}");
        gw.stop().await;
    }
}
