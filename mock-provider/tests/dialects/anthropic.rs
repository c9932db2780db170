//! Anthropic Messages.

use mock_provider::MockServer;
use serde_json::{Value, json};

use crate::common::{Reply, post, reply_text, send, server, sse};
use crate::failures::Case;

pub const HEADERS: &[(&str, &str)] = &[("x-api-key", "sk-ant-test"), ("anthropic-version", "2023-06-01")];

fn url(mock: &MockServer, opts: Option<&str>) -> String {
    match opts {
        Some(opts) => format!("{}/v1/messages", mock.scenario_root(opts)),
        None => format!("{}/v1/messages", mock.root_url()),
    }
}

fn request(stream: bool) -> Value {
    json!({"model": "claude-x", "max_tokens": 100, "stream": stream, "system": "be brief",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]})
}

fn tools_request(stream: bool) -> Value {
    let mut req = request(stream);
    req["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}},
                          {"name": "get_time", "input_schema": {"type": "object"}}]);
    req
}

/// The text of a stream and whether it ended with `message_stop`.
fn stream_text(body: &[u8]) -> (String, bool) {
    let events = sse(body);
    let text = events
        .iter()
        .filter(|(_, d)| d["type"] == "content_block_delta" && d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap())
        .collect();
    (text, events.last().is_some_and(|(_, d)| d["type"] == "message_stop"))
}

pub fn case() -> Case {
    Case {
        name: "anthropic",
        url: |mock, opts, _| url(mock, opts),
        headers: HEADERS,
        body: request,
        stream_text,
        error_kind: |reply: &Reply| {
            let v = reply.json();
            assert_eq!(v["type"], "error");
            v["error"]["type"].as_str().unwrap().to_owned()
        },
        kinds: [
            (401, "authentication_error"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (529, "overloaded_error"),
        ],
        stream_error: |body| {
            let events = sse(body);
            let (name, data) = events.last().unwrap();
            name.as_deref() == Some("error") && data["error"]["type"] == "overloaded_error"
        },
    }
}

#[tokio::test]
async fn non_stream_text_and_usage() {
    let mock = server().await;
    let reply = post(&url(&mock, None), HEADERS, &request(false)).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert!(v["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(v["content"], json!([{"type": "text", "text": reply_text(8)}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    // "be brief" + "hi there": four words.
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 8})
    );

    // input_tokens excludes cache reads and writes; max_tokens truncates.
    let opts = "prompt_tokens=100,cached_tokens=30,cache_write_tokens=20,completion_tokens=5,chunks=4";
    let mut req = request(false);
    req["max_tokens"] = json!(2);
    let v = post(&url(&mock, Some(opts)), HEADERS, &req).await.json();
    assert_eq!(v["content"][0]["text"], "Hello from");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 50, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 30, "output_tokens": 5})
    );
    // One-hour cache writes and the service tier.
    let opts =
        "prompt_tokens=100,cache_write_tokens=20,cache_write_1h_tokens=15,completion_tokens=5,service_tier=priority";
    let v = post(&url(&mock, Some(opts)), HEADERS, &request(false)).await.json();
    assert_eq!(v["usage"]["cache_creation"], json!({"ephemeral_5m_input_tokens": 5, "ephemeral_1h_input_tokens": 15}));
    assert_eq!(v["usage"]["service_tier"], "priority");
    let stats = mock.stats();
    assert_eq!(stats.by_dialect["anthropic"], 3);
    assert_eq!(stats.by_path["/v1/messages"], 3);
    assert_eq!(stats.by_key["sk-ant-test"], 3);
    assert_eq!(mock.last_request().unwrap().dialect, "anthropic");
}

#[tokio::test]
async fn stream_events_in_order() {
    let mock = server().await;
    let opts = "chunks=3,prompt_tokens=10,cached_tokens=4";
    let reply = post(&url(&mock, Some(opts)), HEADERS, &request(true)).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").starts_with("text/event-stream"));
    let events = sse(&reply.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"].as_str(), name.as_deref(), "event name matches data type");
    }
    let start = &events[0].1["message"];
    assert_eq!(start["model"], "claude-x");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(
        start["usage"],
        json!({"input_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 1})
    );
    assert_eq!(events[1].1["content_block"], json!({"type": "text", "text": ""}));
    assert_eq!(stream_text(&reply.body), ("Hello from the".to_owned(), true));
    let delta = &events[7].1;
    assert_eq!(delta["delta"], json!({"stop_reason": "end_turn", "stop_sequence": null}));
    assert_eq!(delta["usage"], json!({"output_tokens": 3}));
}

#[tokio::test]
async fn thinking_blocks_carry_a_signature() {
    let mock = server().await;
    let mut req = request(false);
    req["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let v = post(&url(&mock, Some("chunks=2")), HEADERS, &req).await.json();
    let thinking = &v["content"][0];
    assert_eq!(thinking["type"], "thinking");
    assert_eq!(thinking["thinking"], "Let me think this through.");
    let signature = thinking["signature"].as_str().unwrap();
    assert!(signature.len() > 20);
    assert_eq!(v["content"][1], json!({"type": "text", "text": "Hello from"}));
    assert_eq!(v["usage"]["output_tokens"], 6 + 2);

    req["stream"] = json!(true);
    let events = sse(&post(&url(&mock, Some("chunks=2")), HEADERS, &req).await.body);
    let block0: Vec<&Value> = events.iter().map(|(_, d)| d).filter(|d| d["index"] == 0).collect();
    assert_eq!(block0[0]["content_block"], json!({"type": "thinking", "thinking": ""}));
    let thought: String = block0
        .iter()
        .filter(|d| d["delta"]["type"] == "thinking_delta")
        .map(|d| d["delta"]["thinking"].as_str().unwrap())
        .collect();
    assert_eq!(thought, "Let me think this through.");
    let sig = block0.iter().find(|d| d["delta"]["type"] == "signature_delta").unwrap();
    assert!(!sig["delta"]["signature"].as_str().unwrap().is_empty());
    assert_eq!(block0.last().unwrap()["type"], "content_block_stop");
    let block1 = events.iter().find(|(_, d)| d["type"] == "content_block_start" && d["index"] == 1).unwrap();
    assert_eq!(block1.1["content_block"]["type"], "text");
}

#[tokio::test]
async fn tool_use_json_and_stream() {
    let mock = server().await;
    let v = post(&url(&mock, None), HEADERS, &tools_request(false)).await.json();
    assert_eq!(v["stop_reason"], "tool_use");
    let blocks = v["content"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0]["type"], "tool_use");
    assert_eq!(blocks[0]["name"], "get_weather");
    assert_eq!(blocks[1]["name"], "get_time");
    assert_eq!(blocks[0]["input"], json!({"location": "Paris"}));
    assert!(blocks[0]["id"].as_str().unwrap().starts_with("toolu_mock_"));

    let mut req = tools_request(false);
    req["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
    assert_eq!(post(&url(&mock, None), HEADERS, &req).await.json()["content"].as_array().unwrap().len(), 1);
    req["tool_choice"] = json!({"type": "tool", "name": "get_time"});
    let v = post(&url(&mock, None), HEADERS, &req).await.json();
    assert_eq!(v["content"][0]["name"], "get_time");
    req["tool_choice"] = json!({"type": "none"});
    assert_eq!(post(&url(&mock, None), HEADERS, &req).await.json()["stop_reason"], "end_turn");

    // Streamed: one tool_use block per call, arguments as input_json_delta.
    let events = sse(&post(&url(&mock, None), HEADERS, &tools_request(true)).await.body);
    for index in 0..2 {
        let start = events.iter().find(|(_, d)| d["type"] == "content_block_start" && d["index"] == index).unwrap();
        assert_eq!(start.1["content_block"]["type"], "tool_use");
        assert_eq!(start.1["content_block"]["input"], json!({}));
        let args: String = events
            .iter()
            .filter(|(_, d)| d["index"] == index && d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"location": "Paris"}));
    }
    let delta = events.iter().find(|(_, d)| d["type"] == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    // The tool result ends the loop with text.
    let mut req = tools_request(false);
    req["messages"] = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [blocks[0].clone()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": blocks[0]["id"],
                                      "content": [{"type": "text", "text": "sunny"}]}]}]);
    let v = post(&url(&mock, None), HEADERS, &req).await.json();
    assert_eq!(v["content"][0]["text"], "tool result received: sunny");
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn headers_and_body_checked_like_the_real_api() {
    let mock = server().await;
    let reply = post(&url(&mock, None), &[("anthropic-version", "2023-06-01")], &request(false)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["type"], "authentication_error");
    let reply = post(&url(&mock, None), &[("x-api-key", "k")], &request(false)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["message"], "anthropic-version: header is required");
    // Claude Code style: a bearer token instead of x-api-key.
    let bearer = [("authorization", "Bearer oauth-token"), ("anthropic-version", "2023-06-01")];
    assert_eq!(post(&url(&mock, None), &bearer, &request(false)).await.status, 200);
    assert_eq!(mock.stats().by_key["oauth-token"], 1);

    let mut req = request(false);
    req.as_object_mut().unwrap().remove("max_tokens");
    let reply = post(&url(&mock, None), HEADERS, &req).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["error"],
        json!({"type": "invalid_request_error", "message": "max_tokens: Field required"})
    );
    req["max_tokens"] = json!(5);
    req["messages"] = json!([]);
    assert_eq!(post(&url(&mock, None), HEADERS, &req).await.status, 400);
}

#[tokio::test]
async fn count_tokens_and_models() {
    let mock = server().await;
    let count = format!("{}/v1/messages/count_tokens", mock.root_url());
    let mut req = request(false);
    req.as_object_mut().unwrap().remove("max_tokens");
    let reply = post(&count, HEADERS, &req).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"input_tokens": 4}));
    let count = format!("{}/v1/messages/count_tokens", mock.scenario_root("prompt_tokens=77"));
    assert_eq!(post(&count, HEADERS, &req).await.json(), json!({"input_tokens": 77}));

    let models = format!("{}/v1/models", mock.root_url());
    let v = send("GET", &models, HEADERS, None).await.json();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["id"], "claude-mock");
    assert_eq!(v["has_more"], false);
    assert_eq!(mock.last_request().unwrap().dialect, "anthropic");
    let v = send("GET", &models, &[], None).await.json();
    assert_eq!(v["object"], "list", "without anthropic-version: the OpenAI list");
    assert_eq!(mock.stats().by_dialect["anthropic"], 3);
    assert_eq!(mock.stats().by_path["/v1/messages/count_tokens"], 2);
}
