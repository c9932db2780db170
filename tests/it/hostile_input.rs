//! Management input an attacker or a careless script sends (issue 12): amounts that overflow a
//! balance, times that overflow a clock, idempotency keys reused for other content. Each is a
//! clear 400 or 409 that changes nothing, on both databases.

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_grant_past_the_64_bit_range_is_a_400_and_changes_nothing() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "9000000000").await;
        let path = format!("/api/v1/users/{}/credits", f.user_id);
        // 9.2e9 credits is the edge of i64 nano-credits; 9e9 more cannot fit.
        let (status, v) = gw.admin("POST", &path, Some(json!({"amount": "9000000000"}))).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], "balance_out_of_range", "{v}");
        assert_eq!(v["error"]["param"], "amount");
        let (status, v) = gw.admin("POST", &path, Some(json!({"amount": "-9300000000", "kind": "adjustment"}))).await;
        assert_eq!(status, 400, "a negative amount past the range is refused when parsed: {v}");
        gw.admin_ok("POST", &path, Some(json!({"amount": "-9000000000", "kind": "adjustment"})), 201).await;
        let down = json!({"amount": "-9223372036", "kind": "adjustment"});
        gw.admin_ok("POST", &path, Some(down), 201).await;
        let (status, v) = gw.admin("POST", &path, Some(json!({"amount": "-1", "kind": "adjustment"}))).await;
        assert_eq!((status, v["error"]["code"].as_str()), (400, Some("balance_out_of_range")), "{v}");
        // The refused entries left no trace: the balance and the ledger agree.
        assert_eq!(f.balance(&gw).await, "-9223372036");
        let ledger = gw.admin_ok("GET", &format!("/api/v1/users/{}/ledger", f.user_id), None, 200).await;
        let entries = ledger["data"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0]["balance_after"], "-9223372036");
        gw.stop().await;
    }
}

#[tokio::test]
async fn an_idempotency_key_reused_with_other_content_is_a_409() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "0").await;
        let path = format!("/api/v1/users/{}/credits", f.user_id);
        let grant = json!({"amount": "2", "idempotency_key": "topup-7", "kind": "topup"});
        let first = gw.admin_ok("POST", &path, Some(grant.clone()), 201).await;
        assert_eq!(gw.admin_ok("POST", &path, Some(grant), 200).await["id"], first["id"]);
        let other = json!({"amount": "20", "idempotency_key": "topup-7", "kind": "topup"});
        let (status, v) = gw.admin("POST", &path, Some(other)).await;
        assert_eq!(status, 409, "{v}");
        assert_eq!(v["error"]["code"], "idempotency_key_reused");
        assert_eq!(v["error"]["param"], "idempotency_key");
        let g = Fixture::new(&gw, &mock.base_url(), "0").await;
        let elsewhere = json!({"amount": "2", "idempotency_key": "topup-7", "kind": "topup"});
        let (status, _) = gw.admin("POST", &format!("/api/v1/users/{}/credits", g.user_id), Some(elsewhere)).await;
        assert_eq!(status, 409, "the same key for another user");
        assert_eq!((f.balance(&gw).await, g.balance(&gw).await), ("2".to_string(), "0".to_string()));
        gw.stop().await;
    }
}

#[tokio::test]
async fn a_huge_expiry_is_a_400_never_an_expired_key() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    // The seconds that overflowed the old `secs * 1000` into the past, and others past year 9999.
    for expires_at in [json!(9_223_372_036_854_776i64), json!(i64::MAX), json!("253402300800"), json!(-5), json!(1e300)]
    {
        let (status, v) =
            gw.admin("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "expires_at": expires_at}))).await;
        assert_eq!(status, 400, "{expires_at}: {v}");
        assert_eq!(v["error"]["param"], "expires_at");
        assert!(v["error"]["message"].as_str().unwrap().contains("range"), "{v}");
        let patch = json!({"expires_at": expires_at});
        let (status, _) = gw.admin("PATCH", &format!("/api/v1/keys/{}", f.key_id), Some(patch)).await;
        assert_eq!(status, 400);
    }
    let (status, v) = gw.admin("GET", "/api/v1/calls?from=99999999999999999", None).await;
    assert_eq!((status, v["error"]["param"].as_str()), (400, Some("from")), "{v}");
    // The far future that fits is accepted and the key works.
    let k = gw
        .admin_ok(
            "POST",
            "/api/v1/keys",
            Some(json!({"user_id": f.user_id, "expires_at": "9999-12-31T00:00:00Z"})),
            201,
        )
        .await;
    assert_eq!(k["expires_at"], "9999-12-31T00:00:00Z");
    let resp = gw
        .chat(k["key"].as_str().unwrap(), json!({"model": f.model, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    // Provider timeouts past a week are refused (they overflowed the attempt's deadline).
    let body =
        json!({"name": "slow", "kind": "openai", "base_url": mock.base_url(), "timeouts": {"total_ms": u64::MAX}});
    let (status, v) = gw.admin("POST", "/api/v1/providers", Some(body)).await;
    assert_eq!((status, v["error"]["param"].as_str()), (400, Some("timeouts")), "{v}");
    gw.stop().await;
}

#[tokio::test]
async fn non_json_bodies_are_a_415_in_the_callers_dialect() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    let body = json!({"model": f.model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let send = |path: &str, ct: Option<&str>, key: &str| {
        let mut req = gw.http.post(format!("{}{path}", gw.url)).bearer_auth(key).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let resp = send("/v1/chat/completions", Some(ct), &f.key).await.unwrap();
        let v = crate::setup::expect_error(resp, 415, "invalid_request_error").await;
        assert_eq!(v["error"]["code"], "unsupported_media_type", "{v}");
        let resp = send("/v1/messages", Some(ct), &f.key).await.unwrap();
        crate::setup::expect_anthropic_error(resp, 415, "invalid_request_error").await;
        let (status, _) = {
            let resp = send("/api/v1/users", Some(ct), MASTER_KEY).await.unwrap();
            (resp.status().as_u16(), ())
        };
        assert_eq!(status, 415, "the management API too");
    }
    assert_eq!(mock.stats().total, 0, "nothing reached the provider");
    // JSON with parameters, and no content type at all, are read.
    assert_eq!(
        send("/v1/chat/completions", Some("application/json; charset=utf-8"), &f.key).await.unwrap().status(),
        200
    );
    assert_eq!(send("/v1/chat/completions", None, &f.key).await.unwrap().status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn stored_strings_have_length_and_character_limits() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::new(&gw, &mock.base_url(), "1").await;
        let huge_url = format!("{}/{}", mock.base_url(), "a".repeat(1 << 20));
        let cases = [
            ("/api/v1/providers", json!({"name": "p1", "kind": "openai", "base_url": huge_url}), "base_url"),
            ("/api/v1/providers", json!({"name": "nul\u{0}name", "kind": "openai"}), "name"),
            ("/api/v1/providers", json!({"name": "\u{202E}lanimret", "kind": "openai"}), "name"),
            ("/api/v1/users", json!({"name": "a".repeat(201)}), "name"),
            ("/api/v1/users", json!({"name": "bell\u{7}"}), "name"),
            ("/api/v1/keys", json!({"user_id": f.user_id, "name": "k\u{2066}x"}), "name"),
            ("/api/v1/keys", json!({"user_id": f.user_id, "models": ["ok", "bad\nline"]}), "models"),
            (
                "/api/v1/models",
                json!({"name": "m\u{0}", "targets": [{"provider": f.provider_name, "model": "x"}]}),
                "name",
            ),
        ];
        for (path, body, param) in cases {
            let (status, v) = gw.admin("POST", path, Some(body)).await;
            assert_eq!((status, v["error"]["param"].as_str()), (400, Some(param)), "{path}: {v}");
        }
        let grant = json!({"amount": "1", "note": "x".repeat(1001)});
        let (status, v) = gw.admin("POST", &format!("/api/v1/users/{}/credits", f.user_id), Some(grant)).await;
        assert_eq!((status, v["error"]["param"].as_str()), (400, Some("note")), "{v}");
        let (status, v) =
            gw.admin("PATCH", &format!("/api/v1/users/{}", f.user_id), Some(json!({"name": "x\u{0}"}))).await;
        assert_eq!((status, v["error"]["param"].as_str()), (400, Some("name")), "{v}");
        // Names in other scripts are names.
        gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "张伟 👩‍💻"})), 201).await;
        let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
        assert_eq!(providers["data"].as_array().unwrap().len(), 1, "nothing refused was stored");
        gw.stop().await;
    }
}
