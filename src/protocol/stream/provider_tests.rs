//! Gemini and Bedrock streams: goldens, split-independence at every byte, agreement with
//! the non-streamed conversion, and in-band failures.

use serde_json::{Value, json};

use super::anthropic_to_openai::AnthropicToOpenAi;
use super::bedrock_to_anthropic::BedrockToAnthropic;
use super::gemini_to_anthropic::GeminiToAnthropic;
use super::via_anthropic::ViaAnthropic;
use super::*;
use crate::protocol::{anthropic, bedrock, eventstream, gemini, golden};

/// The Bedrock fixture's events in the binary framing.
pub(crate) fn bedrock_stream_bytes() -> Vec<u8> {
    golden::fixture("bedrock_stream.jsonl")
        .lines()
        .flat_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            eventstream::encode_event(v["event"].as_str().unwrap(), v["payload"].to_string().as_bytes()).to_vec()
        })
        .collect()
}

fn run<B: ByteTranslator>(mut t: B, pieces: &[&[u8]], encode: fn(&B::Out) -> Bytes) -> (Vec<u8>, Usage) {
    let mut outs = Vec::new();
    for p in pieces {
        outs.extend(t.push_bytes(p));
    }
    outs.extend(t.finish());
    (outs.iter().flat_map(|o| encode(o).to_vec()).collect(), t.usage())
}

fn gemini() -> SseTranslator<GeminiToAnthropic> {
    SseTranslator::new(GeminiToAnthropic::new("smart"))
}
fn gemini_openai() -> SseTranslator<ViaAnthropic<GeminiToAnthropic>> {
    SseTranslator::new(ViaAnthropic::new(
        GeminiToAnthropic::new("smart"),
        AnthropicToOpenAi::new("smart", 1_700_000_000, true),
    ))
}
fn bedrock() -> EventStreamTranslator<BedrockToAnthropic> {
    EventStreamTranslator::new(BedrockToAnthropic::new("smart", "req-42"))
}
fn bedrock_openai() -> EventStreamTranslator<ViaAnthropic<BedrockToAnthropic>> {
    EventStreamTranslator::new(ViaAnthropic::new(
        BedrockToAnthropic::new("smart", "req-42"),
        AnthropicToOpenAi::new("smart", 1_700_000_000, true),
    ))
}

fn split_invariant<B: ByteTranslator>(
    make: impl Fn() -> B,
    input: &[u8],
    encode: fn(&B::Out) -> Bytes,
) -> (Vec<u8>, Usage) {
    let whole = run(make(), &[input], encode);
    for i in 0..=input.len() {
        assert_eq!(run(make(), &[&input[..i], &input[i..]], encode), whole, "split at byte {i}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(make(), &bytes, encode), whole, "one byte at a time");
    whole
}

const GEMINI_USAGE: Usage = Usage {
    input_tokens: 176,
    cached_tokens: 1024,
    output_tokens: 65,
    reasoning_tokens: 25,
    cache_write_tokens: 0,
    images: 0,
    cache_write_1h_tokens: 0,
    service_tier: None,
    image: crate::billing::image_prices::ImageSpec { size: None, quality: None },
};
const BEDROCK_USAGE: Usage = Usage {
    input_tokens: 472,
    cached_tokens: 100,
    cache_write_tokens: 50,
    output_tokens: 89,
    reasoning_tokens: 0,
    images: 0,
    cache_write_1h_tokens: 0,
    service_tier: None,
    image: crate::billing::image_prices::ImageSpec { size: None, quality: None },
};

#[test]
fn gemini_stream_goldens_at_every_byte_boundary() {
    let input = golden::fixture("gemini_stream.sse");
    let (out, usage) = split_invariant(gemini, input.as_bytes(), GeminiToAnthropic::encode);
    golden::check_text("gemini_stream.to_anthropic.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(usage, GEMINI_USAGE);
    let (out, usage) = split_invariant(gemini_openai, input.as_bytes(), ViaAnthropic::<GeminiToAnthropic>::encode);
    golden::check_text("gemini_stream.to_openai.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(usage, GEMINI_USAGE, "billing keeps Gemini's exact split, reasoning included");
}

#[test]
fn bedrock_stream_goldens_at_every_byte_boundary() {
    let input = bedrock_stream_bytes();
    let (out, usage) = split_invariant(bedrock, &input, BedrockToAnthropic::encode);
    golden::check_text("bedrock_stream.to_anthropic.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(usage, BEDROCK_USAGE);
    let (out, usage) = split_invariant(bedrock_openai, &input, ViaAnthropic::<BedrockToAnthropic>::encode);
    golden::check_text("bedrock_stream.to_openai.sse", std::str::from_utf8(&out).unwrap());
    assert_eq!(usage, BEDROCK_USAGE);
}

/// Folds an Anthropic event stream into the message it describes.
fn assemble(sse_bytes: &[u8]) -> Value {
    let mut f = crate::protocol::sse::SseFramer::default();
    f.push(sse_bytes);
    let mut msg = json!(null);
    let mut partial: Vec<String> = Vec::new();
    while let Some(ev) = f.next_event() {
        let d: Value = serde_json::from_str(&crate::protocol::sse::event_data(&ev).unwrap()).unwrap();
        match d["type"].as_str().unwrap() {
            "message_start" => msg = d["message"].clone(),
            "content_block_start" => {
                msg["content"].as_array_mut().unwrap().push(d["content_block"].clone());
                partial.push(String::new());
            }
            "content_block_delta" => {
                let i = d["index"].as_u64().unwrap() as usize;
                let b = &mut msg["content"][i];
                let delta = &d["delta"];
                let mut append = |k: &str, s: &Value| {
                    *b.get_mut(k).unwrap() = json!(format!("{}{}", b[k].as_str().unwrap(), s.as_str().unwrap()))
                };
                match delta["type"].as_str().unwrap() {
                    "text_delta" => append("text", &delta["text"]),
                    "thinking_delta" => append("thinking", &delta["thinking"]),
                    "signature_delta" => append("signature", &delta["signature"]),
                    "input_json_delta" => partial[i] += delta["partial_json"].as_str().unwrap(),
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = d["index"].as_u64().unwrap() as usize;
                if msg["content"][i]["type"] == "tool_use" {
                    msg["content"][i]["input"] = serde_json::from_str(&partial[i]).unwrap();
                }
            }
            "message_delta" => {
                msg["stop_reason"] = d["delta"]["stop_reason"].clone();
                msg["usage"] = d["usage"].clone();
            }
            _ => {}
        }
    }
    msg
}

#[test]
fn streamed_and_whole_conversions_agree() {
    let (out, _) = run(gemini(), &[golden::fixture("gemini_stream.sse").as_bytes()], GeminiToAnthropic::encode);
    let mut whole = gemini::parse_response(golden::fixture("gemini_response.json").as_bytes()).unwrap();
    whole.model = "smart".into();
    assert_eq!(assemble(&out), serde_json::to_value(anthropic::response_from_ir(&whole)).unwrap());

    let (out, _) = run(bedrock(), &[&bedrock_stream_bytes()], BedrockToAnthropic::encode);
    let mut whole = bedrock::parse_response(golden::fixture("bedrock_response.json").as_bytes(), "req-42").unwrap();
    whole.model = "smart".into();
    let mut streamed = assemble(&out);
    // A streamed redacted block arrives whole in its start event; the fold keeps it as is.
    streamed["content"][1].as_object_mut().unwrap().remove("signature");
    assert_eq!(streamed, serde_json::to_value(anthropic::response_from_ir(&whole)).unwrap());
}

fn last_event(out: &[u8]) -> Value {
    let text = std::str::from_utf8(out).unwrap();
    let data = text.trim_end().rsplit("data: ").next().unwrap();
    serde_json::from_str(data).unwrap()
}

#[test]
fn failures_are_reported_in_band() {
    // Gemini: the body ends before a finishReason.
    let input = golden::fixture("gemini_stream.sse");
    let cut = input.rfind("data: ").unwrap();
    let (out, usage) = run(gemini(), &[&input.as_bytes()[..cut]], GeminiToAnthropic::encode);
    assert_eq!(last_event(&out)["error"]["type"], "api_error");
    assert_eq!(usage.input_tokens, 176, "usage read so far is still billed");
    // Gemini: an error object mid-stream keeps its kind.
    let err = "data: {\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n";
    let (out, _) = run(gemini(), &[&input.as_bytes()[..cut], err.as_bytes()], GeminiToAnthropic::encode);
    assert_eq!(last_event(&out)["error"], json!({"type": "rate_limit_error", "message": "quota"}));
    // Bedrock: an exception message.
    let mut bytes = bedrock_stream_bytes();
    bytes.truncate(bytes.len() / 2);
    let boundary = {
        let mut d = eventstream::Decoder::default();
        d.push(&bytes);
        while d.next_message().unwrap().is_some() {}
        bytes.len() - d.pending()
    };
    bytes.truncate(boundary);
    bytes.extend_from_slice(&eventstream::encode_exception("throttlingException", br#"{"message":"slow down"}"#));
    let (out, _) = run(bedrock(), &[&bytes], BedrockToAnthropic::encode);
    assert_eq!(last_event(&out)["error"], json!({"type": "rate_limit_error", "message": "slow down"}));
    // Bedrock: a damaged frame, and a body that ends inside an event.
    let mut damaged = bedrock_stream_bytes();
    damaged[40] ^= 0xff;
    let (out, _) = run(bedrock(), &[&damaged], BedrockToAnthropic::encode);
    assert!(last_event(&out)["error"]["message"].as_str().unwrap().contains("damaged"));
    let whole = bedrock_stream_bytes();
    let (out, _) = run(bedrock_openai(), &[&whole[..whole.len() - 3]], ViaAnthropic::<BedrockToAnthropic>::encode);
    assert!(String::from_utf8(out).unwrap().contains("ended inside an event"));
}
