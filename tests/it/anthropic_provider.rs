//! Providers of kind `anthropic`: Anthropic clients pass through (Claude Code style: unknown
//! fields, betas, thinking signatures byte-exact), OpenAI clients are converted both ways.

use serde_json::{Value, json};

use crate::harness::*;

/// The mock reports 1000 prompt tokens (200 read from the cache, 100 written to it) and 500
/// output tokens; Anthropic's `input_tokens` is the 700 uncached.
const USAGE: &str = "prompt_tokens=1000,completion_tokens=500,cached_tokens=200,cache_write_tokens=100";

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn header(req: &mock_provider::RecordedRequest, name: &str) -> Option<String> {
    req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[tokio::test]
async fn claude_code_style_requests_pass_through_with_only_the_model_rewritten() {
    let mock = mock().await;
    for engine in engines() {
        let gw = Gateway::start(engine).await;
        let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(USAGE), "10").await;
        let body = json!({
            "model": f.model, "max_tokens": 2048,
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "think", "cache_control": {"type": "ephemeral"}}]}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "user_abc_account_x_session_y"},
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "a_future_field": {"kept": [1, 2, 3]},
        });
        let resp = gw
            .http
            .post(format!("{}/v1/messages", gw.url))
            .bearer_auth(&f.key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header("anthropic-beta", "interleaved-thinking-2025-05-14,context-management-2025-06-27")
            .header("x-app", "cli")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
        let m: Value = resp.json().await.unwrap();
        assert_eq!(m["content"][0]["type"], "thinking");
        let signature = m["content"][0]["signature"].as_str().unwrap();
        assert!(signature.contains(['+', '/', '=']), "the provider's opaque signature, as sent: {signature}");
        assert_eq!(m["usage"]["input_tokens"], 700);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 200);
        assert_eq!(m["usage"]["cache_creation_input_tokens"], 100);

        let last = mock.last_request().unwrap();
        assert!(last.path.ends_with("/v1/messages"), "{}", last.path);
        let mut expected = body.clone();
        expected["model"] = "mock-gpt".into();
        assert_eq!(last.body, expected, "only the model is rewritten");
        assert_eq!(header(&last, "x-api-key").as_deref(), Some(PROVIDER_KEY));
        assert_eq!(header(&last, "anthropic-version").as_deref(), Some(ANTHROPIC_VERSION));
        assert_eq!(
            header(&last, "anthropic-beta").as_deref(),
            Some("interleaved-thinking-2025-05-14,context-management-2025-06-27")
        );
        assert_eq!(header(&last, "authorization"), None, "the client's key never goes upstream");
        assert_eq!(header(&last, "x-app"), None, "only allowlisted client headers are forwarded");

        let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
        let c = &calls[0];
        assert_eq!((c["input_tokens"].as_i64(), c["cached_tokens"].as_i64()), (Some(700), Some(200)));
        assert_eq!((c["cache_write_tokens"].as_i64(), c["output_tokens"].as_i64()), (Some(100), Some(500)));
        assert_eq!(f.balance(&gw).await, "9.9925");
        gw.stop().await;
    }
}

#[tokio::test]
async fn anthropic_streams_are_relayed_byte_for_byte_and_settled_before_message_stop() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(&format!("chunks=3,{USAGE}")), "10").await;
    let body = json!({"model": f.model, "max_tokens": 2048, "stream": true, "messages": user("hi"),
        "thinking": {"type": "enabled", "budget_tokens": 1024}});
    let resp = gw.messages(&f.key, body.clone()).await;
    assert_eq!(resp.status(), 200);
    let mut direct_body = body.clone();
    direct_body["model"] = "mock-gpt".into();
    let through_gateway = resp.text().await.unwrap();
    let events = anthropic_events(&through_gateway);
    assert_eq!(events.first().unwrap().0, "message_start");
    assert_eq!(events.last().unwrap().0, "message_stop");
    assert!(events.iter().any(|(n, _)| n == "ping"), "the provider's pings are relayed");
    let signature: String = events.iter().filter_map(|(_, d)| d["delta"]["signature"].as_str()).collect();
    assert!(signature.contains(['+', '/', '=']), "signature_delta relayed as sent");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "Hello from the");

    // The final message_delta carries what the call was charged (the one member added).
    let delta = events.iter().find(|(n, _)| n == "message_delta").map(|(_, d)| d.clone()).unwrap();
    let cost = delta["usage"]["cost"].clone();
    assert!(cost.is_number(), "{delta}");

    // Event for event what the provider sends a direct client, but for what differs per call
    // (the message id and the signature's counter) and the cost the gateway adds.
    let direct = gw
        .http
        .post(format!("{}/v1/messages", mock.scenario_root(&format!("chunks=3,{USAGE}"))))
        .header("x-api-key", "k")
        .header("anthropic-version", ANTHROPIC_VERSION)
        .json(&direct_body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let strip_ids = |s: &str| {
        anthropic_events(s)
            .into_iter()
            .map(|(n, mut d)| {
                if let Some(m) = d.get_mut("message") {
                    m["id"] = Value::Null;
                }
                if d["delta"]["signature"].is_string() {
                    d["delta"]["signature"] = "per call".into();
                }
                if let Some(usage) = d.get_mut("usage").and_then(Value::as_object_mut) {
                    usage.remove("cost");
                }
                (n, d)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_ids(&through_gateway), strip_ids(&direct));

    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
    assert_eq!(calls[0]["status"], "success");
    assert_eq!((calls[0]["input_tokens"].as_i64(), calls[0]["output_tokens"].as_i64()), (Some(700), Some(500)));
    assert_eq!(calls[0]["cache_write_tokens"], 100);
    assert_eq!(cost.to_string(), calls[0]["cost"].as_str().unwrap(), "the stream told the charge");
    gw.stop().await;
}

#[tokio::test]
async fn an_anthropic_provider_error_mid_stream_reaches_the_client_in_band() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root("chunks=6,error_after=2"), "10").await;
    let resp =
        gw.messages(&f.key, json!({"model": f.model, "max_tokens": 50, "stream": true, "messages": user("hi")})).await;
    let events = anthropic_events(&resp.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "overloaded_error", "the provider's own error event");
    assert_eq!(events.iter().filter(|(n, _)| n == "error").count(), 1);
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
    assert_eq!(calls[0]["error_class"], "upstream_stream_error");
    gw.stop().await;
}

#[tokio::test]
async fn count_tokens_asks_an_anthropic_provider() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root("prompt_tokens=321"), "10").await;
    let resp = gw
        .http
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("x-api-key", &f.key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .json(&json!({"model": f.model, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"input_tokens": 321}));
    let last = mock.last_request().unwrap();
    assert!(last.path.ends_with("/v1/messages/count_tokens"), "{}", last.path);
    assert_eq!(last.body["model"], "mock-gpt");
    let calls = gw.admin_ok("GET", &format!("/api/v1/calls?key_id={}", f.key_id), None, 200).await;
    assert_eq!(calls["data"], json!([]), "counting is not a billed call");
    gw.stop().await;
}

/// `count_tokens` takes the attempt path's send and read: a provider whose count stalls
/// mid-body is cut at the idle timeout (a 504 in the Anthropic shape), not waited on.
#[tokio::test]
async fn a_count_that_stalls_is_cut_by_the_idle_timeout() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let scenario = mock.scenario_root("prompt_tokens=321,stall_after=1,stall_mid_ms=60000");
    let f = Fixture::of_kind(&gw, "anthropic", &scenario, "10").await;
    let providers = gw.admin_ok("GET", "/api/v1/providers", None, 200).await;
    let provider = providers["data"].as_array().unwrap().iter().find(|p| p["name"] == f.provider_name.as_str());
    let id = provider.unwrap()["id"].as_str().unwrap().to_string();
    let timeouts = json!({"timeouts": {"first_byte_ms": 5000, "idle_ms": 300, "total_ms": 10000}});
    gw.admin_ok("PATCH", &format!("/api/v1/providers/{id}"), Some(timeouts), 200).await;
    let started = std::time::Instant::now();
    let resp = gw
        .http
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .header("x-api-key", &f.key)
        .header("anthropic-version", ANTHROPIC_VERSION)
        .json(&json!({"model": f.model, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    let (_, message) = crate::setup::expect_anthropic_error(resp, 504, "api_error").await;
    let took = started.elapsed();
    assert!(message.contains("did not finish in time"), "{message}");
    assert!(took < std::time::Duration::from_secs(5), "cut at the idle timeout, not after the stall: {took:?}");
    assert!(mock.last_request().unwrap().path.ends_with("/v1/messages/count_tokens"));
    gw.stop().await;
}

#[tokio::test]
async fn openai_clients_are_converted_to_an_anthropic_provider_with_exact_usage() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(USAGE), "10").await;
    let resp = gw
        .chat(
            &f.key,
            json!({"model": f.model, "messages": [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello"}], "stop": ["END"], "user": "u-1"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-cost"], "0.0075");
    let c: Value = resp.json().await.unwrap();
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["model"], f.model.as_str());
    assert!(c["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello"));
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    // OpenAI's prompt_tokens counts cache reads and writes.
    assert_eq!(c["usage"]["prompt_tokens"], 1000);
    assert_eq!(c["usage"]["prompt_tokens_details"]["cached_tokens"], 200);
    assert_eq!(c["usage"]["completion_tokens"], 500);
    assert_eq!(c["usage"]["total_tokens"], 1500);
    let last = mock.last_request().unwrap();
    assert!(last.path.ends_with("/v1/messages"), "{}", last.path);
    assert_eq!(last.body["system"], "Be brief.");
    assert_eq!(last.body["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "hello"}]}]));
    assert_eq!(last.body["max_tokens"], 4096, "Anthropic requires max_tokens: the admission default");
    assert_eq!(
        (last.body["stop_sequences"].clone(), last.body["metadata"]["user_id"].clone()),
        (json!(["END"]), json!("u-1"))
    );
    assert_eq!(header(&last, "x-api-key").as_deref(), Some(PROVIDER_KEY));
    let calls = gw.calls_until(&f.key_id, |c| c.len() == 1 && c[0]["status"] == "success").await;
    assert_eq!((calls[0]["input_tokens"].as_i64(), calls[0]["cache_write_tokens"].as_i64()), (Some(700), Some(100)));
    gw.stop().await;
}

#[tokio::test]
async fn openai_streams_and_tools_through_an_anthropic_provider() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root(&format!("chunks=4,{USAGE}")), "10").await;
    let resp = gw
        .chat(
            &f.key,
            json!({"model": f.model, "stream": true, "stream_options": {"include_usage": true},
                "max_completion_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let data = sse_data(&resp.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "Hello from the mock");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!((usage["prompt_tokens"].as_i64(), usage["completion_tokens"].as_i64()), (Some(1000), Some(500)));
    assert_eq!(mock.last_request().unwrap().body["max_tokens"], 100);

    // Tools: a call, then its result answered.
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]);
    let ask = json!({"model": f.model, "messages": [{"role": "user", "content": "weather?"}], "tools": tools,
        "parallel_tool_calls": false});
    let c: Value = gw.chat(&f.key, ask.clone()).await.json().await.unwrap();
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls", "{c}");
    let call = &c["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"location": "Paris"})
    );
    assert_eq!(
        mock.last_request().unwrap().body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );

    let mut streamed = ask.clone();
    streamed["stream"] = true.into();
    let data = sse_data(&gw.chat(&f.key, streamed).await.text().await.unwrap());
    let args: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str().map(str::to_string))
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"location": "Paris"}));

    let mut answer = ask.clone();
    answer["messages"] = json!([
        {"role": "user", "content": "weather?"},
        c["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "22 C"},
    ]);
    let c: Value = gw.chat(&f.key, answer).await.json().await.unwrap();
    assert_eq!(c["choices"][0]["message"]["content"], "tool result received: 22 C", "{c}");
    let up = mock.last_request().unwrap().body;
    assert_eq!(up["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(
        up["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": call["id"], "content": "22 C"})
    );
    gw.stop().await;
}

#[tokio::test]
async fn openai_clients_see_anthropic_failures_in_their_dialect() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    let f = Fixture::of_kind(&gw, "anthropic", &mock.scenario_root("chunks=6,error_after=2"), "10").await;
    let data = sse_data(
        &gw.chat(&f.key, json!({"model": f.model, "stream": true, "messages": [{"role": "user", "content": "x"}]}))
            .await
            .text()
            .await
            .unwrap(),
    );
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].as_str().is_some(), "{last}");
    assert!(!data.iter().any(|d| d == "[DONE]"));

    // Embeddings: an Anthropic provider has none; refused before any upstream call.
    let before = mock.stats().total;
    let resp = gw
        .http
        .post(format!("{}/v1/embeddings", gw.url))
        .bearer_auth(&f.key)
        .json(&json!({"model": f.model, "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");
    assert_eq!(mock.stats().total, before);

    // An OpenAI field Anthropic cannot express is refused, not garbled.
    let resp = gw
        .chat(
            &f.key,
            json!({"model": f.model, "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("json_object"));
    gw.stop().await;
}
