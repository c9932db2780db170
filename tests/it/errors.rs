//! Bad input: each a clear error in the OpenAI shape (or the Anthropic one for an Anthropic
//! caller at an unknown path or with a wrong method), nothing recorded, nothing leaked.

use serde_json::json;

use crate::harness::*;
use crate::setup::*;

#[tokio::test]
async fn bad_requests_get_clear_errors_and_leave_no_records() {
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_MAX_BODY_BYTES".into(), "4096".into())],
        ..GatewayOptions::default()
    })
    .await;
    let f = Fixture::new(&gw, &mock.base_url(), "10").await;
    let url = format!("{}/v1/chat/completions", gw.url);
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let post = |key: &str, body: String| gw.http.post(&url).bearer_auth(key).body(body).send();

    expect_error(gw.http.post(&url).body("{}").send().await.unwrap(), 401, "authentication_error").await;
    expect_error(post("tg-wrong", json!({"model": f.model}).to_string()).await.unwrap(), 401, "authentication_error")
        .await;
    let v = expect_error(post(&f.key, "{not json".into()).await.unwrap(), 400, "invalid_request_error").await;
    assert!(v["error"]["message"].as_str().unwrap().contains("JSON"));
    let v =
        expect_error(post(&f.key, json!({"messages": msgs}).to_string()).await.unwrap(), 400, "invalid_request_error")
            .await;
    assert!(v["error"]["message"].as_str().unwrap().contains("model"));
    let v = expect_error(
        post(&f.key, json!({"model": "no-such-model", "messages": msgs}).to_string()).await.unwrap(),
        404,
        "invalid_request_error",
    )
    .await;
    assert_eq!(v["error"]["code"], "model_not_found");
    let big = json!({"model": f.model, "messages": [{"role": "user", "content": "x".repeat(5000)}]}).to_string();
    expect_error(post(&f.key, big).await.unwrap(), 413, "invalid_request_error").await;

    let limited =
        gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": ["other"]})), 201).await;
    let v = expect_error(
        post(limited["key"].as_str().unwrap(), json!({"model": f.model, "messages": msgs}).to_string()).await.unwrap(),
        403,
        "permission_error",
    )
    .await;
    assert_eq!(v["error"]["code"], "model_not_allowed");

    gw.admin_ok("DELETE", &format!("/api/v1/keys/{}", f.key_id), None, 200).await;
    expect_error(
        post(&f.key, json!({"model": f.model, "messages": msgs}).to_string()).await.unwrap(),
        401,
        "authentication_error",
    )
    .await;

    let expired = gw
        .admin_ok(
            "POST",
            "/api/v1/keys",
            Some(json!({"user_id": f.user_id, "expires_at": "2020-01-01T00:00:00Z"})),
            201,
        )
        .await;
    let v = expect_error(
        post(expired["key"].as_str().unwrap(), json!({"model": f.model, "messages": msgs}).to_string()).await.unwrap(),
        401,
        "authentication_error",
    )
    .await;
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"));

    assert_eq!(mock.stats().total, 0, "no bad request reached the provider");
    let calls = gw.admin_ok("GET", "/api/v1/calls", None, 200).await;
    assert_eq!(calls["data"], json!([]), "refused requests are not billed calls");
    assert!(!gw.log().contains(&f.key), "the Tollgate key is never logged");
    gw.stop().await;
}

#[tokio::test]
async fn upstream_failures_map_to_gateway_errors_without_leaking_the_provider_key() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    for (scenario, status, class) in [
        ("status=500", 502, "upstream_error"),
        ("status=401", 502, "upstream_auth"),
        ("status=429,retry_after=7", 503, "upstream_rate_limited"),
        ("status=400", 400, "upstream_bad_request"),
    ] {
        let f = Fixture::new(&gw, &mock.scenario_url(scenario), "10").await;
        let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
        assert_eq!(resp.status().as_u16(), status, "{scenario}");
        if status == 503 {
            assert_eq!(resp.headers()["retry-after"], "7");
        }
        let text = resp.text().await.unwrap();
        assert!(!text.contains(PROVIDER_KEY) && !text.contains("127.0.0.1"), "{text}");
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
        assert_eq!(calls[0]["status"], "failed");
        assert_eq!(calls[0]["error_class"], class);
        assert_eq!(calls[0]["cost"], "0");
        assert_eq!(f.balance(&gw).await, "10");
    }
    // Nothing listening: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let f = Fixture::new(&gw, &format!("http://{closed}/v1"), "10").await;
    let resp = gw.chat(&f.key, json!({"model": f.model, "messages": msgs})).await;
    assert_eq!(resp.status(), 502);
    assert!(!gw.log().contains(PROVIDER_KEY), "the provider key is never logged");
    gw.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_in_the_callers_dialect() {
    let gw = Gateway::start(Engine::Sqlite).await;
    let send = |method: reqwest::Method, path: &str, anthropic: bool| {
        let req = gw.http.request(method, format!("{}{path}", gw.url));
        if anthropic { req.header("anthropic-version", ANTHROPIC_VERSION) } else { req }.send()
    };
    let v =
        expect_error(send(reqwest::Method::GET, "/v1/nope", false).await.unwrap(), 404, "invalid_request_error").await;
    assert_eq!(v["error"]["code"], "unknown_endpoint");
    for (path, versioned) in [("/v1/nope", true), ("/v1/messages/batches", false)] {
        expect_anthropic_error(send(reqwest::Method::POST, path, versioned).await.unwrap(), 404, "not_found_error")
            .await;
    }

    let resp = send(reqwest::Method::GET, "/v1/messages", false).await.unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    expect_anthropic_error(resp, 405, "invalid_request_error").await;
    let resp = send(reqwest::Method::GET, "/v1/chat/completions", false).await.unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    let v = expect_error(resp, 405, "invalid_request_error").await;
    assert_eq!(v["error"]["code"], "method_not_allowed");
    gw.stop().await;
}
