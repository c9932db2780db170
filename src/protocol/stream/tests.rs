use bytes::Bytes;
use serde_json::json;

use super::anthropic_to_openai::{AnthropicToOpenAi, OpenAiEvent};
use super::openai_to_anthropic::OpenAiToAnthropic;
use super::*;
use crate::protocol::golden;

/// Runs a whole byte stream, cut into the given pieces, through a translator.
fn run<T: Translate>(machine: T, pieces: &[&[u8]]) -> (Vec<u8>, Usage) {
    let mut t = SseTranslator::new(machine);
    let mut outs = Vec::new();
    for p in pieces {
        outs.extend(t.push_bytes(p));
    }
    outs.extend(t.finish());
    (encode_all::<T>(&outs), t.machine().usage())
}

fn to_anthropic() -> OpenAiToAnthropic {
    OpenAiToAnthropic::new("smart")
}

fn to_openai(include_usage: bool) -> AnthropicToOpenAi {
    AnthropicToOpenAi::new("smart", 1_700_000_000, include_usage)
}

/// Every split point, and one byte at a time, gives the whole stream's output.
fn assert_split_invariant<T: Translate>(make: impl Fn() -> T, input: &[u8]) {
    let whole = run(make(), &[input]);
    for i in 0..=input.len() {
        assert_eq!(run(make(), &[&input[..i], &input[i..]]), whole, "split at byte {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(make(), &bytes), whole, "one byte at a time");
}

#[test]
fn openai_stream_converts_to_anthropic_golden() {
    let input = golden::fixture("openai_stream.sse");
    let (out, usage) = run(to_anthropic(), &[input.as_bytes()]);
    golden::check_text("openai_stream.to_anthropic.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(
        usage,
        Usage { input_tokens: 93, cached_tokens: 1024, output_tokens: 46, reasoning_tokens: 12, ..Usage::default() }
    );
}

#[test]
fn anthropic_stream_converts_to_openai_golden() {
    let input = golden::fixture("anthropic_stream.sse");
    let (out, usage) = run(to_openai(true), &[input.as_bytes()]);
    golden::check_text("anthropic_stream.to_openai.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(
        usage,
        Usage { input_tokens: 472, cached_tokens: 100, cache_write_tokens: 50, output_tokens: 89, ..Usage::default() }
    );
}

#[test]
fn usage_chunk_is_sent_only_when_asked_for() {
    let input = golden::fixture("anthropic_stream.sse");
    let (with, _) = run(to_openai(true), &[input.as_bytes()]);
    let (without, usage) = run(to_openai(false), &[input.as_bytes()]);
    let with = String::from_utf8(with).unwrap();
    let without = String::from_utf8(without).unwrap();
    assert!(with.contains(r#""prompt_tokens":622"#));
    assert!(!without.contains("prompt_tokens"));
    assert!(without.ends_with("data: [DONE]\n\n"));
    // Usage is captured for billing either way.
    assert_eq!(usage.output_tokens, 89);
}

#[test]
fn openai_to_anthropic_is_identical_at_every_byte_boundary() {
    assert_split_invariant(to_anthropic, golden::fixture("openai_stream.sse").as_bytes());
}

#[test]
fn anthropic_to_openai_is_identical_at_every_byte_boundary() {
    assert_split_invariant(|| to_openai(true), golden::fixture("anthropic_stream.sse").as_bytes());
}

#[test]
fn streamed_and_whole_conversions_agree() {
    // Reassembling the OpenAI chunks made from the Anthropic stream gives the same text,
    // reasoning and tool calls as the non-streamed conversion of the same message.
    let input = golden::fixture("anthropic_stream.sse");
    let mut t = SseTranslator::new(to_openai(false));
    let outs = t.push_bytes(input.as_bytes());
    let (mut text, mut reasoning, mut calls) = (String::new(), String::new(), Vec::<(String, String, String)>::new());
    for o in &outs {
        let OpenAiEvent::Chunk(c) = o else { continue };
        let d = &c["choices"][0]["delta"];
        text += d["content"].as_str().unwrap_or("");
        reasoning += d["reasoning_content"].as_str().unwrap_or("");
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if i == calls.len() {
                calls.push((
                    tc["id"].as_str().unwrap().into(),
                    tc["function"]["name"].as_str().unwrap().into(),
                    String::new(),
                ));
            }
            calls[i].2 += tc["function"]["arguments"].as_str().unwrap_or("");
        }
    }
    assert_eq!(text, "Café ☕ check 😀");
    assert_eq!(reasoning, "Need the weather → call tool.");
    let args: Vec<serde_json::Value> = calls.iter().map(|c| serde_json::from_str(&c.2).unwrap()).collect();
    assert_eq!(args, vec![json!({"city": "Paris"}), json!({})]);
    assert_eq!(calls[0].0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(calls[1].1, "get_time");
}

fn events_of(out: &[u8]) -> Vec<(String, serde_json::Value)> {
    let mut f = crate::protocol::sse::SseFramer::default();
    f.push(out);
    std::iter::from_fn(|| f.next_event())
        .map(|e: Bytes| {
            let name = crate::protocol::sse::event_name(&e).unwrap_or("").to_string();
            (name, serde_json::from_str(&crate::protocol::sse::event_data(&e).unwrap()).unwrap_or_default())
        })
        .collect()
}

#[test]
fn openai_stream_cut_short_ends_with_an_error_event() {
    let input = golden::fixture("openai_stream.sse");
    let cut = &input[..input.find("\"finish_reason\":\"tool_calls\"").unwrap() - 40];
    let cut = &cut[..cut.rfind("\n\n").unwrap() + 2];
    let (out, _) = run(to_anthropic(), &[cut.as_bytes()]);
    let events = events_of(&out);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

#[test]
fn anthropic_stream_cut_short_ends_with_an_error_chunk() {
    let input = golden::fixture("anthropic_stream.sse");
    let cut = &input[..input.find("event: message_delta").unwrap()];
    let (out, usage) = run(to_openai(true), &[cut.as_bytes()]);
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with("\"type\":\"api_error\"}}\n\n"), "{out}");
    assert!(!out.contains("[DONE]"));
    // Input usage from message_start is still captured.
    assert_eq!((usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens), (472, 100, 50));
}

#[test]
fn upstream_errors_are_relayed_in_the_client_dialect() {
    let mut m = to_openai(true);
    let out = m.push(&json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert_eq!(
        out,
        vec![OpenAiEvent::Error(
            json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
        )]
    );
    assert!(m.finish().is_empty() && m.push(&json!({"type": "message_stop"})).is_empty());

    let mut m = to_anthropic();
    let out = m.push(&json!({"error": {"message": "Rate limit", "type": "requests"}}));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event, "error");
    assert_eq!(out[0].data, json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit"}}));

    let (out, _) = run(to_anthropic(), &[b"data: {not json\n\n"]);
    assert!(String::from_utf8(out).unwrap().starts_with("event: error\n"));
}

#[test]
fn interleaved_tool_calls_are_refused_not_garbled() {
    let chunk = |tc: serde_json::Value| json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]});
    let mut m = to_anthropic();
    m.push(&chunk(json!({"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}})));
    m.push(&chunk(json!({"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}})));
    let out = m.push(&chunk(json!({"index": 0, "function": {"arguments": "}"}})));
    assert_eq!(out.last().unwrap().event, "error");
}

#[test]
fn a_tool_call_in_one_chunk_and_a_length_stop_convert() {
    let mut m = to_anthropic();
    let mut out = m.push(&json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call.1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}]}));
    out.extend(m.push(&json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7}})));
    out.extend(m.finish());
    let names: Vec<&str> = out.iter().map(|e| e.event).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(out[1].data["content_block"], json!({"type": "tool_use", "id": "call_1", "name": "f", "input": {}}));
    assert_eq!(out[4].data["delta"]["stop_reason"], "max_tokens");
    assert_eq!(out[4].data["usage"]["input_tokens"], 5);
    assert_eq!(out[4].data["usage"]["output_tokens"], 7);
}

#[test]
fn crlf_framed_streams_convert_like_lf_framed_ones() {
    let lf = golden::fixture("openai_stream.sse");
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(run(to_anthropic(), &[crlf.as_bytes()]), run(to_anthropic(), &[lf.as_bytes()]));
    let lf = golden::fixture("anthropic_stream.sse");
    let crlf = lf.replace('\n', "\r\n");
    assert_eq!(run(to_openai(true), &[crlf.as_bytes()]), run(to_openai(true), &[lf.as_bytes()]));
}

#[test]
fn stop_sequence_and_refusal_stop_reasons_map_in_streams() {
    let events = |reason: &str| {
        vec![
            json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}}),
            json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ]
    };
    for (reason, finish) in [("stop_sequence", "stop"), ("refusal", "content_filter"), ("max_tokens", "length")] {
        let mut m = to_openai(false);
        let out: Vec<OpenAiEvent> = events(reason).iter().flat_map(|e| m.push(e)).collect();
        let OpenAiEvent::Chunk(last) = &out[out.len() - 2] else { panic!("{out:?}") };
        assert_eq!(last["choices"][0]["finish_reason"], finish);
        assert_eq!(out.last(), Some(&OpenAiEvent::Done));
    }
}

#[test]
fn gateway_side_failures_close_the_stream_in_band() {
    let input = golden::fixture("anthropic_stream.sse");
    let cut = input.find("event: content_block_start").unwrap();
    let mut t = SseTranslator::new(to_openai(true));
    t.push_bytes(&input.as_bytes()[..cut]);
    let out = t.fail("the provider sent nothing for 30000 ms");
    assert!(
        matches!(&out[..], [OpenAiEvent::Error(e)] if e["error"]["message"] == "the provider sent nothing for 30000 ms")
    );
    // Nothing follows the error, and what the upstream reported is still there to bill.
    assert!(t.push_bytes(&input.as_bytes()[cut..]).is_empty() && t.finish().is_empty());
    assert_eq!(t.usage().input_tokens, 472);

    let mut t = SseTranslator::new(to_anthropic());
    let out = t.fail("boom");
    assert_eq!(out[0].event, "error");
    assert!(t.finish().is_empty());
}
