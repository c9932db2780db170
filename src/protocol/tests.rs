//! Cross-dialect round trips: a request or response taken into the other dialect and back
//! keeps its meaning, and what changes is exactly the documented losses, spelled out here.

use serde_json::{Value, json};

use super::ir::{self, Part, Role, TextPart, ToolResultPart};
use super::{anthropic, golden, openai::chat};

fn with_sanitized_ids(mut r: ir::Request) -> ir::Request {
    for p in r.messages.iter_mut().flat_map(|m| m.content.iter_mut()) {
        match p {
            Part::ToolUse { id, .. } => *id = ir::sanitize_tool_id(id),
            Part::ToolResult { tool_use_id, .. } => *tool_use_id = ir::sanitize_tool_id(tool_use_id),
            _ => {}
        }
    }
    r
}

#[test]
fn anthropic_request_through_openai_loses_only_what_is_documented() {
    let before = anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap();
    let wire = chat::request_from_ir(&before);
    let after = chat::request_to_ir(wire.as_object().unwrap()).unwrap();

    let mut expected = before.clone();
    expected.top_k = None;
    expected.thinking_budget = None;
    expected.system[0].cache_control = None;
    expected.messages[1].content.retain(|p| !matches!(p, Part::Thinking { .. } | Part::RedactedThinking { .. }));
    let Part::ToolResult { content, .. } = &expected.messages[2].content[0] else { panic!("fixture changed") };
    let ToolResultPart::Image(image) = content[1].clone() else { panic!("fixture changed") };
    let result = |id: &str, text: &str| Part::ToolResult {
        tool_use_id: id.into(),
        content: vec![ToolResultPart::Text(TextPart::new(text))],
        is_error: false,
    };
    expected.messages[2] = ir::Message {
        role: Role::User,
        content: vec![result("toolu_01A", "a.txt\nb.png"), result("toolu_01B", "permission denied")],
    };
    expected
        .messages
        .push(ir::Message { role: Role::User, content: vec![Part::Image(image), Part::Text(TextPart::new("Go on."))] });
    assert_eq!(after, expected);
}

#[test]
fn openai_request_through_anthropic_keeps_its_meaning() {
    let before = chat::parse_request(golden::fixture("openai_request.json").as_bytes()).unwrap();
    let wire = serde_json::to_vec(&anthropic::request_from_ir(&before, 4096).unwrap()).unwrap();
    let after = anthropic::parse_request(&wire).unwrap();

    let mut expected = with_sanitized_ids(before);
    // Anthropic merges the tool results and the next user text into one user turn.
    let last = expected.messages.pop().unwrap();
    expected.messages[2].content.extend(last.content);
    assert_eq!(after, expected);
}

#[test]
fn anthropic_response_through_openai_keeps_signatures_and_moves_cache_writes_into_input() {
    let before = anthropic::parse_response(golden::fixture("anthropic_response.json").as_bytes()).unwrap();
    let after = chat::response_to_ir(&chat::response_from_ir(&before, 0)).unwrap();
    let mut expected = before.clone();
    expected.usage.input_tokens += expected.usage.cache_write_tokens;
    expected.usage.cache_write_tokens = 0;
    // The provider's service tier prices the call; a converted answer names none.
    expected.usage.service_tier = None;
    assert_eq!(after, expected);
}

#[test]
fn openai_response_through_anthropic_loses_only_the_reasoning_token_count() {
    let before = chat::parse_response(golden::fixture("openai_response.json").as_bytes()).unwrap();
    let wire = serde_json::to_vec(&anthropic::response_from_ir(&before)).unwrap();
    let after = anthropic::parse_response(&wire).unwrap();
    let mut expected = before.clone();
    expected.usage.reasoning_tokens = 0;
    expected.usage.service_tier = None;
    assert_eq!(after, expected);
    let v: Value = serde_json::from_slice(&wire).unwrap();
    assert_eq!(v["usage"]["input_tokens"], 93);
}

#[test]
fn usage_reports_carry_the_service_tier_and_one_hour_cache_writes() {
    use crate::billing::price_shapes::ServiceTier;
    // OpenAI: the top-level `service_tier` of a body, a chunk and a Responses object.
    let body = br#"{"usage": {"prompt_tokens": 10, "completion_tokens": 2}, "service_tier": "flex"}"#;
    assert_eq!(super::openai::usage_of(body).unwrap().service_tier, Some(ServiceTier::Flex));
    let chunk =
        r#"{"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 2}, "service_tier": "priority"}"#;
    assert_eq!(super::openai::chunk_usage(chunk).unwrap().service_tier, Some(ServiceTier::Priority));
    let plain = br#"{"usage": {"prompt_tokens": 10, "completion_tokens": 2}, "service_tier": "auto"}"#;
    assert_eq!(super::openai::usage_of(plain).unwrap().service_tier, None);
    let resp = br#"{"usage": {"input_tokens": 3, "output_tokens": 1}, "service_tier": "default"}"#;
    assert_eq!(super::openai::responses::usage_of(resp).unwrap().service_tier, Some(ServiceTier::Standard));
    let done = json!({"type": "response.completed", "response": {"service_tier": "flex",
        "usage": {"input_tokens": 3, "output_tokens": 1}}});
    let super::openai::responses::StreamEvent::Done { usage: Some(u) } = super::openai::responses::stream_event(&done)
    else {
        panic!("a completed response")
    };
    assert_eq!(u.service_tier, Some(ServiceTier::Flex));
    assert_eq!(
        chat::parse_response(body_with_choice(body).as_bytes()).unwrap().usage.service_tier,
        Some(ServiceTier::Flex)
    );
    // Anthropic: `usage.cache_creation` splits the writes, `usage.service_tier` names the tier.
    let body = br#"{"usage": {"input_tokens": 5, "output_tokens": 1, "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}, "service_tier": "priority"}}"#;
    let u = anthropic::usage_of(body).unwrap();
    assert_eq!((u.cache_write_tokens, u.cache_write_1h_tokens), (300, 200));
    assert_eq!(u.service_tier, Some(ServiceTier::Priority));
    let mut folded = crate::billing::pricing::Usage::default();
    anthropic::fold_stream_usage(
        &mut folded,
        &json!({"cache_creation_input_tokens": 300, "cache_creation": {"ephemeral_1h_input_tokens": 200},
            "service_tier": "standard"}),
    );
    assert_eq!((folded.cache_write_1h_tokens, folded.service_tier), (200, Some(ServiceTier::Standard)));
    // Written back for an Anthropic client, the split is kept.
    let wire = serde_json::to_value(anthropic::WireUsage::from_usage(&u)).unwrap();
    assert_eq!(wire["cache_creation"], json!({"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}));
    assert!(wire.get("service_tier").is_none());
}

/// `body` (a JSON object) with one assistant choice added.
fn body_with_choice(body: &[u8]) -> String {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    v["choices"] = json!([{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]);
    v.to_string()
}
