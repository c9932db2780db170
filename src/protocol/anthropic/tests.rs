use serde_json::{Value, json};

use super::*;
use crate::billing::pricing::Usage;
use crate::protocol::golden;
use crate::protocol::ir::{self, Part, Role, StopReason, TextPart};
use crate::protocol::openai::chat;

fn fixture_request() -> ir::Request {
    parse_request(golden::fixture("anthropic_request.json").as_bytes()).unwrap()
}

#[test]
fn request_converts_to_openai_golden() {
    let out = chat::request_from_ir(&fixture_request());
    golden::check_json("anthropic_request.to_openai.json", &out);
}

#[test]
fn request_round_trips_through_the_ir_unchanged() {
    let mut original = golden::json("anthropic_request.json");
    let back = serde_json::to_value(request_from_ir(&fixture_request(), 4096).unwrap()).unwrap();
    // String content comes back in its equivalent block form; everything else is unchanged.
    original["messages"][0]["content"] = json!([{"type": "text", "text": "List files, then show the screenshot."}]);
    assert_eq!(back, original);
}

#[test]
fn request_reads_every_field_into_the_ir() {
    let r = fixture_request();
    assert_eq!(r.system.len(), 2);
    assert_eq!(r.system[0].cache_control, Some(json!({"type": "ephemeral"})));
    assert_eq!((r.max_tokens, r.top_k, r.thinking_budget), (Some(1024), Some(40), Some(512)));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.tool_choice, Some(ir::ToolChoice::Auto));
    assert_eq!(r.user.as_deref(), Some("u-7"));
    assert_eq!(r.stop, vec!["</done>".to_string()]);
    assert!(r.stream);
    let sig = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds";
    assert_eq!(
        r.messages[1].content[0],
        Part::Thinking { thinking: "I should call ls.".into(), signature: Some(sig.into()) }
    );
    assert!(matches!(&r.messages[2].content[1], Part::ToolResult { is_error: true, .. }));
}

#[test]
fn response_converts_to_openai_golden() {
    let ir = parse_response(golden::fixture("anthropic_response.json").as_bytes()).unwrap();
    golden::check_json("anthropic_response.to_openai.json", &chat::response_from_ir(&ir, 1_700_000_000));
}

#[test]
fn response_round_trips_keeping_thinking_signatures_byte_exact() {
    let mut original = golden::json("anthropic_response.json");
    let ir = parse_response(original.to_string().as_bytes()).unwrap();
    let back = serde_json::to_value(response_from_ir(&ir)).unwrap();
    // Citations and the service tier are deliberate losses (module notes).
    original["content"][1].as_object_mut().unwrap().remove("citations");
    original["usage"].as_object_mut().unwrap().remove("service_tier");
    assert_eq!(back, original);
}

#[test]
fn usage_keeps_cache_reads_and_writes_apart() {
    let u = usage_of(
        br#"{"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":45}}"#,
    )
    .unwrap();
    assert_eq!(
        u,
        Usage { input_tokens: 12, cache_write_tokens: 100, cached_tokens: 2000, output_tokens: 45, ..Usage::default() }
    );
    let wire = serde_json::to_value(WireUsage::from_usage(&u)).unwrap();
    assert_eq!(
        wire,
        json!({"input_tokens": 12, "output_tokens": 45, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000})
    );
    // Absent cache fields are zero, not an error.
    let u = usage_of(br#"{"usage":{"input_tokens":3,"output_tokens":4}}"#).unwrap();
    assert_eq!((u.input_tokens, u.cached_tokens, u.cache_write_tokens, u.output_tokens), (3, 0, 0, 4));
    assert_eq!(usage_of(br#"{"id":"x"}"#), None);
}

#[test]
fn stop_reasons_map_both_ways() {
    for r in [
        StopReason::EndTurn,
        StopReason::MaxTokens,
        StopReason::StopSequence,
        StopReason::ToolUse,
        StopReason::Refusal,
        StopReason::PauseTurn,
    ] {
        assert_eq!(stop_reason_from_wire(stop_reason_to_wire(r)), Some(r));
    }
    assert_eq!(stop_reason_from_wire("model_context_window_exceeded"), Some(StopReason::MaxTokens));
    assert_eq!(stop_reason_from_wire("something_new"), None);
}

fn request_with(patch: Value) -> Result<ir::Request, String> {
    let mut body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in patch.as_object().unwrap() {
        body[k] = v.clone();
    }
    parse_request(body.to_string().as_bytes())
}

#[test]
fn inexpressible_inputs_are_rejected_with_clear_errors() {
    let search = json!({"messages": [{"role": "user", "content": [{"type": "search_result", "source": "s"}]}]});
    assert_eq!(
        request_with(search).unwrap_err(),
        "messages.0.content: content blocks of type `search_result` cannot be sent to this provider"
    );
    let text_doc = json!({"messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]});
    assert!(request_with(text_doc).unwrap_err().contains("invalid `document` block"));
    let server_tool = json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]});
    assert!(request_with(server_tool).unwrap_err().contains("Anthropic-defined tool `web_search_20250305`"));
    assert!(request_with(json!({"messages": [{"role": "moderator", "content": "x"}]})).unwrap_err().contains("role"));
    let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}});
    let system_image = json!({"messages": [{"role": "system", "content": [image]}]});
    assert!(request_with(system_image).unwrap_err().contains("only text"));
    let bad_image = json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]});
    assert!(request_with(bad_image).unwrap_err().contains("invalid `image` block"));
    assert!(request_with(json!({"tool_choice": {"type": "tool"}})).unwrap_err().contains("name"));
    assert!(request_with(json!({"thinking": {"type": "enabled"}})).unwrap_err().contains("budget_tokens"));
    assert!(parse_request(br#"{"model":"m","messages":[]}"#).unwrap_err().contains("max_tokens"));
    assert!(parse_request(br#"{"model":" ","max_tokens":1,"messages":[]}"#).unwrap_err().contains("model"));
}

#[test]
fn ir_to_anthropic_rejects_schemaless_json_mode_and_out_of_range_temperature() {
    let mut r = request_with(json!({})).unwrap();
    r.response_format = Some(ir::ResponseFormat::JsonObject);
    assert!(request_from_ir(&r, 1).unwrap_err().contains("json_object"));
    r.response_format = Some(ir::ResponseFormat::Text);
    r.temperature = Some(1.5);
    assert!(request_from_ir(&r, 1).unwrap_err().contains("temperature 1.5"));
}

#[test]
fn ir_to_anthropic_merges_roles_drops_empty_text_and_unsigned_thinking_and_fills_max_tokens() {
    let r = ir::Request {
        model: "m".into(),
        messages: vec![
            ir::Message {
                role: Role::User,
                content: vec![Part::Text(TextPart::new("")), Part::Text(TextPart::new("a"))],
            },
            // Left empty by the dropped parts, so skipped.
            ir::Message { role: Role::Assistant, content: vec![Part::Text(TextPart::new(""))] },
            ir::Message { role: Role::User, content: vec![Part::Text(TextPart::new("b"))] },
            ir::Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking { thinking: "unsigned".into(), signature: None },
                    Part::Text(TextPart::new("c")),
                ],
            },
        ],
        parallel_tool_calls: Some(false),
        ..ir::Request::default()
    };
    let out = serde_json::to_value(request_from_ir(&r, 777).unwrap()).unwrap();
    assert_eq!(
        out,
        json!({"model": "m", "max_tokens": 777, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
        ]})
    );
}

#[test]
fn error_bodies_have_the_anthropic_shape() {
    assert_eq!(
        error_body(error_type_for_status(429), "slow down"),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
    assert_eq!(error_type_for_status(402), "billing_error");
    assert_eq!(error_type_for_status(529), "overloaded_error");
}

#[test]
fn structured_outputs_map_to_output_config_and_back() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false});
    let r = request_with(json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}})).unwrap();
    let expected = ir::ResponseFormat::JsonSchema {
        name: "response".into(),
        description: None,
        schema: schema.clone(),
        strict: Some(true),
    };
    assert_eq!(r.response_format, Some(expected));
    let out = serde_json::to_value(request_from_ir(&r, 10).unwrap()).unwrap();
    assert_eq!(out["output_config"], json!({"format": {"type": "json_schema", "schema": schema}}));
    // The beta spelling is read too.
    let beta = request_with(json!({"output_format": {"type": "json_schema", "schema": schema}})).unwrap();
    assert_eq!(beta.response_format, r.response_format);
    assert!(request_with(json!({"output_format": {"type": "json"}})).unwrap_err().contains("json_schema"));
}

#[test]
fn models_list_has_the_anthropic_shape() {
    let list = models_list(&[("a".into(), "2025-01-01T00:00:00Z".into()), ("b".into(), "2025-02-01T00:00:00Z".into())]);
    assert_eq!(
        list,
        json!({"data": [
            {"type": "model", "id": "a", "display_name": "a", "created_at": "2025-01-01T00:00:00Z"},
            {"type": "model", "id": "b", "display_name": "b", "created_at": "2025-02-01T00:00:00Z"},
        ], "has_more": false, "first_id": "a", "last_id": "b"})
    );
    assert_eq!(models_list(&[])["first_id"], Value::Null);
}

#[test]
fn count_tokens_requests_need_no_max_tokens() {
    let body = br#"{"model":"m","system":"s","messages":[{"role":"user","content":"hi"}],
        "tools":[{"name":"t","input_schema":{"type":"object"}}]}"#;
    let r = parse_count_tokens_request(body).unwrap();
    assert_eq!((r.max_tokens, r.stream, r.tools.len()), (None, false, 1));
    assert_eq!(r.system, vec![TextPart::new("s")]);
    let with_max = br#"{"model":"m","max_tokens":5,"messages":[]}"#;
    assert_eq!(parse_count_tokens_request(with_max).unwrap().max_tokens, None);
    assert!(parse_count_tokens_request(b"[]").unwrap_err().starts_with("invalid request body"));
    assert_eq!(count_tokens_response(42), json!({"input_tokens": 42}));
}

#[test]
fn pdf_documents_convert_to_openai_file_parts_and_back() {
    let doc = json!({"type": "document", "title": "report.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}});
    let r =
        request_with(json!({"messages": [{"role": "user", "content": [doc, {"type": "text", "text": "Summarize."}]}]}))
            .unwrap();
    let openai = chat::request_from_ir(&r);
    assert_eq!(
        openai["messages"][0]["content"],
        json!([{"type": "file", "file": {"filename": "report.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}},
               {"type": "text", "text": "Summarize."}])
    );
    let back = chat::request_to_ir(openai.as_object().unwrap()).unwrap();
    assert_eq!(back.messages, r.messages);
    assert_eq!(serde_json::to_value(request_from_ir(&back, 10).unwrap()).unwrap()["messages"][0]["content"][0], doc);
}

#[test]
fn envelopes_check_the_required_fields() {
    let e = parse_envelope(br#"{"model":"m","max_tokens":5,"messages":[],"stream":true,"x":{"y":1}}"#).unwrap();
    assert_eq!((e.model.as_str(), e.stream), ("m", true));
    assert_eq!(e.body["x"]["y"], 1, "unknown fields are kept");
    for (body, says) in [
        (&br#"[]"#[..], "JSON object"),
        (br#"{"max_tokens":5,"messages":[]}"#, "model"),
        (br#"{"model":"m","max_tokens":5}"#, "messages"),
        (br#"{"model":"m","messages":[]}"#, "max_tokens: Field required"),
        (br#"{"model":"m","messages":[],"max_tokens":0}"#, "positive integer"),
        (br#"{"model":"m","messages":[],"max_tokens":5,"stream":"yes"}"#, "stream"),
    ] {
        let err = parse_envelope(body).unwrap_err();
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn event_output_bytes_count_generated_text_only() {
    let delta = |d: Value| json!({"type": "content_block_delta", "index": 0, "delta": d});
    assert_eq!(event_output_bytes(&delta(json!({"type": "text_delta", "text": "Héllo"}))), "Héllo".len());
    assert_eq!(event_output_bytes(&delta(json!({"type": "thinking_delta", "thinking": "hmm"}))), 3);
    assert_eq!(event_output_bytes(&delta(json!({"type": "input_json_delta", "partial_json": "{\"a\""}))), 4);
    assert_eq!(event_output_bytes(&delta(json!({"type": "signature_delta", "signature": "abcdef"}))), 0);
    let tool = json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}});
    assert_eq!(event_output_bytes(&tool), 6);
    assert_eq!(event_output_bytes(&json!({"type": "message_delta", "usage": {"output_tokens": 9}})), 0);
}

/// A request shaped as Claude Code sends it today: system blocks with cache markers,
/// system-role entries inside `messages`, adaptive thinking, `output_config.effort`,
/// `context_management`, `metadata.user_id` holding a JSON string.
fn claude_code_request(model: &str) -> ir::Request {
    let body = json!({
        "model": model, "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hello"}]},
            {"role": "system", "content": "Reminder: be brief."},
            {"role": "assistant", "content": "Hello."},
            {"role": "system", "content": [{"type": "text", "text": "The user switched to plan mode."}]},
            {"role": "user", "content": "Again"}
        ],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"abc\",\"session_id\":\"s1\"}"},
        "tools": [{"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}}]
    });
    parse_request(body.to_string().as_bytes()).unwrap()
}

#[test]
fn claude_codes_requests_read_into_the_ir_keeping_system_messages_in_place() {
    let r = claude_code_request("claude-sonnet-4-5");
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::System, Role::Assistant, Role::System, Role::User]);
    assert_eq!(r.messages[1].texts().next().unwrap().text, "Reminder: be brief.");
    assert!(r.adaptive_thinking && r.thinking_budget.is_none());
    assert_eq!(r.effort, Some(ir::Effort::High));
    assert_eq!(r.user.as_deref(), Some("{\"device_id\":\"abc\",\"session_id\":\"s1\"}"));
    assert!(r.system[0].cache_control.is_some());
    // Back to Anthropic: system entries in place, adaptive thinking and effort kept.
    let back = serde_json::to_value(request_from_ir(&r, 4096).unwrap()).unwrap();
    assert_eq!(back["messages"][1]["role"], "system");
    assert_eq!(back["thinking"], json!({"type": "adaptive"}));
    assert_eq!(back["output_config"], json!({"effort": "high"}));
    assert!(back.get("context_management").is_none());
}

#[test]
fn claude_codes_requests_convert_to_openai_with_system_messages_in_order_and_effort_for_reasoning_models() {
    let wire = chat::request_from_ir(&claude_code_request("gpt-5"));
    let roles: Vec<&str> = wire["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "system", "assistant", "system", "user"]);
    assert_eq!(wire["messages"][2]["content"], "Reminder: be brief.");
    assert_eq!(wire["reasoning_effort"], "high");
    assert_eq!(wire["user"], "{\"device_id\":\"abc\",\"session_id\":\"s1\"}");
    // gpt-4o takes no reasoning setting: it is left out rather than refused upstream.
    assert!(chat::request_from_ir(&claude_code_request("gpt-4o")).get("reasoning_effort").is_none());
    // A budget is turned into its level.
    let mut budget = claude_code_request("o3");
    (budget.effort, budget.adaptive_thinking, budget.thinking_budget) = (None, false, Some(2000));
    assert_eq!(chat::request_from_ir(&budget)["reasoning_effort"], "low");
}

#[test]
fn claude_codes_requests_convert_to_gemini_with_leading_system_text_hoisted_and_later_kept_in_place() {
    let mut r = claude_code_request("gemini-2.5-flash");
    // A system entry before the first turn joins the system instruction.
    r.messages.insert(0, ir::Message { role: Role::System, content: vec![Part::Text(TextPart::new("First."))] });
    let wire = serde_json::to_value(crate::protocol::gemini::request_from_ir(&r).unwrap()).unwrap();
    let system: Vec<&str> =
        wire["systemInstruction"]["parts"].as_array().unwrap().iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(system, ["You are Claude Code.", "First."]);
    let turns: Vec<(&str, usize)> = wire["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["role"].as_str().unwrap(), c["parts"].as_array().unwrap().len()))
        .collect();
    // user + the reminder as user text; model; the plan-mode note + user.
    assert_eq!(turns, [("user", 2), ("model", 1), ("user", 2)]);
    assert_eq!(wire["contents"][0]["parts"][1]["text"], "Reminder: be brief.");
    assert_eq!(wire["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 24576}));
    let g3 =
        serde_json::to_value(crate::protocol::gemini::request_from_ir(&claude_code_request("gemini-3-pro")).unwrap())
            .unwrap();
    assert_eq!(g3["generationConfig"]["thinkingConfig"], json!({"thinkingLevel": "high"}));
    let old = crate::protocol::gemini::request_from_ir(&claude_code_request("gemini-2.0-flash")).unwrap();
    assert!(serde_json::to_value(old).unwrap()["generationConfig"].get("thinkingConfig").is_none());
}

#[test]
fn claude_codes_requests_convert_to_bedrock_with_system_messages_in_system_and_a_capped_thinking_budget() {
    let wire =
        crate::protocol::bedrock::request_from_ir(&claude_code_request("us.anthropic.claude-sonnet-4-5-v1:0")).unwrap();
    let system: Vec<&str> = wire["system"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect();
    assert_eq!(system, ["You are Claude Code.", "Reminder: be brief.", "The user switched to plan mode."]);
    let roles: Vec<&str> = wire["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    // High is 32768 tokens, capped below max_tokens.
    assert_eq!(wire["additionalModelRequestFields"]["thinking"], json!({"type": "enabled", "budget_tokens": 31999}));
    let nova = crate::protocol::bedrock::request_from_ir(&claude_code_request("amazon.nova-2-lite-v1:0")).unwrap();
    assert_eq!(nova["additionalModelRequestFields"]["reasoningConfig"]["maxReasoningEffort"], "high");
    let titan = crate::protocol::bedrock::request_from_ir(&claude_code_request("meta.llama3-70b")).unwrap();
    assert!(titan.get("additionalModelRequestFields").is_none());
}
