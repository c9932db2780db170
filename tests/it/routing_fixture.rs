//! Providers with several credentials, models over them and paying clients: the set-up the
//! routing, resilience and metrics tests share, with the mock's per-key request counts.

use serde_json::{Value, json};

use crate::harness::*;

/// Short breaker and re-test times so every cycle fits in a test.
pub fn fast_routing_env() -> Vec<(String, String)> {
    [
        ("TOLLGATE_BREAKER_MIN_REQUESTS", "4"),
        ("TOLLGATE_BREAKER_ERROR_PERCENT", "50"),
        ("TOLLGATE_BREAKER_COOLOFF_MS", "500"),
        ("TOLLGATE_BREAKER_WINDOW_MS", "60000"),
        ("TOLLGATE_RETEST_BASE_MS", "200"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub async fn gateway(engine: Engine) -> Gateway {
    Gateway::start_with(GatewayOptions { engine, env: fast_routing_env(), ..GatewayOptions::default() }).await
}

/// A provider at `base_url` with credentials `(api_key, weight)`; answers its name, id and
/// the credential ids in order.
pub async fn provider(
    gw: &Gateway,
    base_url: &str,
    creds: &[(&str, i64)],
    timeouts: Option<Value>,
) -> (String, String, Vec<String>) {
    let name = format!("p{}", &tollgate::store::new_id()[24..]);
    let mut body = json!({"name": name, "kind": "openai", "base_url": base_url});
    if let Some(t) = timeouts {
        body["timeouts"] = t;
    }
    let p = gw.admin_ok("POST", "/api/v1/providers", Some(body), 201).await;
    let id = p["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for (key, weight) in creds {
        let c = gw
            .admin_ok(
                "POST",
                &format!("/api/v1/providers/{id}/credentials"),
                Some(json!({"api_key": key, "weight": weight})),
                201,
            )
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    (name, id, ids)
}

/// A priced model over `targets` (`[(provider name, upstream model, weight)]`).
pub async fn model(gw: &Gateway, targets: &[(&str, &str, i64)], fallbacks: &[&str]) -> String {
    let name = format!("m{}", &tollgate::store::new_id()[24..]);
    let targets: Vec<Value> = targets.iter().map(|(p, m, w)| json!({"provider": p, "model": m, "weight": w})).collect();
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": name, "targets": targets, "fallbacks": fallbacks, "pricing": {"input": 1, "output": 1}})),
        201,
    )
    .await;
    name
}

/// A user with credits and a key: (key, key id).
pub async fn client(gw: &Gateway) -> (String, String) {
    let user = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "bob"})), 201).await;
    let uid = user["id"].as_str().unwrap();
    gw.admin_ok("POST", &format!("/api/v1/users/{uid}/credits"), Some(json!({"amount": "100"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": uid})), 201).await;
    (k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string())
}

pub fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

pub fn count(mock: &mock_provider::MockServer, key: &str) -> u64 {
    mock.stats().by_key.get(key).copied().unwrap_or(0)
}

pub async fn credential_health(gw: &Gateway, provider_id: &str, cred_id: &str) -> Value {
    let list = gw.admin_ok("GET", &format!("/api/v1/providers/{provider_id}/credentials"), None, 200).await;
    list["data"].as_array().unwrap().iter().find(|c| c["id"] == cred_id).unwrap().clone()
}

/// The newest call of a key once `n` calls are recorded and the newest is settled.
pub async fn last_call(gw: &Gateway, key_id: &str, n: usize) -> Value {
    let calls = gw.calls_until(key_id, |c| c.len() >= n && c[0]["status"] != "processing").await;
    calls[0].clone()
}

/// One provider with its credentials, one model over it and a client: the usual set-up.
pub struct Rig {
    pub provider_name: String,
    pub provider_id: String,
    pub credentials: Vec<String>,
    pub model: String,
    pub key: String,
    pub key_id: String,
}

impl Rig {
    pub async fn new(gw: &Gateway, base_url: &str, creds: &[(&str, i64)], timeouts: Option<Value>) -> Rig {
        let (provider_name, provider_id, credentials) = provider(gw, base_url, creds, timeouts).await;
        let model = model(gw, &[(&provider_name, "mock-gpt", 1)], &[]).await;
        let (key, key_id) = client(gw).await;
        Rig { provider_name, provider_id, credentials, model, key, key_id }
    }
}
