use serde_json::{Value, json};

use super::*;
use crate::protocol::{anthropic, golden};

fn fixture_request() -> ir::Request {
    parse_request(golden::fixture("openai_request.json").as_bytes()).unwrap()
}

/// Tool ids as any conversion leaves them (see `ir::sanitize_tool_id`).
fn sanitized(mut r: ir::Request) -> ir::Request {
    for m in &mut r.messages {
        for p in &mut m.content {
            match p {
                Part::ToolUse { id, .. } => *id = ir::sanitize_tool_id(id),
                Part::ToolResult { tool_use_id, .. } => *tool_use_id = ir::sanitize_tool_id(tool_use_id),
                _ => {}
            }
        }
    }
    r
}

#[test]
fn request_converts_to_anthropic_golden() {
    let out = serde_json::to_value(anthropic::request_from_ir(&fixture_request(), 4096).unwrap()).unwrap();
    golden::check_json("openai_request.to_anthropic.json", &out);
}

#[test]
fn request_round_trips_through_the_ir_with_its_meaning() {
    let ir = fixture_request();
    let wire = request_from_ir(&ir);
    let again = request_to_ir(wire.as_object().unwrap()).unwrap();
    assert_eq!(again, sanitized(ir));
    // And a second trip changes nothing at all.
    assert_eq!(request_from_ir(&again), wire);
}

#[test]
fn request_reads_every_field_into_the_ir() {
    let r = fixture_request();
    assert_eq!(r.system, vec![TextPart::new("You are terse."), TextPart::new("Answer in English.")]);
    // `max_completion_tokens` wins over the legacy `max_tokens`.
    assert_eq!(r.max_tokens, Some(512));
    assert_eq!((r.temperature, r.top_p), (Some(0.5), Some(0.9)));
    assert_eq!(r.stop, vec!["END".to_string()]);
    assert_eq!(r.tool_choice, Some(ir::ToolChoice::Required));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert!(r.stream && r.include_usage);
    assert_eq!(r.user.as_deref(), Some("user-42"));
    // Two tool messages became one user turn of tool results.
    assert_eq!(r.messages.len(), 4);
    assert!(r.messages[2].content.iter().all(|p| matches!(p, Part::ToolResult { .. })));
    assert_eq!(
        r.messages[1].content[1],
        Part::ToolUse { id: "functions.get_time:1".into(), name: "get_time".into(), input: json!({}) }
    );
}

#[test]
fn response_converts_to_anthropic_golden() {
    let ir = parse_response(golden::fixture("openai_response.json").as_bytes()).unwrap();
    golden::check_json(
        "openai_response.to_anthropic.json",
        &serde_json::to_value(anthropic::response_from_ir(&ir)).unwrap(),
    );
}

#[test]
fn response_round_trips_through_the_ir_with_its_meaning() {
    let ir = parse_response(golden::fixture("openai_response.json").as_bytes()).unwrap();
    let wire = response_from_ir(&ir, 1_741_570_283);
    let again = response_to_ir(&wire).unwrap();
    // The provider's service tier prices the call; an answer written from the IR names none.
    assert_eq!(ir.usage.service_tier, Some(crate::billing::price_shapes::ServiceTier::Standard));
    let mut ir = ir;
    ir.usage.service_tier = None;
    assert_eq!(again, ir);
    assert_eq!(
        wire["choices"][0]["message"]["tool_calls"],
        golden::json("openai_response.json")["choices"][0]["message"]["tool_calls"]
    );
}

#[test]
fn usage_counts_cached_tokens_inside_prompt_tokens() {
    let u = usage_from_wire(&json!({"prompt_tokens": 1117, "completion_tokens": 46,
        "prompt_tokens_details": {"cached_tokens": 1024}, "completion_tokens_details": {"reasoning_tokens": 12}}))
    .unwrap();
    assert_eq!(
        u,
        Usage { input_tokens: 93, cached_tokens: 1024, output_tokens: 46, reasoning_tokens: 12, ..Usage::default() }
    );
    assert_eq!(usage_from_wire(&Value::Null), None);
    // Anthropic usage shown to an OpenAI client: every prompt token, cache writes included.
    let from_anthropic =
        Usage { input_tokens: 12, cache_write_tokens: 100, cached_tokens: 2000, output_tokens: 45, ..Usage::default() };
    assert_eq!(
        usage_to_wire(&from_anthropic),
        json!({"prompt_tokens": 2112, "completion_tokens": 45, "total_tokens": 2157,
            "prompt_tokens_details": {"cached_tokens": 2000}, "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    // Back again, cache writes become uncached input (OpenAI cannot say otherwise).
    let back = usage_from_wire(&usage_to_wire(&from_anthropic)).unwrap();
    assert_eq!((back.input_tokens, back.cached_tokens, back.cache_write_tokens), (112, 2000, 0));
}

#[test]
fn finish_reasons_are_mapped_not_copied() {
    let table = [
        ("stop", StopReason::EndTurn, "end_turn"),
        ("length", StopReason::MaxTokens, "max_tokens"),
        ("tool_calls", StopReason::ToolUse, "tool_use"),
        ("content_filter", StopReason::Refusal, "refusal"),
    ];
    for (openai, ir, anthropic_name) in table {
        assert_eq!(finish_reason_from_wire(openai), Some(ir));
        assert_eq!(finish_reason_to_wire(ir), openai);
        assert_eq!(anthropic::stop_reason_to_wire(ir), anthropic_name);
    }
    assert_eq!(finish_reason_to_wire(StopReason::StopSequence), "stop");
    assert_eq!(finish_reason_to_wire(StopReason::PauseTurn), "stop");
    assert_eq!(finish_reason_from_wire("function_call"), Some(StopReason::ToolUse));
    assert_eq!(finish_reason_from_wire("weird"), None);
}

fn request_with(patch: Value) -> Result<ir::Request, String> {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in patch.as_object().unwrap() {
        body[k] = v.clone();
    }
    parse_request(body.to_string().as_bytes())
}

#[test]
fn inexpressible_inputs_are_rejected_with_clear_errors() {
    assert!(request_with(json!({"n": 2})).unwrap_err().contains("`n` greater than 1"));
    assert!(request_with(json!({"logprobs": true})).unwrap_err().contains("logprobs"));
    assert!(request_with(json!({"modalities": ["text", "audio"]})).unwrap_err().contains("audio"));
    assert!(request_with(json!({"functions": []})).unwrap_err().contains("functions"));
    let audio = json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]});
    assert_eq!(
        request_with(audio).unwrap_err(),
        "messages.0: content parts of type `input_audio` are not supported by this model's provider"
    );
    let file_id =
        json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]});
    assert!(request_with(file_id).unwrap_err().contains("only inline files"));
    let png_file = json!({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"file_data": "data:image/png;base64,iVBORw0KGgo="}}]}]});
    assert!(request_with(png_file).unwrap_err().contains("base64 PDF"));
    let custom_tool = json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]});
    assert!(request_with(custom_tool).unwrap_err().starts_with("tools.0: only tools of type `function`"));
    let bad_args = json!({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]});
    assert_eq!(
        request_with(bad_args).unwrap_err(),
        "messages.0: tool_calls.0: tool call arguments must be a JSON object"
    );
    assert!(
        request_with(json!({"messages": [{"role": "function", "content": "x"}]})).unwrap_err().contains("function")
    );
    assert!(parse_request(br#"{"messages":[]}"#).unwrap_err().contains("model"));
    // Options that only tune sampling are dropped, not rejected.
    assert!(request_with(json!({"seed": 1, "logit_bias": {"1": 2}, "n": 1, "logprobs": false})).is_ok());
}

#[test]
fn response_format_converts_for_both_targets_except_schemaless_json_for_anthropic() {
    let schema =
        json!({"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"}, "strict": true}});
    let r = request_with(json!({"response_format": schema})).unwrap();
    assert_eq!(request_from_ir(&r)["response_format"], schema);
    let out = serde_json::to_value(anthropic::request_from_ir(&r, 10).unwrap()).unwrap();
    assert_eq!(out["output_config"], json!({"format": {"type": "json_schema", "schema": {"type": "object"}}}));
    let r = request_with(json!({"response_format": {"type": "json_object"}})).unwrap();
    assert_eq!(r.response_format, Some(ir::ResponseFormat::JsonObject));
    assert_eq!(request_from_ir(&r)["response_format"], json!({"type": "json_object"}));
    assert!(anthropic::request_from_ir(&r, 10).unwrap_err().contains("json_object"));
}

#[test]
fn reasoning_and_thinking_blocks_survive_to_anthropic() {
    // LiteLLM-style thinking_blocks carry the signature; plain reasoning_content has none.
    let signed = json!({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "r",
         "thinking_blocks": [{"type": "thinking", "thinking": "r", "signature": "c2ln"}, {"type": "redacted_thinking", "data": "ZGF0YQ=="}]},
        {"role": "user", "content": "q2"}]});
    let r = request_with(signed).unwrap();
    let out = serde_json::to_value(anthropic::request_from_ir(&r, 10).unwrap()).unwrap();
    assert_eq!(
        out["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "r", "signature": "c2ln"}, {"type": "redacted_thinking", "data": "ZGF0YQ=="},
               {"type": "text", "text": "a"}])
    );
    let ir = parse_response(
        br#"{"id":"x","model":"deepseek-reasoner","choices":[{"index":0,"finish_reason":"stop",
            "message":{"role":"assistant","content":"42","reasoning_content":"think"}}]}"#,
    )
    .unwrap();
    let out = serde_json::to_value(anthropic::response_from_ir(&ir)).unwrap();
    assert_eq!(
        out["content"],
        json!([{"type": "thinking", "thinking": "think", "signature": ""}, {"type": "text", "text": "42"}])
    );
    assert_eq!(out["stop_reason"], "end_turn");
}

#[test]
fn refusals_become_refusal_stop_reasons() {
    let ir = parse_response(
        br#"{"id":"x","model":"m","choices":[{"index":0,"finish_reason":"stop",
            "message":{"role":"assistant","content":null,"refusal":"I can't help with that."}}]}"#,
    )
    .unwrap();
    assert_eq!(ir.stop_reason, Some(StopReason::Refusal));
    assert_eq!(ir.content, vec![Part::Text(TextPart::new("I can't help with that."))]);
    assert!(parse_response(br#"{"choices":[]}"#).unwrap_err().contains("no choices"));
}

#[test]
fn error_bodies_have_the_openai_shape() {
    assert_eq!(
        error_body("no", error_type_for_status(401)),
        json!({"error": {"message": "no", "type": "authentication_error", "param": null, "code": null}})
    );
    assert_eq!(error_type_for_status(500), "api_error");
}
