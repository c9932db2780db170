//! Azure OpenAI deployments: OpenAI shapes, Azure URLs, key and errors.

use mock_provider::MockServer;
use serde_json::{Value, json};

use crate::common::{Reply, post, reply_text, server, sse};
use crate::failures::Case;

const HEADERS: &[(&str, &str)] = &[("api-key", "azure-key")];

fn url(mock: &MockServer, opts: Option<&str>, _stream: bool) -> String {
    let root = opts.map_or_else(|| mock.root_url(), |o| mock.scenario_root(o));
    format!("{root}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21")
}

fn request(stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": "hi there"}]})
}

/// The text of an OpenAI-shaped stream and whether it ended with `[DONE]`.
fn stream_text(body: &[u8]) -> (String, bool) {
    let text = std::str::from_utf8(body).unwrap();
    let done = text.ends_with("data: [DONE]\n\n");
    let events = sse(text.replace("data: [DONE]\n\n", "").as_bytes());
    let content = events.iter().filter_map(|(_, e)| e["choices"][0]["delta"]["content"].as_str()).collect();
    (content, done)
}

pub fn case() -> Case {
    Case {
        name: "azure-openai",
        url,
        headers: HEADERS,
        body: request,
        stream_text,
        error_kind: |reply: &Reply| {
            let v = reply.json();
            assert_eq!(v["error"]["code"], reply.status.to_string());
            if reply.status == 429 {
                assert_eq!(reply.header("retry-after-ms"), "3000");
            }
            v["error"]["type"].as_str().unwrap().to_owned()
        },
        kinds: [
            (401, "authentication_error"),
            (429, "rate_limit_error"),
            (500, "server_error"),
            (404, "invalid_request_error"),
        ],
        stream_error: |body| {
            let text = std::str::from_utf8(body).unwrap();
            let last = text.trim_end().rsplit("\n\n").next().unwrap();
            serde_json::from_str::<Value>(last.strip_prefix("data: ").unwrap()).unwrap()["error"]["type"]
                == "server_error"
        },
    }
}

#[tokio::test]
async fn chat_named_after_the_deployment() {
    let mock = server().await;
    let reply = post(&url(&mock, None, false), HEADERS, &request(false)).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(v["choices"][0]["message"]["content"], reply_text(8));
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    let last = mock.last_request().unwrap();
    assert_eq!(last.dialect, "azure-openai");
    assert_eq!(last.query, "api-version=2024-10-21");
    assert_eq!(mock.stats().by_key["azure-key"], 1);

    let reply = post(&url(&mock, Some("chunks=2"), true), HEADERS, &request(true)).await;
    assert_eq!(stream_text(&reply.body), ("Hello from".to_owned(), true));

    let mut req = request(true);
    req["tools"] = json!([{"type": "function", "function": {"name": "get_weather"}}]);
    let reply = post(&url(&mock, None, true), HEADERS, &req).await;
    let text = String::from_utf8(reply.body).unwrap();
    assert!(text.contains("\"name\":\"get_weather\"") && text.contains("\"finish_reason\":\"tool_calls\""), "{text}");
}

#[tokio::test]
async fn embeddings_and_checks() {
    let mock = server().await;
    let emb = format!("{}/openai/deployments/emb-3/embeddings?api-version=2024-10-21", mock.root_url());
    let v = post(&emb, HEADERS, &json!({"input": "a b", "dimensions": 2})).await.json();
    assert_eq!(v["model"], "emb-3");
    assert_eq!(v["data"][0]["embedding"], json!([0.01, 0.02]));
    assert_eq!(mock.stats().by_path["/openai/deployments/emb-3/embeddings"], 1);

    let reply = post(&url(&mock, None, false), &[], &request(false)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["code"], "401");
    let no_version = url(&mock, None, false).replace("?api-version=2024-10-21", "");
    assert_eq!(post(&no_version, HEADERS, &request(false)).await.status, 404);
    let reply = post(&url(&mock, None, false), HEADERS, &json!({"messages": "x"})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "400");
}
