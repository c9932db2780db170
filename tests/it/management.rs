//! The management API: auth, validation, secrets at rest, first start and declarative config.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn management_requires_the_master_key_and_validates_writes() {
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let (s, v) = gw.request_as("wrong-key", "GET", "/api/v1/users", None).await;
        assert_eq!((s, v["error"]["type"].as_str()), (401, Some("authentication_error")));
        let (s, _) = gw.request_as("", "GET", "/api/v1/providers", None).await;
        assert_eq!(s, 401);

        let bad = [
            ("/api/v1/providers", json!({"name": "x", "kind": "nope", "base_url": "http://a.example/v1"}), "kind"),
            ("/api/v1/providers", json!({"name": "", "kind": "openai"}), "name"),
            ("/api/v1/providers", json!({"name": "x", "kind": "openai", "base_url": "ftp://x"}), "base_url"),
            ("/api/v1/providers", json!({"name": "x", "kind": "openai", "bogus": 1}), "bogus"),
            ("/api/v1/users", json!({"name": "u", "role": "root"}), "role"),
            ("/api/v1/keys", json!({"name": "k"}), "user_id"),
            ("/api/v1/models", json!({"name": "m", "targets": []}), "target"),
            ("/api/v1/models", json!({"name": "m", "targets": [{"provider": "ghost", "model": "x"}]}), "ghost"),
        ];
        for (path, body, mentions) in bad {
            let (s, v) = gw.admin("POST", path, Some(body.clone())).await;
            assert_eq!(s, 400, "{path} {body} → {v}");
            assert_eq!(v["error"]["type"], "invalid_request_error");
            assert!(v["error"]["message"].as_str().unwrap().contains(mentions), "{v}");
        }
        let (s, v) = gw.admin("POST", "/api/v1/users", None).await;
        assert_eq!((s, v["error"]["type"].as_str()), (400, Some("invalid_request_error")));

        let p = json!({"name": "dup", "kind": "openai", "base_url": "https://api.example.com/v1"});
        gw.admin_ok("POST", "/api/v1/providers", Some(p.clone()), 201).await;
        let (s, v) = gw.admin("POST", "/api/v1/providers", Some(p)).await;
        assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")));

        let (s, _) = gw.admin("GET", "/api/v1/users/does-not-exist", None).await;
        assert_eq!(s, 404);
        let u = gw.admin_created("/api/v1/users", json!({"name": "bob"})).await;
        let path = format!("/api/v1/users/{}/credits", u["id"].as_str().unwrap());
        for amount in [json!(0), json!("1e3"), json!("0.0000000001"), json!("abc"), json!(-1)] {
            let (s, v) = gw.admin("POST", &path, Some(json!({"amount": amount}))).await;
            assert_eq!(s, 400, "{amount} → {v}");
        }
        let e = gw.admin_created(&path, json!({"amount": 0.1})).await;
        assert_eq!(e["amount"], "0.1", "JSON numbers are read exactly, not as floats");
        let (s, v) = gw.admin("GET", "/api/v1/calls?limit=abc", None).await;
        assert_eq!((s, v["error"]["type"].as_str()), (400, Some("invalid_request_error")));
        gw.stop().await;
    }
}

impl Gateway {
    async fn admin_created(&self, path: &str, body: Value) -> Value {
        self.admin_ok("POST", path, Some(body), 201).await
    }

    async fn admin_ok_status(&self, method: &str, path: &str) -> Value {
        self.admin_ok(method, path, None, 200).await
    }
}

#[tokio::test]
async fn provider_keys_are_encrypted_at_rest_and_shown_masked() {
    let gw = Gateway::start(Engine::Sqlite).await;
    let p = gw
        .admin_created(
            "/api/v1/providers",
            json!({"name": "p", "kind": "openai", "base_url": "https://api.example.com/v1"}),
        )
        .await;
    let pid = p["id"].as_str().unwrap();
    let secret = "sk-live-plaintext-should-never-be-stored-9876";
    let c = gw
        .admin_created(&format!("/api/v1/providers/{pid}/credentials"), json!({"api_key": secret, "weight": 5}))
        .await;
    assert_eq!(c["api_key_masked"], "sk-l…9876");
    assert_eq!(c["weight"], 5);
    assert!(!c.to_string().contains(secret));
    let list = gw.admin_ok_status("GET", &format!("/api/v1/providers/{pid}/credentials")).await;
    assert!(!list.to_string().contains(secret));
    gw.http.get(format!("{}/healthz", gw.url)).send().await.unwrap();
    // Nothing in the data directory (database, WAL, journal) holds the key in plaintext.
    assert!(!any_file_contains(&gw.data_dir(), secret.as_bytes()));
    assert!(!gw.log().contains(secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(gw.data_dir().join("encryption.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    gw.stop().await;
}

#[tokio::test]
async fn first_start_without_a_master_key_creates_an_admin_and_prints_it_once() {
    let mut gw = Gateway::start_with(GatewayOptions { master_key: None, ..GatewayOptions::default() }).await;
    let key = gw
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("management API key: "))
        .expect("the banner prints the admin key")
        .to_string();
    assert!(gw.banner.contains("console login:      admin / "));
    let (s, v) = gw.request_as(&key, "GET", "/api/v1/users", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["role"], "admin");
    gw.terminate().await;
    gw.spawn().await;
    assert!(!gw.banner.contains("management API key"), "printed only on the first start");
    assert_eq!(gw.request_as(&key, "GET", "/api/v1/users", None).await.0, 200, "the key survives restarts");
    assert_eq!(gw.request_as(MASTER_KEY, "GET", "/api/v1/users", None).await.0, 401);
    gw.stop().await;
}

#[tokio::test]
async fn declared_providers_and_models_are_applied_at_start() {
    let mock = mock().await;
    let toml = format!(
        r#"
[[providers]]
name = "declared"
kind = "openai"
base_url = "{}"
credentials = [{{ name = "main", api_key = "${{MOCK_PROVIDER_KEY}}" }}]
request_fee = "0.001"

[[models]]
name = "declared-model"
targets = [{{ provider = "declared", model = "mock-gpt" }}]
pricing = {{ input = 1, output = 2 }}
multiplier = 1.25

[markup]
multiplier = "1.1"
"#,
        mock.base_url()
    );
    let mut gw = Gateway::start_with(GatewayOptions {
        config_toml: Some(toml),
        env: vec![("MOCK_PROVIDER_KEY".into(), "sk-from-env-1234".into())],
        ..GatewayOptions::default()
    })
    .await;
    let u = gw.admin_created("/api/v1/users", json!({"name": "d"})).await;
    let uid = u["id"].as_str().unwrap();
    gw.admin_created(&format!("/api/v1/users/{uid}/credits"), json!({"amount": 1})).await;
    let k = gw.admin_created("/api/v1/keys", json!({"user_id": uid})).await;
    let key = k["key"].as_str().unwrap();
    let resp = gw.chat(key, json!({"model": "declared-model", "messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(resp.status(), 200);
    let last = mock.last_request().unwrap();
    assert!(last.headers.iter().any(|(k, v)| k == "authorization" && v == "Bearer sk-from-env-1234"));
    // The declared markups: global ×1.1, the provider's fee, the model's ×1.25.
    assert_eq!(gw.admin_ok_status("GET", "/api/v1/markup").await["multiplier"], "1.1");
    assert_eq!(gw.admin_ok_status("GET", "/api/v1/providers/declared").await["request_fee"], "0.001");
    assert_eq!(gw.admin_ok_status("GET", "/api/v1/models/declared-model").await["multiplier"], "1.25");
    let key_id = k["id"].as_str().unwrap();
    let calls = gw.calls_until(key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    let c = &calls[0];
    let nanos = |v: &Value| tollgate::billing::money::parse_credits(v.as_str().unwrap()).unwrap();
    let base = nanos(&c["provider_cost"]);
    assert!(base > 0, "{c}");
    assert_eq!(nanos(&c["cost"]), (base * 5 + 3) / 4 + 1_000_000, "×1.25 + 0.001: {c}");
    // Applying again on restart updates in place instead of duplicating.
    gw.terminate().await;
    gw.spawn().await;
    let providers = gw.admin_ok_status("GET", "/api/v1/providers").await;
    assert_eq!(providers["data"].as_array().unwrap().len(), 1);
    let resp = gw.chat(key, json!({"model": "declared-model", "messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let gw = Gateway::start(Engine::Sqlite).await;
    let h: Value = gw.http.get(format!("{}/healthz", gw.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["status"], "ok");
    let r = gw.http.get(format!("{}/readyz", gw.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["database"], "sqlite");
    let nf = gw.http.get(format!("{}/nope", gw.url)).send().await.unwrap();
    assert_eq!(nf.status(), 404);
    gw.stop().await;
}
