//! Image URLs through the real gateway: Gemini and Bedrock take only inline images, so the
//! gateway fetches the URL (from the mock's `/_img/...` routes) and sends the exact bytes;
//! OpenAI and Anthropic providers get the URL unchanged and nothing is fetched. Refusals —
//! private addresses, size, type, redirects, time — are the client's 400 in its dialect,
//! recorded on the call, never charged.

use base64::Engine as _;
use mock_provider::{GIF, JPEG, MockServer, PNG, WEBP};
use serde_json::{Value, json};

use crate::harness::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A gateway that may fetch images from the mock's address only (so a redirect to any other
/// private address is still refused), with `env` on top.
async fn gateway(env: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("TOLLGATE_IMAGE_FETCH_ALLOW_PRIVATE".to_string(), "127.0.0.1".to_string())];
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Gateway::start_with(GatewayOptions { env: all, ..GatewayOptions::default() }).await
}

/// A provider of `kind` on the mock, a model on it falling back to `fallbacks`; the model name.
async fn model(gw: &Gateway, mock: &MockServer, kind: &str, scenario: &str, fallbacks: &[&str]) -> String {
    let suffix = &tollgate::store::new_id()[24..];
    let name = format!("{kind}{suffix}");
    let base_url = match kind {
        "openai" => mock.scenario_url(scenario),
        _ => mock.scenario_root(scenario),
    };
    let p = gw
        .admin_ok("POST", "/api/v1/providers", Some(json!({"name": name, "kind": kind, "base_url": base_url})), 201)
        .await;
    let api_key = match kind {
        "bedrock" => json!({"access_key_id": "AKIDIMG", "secret_access_key": "s", "region": "us-east-1"}).to_string(),
        _ => "img-key-4242".to_string(),
    };
    let id = p["id"].as_str().unwrap();
    gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": api_key})), 201).await;
    let model = format!("m-{kind}{suffix}");
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": model, "targets": [{"provider": name, "model": "vision-1"}], "fallbacks": fallbacks,
            "pricing": {"input": 1, "output": 1}})),
        201,
    )
    .await;
    model
}

/// A user with 10 credits and a key: (key, key id, user id).
async fn client(gw: &Gateway) -> (String, String, String) {
    let user = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "viewer"})), 201).await;
    let uid = user["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{uid}/credits"), Some(json!({"amount": "10"})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": uid})), 201).await;
    (k["key"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string(), uid)
}

fn openai_image(model: &str, urls: &[&str]) -> Value {
    let mut content = vec![json!({"type": "text", "text": "what is this?"})];
    content.extend(urls.iter().map(|u| json!({"type": "image_url", "image_url": {"url": u}})));
    json!({"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": content}]})
}

fn anthropic_image(model: &str, urls: &[&str]) -> Value {
    let mut content: Vec<Value> =
        urls.iter().map(|u| json!({"type": "image", "source": {"type": "url", "url": u}})).collect();
    content.push(json!({"type": "text", "text": "what is this?"}));
    json!({"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": content}]})
}

/// The inline images of the last upstream request: (media type, base64), in order.
fn inline_images(mock: &MockServer) -> Vec<(String, String)> {
    let last = mock.last_request().unwrap();
    let mut found = Vec::new();
    for message in last.body[if last.dialect == "gemini" { "contents" } else { "messages" }].as_array().unwrap() {
        let parts = &message[if last.dialect == "gemini" { "parts" } else { "content" }];
        for part in parts.as_array().unwrap() {
            if let Some(blob) = part.get("inlineData") {
                found
                    .push((blob["mimeType"].as_str().unwrap().to_string(), blob["data"].as_str().unwrap().to_string()));
            }
            if let Some(image) = part.get("image") {
                let media_type = format!("image/{}", image["format"].as_str().unwrap());
                found.push((media_type, image["source"]["bytes"].as_str().unwrap().to_string()));
            }
        }
    }
    found
}

async fn ok(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn gemini_and_bedrock_get_fetched_image_bytes_inline_from_both_dialects() {
    let mock = mock().await;
    let gw = gateway(&[]).await;
    let (key, _, _) = client(&gw).await;
    for kind in ["gemini", "bedrock"] {
        let m = model(&gw, &mock, kind, "chunks=2", &[]).await;
        for (name, bytes, media_type) in
            [("png", PNG, "image/png"), ("jpeg", JPEG, "image/jpeg"), ("webp", WEBP, "image/webp")]
        {
            mock.reset();
            let url = mock.image_url(name);
            ok(gw.chat(&key, openai_image(&m, &[&url])).await).await;
            assert_eq!(inline_images(&mock), vec![(media_type.to_string(), b64(bytes))], "{kind} {name}");
            ok(gw.messages(&key, anthropic_image(&m, &[&url])).await).await;
            assert_eq!(inline_images(&mock), vec![(media_type.to_string(), b64(bytes))], "{kind} {name}");
            let fetches = mock.image_requests();
            assert_eq!(fetches.len(), 2, "one fetch per request");
            let header = |n: &str| fetches[0].headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            assert!(header("user-agent").unwrap().starts_with("Tollgate/"), "{fetches:?}");
            assert!(header("cookie").is_none() && header("authorization").is_none(), "{fetches:?}");
        }
        // The bytes decide the type, not the server's label; the same URL twice is fetched once.
        mock.reset();
        let mislabeled = format!("{}?type=image/jpeg", mock.image_url("png"));
        ok(gw.chat(&key, openai_image(&m, &[&mislabeled, &mislabeled])).await).await;
        assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG)), ("image/png".into(), b64(PNG))]);
        assert_eq!(mock.image_requests().len(), 1);
        // A redirect to an allowed address is followed.
        mock.reset();
        let redirect = format!("{}?to=/_img/png", mock.image_url("redirect"));
        ok(gw.messages(&key, anthropic_image(&m, &[&redirect])).await).await;
        assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG))]);
        assert_eq!(mock.image_requests().len(), 2, "the redirect and its target");
        // Streams too.
        mock.reset();
        let mut body = openai_image(&m, &[&mock.image_url("png")]);
        body["stream"] = json!(true);
        let resp = gw.chat(&key, body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(sse_data(&resp.text().await.unwrap()).last().unwrap(), "[DONE]");
        assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG))]);
    }
    // Bedrock takes GIF; Gemini does not list it, so a fetched GIF is refused there.
    let bedrock = model(&gw, &mock, "bedrock", "chunks=2", &[]).await;
    ok(gw.chat(&key, openai_image(&bedrock, &[&mock.image_url("gif")])).await).await;
    assert_eq!(inline_images(&mock), vec![("image/gif".into(), b64(GIF))]);
    let gemini = model(&gw, &mock, "gemini", "chunks=2", &[]).await;
    let resp = gw.chat(&key, openai_image(&gemini, &[&mock.image_url("gif")])).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("its type (image/gif) is not one"), "{v}");
}

#[tokio::test]
async fn data_urls_and_inline_images_still_go_inline_without_a_fetch() {
    let mock = mock().await;
    let gw = gateway(&[]).await;
    let (key, _, _) = client(&gw).await;
    for kind in ["gemini", "bedrock"] {
        let m = model(&gw, &mock, kind, "chunks=2", &[]).await;
        let data_url = format!("data:image/png;base64,{}", b64(PNG));
        ok(gw.chat(&key, openai_image(&m, &[&data_url])).await).await;
        assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG))], "{kind}");
        let base64 = json!({"model": m, "max_tokens": 20, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)}},
            {"type": "image", "source": {"type": "url", "url": data_url}},
            {"type": "text", "text": "and these?"}]}]});
        ok(gw.messages(&key, base64).await).await;
        assert_eq!(inline_images(&mock), vec![("image/jpeg".into(), b64(JPEG)), ("image/png".into(), b64(PNG))]);
    }
    assert!(mock.image_requests().is_empty());
}

#[tokio::test]
async fn providers_that_take_urls_get_them_unchanged_and_nothing_is_fetched() {
    let mock = mock().await;
    let gw = gateway(&[]).await;
    let (key, _, _) = client(&gw).await;
    let url = format!("{}?sig=abc", mock.image_url("png"));
    let openai = model(&gw, &mock, "openai", "chunks=2", &[]).await;
    ok(gw.chat(&key, openai_image(&openai, &[&url])).await).await;
    let last = mock.last_request().unwrap();
    assert_eq!(last.body["messages"][0]["content"][1]["image_url"]["url"], url.as_str());
    ok(gw.messages(&key, anthropic_image(&openai, &[&url])).await).await;
    let last = mock.last_request().unwrap();
    assert_eq!(last.body["messages"][0]["content"][0]["image_url"]["url"], url.as_str(), "{}", last.body);
    let anthropic = model(&gw, &mock, "anthropic", "chunks=2", &[]).await;
    ok(gw.chat(&key, openai_image(&anthropic, &[&url])).await).await;
    let last = mock.last_request().unwrap();
    assert_eq!(last.body["messages"][0]["content"][1]["source"], json!({"type": "url", "url": url}));
    // A model whose first route takes URLs and whose fallback is Gemini: no fetch while the
    // first route answers.
    let gemini = model(&gw, &mock, "gemini", "chunks=2", &[]).await;
    let first = model(&gw, &mock, "openai", "chunks=2", &[&gemini]).await;
    ok(gw.chat(&key, openai_image(&first, &[&url])).await).await;
    assert_eq!(mock.last_request().unwrap().dialect, "openai");
    assert!(mock.image_requests().is_empty(), "{:?}", mock.image_requests());
    // Unauthenticated: refused before anything is fetched.
    let resp = gw.chat("tg-not-a-key", openai_image(&gemini, &[&url])).await;
    assert_eq!(resp.status(), 401);
    assert!(mock.image_requests().is_empty());
}

#[tokio::test]
async fn failover_between_inline_providers_fetches_once() {
    let mock = mock().await;
    let gw = gateway(&[]).await;
    let (key, _, _) = client(&gw).await;
    let bedrock = model(&gw, &mock, "bedrock", "chunks=2", &[]).await;
    let gemini_down = model(&gw, &mock, "gemini", "status=500", &[&bedrock]).await;
    let v = ok(gw.chat(&key, openai_image(&gemini_down, &[&mock.image_url("png")])).await).await;
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello"), "{v}");
    assert_eq!(mock.last_request().unwrap().dialect, "bedrock");
    assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG))]);
    assert!(mock.stats().by_dialect.get("gemini").is_some_and(|n| *n >= 1), "gemini was tried first");
    assert_eq!(mock.image_requests().len(), 1, "fetched once for both providers");
}

/// The failure each dialect sees, the record, the balance, and the log's discretion.
#[tokio::test]
async fn refused_image_urls_are_the_clients_400_recorded_and_not_charged() {
    let mock = mock().await;
    let gw = gateway(&[
        ("TOLLGATE_IMAGE_FETCH_MAX_BYTES", "1000"),
        ("TOLLGATE_IMAGE_FETCH_TIMEOUT_MS", "500"),
        ("TOLLGATE_IMAGE_FETCH_MAX_IMAGES", "2"),
    ])
    .await;
    let (key, key_id, uid) = client(&gw).await;
    let gemini = model(&gw, &mock, "gemini", "chunks=2", &[]).await;
    let bedrock = model(&gw, &mock, "bedrock", "chunks=2", &[]).await;
    let img = |name: &str, query: &str| format!("{}{query}", mock.image_url(name));
    let cases = [
        (img("big", "?bytes=5000"), "the image is larger than the 1000-byte limit"),
        (img("big", "?bytes=5000&length=none"), "the image is larger than the 1000-byte limit"),
        (img("text", "?sig=topsecret"), "not a png, jpeg, gif or webp image (the server sent text/html)"),
        (img("text", "?type=image/png"), "not a png, jpeg, gif or webp image (the server sent image/png)"),
        (img("redirect", "?to=http://169.254.169.254/latest/meta-data/"), "redirected: the address is private"),
        (img("redirect", "?to=http://10.0.0.1/a.png"), "redirected: the address is private"),
        (img("slow", "?ms=3000"), "timed out after 500 ms"),
        (img("nothing", ""), "the server answered 404"),
        ("http://192.168.0.1/a.png".to_string(), "the address is private, local or a metadata service"),
        ("ftp://example.com/a.png".to_string(), "only http and https image URLs are fetched"),
    ];
    let mut failed = 0;
    for (n, (url, why)) in cases.iter().enumerate() {
        let (m, anthropic) = ([&gemini, &bedrock][n % 2], n % 4 >= 2);
        let resp = if anthropic {
            gw.messages(&key, anthropic_image(m, &[url])).await
        } else {
            gw.chat(&key, openai_image(m, &[url])).await
        };
        assert_eq!(resp.status(), 400, "{url}");
        let v: Value = resp.json().await.unwrap();
        let shown = url.split('?').next().unwrap();
        let message = v["error"]["message"].as_str().unwrap_or_else(|| panic!("{v}"));
        assert!(message.starts_with(&format!("image URL {shown}")), "{message}");
        assert!(message.ends_with(&format!("could not be fetched: {why}")) || message.contains(why), "{message}");
        assert!(!message.contains("topsecret"), "the query is not repeated: {message}");
        if anthropic {
            assert_eq!(
                (v["type"].as_str(), v["error"]["type"].as_str()),
                (Some("error"), Some("invalid_request_error"))
            );
        } else {
            assert_eq!(
                (v["error"]["type"].as_str(), v["error"]["code"].as_str()),
                (Some("invalid_request_error"), Some("image_fetch_failed"))
            );
        }
        failed += 1;
    }
    assert_eq!(mock.stats().total, 0, "no provider was called");
    let calls = gw.calls_until(&key_id, |c| c.len() == failed && c.iter().all(|c| c["status"] != "processing")).await;
    for c in &calls {
        assert_eq!((c["status"].as_str(), c["http_status"].as_i64()), (Some("failed"), Some(400)), "{c}");
        assert_eq!((c["error_class"].as_str(), c["cost"].as_str()), (Some("image_fetch_failed"), Some("0")), "{c}");
    }
    let user = gw.admin_ok("GET", &format!("/api/v1/users/{uid}"), None, 200).await;
    assert_eq!(user["balance"], "10");
    let log = gw.log();
    assert!(log.contains("image URL on host 127.0.0.1"), "the log names the host");
    assert!(!log.contains("topsecret"), "the log never has the query");
    // More URLs than allowed: refused before admission, nothing fetched.
    mock.reset();
    let resp = gw.chat(&key, openai_image(&gemini, &[&img("png", ""), &img("jpeg", ""), &img("gif", "")])).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("at most 2"), "{v}");
    assert!(mock.image_requests().is_empty());
}

#[tokio::test]
async fn private_image_hosts_are_refused_without_the_setting() {
    let mock = mock().await;
    // Private upstreams are allowed (the provider is the mock), private image hosts are not.
    let gw = Gateway::start(Engine::Sqlite).await;
    let (key, _, _) = client(&gw).await;
    let gemini = model(&gw, &mock, "gemini", "chunks=2", &[]).await;
    let by_ip = mock.image_url("png");
    let by_name = by_ip.replace("127.0.0.1", "localhost");
    for (url, why) in [
        (&by_ip, "the address is private, local or a metadata service"),
        (&by_name, "host resolves to a private address"),
    ] {
        let resp = gw.chat(&key, openai_image(&gemini, &[url])).await;
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["message"], format!("image URL {url} could not be fetched: {why}"), "{v}");
    }
    assert!(mock.image_requests().is_empty());
    assert_eq!(mock.stats().total, 0);
    // Fetching off: image URLs to Gemini are refused as before the gateway fetched.
    let off = gateway(&[("TOLLGATE_IMAGE_FETCH_MAX_IMAGES", "0")]).await;
    let (key, _, _) = client(&off).await;
    let gemini = model(&off, &mock, "gemini", "chunks=2", &[]).await;
    let resp = off.chat(&key, openai_image(&gemini, &[&by_ip])).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("image URLs cannot be sent"), "{v}");
    assert!(mock.image_requests().is_empty());
}

/// The official `openai` SDK sending an `image_url` to a Gemini model: the provider gets the
/// fetched bytes inline and the SDK an ordinary completion.
#[tokio::test]
async fn the_openai_sdk_sends_an_image_url_to_gemini() {
    let python = tokio::task::spawn_blocking(crate::sdk::python).await.unwrap();
    let mock = mock().await;
    let gw = gateway(&[]).await;
    let (key, _, _) = client(&gw).await;
    let gemini = model(&gw, &mock, "gemini", "chunks=2", &[]).await;
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["KEY"])
r = client.chat.completions.create(model=os.environ["MODEL"], max_tokens=20, messages=[{"role": "user", "content": [
    {"type": "text", "text": "what is this?"},
    {"type": "image_url", "image_url": {"url": os.environ["IMAGE"], "detail": "low"}}]}])
print(r.choices[0].message.content)
"#;
    let out = tokio::process::Command::new(&python)
        .args(["-c", script])
        .env("BASE_URL", format!("{}/v1", gw.url))
        .env("KEY", &key)
        .env("MODEL", &gemini)
        .env("IMAGE", mock.image_url("png"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("Hello"), "{stdout}");
    assert_eq!(inline_images(&mock), vec![("image/png".into(), b64(PNG))]);
    assert_eq!(mock.image_requests().len(), 1);
}
