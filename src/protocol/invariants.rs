//! Properties that must hold for any input bytes, written as panicking checks. The fuzz
//! targets in `fuzz/` call them with random input; unit tests call them on every fixture,
//! its truncations and byte mutations. Whatever a client or provider sends, conversion
//! either returns an error or produces output that the same module reads back.

use serde_json::Value;

use super::sse::{SseFramer, event_data};
use super::stream::AnthropicEvent;
use super::stream::anthropic_to_openai::{AnthropicToOpenAi, OpenAiEvent};
use super::stream::bedrock_to_anthropic::BedrockToAnthropic;
use super::stream::gemini_to_anthropic::GeminiToAnthropic;
use super::stream::openai_to_anthropic::OpenAiToAnthropic;
use super::stream::via_anthropic::ViaAnthropic;
use super::stream::{ByteTranslator, EventStreamTranslator, SseTranslator, Translate};
use super::{anthropic, bedrock, eventstream, gemini, openai::chat};

fn frame(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut f = SseFramer::default();
    let mut out = Vec::new();
    for p in pieces {
        f.push(p);
        while let Some(e) = f.next_event() {
            out.push(e.to_vec());
        }
    }
    out.push(f.take_rest().to_vec());
    out
}

/// The framer gives the same events wherever the bytes are split, and reading an event's
/// data never panics.
pub fn sse_framing(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let whole = frame(&[data]);
    assert_eq!(frame(&[&data[..split], &data[split..]]), whole, "split at {split}");
    for e in &whole {
        let _ = event_data(e);
        let _ = super::sse::event_name(e);
    }
}

/// An OpenAI request either is refused or converts to bodies that read back.
pub fn openai_request(data: &[u8]) {
    let Ok(ir) = chat::parse_request(data) else { return };
    let wire = chat::request_from_ir(&ir);
    chat::request_to_ir(wire.as_object().expect("a body is an object")).expect("our OpenAI body reads back");
    if let Ok(req) = anthropic::request_from_ir(&ir, 4096) {
        let bytes = serde_json::to_vec(&req).expect("serializes");
        anthropic::parse_request(&bytes).expect("our Anthropic body reads back");
    }
}

/// An Anthropic request either is refused or converts to bodies that read back.
pub fn anthropic_request(data: &[u8]) {
    let Ok(ir) = anthropic::parse_request(data) else { return };
    if let Ok(req) = anthropic::request_from_ir(&ir, 4096) {
        let bytes = serde_json::to_vec(&req).expect("serializes");
        anthropic::parse_request(&bytes).expect("our Anthropic body reads back");
    }
    let wire = chat::request_from_ir(&ir);
    chat::request_to_ir(wire.as_object().expect("a body is an object")).expect("our OpenAI body reads back");
}

/// A response of either dialect either is refused or converts to bodies that read back.
pub fn responses(data: &[u8]) {
    for ir in [chat::parse_response(data), anthropic::parse_response(data)].into_iter().flatten() {
        chat::response_to_ir(&chat::response_from_ir(&ir, 0)).expect("our OpenAI response reads back");
        let bytes = serde_json::to_vec(&anthropic::response_from_ir(&ir)).expect("serializes");
        anthropic::parse_response(&bytes).expect("our Anthropic response reads back");
    }
}

fn translate<T: Translate>(machine: T, pieces: &[&[u8]]) -> Vec<T::Out> {
    let mut t = SseTranslator::new(machine);
    let mut out = Vec::new();
    for p in pieces {
        out.extend(t.push_bytes(p));
    }
    out.extend(t.finish());
    out
}

/// OpenAI stream bytes → Anthropic events: the same wherever split, and always a complete
/// Anthropic stream (blocks opened and closed in order, ending in `message_stop` or
/// `error`).
pub fn openai_stream(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let whole = translate(OpenAiToAnthropic::new("m"), &[data]);
    assert_eq!(translate(OpenAiToAnthropic::new("m"), &[&data[..split], &data[split..]]), whole);
    well_formed_anthropic(&whole);
}

/// Blocks opened and closed in order, nothing after `message_delta` but `message_stop`, and
/// the stream ends in `message_stop` or `error`.
fn well_formed_anthropic(whole: &[AnthropicEvent]) {
    let mut open: Option<u64> = None;
    let mut next = 0;
    for e in whole {
        let index = e.data.get("index").and_then(Value::as_u64);
        match e.event {
            "content_block_start" => {
                assert!(open.is_none() && index == Some(next), "{whole:?}");
                open = index;
                next += 1;
            }
            "content_block_delta" => assert!(open.is_some() && open == index, "{whole:?}"),
            "content_block_stop" => {
                assert!(open.is_some() && open == index, "{whole:?}");
                open = None;
            }
            "message_delta" => assert!(open.is_none(), "{whole:?}"),
            _ => {}
        }
    }
    let last = whole.last().expect("a stream always ends with an event").event;
    assert!(last == "message_stop" || last == "error", "{whole:?}");
}

/// Anthropic stream bytes → OpenAI chunks: the same wherever split, and always ending in
/// `[DONE]` or an error.
pub fn anthropic_stream(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let make = || AnthropicToOpenAi::new("m", 0, true);
    let whole = translate(make(), &[data]);
    assert_eq!(translate(make(), &[&data[..split], &data[split..]]), whole);
    assert!(matches!(whole.last(), Some(OpenAiEvent::Done | OpenAiEvent::Error(_))), "{whole:?}");
}

/// The event-stream decoder gives the same messages (or the same error) wherever the bytes
/// are split, and every message it accepts encodes back to its own bytes.
pub fn eventstream_framing(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let decode = |pieces: &[&[u8]]| {
        let mut d = eventstream::Decoder::default();
        let mut out = Vec::new();
        for p in pieces {
            d.push(p);
            loop {
                match d.next_message() {
                    Ok(Some(m)) => out.push(Ok(m)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e));
                        break;
                    }
                }
            }
        }
        out
    };
    let whole = decode(&[data]);
    assert_eq!(decode(&[&data[..split], &data[split..]]), whole, "split at {split}");
    let mut offset = 0;
    for m in whole.iter().flatten() {
        let headers: Vec<(&str, eventstream::HeaderValue)> =
            m.headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let bytes = eventstream::encode(&headers, &m.payload);
        assert_eq!(&data[offset..offset + bytes.len()], &bytes[..]);
        offset += bytes.len();
    }
}

/// A request of any dialect (Anthropic, Gemini or Bedrock bytes) is refused or converts to
/// Gemini and Bedrock bodies that read back.
pub fn provider_requests(data: &[u8]) {
    let irs = [anthropic::parse_request(data), gemini::parse_request(data, "m"), bedrock::parse_request(data, "m")];
    for ir in irs.into_iter().flatten() {
        if let Ok(req) = gemini::request_from_ir(&ir) {
            let bytes = serde_json::to_vec(&req).expect("serializes");
            gemini::parse_request(&bytes, "m").expect("our Gemini body reads back");
        }
        if let Ok(req) = bedrock::request_from_ir(&ir) {
            let bytes = serde_json::to_vec(&req).expect("serializes");
            bedrock::parse_request(&bytes, "m").expect("our Bedrock body reads back");
        }
    }
}

/// A Gemini or Bedrock response is refused or converts to the other dialects' responses,
/// which read back.
pub fn provider_responses(data: &[u8]) {
    for ir in [gemini::parse_response(data), bedrock::parse_response(data, "id")].into_iter().flatten() {
        let bytes = serde_json::to_vec(&anthropic::response_from_ir(&ir)).expect("serializes");
        anthropic::parse_response(&bytes).expect("our Anthropic response reads back");
        chat::response_to_ir(&chat::response_from_ir(&ir, 0)).expect("our OpenAI response reads back");
        if let Ok(g) = gemini::response_from_ir(&ir) {
            gemini::parse_response(&serde_json::to_vec(&g).expect("serializes"))
                .expect("our Gemini response reads back");
        }
        if let Ok(b) = bedrock::response_from_ir(&ir) {
            bedrock::response_to_ir(&b, "id").expect("our Bedrock response reads back");
        }
    }
}

fn drive<B: ByteTranslator>(mut t: B, pieces: &[&[u8]]) -> Vec<B::Out> {
    let mut out = Vec::new();
    for p in pieces {
        out.extend(t.push_bytes(p));
    }
    out.extend(t.finish());
    out
}

/// Gemini SSE bytes → Anthropic events (and → OpenAI chunks through the hub): the same
/// wherever split, and a complete stream.
pub fn gemini_stream(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let make = || SseTranslator::new(GeminiToAnthropic::new("m"));
    let whole = drive(make(), &[data]);
    assert_eq!(drive(make(), &[&data[..split], &data[split..]]), whole);
    well_formed_anthropic(&whole);
    let via =
        || SseTranslator::new(ViaAnthropic::new(GeminiToAnthropic::new("m"), AnthropicToOpenAi::new("m", 0, true)));
    let whole = drive(via(), &[data]);
    assert_eq!(drive(via(), &[&data[..split], &data[split..]]), whole);
    assert!(matches!(whole.last(), Some(OpenAiEvent::Done | OpenAiEvent::Error(_))), "{whole:?}");
}

/// Bedrock event-stream bytes → Anthropic events (and → OpenAI chunks): the same wherever
/// split, and a complete stream.
pub fn bedrock_stream(data: &[u8], split: usize) {
    let split = split.min(data.len());
    let make = || EventStreamTranslator::new(BedrockToAnthropic::new("m", "id"));
    let whole = drive(make(), &[data]);
    assert_eq!(drive(make(), &[&data[..split], &data[split..]]), whole);
    well_formed_anthropic(&whole);
    let via = || {
        EventStreamTranslator::new(ViaAnthropic::new(
            BedrockToAnthropic::new("m", "id"),
            AnthropicToOpenAi::new("m", 0, true),
        ))
    };
    let whole = drive(via(), &[data]);
    assert_eq!(drive(via(), &[&data[..split], &data[split..]]), whole);
    assert!(matches!(whole.last(), Some(OpenAiEvent::Done | OpenAiEvent::Error(_))), "{whole:?}");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::golden;

    /// The input, its truncations and single-byte mutations (at every `stride`-th
    /// byte, to a byte that matters to JSON and SSE, cycling through them so each kind hits
    /// every part of the input). Kept small enough for the debug-build test run; the fuzz
    /// targets go further.
    fn variants(input: &[u8], stride: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
        const BYTES: [u8; 6] = [b'"', b'{', b']', b'0', b'\n', b'x'];
        let truncations = (0..input.len()).step_by(stride).map(|n| input[..n].to_vec());
        let mutations = (0..input.len()).step_by(stride).flat_map(move |i| {
            [BYTES[i % 6], BYTES[(i + 3) % 6]].into_iter().map(move |b| {
                let mut v = input.to_vec();
                v[i] = b;
                v
            })
        });
        std::iter::once(input.to_vec()).chain(truncations).chain(mutations)
    }

    #[test]
    fn request_and_response_conversions_hold_on_fixture_variants() {
        for name in ["openai_request.json", "anthropic_request.json", "openai_response.json", "anthropic_response.json"]
        {
            for v in variants(golden::fixture(name).as_bytes(), 2) {
                openai_request(&v);
                anthropic_request(&v);
                responses(&v);
            }
        }
    }

    #[test]
    fn stream_translations_hold_on_fixture_variants() {
        for v in variants(golden::fixture("openai_stream.sse").as_bytes(), 7) {
            openai_stream(&v, v.len() / 2);
            sse_framing(&v, v.len() / 3);
        }
        for v in variants(golden::fixture("anthropic_stream.sse").as_bytes(), 7) {
            anthropic_stream(&v, v.len() / 2);
        }
    }

    #[test]
    fn provider_conversions_hold_on_fixture_variants() {
        for name in ["gemini_response.json", "bedrock_response.json", "anthropic_request.json"] {
            for v in variants(golden::fixture(name).as_bytes(), 3) {
                provider_requests(&v);
                provider_responses(&v);
            }
        }
        for v in variants(golden::fixture("gemini_stream.sse").as_bytes(), 11) {
            gemini_stream(&v, v.len() / 2);
        }
        let frames = crate::protocol::stream::provider_test_support::bedrock_stream_bytes();
        for v in variants(&frames, 13) {
            eventstream_framing(&v, v.len() / 2);
            bedrock_stream(&v, v.len() / 3);
        }
        // The checks must not pass only because everything is refused.
        assert!(gemini::parse_response(golden::fixture("gemini_response.json").as_bytes()).is_ok());
        let out = drive(EventStreamTranslator::new(BedrockToAnthropic::new("m", "id")), &[&frames]);
        assert_eq!(out.last().unwrap().event, "message_stop");
    }

    #[test]
    fn fixtures_themselves_convert() {
        // The checks above must not pass only because everything is refused.
        assert!(chat::parse_request(golden::fixture("openai_request.json").as_bytes()).is_ok());
        assert!(anthropic::parse_request(golden::fixture("anthropic_request.json").as_bytes()).is_ok());
        let out = translate(OpenAiToAnthropic::new("m"), &[golden::fixture("openai_stream.sse").as_bytes()]);
        assert_eq!(out.last().unwrap().event, "message_stop");
    }

    /// Every JSON pointer in a value.
    fn pointers(v: &Value, prefix: String, out: &mut Vec<String>) {
        out.push(prefix.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| pointers(x, format!("{prefix}/{k}"), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| pointers(x, format!("{prefix}/{i}"), out)),
            _ => {}
        }
    }

    #[test]
    fn conversions_hold_on_structurally_mutated_fixtures() {
        // Deterministic xorshift, so a failure reproduces; each case replaces or removes up
        // to three values of a fixture with a wrong-typed value or a piece of another fixture
        // (a tool call where a message was, a usage object where content was, ...).
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        let names =
            ["openai_request.json", "anthropic_request.json", "openai_response.json", "anthropic_response.json"];
        let inputs: Vec<Value> = names.iter().map(|n| golden::json(n)).collect();
        let donors: Vec<Value> = inputs
            .iter()
            .flat_map(|i| {
                let mut ps = Vec::new();
                pointers(i, String::new(), &mut ps);
                ps.into_iter().map(|p| i.pointer(&p).expect("listed").clone()).collect::<Vec<_>>()
            })
            .collect();
        for _ in 0..3000 {
            let mut v = inputs[rnd() % inputs.len()].clone();
            for _ in 0..1 + rnd() % 3 {
                let mut ps = Vec::new();
                pointers(&v, String::new(), &mut ps);
                let target = ps[1 + rnd() % (ps.len() - 1)].clone();
                let replacement = match rnd() % 8 {
                    0 => Value::Null,
                    1 => json!(""),
                    2 => json!(-1),
                    3 => json!([]),
                    4 => json!({}),
                    _ => donors[rnd() % donors.len()].clone(),
                };
                if rnd() % 4 == 0 {
                    let (parent, key) = target.rsplit_once('/').expect("a pointer has a slash");
                    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                        m.remove(key);
                    }
                } else if let Some(slot) = v.pointer_mut(&target) {
                    *slot = replacement;
                }
            }
            let bytes = serde_json::to_vec(&v).expect("serializes");
            openai_request(&bytes);
            anthropic_request(&bytes);
            responses(&bytes);
        }
    }
}
