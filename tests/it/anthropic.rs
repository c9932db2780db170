//! The Anthropic dialect inbound (`/v1/messages`, `count_tokens`, models) against
//! OpenAI-protocol providers: conversion both ways, streams, errors in the Anthropic shape.

use serde_json::{Value, json};

use crate::harness::*;
use crate::setup::*;

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!([{"name": "get_weather", "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}])
}

#[tokio::test]
async fn text_message_converts_both_ways_with_exact_usage() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        // The OpenAI provider reports 1000 prompt tokens, 200 of them cached: Anthropic's
        // input_tokens excludes the cache reads.
        let opts = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200";
        let f = Fixture::new(&gw, &mock.scenario_url(opts), "10").await;
        let resp = gw
            .messages(
                &f.key,
                json!({"model": f.model, "max_tokens": 300, "messages": user("hello there"),
                    "system": [{"type": "text", "text": "Be brief."},
                               {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
                    "metadata": {"user_id": "u-42"}, "stop_sequences": ["END"], "temperature": 0.5,
                    "top_k": 5, "service_tier": "auto"}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        // 800 input × 2.5 + 200 cached × 2.5 + 500 output × 10 per million = 0.0075 credits.
        assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
        let m: Value = resp.json().await.unwrap();
        assert_eq!((m["type"].as_str(), m["role"].as_str()), (Some("message"), Some("assistant")));
        assert_eq!(m["model"], f.model.as_str(), "the client's model name, not the upstream's");
        assert_eq!(m["content"][0]["type"], "text");
        assert!(m["content"][0]["text"].as_str().unwrap().starts_with("Hello from the mock"));
        assert_eq!(m["stop_reason"], "end_turn");
        assert_eq!(m["usage"]["input_tokens"], 800);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 200);
        assert_eq!(m["usage"]["output_tokens"], 500);

        // What the OpenAI provider got: the system blocks as one system message, the
        // Anthropic-only fields dropped, max_tokens as max_completion_tokens.
        let up = mock.last_request().unwrap().body;
        assert_eq!(up["model"], "mock-gpt");
        assert_eq!(up["messages"][0]["role"], "system");
        assert_eq!(up["messages"][0]["content"][0]["text"], "Be brief.");
        assert_eq!(up["messages"][0]["content"][1]["text"], "Be kind.");
        assert_eq!(up["messages"][1], json!({"role": "user", "content": "hello there"}));
        assert_eq!((up["max_completion_tokens"].as_i64(), up["user"].as_str()), (Some(300), Some("u-42")));
        assert_eq!(up["stop"], json!(["END"]));
        assert!(up.get("top_k").is_none() && up.get("service_tier").is_none() && up.get("metadata").is_none());

        let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
        let c = &calls[0];
        assert_eq!((c["dialect"].as_str(), c["endpoint"].as_str()), (Some("anthropic"), Some("messages")));
        assert_eq!((c["input_tokens"].as_i64(), c["cached_tokens"].as_i64()), (Some(800), Some(200)));
        assert_eq!((c["output_tokens"].as_i64(), c["cost"].as_str()), (Some(500), Some("0.0075")));
        assert_eq!(f.balance(&gw).await, "9.9925");
        gw.stop().await;
    }
}

#[tokio::test]
async fn bearer_keys_work_too_and_the_version_header_is_optional() {
    let Setup { mock, gw, f } = Setup::new().await;
    let resp = gw
        .http
        .post(format!("{}/v1/messages", gw.url))
        .bearer_auth(&f.key)
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .json(&json!({"model": f.model, "max_tokens": 10, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let last = mock.last_request().unwrap();
    assert!(last.headers.iter().all(|(k, _)| k != "anthropic-beta"), "Anthropic betas do not reach OpenAI");
    gw.stop().await;
}

#[tokio::test]
async fn streams_become_anthropic_events_settled_before_message_stop() {
    let Setup { mock: _mock, gw, f } = Setup::scenario("chunks=4,prompt_tokens=30,cached_tokens=10").await;
    let resp =
        gw.messages(&f.key, json!({"model": f.model, "max_tokens": 50, "stream": true, "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = anthropic_events(&resp.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "every event's data names its type");
    }
    assert_eq!(events[0].1["message"]["model"], f.model.as_str());
    assert!(events[0].1["message"]["usage"].is_object(), "the SDKs require usage in message_start");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "Hello from the mock");
    let delta = &events[7].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["input_tokens"], 20);
    assert_eq!(delta["usage"]["cache_read_input_tokens"], 10);
    assert_eq!(delta["usage"]["output_tokens"], 4);
    // The call was settled before message_stop went out: its record is already final.
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
    assert_eq!(calls[0]["status"], "success");
    assert_eq!((calls[0]["input_tokens"].as_i64(), calls[0]["output_tokens"].as_i64()), (Some(20), Some(4)));
    assert_eq!(calls[0]["stream"], true);
    gw.stop().await;
}

#[tokio::test]
async fn tools_round_trip_through_an_openai_provider() {
    let Setup { mock, gw, f } = Setup::new().await;
    let ask = json!({"model": f.model, "max_tokens": 100, "messages": user("weather in Paris?"),
        "tools": weather_tool(), "tool_choice": {"type": "any", "disable_parallel_tool_use": true}});
    let m: Value = gw.messages(&f.key, ask.clone()).await.json().await.unwrap();
    assert_eq!(m["stop_reason"], "tool_use", "{m}");
    let calls = m["content"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "parallel tool use was disabled: {m}");
    assert_eq!(calls[0]["type"], "tool_use");
    assert_eq!(calls[0]["name"], "get_weather");
    assert_eq!(calls[0]["input"], json!({"location": "Paris"}));
    let up = mock.last_request().unwrap().body;
    assert_eq!(up["tool_choice"], "required");
    assert_eq!(up["parallel_tool_calls"], false);
    assert_eq!(up["tools"][0]["function"]["parameters"]["required"], json!(["location"]));

    // The streamed form: one tool_use block whose input_json_delta fragments make the input.
    let mut streamed = ask.clone();
    streamed["stream"] = true.into();
    let events = anthropic_events(&gw.messages(&f.key, streamed).await.text().await.unwrap());
    let start = events.iter().find(|(n, _)| n == "content_block_start").unwrap();
    assert_eq!(start.1["content_block"]["type"], "tool_use");
    let json: String = events.iter().filter_map(|(_, d)| d["delta"]["partial_json"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), json!({"location": "Paris"}));
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    // The client answers with a tool_result; the provider sees an OpenAI tool message.
    let id = calls[0]["id"].as_str().unwrap();
    let mut answer = ask.clone();
    answer["messages"] = json!([
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": m["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "22 C and sunny"}]},
    ]);
    let m: Value = gw.messages(&f.key, answer).await.json().await.unwrap();
    assert_eq!(m["content"][0]["text"], "tool result received: 22 C and sunny", "{m}");
    assert_eq!(m["stop_reason"], "end_turn");
    let up = mock.last_request().unwrap().body;
    let msgs = up["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["tool_calls"][0]["id"], id);
    assert_eq!(msgs[1]["tool_calls"][0]["function"]["arguments"], r#"{"location":"Paris"}"#);
    assert_eq!(msgs[2], json!({"role": "tool", "tool_call_id": id, "content": "22 C and sunny"}));
    gw.stop().await;
}

#[tokio::test]
async fn count_tokens_counts_the_prompt_without_a_call() {
    let Setup { mock, gw, f } = Setup::new().await;
    let url = format!("{}/v1/messages/count_tokens", gw.url);
    let count = |body: Value| {
        gw.http.post(&url).header("x-api-key", &f.key).header("anthropic-version", ANTHROPIC_VERSION).json(&body).send()
    };
    let resp = count(json!({"model": f.model, "system": "12345678", "messages": user("hi")})).await.unwrap();
    assert_eq!(resp.status(), 200);
    // The gateway's count: system 8 bytes → 2; "user"+"hi" 6 bytes → 2, + 4 per message.
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"input_tokens": 8}));
    let resp = count(json!({"model": "nope", "messages": user("hi")})).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "not_found_error");
    let resp = count(json!({"model": f.model, "messages": "hi"})).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(mock.stats().total, 0, "counting never calls the provider");
    let calls = gw.admin_ok("GET", &format!("/api/v1/calls?key_id={}", f.key_id), None, 200).await;
    assert_eq!(calls["data"], json!([]), "counting is not a billed call");
    gw.stop().await;
}

#[tokio::test]
async fn errors_come_in_the_anthropic_shape() {
    let Setup { mock, gw, f } = Setup::new().await;
    let ok = json!({"model": f.model, "max_tokens": 10, "messages": user("hi")});

    expect_anthropic_error(gw.messages("tg-wrong", ok.clone()).await, 401, "authentication_error").await;
    let (_, m) = expect_anthropic_error(
        gw.messages(&f.key, json!({"model": f.model, "messages": user("hi")})).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(m.contains("max_tokens"), "{m}");
    let (_, m) = expect_anthropic_error(
        gw.messages(
            &f.key,
            json!({"model": f.model, "max_tokens": 10, "messages": [{"role": "user",
            "content": [{"type": "server_tool_use", "id": "x", "name": "web_search", "input": {}}]}]}),
        )
        .await,
        400,
        "invalid_request_error",
    )
    .await;
    assert!(m.contains("server_tool_use"), "{m}");
    expect_anthropic_error(
        gw.messages(&f.key, json!({"model": "no-such", "max_tokens": 10, "messages": user("hi")})).await,
        404,
        "not_found_error",
    )
    .await;
    let limited =
        gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": f.user_id, "models": ["other"]})), 201).await;
    expect_anthropic_error(gw.messages(limited["key"].as_str().unwrap(), ok.clone()).await, 403, "permission_error")
        .await;

    let broke = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "broke"})), 201).await;
    let broke_key = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": broke["id"]})), 201).await;
    let (_, m) =
        expect_anthropic_error(gw.messages(broke_key["key"].as_str().unwrap(), ok.clone()).await, 402, "billing_error")
            .await;
    assert!(m.contains("credits"), "{m}");

    gw.admin_ok("PATCH", &format!("/api/v1/keys/{}", f.key_id), Some(json!({"rpm": 1})), 200).await;
    assert_eq!(gw.messages(&f.key, ok.clone()).await.status(), 200);
    let (h, _) = expect_anthropic_error(gw.messages(&f.key, ok.clone()).await, 429, "rate_limit_error").await;
    assert!(h.contains_key("retry-after"));
    assert_eq!(h["anthropic-ratelimit-requests-limit"], "1");
    assert_eq!(h["anthropic-ratelimit-requests-remaining"], "0");
    assert!(h["anthropic-ratelimit-requests-reset"].to_str().unwrap().ends_with('Z'));
    assert!(!h.keys().any(|k| k.as_str().starts_with("x-ratelimit-")), "OpenAI's headers are for OpenAI clients");

    // A provider failure after routing gave up: Anthropic's api_error.
    let failing = Fixture::new(&gw, &mock.scenario_url("status=500"), "10").await;
    let body = json!({"model": failing.model, "max_tokens": 10, "messages": user("hi")});
    expect_anthropic_error(gw.messages(&failing.key, body).await, 502, "api_error").await;
    gw.stop().await;
}

#[tokio::test]
async fn upstream_failures_mid_stream_end_with_an_in_band_error_event() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    for (opts, class) in [("chunks=6,error_after=2", "upstream_error"), ("chunks=6,cut_after=2", "upstream_io_error")] {
        let f = Fixture::new(&gw, &mock.scenario_url(opts), "10").await;
        let resp = gw
            .messages(&f.key, json!({"model": f.model, "max_tokens": 50, "stream": true, "messages": user("hi")}))
            .await;
        assert_eq!(resp.status(), 200);
        let events = anthropic_events(&resp.text().await.unwrap());
        let (name, data) = events.last().unwrap();
        assert_eq!(name, "error", "{events:?}");
        assert_eq!(data["type"], "error");
        assert!(data["error"]["type"].as_str().unwrap().ends_with("_error"), "{data}");
        assert!(!events.iter().any(|(n, _)| n == "message_stop"));
        assert_eq!(events[0].0, "message_start");
        let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
        assert_eq!((calls[0]["status"].as_str(), calls[0]["error_class"].as_str()), (Some("failed"), Some(class)));
    }
    gw.stop().await;
}

#[tokio::test]
async fn silent_upstreams_get_pings_sent_to_the_client() {
    let mock = mock().await;
    let gw = Gateway::start_with(GatewayOptions {
        env: vec![("TOLLGATE_STREAM_KEEPALIVE_MS".into(), "100".into())],
        ..GatewayOptions::default()
    })
    .await;
    let f = Fixture::new(&gw, &mock.scenario_url("chunks=3,stall_after=1,stall_mid_ms=450"), "10").await;
    let resp =
        gw.messages(&f.key, json!({"model": f.model, "max_tokens": 50, "stream": true, "messages": user("hi")})).await;
    let events = anthropic_events(&resp.text().await.unwrap());
    let pings = events.iter().filter(|(n, d)| n == "ping" && d["type"] == "ping").count();
    assert!(pings >= 2, "{events:?}");
    assert_eq!(events.last().unwrap().0, "message_stop");
    gw.stop().await;
}

#[tokio::test]
async fn models_list_takes_the_anthropic_shape_for_anthropic_clients() {
    let Setup { mock: _mock, gw, f } = Setup::new().await;
    let v = gw.models(&f.key, true).await;
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["id"], f.model.as_str());
    assert!(v["data"][0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!((v["has_more"].as_bool(), v["first_id"].as_str()), (Some(false), Some(f.model.as_str())));
    assert!(v.get("object").is_none());
    let resp = gw.http.get(format!("{}/v1/models", gw.url)).header("anthropic-version", ANTHROPIC_VERSION).send();
    expect_anthropic_error(resp.await.unwrap(), 401, "authentication_error").await;
    gw.stop().await;
}
