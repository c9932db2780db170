//! The SSRF corpus (`ssrf_corpus.rs`, 60 URLs) against every place a URL enters the gateway:
//! a provider's `base_url` (created and updated) and the image URLs of chat requests to a
//! provider that takes only inline images. A canary listener on loopback counts every
//! connection that gets through; it must count none.
//!
//! The knobs are off, as a deployment has them: `TOLLGATE_ALLOW_PRIVATE_UPSTREAMS` (on in the
//! harness, because the mock provider runs on loopback) is set to `false` for `base_url`, and
//! `[image_fetch] allow_private` stays at its default (off) for image URLs. Redirects are the
//! exception that needs a reachable first hop: there only the mock's own address is allowed,
//! and every redirect into the corpus must still be refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::harness::*;
use crate::ssrf_corpus::{Payload, corpus};

/// A listener on 127.0.0.1 (and `[::1]` on the same port where it can) that counts connections.
struct Canary {
    port: u16,
    hits: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Canary {
    async fn start() -> Canary {
        let v4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = v4.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let mut listeners = vec![v4];
        if let Ok(v6) = tokio::net::TcpListener::bind(("::1", port)).await {
            listeners.push(v6);
        }
        let tasks = listeners
            .into_iter()
            .map(|l| {
                let hits = hits.clone();
                tokio::spawn(async move {
                    while let Ok((conn, _)) = l.accept().await {
                        hits.fetch_add(1, Ordering::SeqCst);
                        drop(conn);
                    }
                })
            })
            .collect();
        Canary { port, hits, tasks }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

#[test]
fn the_corpus_has_more_than_40_payloads() {
    let c = corpus(1);
    assert!(c.len() >= 40, "{}", c.len());
    let mut seen = std::collections::HashSet::new();
    assert!(c.iter().all(|p| seen.insert(&p.url)), "no payload twice");
}

#[tokio::test]
async fn provider_base_urls_from_the_corpus_are_refused() {
    let mock = mock().await;
    let canary = Canary::start().await;
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS".into(), "false".into())],
        ..GatewayOptions::default()
    })
    .await;
    // The knob is off: the mock itself is refused.
    let (status, _) = gw
        .admin("POST", "/api/v1/providers", Some(json!({"name": "m", "kind": "openai", "base_url": mock.base_url()})))
        .await;
    assert_eq!(status, 400, "private upstreams are refused");
    let good = gw
        .admin_ok(
            "POST",
            "/api/v1/providers",
            Some(json!({"name": "public", "kind": "openai", "base_url": "https://api.openai.com/v1"})),
            201,
        )
        .await;
    let good_path = format!("/api/v1/providers/{}", good["id"].as_str().unwrap());
    let user =
        gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "u"})), 201).await["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user}/credits"), Some(json!({"amount": "1"})), 201).await;
    let key = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user})), 201).await["key"]
        .as_str()
        .unwrap()
        .to_string();

    let mut failures = Vec::new();
    for (n, Payload { url, tries, resolved, .. }) in corpus(canary.port).iter().enumerate() {
        for kind in ["openai", "anthropic"] {
            let name = format!("p{n}{kind}");
            let body = json!({"name": name, "kind": kind, "base_url": url});
            let (created, v) = gw.admin("POST", "/api/v1/providers", Some(body)).await;
            let (updated, u) = gw.admin("PATCH", &good_path, Some(json!({"base_url": url}))).await;
            if !*resolved {
                for (what, status, v) in [("create", created, &v), ("update", updated, &u)] {
                    if status != 400 || v["error"]["param"] != "base_url" {
                        failures.push(format!("{tries} ({kind} {what}): {status} {v:.300}"));
                    }
                }
                continue;
            }
            // Only DNS can tell: stored, and refused when a call resolves it.
            if created != 201 || updated != 200 {
                failures.push(format!("{tries}: {created}/{updated}, a public name is a valid base_url"));
                continue;
            }
            gw.admin_ok("PATCH", &good_path, Some(json!({"base_url": "https://api.openai.com/v1"})), 200).await;
            let id = v["id"].as_str().unwrap();
            gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": "sk-x"})), 201)
                .await;
            let model = format!("m{n}{kind}");
            let targets = json!([{"provider": name, "model": "x"}]);
            let priced = json!({"name": model, "targets": targets, "pricing": {"input": 1, "output": 1}});
            gw.admin_ok("POST", "/api/v1/models", Some(priced), 201).await;
            let resp = gw.chat(&key, json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})).await;
            if resp.status() != 502 {
                let status = resp.status();
                failures
                    .push(format!("{tries} ({kind}): a call answered {status} {:.300}", resp.text().await.unwrap()));
            }
        }
    }
    assert!(failures.is_empty(), "{} payloads got through:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(canary.hits(), 0, "a connection reached the canary");
    assert_eq!(mock.stats().total, 0);
    let providers = gw.admin_ok("GET", "/api/v1/providers?limit=500", None, 200).await;
    let stored: Vec<&Value> = providers["data"].as_array().unwrap().iter().collect();
    assert!(stored.iter().all(|p| p["base_url"] == "https://api.openai.com/v1" || p["base_url"].as_str().unwrap().contains("nip.io")));
    gw.stop().await;
}

fn image_body(dialect: &str, model: &str, url: &str) -> Value {
    match dialect {
        "openai" => json!({"model": model, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}]}]}),
        _ => json!({"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"}, {"type": "image", "source": {"type": "url", "url": url}}]}]}),
    }
}

/// Gemini and Bedrock models on the mock (they take only inline images, so the gateway
/// fetches), and a funded key: (models, key, key id).
async fn inline_image_models(gw: &Gateway, mock: &mock_provider::MockServer) -> (Vec<String>, String, String) {
    let mut models = Vec::new();
    for kind in ["gemini", "bedrock"] {
        let api_key = match kind {
            "bedrock" => {
                json!({"access_key_id": "AKIDSSRF", "secret_access_key": "s", "region": "us-east-1"}).to_string()
            }
            _ => "gemini-key".to_string(),
        };
        let p = gw
            .admin_ok(
                "POST",
                "/api/v1/providers",
                Some(json!({"name": kind, "kind": kind, "base_url": mock.root_url()})),
                201,
            )
            .await;
        let id = p["id"].as_str().unwrap();
        gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": api_key})), 201)
            .await;
        let model = format!("vision-{kind}");
        let targets = json!([{"provider": kind, "model": "vision-1"}]);
        gw.admin_ok(
            "POST",
            "/api/v1/models",
            Some(json!({"name": model, "targets": targets, "pricing": {"input": 1, "output": 1}})),
            201,
        )
        .await;
        models.push(model);
    }
    let user =
        gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "u"})), 201).await["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user}/credits"), Some(json!({"amount": "1"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user})), 201).await;
    (models, k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string())
}

/// Sends every URL as an image to the models, alternating kinds and dialects; answers the
/// failures (anything but a 400 in the caller's dialect).
async fn refused_as_images(
    gw: &Gateway,
    canary: &Canary,
    models: &[String],
    key: &str,
    urls: &[(String, &str)],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, (url, tries)) in urls.iter().enumerate() {
        let (model, dialect) = (&models[n % 2], ["openai", "anthropic"][(n / 2) % 2]);
        let resp = match dialect {
            "openai" => gw.chat(key, image_body(dialect, model, url)).await,
            _ => gw.messages(key, image_body(dialect, model, url)).await,
        };
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or_default();
        if canary.hits() > 0 {
            failures.push(format!("{tries} ({dialect} → {model}): reached the canary"));
            canary.hits.store(0, Ordering::SeqCst);
        }
        let shaped = match dialect {
            "openai" => v["error"]["type"] == "invalid_request_error" && v.get("type").is_none(),
            _ => v["type"] == "error" && v["error"]["type"] == "invalid_request_error",
        };
        if status != 400 || !shaped {
            failures.push(format!("{tries} ({dialect} → {model}): {status} {v:.300}"));
        }
    }
    failures
}

#[tokio::test]
async fn image_urls_from_the_corpus_are_never_fetched() {
    let mock = mock().await;
    let canary = Canary::start().await;
    // `[image_fetch] allow_private` at its default: off.
    let gw = Gateway::start(Engine::Sqlite).await;
    let (models, key, key_id) = inline_image_models(&gw, &mock).await;
    let urls: Vec<(String, &str)> = corpus(canary.port).into_iter().map(|p| (p.url, p.tries)).collect();
    let failures = refused_as_images(&gw, &canary, &models, &key, &urls).await;
    assert!(failures.is_empty(), "{} image URLs were not refused:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(canary.hits(), 0, "a fetch reached the canary");
    assert!(mock.image_requests().is_empty());
    assert_eq!(mock.stats().total, 0, "no provider was called");
    let calls =
        gw.calls_until(&key_id, |c| c.len() == urls.len() && c.iter().all(|c| c["status"] != "processing")).await;
    assert!(calls.iter().all(|c| c["cost"] == "0" && c["http_status"] == 400), "refusals cost nothing");
    gw.stop().await;
}

#[tokio::test]
async fn image_redirects_into_the_corpus_are_never_followed() {
    let mock = mock().await;
    let canary = Canary::start().await;
    // The mock's address (127.0.0.1) may be fetched, so its redirect is a first hop the
    // gateway takes; nothing else private may be, so each redirect into the corpus is refused.
    // Payloads that are 127.0.0.1 itself are what this setting allows, and are left out.
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE".into(), "127.0.0.1".into())],
        ..GatewayOptions::default()
    })
    .await;
    let (models, key, _) = inline_image_models(&gw, &mock).await;
    let encode = |u: &str| url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let urls: Vec<(String, &str)> = corpus(canary.port)
        .into_iter()
        .filter(|p| !p.loopback_v4 && p.url.len() < 8000)
        .map(|p| (format!("{}?to={}", mock.image_url("redirect"), encode(&p.url)), p.tries))
        .collect();
    assert!(urls.len() >= 35, "{}", urls.len());
    let failures = refused_as_images(&gw, &canary, &models, &key, &urls).await;
    assert!(failures.is_empty(), "{} redirects were not refused:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(canary.hits(), 0, "a redirect reached the canary");
    let requests = mock.image_requests();
    assert_eq!(requests.len(), urls.len(), "only the first hops were fetched");
    assert!(
        requests.iter().all(|r| r.path.starts_with("/_img/redirect")),
        "{:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    gw.stop().await;
}
