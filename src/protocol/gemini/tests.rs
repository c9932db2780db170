use serde_json::json;

use super::*;
use crate::billing::pricing::Usage;
use crate::protocol::ir::{self, Part, Role, TextPart, ToolResultPart};
use crate::protocol::{anthropic, golden, openai::chat};

fn ir_response() -> ir::Response {
    parse_response(golden::fixture("gemini_response.json").as_bytes()).unwrap()
}

#[test]
fn anthropic_request_converts_to_gemini_golden() {
    let ir = anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap();
    let wire = request_from_ir(&ir).unwrap();
    golden::check_json("anthropic_request.to_gemini.json", &serde_json::to_value(&wire).unwrap());
}

#[test]
fn gemini_response_converts_to_anthropic_and_openai_goldens() {
    let mut r = ir_response();
    r.model = "smart".into();
    golden::check_json(
        "gemini_response.to_anthropic.json",
        &serde_json::to_value(anthropic::response_from_ir(&r)).unwrap(),
    );
    golden::check_json("gemini_response.to_openai.json", &chat::response_from_ir(&r, 1_700_000_000));
}

#[test]
fn response_usage_follows_gemini_cache_and_thought_semantics() {
    let r = ir_response();
    // promptTokenCount 1200 includes the 1024 cached; candidates 40 exclude the 25 thoughts.
    assert_eq!(
        r.usage,
        Usage { input_tokens: 176, cached_tokens: 1024, output_tokens: 65, reasoning_tokens: 25, ..Usage::default() }
    );
    assert_eq!(UsageMetadata::from_usage(&r.usage).to_usage(), r.usage);
    let with_tools = UsageMetadata {
        prompt_token_count: Some(10),
        tool_use_prompt_token_count: Some(5),
        ..UsageMetadata::default()
    };
    assert_eq!(with_tools.to_usage().input_tokens, 15);
}

#[test]
fn signatures_survive_a_round_trip_byte_exact_and_land_on_their_parts() {
    let r = ir_response();
    assert_eq!(r.stop_reason, Some(ir::StopReason::ToolUse));
    assert_eq!(
        r.content,
        vec![
            Part::Thinking { thinking: "Need the weather → call tool.".into(), signature: None },
            Part::Thinking { thinking: String::new(), signature: Some("CiQB0e2Kb+/x9Lq0sig==".into()) },
            Part::Text(TextPart::new("Café ☕ check 😀")),
            Part::Thinking { thinking: String::new(), signature: Some("EsQBCr4BAdHtim9/x+Y=".into()) },
            Part::ToolUse {
                id: "call_gemini_resp-Gx1_0".into(),
                name: "get_weather".into(),
                input: json!({"city": "Paris"})
            },
            Part::ToolUse { id: "fc_7".into(), name: "get_time".into(), input: json!({}) },
        ]
    );
    // The client replays the turn (through the Anthropic shape) and Gemini gets its parts
    // back with the signatures where it put them; the unsigned thought is not replayed.
    let replay = anthropic::parse_response(&serde_json::to_vec(&anthropic::response_from_ir(&r)).unwrap()).unwrap();
    let req = ir::Request {
        messages: vec![
            ir::Message { role: Role::User, content: vec![Part::Text(TextPart::new("Weather?"))] },
            ir::Message { role: Role::Assistant, content: replay.content },
            ir::Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult {
                        tool_use_id: "call_gemini_resp-Gx1_0".into(),
                        content: vec![ToolResultPart::Text(TextPart::new("18C"))],
                        is_error: false,
                    },
                    Part::ToolResult {
                        tool_use_id: "fc_7".into(),
                        content: vec![ToolResultPart::Text(TextPart::new("no clock"))],
                        is_error: true,
                    },
                ],
            },
        ],
        ..ir::Request::default()
    };
    let wire = serde_json::to_value(request_from_ir(&req).unwrap()).unwrap();
    assert_eq!(
        wire["contents"][1]["parts"],
        json!([
            {"text": "Café ☕ check 😀", "thoughtSignature": "CiQB0e2Kb+/x9Lq0sig=="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "EsQBCr4BAdHtim9/x+Y="},
            {"functionCall": {"id": "fc_7", "name": "get_time", "args": {}}},
        ])
    );
    assert_eq!(
        wire["contents"][2]["parts"],
        json!([
            {"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}},
            {"functionResponse": {"id": "fc_7", "name": "get_time", "response": {"error": "no clock"}}},
        ])
    );
    // And Gemini's own shape reads back to the same IR.
    let back = response_to_ir(response_from_ir(&r).unwrap());
    assert_eq!(back.content, r.content[1..]);
}

#[test]
fn gemini_request_reads_back_with_only_documented_losses() {
    let before = anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap();
    let wire = serde_json::to_vec(&request_from_ir(&before).unwrap()).unwrap();
    let after = parse_request(&wire, "claude-alias").unwrap();
    let mut expected = before.clone();
    expected.system[0].cache_control = None;
    expected.parallel_tool_calls = None;
    expected.user = None;
    expected.stream = false;
    // Redacted thinking has no Gemini form.
    expected.messages[1].content.retain(|p| !matches!(p, Part::RedactedThinking { .. }));
    // Gemini's functionCall ids are sent back, the result goes back as `{"result": ...}`
    // text, and the tool result's image follows as its own part.
    let Part::ToolResult { content, .. } = &mut expected.messages[2].content[0] else { panic!("fixture changed") };
    let image = content.pop().unwrap();
    let ToolResultPart::Image(image) = image else { panic!("fixture changed") };
    expected.messages[2].content.insert(1, Part::Image(image));
    assert_eq!(after, expected);
}

#[test]
fn refusals_are_clear() {
    let image_url = ir::Request {
        messages: vec![ir::Message {
            role: Role::User,
            content: vec![Part::Image(ir::Image {
                source: ir::ImageSource::Url("https://x.test/a.png".into()),
                cache_control: None,
            })],
        }],
        ..ir::Request::default()
    };
    assert!(request_from_ir(&image_url).unwrap_err().contains("image URLs"));
    let orphan = ir::Request {
        messages: vec![ir::Message {
            role: Role::User,
            content: vec![Part::ToolResult { tool_use_id: "t1".into(), content: vec![], is_error: false }],
        }],
        ..ir::Request::default()
    };
    assert!(request_from_ir(&orphan).unwrap_err().contains("no matching tool call"));
    assert!(endpoint_path("gemini-2.5-flash", true).unwrap().ends_with(":streamGenerateContent?alt=sse"));
    assert!(endpoint_path("../x?key=1", false).is_err());
    assert!(
        parse_request(br#"{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":2}}"#, "m")
            .is_err()
    );
    assert!(parse_request(br#"{"contents":[{"parts":[{"text":"hi"}]}],"tools":[{"googleSearch":{}}]}"#, "m").is_err());
}

#[test]
fn json_mode_tool_choice_and_sampling_map_to_generation_config() {
    let req = ir::Request {
        messages: vec![ir::Message { role: Role::User, content: vec![Part::Text(TextPart::new("hi"))] }],
        tools: vec![ir::Tool {
            name: "f".into(),
            description: None,
            input_schema: json!({"type": "object"}),
            cache_control: None,
        }],
        tool_choice: Some(ir::ToolChoice::Tool("f".into())),
        response_format: Some(ir::ResponseFormat::JsonSchema {
            name: "x".into(),
            description: None,
            schema: json!({"type": "object"}),
            strict: Some(true),
        }),
        max_tokens: Some(100),
        temperature: Some(0.5),
        top_p: Some(0.9),
        stop: vec!["END".into()],
        thinking_budget: Some(256),
        ..ir::Request::default()
    };
    let v = serde_json::to_value(request_from_ir(&req).unwrap()).unwrap();
    assert_eq!(v["toolConfig"], json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}));
    assert_eq!(
        v["generationConfig"],
        json!({"stopSequences": ["END"], "temperature": 0.5, "topP": 0.9, "maxOutputTokens": 100,
               "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
               "thinkingConfig": {"thinkingBudget": 256, "includeThoughts": true}})
    );
    let none = ir::Request {
        tool_choice: Some(ir::ToolChoice::None),
        response_format: Some(ir::ResponseFormat::JsonObject),
        ..req
    };
    let v = serde_json::to_value(request_from_ir(&none).unwrap()).unwrap();
    assert_eq!(v["toolConfig"]["functionCallingConfig"]["mode"], "NONE");
    assert_eq!(v["generationConfig"]["responseMimeType"], "application/json");
    assert!(v["generationConfig"].get("responseJsonSchema").is_none());
}

#[test]
fn finish_reasons_are_mapped_not_copied() {
    use ir::StopReason::*;
    for (wire, calls, expected) in [
        ("STOP", false, EndTurn),
        ("STOP", true, ToolUse),
        ("MAX_TOKENS", false, MaxTokens),
        ("MAX_TOKENS", true, MaxTokens),
        ("SAFETY", false, Refusal),
        ("RECITATION", false, Refusal),
        ("PROHIBITED_CONTENT", false, Refusal),
        ("MALFORMED_FUNCTION_CALL", false, EndTurn),
        ("SOMETHING_NEW", false, EndTurn),
    ] {
        assert_eq!(finish_reason_from_wire(wire, calls), expected, "{wire}");
    }
    let blocked: GenerateContentResponse = serde_json::from_value(
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}),
    )
    .unwrap();
    let r = response_to_ir(blocked);
    assert_eq!(r.stop_reason, Some(Refusal));
    assert_eq!(r.usage.input_tokens, 9);
}
