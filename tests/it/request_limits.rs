//! What a request may be: headers (431), body (413) and JSON nesting (400), each refused in
//! the caller's dialect — OpenAI for `/v1/chat/completions`, Anthropic for `/v1/messages`, the
//! API's JSON shape for `/api/v1` — before anything reaches a provider or a record. (The
//! OpenAI-dialect 413 of a chat body is also in `errors.rs`; admission's limits are in
//! `limits.rs`.)

use serde_json::{Value, json};

use crate::harness::*;
use tollgate::guards::header_limits::{MAX_HEADER_BYTES, MAX_HEADERS};

/// Where a limit is checked, and in which error shape it answers.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Chat,
    Messages,
    Management,
}

const ENDPOINTS: [Endpoint; 3] = [Endpoint::Chat, Endpoint::Messages, Endpoint::Management];

/// A POST of `body` to `ep` with `key` and `extra` headers.
async fn post(gw: &Gateway, ep: Endpoint, key: &str, extra: &[(String, String)], body: String) -> reqwest::Response {
    let (path, auth) = match ep {
        Endpoint::Chat => ("/v1/chat/completions", key),
        Endpoint::Messages => ("/v1/messages", key),
        Endpoint::Management => ("/api/v1/users", MASTER_KEY),
    };
    let mut req = gw
        .http
        .post(format!("{}{path}", gw.url))
        .header("authorization", format!("Bearer {auth}"))
        .header("content-type", "application/json")
        .body(body);
    if let Endpoint::Messages = ep {
        req = req.header("anthropic-version", ANTHROPIC_VERSION);
    }
    for (n, v) in extra {
        req = req.header(n, v);
    }
    req.send().await.unwrap()
}

/// The body of each endpoint, padded with `pad` bytes of prompt.
fn body(ep: Endpoint, model: &str, pad: usize) -> String {
    let text = "x".repeat(pad);
    match ep {
        Endpoint::Chat => json!({"model": model, "messages": [{"role": "user", "content": text}]}),
        Endpoint::Messages => json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": text}]}),
        // A valid user; padded, one whose e-mail is the padding (refused for its size first).
        Endpoint::Management if pad > 100 => json!({"name": "limits", "email": text}),
        Endpoint::Management => json!({"name": "limits", "plan": "prepaid"}),
    }
    .to_string()
}

/// Checks `resp` is `status` in `ep`'s error shape with `code` (where the shape has codes).
async fn refused(ep: Endpoint, resp: reqwest::Response, status: u16, code: &str) -> String {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{ep:?}: {text:.300}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{ep:?}: not JSON: {text:.300}"));
    match ep {
        Endpoint::Messages => {
            assert_eq!(v["type"], "error", "{ep:?}: {v}");
            assert!(v["error"]["type"].is_string() && v["error"]["message"].is_string(), "{ep:?}: {v}");
        }
        _ => {
            assert!(v.get("type").is_none(), "{ep:?}: {v}");
            assert_eq!(v["error"]["code"], code, "{ep:?}: {v}");
        }
    }
    v["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_a_431_in_the_callers_dialect() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    let big = vec![("x-big".to_string(), "a".repeat(MAX_HEADER_BYTES))];
    let many: Vec<_> = (0..MAX_HEADERS).map(|i| (format!("x-h{i}"), "1".to_string())).collect();
    let spread: Vec<_> = (0..8).map(|i| (format!("x-part{i}"), "b".repeat(MAX_HEADER_BYTES / 6))).collect();
    for ep in ENDPOINTS {
        for (what, extra) in [("one large header", &big), ("too many headers", &many), ("large together", &spread)] {
            let resp = post(&gw, ep, &f.key, extra, body(ep, &f.model, 1)).await;
            assert!(resp.headers().contains_key("x-request-id"), "{what}");
            let message = refused(ep, resp, 431, "request_header_fields_too_large").await;
            assert!(message.contains("headers are too large"), "{what}: {message}");
        }
        // Just within both bounds: answered as usual.
        let within: Vec<_> = (0..MAX_HEADERS - 12).map(|i| (format!("x-h{i}"), "c".repeat(900))).collect();
        let resp = post(&gw, ep, &f.key, &within, body(ep, &f.model, 1)).await;
        assert!(resp.status().is_success(), "{ep:?}: {}", resp.status());
    }
    // Past the HTTP parser's own bounds the connection's parser refuses, bare but still 431.
    let flood: Vec<_> = (0..150).map(|i| (format!("x-f{i}"), "1".to_string())).collect();
    let resp = post(&gw, Endpoint::Chat, &f.key, &flood, body(Endpoint::Chat, &f.model, 1)).await;
    assert_eq!(resp.status(), 431);
    assert_eq!(mock.stats().total, 2, "only the calls within bounds reached the provider");
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 2).await;
    assert!(calls.iter().all(|c| c["status"] == "success"), "refused requests leave no record");
    gw.stop().await;
}

#[tokio::test]
async fn bodies_past_the_limit_are_a_413_in_the_callers_dialect() {
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_MAX_BODY_BYTES".into(), "4096".into())],
        ..GatewayOptions::default()
    })
    .await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    for ep in [Endpoint::Chat, Endpoint::Messages] {
        let resp = post(&gw, ep, &f.key, &[], body(ep, &f.model, 5000)).await;
        let message = refused(ep, resp, 413, "request_too_large").await;
        assert!(message.contains("4096-byte limit"), "{message}");
        let resp = post(&gw, ep, &f.key, &[], body(ep, &f.model, 3000)).await;
        assert_eq!(resp.status(), 200, "{ep:?} within the limit");
    }
    // The management API has its own limit (2 MiB), in its own JSON shape.
    let resp = post(&gw, Endpoint::Management, "", &[], body(Endpoint::Management, "", 3 << 20)).await;
    let message = refused(Endpoint::Management, resp, 413, "request_too_large").await;
    assert!(message.contains("2097152-byte limit"), "{message}");
    assert_eq!(mock.stats().total, 2);
    gw.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_in_the_callers_dialect() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "1").await;
    for depth in [200, 100_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for ep in ENDPOINTS {
            let whole = match ep {
                Endpoint::Management => format!(r#"{{"name": {nested}}}"#),
                _ => body(ep, &f.model, 1).replacen("\"x\"", &nested, 1),
            };
            let resp = post(&gw, ep, &f.key, &[], whole).await;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 400, "{ep:?} at depth {depth}: {text:.300}");
            let v: Value = serde_json::from_str(&text).unwrap();
            let shaped = match ep {
                Endpoint::Messages => v["type"] == "error" && v["error"]["type"] == "invalid_request_error",
                _ => v.get("type").is_none() && v["error"]["type"] == "invalid_request_error",
            };
            assert!(shaped, "{ep:?} at depth {depth}: {v}");
        }
    }
    // Nesting inside a field the gateway passes through (a tool's schema) within the parser's
    // bound is the provider's to judge; the gateway itself neither fails nor stalls on it.
    let schema = format!("{}{{}}{}", "{\"items\":".repeat(100), "}".repeat(100));
    let tools = format!(r#"[{{"type":"function","function":{{"name":"f","parameters":{schema}}}}}]"#);
    let chat = format!(r#"{{"model":"{}","messages":[{{"role":"user","content":"hi"}}],"tools":{tools}}}"#, f.model);
    let resp = post(&gw, Endpoint::Chat, &f.key, &[], chat).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(gw.http.get(format!("{}/healthz", gw.url)).send().await.unwrap().status(), 200);
    assert!(!gw.log().contains("panicked"));
    gw.stop().await;
}
