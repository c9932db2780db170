//! End-to-end tests of the mock provider over real HTTP on 127.0.0.1:0.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use mock_provider::{Behaviour, MockConfig, MockServer};
use serde_json::{Value, json};

async fn server() -> MockServer {
    MockServer::start(MockConfig::default()).await
}

async fn post(url: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("authorization", "Bearer sk-test")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, _, bytes) = post(url, body).await;
    (status, serde_json::from_slice(&bytes).expect("json body"))
}

/// The JSON payloads of an SSE body, and whether it ended with `[DONE]`.
fn sse_events(body: &[u8]) -> (Vec<Value>, bool) {
    let text = std::str::from_utf8(body).unwrap();
    let mut events = Vec::new();
    let mut done = false;
    for block in text.split("\n\n").filter(|b| !b.is_empty()) {
        let data = block.strip_prefix("data: ").expect("data: prefix");
        if data == "[DONE]" {
            done = true;
        } else {
            assert!(!done, "event after [DONE]");
            events.push(serde_json::from_str(data).unwrap());
        }
    }
    (events, done)
}

fn chat_url(base: &str) -> String {
    format!("{base}/chat/completions")
}

#[tokio::test]
async fn non_stream_reply_and_usage() {
    let mock = server().await;
    let req = json!({"model": "gpt-x", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi there you"},
                                     {"type": "image_url", "image_url": {"url": "data:x"}}]}
    ]});
    let (status, headers, bytes) = post(&chat_url(&mock.base_url()), &req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["created"], 1_700_000_000);
    assert_eq!(v["system_fingerprint"], "fp_mock");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["content"], "Hello from the mock provider with a deterministic");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &v["usage"];
    assert_eq!(usage["prompt_tokens"], 5);
    assert_eq!(usage["completion_tokens"], 8);
    assert_eq!(usage["total_tokens"], 13);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert!(bytes.len() < 600, "small body is {} bytes", bytes.len());

    // Overrides, truncation by max_tokens, n and logprobs.
    let url = chat_url(&mock.scenario_url("chunks=4,prompt_tokens=100,cached_tokens=40,reasoning_tokens=7"));
    let req = json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                     "max_tokens": 2, "n": 2, "logprobs": true});
    let (status, v) = post_json(&url, &req).await;
    assert_eq!(status, 200);
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["choices"][1]["message"]["content"], "Hello from");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["logprobs"]["content"][1]["token"], " from");
    assert_eq!(v["usage"]["prompt_tokens"], 100);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 40);
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 7);

    // size=large pads the body to about 10 KB.
    let (_, _, bytes) = post(&chat_url(&mock.scenario_url("size=large")), &json!({"messages": []})).await;
    assert!((9_500..=10_500).contains(&bytes.len()), "{}", bytes.len());
}

#[tokio::test]
async fn json_response_format_and_bad_json() {
    let mock = server().await;
    let req = json!({"messages": [{"role": "user", "content": "q"}],
                     "response_format": {"type": "json_object"}});
    let (_, v) = post_json(&chat_url(&mock.base_url()), &req).await;
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap();
    assert_eq!(parsed, json!({"answer": "Hello"}));

    let resp = reqwest::Client::new().post(chat_url(&mock.base_url())).body("{not json").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn stream_without_usage() {
    let mock = server().await;
    let req = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "a b"}]});
    let (status, headers, bytes) = post(&chat_url(&mock.scenario_url("chunks=3")), &req).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/event-stream");
    let (events, done) = sse_events(&bytes);
    assert!(done);
    assert_eq!(events.len(), 1 + 3 + 1);
    assert_eq!(events[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    let text: String = events[1..4].iter().map(|e| e["choices"][0]["delta"]["content"].as_str().unwrap()).collect();
    assert_eq!(text, "Hello from the");
    let last = &events[4];
    assert_eq!(last["choices"][0]["delta"], json!({}));
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    for e in &events {
        assert_eq!(e["object"], "chat.completion.chunk");
        assert_eq!(e["model"], "m");
        assert!(e.get("usage").is_none(), "usage must be absent: {e}");
    }
}

#[tokio::test]
async fn stream_with_usage() {
    let mock = server().await;
    let req = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                     "messages": [{"role": "user", "content": "one two three"}]});
    let (_, _, bytes) = post(&chat_url(&mock.base_url()), &req).await;
    let (events, done) = sse_events(&bytes);
    assert!(done);
    assert_eq!(events.len(), 1 + 8 + 1 + 1);
    for e in &events[..10] {
        assert_eq!(e["usage"], Value::Null);
        assert!(e.get("usage").is_some());
    }
    assert_eq!(events[9]["choices"][0]["finish_reason"], "stop");
    let usage_chunk = &events[10];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 3);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 8);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 11);
    assert!(usage_chunk.get("service_tier").is_none(), "no tier unless scripted");
}

#[tokio::test]
async fn the_service_tier_is_named_in_bodies_and_every_chunk_when_scripted() {
    let mock = server().await;
    let url = chat_url(&mock.scenario_url("service_tier=flex"));
    let req = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (_, _, bytes) = post(&url, &req).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["service_tier"], "flex");
    let req = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                     "messages": [{"role": "user", "content": "hi"}]});
    let (_, _, bytes) = post(&url, &req).await;
    let (events, _) = sse_events(&bytes);
    assert!(events.iter().all(|e| e["service_tier"] == "flex"), "{events:?}");
    let (status, _, _) = post(&chat_url(&mock.scenario_url("service_tier=turbo")), &req).await;
    assert_eq!(status, 400, "an unknown tier is a scripting mistake");
}

#[tokio::test]
async fn stream_chunks_are_paced() {
    let mock = server().await;
    let req = json!({"stream": true, "messages": []});
    let start = Instant::now();
    let resp = reqwest::Client::new()
        .post(chat_url(&mock.scenario_url("chunks=3,chunk_delay_ms=40,latency_ms=30")))
        .body(req.to_string())
        .send()
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    let mut frames = 0;
    let mut stream = resp.bytes_stream();
    while let Some(frame) = stream.next().await {
        frame.unwrap();
        frames += 1;
    }
    // role + 3 words + finish + [DONE], five delays of 40 ms between them.
    assert!(start.elapsed() >= Duration::from_millis(30 + 5 * 40));
    assert!(frames >= 5, "{frames} frames");
}

fn tools_request(stream: bool) -> Value {
    json!({"model": "m", "stream": stream,
           "messages": [{"role": "user", "content": "weather?"}],
           "tools": [
               {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
               {"type": "function", "function": {"name": "get_time", "parameters": {}}}]})
}

#[tokio::test]
async fn tool_calls_non_stream() {
    let mock = server().await;
    let (_, v) = post_json(&chat_url(&mock.base_url()), &tools_request(false)).await;
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[1]["function"]["name"], "get_time");
    assert_eq!(calls[0]["function"]["arguments"], "{\"location\":\"Paris\"}");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_mock_"));

    let mut req = tools_request(false);
    req["parallel_tool_calls"] = json!(false);
    let (_, v) = post_json(&chat_url(&mock.base_url()), &req).await;
    assert_eq!(v["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), 1);

    req["tool_choice"] = json!("none");
    let (_, v) = post_json(&chat_url(&mock.base_url()), &req).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    // A tool result ends the loop with text.
    let req = json!({"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_mock_1", "content": "sunny, 20C"}],
        "tools": tools_request(false)["tools"]});
    let (_, v) = post_json(&chat_url(&mock.base_url()), &req).await;
    assert_eq!(v["choices"][0]["message"]["content"], "tool result received: sunny, 20C");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn tool_calls_stream() {
    let mock = server().await;
    let (_, _, bytes) = post(&chat_url(&mock.base_url()), &tools_request(true)).await;
    let (events, done) = sse_events(&bytes);
    assert!(done);
    let first = &events[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["tool_calls"][0]["index"], 0);
    assert_eq!(first["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(first["tool_calls"][0]["function"]["arguments"], "");
    let mut args = [String::new(), String::new()];
    let mut names = [None, None];
    for e in &events {
        for call in e["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let i = call["index"].as_u64().unwrap() as usize;
            if let Some(name) = call["function"]["name"].as_str() {
                names[i] = Some(name.to_owned());
            }
            args[i].push_str(call["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(names, [Some("get_weather".into()), Some("get_time".into())]);
    for a in &args {
        assert_eq!(serde_json::from_str::<Value>(a).unwrap(), json!({"location": "Paris"}));
    }
    let last = events.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn scenario_errors() {
    let mock = server().await;
    let req = json!({"messages": []});
    let url = chat_url(&mock.scenario_url("status=500,retry_after=7"));
    let (status, headers, bytes) = post(&url, &req).await;
    assert_eq!(status, 500);
    assert_eq!(headers["retry-after"], "7");
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v, json!({"error": {"message": "mock error 500", "type": "server_error", "param": null, "code": null}}));
    for (status, kind) in [
        (401, "authentication_error"),
        (403, "authentication_error"),
        (429, "rate_limit_error"),
        (404, "invalid_request_error"),
        (503, "server_error"),
    ] {
        let url = chat_url(&mock.scenario_url(&format!("status={status}")));
        let (got, v) = post_json(&url, &req).await;
        assert_eq!(got, status);
        assert_eq!(v["error"]["type"], kind);
    }
    let (status, v) = post_json(&chat_url(&mock.scenario_url("nope=1")), &req).await;
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
    // The plain route is unaffected.
    let (status, _) = post_json(&chat_url(&mock.base_url()), &req).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cut_after_aborts_stream() {
    let mock = server().await;
    let req = json!({"stream": true, "messages": []});
    let resp = reqwest::Client::new()
        .post(chat_url(&mock.scenario_url("cut_after=2")))
        .body(req.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut received = Vec::new();
    let mut stream = resp.bytes_stream();
    let mut failed = false;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(b) => received.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end with an error");
    let text = String::from_utf8(received).unwrap();
    assert!(text.contains("\"Hello\"") && text.contains("\" from\""), "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("finish_reason\":\"stop"));

    // Non-stream: half a body, then an error.
    let resp = reqwest::Client::new()
        .post(chat_url(&mock.scenario_url("cut_after=0")))
        .body(json!({"messages": []}).to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn stall_before_headers() {
    let mock = server().await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let err = client.post(chat_url(&mock.scenario_url("stall_ms=600000"))).body("{}").send().await.unwrap_err();
    assert!(err.is_timeout());
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let mock = server().await;
    let url = format!("{}/embeddings", mock.base_url());
    let (status, v) = post_json(&url, &json!({"model": "emb", "input": ["a b", "c"], "dimensions": 3})).await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"][0]["embedding"], json!([0.01, 0.02, 0.03]));
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][1]["embedding"], json!([0.02, 0.04, 0.06]));
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));

    let (_, v) = post_json(&url, &json!({"model": "emb", "input": "hello world", "encoding_format": "base64"})).await;
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let expected: Vec<f32> = (1..=8).map(|j| j as f32 / 100.0).collect();
    assert_eq!(floats, expected);
    assert_eq!(v["usage"]["prompt_tokens"], 2);

    let (_, v) = post_json(&url, &json!({"input": [[1, 2, 3], [4]]})).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    let (status, _) = post_json(&url, &json!({"input": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn stats_last_request_and_reset() {
    let mock = MockServer::start(MockConfig {
        defaults: Behaviour { chunks: Some(2), ..Default::default() },
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let chat = chat_url(&mock.base_url());
    for key in ["k1", "k1", "k2"] {
        client.post(&chat).bearer_auth(key).body("{\"messages\":[]}").send().await.unwrap();
    }
    client
        .post(chat_url(&mock.scenario_url("status=429")))
        .header("api-key", "azure-key")
        .body("{}")
        .send()
        .await
        .unwrap();
    let models = client.get(format!("{}/models", mock.base_url())).header("x-api-key", "anth").send().await.unwrap();
    let models: Value = serde_json::from_slice(&models.bytes().await.unwrap()).unwrap();
    assert_eq!(models["data"][0]["id"], "mock-gpt");

    let stats = mock.stats();
    assert_eq!(stats.total, 5);
    assert_eq!(stats.by_path["/v1/chat/completions"], 4);
    assert_eq!(stats.by_path["/v1/models"], 1);
    assert_eq!(stats.by_key["k1"], 2);
    assert_eq!(stats.by_key["k2"], 1);
    assert_eq!(stats.by_key["azure-key"], 1);
    assert_eq!(stats.by_key["anth"], 1);

    let over_http: Value = serde_json::from_slice(
        &client.get(format!("http://{}/_stats", mock.addr())).send().await.unwrap().bytes().await.unwrap(),
    )
    .unwrap();
    assert_eq!(over_http, serde_json::to_value(&stats).unwrap());

    let last = mock.last_request().unwrap();
    assert_eq!(last.method, "GET");
    assert_eq!(last.path, "/v1/models");
    assert!(last.headers.contains(&("x-api-key".into(), "anth".into())));
    assert_eq!(last.body, Value::Null);

    client
        .post(chat_url(&mock.scenario_url("chunks=1")))
        .body("{\"model\":\"z\",\"messages\":[]}")
        .send()
        .await
        .unwrap();
    let last: Value = serde_json::from_slice(
        &client.get(format!("http://{}/_last", mock.addr())).send().await.unwrap().bytes().await.unwrap(),
    )
    .unwrap();
    assert_eq!(last["path"], "/s/chunks=1/v1/chat/completions");
    assert_eq!(last["body"]["model"], "z");
    assert_eq!(mock.stats().by_key[""], 1);

    let status = client.post(format!("http://{}/_reset", mock.addr())).send().await.unwrap().status();
    assert!(status.is_success());
    assert_eq!(mock.stats().total, 0);
    assert!(mock.last_request().is_none());
    mock.reset();
}

#[tokio::test]
async fn stream_stall_mid_and_n_choices() {
    let mock = server().await;
    let req = json!({"stream": true, "n": 2, "messages": []});
    let start = Instant::now();
    let url = chat_url(&mock.scenario_url("chunks=2,stall_after=1,stall_mid_ms=100"));
    let (_, _, bytes) = post(&url, &req).await;
    assert!(start.elapsed() >= Duration::from_millis(100));
    let (events, done) = sse_events(&bytes);
    assert!(done);
    for index in 0..2 {
        let text: String = events
            .iter()
            .filter(|e| e["choices"][0]["index"] == index)
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello from");
    }
    assert_eq!(events.len(), 2 * (1 + 2 + 1));
}

#[test]
fn binary_prints_address_and_serves() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-provider"))
        .args(["--listen", "127.0.0.1:0", "--chunks", "2", "--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mock-provider");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").expect(&line).to_owned();
    let body = "{\"messages\":[]}";
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"content\":\"Hello from\""), "{response}");
}

#[tokio::test]
async fn error_after_sends_an_error_object_mid_stream() {
    let mock = server().await;
    let req = json!({"stream": true, "messages": []});
    let (status, _, bytes) = post(&chat_url(&mock.scenario_url("chunks=4,error_after=1")), &req).await;
    assert_eq!(status, 200);
    let (events, done) = sse_events(&bytes);
    assert!(!done, "no [DONE] after an error");
    assert_eq!(events.len(), 3, "role, one word, the error");
    assert_eq!(events[1]["choices"][0]["delta"]["content"], "Hello");
    assert_eq!(
        events[2],
        json!({"error": {"message": "mock in-stream error", "type": "server_error", "param": null, "code": null}})
    );
    assert_eq!(mock.stats().by_dialect["openai"], 1);
    assert_eq!(mock.last_request().unwrap().dialect, "openai");
}
