//! Cross-dialect round trips: a request or response taken into the other dialect and back
//! keeps its meaning, and what changes is exactly the documented losses, spelled out here.

use serde_json::Value;

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
    assert_eq!(after, expected);
}

#[test]
fn openai_response_through_anthropic_loses_only_the_reasoning_token_count() {
    let before = chat::parse_response(golden::fixture("openai_response.json").as_bytes()).unwrap();
    let wire = serde_json::to_vec(&anthropic::response_from_ir(&before)).unwrap();
    let after = anthropic::parse_response(&wire).unwrap();
    let mut expected = before.clone();
    expected.usage.reasoning_tokens = 0;
    assert_eq!(after, expected);
    let v: Value = serde_json::from_slice(&wire).unwrap();
    assert_eq!(v["usage"]["input_tokens"], 93);
}
