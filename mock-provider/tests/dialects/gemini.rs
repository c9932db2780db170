//! Gemini generateContent / streamGenerateContent.

use mock_provider::MockServer;
use serde_json::{Value, json};

use crate::common::{Reply, post, reply_text, server, sse};
use crate::failures::Case;

const HEADERS: &[(&str, &str)] = &[("x-goog-api-key", "goog-key")];

fn url(mock: &MockServer, opts: Option<&str>, stream: bool) -> String {
    let root = opts.map_or_else(|| mock.root_url(), |o| mock.scenario_root(o));
    let method = if stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
    format!("{root}/v1beta/models/gemini-x:{method}")
}

fn request(_stream: bool) -> Value {
    json!({"systemInstruction": {"parts": [{"text": "be brief"}]},
           "contents": [{"role": "user", "parts": [{"text": "hi there"}]}]})
}

fn tools_request() -> Value {
    let mut req = request(false);
    req["tools"] = json!([{"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]}]);
    req
}

/// The text of a stream (thoughts excluded) and whether a chunk carried a finish reason.
fn stream_text(body: &[u8]) -> (String, bool) {
    assert!(std::str::from_utf8(body).unwrap().split("\r\n\r\n").all(|b| !b.contains('\n')), "CRLF framing");
    let events = sse(body);
    let mut text = String::new();
    let mut finished = false;
    for (_, chunk) in &events {
        let candidate = &chunk["candidates"][0];
        for part in candidate["content"]["parts"].as_array().into_iter().flatten() {
            if part["thought"] != true {
                text.push_str(part["text"].as_str().unwrap_or_default());
            }
        }
        finished |= candidate.get("finishReason").is_some();
    }
    (text, finished)
}

pub fn case() -> Case {
    Case {
        name: "gemini",
        url,
        headers: HEADERS,
        body: request,
        stream_text,
        error_kind: |reply: &Reply| {
            let v = reply.json();
            assert_eq!(v["error"]["code"], reply.status);
            assert!(v["error"]["message"].is_string());
            v["error"]["status"].as_str().unwrap().to_owned()
        },
        kinds: [(401, "UNAUTHENTICATED"), (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE")],
        stream_error: |body| sse(body).last().is_some_and(|(_, d)| d["error"]["status"] == "INTERNAL"),
    }
}

#[tokio::test]
async fn non_stream_candidates_and_usage() {
    let mock = server().await;
    let reply = post(&url(&mock, None, false), HEADERS, &request(false)).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["content"], json!({"parts": [{"text": reply_text(8)}], "role": "model"}));
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(v["modelVersion"], "gemini-x");
    assert_eq!(v["usageMetadata"], json!({"promptTokenCount": 4, "candidatesTokenCount": 8, "totalTokenCount": 12}));

    // promptTokenCount includes the cached tokens; candidates exclude the thoughts.
    let opts = "prompt_tokens=100,cached_tokens=30,completion_tokens=20,reasoning_tokens=5";
    let mut req = request(false);
    req["generationConfig"] = json!({"maxOutputTokens": 3});
    let v = post(&url(&mock, Some(opts), false), HEADERS, &req).await.json();
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "Hello from the");
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 100, "candidatesTokenCount": 15, "totalTokenCount": 120,
               "cachedContentTokenCount": 30, "thoughtsTokenCount": 5})
    );
    let last = mock.last_request().unwrap();
    assert_eq!(last.dialect, "gemini");
    assert_eq!(last.query, "");
    assert_eq!(mock.stats().by_path["/v1beta/models/gemini-x:generateContent"], 2);
    assert_eq!(mock.stats().by_key["goog-key"], 2);
}

#[tokio::test]
async fn stream_chunks_with_running_usage() {
    let mock = server().await;
    let reply = post(&url(&mock, Some("chunks=3"), true), HEADERS, &request(true)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "text/event-stream");
    assert_eq!(stream_text(&reply.body), (reply_text(3), true));
    let events = sse(&reply.body);
    assert_eq!(events.len(), 4);
    for (_, chunk) in &events[..3] {
        assert_eq!(chunk["usageMetadata"], json!({"promptTokenCount": 4, "totalTokenCount": 4}));
        assert!(chunk["candidates"][0].get("finishReason").is_none());
    }
    let last = &events[3].1;
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"], json!({"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7}));
    assert_eq!(mock.last_request().unwrap().query, "alt=sse");
}

#[tokio::test]
async fn function_calls_and_results() {
    let mock = server().await;
    let v = post(&url(&mock, None, false), HEADERS, &tools_request()).await.json();
    let parts = v["candidates"][0]["content"]["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], json!({"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}));
    assert_eq!(parts[1]["functionCall"]["name"], "get_time");
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let mut req = tools_request();
    req["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}});
    let v = post(&url(&mock, None, false), HEADERS, &req).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "get_time", "args": {"location": "Paris"}}}])
    );
    req["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let v = post(&url(&mock, None, false), HEADERS, &req).await.json();
    assert!(v["candidates"][0]["content"]["parts"][0]["text"].is_string());

    // Streamed: each call whole in its own chunk.
    let reply = post(&url(&mock, None, true), HEADERS, &tools_request()).await;
    let calls: Vec<Value> = sse(&reply.body)
        .iter()
        .flat_map(|(_, c)| c["candidates"][0]["content"]["parts"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.get("functionCall").cloned())
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["args"], json!({"location": "Paris"}));

    let mut req = tools_request();
    req["contents"] = json!([
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [parts[0].clone()]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}}]}]);
    let v = post(&url(&mock, None, false), HEADERS, &req).await.json();
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "tool result received: {\"sky\":\"sunny\"}");
}

#[tokio::test]
async fn thoughts_when_asked() {
    let mock = server().await;
    let mut req = request(false);
    req["generationConfig"] = json!({"thinkingConfig": {"includeThoughts": true}});
    let v = post(&url(&mock, Some("chunks=2"), false), HEADERS, &req).await.json();
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0], json!({"text": "Let me think this through.", "thought": true}));
    assert_eq!(parts[1]["text"], "Hello from");
    assert!(parts[1]["thoughtSignature"].is_string());
    let reply = post(&url(&mock, Some("chunks=2"), true), HEADERS, &req).await;
    assert_eq!(stream_text(&reply.body), ("Hello from".to_owned(), true));
}

#[tokio::test]
async fn key_only_in_the_header() {
    let mock = server().await;
    let in_url = format!("{}&key=goog-key", url(&mock, None, true));
    let reply = post(&in_url, HEADERS, &request(true)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(mock.last_request().unwrap().query, "alt=sse&key=goog-key", "recorded for the assertion");
    let in_url = format!("{}?key=goog-key", url(&mock, None, false));
    assert_eq!(post(&in_url, &[], &request(false)).await.status, 400);

    let reply = post(&url(&mock, None, false), &[], &request(false)).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"]["status"], "PERMISSION_DENIED");

    let no_sse = url(&mock, None, true).replace("?alt=sse", "");
    assert_eq!(post(&no_sse, HEADERS, &request(true)).await.status, 400);
    let reply = post(&url(&mock, None, false), HEADERS, &json!({"contents": []})).await;
    assert_eq!(reply.status, 400);

    // A credential-scoped scenario in the key header.
    let keyed = [("x-goog-api-key", "mock:status=429,times=1")];
    assert_eq!(post(&url(&mock, None, false), &keyed, &request(false)).await.status, 429);
    assert_eq!(post(&url(&mock, None, false), &keyed, &request(false)).await.status, 200);
}
