//! Answers a provider should not give: without usage (charged a counted estimate, flagged, and
//! never shown to the client as zeros) and not valid for their protocol (a 502 in the client's
//! dialect, in-band once a stream has started, failed over while nothing has reached the
//! client, charged only for output that did reach it) — every provider kind, both dialects,
//! streamed and not.

use mock_provider::MockServer;
use serde_json::{Value, json};

use tollgate::billing::money::{format_credits, parse_credits};

use crate::harness::*;

pub(crate) const KINDS: [&str; 5] = ["openai", "azure-openai", "anthropic", "gemini", "bedrock"];

/// A provider of `kind` on the mock answering with `scenario`, and a model on it priced 2.5
/// in / 10 out per million tokens; answers the model's name.
pub(crate) async fn model_of_kind(
    gw: &Gateway,
    mock: &MockServer,
    kind: &str,
    scenario: &str,
    keys: &[&str],
) -> String {
    model_of_kind_with(gw, mock, kind, scenario, keys, json!({})).await
}

/// [`model_of_kind`] with `provider` (more fields of the provider, `timeouts` say) merged in.
pub(crate) async fn model_of_kind_with(
    gw: &Gateway,
    mock: &MockServer,
    kind: &str,
    scenario: &str,
    keys: &[&str],
    provider: Value,
) -> String {
    let suffix = &tollgate::store::new_id()[24..];
    let name = format!("{}{suffix}", kind.replace('-', ""));
    let base_url = if kind == "openai" { mock.scenario_url(scenario) } else { mock.scenario_root(scenario) };
    let mut body = json!({"name": name, "kind": kind, "base_url": base_url});
    for (k, v) in provider.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let p = gw.admin_ok("POST", "/api/v1/providers", Some(body), 201).await;
    let id = p["id"].as_str().unwrap();
    for key in keys {
        let api_key = if kind == "bedrock" {
            json!({"access_key_id": key, "secret_access_key": "s", "region": "us-east-1"}).to_string()
        } else {
            key.to_string()
        };
        gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": api_key})), 201)
            .await;
    }
    let upstream = match kind {
        "gemini" => "gemini-2.5-flash",
        "bedrock" => "anthropic.claude-3-haiku-20240307-v1:0",
        _ => "mock-gpt",
    };
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": name, "targets": [{"provider": name, "model": upstream}],
            "pricing": {"input": 2.5, "output": 10}})),
        201,
    )
    .await;
    name
}

/// A call in `dialect` ("openai" or "anthropic"): the status and the body as text.
pub(crate) async fn call(gw: &Gateway, key: &str, dialect: &str, model: &str, stream: bool) -> (u16, String) {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let resp = if dialect == "openai" {
        gw.chat(key, json!({"model": model, "messages": msgs, "stream": stream})).await
    } else {
        gw.messages(key, json!({"model": model, "max_tokens": 200, "messages": msgs, "stream": stream})).await
    };
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The text a client received, in either dialect, streamed or not (none from an error body).
pub(crate) fn received_text(dialect: &str, stream: bool, body: &str) -> String {
    match (dialect, stream) {
        ("openai", false) => {
            let v: Value = serde_json::from_str(body).unwrap_or_default();
            v["choices"][0]["message"]["content"].as_str().unwrap_or("").to_string()
        }
        ("openai", true) => sse_data(body)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect(),
        (_, false) => {
            let v: Value = serde_json::from_str(body).unwrap_or_default();
            v["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect()
        }
        (_, true) => anthropic_events(body)
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_string))
            .collect(),
    }
}

/// The prompt as admission counts it: "user" + "hi" (6 bytes → 2 tokens) and 4 of framing.
pub(crate) const PROMPT_TOKENS: i64 = 6;

/// Nano-credits of a counted estimate: the prompt and `text` at 2.5 and 10 per million.
pub(crate) fn estimate_cost(text: &str) -> i64 {
    PROMPT_TOKENS * 2_500 + text.len().div_ceil(4) as i64 * 10_000
}

#[tokio::test]
async fn answers_without_usage_are_charged_a_flagged_counted_estimate() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "100").await;
    let mut charged = 0;
    let mut calls = 0;
    for kind in KINDS {
        let model = model_of_kind(&gw, &mock, kind, "no_usage=1,chunks=6", &[PROVIDER_KEY]).await;
        for dialect in ["openai", "anthropic"] {
            for stream in [false, true] {
                let case = format!("{kind} → {dialect} client, stream {stream}");
                let (status, body) = call(&gw, &f.key, dialect, &model, stream).await;
                assert_eq!(status, 200, "{case}: {body}");
                let text = received_text(dialect, stream, &body);
                assert!(text.starts_with("Hello"), "{case}: {body}");
                let output_tokens = text.len().div_ceil(4) as i64;
                // A client whose answer the gateway writes is told the estimate, not zeros;
                // a passed-through answer is relayed as the provider sent it.
                let passthrough =
                    matches!((kind, dialect), ("openai" | "azure-openai", "openai") | ("anthropic", "anthropic"));
                if !passthrough {
                    let usage = match (dialect, stream) {
                        ("anthropic", false) => serde_json::from_str::<Value>(&body).unwrap()["usage"].clone(),
                        ("anthropic", true) => anthropic_events(&body)
                            .into_iter()
                            .find(|(n, _)| n == "message_delta")
                            .map(|(_, d)| d["usage"].clone())
                            .unwrap(),
                        (_, false) => serde_json::from_str::<Value>(&body).unwrap()["usage"].clone(),
                        (_, true) => Value::Null,
                    };
                    match dialect {
                        "anthropic" => assert_eq!(
                            (usage["input_tokens"].as_i64(), usage["output_tokens"].as_i64()),
                            (Some(PROMPT_TOKENS), Some(output_tokens)),
                            "{case}: {usage}"
                        ),
                        _ if !stream => assert_eq!(
                            (usage["prompt_tokens"].as_i64(), usage["completion_tokens"].as_i64()),
                            (Some(PROMPT_TOKENS), Some(output_tokens)),
                            "{case}: {usage}"
                        ),
                        _ => {}
                    }
                }
                calls += 1;
                let records = gw.calls_until(&f.key_id, |c| c.len() == calls && c[0]["status"] != "processing").await;
                let c = &records[0];
                let cost = estimate_cost(&text);
                charged += cost;
                assert_eq!(
                    (c["status"].as_str(), c["usage_estimated"].as_bool()),
                    (Some("success"), Some(true)),
                    "{case}: {c}"
                );
                assert_eq!(
                    (c["input_tokens"].as_i64(), c["output_tokens"].as_i64()),
                    (Some(PROMPT_TOKENS), Some(output_tokens)),
                    "{case}: {c}"
                );
                assert_eq!(c["cost"], format_credits(cost).as_str(), "{case}: {c}");
            }
        }
    }
    // Embeddings without usage are charged the counted input.
    let model = model_of_kind(&gw, &mock, "openai", "no_usage=1", &[PROVIDER_KEY]).await;
    let resp = gw
        .http
        .post(format!("{}/v1/embeddings", gw.url))
        .bearer_auth(&f.key)
        .json(&json!({"model": model, "input": "abcdefgh"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], format_credits(2 * 2_500).as_str(), "8 bytes → 2 tokens");
    charged += 2 * 2_500;
    let records = gw.calls_until(&f.key_id, |c| c.len() == calls + 1).await;
    assert_eq!((records[0]["input_tokens"].as_i64(), records[0]["usage_estimated"].as_bool()), (Some(2), Some(true)));
    assert_eq!(parse_credits(&f.balance(&gw).await).unwrap(), 100_000_000_000 - charged);
    gw.stop().await;
}

#[tokio::test]
async fn answers_not_valid_for_their_protocol_are_502_and_not_charged_as_answers() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::new(&gw, &mock.base_url(), "100").await;
    let mut calls = 0;
    for kind in KINDS {
        // Non-stream: the body is an HTML page; stream: the first content event is not JSON.
        let model = model_of_kind(&gw, &mock, kind, "garbage_after=0", &[PROVIDER_KEY]).await;
        for dialect in ["openai", "anthropic"] {
            for stream in [false, true] {
                let case = format!("{kind} → {dialect} client, stream {stream}");
                let (status, body) = call(&gw, &f.key, dialect, &model, stream).await;
                assert!(!body.contains("<html>"), "{case}: the garbage never reaches the client: {body}");
                if stream {
                    assert_eq!(status, 200, "{case}");
                    match dialect {
                        "openai" => {
                            let last: Value = serde_json::from_str(sse_data(&body).last().unwrap()).unwrap();
                            assert!(last["error"].is_object() && !body.contains("[DONE]"), "{case}: {body}");
                        }
                        _ => {
                            let events = anthropic_events(&body);
                            assert_eq!(events.last().unwrap().0, "error", "{case}: {body}");
                            assert!(events.iter().all(|(n, _)| n != "message_stop"), "{case}: {body}");
                        }
                    }
                } else {
                    assert_eq!(status, 502, "{case}: {body}");
                    let v: Value = serde_json::from_str(&body).unwrap();
                    match dialect {
                        "openai" => assert_eq!(v["error"]["code"], "upstream_invalid_response", "{case}: {v}"),
                        _ => assert_eq!(
                            (v["type"].as_str(), v["error"]["type"].as_str()),
                            (Some("error"), Some("api_error")),
                            "{case}: {v}"
                        ),
                    }
                    assert!(!v.to_string().contains("html"), "{case}: {v}");
                }
                calls += 1;
                let records = gw.calls_until(&f.key_id, |c| c.len() == calls && c[0]["status"] != "processing").await;
                let c = &records[0];
                assert_eq!(
                    (c["status"].as_str(), c["http_status"].as_i64()),
                    (Some("failed"), Some(502)),
                    "{case}: {c}"
                );
                // Nothing of the answer reached the client: nothing is charged.
                assert_eq!(c["cost"], "0", "{case}: {c}");
                if !stream
                    || matches!((kind, dialect), ("openai" | "azure-openai", "openai") | ("anthropic", "anthropic"))
                {
                    assert_eq!(c["error_class"], "upstream_invalid_response", "{case}: {c}");
                }
            }
        }
    }
    assert_eq!(f.balance(&gw).await, "100");

    // A stream that breaks after content reached the client is charged for that content
    // (the counted estimate, flagged), like a stream cut short.
    let model = model_of_kind(&gw, &mock, "openai", "garbage_after=3,chunks=8", &[PROVIDER_KEY]).await;
    let (status, body) = call(&gw, &f.key, "openai", &model, true).await;
    assert_eq!(status, 200);
    let text = received_text("openai", true, &body);
    assert_eq!(text, "Hello from the", "{body}");
    calls += 1;
    let records = gw.calls_until(&f.key_id, |c| c.len() == calls && c[0]["status"] != "processing").await;
    let c = &records[0];
    assert_eq!(
        (c["error_class"].as_str(), c["usage_estimated"].as_bool()),
        (Some("upstream_invalid_response"), Some(true)),
        "{c}"
    );
    assert_eq!(c["cost"], format_credits(estimate_cost(&text)).as_str(), "{c}");

    // Before anything reached the client a body that is not an answer fails over like a 5xx:
    // the first credential answers garbage, the second answers properly.
    let model = model_of_kind(&gw, &mock, "openai", "chunks=4", &["mock:garbage_after=0", PROVIDER_KEY]).await;
    for _ in 0..2 {
        let (status, body) = call(&gw, &f.key, "openai", &model, false).await;
        assert_eq!(status, 200, "{body}");
        calls += 1;
    }
    let records = gw.calls_until(&f.key_id, |c| c.len() == calls && c[0]["status"] == "success").await;
    assert!(records[..2].iter().any(|c| c["attempts"] == 2), "{:?}", &records[..2]);
    gw.stop().await;
}
