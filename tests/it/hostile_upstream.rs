//! The scripted hostile upstream (issue 12's battery): every provider kind × both client
//! dialects × streamed and whole, against a provider that lies about usage, truncates its
//! frames, sends a 10 MB error body, drips slowly (under and over the idle timeout) or resets
//! the connection mid-body. Answers without usage and bodies that are not JSON are the same
//! matrix in `upstream_answers.rs`.
//!
//! | Behaviour (mock scenario)                 | Whole answer                           | Stream                                                   |
//! | ----------------------------------------- | -------------------------------------- | -------------------------------------------------------- |
//! | usage inflated past the balance           | 200, charged down to 0, record exact   | the same                                                 |
//! | usage at / past the 64-bit range          | 200, no overflow, charged down to 0    | the same                                                 |
//! | usage under-reported, or all zeros        | 200, charged as reported; zeros: the counted estimate, flagged | the same                          |
//! | frame cut in half, clean end (`truncate_after`) | 502 `upstream_invalid_response`, not charged | 200, content, in-band error; charged the estimate of what arrived |
//! | 10 MB error body (`error_bytes`)          | 502 `upstream_error`, none of it shown, record's text bounded | the same (the error precedes the stream) |
//! | slow drip under the idle timeout          | 200, charged as reported               | the same                                                 |
//! | slow drip over the idle timeout           | 504 `upstream_timeout`, not charged    | 200, content, in-band error; charged the estimate        |
//! | connection reset mid-body (`cut_after`)   | 502, not charged                       | 200, content, in-band error; charged the estimate        |
//!
//! Every cell also checks that nothing of the provider's body (its error text, its padding, its
//! address, its key) reaches the client. One gateway and one mock serve each behaviour; the
//! 20 cells of a behaviour run concurrently, each with its own member (key and balance), and a
//! failure names every failing cell.

use std::fmt;

use futures_util::future::join_all;
use mock_provider::{ERROR_PADDING, MockServer};
use serde_json::{Value, json};
use tollgate::billing::money::{format_credits, parse_credits};
use tollgate::billing::pricing::MAX_REPORTED_TOKENS;

use crate::harness::*;
use crate::upstream_answers::{KINDS, PROMPT_TOKENS, call, estimate_cost, model_of_kind_with, received_text};

#[derive(Clone, Copy)]
struct Cell {
    kind: &'static str,
    dialect: &'static str,
    stream: bool,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.stream { "stream" } else { "whole" };
        write!(f, "{} provider → {} client, {how}", self.kind, self.dialect)
    }
}

fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for kind in KINDS {
        for dialect in ["openai", "anthropic"] {
            for stream in [false, true] {
                out.push(Cell { kind, dialect, stream });
            }
        }
    }
    out
}

/// What one cell's call left behind.
struct Outcome {
    status: u16,
    body: String,
    /// The call's record, once it is no longer `processing`.
    record: Value,
    /// The member's balance afterwards, in nano-credits.
    balance: i64,
}

/// Returns `Err(message)` from a cell's check unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// A member with `credits`, one call of `cell` to `model`, and what it left.
async fn run_cell(gw: &Gateway, cell: Cell, model: &str, credits: &str) -> Outcome {
    let user = gw.admin_ok("POST", "/api/v1/users", Some(json!({"name": "cell"})), 201).await;
    let user_id = user["id"].as_str().unwrap().to_string();
    gw.admin_ok("POST", &format!("/api/v1/users/{user_id}/credits"), Some(json!({"amount": credits})), 201).await;
    let k = gw.admin_ok("POST", "/api/v1/keys", Some(json!({"user_id": user_id})), 201).await;
    let (key, key_id) = (k["key"].as_str().unwrap(), k["id"].as_str().unwrap());
    let (status, body) = call(gw, key, cell.dialect, model, cell.stream).await;
    let records = gw.calls_until(key_id, |c| c.len() == 1 && c[0]["status"] != "processing").await;
    let user = gw.admin_ok("GET", &format!("/api/v1/users/{user_id}"), None, 200).await;
    let balance = parse_credits(user["balance"].as_str().unwrap()).unwrap();
    Outcome { status, body, record: records[0].clone(), balance }
}

/// Runs `check` on every cell against a provider of each kind answering with `scenario`
/// (`provider`: more fields of the provider), each cell's member holding `credits`.
async fn matrix(
    gw: &Gateway,
    mock: &MockServer,
    scenario: &str,
    provider: Value,
    credits: &str,
    check: impl Fn(Cell, &Outcome) -> Result<(), String>,
) {
    let mut models = Vec::new();
    for kind in KINDS {
        models.push(model_of_kind_with(gw, mock, kind, scenario, &[PROVIDER_KEY], provider.clone()).await);
    }
    let check = &check;
    let runs = cells().into_iter().map(|cell| {
        let model = models[KINDS.iter().position(|k| *k == cell.kind).unwrap()].clone();
        async move {
            let o = run_cell(gw, cell, &model, credits).await;
            let checked = no_leak(&o).and_then(|()| check(cell, &o));
            checked.map_err(|why| {
                format!("{cell}: {why}\n    status {}, body {:.400}\n    record {}", o.status, o.body, o.record)
            })
        }
    });
    let failures: Vec<String> = join_all(runs).await.into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "[{scenario}] {} of 20 cells failed:\n{}", failures.len(), failures.join("\n"));
}

/// Nothing of the provider's own bytes reaches the client.
fn no_leak(o: &Outcome) -> Result<(), String> {
    for needle in ["mock error", ERROR_PADDING.trim(), "<html", PROVIDER_KEY, "127.0.0.1", "mock in-stream error"] {
        ensure!(!o.body.contains(needle), "the client's body contains {needle:?}");
    }
    Ok(())
}

/// A whole error answer in the cell's dialect with `status` (and, for OpenAI clients, `code`).
fn whole_error(cell: Cell, o: &Outcome, status: u16, code: &str) -> Result<(), String> {
    ensure!(o.status == status, "status {} instead of {status}", o.status);
    ensure!(o.body.len() < 4096, "an error body of {} bytes", o.body.len());
    let v: Value = serde_json::from_str(&o.body).map_err(|e| format!("the error is not JSON: {e}"))?;
    let message = v["error"]["message"].as_str().unwrap_or("");
    ensure!(!message.is_empty(), "no error message");
    if cell.dialect == "openai" {
        ensure!(v.get("type").is_none() && v["error"]["type"].is_string(), "not the OpenAI shape");
        ensure!(v["error"]["code"] == code, "code {} instead of {code}", v["error"]["code"]);
    } else {
        ensure!(v["type"] == "error" && v["error"]["type"].is_string(), "not the Anthropic shape");
    }
    Ok(())
}

/// A stream that started (200) and ended with an error in its dialect, never with the
/// dialect's end (`[DONE]`, `message_stop`); answers the text that reached the client.
fn inband_error(cell: Cell, o: &Outcome) -> Result<String, String> {
    ensure!(o.status == 200, "status {} for a stream that started", o.status);
    if cell.dialect == "openai" {
        let data = sse_data(&o.body);
        let last: Value = data.last().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
        ensure!(last["error"]["message"].is_string(), "the stream does not end with an error object");
        ensure!(!o.body.contains("[DONE]"), "a failed stream ends with [DONE]");
    } else {
        let events = anthropic_events(&o.body);
        let last = events.last().map(|(n, d)| (n.as_str(), d.clone()));
        ensure!(
            matches!(&last, Some(("error", d)) if d["error"]["type"].is_string()),
            "the stream does not end with an error event"
        );
        ensure!(events.iter().all(|(n, _)| n != "message_stop"), "a failed stream has message_stop");
    }
    Ok(received_text(cell.dialect, true, &o.body))
}

/// The record is `status` with HTTP status `http` (when given), of `class` (when given), and
/// costs `cost` nano-credits; `estimated` is its `usage_estimated`.
fn record(
    o: &Outcome,
    status: &str,
    http: Option<i64>,
    class: Option<&str>,
    cost: i64,
    estimated: bool,
) -> Result<(), String> {
    let r = &o.record;
    ensure!(r["status"] == status, "recorded {} instead of {status}", r["status"]);
    if let Some(http) = http {
        ensure!(r["http_status"] == http, "recorded HTTP {} instead of {http}", r["http_status"]);
    }
    if let Some(class) = class {
        ensure!(r["error_class"] == class, "recorded class {} instead of {class}", r["error_class"]);
    }
    ensure!(
        r["cost"] == format_credits(cost).as_str(),
        "recorded cost {} instead of {}",
        r["cost"],
        format_credits(cost)
    );
    ensure!(r["usage_estimated"] == estimated, "usage_estimated {} instead of {estimated}", r["usage_estimated"]);
    Ok(())
}

const ONE_CREDIT: i64 = 1_000_000_000;

/// What a stream cut after `text` reached the client is charged: the output as counted, and
/// the prompt as the provider counted it when its stream reports that at the start
/// (Anthropic's `message_start`, Gemini's running `usageMetadata`: the mock counts "hi" as 1),
/// else as admission counted it. The provisional output count those reports carry (Anthropic
/// says 1) is never what is charged.
fn cut_stream_cost(kind: &str, text: &str) -> i64 {
    let prompt = if matches!(kind, "anthropic" | "gemini") { 1 } else { PROMPT_TOKENS };
    estimate_cost(text) - PROMPT_TOKENS * 2_500 + prompt * 2_500
}

#[tokio::test]
async fn lying_usage_is_charged_as_reported_never_past_the_balance() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // Inflated: 10^12 output tokens cost 10^7 credits; the member holds 1, is charged down to
    // 0, and the record keeps the exact cost (the operator carries the rest, ARCHITECTURE.md).
    matrix(&gw, &mock, "chunks=3,prompt_tokens=4,completion_tokens=1000000000000", json!({}), "1", |cell, o| {
        ensure!(o.status == 200, "status {}", o.status);
        ensure!(received_text(cell.dialect, cell.stream, &o.body) == "Hello from the", "the answer did not arrive");
        record(o, "success", Some(200), None, 4 * 2_500 + 1_000_000_000_000 * 10_000, false)?;
        ensure!(o.record["output_tokens"] == 1_000_000_000_000i64, "output tokens {}", o.record["output_tokens"]);
        ensure!(o.balance == 0, "balance {} after an inflated charge", o.balance);
        Ok(())
    })
    .await;
    // Under-reported: one output token for three words is what the provider says it sold.
    matrix(&gw, &mock, "chunks=3,prompt_tokens=4,completion_tokens=1", json!({}), "1", |cell, o| {
        ensure!(o.status == 200, "status {}", o.status);
        ensure!(received_text(cell.dialect, cell.stream, &o.body) == "Hello from the", "the answer did not arrive");
        record(o, "success", Some(200), None, 4 * 2_500 + 10_000, false)?;
        ensure!(o.balance == ONE_CREDIT - 20_000, "balance {}", o.balance);
        Ok(())
    })
    .await;
    // All zeros is no usage: the counted estimate, flagged.
    matrix(&gw, &mock, "chunks=3,prompt_tokens=0,completion_tokens=0", json!({}), "1", |cell, o| {
        ensure!(o.status == 200, "status {}", o.status);
        let text = received_text(cell.dialect, cell.stream, &o.body);
        ensure!(text == "Hello from the", "the answer did not arrive: {text:?}");
        let cost = estimate_cost(&text);
        record(o, "success", Some(200), None, cost, true)?;
        ensure!(o.record["input_tokens"] == PROMPT_TOKENS, "input tokens {}", o.record["input_tokens"]);
        ensure!(o.balance == ONE_CREDIT - cost, "balance {}", o.balance);
        Ok(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn usage_at_the_edge_of_the_64_bit_range_neither_overflows_nor_goes_below_zero() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // i64::MAX output tokens on top of a prompt (every sum of token counts — the rate
    // limiter's tokens, the total a converted answer shows — overflowed), and u64::MAX, which
    // no protocol's usage type holds (a Gemini answer was refused whole for it, an OpenAI
    // one read it as no usage, a Bedrock one as 0 output tokens: nearly free). Every count is
    // read bounded (`MAX_REPORTED_TOKENS`): the cost saturates, the member is charged down to 0.
    for huge in [i64::MAX.to_string(), u64::MAX.to_string()] {
        let scenario = format!("chunks=3,prompt_tokens=4,completion_tokens={huge}");
        matrix(&gw, &mock, &scenario, json!({}), "1", |cell, o| {
            ensure!(o.status == 200, "status {}", o.status);
            ensure!(received_text(cell.dialect, cell.stream, &o.body) == "Hello from the", "the answer did not arrive");
            record(o, "success", Some(200), None, i64::MAX, false)?;
            ensure!(o.record["output_tokens"] == MAX_REPORTED_TOKENS, "output tokens {}", o.record["output_tokens"]);
            ensure!(o.balance == 0, "balance {}", o.balance);
            Ok(())
        })
        .await;
    }
    assert!(!gw.log().contains("panicked"), "{}", gw.log());
    gw.stop().await;
}

#[tokio::test]
async fn truncated_frames_are_a_502_or_an_in_band_error_charged_for_what_arrived() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    matrix(&gw, &mock, "chunks=6,truncate_after=2", json!({}), "1", |cell, o| {
        if cell.stream {
            let text = inband_error(cell, o)?;
            ensure!(text == "Hello from", "the client got {text:?} before the cut");
            record(o, "failed", Some(502), None, cut_stream_cost(cell.kind, &text), true)?;
            // A frame the stream ends inside is an event that is not JSON, or a stream that
            // ended before it was complete, as the relay's framing meets it.
            let class = o.record["error_class"].as_str().unwrap_or("");
            ensure!(
                ["upstream_truncated", "upstream_invalid_response"].contains(&class),
                "recorded class {class:?} for a truncated stream"
            );
            ensure!(o.balance == ONE_CREDIT - cut_stream_cost(cell.kind, &text), "balance {}", o.balance);
        } else {
            whole_error(cell, o, 502, "upstream_invalid_response")?;
            record(o, "failed", Some(502), Some("upstream_invalid_response"), 0, false)?;
            ensure!(o.balance == ONE_CREDIT, "balance {}", o.balance);
        }
        Ok(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_10_mb_error_body_is_a_bounded_502_that_shows_none_of_it() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    matrix(&gw, &mock, "status=500,error_bytes=10000000", json!({}), "1", |cell, o| {
        whole_error(cell, o, 502, "upstream_error")?;
        record(o, "failed", Some(502), Some("upstream_error"), 0, false)?;
        // The administrator's record keeps a bounded sentence, not the body.
        let kept = o.record["error_message"].as_str().unwrap_or("");
        ensure!(kept.len() <= 500 && !kept.contains(ERROR_PADDING.trim()), "the record keeps {:.200}", kept);
        ensure!(o.balance == ONE_CREDIT, "balance {}", o.balance);
        Ok(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_drip_under_the_idle_timeout_is_an_answer() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // Frames 150 ms apart and a 400 ms pause mid-body, against a 2 s idle timeout.
    let timeouts = json!({"timeouts": {"idle_ms": 2000}});
    let scenario = "chunks=4,chunk_delay_ms=150,stall_after=2,stall_mid_ms=400,prompt_tokens=4,completion_tokens=4";
    matrix(&gw, &mock, scenario, timeouts, "1", |cell, o| {
        ensure!(o.status == 200, "status {}", o.status);
        let text = received_text(cell.dialect, cell.stream, &o.body);
        ensure!(text == "Hello from the mock", "the client got {text:?}");
        record(o, "success", Some(200), None, 4 * 2_500 + 4 * 10_000, false)?;
        ensure!(o.balance == ONE_CREDIT - 50_000, "balance {}", o.balance);
        Ok(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_slow_drip_over_the_idle_timeout_is_a_timeout_charged_for_what_arrived() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    // Two words, then 5 s of silence against a 500 ms idle timeout.
    let timeouts = json!({"timeouts": {"idle_ms": 500}});
    matrix(&gw, &mock, "chunks=4,stall_after=2,stall_mid_ms=5000", timeouts, "1", |cell, o| {
        if cell.stream {
            let text = inband_error(cell, o)?;
            ensure!(text == "Hello from", "the client got {text:?} before the stall");
            record(o, "failed", Some(502), Some("timeout"), cut_stream_cost(cell.kind, &text), true)?;
            ensure!(o.balance == ONE_CREDIT - cut_stream_cost(cell.kind, &text), "balance {}", o.balance);
        } else {
            whole_error(cell, o, 504, "upstream_timeout")?;
            record(o, "failed", Some(504), Some("timeout"), 0, false)?;
            ensure!(o.balance == ONE_CREDIT, "balance {}", o.balance);
        }
        Ok(())
    })
    .await;
    gw.stop().await;
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_a_502_or_an_in_band_error_charged_for_what_arrived() {
    let mock = mock().await;
    let gw = Gateway::start(Engine::Sqlite).await;
    matrix(&gw, &mock, "chunks=6,cut_after=2", json!({}), "1", |cell, o| {
        if cell.stream {
            let text = inband_error(cell, o)?;
            ensure!(text == "Hello from", "the client got {text:?} before the reset");
            record(o, "failed", Some(502), Some("upstream_io_error"), cut_stream_cost(cell.kind, &text), true)?;
            ensure!(o.balance == ONE_CREDIT - cut_stream_cost(cell.kind, &text), "balance {}", o.balance);
        } else {
            whole_error(cell, o, 502, "upstream_error")?;
            record(o, "failed", Some(502), Some("upstream_io_error"), 0, false)?;
            ensure!(o.balance == ONE_CREDIT, "balance {}", o.balance);
        }
        Ok(())
    })
    .await;
    gw.stop().await;
}
