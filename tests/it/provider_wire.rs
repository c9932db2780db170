//! The Gemini and Bedrock converters against the mock provider over real HTTP: requests
//! built by `protocol::gemini` / `protocol::bedrock` (Bedrock signed by `providers::sigv4`
//! and verified in full by the mock), answers read back through the same converters and
//! the stream machines, fed the body exactly as the network delivers it.

use futures_util::StreamExt;
use mock_provider::{MockConfig, MockServer};
use serde_json::{Value, json};
use tollgate::billing::pricing::Usage;
use tollgate::protocol::ir::{self, Part, Role, StopReason, TextPart, ToolResultPart};
use tollgate::protocol::stream::anthropic_to_openai::{AnthropicToOpenAi, OpenAiEvent};
use tollgate::protocol::stream::bedrock_to_anthropic::BedrockToAnthropic;
use tollgate::protocol::stream::gemini_to_anthropic::GeminiToAnthropic;
use tollgate::protocol::stream::via_anthropic::ViaAnthropic;
use tollgate::protocol::stream::{AnthropicEvent, ByteTranslator, EventStreamTranslator, SseTranslator};
use tollgate::protocol::{bedrock, gemini};
use tollgate::providers::sigv4::{self, AwsCredentials};

const SECRET: &str = "wire-test-secret";
const BEDROCK_MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn user(text: &str) -> ir::Message {
    ir::Message { role: Role::User, content: vec![Part::Text(TextPart::new(text))] }
}

fn request(messages: Vec<ir::Message>) -> ir::Request {
    ir::Request {
        model: "m".into(),
        system: vec![TextPart::new("be brief")],
        messages,
        max_tokens: Some(100),
        ..ir::Request::default()
    }
}

fn with_tools(mut r: ir::Request) -> ir::Request {
    let schema = json!({"type": "object", "properties": {"location": {"type": "string"}}});
    r.tools = ["get_weather", "get_time"]
        .iter()
        .map(|n| ir::Tool { name: n.to_string(), description: None, input_schema: schema.clone(), cache_control: None })
        .collect();
    r.thinking_budget = Some(1024);
    r
}

async fn mock() -> MockServer {
    MockServer::start(MockConfig { aws_secret_access_key: Some(SECRET.into()), ..MockConfig::default() }).await
}

async fn gemini_call(root: &str, r: &ir::Request, stream: bool) -> reqwest::Response {
    let path = gemini::endpoint_path("gemini-2.5-flash", stream).unwrap();
    reqwest::Client::new()
        .post(format!("{root}{path}"))
        .header("x-goog-api-key", "gemini-test-key")
        .json(&gemini::request_from_ir(r).unwrap())
        .send()
        .await
        .unwrap()
}

async fn bedrock_call(
    mock: &MockServer,
    prefix: &str,
    r: &ir::Request,
    stream: bool,
    secret: &str,
) -> reqwest::Response {
    let path = format!("{prefix}{}", bedrock::endpoint_path(BEDROCK_MODEL, stream).unwrap());
    let body = serde_json::to_vec(&bedrock::request_from_ir(r).unwrap()).unwrap();
    let host = mock.addr().to_string();
    let creds = AwsCredentials {
        access_key_id: "AKIDWIRETEST".into(),
        secret_access_key: secret.into(),
        session_token: Some("session-token".into()),
    };
    let signed = sigv4::sign(
        &sigv4::Request {
            method: "POST",
            host: &host,
            path: &path,
            query: "",
            headers: &[("content-type", "application/json")],
            body: &body,
        },
        &creds,
        "us-east-1",
        "bedrock",
        time::OffsetDateTime::now_utc(),
    );
    let mut req = reqwest::Client::new()
        .post(format!("http://{host}{path}"))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in signed.headers {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

/// Feeds the body as it arrives.
async fn drive<B: ByteTranslator>(mut t: B, resp: reqwest::Response) -> (Vec<B::Out>, Usage) {
    assert!(resp.status().is_success(), "{}", resp.status());
    let mut body = resp.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend(t.push_bytes(&chunk.unwrap()));
    }
    out.extend(t.finish());
    let usage = t.usage();
    (out, usage)
}

/// Text, thinking and tool calls of an Anthropic event stream.
fn anthropic_summary(events: &[AnthropicEvent]) -> (String, Vec<(String, String)>, Value, String) {
    let (mut text, mut sigs, mut calls) = (String::new(), Vec::new(), Vec::new());
    let mut args = String::new();
    let mut stop = String::new();
    let mut thinking = String::new();
    for e in events {
        let d = &e.data;
        match e.event {
            "content_block_start" if d["content_block"]["type"] == "tool_use" => {
                calls.push(json!({"name": d["content_block"]["name"], "id": d["content_block"]["id"]}));
            }
            "content_block_delta" => match d["delta"]["type"].as_str().unwrap() {
                "text_delta" => text += d["delta"]["text"].as_str().unwrap(),
                "thinking_delta" => thinking += d["delta"]["thinking"].as_str().unwrap(),
                "signature_delta" => {
                    sigs.push((thinking.clone(), d["delta"]["signature"].as_str().unwrap().to_string()))
                }
                "input_json_delta" => args += d["delta"]["partial_json"].as_str().unwrap(),
                _ => {}
            },
            "content_block_stop" if !args.is_empty() => {
                let last = calls.last_mut().unwrap();
                last["input"] = serde_json::from_str(&args).unwrap();
                args.clear();
            }
            "message_delta" => stop = d["delta"]["stop_reason"].as_str().unwrap().to_string(),
            "error" => panic!("stream error: {d}"),
            _ => {}
        }
    }
    (text, sigs, Value::Array(calls), stop)
}

fn openai_text(events: &[OpenAiEvent]) -> (String, Option<Value>) {
    let mut text = String::new();
    let mut usage = None;
    for e in events {
        match e {
            OpenAiEvent::Chunk(c) => {
                text += c["choices"][0]["delta"]["content"].as_str().unwrap_or("");
                if c.get("usage").is_some() {
                    usage = Some(c["usage"].clone());
                }
            }
            OpenAiEvent::Error(e) => panic!("stream error: {e}"),
            OpenAiEvent::Done => {}
        }
    }
    (text, usage)
}

/// The next turn after `answer`'s tool calls: the question, the answer as it came, and a
/// result ("18C") for each of its calls, with the tools still offered.
fn tool_results_follow_up(answer: &ir::Response) -> ir::Request {
    let results: Vec<Part> = answer
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse { id, .. } => Some(Part::ToolResult {
                tool_use_id: id.clone(),
                content: vec![ToolResultPart::Text(TextPart::new("18C"))],
                is_error: false,
            }),
            _ => None,
        })
        .collect();
    with_tools(request(vec![
        user("weather in Paris?"),
        ir::Message { role: Role::Assistant, content: answer.content.clone() },
        ir::Message { role: Role::User, content: results },
    ]))
}

fn text_of(r: &ir::Response) -> String {
    r.content.iter().filter_map(|p| if let Part::Text(t) = p { Some(t.text.as_str()) } else { None }).collect()
}

#[tokio::test]
async fn gemini_text_json_and_stream_with_exact_usage() {
    let mock = mock().await;
    let root = mock.scenario_root("prompt_tokens=100,cached_tokens=40,completion_tokens=7,chunks=4");
    let r = request(vec![user("hi there")]);
    let resp = gemini_call(&root, &r, false).await;
    assert!(resp.status().is_success());
    let whole = gemini::parse_response(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(text_of(&whole), "Hello from the mock");
    assert_eq!(whole.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(whole.usage, Usage { input_tokens: 60, cached_tokens: 40, output_tokens: 7, ..Usage::default() });
    let last = mock.last_request().unwrap();
    assert_eq!(last.query, "", "the key never travels in the URL");
    assert!(last.headers.iter().any(|(n, v)| n == "x-goog-api-key" && v == "gemini-test-key"));
    assert_eq!(last.body["systemInstruction"]["parts"][0]["text"], "be brief");

    let (events, usage) =
        drive(SseTranslator::new(GeminiToAnthropic::new("smart")), gemini_call(&root, &r, true).await).await;
    let (text, _, _, stop) = anthropic_summary(&events);
    assert_eq!((text.as_str(), stop.as_str()), ("Hello from the mock", "end_turn"));
    assert_eq!(usage, whole.usage);
    let via = ViaAnthropic::new(GeminiToAnthropic::new("smart"), AnthropicToOpenAi::new("smart", 0, true));
    let (events, _) = drive(SseTranslator::new(via), gemini_call(&root, &r, true).await).await;
    let (text, usage) = openai_text(&events);
    assert_eq!(text, "Hello from the mock");
    // OpenAI's prompt_tokens includes the cached tokens.
    assert_eq!(usage.unwrap()["prompt_tokens"], 100);
}

#[tokio::test]
async fn gemini_tools_round_trip_with_thought_signatures() {
    let mock = mock().await;
    let root = mock.root_url();
    let r = with_tools(request(vec![user("weather in Paris?")]));
    let resp = gemini_call(&root, &r, false).await;
    let answer = gemini::parse_response(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.stop_reason, Some(StopReason::ToolUse));
    let calls: Vec<(&str, &Value)> = answer
        .content
        .iter()
        .filter_map(|p| if let Part::ToolUse { name, input, .. } = p { Some((name.as_str(), input)) } else { None })
        .collect();
    assert_eq!(
        calls,
        vec![("get_weather", &json!({"location": "Paris"})), ("get_time", &json!({"location": "Paris"}))]
    );
    let signature = answer
        .content
        .iter()
        .find_map(|p| match p {
            Part::Thinking { thinking, signature: Some(s) } if thinking.is_empty() => Some(s.clone()),
            _ => None,
        })
        .expect("the mock signs the first reply part");

    // The stream gives the same calls, and a signature (the mock's differ per answer).
    let (events, _) =
        drive(SseTranslator::new(GeminiToAnthropic::new("smart")), gemini_call(&root, &r, true).await).await;
    let (_, sigs, calls, stop) = anthropic_summary(&events);
    assert_eq!(stop, "tool_use");
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["input"], json!({"location": "Paris"}));
    assert_eq!(sigs.len(), 1);
    assert!(sigs[0].1.ends_with("=="), "{sigs:?}");

    // The tool results go back; the signature lands on the first call again, byte-exact.
    let follow = tool_results_follow_up(&answer);
    let resp = gemini_call(&root, &follow, false).await;
    let done = gemini::parse_response(&resp.bytes().await.unwrap()).unwrap();
    assert!(text_of(&done).starts_with("tool result received: "), "{}", text_of(&done));
    let sent = mock.last_request().unwrap().body;
    let model_parts = &sent["contents"][1]["parts"];
    let first_call = model_parts.as_array().unwrap().iter().find(|p| p.get("functionCall").is_some()).unwrap();
    assert_eq!(first_call["thoughtSignature"], json!(signature));
    assert_eq!(sent["contents"][2]["parts"][0]["functionResponse"]["name"], "get_weather");
}

#[tokio::test]
async fn bedrock_signed_text_json_and_stream_with_exact_usage() {
    let mock = mock().await;
    let prefix = "/s/prompt_tokens=100,cached_tokens=40,cache_write_tokens=10,completion_tokens=7,chunks=4";
    let r = request(vec![user("hi there")]);
    let resp = bedrock_call(&mock, prefix, &r, false, SECRET).await;
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let whole = bedrock::parse_response(&resp.bytes().await.unwrap(), "req-1").unwrap();
    assert_eq!(text_of(&whole), "Hello from the mock");
    assert_eq!(whole.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(
        whole.usage,
        Usage { input_tokens: 50, cached_tokens: 40, cache_write_tokens: 10, output_tokens: 7, ..Usage::default() }
    );
    let last = mock.last_request().unwrap();
    assert!(last.path.contains("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"), "{}", last.path);
    assert!(last.headers.iter().any(|(n, v)| n == "x-amz-security-token" && v == "session-token"));

    let (events, usage) = drive(
        EventStreamTranslator::new(BedrockToAnthropic::new("smart", "req-2")),
        bedrock_call(&mock, prefix, &r, true, SECRET).await,
    )
    .await;
    let (text, _, _, stop) = anthropic_summary(&events);
    assert_eq!((text.as_str(), stop.as_str()), ("Hello from the mock", "end_turn"));
    assert_eq!(usage, whole.usage);
    let via = ViaAnthropic::new(BedrockToAnthropic::new("smart", "req-3"), AnthropicToOpenAi::new("smart", 0, true));
    let (events, _) = drive(EventStreamTranslator::new(via), bedrock_call(&mock, prefix, &r, true, SECRET).await).await;
    let (text, usage) = openai_text(&events);
    assert_eq!(text, "Hello from the mock");
    assert_eq!(usage.unwrap()["prompt_tokens"], 100);

    // A signature made with another secret is refused by the mock's full SigV4 check.
    let refused = bedrock_call(&mock, "", &r, false, "not-the-secret").await;
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn bedrock_tools_round_trip_with_reasoning_signatures() {
    let mock = mock().await;
    let r = with_tools(request(vec![user("weather in Paris?")]));
    let resp = bedrock_call(&mock, "", &r, false, SECRET).await;
    assert!(resp.status().is_success());
    let answer = bedrock::parse_response(&resp.bytes().await.unwrap(), "req-1").unwrap();
    assert_eq!(answer.stop_reason, Some(StopReason::ToolUse));
    let Some(Part::Thinking { thinking, signature: Some(signature) }) = answer.content.first().cloned() else {
        panic!("reasoning first: {:?}", answer.content)
    };
    assert_eq!(thinking, "Let me think this through.");

    let (events, _) = drive(
        EventStreamTranslator::new(BedrockToAnthropic::new("smart", "req-2")),
        bedrock_call(&mock, "", &r, true, SECRET).await,
    )
    .await;
    let (_, sigs, calls, stop) = anthropic_summary(&events);
    assert_eq!(stop, "tool_use");
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].0, thinking);
    assert!(sigs[0].1.contains('/') && sigs[0].1.ends_with('='), "passed byte-exact: {sigs:?}");
    assert_eq!(calls[0]["input"], json!({"location": "Paris"}));
    assert_eq!(calls[1]["name"], "get_time");

    let follow = tool_results_follow_up(&answer);
    let resp = bedrock_call(&mock, "", &follow, false, SECRET).await;
    assert!(resp.status().is_success());
    let done = bedrock::parse_response(&resp.bytes().await.unwrap(), "req-3").unwrap();
    assert_eq!(text_of(&done), "tool result received: 18C");
    let sent = mock.last_request().unwrap().body;
    assert_eq!(sent["messages"][1]["content"][0]["reasoningContent"]["reasoningText"]["signature"], json!(signature));
}
