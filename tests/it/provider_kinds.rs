//! Provider kinds `gemini` and `bedrock` through the real gateway: both inbound dialects
//! (OpenAI chat, Anthropic messages) × text, stream and tools with a tool-result round trip,
//! against the mock speaking Gemini (key in `x-goog-api-key`) and Bedrock (SigV4 verified in
//! full with the secret the credential holds).

use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};

use crate::harness::*;

const SECRET: &str = "kinds-test-secret";
const USAGE: &str = "prompt_tokens=100,cached_tokens=40,cache_write_tokens=10,completion_tokens=7";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Gemini,
    Bedrock,
}

struct Setup {
    model: String,
    key: String,
}

async fn setup(gw: &Gateway, mock: &MockServer, kind: Kind) -> Setup {
    let suffix = &tollgate::store::new_id()[24..];
    let (kind_name, api_key, upstream) = match kind {
        Kind::Gemini => ("gemini", "gemini-key-4242".to_string(), "gemini-2.5-flash"),
        Kind::Bedrock => (
            "bedrock",
            json!({"access_key_id": "AKIDKINDS", "secret_access_key": SECRET, "region": "us-east-1"}).to_string(),
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
    };
    let name = format!("{kind_name}{suffix}");
    let p = gw
        .admin_ok(
            "POST",
            "/api/v1/providers",
            Some(json!({"name": name, "kind": kind_name, "base_url": mock.scenario_root(USAGE)})),
            201,
        )
        .await;
    let id = p["id"].as_str().unwrap();
    gw.admin_ok("POST", &format!("/api/v1/providers/{id}/credentials"), Some(json!({"api_key": api_key})), 201).await;
    let model = format!("m-{suffix}");
    gw.admin_ok(
        "POST",
        "/api/v1/models",
        Some(json!({"name": model, "targets": [{"provider": name, "model": upstream}],
            "pricing": {"input": 2.5, "output": "10"}})),
        201,
    )
    .await;
    let user = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "kinds"})), 201).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user}/credits"), Some(json!({"amount": "10"})), 201).await;
    let key = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user})), 201).await["key"]
        .as_str()
        .unwrap()
        .to_string();
    Setup { model, key }
}

/// What the provider saw: Gemini's key in its header and not in the URL; Bedrock's request
/// signed (the mock refuses a bad signature with 403, so reaching here means verified).
fn check_upstream(mock: &MockServer, kind: Kind) {
    let last = mock.last_request().unwrap();
    match kind {
        Kind::Gemini => {
            assert_eq!(last.dialect, "gemini");
            assert!(!last.query.contains("key="), "the key never travels in the URL");
            assert!(last.headers.iter().any(|(n, v)| n == "x-goog-api-key" && v == "gemini-key-4242"));
            assert!(last.body.get("model").is_none(), "Gemini names the model in the URL");
        }
        Kind::Bedrock => {
            assert_eq!(last.dialect, "bedrock");
            assert!(last.path.contains("/model/anthropic.claude-3-haiku-20240307-v1%3A0/"), "{}", last.path);
            assert!(last.headers.iter().any(|(n, v)| n == "authorization" && v.contains("Credential=AKIDKINDS/")));
        }
    }
}

/// Uncached input as the provider reports it: Gemini's prompt count includes only cache
/// reads, Bedrock's split has cache writes too.
fn uncached(kind: Kind) -> i64 {
    match kind {
        Kind::Gemini => 60,
        Kind::Bedrock => 50,
    }
}

/// The mock answers a tool result with its text; Gemini gets it as `{"result": text}`
/// (`protocol::gemini`), which the mock shows as JSON.
fn result_reply(kind: Kind) -> &'static str {
    match kind {
        Kind::Gemini => r#"tool result received: {"result":"18C"}"#,
        Kind::Bedrock => "tool result received: 18C",
    }
}

fn weather_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"location": {"type": "string"}}}}}])
}

fn weather_anthropic() -> Value {
    json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}])
}

async fn started(kind: Kind) -> (MockServer, Gateway, Setup) {
    let mock =
        MockServer::start(MockConfig { aws_secret_access_key: Some(SECRET.into()), ..MockConfig::default() }).await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let s = setup(&gw, &mock, kind).await;
    (mock, gw, s)
}

async fn openai_text_stream_tools(kind: Kind) {
    let (mock, gw, s) = started(kind).await;
    let user = json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]);
    // Text.
    let resp = gw.chat(&s.key, json!({"model": s.model, "messages": user, "max_tokens": 50})).await;
    assert_eq!(resp.status(), 200, "{kind:?}");
    let v: Value = resp.json().await.unwrap();
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello from the mock"), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["model"], s.model.as_str());
    // OpenAI's prompt_tokens counts every prompt token, cached or not.
    assert_eq!((v["usage"]["prompt_tokens"].as_i64(), v["usage"]["completion_tokens"].as_i64()), (Some(100), Some(7)));
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 40);
    check_upstream(&mock, kind);
    // Stream.
    let resp = gw
        .chat(
            &s.key,
            json!({"model": s.model, "messages": user, "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]", "{body}");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.starts_with("Hello from the mock"), "{body}");
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 100);
    // Tools, and the result back.
    let resp = gw.chat(&s.key, json!({"model": s.model, "messages": user, "tools": weather_openai()})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let message = v["choices"][0]["message"].clone();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &message["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"location": "Paris"})
    );
    let mut follow = user.as_array().unwrap().clone();
    follow.push(message.clone());
    follow.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "18C"}));
    let resp = gw.chat(&s.key, json!({"model": s.model, "messages": follow, "tools": weather_openai()})).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], result_reply(kind), "{v}");
}

async fn anthropic_text_stream_tools(kind: Kind) {
    let (mock, gw, s) = started(kind).await;
    let user = json!([{"role": "user", "content": "hello there"}]);
    // Text.
    let resp =
        gw.messages(&s.key, json!({"model": s.model, "max_tokens": 50, "system": "be brief", "messages": user})).await;
    assert_eq!(resp.status(), 200, "{kind:?}");
    let m: Value = resp.json().await.unwrap();
    assert!(m["content"][0]["text"].as_str().unwrap().starts_with("Hello from the mock"), "{m}");
    assert_eq!(m["stop_reason"], "end_turn");
    assert_eq!(m["usage"]["input_tokens"], uncached(kind));
    assert_eq!(m["usage"]["cache_read_input_tokens"], 40);
    assert_eq!(m["usage"]["output_tokens"], 7);
    check_upstream(&mock, kind);
    // Stream.
    let resp = gw.messages(&s.key, json!({"model": s.model, "max_tokens": 50, "messages": user, "stream": true})).await;
    assert_eq!(resp.status(), 200);
    let events = anthropic_events(&resp.text().await.unwrap());
    assert_eq!(events.first().unwrap().0, "message_start");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert!(text.starts_with("Hello from the mock"), "{events:?}");
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["usage"]["input_tokens"], uncached(kind));
    // Tools, and the result back.
    let resp = gw
        .messages(&s.key, json!({"model": s.model, "max_tokens": 50, "messages": user, "tools": weather_anthropic()}))
        .await;
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["stop_reason"], "tool_use", "{m}");
    let call = m["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone();
    assert_eq!((call["name"].as_str(), &call["input"]), (Some("get_weather"), &json!({"location": "Paris"})));
    let follow = json!([
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": m["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18C"}]},
    ]);
    let resp = gw
        .messages(&s.key, json!({"model": s.model, "max_tokens": 50, "messages": follow, "tools": weather_anthropic()}))
        .await;
    assert_eq!(resp.status(), 200);
    let m: Value = resp.json().await.unwrap();
    assert_eq!(m["content"][0]["text"], result_reply(kind), "{m}");
}

#[tokio::test]
async fn openai_clients_reach_gemini() {
    openai_text_stream_tools(Kind::Gemini).await;
}

#[tokio::test]
async fn openai_clients_reach_bedrock() {
    openai_text_stream_tools(Kind::Bedrock).await;
}

#[tokio::test]
async fn anthropic_clients_reach_gemini() {
    anthropic_text_stream_tools(Kind::Gemini).await;
}

#[tokio::test]
async fn anthropic_clients_reach_bedrock() {
    anthropic_text_stream_tools(Kind::Bedrock).await;
}

#[tokio::test]
async fn requests_a_provider_cannot_express_are_the_clients_400() {
    let (_mock, gw, s) = started(Kind::Bedrock).await;
    let resp = gw
        .chat(
            &s.key,
            json!({"model": s.model, "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"}}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("JSON mode"), "{v}");
    let (_mock, gw, s) = started(Kind::Gemini).await;
    let resp = gw
        .messages(
            &s.key,
            json!({"model": s.model, "max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "http://10.0.0.1/a.png"}}]}]}),
        )
        .await;
    // Gemini takes no URLs: the gateway would fetch it, but not from a private address.
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("image URL http://10.0.0.1/a.png could not be fetched"),
        "{v}"
    );
}
