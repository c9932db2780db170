use serde_json::json;

use super::*;
use crate::billing::pricing::Usage;
use crate::protocol::ir::{self, Part, Role, TextPart};
use crate::protocol::{anthropic, golden, openai::chat};

fn ir_response() -> ir::Response {
    let mut r = parse_response(golden::fixture("bedrock_response.json").as_bytes(), "req-42").unwrap();
    r.model = "smart".into();
    r
}

#[test]
fn anthropic_request_converts_to_bedrock_golden() {
    let ir = anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap();
    golden::check_json("anthropic_request.to_bedrock.json", &request_from_ir(&ir).unwrap());
}

#[test]
fn bedrock_response_converts_to_anthropic_and_openai_goldens() {
    let r = ir_response();
    golden::check_json(
        "bedrock_response.to_anthropic.json",
        &serde_json::to_value(anthropic::response_from_ir(&r)).unwrap(),
    );
    golden::check_json("bedrock_response.to_openai.json", &chat::response_from_ir(&r, 1_700_000_000));
    // inputTokens excludes cache reads and writes, as Anthropic's input_tokens does.
    assert_eq!(
        r.usage,
        Usage { input_tokens: 472, output_tokens: 89, cached_tokens: 100, cache_write_tokens: 50, ..Usage::default() }
    );
    assert_eq!(r.stop_reason, Some(ir::StopReason::ToolUse));
}

#[test]
fn response_round_trips_with_signatures_byte_exact() {
    let r = ir_response();
    let back = response_to_ir(&response_from_ir(&r).unwrap(), "req-42").unwrap();
    assert_eq!(back.content, r.content);
    assert_eq!(back.usage, r.usage);
    assert!(matches!(&r.content[1], Part::RedactedThinking { data } if data == "EmwKAhgBEgy3va3pzix/LafPsn4a"));
}

#[test]
fn bedrock_request_reads_back_with_only_documented_losses() {
    let before = anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap();
    let wire = serde_json::to_vec(&request_from_ir(&before).unwrap()).unwrap();
    let after = parse_request(&wire, "claude-alias").unwrap();
    let mut expected = before.clone();
    expected.parallel_tool_calls = None;
    expected.user = None;
    expected.stream = false;
    // A cache point says "cache up to here"; its kind is Converse's one kind.
    expected.system[0].cache_control = Some(json!({"type": "ephemeral"}));
    assert_eq!(after, expected);
}

#[test]
fn refusals_are_clear() {
    let text = |s: &str| ir::Message { role: Role::User, content: vec![Part::Text(TextPart::new(s))] };
    let json_mode = ir::Request {
        messages: vec![text("hi")],
        response_format: Some(ir::ResponseFormat::JsonObject),
        ..ir::Request::default()
    };
    assert!(request_from_ir(&json_mode).unwrap_err().contains("JSON mode"));
    let tool =
        ir::Tool { name: "f".into(), description: None, input_schema: json!({"type": "object"}), cache_control: None };
    let none_fresh = ir::Request {
        messages: vec![text("hi")],
        tools: vec![tool.clone()],
        tool_choice: Some(ir::ToolChoice::None),
        ..ir::Request::default()
    };
    // No tool blocks yet: `none` is honoured by not offering the tools.
    assert!(request_from_ir(&none_fresh).unwrap().get("toolConfig").is_none());
    let mut none_used = none_fresh.clone();
    none_used.messages.push(ir::Message {
        role: Role::Assistant,
        content: vec![Part::ToolUse { id: "t".into(), name: "f".into(), input: json!({}) }],
    });
    assert!(request_from_ir(&none_used).unwrap_err().contains("tool_choice `none`"));
    let bmp = ir::Request {
        messages: vec![ir::Message {
            role: Role::User,
            content: vec![Part::Image(ir::Image {
                source: ir::ImageSource::Base64 { media_type: "image/bmp".into(), data: "Qk0=".into() },
                cache_control: None,
            })],
        }],
        ..ir::Request::default()
    };
    assert!(request_from_ir(&bmp).unwrap_err().contains("image/bmp"));
    assert_eq!(
        endpoint_path("anthropic.claude-3-5-sonnet-20240620-v1:0", true).unwrap(),
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    );
}

#[test]
fn stop_reasons_and_errors_are_mapped() {
    use ir::StopReason::*;
    for (wire, expected) in [
        ("end_turn", EndTurn),
        ("tool_use", ToolUse),
        ("max_tokens", MaxTokens),
        ("stop_sequence", StopSequence),
        ("guardrail_intervened", Refusal),
        ("content_filtered", Refusal),
        ("model_context_window_exceeded", MaxTokens),
        ("new_reason", EndTurn),
    ] {
        assert_eq!(stop_reason_from_wire(wire), expected, "{wire}");
    }
    assert_eq!(anthropic_error_type("ThrottlingException"), "rate_limit_error");
    assert_eq!(anthropic_error_type("validationException:http://internal.amazon.com/"), "invalid_request_error");
}
