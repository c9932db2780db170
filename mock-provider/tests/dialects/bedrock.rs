//! Bedrock Converse / ConverseStream, the event-stream framing and the SigV4 header checks.

use mock_provider::MockServer;
use serde_json::{Value, json};

use crate::common::{Frame, Reply, event_stream, post, reply_text, server};
use crate::failures::Case;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/us-east-1/bedrock/aws4_request, \
                    SignedHeaders=host;x-amz-date, \
                    Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
pub const HEADERS: &[(&str, &str)] = &[("authorization", AUTH), ("x-amz-date", "20250102T030405Z")];
const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";

fn url(mock: &MockServer, opts: Option<&str>, stream: bool) -> String {
    let root = opts.map_or_else(|| mock.root_url(), |o| mock.scenario_root(o));
    let action = if stream { "converse-stream" } else { "converse" };
    format!("{root}/model/{MODEL}/{action}")
}

fn request(_stream: bool) -> Value {
    json!({"system": [{"text": "be brief"}],
           "messages": [{"role": "user", "content": [{"text": "hi there"}]}],
           "inferenceConfig": {"maxTokens": 100}})
}

fn tools_request() -> Value {
    let mut req = request(false);
    req["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {}}}},
                                         {"toolSpec": {"name": "get_time", "inputSchema": {"json": {}}}}]});
    req
}

/// Decodes a whole stream body: every frame valid, nothing left over unless the body was cut.
fn frames(reply: &Reply) -> Vec<Frame> {
    let (frames, rest) = event_stream(&reply.body);
    if !reply.cut {
        assert_eq!(rest, 0, "trailing bytes");
    }
    frames
}

fn stream_text_of(frames: &[Frame]) -> (String, bool) {
    let text = frames
        .iter()
        .filter(|f| f.header(":event-type") == "contentBlockDelta")
        .filter_map(|f| f.payload["delta"]["text"].as_str())
        .collect();
    (text, frames.last().is_some_and(|f| f.header(":event-type") == "metadata"))
}

pub fn case() -> Case {
    Case {
        name: "bedrock",
        url,
        headers: HEADERS,
        body: request,
        stream_text: |body| stream_text_of(&event_stream(body).0),
        error_kind: |reply: &Reply| {
            assert!(reply.json()["message"].is_string());
            reply.header("x-amzn-errortype").split(':').next().unwrap().to_owned()
        },
        kinds: [
            (401, "UnrecognizedClientException"),
            (429, "ThrottlingException"),
            (500, "InternalServerException"),
            (503, "ServiceUnavailableException"),
        ],
        stream_error: |body| {
            let (frames, _) = event_stream(body);
            let last = frames.last().unwrap();
            last.header(":message-type") == "exception"
                && last.header(":exception-type") == "internalServerException"
                && last.payload["message"].is_string()
        },
    }
}

#[tokio::test]
async fn converse_text_and_usage() {
    let mock = server().await;
    let reply = post(&url(&mock, None, false), HEADERS, &request(false)).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["output"]["message"], json!({"role": "assistant", "content": [{"text": reply_text(8)}]}));
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(v["usage"], json!({"inputTokens": 4, "outputTokens": 8, "totalTokens": 12}));
    assert!(v["metrics"]["latencyMs"].is_u64());

    let opts = "prompt_tokens=100,cached_tokens=30,cache_write_tokens=20,completion_tokens=5,chunks=9";
    let mut req = request(false);
    req["inferenceConfig"]["maxTokens"] = json!(2);
    let v = post(&url(&mock, Some(opts), false), HEADERS, &req).await.json();
    assert_eq!(v["output"]["message"]["content"][0]["text"], "Hello from");
    assert_eq!(v["stopReason"], "max_tokens");
    assert_eq!(
        v["usage"],
        json!({"inputTokens": 50, "outputTokens": 5, "totalTokens": 105,
               "cacheReadInputTokens": 30, "cacheWriteInputTokens": 20})
    );
    let stats = mock.stats();
    assert_eq!(stats.by_dialect["bedrock"], 2);
    assert_eq!(stats.by_key["AKIDEXAMPLE"], 2, "counted under the access key id");
    assert_eq!(stats.by_path[&format!("/model/{MODEL}/converse")], 2);
}

#[tokio::test]
async fn converse_stream_frames() {
    let mock = server().await;
    let reply = post(&url(&mock, Some("chunks=3,cached_tokens=1"), true), HEADERS, &request(true)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), "application/vnd.amazon.eventstream");
    let frames = frames(&reply);
    let types: Vec<&str> = frames.iter().map(|f| f.header(":event-type")).collect();
    assert_eq!(
        types,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    for f in &frames {
        assert_eq!(f.header(":message-type"), "event");
        assert_eq!(f.header(":content-type"), "application/json");
        assert!(f.payload["p"].is_string(), "padding present");
    }
    assert_eq!(frames[0].payload["role"], "assistant");
    assert_eq!(frames[1].payload["contentBlockIndex"], 0);
    assert_eq!(stream_text_of(&frames), (reply_text(3), true));
    assert_eq!(frames[5].payload["stopReason"], "end_turn");
    assert_eq!(
        frames[6].payload["usage"],
        json!({"inputTokens": 3, "outputTokens": 3, "totalTokens": 7, "cacheReadInputTokens": 1})
    );
}

#[tokio::test]
async fn tool_use_json_stream_and_result() {
    let mock = server().await;
    let v = post(&url(&mock, None, false), HEADERS, &tools_request()).await.json();
    assert_eq!(v["stopReason"], "tool_use");
    let content = v["output"]["message"]["content"].as_array().unwrap().clone();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["toolUse"]["name"], "get_weather");
    assert_eq!(content[0]["toolUse"]["input"], json!({"location": "Paris"}));
    assert!(content[0]["toolUse"]["toolUseId"].as_str().unwrap().starts_with("tooluse_mock_"));

    let mut req = tools_request();
    req["toolConfig"]["toolChoice"] = json!({"tool": {"name": "get_time"}});
    let v = post(&url(&mock, None, false), HEADERS, &req).await.json();
    assert_eq!(v["output"]["message"]["content"].as_array().unwrap().len(), 1);
    assert_eq!(v["output"]["message"]["content"][0]["toolUse"]["name"], "get_time");

    let reply = post(&url(&mock, None, true), HEADERS, &tools_request()).await;
    let frames = frames(&reply);
    for index in 0..2 {
        let start = frames
            .iter()
            .find(|f| f.header(":event-type") == "contentBlockStart" && f.payload["contentBlockIndex"] == index)
            .unwrap();
        assert!(start.payload["start"]["toolUse"]["toolUseId"].is_string());
        let input: String = frames
            .iter()
            .filter(|f| f.header(":event-type") == "contentBlockDelta" && f.payload["contentBlockIndex"] == index)
            .map(|f| f.payload["delta"]["toolUse"]["input"].as_str().unwrap())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({"location": "Paris"}));
    }
    let stop = frames.iter().find(|f| f.header(":event-type") == "messageStop").unwrap();
    assert_eq!(stop.payload["stopReason"], "tool_use");

    let mut req = tools_request();
    req["messages"] = json!([
        {"role": "user", "content": [{"text": "weather?"}]},
        {"role": "assistant", "content": [content[0].clone()]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": content[0]["toolUse"]["toolUseId"],
                                                     "content": [{"json": {"sky": "sunny"}}]}}]}]);
    let v = post(&url(&mock, None, false), HEADERS, &req).await.json();
    assert_eq!(v["output"]["message"]["content"][0]["text"], "tool result received: {\"sky\":\"sunny\"}");
}

#[tokio::test]
async fn reasoning_when_asked() {
    let mock = server().await;
    let mut req = request(false);
    req["additionalModelRequestFields"] = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}});
    let v = post(&url(&mock, Some("chunks=2"), false), HEADERS, &req).await.json();
    let reasoning = &v["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"];
    assert_eq!(reasoning["text"], "Let me think this through.");
    assert!(reasoning["signature"].is_string());
    let reply = post(&url(&mock, Some("chunks=2"), true), HEADERS, &req).await;
    let frames = frames(&reply);
    let thought: String = frames
        .iter()
        .filter(|f| f.payload["contentBlockIndex"] == 0)
        .filter_map(|f| f.payload["delta"]["reasoningContent"]["text"].as_str())
        .collect();
    assert_eq!(thought, "Let me think this through.");
    assert!(frames.iter().any(|f| f.payload["delta"]["reasoningContent"]["signature"].is_string()));
    assert_eq!(stream_text_of(&frames), ("Hello from".to_owned(), true));
}

#[tokio::test]
async fn signature_header_checks() {
    let mock = server().await;
    let reply = post(&url(&mock, None, false), &[("x-amz-date", "20250102T030405Z")], &request(false)).await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("x-amzn-errortype").starts_with("MissingAuthenticationTokenException"));
    let no_date = [("authorization", AUTH)];
    assert_eq!(post(&url(&mock, None, false), &no_date, &request(false)).await.status, 403);
    let s3 = AUTH.replace("/bedrock/", "/s3/");
    let reply = post(&url(&mock, None, false), &[("authorization", &s3), HEADERS[1]], &request(false)).await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("x-amzn-errortype").starts_with("InvalidSignatureException"));
    let bearer = [("authorization", "Bearer k"), HEADERS[1]];
    assert_eq!(post(&url(&mock, None, false), &bearer, &request(false)).await.status, 403);

    let reply = post(&url(&mock, None, false), HEADERS, &json!({"messages": []})).await;
    assert_eq!(reply.status, 400);
    assert!(reply.header("x-amzn-errortype").starts_with("ValidationException"));

    // A credential-scoped scenario in the access key id.
    let keyed = AUTH.replace("AKIDEXAMPLE", "mock:status=429,times=1");
    let headers = [("authorization", keyed.as_str()), HEADERS[1]];
    assert_eq!(post(&url(&mock, None, false), &headers, &request(false)).await.status, 429);
    assert_eq!(post(&url(&mock, None, false), &headers, &request(false)).await.status, 200);
}

/// A SigV4 signer written apart from the mock's verifier, for the positive case.
fn sign(secret: &str, url: &str, body: &[u8], date: &str) -> String {
    use sha2::{Digest, Sha256};
    fn mac(key: &[u8], data: &str) -> Vec<u8> {
        let mut k = key.to_vec();
        k.resize(64, 0);
        let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(data.bytes()).collect();
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(Sha256::digest(&inner)).collect();
        Sha256::digest(&outer).to_vec()
    }
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let path = path.replace('%', "%25").replace('=', "%3D").replace(',', "%2C");
    let canonical = format!(
        "POST\n{path}\n\nhost:{host}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{}/us-east-1/bedrock/aws4_request", &date[..8]);
    let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [&date[..8], "us-east-1", "bedrock", "aws4_request"] {
        key = mac(&key, part);
    }
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders=host;x-amz-date, Signature={}",
        hex::encode(mac(&key, &to_sign))
    )
}

#[tokio::test]
async fn signatures_verified_with_a_configured_secret() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let config = mock_provider::MockConfig { aws_secret_access_key: Some(secret.into()), ..Default::default() };
    let mock = mock_provider::MockServer::start(config).await;
    let date = "20250102T030405Z";
    let body = request(false);
    for opts in [None, Some("chunks=2,prompt_tokens=9")] {
        let url = url(&mock, opts, false);
        let auth = sign(secret, &url, body.to_string().as_bytes(), date);
        let reply = post(&url, &[("authorization", &auth), ("x-amz-date", date)], &body).await;
        assert_eq!(reply.status, 200, "{opts:?}: {}", String::from_utf8_lossy(&reply.body));

        let wrong = sign("not the secret", &url, body.to_string().as_bytes(), date);
        let reply = post(&url, &[("authorization", &wrong), ("x-amz-date", date)], &body).await;
        assert_eq!(reply.status, 403);
        assert!(reply.header("x-amzn-errortype").starts_with("InvalidSignatureException"));
        assert!(reply.json()["message"].as_str().unwrap().contains("does not match"));
    }
    // The body is covered: the same signature over another body fails.
    let url = url(&mock, None, false);
    let auth = sign(secret, &url, body.to_string().as_bytes(), date);
    let other = json!({"messages": [{"role": "user", "content": [{"text": "changed"}]}]});
    assert_eq!(post(&url, &[("authorization", &auth), ("x-amz-date", date)], &other).await.status, 403);
}
